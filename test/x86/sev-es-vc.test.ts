/**
 * The machine-code #VC handler of examples/guests/lib, seen from KVM's side. test/x86/corpus.test.ts
 * checks what the VMM sees of sev-es-vc (its exits and the results it leaves in RAM); this test
 * reads KVM's tracepoints during the same run and checks that each #VC became the request a Linux
 * guest would have made: the MSR-protocol requests (the boot's CPUIDs for the C-bit, then CPUID
 * one register at a time before there is a GHCB, SEV_INFO, the final TERM_REQ), one GHCB VMGEXIT per trapping instruction with the exit
 * code and exit information SVM itself would have written (IOIO's type, string, REP, size,
 * address-size and segment bits; the MMIO GPA and length), the scratch area always in the GHCB's
 * shared buffer, no request KVM had to reject, and the refused MSR answered with "inject #GP".
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { TraceEvent } from '../../src/trace/events.js';
import { GHCB_MSR_SEV_INFO_REQ, ghcbMsrCpuidReq, ghcbMsrTermReq } from '../../src/uapi/ghcb.js';
import {
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_VALID,
  SVM_EXIT_CPUID,
  SVM_EXIT_IOIO,
  SVM_EXIT_MSR,
  SVM_IOIO_REP_MASK,
  SVM_IOIO_STR_MASK,
  SVM_IOIO_TYPE_MASK,
  SVM_VMGEXIT_MMIO_READ,
  SVM_VMGEXIT_MMIO_WRITE,
  svmExitCodeName,
} from '../../src/uapi/svm.js';
import { modelPlatform } from '../../src/vmm/platform.js';
import {
  bootGuest,
  type ExpectedExit,
  entryAddress,
  finalState,
  guestImage,
  loadExpect,
  num,
  runGuest,
} from '../guests/corpus.js';
import { describeEngines, type Engine } from './engines.js';

const NAME = 'sev-es-vc';
const COM1 = 0x3f8;
const GP_VECTOR = 13;

/** IOIO exit_info_1 for a one-byte access with 64-bit addressing, as SVM writes it. */
function ioio(port: number, how: { in?: boolean; str?: boolean; rep?: boolean }): bigint {
  let v = (port << 16) | 0x200 /* A64 */ | 0x10; /* SZ8 */
  if (how.in) v |= SVM_IOIO_TYPE_MASK;
  if (how.str) v |= SVM_IOIO_STR_MASK | (how.in ? 0 : 3 << 10); // OUTS reads through DS (3), INS writes ES (0)
  if (how.rep) v |= SVM_IOIO_REP_MASK;
  return BigInt(v);
}

/** One VMGEXIT as KVM traced it: exit code, sw_exit_info_1, sw_exit_info_2. */
type Request = readonly [string, bigint, bigint];
const req = (code: number, info1: bigint | number, info2: bigint | number): Request => [
  svmExitCodeName(code),
  BigInt(info1),
  BigInt(info2),
];

/** The request that produced a userspace MMIO exit of the expectations. */
function mmioRequest(e: ExpectedExit): Request {
  if (e.kind === 'MmioRead') return req(SVM_VMGEXIT_MMIO_READ, num(e.addr), e.len);
  if (e.kind === 'MmioWrite') return req(SVM_VMGEXIT_MMIO_WRITE, num(e.addr), e.data.length / 2);
  throw new Error(`not MMIO: ${e.kind}`);
}

/** Run sev-es-vc on the interpreter with KVM's tracepoints on. */
function tracedRun(engine: Engine) {
  const expect = loadExpect(NAME);
  const image = guestImage(NAME, 'elf', expect);
  const p = modelPlatform({ cpu: 'x86', x86: engine.options });
  const events: TraceEvent[] = [];
  p.tracepoints?.((e) => events.push(e));
  const guest = bootGuest(p, expect, image, entryAddress(expect));
  if (typeof guest === 'string') assert.fail(guest);
  try {
    assert.deepEqual(runGuest(guest.vcpu, expect.exits), expect.exits);
    // What main() left in its results: rdmsr_safe's return value and the "got to the end" flag.
    const final = finalState(guest, {
      regs: {},
      sregs: {},
      memory: [{ gpa: '0x40058', data: '00'.repeat(8) }],
    });
    if (typeof final === 'string') assert.fail(final);
    return { expect, events, msrResults: final.memory[0]!.data };
  } finally {
    guest.close();
  }
}

