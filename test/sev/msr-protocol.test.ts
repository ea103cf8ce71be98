/**
 * The GHCB MSR protocol, shared/spec/ghcb.md section 2: each request under each kernel profile.
 * The guest writes a request into the GHCB MSR and VMGEXITs; KVM answers in the MSR itself
 * ("set bits" = only the named fields change, the rest keeps the request's bits), or exits to
 * userspace, or fails KVM_RUN. Nothing touches guest memory.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  KVM_EXIT_AP_RESET_HOLD,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_SYSTEM_EVENT_SEV_TERM,
} from '../../src/uapi/exit-reasons.js';
import {
  GHCB_MSR_AP_RESET_HOLD_REQ,
  GHCB_MSR_CPUID_REQ,
  GHCB_MSR_HV_FT_REQ,
  GHCB_MSR_PREF_GPA_REQ,
  GHCB_MSR_PSC_REQ,
  GHCB_MSR_REG_GPA_REQ,
  GHCB_MSR_SEV_INFO_REQ,
  GHCB_MSR_TERM_REQ,
  GHCB_MSR_VMPL_REQ,
  ghcbMsrTermReq,
} from '../../src/uapi/ghcb.js';
import {
  assertOutcome,
  drive,
  type Expected,
  exitsOf,
  fails,
  finish,
  GHCB_GPA,
  handled,
  idleGuest,
  leakGuard,
  type Machine,
  PROFILES,
  type Profile,
  sevMachine,
  userspace,
} from './kit.js';

leakGuard();

/** SEV_INFO response: [63:48] max, [47:32] min, [31:24] C-bit (51 in sevbox's CPUID), 0x001. */
const SEV_INFO_V1 = 0x0001_0001_3300_0001n;
const SEV_INFO_V2 = 0x0002_0001_3300_0001n;

/** Junk in a request's data bits, to see which bits KVM replaces and which it keeps. */
const JUNK = 0xabcd_e000n;

interface Cell {
  kvm: Expected;
  /** The GHCB MSR value the guest reads after its VMGEXIT (undefined: the guest does not resume). */
  response?: bigint | ((request: bigint) => bigint);
  /** The exits KVM_RUN returned, as [kind, extra]. */
  exits?: (m: Machine<unknown>, request: bigint) => unknown[];
}

interface Row {
  request: string;
  value: bigint;
  ghcbVersion?: 1 | 2;
  expect: Record<Profile, Cell>;
}

const unchanged = (req: bigint) => req;
const same = (cell: Cell): Record<Profile, Cell> => ({ prefix: cell, seed: cell, current: cell });
const v1 = (cell: Cell, current: Cell): Record<Profile, Cell> => ({ prefix: cell, seed: cell, current });
const sevTermExit = (data0: bigint) => [
  { exit: 'SystemEvent', reason: KVM_EXIT_SYSTEM_EVENT, type: KVM_SYSTEM_EVENT_SEV_TERM, words: [data0] },
];

/** CPUID_REQ for `fn`, register `reg`, with junk in the reserved bits [29:12]. */
const cpuidReq = (fn: number, reg: number) =>
  (BigInt(fn) << 32n) | (BigInt(reg) << 30n) | 0x2a5a5000n | BigInt(GHCB_MSR_CPUID_REQ);
/** CPUID_RESP: [63:32] := value, [11:0] := 0x005, [31:12] kept from the request. */
const cpuidResp = (value: number) => (req: bigint) => (BigInt(value) << 32n) | (req & 0xffff_f000n) | 0x005n;

const CPUID_8000001F = [0xb, 51 | (1 << 6), 509, 100];
const CPUID_0 = [0xd, 0x6874_7541, 0x444d_4163, 0x6974_6e65]; // 13, "Auth", "cAMD", "enti"
const REG = ['EAX', 'EBX', 'ECX', 'EDX'];

