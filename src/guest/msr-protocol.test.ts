import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GuestOp } from '../cpu/scripted.js';
import {
  GHCB_HV_FT_SUPPORTED,
  GHCB_MSR_AP_RESET_HOLD_REQ,
  GHCB_MSR_HV_FT_REQ,
  GHCB_MSR_SEV_INFO_REQ,
  GHCB_TERM_CPUID,
  ghcbMsrApResetHoldResp,
  ghcbMsrCpuidResp,
  ghcbMsrHvFtResp,
  ghcbMsrSevInfo,
  SEV_TERM_SET_LINUX,
} from '../uapi/ghcb.js';
import { SVM_EXIT_VMGEXIT } from '../uapi/svm.js';
import { GhcbClient } from './ghcb-client.js';
import { boot, GHCB_GPA, runToEnd, runToVmgexit, vmrun } from './test-util.js';

const GPA = BigInt(GHCB_GPA);

/**
 * Run one MSR-protocol exchange: `answer` gets the MSR value the guest wrote and returns what the
 * hypervisor writes back. Returns the guest's result and the MSR value after the program ended.
 */
function msrExchange<T>(
  request: (c: GhcbClient) => Generator<GuestOp, T, unknown>,
  answer: (msr: bigint) => bigint,
): { value: T; msrAfter: bigint } {
  let out: { v: T } | undefined;
  const { cpu, mem } = boot(function* (cpu) {
    const c = new GhcbClient(cpu, GHCB_GPA);
    out = { v: yield* request(c) };
  });
  runToVmgexit(cpu);
  cpu.ghcbMsr = answer(cpu.ghcbMsr);
  runToEnd(cpu);
  assert.equal(mem.log.length, 0, 'the MSR protocol does not touch the GHCB page');
  assert.ok(out);
  return { value: out.v, msrAfter: cpu.ghcbMsr };
}

describe('GHCB MSR protocol', () => {
  it('SEV_INFO: request 0x002, decoded response, GHCB GPA restored afterwards', () => {
    const r = msrExchange(
      (c) => c.sevInfo(),
      (msr) => {
        assert.equal(msr, BigInt(GHCB_MSR_SEV_INFO_REQ));
        return ghcbMsrSevInfo(2, 1, 51);
      },
    );
    assert.deepEqual(r.value, { max: 2, min: 1, cbit: 51, raw: ghcbMsrSevInfo(2, 1, 51) });
    assert.equal(r.msrAfter, GPA);
  });

  it('SEV_INFO with another response code is undefined', () => {
    const r = msrExchange(
      (c) => c.sevInfo(),
      (msr) => msr,
    );
    assert.equal(r.value, undefined);
    assert.equal(r.msrAfter, GPA);
  });

  for (const reg of [0, 1, 2, 3] as const) {
    it(`CPUID_REQ register ${reg}: fn in [63:32], register in [31:30], value from CPUID_RESP [63:32]`, () => {
      const r = msrExchange(
        (c) => c.cpuidMsr(0x8000_001f, reg),
        (msr) => {
          assert.equal(msr, (0x8000_001fn << 32n) | (BigInt(reg) << 30n) | 0x004n);
          return ghcbMsrCpuidResp(msr, 0xa000_0000 + reg);
        },
      );
      assert.equal(r.value, 0xa000_0000 + reg);
      assert.equal(r.msrAfter, GPA);
    });
  }

  it('CPUID_REQ answered with anything but CPUID_RESP is undefined', () => {
    const r = msrExchange(
      (c) => c.cpuidMsr(1, 0),
      (msr) => msr,
    );
    assert.equal(r.value, undefined);
  });

  it('a whole CPUID leaf takes four requests EAX, EBX, ECX, EDX', () => {
    let leaf: unknown;
    const { cpu } = boot(function* (cpu) {
      leaf = yield* new GhcbClient(cpu, GHCB_GPA).cpuidLeafMsr(7);
    });
    for (const reg of [0, 1, 2, 3]) {
      runToVmgexit(cpu);
      assert.equal((cpu.ghcbMsr >> 30n) & 3n, BigInt(reg));
      cpu.ghcbMsr = ghcbMsrCpuidResp(cpu.ghcbMsr, 10 + reg);
    }
    runToEnd(cpu);
    assert.deepEqual(leaf, { eax: 10, ebx: 11, ecx: 12, edx: 13 });
  });

  it('TERM_REQ: 0x100 with reason set in [15:12] and code in [23:16]; the raw value comes back', () => {
    const r = msrExchange(
      (c) => c.terminateMsr(SEV_TERM_SET_LINUX, GHCB_TERM_CPUID),
      (msr) => {
        assert.equal(msr, 0x100n | (1n << 12n) | (4n << 16n));
        return msr;
      },
    );
    assert.equal(r.value, 0x100n | (1n << 12n) | (4n << 16n));
    assert.equal(r.msrAfter, GPA);
  });

  it('HV_FT_REQ and AP_RESET_HOLD_REQ decode [63:12] of their responses', () => {
    const ft = msrExchange(
      (c) => c.hvFeaturesMsr(),
      (msr) => {
        assert.equal(msr, BigInt(GHCB_MSR_HV_FT_REQ));
        return ghcbMsrHvFtResp(GHCB_HV_FT_SUPPORTED);
      },
    );
    assert.equal(ft.value, GHCB_HV_FT_SUPPORTED);
    const noFt = msrExchange(
      (c) => c.hvFeaturesMsr(),
      (msr) => msr,
    );
    assert.equal(noFt.value, undefined);
    const hold = msrExchange(
      (c) => c.apResetHoldMsr(),
      (msr) => {
        assert.equal(msr, BigInt(GHCB_MSR_AP_RESET_HOLD_REQ));
        return ghcbMsrApResetHoldResp(1n);
      },
    );
    assert.equal(hold.value, 1n);
  });

  it('register writes the GHCB GPA into the MSR without an exit', () => {
    const { cpu } = boot(function* (cpu) {
      new GhcbClient(cpu, GHCB_GPA).register();
      yield* cpu.vmgexit();
    });
    const e = vmrun(cpu);
    assert.equal(e.exitCode, SVM_EXIT_VMGEXIT);
    assert.equal(cpu.ghcbMsr, GPA);
  });
});
