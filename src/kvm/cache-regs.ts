/**
 * A vCPU's registers as KVM reaches them (arch/x86/kvm/kvm_cache_regs.h and the x86.c helpers that
 * go with it): the register array, RIP, CR0/CR4/CR8 and CPL (the save area, or for SEV-ES what the
 * GHCB and the CR write traps said), retiring an emulated instruction, and queueing an exception.
 * A leaf the exit handlers share.
 */
import {
  getU64Number,
  gpr,
  SAVE_CPL,
  SAVE_CR0,
  SAVE_CR4,
  SAVE_RIP,
  SVM_INTERRUPT_SHADOW_MASK,
  setGpr,
  setU64Number,
  VMCB_NEXT_RIP,
} from '../cpu/backend.js';
import type { Vcpu } from './vcpu.js';

/** kvm_register_read: register r as a u64. */
export function kvmRegisterRead(vcpu: Vcpu, r: number): bigint {
  return gpr(vcpu.regs, r);
}

/** kvm_register_write (the value truncated to 64 bits). */
export function kvmRegisterWrite(vcpu: Vcpu, r: number, v: bigint): void {
  setGpr(vcpu.regs, r, v);
}

/** kvm_rip_read (unprotected guests: the save area). */
export function kvmRipRead(vcpu: Vcpu): number {
  return getU64Number(vcpu.vmcb.save, SAVE_RIP);
}

/** kvm_rip_write. */
export function kvmRipWrite(vcpu: Vcpu, rip: number): void {
  setU64Number(vcpu.vmcb.save, SAVE_RIP, rip);
}

/**
 * svm_skip_emulated_instruction: RIP := next_rip (and the interrupt shadow ends). Nothing for
 * protected state: KVM cannot move an SEV-ES guest's RIP (the guest's #VC handler does).
 */
export function skipEmulatedInstruction(vcpu: Vcpu): void {
  if (vcpu.guestStateProtected) return;
  const c = vcpu.vmcb.control;
  const lo = c.getUint32(VMCB_NEXT_RIP, true);
  const hi = c.getUint32(VMCB_NEXT_RIP + 4, true);
  const save = vcpu.vmcb.save;
  save.setUint32(SAVE_RIP, lo, true);
  save.setUint32(SAVE_RIP + 4, hi, true);
  vcpu.vmcb.intState &= ~SVM_INTERRUPT_SHADOW_MASK;
}

/** kvm_queue_exception(_e): an exception injected at the next entry. */
export function kvmQueueException(vcpu: Vcpu, vector: number, errorCode?: number): void {
  vcpu.exception = { vector, errorCode };
}

/**
 * kvm_read_cr0, bits 31:0: the save area's CR0 (for SEV-ES, as the CR0 write traps left it in the
 * VMCB).
 */
export function kvmReadCr0(vcpu: Vcpu): number {
  return vcpu.vmcb.save.getUint32(SAVE_CR0, true);
}

/** kvm_read_cr4, bits 31:0: the save area's, or (SEV-ES) the value of the last CR4 write trap. */
export function kvmReadCr4(vcpu: Vcpu): number {
  return vcpu.guestStateProtected ? vcpu.cr4 : vcpu.vmcb.save.getUint32(SAVE_CR4, true);
}

/** kvm_get_cr8: V_TPR in int_ctl. */
export function kvmGetCr8(vcpu: Vcpu): number {
  return vcpu.vmcb.intCtl & 0xf;
}

/** The guest's CPL: the save area's for unprotected guests, the GHCB's (sync) for SEV-ES. */
export function kvmCpl(vcpu: Vcpu): number {
  return vcpu.guestStateProtected ? vcpu.cpl : vcpu.vmcb.save.getUint8(SAVE_CPL);
}
