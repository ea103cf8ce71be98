/**
 * kvm_emulate_hypercall (arch/x86/kvm/x86.c), read against v5.17 (x86.c@37b2a651) and current
 * (6.14+ ____kvm_emulate_hypercall): results in RAX as 0 or -KVM_E*, 32-bit outside 64-bit code,
 * -KVM_EPERM from CPL > 0, PV hypercalls gated only with KVM_CAP_ENFORCE_PV_FEATURE_CPUID, and
 * KVM_HC_MAP_GPA_RANGE's argument checks before any exit to userspace.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GhcbClient } from '../../src/guest/ghcb-client.js';
import {
  KVM_HC_CLOCK_PAIRING,
  KVM_HC_KICK_CPU,
  KVM_HC_MAP_GPA_RANGE,
  KVM_HC_SCHED_YIELD,
  KVM_HC_SEND_IPI,
  KVM_HC_VAPIC_POLL_IRQ,
} from '../../src/kvm/hypercall.js';
import { KVM_CAP_ENFORCE_PV_FEATURE_CPUID, KVM_CAP_EXIT_HYPERCALL } from '../../src/uapi/caps.js';
import { GHCB_GPA, machine, ok, plain, runToEnd, sevEs } from './kit.js';

const neg = (v: bigint): bigint => BigInt.asUintN(64, -v);
const KVM_ENOSYS = neg(1000n);
const KVM_EINVAL = neg(22n);
const KVM_EPERM = neg(1n);
const KVM_EOPNOTSUPP = neg(95n);

/** The RAX a plain guest sees after VMMCALL `nr` with `args` (the hypercall handled in the kernel). */
function hypercall(
  nr: number,
  args: bigint[] = [],
  boot: 'reset' | 'long-mode' = 'long-mode',
  setup?: (m: ReturnType<typeof machine>) => void,
): bigint {
  const m = machine(plain(boot), function* (cpu) {
    cpu.notes.rax = yield* cpu.vmmcall(BigInt(nr), ...args);
  });
  setup?.(m);
  runToEnd(m);
  return m.cpu.notes.rax as bigint;
}

describe('kvm_emulate_hypercall', () => {
  it('VAPIC_POLL_IRQ returns 0 (`case KVM_HC_VAPIC_POLL_IRQ: ret = 0;`)', () => {
    assert.equal(hypercall(KVM_HC_VAPIC_POLL_IRQ), 0n);
  });

  it('an unknown number is -KVM_ENOSYS; outside 64-bit code the result is 32 bits (`if (!op_64) ret = (u32)ret`)', () => {
    assert.equal(hypercall(0x1234), KVM_ENOSYS);
    assert.equal(hypercall(0x1234, [], 'reset'), KVM_ENOSYS & 0xffff_ffffn);
    // ... and the number itself is truncated: 2^32 + 1 is VAPIC_POLL_IRQ in 32-bit code.
    assert.equal(hypercall(0x1_0000_0001, [], 'reset'), 0n);
    assert.equal(hypercall(0x1_0000_0001), KVM_ENOSYS);
  });

  it('from CPL 3 every hypercall is -KVM_EPERM (an SEV-ES guest says its CPL in the GHCB)', () => {
    for (const profile of ['seed', 'current'] as const) {
      const m = machine(sevEs(profile), function* (cpu) {
        const g = new GhcbClient(cpu, GHCB_GPA);
        g.register();
        cpu.notes.user = (yield* g.vmmcall(BigInt(KVM_HC_VAPIC_POLL_IRQ), [], 3)).value;
        cpu.notes.kernel = (yield* g.vmmcall(BigInt(KVM_HC_VAPIC_POLL_IRQ), [], 0)).value;
      });
      runToEnd(m);
      assert.equal(m.cpu.notes.user, KVM_EPERM, profile);
      assert.equal(m.cpu.notes.kernel, 0n, profile);
    }
  });

  it('KICK_CPU and SCHED_YIELD are allowed by default, -KVM_ENOSYS once KVM_CAP_ENFORCE_PV_FEATURE_CPUID is on without the PV features (guest_pv_has)', () => {
    assert.equal(hypercall(KVM_HC_KICK_CPU, [0n, 0n]), 0n);
    assert.equal(hypercall(KVM_HC_SCHED_YIELD, [0n]), 0n);
    const enforce = (m: ReturnType<typeof machine>): void => {
      assert.equal(
        m.vcpu.enableCap({ cap: KVM_CAP_ENFORCE_PV_FEATURE_CPUID, flags: 0, args: [1n, 0n, 0n, 0n] }),
        undefined,
      );
    };
    assert.equal(hypercall(KVM_HC_KICK_CPU, [0n, 0n], 'long-mode', enforce), KVM_ENOSYS);
    assert.equal(hypercall(KVM_HC_SCHED_YIELD, [0n], 'long-mode', enforce), KVM_ENOSYS);
  });

  it('SEND_IPI: -EOPNOTSUPP without an in-kernel APIC, -KVM_EINVAL for an ICR with a shorthand, else the number of IPIs sent', () => {
    assert.equal(hypercall(KVM_HC_SEND_IPI, [1n, 0n, 0n, 0x30n]), KVM_EOPNOTSUPP);
    const m = machine(plain('long-mode', { irqchip: true }), function* (cpu) {
      cpu.notes.bad = yield* cpu.vmmcall(BigInt(KVM_HC_SEND_IPI), 1n, 0n, 0n, 0xc_0030n);
      cpu.notes.sent = yield* cpu.vmmcall(BigInt(KVM_HC_SEND_IPI), 0b11n, 0n, 0n, 0x30n);
    });
    runToEnd(m);
    assert.equal(m.cpu.notes.bad, KVM_EINVAL);
    assert.equal(m.cpu.notes.sent, 1n, 'APIC ids 0 and 1: only vCPU 0 exists');
  });

  it('CLOCK_PAIRING with a clock type other than KVM_CLOCK_PAIRING_WALLCLOCK is -KVM_EOPNOTSUPP', () => {
    assert.equal(hypercall(KVM_HC_CLOCK_PAIRING, [0x8000n, 1n]), KVM_EOPNOTSUPP);
  });
});

