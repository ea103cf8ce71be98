import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GuestOp, ScriptedCpu } from '../cpu/scripted.js';
import {
  GHCB_ERR_INVALID_USAGE,
  GHCB_ERR_MISSING_INPUT,
  GHCB_HV_FT_SUPPORTED,
  GHCB_OFF_CPL,
  GHCB_OFF_RAX,
  GHCB_OFF_RBX,
  GHCB_OFF_RCX,
  GHCB_OFF_RDX,
  GHCB_OFF_RSI,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_SW_SCRATCH,
  GHCB_OFF_XCR0,
} from '../uapi/ghcb.js';
import {
  encodeIoioInfo,
  SVM_EXIT_CPUID,
  SVM_EXIT_INVD,
  SVM_EXIT_IOIO,
  SVM_EXIT_MONITOR,
  SVM_EXIT_MSR,
  SVM_EXIT_MWAIT,
  SVM_EXIT_RDPMC,
  SVM_EXIT_RDTSC,
  SVM_EXIT_RDTSCP,
  SVM_EXIT_READ_DR7,
  SVM_EXIT_VMMCALL,
  SVM_EXIT_WBINVD,
  SVM_EXIT_WRITE_DR7,
  SVM_IOIO_REP_MASK,
  SVM_IOIO_STR_MASK,
  SVM_VMGEXIT_AP_HLT_LOOP,
  SVM_VMGEXIT_AP_JUMP_TABLE,
  SVM_VMGEXIT_HV_FEATURES,
  SVM_VMGEXIT_MMIO_READ,
  SVM_VMGEXIT_MMIO_WRITE,
  SVM_VMGEXIT_NMI_COMPLETE,
  SVM_VMGEXIT_TERM_REASON,
  SVM_VMGEXIT_TERM_REQUEST,
  SVM_VMGEXIT_UNSUPPORTED_EVENT,
} from '../uapi/svm.js';
import { GhcbClient, type GhcbClientOptions } from './ghcb-client.js';
import type { GhcbResult } from './result.js';
import { bits, boot, type FakeMemory, GHCB_GPA, type GhcbPage, runToEnd, runToVmgexit } from './test-util.js';

const CODE = GHCB_OFF_SW_EXIT_CODE;
const I1 = GHCB_OFF_SW_EXIT_INFO_1;
const I2 = GHCB_OFF_SW_EXIT_INFO_2;
/** The three fields every request sets. */
const EXIT = [CODE, I1, I2];

/**
 * Run one request in a fresh guest: `inspect` sees the GHCB at the VMGEXIT (and writes the
 * reply); returns what the request returned in the guest.
 */
function oneRequest<T>(
  request: (c: GhcbClient, cpu: ScriptedCpu) => Generator<GuestOp, T, unknown>,
  inspect: (page: GhcbPage, mem: FakeMemory, cpu: ScriptedCpu) => void,
  opts?: GhcbClientOptions,
): T {
  let out: { v: T } | undefined;
  const { cpu, mem, page } = boot(function* (cpu) {
    const c = new GhcbClient(cpu, GHCB_GPA, opts);
    c.register();
    out = { v: yield* request(c, cpu) };
  });
  runToVmgexit(cpu);
  assert.equal(cpu.ghcbMsr, BigInt(GHCB_GPA), 'GHCB MSR holds the GHCB GPA at VMGEXIT');
  assert.equal(page.usage(), 0, 'ghcb_usage');
  inspect(page, mem, cpu);
  runToEnd(cpu);
  assert.ok(out);
  return out.v;
}

