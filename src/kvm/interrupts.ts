/**
 * Interrupt delivery to a vCPU (svm.c: svm_interrupt_allowed, the interrupt window; x86.c:
 * kvm_vcpu_deliver_sipi_vector).
 */
import {
  RFLAGS_IF,
  SAVE_CS,
  SAVE_RFLAGS,
  SVM_GUEST_INTERRUPT_MASK,
  SVM_INTERRUPT_SHADOW_MASK,
  V_IRQ_MASK,
} from '../cpu/backend.js';
import { SVM_EXIT_VINTR } from '../uapi/svm.js';
import { kvmRipWrite } from './cache-regs.js';
import type { Vcpu } from './vcpu.js';

/** svm_get_if_flag: the guest's RFLAGS.IF (SEV-ES: as int_state reports it). */
export function svmGetIfFlag(vcpu: Vcpu): boolean {
  const vmcb = vcpu.vmcb;
  if (vcpu.guestStateProtected) return (vmcb.intState & SVM_GUEST_INTERRUPT_MASK) !== 0;
  return (vmcb.save.getUint32(SAVE_RFLAGS, true) & RFLAGS_IF) !== 0;
}

/** svm_interrupt_allowed: RFLAGS.IF set and no interrupt shadow. */
export function interruptAllowed(vcpu: Vcpu): boolean {
  if (vcpu.vmcb.intState & SVM_INTERRUPT_SHADOW_MASK) return false;
  return svmGetIfFlag(vcpu);
}

/** svm_enable_irq_window: a virtual interrupt and the VINTR intercept make the CPU exit when IF opens. */
export function enableIrqWindow(vcpu: Vcpu): void {
  const vmcb = vcpu.vmcb;
  vmcb.intCtl |= V_IRQ_MASK;
  vmcb.setIntercept(SVM_EXIT_VINTR, true);
}

/** svm_clear_vintr. */
export function disableIrqWindow(vcpu: Vcpu): void {
  const vmcb = vcpu.vmcb;
  vmcb.intCtl &= ~V_IRQ_MASK;
  vmcb.setIntercept(SVM_EXIT_VINTR, false);
}

/**
 * kvm_vcpu_deliver_sipi_vector: the AP starts in real mode at vector << 12 (CS selector vector << 8,
 * IP 0). Nothing for protected state: KVM cannot set an SEV-ES AP's registers (sev.c has its own hook).
 */
export function kvmDeliverSipiVector(vcpu: Vcpu, vector: number): void {
  if (vcpu.guestStateProtected) return;
  const save = vcpu.vmcb.save;
  save.setUint16(SAVE_CS, vector << 8, true);
  save.setBigUint64(SAVE_CS + 8, BigInt(vector) << 12n, true);
  kvmRipWrite(vcpu, 0);
}
