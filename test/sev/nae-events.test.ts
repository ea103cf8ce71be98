/**
 * NAE events after successful validation (shared/spec/vmgexit.md section 4), and the register and
 * valid-bitmap flow of a VMGEXIT (section 1: sync_from_ghcb / sync_to_ghcb, the prefix/seed order
 * "validate, then sync"). Each test runs under every profile unless the event is profile-specific.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GuestException } from '../../src/cpu/scripted.js';
import { GhcbClient } from '../../src/guest/ghcb-client.js';
import { KVM_HC_MAP_GPA_RANGE } from '../../src/kvm/hypercall.js';
import { KVM_CAP_EXIT_HYPERCALL, KVM_CAP_X86_USER_SPACE_MSR } from '../../src/uapi/caps.js';
import {
  KVM_EXIT_AP_RESET_HOLD,
  KVM_EXIT_HYPERCALL,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_EXIT_X86_RDMSR,
  KVM_EXIT_X86_WRMSR,
  KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
  KVM_MSR_EXIT_REASON_UNKNOWN,
  KVM_SYSTEM_EVENT_SEV_TERM,
} from '../../src/uapi/exit-reasons.js';
import {
  GHCB_ERR_INVALID_EVENT,
  GHCB_ERR_INVALID_USAGE,
  GHCB_HV_FT_SUPPORTED,
  GHCB_OFF_RAX,
  GHCB_OFF_RBX,
  GHCB_OFF_RCX,
  GHCB_OFF_RDX,
  GHCB_OFF_RSI,
} from '../../src/uapi/ghcb.js';
import { SVM_EXIT_CPUID, SVM_EXIT_RDTSC } from '../../src/uapi/svm.js';
import {
  assertGuestSaw,
  assertOutcome,
  drive,
  enableCap,
  exitsOf,
  fails,
  finish,
  GHCB_GPA,
  type GuestFn,
  ghcbNow,
  guestValidBits,
  handled,
  leakGuard,
  type Machine,
  type MachineOptions,
  PROFILES,
  type Profile,
  RESULT_BITS,
  reflected,
  request,
  sevMachine,
  userspace,
} from './kit.js';

leakGuard();

const u64 = (n: bigint) => BigInt.asUintN(64, n);

/** Run `guest` under `profile`, hand the run to `check`, then finish (close + leak check). */
function scenario<T>(
  profile: Profile,
  guest: GuestFn<T>,
  check: (r: ReturnType<typeof drive<T>>, m: Machine<T>) => void,
  more: Omit<MachineOptions<T>, 'profile' | 'guest'> & Parameters<typeof drive>[1] = {},
): void {
  const m = sevMachine({ profile, guest, ...more });
  const r = drive(m, more);
  assert.equal(r.truncated, false);
  check(r, m);
  finish(m as Machine<unknown>);
}

describe('CPUID through the GHCB', () => {
  // Leaf 0xD EBX is a runtime bit (kvm_update_cpuid_runtime): xstate_required_size of the XCR0 the
  // GHCB carried (sev_es_sync_from_ghcb), not the table's value.
  const leaves: [string, number, number, bigint, [number, number, number, number]][] = [
    ['leaf 0: max leaf and "AuthenticAMD"', 0, 0, 1n, [0xd, 0x6874_7541, 0x444d_4163, 0x6974_6e65]],
    ['leaf 0x8000001F: SEV-ES, C-bit 51', 0x8000_001f, 0, 1n, [0xb, 51 | (1 << 6), 509, 100]],
    ['leaf 0xD (xcr0 1 sent: EBX 576, x87/SSE only)', 0xd, 0, 1n, [0x7, 0x240, 0x340, 0]],
    ['leaf 0xD (xcr0 7 sent: EBX 832, with AVX)', 0xd, 0, 7n, [0x7, 0x340, 0x340, 0]],
    ['a leaf with no entry: zeros', 0x4000_0000, 0, 1n, [0, 0, 0, 0]],
  ];
  for (const profile of PROFILES) {
    for (const [name, fn, index, xcr0, want] of leaves) {
      it(`[${profile}] ${name}`, () =>
        scenario(
          profile,
          (c) => c.cpuid(fn, index, xcr0),
          (r) => {
            assertOutcome(r, handled());
            const g = r.guest!;
            assertGuestSaw(g.result, { ok: true, info2: 0n });
            assert.deepEqual([g.eax, g.ebx, g.ecx, g.edx], want);
            assert.equal(g.regsValid, true);
          },
        ));
    }
  }
});

