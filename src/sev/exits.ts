/**
 * The exits to userspace an SEV-ES request can end in that more than one handler produces (the
 * NAE event path and the MSR protocol): AP reset hold and guest termination. A leaf: it imports
 * nothing else from src/sev.
 */
import type { Vcpu } from '../kvm/vcpu.js';
import {
  KVM_EXIT_AP_RESET_HOLD,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_SYSTEM_EVENT_SEV_TERM,
} from '../uapi/exit-reasons.js';
import { KVM_RUN_OFF_SYSTEM_EVENT_NDATA, KVM_RUN_OFF_SYSTEM_EVENT_TYPE } from '../uapi/kvm-run.js';

/**
 * kvm_emulate_ap_reset_hold: without an in-kernel local APIC the hold is an exit to userspace,
 * KVM_EXIT_AP_RESET_HOLD, and the VMM runs the vCPU again when it decides it is woken; with one,
 * the vCPU waits in the kernel (mp_state AP_RESET_HOLD) for a SIPI.
 */
export function kvmEmulateApResetHold(vcpu: Vcpu): number {
  const hold = vcpu.vm.irqchip?.apResetHold;
  if (hold) return hold(vcpu);
  vcpu.runArea.exitReason = KVM_EXIT_AP_RESET_HOLD;
  return 0;
}

/** KVM_EXIT_SYSTEM_EVENT / KVM_SYSTEM_EVENT_SEV_TERM with data[0] = the GHCB MSR value. */
export function sevTerminate(vcpu: Vcpu, ghcbMsr: bigint): number {
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_SYSTEM_EVENT;
  run.setU32(KVM_RUN_OFF_SYSTEM_EVENT_TYPE, KVM_SYSTEM_EVENT_SEV_TERM);
  run.setU32(KVM_RUN_OFF_SYSTEM_EVENT_NDATA, 1);
  run.setDataWord(0, ghcbMsr);
  return 0;
}
