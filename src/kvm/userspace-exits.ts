/**
 * Exits to userspace KVM prepares in more than one place (x86.c): the emulator gave up, an exit
 * code nobody handles, KVM_EXIT_MEMORY_FAULT beside -EFAULT, and port I/O for userspace.
 */
import {
  KVM_EXIT_FAIL_ENTRY,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_IN,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_MEMORY_FAULT,
  KVM_INTERNAL_ERROR_EMULATION,
  KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
} from '../uapi/exit-reasons.js';
import {
  KVM_PIO_DATA_OFFSET,
  KVM_RUN_OFF_FAIL_ENTRY_CPU,
  KVM_RUN_OFF_FAIL_ENTRY_REASON,
  KVM_RUN_OFF_INTERNAL_NDATA,
  KVM_RUN_OFF_INTERNAL_SUBERROR,
  KVM_RUN_OFF_IO_COUNT,
  KVM_RUN_OFF_IO_DATA_OFFSET,
  KVM_RUN_OFF_IO_DIRECTION,
  KVM_RUN_OFF_IO_PORT,
  KVM_RUN_OFF_IO_SIZE,
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
/**
 * svm_handle_exit on SVM_EXIT_ERR: VMRUN itself failed (a VMCB or VMSA that fails the consistency
 * checks, an SEV-ES vCPU whose VMSA was never launched): KVM_EXIT_FAIL_ENTRY with the exit code as
 * hardware_entry_failure_reason (all ones) and the CPU it last entered on (the model has one, 0).
 */
export function failEntry(vcpu: Vcpu): number {
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_FAIL_ENTRY;
  const vmcb = vcpu.vmcb;
  run.setU64(
    KVM_RUN_OFF_FAIL_ENTRY_REASON,
    (BigInt(vmcb.exitCodeHi >>> 0) << 32n) | BigInt(vmcb.exitCode >>> 0),
  );
  run.setU32(KVM_RUN_OFF_FAIL_ENTRY_CPU, 0);
  return 0;
}

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

/**
 * emulator_pio_in_out's userspace path (fast PIO, the emulator's INS/OUTS, SEV-ES string I/O):
 * KVM_EXIT_IO with `count` elements of `size` bytes at the PIO page. An IN's data are cleared; an
 * OUT's the caller copies there.
 */
export function preparePioExit(vcpu: Vcpu, isIn: boolean, size: number, port: number, count: number): void {
  const run = vcpu.runArea;
  run.exitReason = KVM_EXIT_IO;
  run.setU8(KVM_RUN_OFF_IO_DIRECTION, isIn ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT);
  run.setU8(KVM_RUN_OFF_IO_SIZE, size);
  run.setU16(KVM_RUN_OFF_IO_PORT, port);
  run.setU32(KVM_RUN_OFF_IO_COUNT, count);
  run.setU64n(KVM_RUN_OFF_IO_DATA_OFFSET, KVM_PIO_DATA_OFFSET);
  if (isIn) run.pioPage.fill(0, 0, size * count);
}