describe('MSR access through the GHCB', () => {
  for (const profile of PROFILES) {
    it(`[${profile}] RDMSR EFER reads 0; WRMSR LSTAR then RDMSR reads it back`, () =>
      scenario(
        profile,
        function* (c) {
          const efer = yield* c.rdmsr(0xc000_0080);
          const w = yield* c.wrmsr(0xc000_0082, 0xffff_8000_1234_5678n);
          const back = yield* c.rdmsr(0xc000_0082);
          return { efer, w, back };
        },
        (r) => {
          const g = r.guest!;
          assertGuestSaw(g.efer.result, { ok: true });
          assert.equal(g.efer.value, 0n);
          assertGuestSaw(g.w, { ok: true });
          assert.equal(g.back.value, 0xffff_8000_1234_5678n);
          assert.equal(g.back.regsValid, true);
          assert.deepEqual(
            r.outcomes.map((o) => o.outcome.kind),
            ['handled', 'handled', 'handled'],
          );
        },
      ));
    it(`[${profile}] RDMSR / WRMSR of an unknown MSR: #GP through the GHCB (info1 1, info2 0x8000030D)`, () =>
      scenario(
        profile,
        function* (c) {
          return { rd: (yield* c.rdmsr(0xc001_0999)).result, wr: yield* c.wrmsr(0xc001_0999, 1n) };
        },
        (r) => {
          assertGuestSaw(r.guest!.rd, { exception: 13, info2: 0x8000030dn });
          assertGuestSaw(r.guest!.wr, { exception: 13, info2: 0x8000030dn });
        },
      ));
    it(`[${profile}] unknown MSR with KVM_CAP_X86_USER_SPACE_MSR: KVM_EXIT_X86_RDMSR/WRMSR, answer and #GP`, () =>
      scenario(
        profile,
        function* (c) {
          return { rd: yield* c.rdmsr(0xc001_0999), wr: yield* c.wrmsr(0xc001_0999, 0x42n) };
        },
        (r) => {
          assertOutcome({ ...r, outcomes: r.outcomes.slice(0, 1) }, userspace(KVM_EXIT_X86_RDMSR));
          assertOutcome(r, userspace(KVM_EXIT_X86_WRMSR));
          assertGuestSaw(r.guest!.rd.result, { ok: true });
          assert.equal(r.guest!.rd.value, 0x1122_3344_5566_7788n);
          // The VMM refused the write: #GP, reported through the GHCB.
          assertGuestSaw(r.guest!.wr, { exception: 13, info2: 0x8000030dn });
        },
        {
          // KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR): unknown MSRs go to userspace.
          host: (_host, vm) => enableCap(vm, KVM_CAP_X86_USER_SPACE_MSR, BigInt(KVM_MSR_EXIT_REASON_UNKNOWN)),
          onExit: (exit) => {
            if (exit.kind === 'X86Rdmsr') exit.msr.setData(0x1122_3344_5566_7788n);
            if (exit.kind === 'X86Wrmsr') {
              assert.equal(exit.value, 0x42n);
              exit.msr.setError(true);
            }
            return undefined;
          },
        },
      ));
  }
});

describe('RDTSC, RDTSCP, RDPMC', () => {
  for (const profile of PROFILES) {
    it(`[${profile}] RDTSC: KVM_EXIT_INTERNAL_ERROR, suberror 4, ndata 2, data[0] = 0x6e`, () =>
      scenario(
        profile,
        (c) => c.rdtsc(),
        (r) => {
          assertOutcome(r, userspace(KVM_EXIT_INTERNAL_ERROR));
          assert.deepEqual(exitsOf(r), [
            {
              exit: 'InternalError',
              reason: KVM_EXIT_INTERNAL_ERROR,
              suberror: KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
              words: [BigInt(SVM_EXIT_RDTSC), 0n],
            },
          ]);
        },
      ));
    for (const [name, vector, op] of [
      ['RDTSCP: #UD', 6, 'rdtscp'],
      ['RDPMC of a counter the vPMU lacks (ECX 4; AMD has 4): #GP', 13, 'rdpmc'],
    ] as const) {
      it(`[${profile}] ${name} by event injection, not through the GHCB (sw_exit_info_1 stays 0)`, () =>
        scenario(
          profile,
          function* (c) {
            try {
              if (op === 'rdtscp') yield* c.rdtscp();
              else yield* c.rdpmc(4);
              return { vector: -1, info1: -1n };
            } catch (e) {
              if (!(e instanceof GuestException)) throw e;
              const raw = yield* c.readRaw(0x398, 16);
              return { vector: e.vector, info1: new DataView(raw.buffer).getBigUint64(0, true) };
            }
          },
          (r) => {
            assertOutcome(r, handled());
            assert.equal(r.guest!.vector, vector);
            assert.equal(r.guest!.info1, 0n);
          },
        ));
    }
  }
});

