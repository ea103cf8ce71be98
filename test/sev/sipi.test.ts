/**
 * AP reset hold and the SIPI that ends it (sev_vcpu_deliver_sipi_vector): the first SIPI only
 * starts the AP; later ones report "woken" in the GHCB (NAE AP_HLT_LOOP) or the MSR (current's
 * AP_RESET_HOLD_REQ), per profile.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ScriptedCpu } from '../../src/cpu/scripted.js';
import { sevDeliverSipi } from '../../src/sev/index.js';
import { KVM_EXIT_AP_RESET_HOLD } from '../../src/uapi/exit-reasons.js';
import { drive, finish, leakGuard, PROFILES, sevMachine } from './kit.js';

leakGuard();

/** Run until the AP reset hold exit, deliver `sipis` SIPIs, run on; what did the guest see? */
function holdThenWake(profile: (typeof PROFILES)[number], sipis: number, viaMsr: boolean) {
  const m = sevMachine({
    profile,
    guest: function* (c) {
      if (viaMsr) return { msr: yield* c.apResetHoldMsr() };
      return { nae: yield* c.apHltLoop() };
    },
  });
  let held = 0;
  const r = drive(m, {
    onExit: (exit) => {
      if (exit.reason !== KVM_EXIT_AP_RESET_HOLD) return undefined;
      held++;
      for (let i = 0; i < sipis; i++) sevDeliverSipi(m.vcpu);
      return undefined;
    },
  });
  finish(m);
  return { r, held };
}

describe('SIPI delivery to an AP in reset hold', () => {
  for (const profile of PROFILES) {
    it(`[${profile}] AP_HLT_LOOP, first SIPI only starts the AP: guest not woken`, () => {
      const { r, held } = holdThenWake(profile, 1, false);
      assert.equal(held, 1);
      assert.equal(r.guest!.nae!.woken, false);
    });
    it(`[${profile}] AP_HLT_LOOP, a second SIPI wakes the guest (sw_exit_info_2 = 1)`, () => {
      const { r } = holdThenWake(profile, 2, false);
      assert.equal(r.guest!.nae!.result.kind, 'ok');
      assert.equal(r.guest!.nae!.woken, true);
      assert.equal(r.guest!.nae!.result.info2, 1n);
    });
  }
  it('[current] AP_RESET_HOLD_REQ via the MSR protocol: a second SIPI sets the result to 1', () => {
    const { r, held } = holdThenWake('current', 2, true);
    assert.equal(held, 1);
    assert.equal(r.guest!.msr, 1n);
  });
  it('[current] AP_RESET_HOLD_REQ, first SIPI only: result stays 0', () => {
    const { r } = holdThenWake('current', 1, true);
    assert.equal(r.guest!.msr, 0n);
  });
  for (const profile of ['prefix', 'seed'] as const) {
    it(`[${profile}] AP_RESET_HOLD_REQ is not an MSR request this kernel knows: no hold, MSR unchanged`, () => {
      const { r, held } = holdThenWake(profile, 2, true);
      assert.equal(held, 0);
      assert.equal(r.guest!.msr, undefined, 'no AP_RESET_HOLD_RESP came back');
    });
  }
  it('a vCPU of an unprotected VM is refused (EINVAL)', () => {
    const m = sevMachine({ profile: 'current', guest: function* () {} });
    const plain = m.kvm.createVm();
    const vcpu = plain.createVcpu(0, new ScriptedCpu(function* () {}));
    assert.throws(
      () => sevDeliverSipi(vcpu),
      (e: unknown) => (e as { code?: string }).code === 'EINVAL',
    );
    plain.destroy();
    finish(m);
  });
});
