/**
 * Exits to userspace KVM prepares in more than one place (x86.c): the emulator gave up, an exit
 * code nobody handles, and KVM_EXIT_MEMORY_FAULT beside -EFAULT.
 */
import {
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_MEMORY_FAULT,
  KVM_INTERNAL_ERROR_EMULATION,
  KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
} from '../uapi/exit-reasons.js';
import {
  KVM_RUN_OFF_INTERNAL_NDATA,
  KVM_RUN_OFF_INTERNAL_SUBERROR,
  KVM_RUN_OFF_MEMORY_FAULT_FLAGS,
  KVM_RUN_OFF_MEMORY_FAULT_GPA,
  KVM_RUN_OFF_MEMORY_FAULT_SIZE,
} from '../uapi/kvm-run.js';
import type { Vcpu } from './vcpu.js';

/** KVM_EXIT_INTERNAL_ERROR / EMULATION: the instruction emulator gave up. */
export function emulationFailure(vcpu: Vcpu): number {
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_INTERNAL_ERROR;
  run.setU32(KVM_RUN_OFF_INTERNAL_SUBERROR, KVM_INTERNAL_ERROR_EMULATION);
  run.setU32(KVM_RUN_OFF_INTERNAL_NDATA, 0);
  return 0;
}

/** kvm_prepare_unexpected_reason_exit: an exit code KVM has no handler for. */
export function unexpectedExit(vcpu: Vcpu): number {
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_INTERNAL_ERROR;
  run.setU32(KVM_RUN_OFF_INTERNAL_SUBERROR, KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON);
  run.setU32(KVM_RUN_OFF_INTERNAL_NDATA, 2);
  run.setDataWord(0, BigInt(vcpu.vmcb.exitCode));
  run.setDataWord(1, 0n); // last VM-entry CPU
  return 0;
}

/**
 * kvm_prepare_memory_fault_exit: KVM_EXIT_MEMORY_FAULT with the page's gpa and size, when the
 * kernel has KVM_CAP_MEMORY_FAULT_INFO; the caller then returns -EFAULT.
 */
export function prepareMemoryFaultExit(vcpu: Vcpu, gpa: number, size: number, flags = 0n): void {
  if (!vcpu.vm.core.memoryFaultInfo) return;
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_MEMORY_FAULT;
  run.setU64(KVM_RUN_OFF_MEMORY_FAULT_FLAGS, flags);
  run.setU64n(KVM_RUN_OFF_MEMORY_FAULT_GPA, gpa);
  run.setU64n(KVM_RUN_OFF_MEMORY_FAULT_SIZE, size);
}