describe('VMMCALL', () => {
  for (const profile of PROFILES) {
    it(`[${profile}] an unknown hypercall returns -KVM_ENOSYS in RAX; from CPL 3, -KVM_EPERM`, () =>
      scenario(
        profile,
        function* (c) {
          return { k: yield* c.vmmcall(0x1234n), u: yield* c.vmmcall(0x1234n, [], 3) };
        },
        (r) => {
          assertGuestSaw(r.guest!.k.result, { ok: true });
          assert.equal(r.guest!.k.value, u64(-1000n));
          assert.equal(r.guest!.u.value, u64(-1n));
        },
      ));
    it(`[${profile}] KVM_HC_MAP_GPA_RANGE with KVM_CAP_EXIT_HYPERCALL: KVM_EXIT_HYPERCALL, ret -> RAX`, () =>
      scenario(
        profile,
        (c) => c.vmmcall(BigInt(KVM_HC_MAP_GPA_RANGE), [0x8000n, 2n, 0x10n]),
        (r) => {
          assertOutcome(r, userspace(KVM_EXIT_HYPERCALL));
          assertGuestSaw(r.guest!.result, { ok: true });
          assert.equal(r.guest!.value, 7n);
        },
        {
          host: (_host, vm) => enableCap(vm, KVM_CAP_EXIT_HYPERCALL, 1n << BigInt(KVM_HC_MAP_GPA_RANGE)),
          onExit: (exit) => {
            if (exit.kind === 'Hypercall') {
              assert.equal(exit.nr, BigInt(KVM_HC_MAP_GPA_RANGE));
              assert.deepEqual(exit.args.slice(0, 3), [0x8000n, 2n, 0x10n]);
              exit.setRet(7n);
            }
            return undefined;
          },
        },
      ));
  }
});

describe('INVD, WBINVD, MONITOR, MWAIT, DR7, NMI_COMPLETE: handled, the guest resumes with success', () => {
  const events: [string, GuestFn<unknown>][] = [
    ['INVD', (c) => c.invd()],
    ['WBINVD', (c) => c.wbinvd()],
    ['MONITOR', (c) => c.monitor(0x8000n, 0n, 0n)],
    ['MWAIT', (c) => c.mwait(0n, 0n)],
    [
      'READ_DR7',
      function* (c) {
        return (yield* c.readDr7()).result;
      },
    ],
    ['WRITE_DR7', (c) => c.writeDr7(0x400n)],
    ['NMI_COMPLETE', (c) => c.nmiComplete()],
  ];
  for (const profile of PROFILES) {
    for (const [name, guest] of events) {
      it(`[${profile}] ${name}`, () =>
        scenario(profile, guest, (r) => {
          assertOutcome(r, handled());
          assertGuestSaw(r.guest as never, { ok: true, info2: 0n });
        }));
    }
  }
});

describe('AP_HLT_LOOP and AP_JUMP_TABLE', () => {
  for (const profile of PROFILES) {
    it(`[${profile}] AP_HLT_LOOP: KVM_EXIT_AP_RESET_HOLD (no in-kernel LAPIC); re-run resumes, not woken`, () =>
      scenario(
        profile,
        (c) => c.apHltLoop(),
        (r) => {
          assertOutcome(r, userspace(KVM_EXIT_AP_RESET_HOLD));
          assert.equal(r.guest!.woken, false);
          assertGuestSaw(r.guest!.result, { ok: true, info2: 0n });
        },
      ));
    it(`[${profile}] AP_JUMP_TABLE: GET before SET is 0; SET 0x9000 then GET returns it`, () =>
      scenario(
        profile,
        function* (c) {
          const before = yield* c.apJumpTableGet();
          const set = yield* c.apJumpTableSet(0x9000);
          const after = yield* c.apJumpTableGet();
          return { before, set, after };
        },
        (r) => {
          assert.equal(r.guest!.before.value, 0n);
          assertGuestSaw(r.guest!.set, { ok: true, info2: 0n });
          assertGuestSaw(r.guest!.after.result, { ok: true, info2: 0x9000n });
          assert.equal(r.guest!.after.value, 0x9000n);
        },
      ));
  }
  it('[seed] AP_JUMP_TABLE is VM-wide: vCPU 1 reads what vCPU 0 set', () => {
    const m = sevMachine({
      profile: 'seed',
      guest: (c) => c.apJumpTableSet(0xa000),
      aps: [
        function* (cpu) {
          // vCPU 1 uses its own GHCB page at 0x2000; it asks once vCPU 0 is done.
          const client = new GhcbClient(cpu, 0x2000);
          client.register();
          cpu.notes.got = (yield* client.apJumpTableGet()).value;
        },
      ],
    });
    drive(m);
    const vcpu1 = m.aps[0]!;
    for (let i = 0; i < 10 && !m.guests.finished(1); i++) vcpu1.run();
    assert.equal(m.guests.finished(1), true);
    assert.equal(m.guests.cpu(1)!.notes.got, 0xa000n);
    finish(m as Machine<unknown>);
  });
});

