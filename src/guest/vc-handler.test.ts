import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GuestException, type GuestOp, type ScriptedCpu } from '../cpu/scripted.js';
import {
  GHCB_ERR_INVALID_SCRATCH_AREA,
  GHCB_OFF_RAX,
  GHCB_OFF_RCX,
  GHCB_OFF_RDX,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_SW_SCRATCH,
  ghcbMsrTermReq,
} from '../uapi/ghcb.js';
import { MSR_AMD64_SEV_ES_GHCB } from '../uapi/msr-index.js';
import {
  encodeIoioInfo,
  SVM_EXIT_CPUID,
  SVM_EXIT_IOIO,
  SVM_EXIT_MSR,
  SVM_EXIT_VMMCALL,
  SVM_VMGEXIT_MMIO_READ,
  SVM_VMGEXIT_MMIO_WRITE,
} from '../uapi/svm.js';
import { GhcbClient } from './ghcb-client.js';
import { bits, boot, GHCB_GPA, runToEnd, runToVmgexit, vmrun } from './test-util.js';
import { ghcbVcHandler, type VcHandlerOptions, VmmCommunicationError } from './vc-handler.js';

const EXIT = [GHCB_OFF_SW_EXIT_CODE, GHCB_OFF_SW_EXIT_INFO_1, GHCB_OFF_SW_EXIT_INFO_2];
/** Non-RAM range of the tests' fake memory. */
const MMIO = 0xa000;

function withHandler(body: (cpu: ScriptedCpu) => Generator<GuestOp, void, unknown>, opts?: VcHandlerOptions) {
  const env = boot(function* (cpu) {
    const c = new GhcbClient(cpu, GHCB_GPA);
    c.register();
    cpu.vcHandler = ghcbVcHandler(c, opts);
    yield* body(cpu);
  });
  env.mem.mmio.push([MMIO, MMIO + 0x1000]);
  return env;
}

