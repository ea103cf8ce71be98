/**
 * The remaining intercepts of init_vmcb and svm_recalc_instruction_intercepts (arch/x86/kvm/svm/
 * svm.c: nmi/smi_interception, pause_interception, invpcid_interception, invlpg_interception,
 * rsm_interception, task_switch_interception), as far as the model's KVM can follow them.
 */
import { getU64Number, VMCB_EXIT_INT_INFO, VMCB_NEXT_RIP } from '../cpu/backend.js';
import {
  BP_VECTOR,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_TYPE_MASK,
  SVM_EVTINJ_TYPE_SOFT,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VEC_MASK,
  UD_VECTOR,
} from '../uapi/svm.js';
import {
  kvmInjectGp,
  kvmQueueException,
  kvmReadCr4,
  kvmSkipEmulatedInstruction,
  skipEmulatedInstruction,
} from './cache-regs.js';
import { guestCpuidHas, X86_FEATURE } from './cpuid.js';
import { X86_CR4_LA57 } from './cr.js';
import { emulationFailure } from './userspace-exits.js';
import type { Vcpu } from './vcpu.js';

/** #OF's vector: a software exception like #BP. */
const OF_VECTOR = 4;

/** nmi_interception: a host NMI (handled by the host right after the #VMEXIT); re-enter. */
export function nmiInterception(_vcpu: Vcpu): number {
  return 1;
}

/** smi_interception: a host SMI (intercept_smi keeps it from running the guest in SMM); re-enter. */
export function smiInterception(_vcpu: Vcpu): number {
  return 1;
}

/**
 * pause_interception: the guest spins (PAUSE past the pause filter count). KVM grows the filter
 * window and yields to another vCPU (kvm_vcpu_on_spin; nothing to yield to here), then retires the
 * PAUSE. For an SEV-ES guest the CPU has already moved RIP (an automatic exit).
 */
export function pauseInterception(vcpu: Vcpu): number {
  // Whether the guest spins at CPL 0 (unknown for SEV-ES) only steers which vCPU KVM yields to.
  return kvmSkipEmulatedInstruction(vcpu);
}

/** is_noncanonical_address(la, vcpu, 0): bits 63:N-1 not all equal, N = 57 with CR4.LA57 else 48. */
function isNoncanonical(vcpu: Vcpu, la: bigint): boolean {
  const bits = BigInt(kvmReadCr4(vcpu) & X86_CR4_LA57 ? 57 : 48);
  return BigInt.asUintN(64, BigInt.asIntN(Number(bits), la)) !== la;
}

/**
 * invpcid_interception: #UD when the guest's CPUID lacks INVPCID (with nested paging the only time
 * KVM intercepts it), #GP(0) for a non-canonical descriptor address (exit_info_1; the type is in
 * exit_info_2). kvm_handle_invpcid would then read the 16-byte descriptor through the guest's page
 * tables, which the model cannot walk: an emulation failure (unreachable with the model's intercepts).
 */
export function invpcidInterception(vcpu: Vcpu): number {
  if (!guestCpuidHas(vcpu.cpuid, X86_FEATURE.INVPCID)) {
    kvmQueueException(vcpu, UD_VECTOR);
    return 1;
  }
  if (isNoncanonical(vcpu, vcpu.vmcb.exitInfo1)) {
    kvmInjectGp(vcpu);
    return 1;
  }
  return emulationFailure(vcpu);
}

/**
 * invlpg_interception: INVLPG of exit_info_1 (decode assist). Only intercepted without nested
 * paging; the model's MMU keeps no guest TLB, so KVM just retires it.
 */
export function invlpgInterception(vcpu: Vcpu): number {
  return kvmSkipEmulatedInstruction(vcpu);
}

/**
 * rsm_interception: KVM emulates RSM ("0f aa"); outside SMM, where every vCPU of the model is (it
 * has no SMM), the emulator's em_rsm raises #UD. The instruction is not retired.
 */
export function rsmInterception(vcpu: Vcpu): number {
  kvmQueueException(vcpu, UD_VECTOR);
  return 1;
}

/** SVM_EXITINFOSHIFT_TS_REASON_IRET / _JMP: exit_info_2 bits 36 and 38. */
const TS_REASON_IRET = 1n << 36n;
const TS_REASON_JMP = 1n << 38n;

/**
 * task_switch_interception: a task switch through CALL/JMP/IRET or a task gate. For an instruction
 * (or a software interrupt, #BP, #OF through a gate) KVM first retires it (svm_skip_emulated_
 * instruction: next_rip), then kvm_task_switch emulates the switch (TSS reads and writes, segment
 * loads), which the model's emulator cannot: KVM_EXIT_INTERNAL_ERROR / EMULATION, as kvm_task_switch
 * reports an emulator failure.
 */
export function taskSwitchInterception(vcpu: Vcpu): number {
  const vmcb = vcpu.vmcb;
  const intInfo = vmcb.control.getUint32(VMCB_EXIT_INT_INFO, true);
  const type = intInfo & SVM_EVTINJ_TYPE_MASK;
  const vector = intInfo & SVM_EVTINJ_VEC_MASK;
  const info2 = vmcb.exitInfo2;
  const gate = !(info2 & TS_REASON_IRET) && !(info2 & TS_REASON_JMP) && (intInfo & SVM_EVTINJ_VALID) !== 0;
  if (
    !gate ||
    type === SVM_EVTINJ_TYPE_SOFT ||
    (type === SVM_EVTINJ_TYPE_EXEPT && (vector === OF_VECTOR || vector === BP_VECTOR))
  ) {
    // Without a next_rip KVM would decode the instruction to skip it: the model cannot.
    if (getU64Number(vmcb.control, VMCB_NEXT_RIP) === 0) return emulationFailure(vcpu);
    skipEmulatedInstruction(vcpu);
  }
  return emulationFailure(vcpu);
}