describe('GhcbClient NAE requests', () => {
  it('CPUID: RAX = fn, RCX = index, no XCR0; EAX..EDX from the reply', () => {
    const got = oneRequest(
      (c) => c.cpuid(0x8000_001f, 3),
      (page) => {
        assert.equal(page.exitCode(), BigInt(SVM_EXIT_CPUID));
        assert.equal(page.info1(), 0n);
        assert.equal(page.info2(), 0n);
        assert.deepEqual(page.validBits(), bits(...EXIT, GHCB_OFF_RAX, GHCB_OFF_RCX));
        assert.equal(page.u64(GHCB_OFF_RAX), 0x8000_001fn);
        assert.equal(page.u64(GHCB_OFF_RCX), 3n);
        assert.equal(page.version(), 1);
        page.reply({ rax: 1n, rbx: 2n, rcx: 3n, rdx: 0xffff_ffff_0000_1234n });
      },
    );
    assert.deepEqual(got, {
      result: { kind: 'ok', info1: 0n, info2: 0n },
      eax: 1,
      ebx: 2,
      ecx: 3,
      edx: 0x1234,
      regsValid: true,
    });
  });

  it('CPUID leaf 0xD also sends XCR0; a reply without RBX is not regsValid', () => {
    const got = oneRequest(
      (c) => c.cpuid(0xd, 1, 0x7n),
      (page) => {
        assert.deepEqual(page.validBits(), bits(...EXIT, GHCB_OFF_RAX, GHCB_OFF_RCX, GHCB_OFF_XCR0));
        assert.equal(page.u64(GHCB_OFF_XCR0), 7n);
        page.reply({ rax: 1n, rcx: 3n, rdx: 4n });
      },
    );
    assert.equal(got.result.kind, 'ok');
    assert.equal(got.regsValid, false);
  });

  it('protocol_version is the version the client was created with', () => {
    oneRequest(
      (c) => c.wbinvd(),
      (page) => {
        assert.equal(page.version(), 2);
        page.reply();
      },
      { version: 2 },
    );
  });

  it('IOIO OUT sends RAX masked to the size; IN sends no RAX and takes RAX back masked', () => {
    const out = oneRequest(
      (c) => c.ioOut(0x3f8, 2, 0x1234_5678),
      (page) => {
        assert.equal(page.exitCode(), BigInt(SVM_EXIT_IOIO));
        assert.equal(page.info1(), BigInt(encodeIoioInfo({ port: 0x3f8, size: 2, in: false })));
        assert.deepEqual(page.validBits(), bits(...EXIT, GHCB_OFF_RAX));
        assert.equal(page.u64(GHCB_OFF_RAX), 0x5678n);
        page.reply({ rax: 0n });
      },
    );
    assert.equal(out.kind, 'ok');
    const got = oneRequest(
      (c) => c.ioIn(0x60, 1),
      (page) => {
        assert.equal(page.info1(), BigInt(encodeIoioInfo({ port: 0x60, size: 1, in: true })));
        assert.deepEqual(page.validBits(), bits(...EXIT));
        page.reply({ rax: 0xabcdn });
      },
    );
    assert.deepEqual(got, { result: { kind: 'ok', info1: 0n, info2: 0n }, value: 0xcd, regsValid: true });
  });

  it('string OUT in the shared buffer: STR|REP, count in info2, sw_scratch = GHCB + 0x800 + offset', () => {
    const data = Uint8Array.of(1, 2, 3, 4, 5, 6);
    oneRequest(
      (c) => c.ioOutString(0x80, 2, data, { in: 'ghcb', offset: 0x10 }),
      (page) => {
        const info1 = Number(page.info1());
        assert.equal(info1 & SVM_IOIO_STR_MASK, SVM_IOIO_STR_MASK);
        assert.equal(info1 & SVM_IOIO_REP_MASK, SVM_IOIO_REP_MASK);
        assert.equal(info1, encodeIoioInfo({ port: 0x80, size: 2, in: false, string: true, rep: true }));
        assert.equal(page.info2(), 3n);
        assert.deepEqual(page.validBits(), bits(...EXIT, GHCB_OFF_SW_SCRATCH));
        assert.equal(page.u64(GHCB_OFF_SW_SCRATCH), BigInt(GHCB_GPA + 0x810));
        assert.deepEqual(page.bytes(0x810, 6), data);
        page.reply();
      },
    );
  });

  it('string IN with a scratch area outside the GHCB returns the data the hypervisor put at that GPA', () => {
    const got = oneRequest(
      (c) => c.ioInString(0x70, 4, 2, { gpa: 0x8000n }),
      (page, mem) => {
        assert.equal(
          Number(page.info1()),
          encodeIoioInfo({ port: 0x70, size: 4, in: true, string: true, rep: true }),
        );
        assert.equal(page.info2(), 2n);
        assert.equal(page.u64(GHCB_OFF_SW_SCRATCH), 0x8000n);
        mem.bytes.set([9, 8, 7, 6, 5, 4, 3, 2], 0x8000);
        page.reply();
      },
    );
    assert.deepEqual(got.data, Uint8Array.of(9, 8, 7, 6, 5, 4, 3, 2));
  });

  it('one-element string I/O has no REP bit', () => {
    oneRequest(
      (c) => c.ioOutString(0x80, 1, Uint8Array.of(0x55)),
      (page) => {
        assert.equal(Number(page.info1()) & SVM_IOIO_REP_MASK, 0);
        assert.equal(page.u64(GHCB_OFF_SW_SCRATCH), BigInt(GHCB_GPA + 0x800));
        page.reply();
      },
    );
  });

  it('MMIO read: exit 0x80000001, info1 = GPA, info2 = length, data from the shared buffer', () => {
    const got = oneRequest(
      (c) => c.mmioRead(0xfee0_0030, 4),
      (page, mem) => {
        assert.equal(page.exitCode(), BigInt(SVM_VMGEXIT_MMIO_READ));
        assert.equal(page.info1(), 0xfee0_0030n);
        assert.equal(page.info2(), 4n);
        assert.deepEqual(page.validBits(), bits(...EXIT, GHCB_OFF_SW_SCRATCH));
        assert.equal(page.u64(GHCB_OFF_SW_SCRATCH), BigInt(GHCB_GPA + 0x800));
        mem.bytes.set([0x14, 0, 5, 0], GHCB_GPA + 0x800);
        page.reply();
      },
    );
    assert.equal(got.result.kind, 'ok');
    assert.deepEqual(got.data, Uint8Array.of(0x14, 0, 5, 0));
  });

  it('MMIO write: exit 0x80000002, data at the scratch GPA outside the GHCB', () => {
    const data = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
    oneRequest(
      (c) => c.mmioWrite(0xd000_0000, data, { gpa: 0x9000n }),
      (page, mem) => {
        assert.equal(page.exitCode(), BigInt(SVM_VMGEXIT_MMIO_WRITE));
        assert.equal(page.info1(), 0xd000_0000n);
        assert.equal(page.info2(), 10n);
        assert.equal(page.u64(GHCB_OFF_SW_SCRATCH), 0x9000n);
        assert.deepEqual(mem.bytes.slice(0x9000, 0x900a), data);
        page.reply();
      },
    );
  });

  it('a scratch area that does not fit in the page is refused before any exit', () => {
    let caught: unknown;
    const { cpu } = boot(function* (cpu) {
      const c = new GhcbClient(cpu, GHCB_GPA);
      try {
        yield* c.mmioRead(0, 16, { in: 'ghcb', offset: 0x7f8 });
      } catch (e) {
        caught = e;
      }
    });
    runToEnd(cpu);
    assert.ok(caught instanceof RangeError);
  });

  it("a scratch GPA beyond the guest's reach goes into sw_scratch exactly, and the guest touches nothing there", () => {
    oneRequest(
      (c) => c.mmioWrite(0xd000_0000, Uint8Array.of(1, 2, 3, 4), { gpa: 0x20_0000_0000_0001n }),
      (page) => {
        // 2^53 + 1 has no double: a number would have made it 2^53.
        assert.equal(page.u64(GHCB_OFF_SW_SCRATCH), 0x20_0000_0000_0001n);
        page.reply();
      },
    );
    const got = oneRequest(
      (c) => c.ioInString(0x70, 4, 2, { gpa: 0xffff_ffff_ffff_fff8n }),
      (page) => {
        assert.equal(page.u64(GHCB_OFF_SW_SCRATCH), 0xffff_ffff_ffff_fff8n);
        page.reply();
      },
    );
    assert.equal(got.result.kind, 'ok');
    assert.deepEqual(got.data, new Uint8Array(8), 'nothing loaded from beyond reach');
  });

  it('a scratch GPA that is not a u64 is refused before any exit', () => {
    let caught: unknown;
    const { cpu } = boot(function* (cpu) {
      const c = new GhcbClient(cpu, GHCB_GPA);
      try {
        yield* c.mmioRead(0, 4, { gpa: 1n << 64n });
      } catch (e) {
        caught = e;
      }
    });
    runToEnd(cpu);
    assert.ok(caught instanceof RangeError);
    assert.match(caught.message, /not a u64/);
  });

  it('RDMSR sends RCX only and returns EDX:EAX; WRMSR splits the value into RAX/RDX', () => {
    const rd = oneRequest(
      (c) => c.rdmsr(0x1b),
      (page) => {
        assert.equal(page.exitCode(), BigInt(SVM_EXIT_MSR));
        assert.equal(page.info1(), 0n);
        assert.deepEqual(page.validBits(), bits(...EXIT, GHCB_OFF_RCX));
        assert.equal(page.u64(GHCB_OFF_RCX), 0x1bn);
        page.reply({ rax: 0xfee0_0900n, rdx: 0x1n, rbx: 0n, rcx: 0x1bn });
      },
    );
    assert.equal(rd.value, 0x1_fee0_0900n);
    const wr = oneRequest(
      (c) => c.wrmsr(0xc000_0080, 0x1234_5678_9abc_def0n),
      (page) => {
        assert.equal(page.info1(), 1n);
        assert.deepEqual(page.validBits(), bits(...EXIT, GHCB_OFF_RAX, GHCB_OFF_RCX, GHCB_OFF_RDX));
        assert.equal(page.u64(GHCB_OFF_RCX), 0xc000_0080n);
        assert.equal(page.u64(GHCB_OFF_RAX), 0x9abc_def0n);
        assert.equal(page.u64(GHCB_OFF_RDX), 0x1234_5678n);
        page.reply({ info1: 1n, info2: 0x8000030dn });
      },
    );
    assert.deepEqual(wr, { kind: 'exception', vector: 13, info1: 1n, info2: 0x8000030dn });
  });

  it('VMMCALL sends RAX, CPL (one byte) and RBX/RCX/RDX/RSI; returns RAX', () => {
    const got = oneRequest(
      (c) => c.vmmcall(12n, [1n, 2n], 3),
      (page) => {
        assert.equal(page.exitCode(), BigInt(SVM_EXIT_VMMCALL));
        assert.deepEqual(
          page.validBits(),
          bits(...EXIT, GHCB_OFF_CPL, GHCB_OFF_RAX, GHCB_OFF_RBX, GHCB_OFF_RCX, GHCB_OFF_RDX, GHCB_OFF_RSI),
        );
        assert.equal(page.u8(GHCB_OFF_CPL), 3);
        assert.equal(page.u64(GHCB_OFF_RAX), 12n);
        assert.equal(page.u64(GHCB_OFF_RBX), 1n);
        assert.equal(page.u64(GHCB_OFF_RCX), 2n);
        assert.equal(page.u64(GHCB_OFF_RDX), 0n);
        page.reply({ rax: 0xffff_ffff_ffff_ffe6n });
      },
    );
    assert.equal(got.value, 0xffff_ffff_ffff_ffe6n);
    assert.equal(got.regsValid, true);
  });

  // [name, request, exit code, info1, info2, fields the request must mark valid (besides sw_exit_*)]
  const simple: [
    string,
    (c: GhcbClient) => Generator<GuestOp, unknown, unknown>,
    number,
    bigint,
    bigint,
    number[],
  ][] = [
    ['rdtsc', (c) => c.rdtsc(), SVM_EXIT_RDTSC, 0n, 0n, []],
    ['rdtscp', (c) => c.rdtscp(), SVM_EXIT_RDTSCP, 0n, 0n, []],
    ['rdpmc', (c) => c.rdpmc(1), SVM_EXIT_RDPMC, 0n, 0n, [GHCB_OFF_RCX]],
    ['invd', (c) => c.invd(), SVM_EXIT_INVD, 0n, 0n, []],
    ['wbinvd', (c) => c.wbinvd(), SVM_EXIT_WBINVD, 0n, 0n, []],
    [
      'monitor',
      (c) => c.monitor(0x1000n, 0n, 0n),
      SVM_EXIT_MONITOR,
      0n,
      0n,
      [GHCB_OFF_RAX, GHCB_OFF_RCX, GHCB_OFF_RDX],
    ],
    ['mwait', (c) => c.mwait(0n, 0n), SVM_EXIT_MWAIT, 0n, 0n, [GHCB_OFF_RAX, GHCB_OFF_RCX]],
    ['readDr7', (c) => c.readDr7(), SVM_EXIT_READ_DR7, 0n, 0n, []],
    ['writeDr7', (c) => c.writeDr7(0x400n), SVM_EXIT_WRITE_DR7, 0n, 0n, [GHCB_OFF_RAX]],
    ['nmiComplete', (c) => c.nmiComplete(), SVM_VMGEXIT_NMI_COMPLETE, 0n, 0n, []],
    ['apHltLoop', (c) => c.apHltLoop(), SVM_VMGEXIT_AP_HLT_LOOP, 0n, 0n, []],
    ['apJumpTableSet', (c) => c.apJumpTableSet(0x9000), SVM_VMGEXIT_AP_JUMP_TABLE, 0n, 0x9000n, []],
    ['apJumpTableGet', (c) => c.apJumpTableGet(), SVM_VMGEXIT_AP_JUMP_TABLE, 1n, 0n, []],
    ['hvFeatures', (c) => c.hvFeatures(), SVM_VMGEXIT_HV_FEATURES, 0n, 0n, []],
    [
      'termRequest',
      (c) => c.termRequest(1, 4),
      SVM_VMGEXIT_TERM_REQUEST,
      SVM_VMGEXIT_TERM_REASON(1, 4),
      0n,
      [],
    ],
    ['unsupportedEvent', (c) => c.unsupportedEvent(0x72n), SVM_VMGEXIT_UNSUPPORTED_EVENT, 0x72n, 0n, []],
  ];
  for (const [name, request, code, info1, info2, fields] of simple) {
    it(`${name}: exit code 0x${code.toString(16)}, exact inputs and valid bits`, () => {
      oneRequest(request, (page) => {
        assert.equal(page.exitCode(), BigInt(code));
        assert.equal(page.info1(), info1);
        assert.equal(page.info2(), info2);
        assert.deepEqual(page.validBits(), bits(...EXIT, ...fields));
        page.reply();
      });
    });
  }

  it('rdtscp and rdpmc return EDX:EAX (and ECX as TSC_AUX)', () => {
    const r = oneRequest(
      (c) => c.rdtscp(),
      (page) => page.reply({ rax: 0x10n, rdx: 0x2n, rcx: 7n }),
    );
    assert.equal(r.value, 0x2_0000_0010n);
    assert.equal(r.aux, 7);
    assert.equal(r.regsValid, true);
    const p = oneRequest(
      (c) => c.rdpmc(0),
      (page) => page.reply({ rax: 5n }),
    );
    assert.equal(p.value, 5n);
    assert.equal(p.regsValid, false, 'RDX missing');
  });

  it('AP HLT loop is woken by a valid non-zero info2; jump table GET and HV features read info2', () => {
    const hlt = oneRequest(
      (c) => c.apHltLoop(),
      (page) => page.reply({ info2: 1n }),
    );
    assert.equal(hlt.woken, true);
    const idle = oneRequest(
      (c) => c.apHltLoop(),
      (page) => page.reply(),
    );
    assert.equal(idle.woken, false);
    const jt = oneRequest(
      (c) => c.apJumpTableGet(),
      (page) => page.reply({ info2: 0x9000n }),
    );
    assert.equal(jt.value, 0x9000n);
    const ft = oneRequest(
      (c) => c.hvFeatures(),
      (page) => page.reply({ info2: GHCB_HV_FT_SUPPORTED }),
    );
    assert.equal(ft.features, GHCB_HV_FT_SUPPORTED);
  });

  it('a reflected GHCB_ERR_* and garbage in info1 come back as such', () => {
    const refl = oneRequest(
      (c) => c.wbinvd(),
      (page) => page.reply({ info1: 2n, info2: BigInt(GHCB_ERR_MISSING_INPUT) }),
    );
    assert.deepEqual(refl, { kind: 'reflected', error: GHCB_ERR_MISSING_INPUT, info1: 2n, info2: 4n });
    const junk = oneRequest(
      (c) => c.wbinvd(),
      (page) => page.reply({ info1: 0x1234n, info2: 0n }),
    );
    assert.equal(junk.kind, 'vmm-error');
  });

  it('a hypervisor that writes nothing leaves the request in info1/info2 (a WRMSR reads back as 1)', () => {
    const r = oneRequest(
      (c) => c.wrmsr(0x10, 0n),
      () => {},
    );
    assert.deepEqual(r, { kind: 'vmm-error', info1: 1n, info2: 0n });
  });
});

