/**
 * AP reset hold and the SIPI that ends it (sev_vcpu_deliver_sipi_vector): the first SIPI only
 * starts the AP; later ones report "woken" in the GHCB (NAE AP_HLT_LOOP) or the MSR (current's
 * AP_RESET_HOLD_REQ), per profile.
 *
 * SIPIs reach a vCPU the way they do in Linux: through the in-kernel local APIC. The VMM creates it
 * with KVM_CREATE_IRQCHIP before the vCPU; the AP's reset hold then waits inside KVM
 * (kvm_emulate_ap_reset_hold with lapic_in_kernel: mp_state KVM_MP_STATE_AP_RESET_HOLD), which the
 * model reports as a KVM_RUN interrupted by a signal (EINTR); KVM_SET_MP_STATE(SIPI_RECEIVED) makes
 * kvm_apic_accept_events deliver a SIPI at the next KVM_RUN. Without an irqchip the hold is an exit
 * (KVM_EXIT_AP_RESET_HOLD) and nothing can deliver a SIPI: KVM_SET_MP_STATE accepts only RUNNABLE.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KVM_EXIT_AP_RESET_HOLD, KVM_EXIT_INTR } from '../../src/uapi/exit-reasons.js';
import {
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_SIPI_RECEIVED,
} from '../../src/uapi/irq.js';
import type { KvmVcpuEvents } from '../../src/uapi/vcpu-events.js';
import { KVM_VCPUEVENT_VALID_SIPI_VECTOR } from '../../src/uapi/vcpu-events.js';
import { drive, finish, leakGuard, openSevKvm, PROFILES, runExits, runFails, sevMachine } from './kit.js';

leakGuard();

/**
 * With an in-kernel irqchip: run until the AP waits in reset hold, answer each hold with one SIPI
 * (KVM_SET_MP_STATE(SIPI_RECEIVED)), run on. `startingSipi`: the VMM starts the AP with a SIPI
 * before its first KVM_RUN (as INIT-SIPI-SIPI would), so the SIPI at the hold is the AP's second.
 * What did the guest see, and how often did it wait?
 */
function holdThenWake(profile: (typeof PROFILES)[number], startingSipi: boolean, viaMsr: boolean) {
  const m = sevMachine({
    profile,
    irqchip: true,
    guest: function* (c) {
      if (viaMsr) return { msr: yield* c.apResetHoldMsr() };
      return { nae: yield* c.apHltLoop() };
    },
  });
  if (startingSipi) {
    assert.equal(m.vcpu.setMpState(KVM_MP_STATE_SIPI_RECEIVED), undefined);
    // KVM_GET_MP_STATE runs kvm_apic_accept_events first: the vCPU, in INIT_RECEIVED with the SIPI
    // pending, takes it now (its first: sev_vcpu_deliver_sipi_vector only notes it) and is runnable.
    assert.equal(m.vcpu.getMpState(), KVM_MP_STATE_RUNNABLE);
  }
  let held = 0;
  const r = drive(m, {
    onExit: (exit) => {
      assert.notEqual(exit.reason, KVM_EXIT_AP_RESET_HOLD, 'with an in-kernel APIC the hold never exits');
      return undefined;
    },
    onError: (f, mm) => {
      if (f.error.errno !== 'EINTR') return 'stop';
      assert.equal(f.left.reason, KVM_EXIT_INTR);
      if (mm.vcpu.getMpState() !== KVM_MP_STATE_AP_RESET_HOLD) return 'rerun';
      held++;
      assert.equal(mm.vcpu.setMpState(KVM_MP_STATE_SIPI_RECEIVED), undefined);
      return 'rerun';
    },
  });
  assert.equal(r.truncated, false);
  finish(m);
  return { r, held };
}

