/**
 * A vCPU's registers as KVM reaches them (arch/x86/kvm/kvm_cache_regs.h and the x86.c/x86.h helpers
 * that go with it): the register array (raw, and truncated outside 64-bit mode), RIP, CR0/CR3/CR4/
 * CR8, EFER's mode bits and CPL (the save area, or for SEV-ES what the GHCB and the CR write traps
 * said), retiring an emulated instruction, and queueing an exception. A leaf the exit handlers share.
 *
 * The model keeps vcpu->arch.cr0, cr3, cr4 and efer in the VMCB save area (for an SEV-ES vCPU, KVM's
 * own copy of it: the hardware's is in the VMSA), and arch.cr4 of an SEV-ES vCPU in vcpu.cr4.
 */
import {
  CR0_PG,
  CR4_PAE,
  codeSize,
  EFER_LMA,
  getS64Number,
  gpr,
  SAVE_CPL,
  SAVE_CR0,
  SAVE_CR2,
  SAVE_CR3,
  SAVE_CR4,
  SAVE_CS,
  SAVE_EFER,
  SAVE_RFLAGS,
  SAVE_RIP,
  SVM_INTERRUPT_SHADOW_MASK,
  setGpr,
  setS64Number,
  VMCB_NEXT_RIP,
} from '../cpu/backend.js';
import { KVM_EXIT_DEBUG } from '../uapi/exit-reasons.js';
import { KVM_GUESTDBG_SINGLESTEP } from '../uapi/guest-debug.js';
import { KVM_RUN_OFF_DEBUG_DR6, KVM_RUN_OFF_DEBUG_EXCEPTION, KVM_RUN_OFF_DEBUG_PC } from '../uapi/kvm-run.js';
import { APIC_TASKPRI } from '../uapi/lapic.js';
import { DB_VECTOR, GP_VECTOR, PF_VECTOR } from '../uapi/svm.js';
import { DR6_ACTIVE_LOW, DR6_BS, DR6_TRAP_BITS } from './debugreg.js';
import type { Vcpu } from './vcpu.js';

const MASK32 = 0xffff_ffffn;
/** RFLAGS.TF: the CPU traps (#DB) after each instruction. */
export const X86_EFLAGS_TF = 1 << 8;
/** RFLAGS.RF: instruction breakpoints are suppressed for the next instruction. */
export const X86_EFLAGS_RF = 1 << 16;
/** V_TPR, int_ctl bits 3:0: the guest's CR8 as the CPU reads it. */
export const V_TPR_MASK = 0xf;

/** sev_es_guest(vcpu->kvm): the VM is an SEV-ES VM (its vCPUs' state is the hardware's). */
export function sevEsGuest(vcpu: Vcpu): boolean {
  return vcpu.vm.typeOps.sevEs ?? false;
}

/** kvm_register_read_raw: register r as a u64, whatever the mode. */
export function kvmRegisterReadRaw(vcpu: Vcpu, r: number): bigint {
  return gpr(vcpu.regs, r);
}

/** kvm_register_write_raw (the value truncated to 64 bits). */
export function kvmRegisterWriteRaw(vcpu: Vcpu, r: number, v: bigint): void {
  setGpr(vcpu.regs, r, v);
}

/** is_long_mode: EFER.LMA (vcpu->arch.efer, the save area's EFER here). */
export function isLongMode(vcpu: Vcpu): boolean {
  return (vcpu.vmcb.save.getUint32(SAVE_EFER, true) & EFER_LMA) !== 0;
}

/** is_64_bit_mode: long mode with a 64-bit code segment (CS.L). */
export function is64BitMode(vcpu: Vcpu): boolean {
  return codeSize(vcpu.vmcb.save) === 64;
}

/**
 * kvm_register_read: register r as an instruction of the current mode reads it. Outside 64-bit mode
 * (compatibility mode included) a GPR operand is 32 bits, so KVM takes bits 31:0.
 */
export function kvmRegisterRead(vcpu: Vcpu, r: number): bigint {
  const v = kvmRegisterReadRaw(vcpu, r);
  return is64BitMode(vcpu) ? v : v & MASK32;
}

/** kvm_register_write: outside 64-bit mode only bits 31:0 are written (and the rest cleared). */
export function kvmRegisterWrite(vcpu: Vcpu, r: number, v: bigint): void {
  kvmRegisterWriteRaw(vcpu, r, is64BitMode(vcpu) ? v : v & MASK32);
}

/**
 * kvm_rip_read (unprotected guests: the save area), sign-extended: exact for every canonical
 * address, the top of the address space included (as an unsigned number it would round).
 */
export function kvmRipRead(vcpu: Vcpu): number {
  return getS64Number(vcpu.vmcb.save, SAVE_RIP);
}

/** kvm_rip_write of a sign-extended RIP (kvmRipRead's). */
export function kvmRipWrite(vcpu: Vcpu, rip: number): void {
  setS64Number(vcpu.vmcb.save, SAVE_RIP, rip);
}