describe('GhcbClient generic and raw requests', () => {
  it('vmgexit sets the named or offset fields with valid bits; registers written back are readable', () => {
    let seen: { rbx: bigint; rbxValid: boolean; rsiValid: boolean } | undefined;
    oneRequest(
      function* (c) {
        const r = yield* c.vmgexit(0x1234, 5n, 6n, { rsi: 9n, cpl: 3n });
        seen = {
          rbx: c.getField(GHCB_OFF_RBX),
          rbxValid: c.isValid(GHCB_OFF_RBX),
          rsiValid: c.isValid(GHCB_OFF_RSI),
        };
        return r;
      },
      (page) => {
        assert.equal(page.exitCode(), 0x1234n);
        assert.equal(page.info1(), 5n);
        assert.equal(page.info2(), 6n);
        assert.deepEqual(page.validBits(), bits(...EXIT, GHCB_OFF_RSI, GHCB_OFF_CPL));
        assert.equal(page.u64(GHCB_OFF_RSI), 9n);
        assert.equal(page.u8(GHCB_OFF_CPL), 3);
        page.reply({ rbx: 77n, info1: 2n, info2: 6n });
      },
    );
    assert.deepEqual(seen, { rbx: 77n, rbxValid: true, rsiValid: false });
    oneRequest(
      (c) => c.vmgexit(SVM_EXIT_CPUID, 0n, 0n, [[GHCB_OFF_RAX, 1n]]),
      (page) => {
        assert.deepEqual(page.validBits(), bits(...EXIT, GHCB_OFF_RAX));
        page.reply();
      },
    );
  });

  it('setField rejects offsets that are not save-area fields; vmgexit rejects unknown names', () => {
    const { cpu } = boot(function* () {});
    const c = new GhcbClient(cpu, GHCB_GPA);
    assert.throws(() => c.setField(0x3f0, 1n), RangeError);
    assert.throws(() => c.setField(0x1f9, 1n), RangeError);
    assert.throws(() => c.setField(0x800, 1n), RangeError);
    assert.throws(() => new GhcbClient(cpu, 0x3001), RangeError);
    const g = c.vmgexit(1, 0n, 0n, { nope: 1n });
    assert.throws(() => g.next(), RangeError);
  });

  it('vmgexitRaw sends the shadow as built: a cleared info2 bit and a bad usage reach the page', () => {
    let got: GhcbResult | undefined;
    const { cpu, page } = boot(function* (cpu) {
      const c = new GhcbClient(cpu, GHCB_GPA);
      c.invalidate();
      c.setField(GHCB_OFF_SW_EXIT_CODE, BigInt(SVM_EXIT_WBINVD));
      c.setField(GHCB_OFF_SW_EXIT_INFO_1, 0n);
      c.setField(GHCB_OFF_SW_EXIT_INFO_2, 0n);
      c.setValidBit(GHCB_OFF_SW_EXIT_INFO_2 >> 3, false);
      c.setUsage(1);
      c.setProtocolVersion(0x77);
      got = yield* c.vmgexitRaw();
    });
    runToVmgexit(cpu);
    assert.equal(page.exitCode(), BigInt(SVM_EXIT_WBINVD));
    assert.deepEqual(page.validBits(), bits(CODE, I1));
    assert.equal(page.usage(), 1);
    assert.equal(page.version(), 0x77);
    page.reply({ info1: 2n, info2: BigInt(GHCB_ERR_INVALID_USAGE) });
    runToEnd(cpu);
    assert.deepEqual(got, { kind: 'reflected', error: GHCB_ERR_INVALID_USAGE, info1: 2n, info2: 2n });
  });

  it('writeRaw and readRaw go to the page immediately', () => {
    let back: Uint8Array | undefined;
    const { cpu, mem } = boot(function* (cpu) {
      const c = new GhcbClient(cpu, GHCB_GPA);
      yield* c.writeRaw(0x100, Uint8Array.of(1, 2, 3));
      mem.bytes[GHCB_GPA + 0x102] = 9;
      back = yield* c.readRaw(0x100, 3);
    });
    runToEnd(cpu);
    assert.deepEqual(mem.bytes.slice(GHCB_GPA + 0x100, GHCB_GPA + 0x103), Uint8Array.of(1, 2, 9));
    assert.deepEqual(back, Uint8Array.of(1, 2, 9));
  });
});
