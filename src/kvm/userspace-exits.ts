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

const NO_DATA: readonly bigint[] = [];

/** KVM_EXIT_INTERNAL_ERROR with a suberror and its data words; the exit handler's 0. */
function internalError(vcpu: Vcpu, suberror: number, data: readonly bigint[]): number {
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_INTERNAL_ERROR;
  run.setU32(KVM_RUN_OFF_INTERNAL_SUBERROR, suberror);
  run.setU32(KVM_RUN_OFF_INTERNAL_NDATA, data.length);
  for (let i = 0; i < data.length; i++) run.setDataWord(i, data[i]!);
  return 0;
}

/** KVM_EXIT_INTERNAL_ERROR / EMULATION: the instruction emulator gave up. */
export function emulationFailure(vcpu: Vcpu): number {
  return internalError(vcpu, KVM_INTERNAL_ERROR_EMULATION, NO_DATA);
}

/** kvm_prepare_unexpected_reason_exit: an exit code KVM has no handler for, and the last VM-entry CPU. */
export function unexpectedExit(vcpu: Vcpu): number {
  return internalError(vcpu, KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON, [BigInt(vcpu.vmcb.exitCode), 0n]);
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