describe('SIPI delivery to an AP in reset hold (in-kernel APIC, KVM_SET_MP_STATE)', () => {
  for (const profile of PROFILES) {
    it(`[${profile}] AP_HLT_LOOP, first SIPI only starts the AP: guest not woken`, () => {
      const { r, held } = holdThenWake(profile, false, false);
      assert.equal(held, 1);
      assert.equal(r.guest!.nae!.woken, false);
    });
    it(`[${profile}] AP_HLT_LOOP, a second SIPI wakes the guest (sw_exit_info_2 = 1)`, () => {
      const { r, held } = holdThenWake(profile, true, false);
      assert.equal(held, 1);
      assert.equal(r.guest!.nae!.result.kind, 'ok');
      assert.equal(r.guest!.nae!.woken, true);
      assert.equal(r.guest!.nae!.result.info2, 1n);
    });
  }
  it('[current] AP_RESET_HOLD_REQ via the MSR protocol: a second SIPI sets the result to 1', () => {
    const { r, held } = holdThenWake('current', true, true);
    assert.equal(held, 1);
    assert.equal(r.guest!.msr, 1n);
  });
  it('[current] AP_RESET_HOLD_REQ, first SIPI only: result stays 0', () => {
    const { r, held } = holdThenWake('current', false, true);
    assert.equal(held, 1);
    assert.equal(r.guest!.msr, 0n);
  });
  for (const profile of ['prefix', 'seed'] as const) {
    it(`[${profile}] AP_RESET_HOLD_REQ is not an MSR request this kernel knows: no hold, MSR unchanged`, () => {
      const { r, held } = holdThenWake(profile, true, true);
      assert.equal(held, 0);
      assert.equal(r.guest!.msr, undefined, 'no AP_RESET_HOLD_RESP came back');
    });
  }

  for (const profile of PROFILES) {
    it(`[${profile}] without an in-kernel APIC the hold exits KVM_EXIT_AP_RESET_HOLD and no SIPI can be sent (EINVAL)`, () => {
      const m = sevMachine({ profile, guest: (c) => c.apHltLoop() });
      runExits(m.vcpu, 'ApResetHold');
      // kvm_arch_vcpu_ioctl_set_mpstate: only RUNNABLE without lapic_in_kernel.
      assert.equal(m.vcpu.setMpState(KVM_MP_STATE_SIPI_RECEIVED)?.errno, 'EINVAL');
      assert.equal(m.vcpu.getMpState(), KVM_MP_STATE_RUNNABLE);
      runExits(m.vcpu, 'Hlt'); // a re-run resumes the AP, never woken
      assert.equal(m.guestResult!.woken, false);
      finish(m);
    });
  }

  it('a vCPU of an unprotected VM: the SIPI is kvm_vcpu_deliver_sipi_vector (real mode at vector << 12)', () => {
    const w = openSevKvm('current');
    const plain = w.kvm.createVm();
    if (!('vm' in plain)) assert.fail(`KVM_CREATE_VM: ${plain}`);
    assert.equal(plain.createIrqchip(), undefined);
    const vcpu = plain.createVcpu(0);
    if (!('vcpu' in vcpu)) assert.fail(`KVM_CREATE_VCPU: ${vcpu}`);
    // KVM_SET_VCPU_EVENTS(KVM_VCPUEVENT_VALID_SIPI_VECTOR) sets the vector a SIPI carries.
    const events = vcpu.getVcpuEvents();
    if (!('flags' in events)) assert.fail(`KVM_GET_VCPU_EVENTS: ${events}`);
    const withVector: KvmVcpuEvents = { ...events, sipiVector: 0x9a, flags: KVM_VCPUEVENT_VALID_SIPI_VECTOR };
    assert.equal(vcpu.setVcpuEvents(withVector), undefined);
    assert.equal(vcpu.setMpState(KVM_MP_STATE_SIPI_RECEIVED), undefined);
    // The SIPI is delivered at KVM_RUN entry; the idle CPU then halts, which waits in the kernel.
    runFails(vcpu, 'EINTR');
    assert.equal(vcpu.getMpState(), KVM_MP_STATE_HALTED);
    const sregs = vcpu.getSregs();
    if (!('cs' in sregs)) assert.fail(`KVM_GET_SREGS: ${sregs}`);
    assert.equal(sregs.cs.selector, 0x9a00);
    assert.equal(sregs.cs.base, 0x9_a000n);
    vcpu.close();
    plain.close();
  });
});
