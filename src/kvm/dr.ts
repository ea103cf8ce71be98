/**
 * Debug registers (arch/x86/kvm/x86.c: kvm_get_dr, kvm_set_dr, kvm_dr6_fixed, the debug-register
 * part of vcpu_enter_guest; svm.c: dr_interception, svm_sync_dirty_debug_regs, svm_set_dr6/7).
 *
 * Where the model keeps them: DR0-DR3 in vcpu.db (vcpu->arch.db; the guest's breakpoint addresses,
 * which KVM loads into the CPU's DR0-DR3 around VMRUN; the model's CPU uses the array in place, as it
 * does the GPRs), DR6 in vcpu.dr6 (vcpu->arch.dr6; the VMCB's DR6 is what the CPU runs with), DR7 in
 * the save area (svm_set_dr7 puts vcpu->arch.dr7 there; the debugger's own DR7 of
 * KVM_GUESTDBG_USE_HW_BP would replace it, but the model has no KVM_SET_GUEST_DEBUG).
 *
 * How DR accesses reach KVM: init_vmcb intercepts every MOV to/from DR0-DR7. While no debugger is
 * attached (vcpu->guest_debug == 0) KVM's first DR exit drops all DR intercepts and re-executes the
 * instruction natively (KVM_DEBUGREG_WONT_EXIT); at the next #VMEXIT of any kind KVM reads the
 * registers back and intercepts again. With a debugger KVM emulates the access from decode assist.
 * The #UD (DR4/DR5 with CR4.DE, or DR8+) and #GP (CPL > 0) checks come before the intercept: the CPU's.
 */
import { SAVE_DR6, SAVE_DR7 } from '../cpu/backend.js';
import { SVM_EXIT_READ_DR0 } from '../uapi/svm.js';
import { kvmCompleteInsnGp, kvmRegisterRead, kvmRegisterWrite, sevEsGuest } from './cache-regs.js';
import { guestCpuidHas, X86_FEATURE } from './cpuid.js';
import { SVM_EXITINFO_REG_MASK } from './cr.js';
import {
  DR6_ACTIVE_LOW,
  DR6_BUS_LOCK,
  DR6_FIXED_1,
  DR6_RTM,
  DR6_VOLATILE,
  DR7_FIXED_1,
  DR7_VOLATILE,
} from './debugreg.js';
import { clrDrIntercepts, setDrIntercepts } from './init-vmcb.js';
import type { Vcpu } from './vcpu.js';

/** kvm_dr6_fixed: DR6's fixed-1 bits, plus RTM and BLD (active low) when the guest has no TSX / bus-lock #DB. */
export function kvmDr6Fixed(vcpu: Vcpu): bigint {
  let fixed = DR6_FIXED_1;
  if (!guestCpuidHas(vcpu.cpuid, X86_FEATURE.RTM)) fixed |= DR6_RTM;
  if (!guestCpuidHas(vcpu.cpuid, X86_FEATURE.BUS_LOCK_DETECT)) fixed |= DR6_BUS_LOCK;
  return fixed;
}

/** kvm_get_dr: DR0-DR3, DR6 (DR4 aliases it), DR7 (DR5 aliases it). */
export function kvmGetDr(vcpu: Vcpu, dr: number): bigint {
  switch (dr) {
    case 0:
    case 1:
    case 2:
    case 3:
      return vcpu.db[dr]!;
    case 4:
    case 6:
      return vcpu.dr6;
    default:
      return vcpu.vmcb.save.getBigUint64(SAVE_DR7, true);
  }
}

/**
 * kvm_set_dr: false (#GP) for DR6/DR7 bits 63:32. DR6 keeps its volatile bits and reads the fixed
 * ones as 1; DR7 keeps its volatile bits and bit 10 (kvm_update_dr7 → svm_set_dr7: the VMCB's DR7,
 * not for protected state).
 */
export function kvmSetDr(vcpu: Vcpu, dr: number, val: bigint): boolean {
  switch (dr) {
    case 0:
    case 1:
    case 2:
    case 3:
      vcpu.db[dr] = BigInt.asUintN(64, val);
      return true;
    case 4:
    case 6:
      if (val >> 32n) return false;
      vcpu.dr6 = (val & DR6_VOLATILE) | kvmDr6Fixed(vcpu);
      return true;
    default:
      if (val >> 32n) return false;
      if (!vcpu.guestStateProtected)
        vcpu.vmcb.save.setBigUint64(SAVE_DR7, (val & DR7_VOLATILE) | DR7_FIXED_1, true);
      return true;
  }
}

/**
 * dr_interception: a MOV to/from DRn. SEV-ES intercepts only DR7, to keep the guest from debugging,
 * and KVM cannot change an SEV-ES DR7 (the hardware swaps it): done. Without a debugger, stop
 * intercepting DR accesses and run this one again natively. With one, emulate it (decode assist:
 * the GPR in exit_info_1 bits 3:0; 32 bits outside 64-bit mode), #GP for a bad DR6/DR7 value.
 */
export function drInterception(vcpu: Vcpu): number {
  if (sevEsGuest(vcpu)) return 1;
  if (vcpu.guestDebug === 0) {
    clrDrIntercepts(vcpu.vmcb);
    vcpu.dbRegsWontExit = true;
    return 1;
  }
  const vmcb = vcpu.vmcb;
  const reg = vmcb.exitInfo1Lo & SVM_EXITINFO_REG_MASK;
  const dr = vmcb.exitCode - SVM_EXIT_READ_DR0;
  let ok = true;
  if (dr >= 16) ok = kvmSetDr(vcpu, dr - 16, kvmRegisterRead(vcpu, reg));
  else kvmRegisterWrite(vcpu, reg, kvmGetDr(vcpu, dr));
  return kvmCompleteInsnGp(vcpu, !ok);
}

/**
 * Before VMRUN (vcpu_enter_guest, svm_vcpu_run): the CPU gets DR0-DR3 from vcpu.db (in place), and
 * runs with DR6 = DR6_ACTIVE_LOW so a #DB intercept shows exactly its cause, unless DR accesses do
 * not exit, when the guest must see its own DR6.
 */
export function svmLoadDebugRegs(vcpu: Vcpu): void {
  if (vcpu.guestStateProtected) return;
  vcpu.vmcb.save.setBigUint64(SAVE_DR6, vcpu.dbRegsWontExit ? vcpu.dr6 : DR6_ACTIVE_LOW, true);
}

/**
 * After a #VMEXIT, before its handler, while DR accesses did not exit (svm_sync_dirty_debug_regs,
 * kvm_update_dr0123/dr7): take back what the guest may have written (DR0-DR3 are already in
 * vcpu.db, DR7 in the save area; DR6 from the VMCB) and intercept DR accesses again.
 */
export function svmSyncDirtyDebugRegs(vcpu: Vcpu): void {
  if (!vcpu.dbRegsWontExit) return;
  vcpu.dr6 = vcpu.vmcb.save.getBigUint64(SAVE_DR6, true);
  vcpu.dbRegsWontExit = false;
  setDrIntercepts(vcpu.vmcb);
}
