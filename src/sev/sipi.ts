/**
 * sev_vcpu_deliver_sipi_vector: what a SIPI does to an SEV-ES vCPU in AP reset hold. KVM cannot set
 * an SEV-ES AP's CS:RIP, so the guest's own AP code is resumed and told, through the GHCB (or the
 * MSR), that it was woken. The very first SIPI only starts the AP with the state the VMM set up.
 * sevbox's vCPUs have no in-kernel local APIC, so the VMM delivers the SIPI with this call after
 * KVM_EXIT_AP_RESET_HOLD, standing in for the INIT-SIPI another vCPU would send.
 */
import type { Vcpu } from '../kvm/vcpu.js';
import { GHCB_MSR_AP_RESET_HOLD_RESP, GHCB_OFF_SW_EXIT_INFO_2 } from '../uapi/ghcb.js';
import { KvmError } from '../uapi/kvm-error.js';
import { SevEsVcpu } from './sev-es-vcpu.js';

/** Deliver a SIPI to an SEV-ES vCPU. EINVAL for a vCPU of another VM type. */
export function sevDeliverSipi(vcpu: Vcpu): void {
  const sev = vcpu.typeOps;
  if (!(sev instanceof SevEsVcpu)) throw new KvmError('EINVAL', 'not an SEV-ES vCPU');
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
      vcpu.backend.ghcbMsr = (1n << 12n) | BigInt(GHCB_MSR_AP_RESET_HOLD_RESP);
      break;
    default:
      break;
  }
}