describeEngines('sev-es-vc: the #VC handler as KVM sees it', (engine) => {
  const { expect, events, msrResults } = tracedRun(engine);

  it('MSR protocol: the boot CPUIDs, CPUID 0 one register at a time before the GHCB, SEV_INFO, and TERM_REQ at the end', () => {
    const msr = events.flatMap((e) => (e.name === 'kvm_vmgexit_msr_protocol_enter' ? [e.ghcbGpa] : []));
    const regs = [0, 1, 2, 3] as const;
    assert.deepEqual(msr, [
      // entry.s before paging (get_sev_encryption_bit): CPUID 0x80000000 and 0x8000001f through
      // the boot #VC handler, for the C-bit
      ...regs.map((reg) => ghcbMsrCpuidReq(0x8000_0000, reg)),
      ...regs.map((reg) => ghcbMsrCpuidReq(0x8000_001f, reg)),
      ...regs.map((reg) => ghcbMsrCpuidReq(0, reg)),
      BigInt(GHCB_MSR_SEV_INFO_REQ),
      ghcbMsrTermReq(3, 0),
    ]);
    // The first thirteen come before any GHCB VMGEXIT, the termination after the last.
    const order = events.flatMap((e) =>
      e.name === 'kvm_vmgexit_msr_protocol_enter' ? ['msr'] : e.name === 'kvm_vmgexit_enter' ? ['ghcb'] : [],
    );
    assert.deepEqual(order.slice(0, 14), [...Array.from({ length: 13 }, () => 'msr'), 'ghcb']);
    assert.equal(order.at(-1), 'msr');
  });

  it('one GHCB VMGEXIT per trapping instruction, with the exit information SVM would give', () => {
    const got = events.flatMap((e): Request[] =>
      e.name === 'kvm_vmgexit_enter' ? [[svmExitCodeName(e.exitCode), e.info1, e.info2]] : [],
    );
    const mmio = expect.exits.filter((e) => e.kind === 'MmioRead' || e.kind === 'MmioWrite');
    assert.deepEqual(got, [
      ...Array.from({ length: 14 }, () => req(SVM_EXIT_IOIO, ioio(COM1, {}), 0)), // OUT, per byte
      req(SVM_EXIT_CPUID, 0, 0), // CPUID 0x8000001f
      req(SVM_EXIT_CPUID, 0, 0), // CPUID 0xd
      req(SVM_EXIT_IOIO, ioio(COM1 + 5, { in: true }), 0), // IN from the line status
      req(SVM_EXIT_IOIO, ioio(COM1, { str: true, rep: true }), 20), // REP OUTSB: the count in info2
      req(SVM_EXIT_IOIO, ioio(COM1, { in: true, str: true }), 1), // INSB
      req(SVM_EXIT_IOIO, ioio(COM1, { in: true, str: true, rep: true }), 3), // REP INSB
      ...mmio.map(mmioRequest), // each MOV: the GPA and length
      req(SVM_EXIT_MSR, 0, 0), // RDMSR IA32_APIC_BASE
      req(SVM_EXIT_MSR, 1, 0), // WRMSR
      req(SVM_EXIT_MSR, 0, 0), // RDMSR
      req(SVM_EXIT_MSR, 0, 0), // RDMSR 0x2000
    ]);
    // Every one of them not answered in the kernel is an exit to userspace, and nothing else is.
    const userspace = events.filter((e) => e.name === 'kvm_userspace_exit');
    assert.equal(userspace.length, expect.exits.length);
  });

  it('string I/O and MMIO data travel in the GHCB shared buffer; KVM rejects nothing', () => {
    const scratch = events.flatMap((e) => (e.name === 'sevbox_scratch' ? [e] : []));
    // REP OUTSB, INSB, REP INSB and every MMIO access.
    assert.equal(scratch.length, 3 + expect.exits.filter((e) => e.kind.startsWith('Mmio')).length);
    const page = scratch[0]!.gpa & ~0xfffn;
    for (const s of scratch) {
      assert.equal(s.outcome, 'ghcb');
      assert.equal(s.gpa, page + 0x800n, 'sw_scratch = the GHCB GPA + offsetof(struct ghcb, shared_buffer)');
    }
    assert.deepEqual(
      events.filter((e) => e.name === 'sevbox_ghcb_error'),
      [],
    );
  });

  it('the MSR KVM refuses comes back as "inject #GP" (sw_exit_info_1 = 1), which the guest survives', () => {
    const answers = events.flatMap((e) =>
      e.name === 'kvm_vmgexit_exit' && e.exitCode === BigInt(SVM_EXIT_MSR) ? [[e.info1, e.info2]] : [],
    );
    assert.deepEqual(answers, [
      [0n, 0n],
      [0n, 0n],
      [0n, 0n],
      [1n, BigInt((SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | GP_VECTOR) >>> 0)],
    ]);
    // ...and the guest carried on: rdmsr_safe returned the vector (13), main reached its end (1).
    assert.equal(msrResults, '0d00000001000000');
  });
});
