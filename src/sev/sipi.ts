/**
 * sev_vcpu_deliver_sipi_vector: what a SIPI does to an SEV-ES vCPU. KVM cannot set an SEV-ES AP's
 * CS:RIP, so the guest's own AP code is resumed and told, through the GHCB (or the MSR), that it
 * was woken from AP reset hold. The very first SIPI only starts the AP with the state it has.
 * It runs when the in-kernel local APIC accepts a SIPI (kvm_apic_accept_events): from another
 * vCPU's ICR write, or KVM_SET_MP_STATE(KVM_MP_STATE_SIPI_RECEIVED) from the VMM.
 */
import { GHCB_OFF_SW_EXIT_INFO_2, ghcbMsrApResetHoldResp } from '../uapi/ghcb.js';
import type { SevEsVcpu } from './sev-es-vcpu.js';

/** Deliver a SIPI (its vector is ignored: the AP's RIP is the guest's) to an SEV-ES vCPU. */
export function sevVcpuDeliverSipiVector(sev: SevEsVcpu, _vector: number): void {
  if (!sev.receivedFirstSipi) {
    sev.receivedFirstSipi = true;
    return;
  }
  if (!sev.profile.snapshotGhcb) {
    // prefix/seed: any later SIPI reports 1 in the GHCB while one is mapped.
    sev.ghcb?.set(GHCB_OFF_SW_EXIT_INFO_2, 1n);
    return;
  }
  switch (sev.apResetHoldType) {
    case 'nae-event':
      if (sev.ghcb) sev.setExitInfo(0n, 1n);
      break;
    case 'msr-protocol':
      // Result bits [63:12] := 1, GHCBInfo := AP_RESET_HOLD_RESP.
      sev.vcpu.vmcb.ghcbGpa = ghcbMsrApResetHoldResp(1n);
      break;
    default:
      break;
  }
}