describe('HV_FEATURES, TERM_REQUEST, UNSUPPORTED_EVENT', () => {
  for (const profile of PROFILES) {
    const v2 = profile === 'current';
    it(`[${profile}] HV_FEATURES: ${v2 ? 'sw_exit_info_2 = GHCB_HV_FT_SUPPORTED (SNP | SNP_AP_CREATION)' : 'INVALID_EVENT'}`, () =>
      scenario(
        profile,
        (c) => c.hvFeatures(),
        (r) => {
          if (v2) {
            assertOutcome(r, handled());
            assert.equal(r.guest!.features, GHCB_HV_FT_SUPPORTED);
            assert.equal(GHCB_HV_FT_SUPPORTED, 3n);
          } else {
            assertOutcome(r, reflected(GHCB_ERR_INVALID_EVENT));
            assertGuestSaw(r.guest!.result, { reflected: GHCB_ERR_INVALID_EVENT });
          }
        },
      ));
    it(`[${profile}] TERM_REQUEST: ${v2 ? 'KVM_EXIT_SYSTEM_EVENT SEV_TERM, data[0] = GHCB GPA' : 'INVALID_EVENT'}`, () =>
      scenario(
        profile,
        (c) => c.termRequest(1, 4),
        (r) => {
          if (v2) {
            assertOutcome(r, userspace(KVM_EXIT_SYSTEM_EVENT));
            assert.deepEqual(exitsOf(r), [
              {
                exit: 'SystemEvent',
                reason: KVM_EXIT_SYSTEM_EVENT,
                type: KVM_SYSTEM_EVENT_SEV_TERM,
                words: [BigInt(GHCB_GPA)],
              },
            ]);
            assert.equal(r.guestReturned, false);
          } else {
            assertOutcome(r, reflected(GHCB_ERR_INVALID_EVENT));
          }
        },
      ));
    it(`[${profile}] UNSUPPORTED_EVENT: KVM_RUN fails EINVAL`, () =>
      scenario(
        profile,
        (c) => c.unsupportedEvent(),
        (r) => {
          assertOutcome(r, fails('EINVAL'));
          assert.equal(r.runs.length, 1);
          assert.equal('errno' in r.runs[0]! && r.runs[0].errno, 'EINVAL');
          assert.equal(r.guestReturned, false);
        },
      ));
  }
});

describe('section 1: registers and valid bits around a VMGEXIT', () => {
  for (const profile of PROFILES) {
    it(`[${profile}] after a handled request the guest sees exactly sw_exit_info_1/2 and RAX..RDX valid`, () =>
      scenario(
        profile,
        function* (c) {
          yield* c.cpuid(0);
          return yield* guestValidBits(c);
        },
        (r) => assert.deepEqual(r.guest, RESULT_BITS),
      ));
    it(`[${profile}] RSI is loaded from the GHCB but never written back`, () =>
      scenario(
        profile,
        function* (c) {
          yield* request(c, SVM_EXIT_CPUID, 0n, 0n, [
            [GHCB_OFF_RAX, 0n],
            [GHCB_OFF_RCX, 0n],
            [GHCB_OFF_RSI, 0x5151n],
          ]);
          return yield* guestValidBits(c);
        },
        (r, m) => {
          assert.deepEqual(r.guest, RESULT_BITS);
          assert.equal(ghcbNow(m as Machine<unknown>).u64(GHCB_OFF_RSI), 0x5151n);
        },
      ));
    const stale = profile !== 'current';
    it(`[${profile}] a request failing validation: RAX..RDX written back are ${stale ? 'the stale values of the previous exit (not loaded on this path)' : 'loaded from this request (sync before validation)'}`, () =>
      scenario(
        profile,
        function* (c) {
          yield* c.cpuid(0); // vCPU registers now hold leaf 0's answer
          c.setUsage(7);
          const res = yield* request(c, SVM_EXIT_CPUID, 0n, 0n, [
            [GHCB_OFF_RAX, 0x1234n],
            [GHCB_OFF_RCX, 0n],
          ]);
          c.setUsage(0);
          return {
            res,
            regs: [GHCB_OFF_RAX, GHCB_OFF_RBX, GHCB_OFF_RCX, GHCB_OFF_RDX].map((o) => c.getField(o)),
            bits: yield* guestValidBits(c),
          };
        },
        (r) => {
          assertOutcome(r, reflected(GHCB_ERR_INVALID_USAGE));
          assertGuestSaw(r.guest!.res, { reflected: GHCB_ERR_INVALID_USAGE });
          assert.deepEqual(r.guest!.bits, RESULT_BITS);
          assert.deepEqual(
            r.guest!.regs,
            stale ? [0xdn, 0x6874_7541n, 0x444d_4163n, 0x6974_6e65n] : [0x1234n, 0n, 0n, 0n],
          );
        },
      ));
  }
});