describe('ghcbVcHandler', () => {
  it('turns in/out/cpuid/rdmsr/wrmsr/vmmcall and MMIO loads/stores into GHCB requests', () => {
    const log: Record<string, unknown> = {};
    const { cpu, page, mem } = withHandler(function* (cpu) {
      yield* cpu.out(0x3f8, 1, 0x41);
      log.in = yield* cpu.in(0x64, 1);
      log.cpuid = yield* cpu.cpuid(0x8000_0001, 0);
      log.msr = yield* cpu.rdmsr(0x10);
      yield* cpu.wrmsr(0x1b, 0x1_0000_0002n);
      log.hc = yield* cpu.vmmcall(9n, 1n);
      log.mmio = yield* cpu.load(MMIO + 0x30, 4);
      yield* cpu.store(MMIO + 0xb0, 2, 0xbeefn);
      log.ghcbMsr = yield* cpu.rdmsr(MSR_AMD64_SEV_ES_GHCB);
    });

    runToVmgexit(cpu);
    assert.equal(page.exitCode(), BigInt(SVM_EXIT_IOIO));
    assert.equal(page.info1(), BigInt(encodeIoioInfo({ port: 0x3f8, size: 1, in: false })));
    assert.equal(page.u64(GHCB_OFF_RAX), 0x41n);
    page.reply({ rax: 0x41n });

    runToVmgexit(cpu);
    assert.equal(page.info1(), BigInt(encodeIoioInfo({ port: 0x64, size: 1, in: true })));
    assert.deepEqual(page.validBits(), bits(...EXIT));
    page.reply({ rax: 0x11dn, rbx: 0n, rcx: 0n, rdx: 0n });

    runToVmgexit(cpu);
    assert.equal(page.exitCode(), BigInt(SVM_EXIT_CPUID));
    assert.equal(page.u64(GHCB_OFF_RAX), 0x8000_0001n);
    page.reply({ rax: 1n, rbx: 2n, rcx: 3n, rdx: 4n });

    runToVmgexit(cpu);
    assert.equal(page.exitCode(), BigInt(SVM_EXIT_MSR));
    assert.equal(page.info1(), 0n);
    assert.equal(page.u64(GHCB_OFF_RCX), 0x10n);
    page.reply({ rax: 0x5555n, rdx: 0x7n, rbx: 0n, rcx: 0x10n });

    runToVmgexit(cpu);
    assert.equal(page.info1(), 1n);
    assert.deepEqual(page.validBits(), bits(...EXIT, GHCB_OFF_RAX, GHCB_OFF_RCX, GHCB_OFF_RDX));
    assert.equal(page.u64(GHCB_OFF_RAX), 2n);
    assert.equal(page.u64(GHCB_OFF_RDX), 1n);
    page.reply();

    runToVmgexit(cpu);
    assert.equal(page.exitCode(), BigInt(SVM_EXIT_VMMCALL));
    assert.equal(page.u64(GHCB_OFF_RAX), 9n);
    page.reply({ rax: 42n });

    runToVmgexit(cpu);
    assert.equal(page.exitCode(), BigInt(SVM_VMGEXIT_MMIO_READ));
    assert.equal(page.info1(), BigInt(MMIO + 0x30));
    assert.equal(page.info2(), 4n);
    assert.equal(page.u64(GHCB_OFF_SW_SCRATCH), BigInt(GHCB_GPA + 0x800));
    mem.bytes.set([0x78, 0x56, 0x34, 0x12, 0xff], GHCB_GPA + 0x800);
    page.reply();

    runToVmgexit(cpu);
    assert.equal(page.exitCode(), BigInt(SVM_VMGEXIT_MMIO_WRITE));
    assert.equal(page.info1(), BigInt(MMIO + 0xb0));
    assert.equal(page.info2(), 2n);
    assert.deepEqual(page.bytes(0x800, 2), Uint8Array.of(0xef, 0xbe));
    page.reply();

    runToEnd(cpu);
    assert.deepEqual(log, {
      in: 0x1d,
      cpuid: { eax: 1, ebx: 2, ecx: 3, edx: 4 },
      msr: 0x7_0000_5555n,
      hc: 42n,
      mmio: 0x1234_5678n,
      ghcbMsr: BigInt(GHCB_GPA),
    });
  });

  it('a #GP answer surfaces as GuestException(13) at the instruction', () => {
    let caught: unknown;
    const { cpu, page } = withHandler(function* (cpu) {
      try {
        yield* cpu.rdmsr(0xdead);
      } catch (e) {
        caught = e;
      }
    });
    runToVmgexit(cpu);
    page.reply({ info1: 1n, info2: 0x8000030dn });
    runToEnd(cpu);
    assert.ok(caught instanceof GuestException);
    assert.equal(caught.vector, 13);
    assert.equal(caught.errorCode, 0);
  });

  it('a reflected error makes the guest request termination (MSR TERM_REQ), then fail', () => {
    let caught: unknown;
    const { cpu, page } = withHandler(function* (cpu) {
      try {
        yield* cpu.load(MMIO, 8);
      } catch (e) {
        caught = e;
      }
    });
    runToVmgexit(cpu);
    page.reply({ info1: 2n, info2: BigInt(GHCB_ERR_INVALID_SCRATCH_AREA) });
    runToVmgexit(cpu);
    assert.equal(cpu.ghcbMsr, ghcbMsrTermReq(0, 0));
    runToEnd(cpu);
    assert.ok(caught instanceof VmmCommunicationError);
    assert.equal(caught.reason, 'reflected');
    assert.equal(caught.result?.kind, 'reflected');
  });

  it("with onVmmError 'throw', a missing RAX after IN fails without a termination request", () => {
    let caught: unknown;
    const { cpu, page } = withHandler(
      function* (cpu) {
        try {
          yield* cpu.in(0x60, 1);
        } catch (e) {
          caught = e;
        }
      },
      { onVmmError: 'throw' },
    );
    runToVmgexit(cpu);
    page.reply();
    runToEnd(cpu);
    assert.ok(caught instanceof VmmCommunicationError);
    assert.equal(caught.reason, 'missing-output');
  });

  it('an uncaught #GP shuts the CPU down with the exception as the crash', () => {
    const { cpu, page } = withHandler(function* (cpu) {
      yield* cpu.wrmsr(0xdead, 1n);
    });
    runToVmgexit(cpu);
    page.reply({ info1: 1n, info2: 0x8000030dn });
    vmrun(cpu);
    assert.equal(cpu.state, 'shutdown');
    assert.ok(cpu.crash instanceof GuestException);
  });

  it('WRMSR of the GHCB MSR is served by the CPU without an exit', () => {
    const { cpu } = withHandler(function* (cpu) {
      yield* cpu.wrmsr(MSR_AMD64_SEV_ES_GHCB, 0x5000n);
    });
    runToEnd(cpu);
    assert.equal(cpu.ghcbMsr, 0x5000n);
  });
});