describe('KVM_HC_MAP_GPA_RANGE', () => {
  /** Run a guest making MAP_GPA_RANGE(gpa, npages, attrs), answering a KVM_EXIT_HYPERCALL with `ret`. */
  function mapGpaRange(gpa: bigint, npages: bigint, enable: boolean) {
    const m = machine(plain(), function* (cpu) {
      cpu.notes.rax = yield* cpu.vmmcall(BigInt(KVM_HC_MAP_GPA_RANGE), gpa, npages, 0x10n);
    });
    if (enable) {
      ok(m.vmm.vm.enableCap({ cap: KVM_CAP_EXIT_HYPERCALL, flags: 0, args: [1n << 12n, 0n, 0n, 0n] }));
    }
    const exits: { nr: bigint; args: readonly bigint[]; flags: bigint }[] = [];
    for (let i = 0; i < 10 && m.cpu.state !== 'done'; i++) {
      const e = m.vcpu.run();
      if (e.kind === 'Hypercall') {
        exits.push({ nr: e.nr, args: e.args.slice(0, 3), flags: e.flags });
        e.setRet(0x1_2345_6789n);
      }
    }
    return { rax: m.cpu.notes.rax as bigint, exits };
  }

  it('without KVM_CAP_EXIT_HYPERCALL: -KVM_ENOSYS, no exit', () => {
    const r = mapGpaRange(0x8000n, 2n, false);
    assert.deepEqual(r, { rax: KVM_ENOSYS, exits: [] });
  });

  it('an unaligned GPA, no pages, or a range that wraps: -KVM_EINVAL before any exit', () => {
    for (const [gpa, n] of [
      [0x8001n, 1n],
      [0x8000n, 0n],
      [0xffff_ffff_ffff_f000n, 0xfff0_0000_0000_0001n],
    ] as const) {
      assert.deepEqual(mapGpaRange(gpa, n, true), { rax: KVM_EINVAL, exits: [] }, `gpa ${gpa} npages ${n}`);
    }
  });

  it('otherwise KVM_EXIT_HYPERCALL (nr, gpa, npages, attrs, LONG_MODE) and userspace ret goes to RAX', () => {
    const r = mapGpaRange(0x8000n, 2n, true);
    assert.deepEqual(r.exits, [{ nr: 12n, args: [0x8000n, 2n, 0x10n], flags: 1n }]);
    assert.equal(r.rax, 0x1_2345_6789n);
  });

  it("an SEV-ES guest's result: 32 bits on v5.17 (is_64_bit_mode reads the stale VMCB), 64 since 6.13", () => {
    for (const [profile, want] of [
      ['seed', 0x2345_6789n],
      ['current', 0x1_2345_6789n],
    ] as const) {
      const m = machine(sevEs(profile), function* (cpu) {
        const g = new GhcbClient(cpu, GHCB_GPA);
        g.register();
        cpu.notes.rax = (yield* g.vmmcall(BigInt(KVM_HC_MAP_GPA_RANGE), [0x8000n, 1n, 0n])).value;
      });
      ok(m.vmm.vm.enableCap({ cap: KVM_CAP_EXIT_HYPERCALL, flags: 0, args: [1n << 12n, 0n, 0n, 0n] }));
      let flags = -1n;
      for (let i = 0; i < 10 && m.cpu.state !== 'done'; i++) {
        const e = m.vcpu.run();
        if (e.kind === 'Hypercall') {
          flags = e.flags;
          e.setRet(0x1_2345_6789n);
        }
      }
      assert.equal(flags, 1n, `${profile}: is_64_bit_hypercall is true for protected state`);
      assert.equal(m.cpu.notes.rax, want, profile);
    }
  });
});