const ROWS: Row[] = [
  {
    request: 'SEV_INFO_REQ (whole value replaced, junk data bits dropped)',
    value: JUNK | BigInt(GHCB_MSR_SEV_INFO_REQ),
    expect: same({ kvm: handled(), response: SEV_INFO_V1 }),
  },
  {
    request: 'SEV_INFO_REQ on a GHCB v2 VM: max version 2',
    value: BigInt(GHCB_MSR_SEV_INFO_REQ),
    ghcbVersion: 2,
    expect: {
      prefix: { kvm: handled(), response: SEV_INFO_V1 },
      seed: { kvm: handled(), response: SEV_INFO_V1 },
      current: { kvm: handled(), response: SEV_INFO_V2 },
    },
  },
  ...[0, 1, 2, 3].map(
    (reg): Row => ({
      request: `CPUID_REQ 0x8000001F ${REG[reg]} (reserved bits [29:12] kept)`,
      value: cpuidReq(0x8000_001f, reg),
      expect: same({ kvm: handled(), response: cpuidResp(CPUID_8000001F[reg]!) }),
    }),
  ),
  ...[0, 1, 2, 3].map(
    (reg): Row => ({
      request: `CPUID_REQ 0x0 ${REG[reg]}`,
      value: cpuidReq(0, reg),
      expect: same({ kvm: handled(), response: cpuidResp(CPUID_0[reg]!) }),
    }),
  ),
  {
    request: 'CPUID_REQ of a leaf with no entry: zeros',
    value: cpuidReq(0x4000_0000, 0),
    expect: same({ kvm: handled(), response: cpuidResp(0) }),
  },
  {
    request: 'AP_RESET_HOLD_REQ',
    value: JUNK | BigInt(GHCB_MSR_AP_RESET_HOLD_REQ),
    expect: v1(
      { kvm: handled(), response: unchanged },
      {
        // The hold is an exit (no in-kernel LAPIC); [63:12] := 0 (not woken by a SIPI), [11:0] := 0x007.
        kvm: userspace(KVM_EXIT_AP_RESET_HOLD),
        response: 0x007n,
        exits: () => [{ exit: 'ApResetHold', reason: KVM_EXIT_AP_RESET_HOLD }],
      },
    ),
  },
  {
    request: 'HV_FT_REQ',
    value: JUNK | BigInt(GHCB_MSR_HV_FT_REQ),
    expect: v1({ kvm: handled(), response: unchanged }, { kvm: handled(), response: (3n << 12n) | 0x081n }),
  },
  {
    request: 'HV_FT_REQ on a GHCB v1 VM of the current kernel (not gated on the VM version)',
    value: BigInt(GHCB_MSR_HV_FT_REQ),
    ghcbVersion: 1,
    expect: v1({ kvm: handled(), response: unchanged }, { kvm: handled(), response: (3n << 12n) | 0x081n }),
  },
  ...(
    [
      ['PREF_GPA_REQ', BigInt(GHCB_MSR_PREF_GPA_REQ)],
      ['REG_GPA_REQ (GFN 1)', (1n << 12n) | BigInt(GHCB_MSR_REG_GPA_REQ)],
      ['PSC_REQ (GFN 0x10, op 2 shared)', (2n << 52n) | (0x10n << 12n) | BigInt(GHCB_MSR_PSC_REQ)],
    ] as const
  ).map(
    ([name, value]): Row => ({
      request: `${name}: SNP-only, from a non-SNP guest`,
      value,
      expect: v1(
        { kvm: handled(), response: unchanged },
        { kvm: userspace(KVM_EXIT_SYSTEM_EVENT), exits: (_m, req) => sevTermExit(req) },
      ),
    }),
  ),
  {
    request: 'TERM_REQ (set 0, code 1 PROT_UNSUPPORTED)',
    value: ghcbMsrTermReq(0, 1),
    expect: v1(
      { kvm: fails('EINVAL') },
      { kvm: userspace(KVM_EXIT_SYSTEM_EVENT), exits: (_m, req) => sevTermExit(req) },
    ),
  },
  {
    request: 'TERM_REQ with junk above the reason: data[0] is the whole MSR value',
    value: (0x1234n << 32n) | ghcbMsrTermReq(1, 4),
    expect: v1(
      { kvm: fails('EINVAL') },
      { kvm: userspace(KVM_EXIT_SYSTEM_EVENT), exits: (_m, req) => sevTermExit(req) },
    ),
  },
  ...(
    [
      ['0x003 (unassigned)', 0x003n],
      ['VMPL_REQ (0x016), which KVM does not handle', BigInt(GHCB_MSR_VMPL_REQ)],
      ['0x0FF', 0x0ffn],
      ['0xFFF with every data bit set', 0xffff_ffff_ffff_ffffn],
    ] as const
  ).map(
    ([name, value]): Row => ({
      request: `unknown request ${name}: MSR unchanged, guest resumes`,
      value: value === 0xffff_ffff_ffff_ffffn ? value : JUNK | value,
      expect: same({ kvm: handled(), response: unchanged }),
    }),
  ),
];

