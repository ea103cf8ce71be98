/**
 * A vCPU's registers as KVM reaches them (arch/x86/kvm/kvm_cache_regs.h and the x86.c helpers that
 * go with it): the register array, RIP and CPL (the save area, or for SEV-ES what the GHCB said),
 * retiring an emulated instruction, and queueing an exception. A leaf the exit handlers share.
 */
import {
  getU64Number,
  SAVE_CPL,
  SAVE_RIP,
  SVM_INTERRUPT_SHADOW_MASK,
  setU64Number,
  VMCB_NEXT_RIP,
} from '../cpu/backend.js';
import type { Vcpu } from './vcpu.js';

const MASK32 = 0xffff_ffffn;

/** Register r as a u64. */
export function kvmRegisterRead(vcpu: Vcpu, r: number): bigint {
  const regs = vcpu.regs;
  return (BigInt(regs[2 * r + 1]!) << 32n) | BigInt(regs[2 * r]!);
}

/** kvm_register_write (the value truncated to 64 bits). */
export function kvmRegisterWrite(vcpu: Vcpu, r: number, v: bigint): void {
  const regs = vcpu.regs;
  regs[2 * r] = Number(v & MASK32);
  regs[2 * r + 1] = Number((v >> 32n) & MASK32);
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

/** The guest's CPL: the save area's for unprotected guests, the GHCB's (sync) for SEV-ES. */
export function kvmCpl(vcpu: Vcpu): number {
  return vcpu.guestStateProtected ? vcpu.cpl : vcpu.vmcb.save.getUint8(SAVE_CPL);
}