/** kvm_get_linear_rip: CS.base + RIP, truncated to 32 bits outside 64-bit mode (0 for protected state). */
export function kvmGetLinearRip(vcpu: Vcpu): bigint {
  if (vcpu.guestStateProtected) return 0n;
  const save = vcpu.vmcb.save;
  const rip = save.getBigUint64(SAVE_RIP, true);
  if (is64BitMode(vcpu)) return rip;
  return (save.getBigUint64(SAVE_CS + 8, true) + rip) & MASK32;
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

/**
 * kvm_vcpu_do_singlestep: the retired instruction ran with RFLAGS.TF, so the guest takes the
 * single-step #DB it would have taken natively (or, when userspace single-steps, KVM_EXIT_DEBUG).
 */
export function kvmVcpuDoSinglestep(vcpu: Vcpu): number {
  if (vcpu.guestDebug & KVM_GUESTDBG_SINGLESTEP) {
    const run = vcpu.runArea;
    run.clearExitUnion();
    run.exitReason = KVM_EXIT_DEBUG;
    run.setU64(KVM_RUN_OFF_DEBUG_DR6, DR6_BS | DR6_ACTIVE_LOW);
    run.setU64(KVM_RUN_OFF_DEBUG_PC, kvmGetLinearRip(vcpu));
    run.setU32(KVM_RUN_OFF_DEBUG_EXCEPTION, DB_VECTOR);
    return 0;
  }
  kvmQueueExceptionP(vcpu, DB_VECTOR, DR6_BS);
  return 1;
}

/**
 * kvm_skip_emulated_instruction: retire the intercepted instruction (svm_skip_emulated_instruction)
 * and, if it ran with RFLAGS.TF, raise the single-step trap. 1 to re-enter, 0 for KVM_EXIT_DEBUG.
 */
export function kvmSkipEmulatedInstruction(vcpu: Vcpu): number {
  // The old RFLAGS: "the processor will not generate this exception after the instruction that sets TF".
  const rflags = vcpu.vmcb.save.getUint32(SAVE_RFLAGS, true);
  skipEmulatedInstruction(vcpu);
  if (rflags & X86_EFLAGS_TF) return kvmVcpuDoSinglestep(vcpu);
  return 1;
}

/** kvm_queue_exception(_e): an exception injected at the next entry. */
export function kvmQueueException(vcpu: Vcpu, vector: number, errorCode?: number): void {
  vcpu.exception = { vector, errorCode };
}

/**
 * kvm_queue_exception_p: an exception with a payload, which KVM delivers at once (not in guest mode):
 * for #DB into DR6 (kvm_deliver_exception_payload: B0-B3 replaced, active-low bits flipped, bit 12
 * clear), for #PF into CR2.
 */
export function kvmQueueExceptionP(vcpu: Vcpu, vector: number, payload: bigint): void {
  if (vector === DB_VECTOR) {
    let dr6 = vcpu.dr6 & ~DR6_TRAP_BITS;
    dr6 |= DR6_ACTIVE_LOW;
    dr6 |= payload;
    dr6 ^= payload & DR6_ACTIVE_LOW;
    vcpu.dr6 = dr6 & ~(1n << 12n);
  } else if (vector === PF_VECTOR) {
    vcpu.vmcb.save.setBigUint64(SAVE_CR2, BigInt.asUintN(64, payload), true);
  }
  kvmQueueException(vcpu, vector);
}

/** kvm_inject_gp(vcpu, 0). */
export function kvmInjectGp(vcpu: Vcpu): void {
  kvmQueueException(vcpu, GP_VECTOR, 0);
}

/** kvm_complete_insn_gp: #GP(0) on error (the instruction stays), else retire it. */
export function kvmCompleteInsnGp(vcpu: Vcpu, err: boolean): number {
  if (err) {
    kvmInjectGp(vcpu);
    return 1;
  }
  return kvmSkipEmulatedInstruction(vcpu);
}

/**
 * kvm_read_cr0, bits 31:0: the save area's CR0 (for SEV-ES, as the CR0 write traps left it in the
 * VMCB).
 */
export function kvmReadCr0(vcpu: Vcpu): number {
  return vcpu.vmcb.save.getUint32(SAVE_CR0, true);
}

/** kvm_read_cr3: the save area's CR3 (nested paging: the guest's own). */
export function kvmReadCr3(vcpu: Vcpu): bigint {
  return vcpu.vmcb.save.getBigUint64(SAVE_CR3, true);
}

/** kvm_read_cr4, bits 31:0: the save area's, or (SEV-ES) the value of the last CR4 write trap. */
export function kvmReadCr4(vcpu: Vcpu): number {
  return vcpu.guestStateProtected ? vcpu.cr4 : vcpu.vmcb.save.getUint32(SAVE_CR4, true);
}

/** is_paging: CR0.PG. */
export function isPaging(vcpu: Vcpu): boolean {
  return (kvmReadCr0(vcpu) & CR0_PG) !== 0;
}

/** is_pae: CR4.PAE. */
export function isPae(vcpu: Vcpu): boolean {
  return (kvmReadCr4(vcpu) & CR4_PAE) !== 0;
}

/** is_pae_paging: PAE paging outside long mode (the PDPTEs are loaded from CR3). */
export function isPaePaging(vcpu: Vcpu): boolean {
  return !isLongMode(vcpu) && isPae(vcpu) && isPaging(vcpu);
}

/**
 * kvm_get_cr8: the in-kernel local APIC's TPR[7:4] when there is one, else vcpu->arch.cr8, which the
 * model keeps where the CPU reads it: V_TPR in int_ctl.
 */
export function kvmGetCr8(vcpu: Vcpu): number {
  const lapic = vcpu.lapic;
  if (lapic) return (lapic.get(APIC_TASKPRI) & 0xf0) >>> 4;
  return vcpu.vmcb.intCtl & V_TPR_MASK;
}

/** The guest's CPL: the save area's for unprotected guests, the GHCB's (sync) for SEV-ES. */
export function kvmCpl(vcpu: Vcpu): number {
  return vcpu.guestStateProtected ? vcpu.cpl : vcpu.vmcb.save.getUint8(SAVE_CPL);
}