describe('GHCB MSR protocol (ghcb.md section 2)', () => {
  for (const row of ROWS) {
    for (const profile of PROFILES) {
      const cell = row.expect[profile];
      const v2Only = row.ghcbVersion === 2 && profile !== 'current';
      if (v2Only) {
        it(`[${profile}] ${row.request}`, { skip: 'n/a: no GHCB v2 VM in this kernel' }, () => {});
        continue;
      }
      it(`[${profile}] ${row.request}`, () => {
        const m = sevMachine({
          profile,
          ghcbVersion: row.ghcbVersion ?? 1,
          guest: function* (c) {
            return yield* c.msrProtocol(row.value);
          },
        });
        const r = drive(m);
        assert.equal(r.truncated, false);
        assertOutcome(r, cell.kvm);
        assert.equal(r.outcomes.length, 1);
        assert.equal(r.outcomes[0]!.protocol, 'msr');
        assert.equal(r.outcomes[0]!.exitCode, row.value & 0xfffn);
        if (cell.response !== undefined) {
          const want = typeof cell.response === 'function' ? cell.response(row.value) : cell.response;
          assert.equal(r.guestReturned, true, 'the guest resumed');
          assert.equal(r.guest, want, `MSR after the VMGEXIT: 0x${(r.guest as bigint).toString(16)}`);
        }
        if (cell.exits) {
          const got = exitsOf(r).filter((x) => 'exit' in x && x.exit !== 'Hlt');
          assert.deepEqual(got, cell.exits(m as Machine<unknown>, row.value));
        }
        if (cell.kvm.kind === 'error' || (cell.kvm.kind === 'userspace' && cell.kvm.reasons[0] === 24)) {
          assert.equal(r.guestReturned, false, 'a terminated guest does not resume');
        }
        finish(m as Machine<unknown>);
      });
    }
  }
});

describe('GHCB MSR at vCPU RESET', () => {
  const cases: [Profile, 1 | 2, bigint][] = [
    ['prefix', 1, SEV_INFO_V1],
    ['seed', 1, SEV_INFO_V1],
    ['current', 1, SEV_INFO_V1],
    ['current', 2, SEV_INFO_V2],
  ];
  for (const [profile, ghcbVersion, want] of cases) {
    it(`[${profile}] GHCB v${ghcbVersion} VM: the MSR is preset to the SEV_INFO response`, () => {
      const m = sevMachine({
        profile,
        ghcbVersion,
        guest: idleGuest,
      });
      assert.equal(m.cpu.ghcbMsr, want);
      finish(m as Machine<unknown>);
    });
  }
  it('the guest client restores the GHCB GPA after an MSR-protocol exchange', () => {
    const m = sevMachine({
      profile: 'seed',
      guest: function* (c, cpu) {
        yield* c.msrProtocol(BigInt(GHCB_MSR_SEV_INFO_REQ));
        return cpu.ghcbMsr;
      },
    });
    assert.equal(drive(m).guest, BigInt(GHCB_GPA));
    finish(m as Machine<unknown>);
  });
  it('TERM_REQ value uses the reason layout [15:12] set, [23:16] code', () => {
    assert.equal(ghcbMsrTermReq(1, 4), 0x04_1100n | 0n);
    assert.equal(BigInt(GHCB_MSR_TERM_REQ), 0x100n);
  });
});
