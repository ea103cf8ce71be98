/**
 * MSR emulation: the MSR filter (KVM_X86_SET_MSR_FILTER), the in-kernel MSRs sevbox models, and
 * the KVM_MSR_RET_* outcomes that decide between #GP and an exit to userspace.
 */

import {
  SAVE_CSTAR,
  SAVE_DBGCTL,
  SAVE_EFER,
  SAVE_FS,
  SAVE_G_PAT,
  SAVE_GS,
  SAVE_KERNEL_GS_BASE,
  SAVE_LSTAR,
  SAVE_SFMASK,
  SAVE_STAR,
  SAVE_SYSENTER_CS,
  SAVE_SYSENTER_EIP,
  SAVE_SYSENTER_ESP,
} from '../cpu/backend.js';
import {
  KVM_MSR_EXIT_REASON_FILTER,
  KVM_MSR_EXIT_REASON_INVAL,
  KVM_MSR_EXIT_REASON_UNKNOWN,
} from '../uapi/exit-reasons.js';
import {
  MSR_CSTAR,
  MSR_EFER,
  MSR_FS_BASE,
  MSR_GS_BASE,
  MSR_IA32_APICBASE,
  MSR_IA32_CR_PAT,
  MSR_IA32_DEBUGCTLMSR,
  MSR_IA32_POWER_CTL,
  MSR_IA32_SYSENTER_CS,
  MSR_IA32_SYSENTER_EIP,
  MSR_IA32_SYSENTER_ESP,
  MSR_IA32_TSC,
  MSR_IA32_XSS,
  MSR_KERNEL_GS_BASE,
  MSR_KVM_SYSTEM_TIME,
  MSR_KVM_SYSTEM_TIME_NEW,
  MSR_KVM_WALL_CLOCK,
  MSR_KVM_WALL_CLOCK_NEW,
  MSR_LSTAR,
  MSR_STAR,
  MSR_SYSCALL_MASK,
} from '../uapi/msr-index.js';
import { isPaging } from './cache-regs.js';
import { guestCpuidHas, X86_FEATURE } from './cpuid.js';
import { X2APIC_MSR_BASE, X2APIC_MSR_END } from './irqchip.js';
import { isMtrrMsr } from './mtrr.js';
import type { Vcpu } from './vcpu.js';

/** One range of KVM_X86_SET_MSR_FILTER: bit i of `bitmap` set = MSR base+i allowed. */
export interface MsrFilterRange {
  readonly flags: number;
  readonly base: number;
  readonly nmsrs: number;
  readonly bitmap: Uint8Array;
}

/** KVM_X86_SET_MSR_FILTER: MSRs in no range get the default action. */
export interface MsrFilter {
  readonly defaultAllow: boolean;
  readonly ranges: readonly MsrFilterRange[];
}

/** kvm_msr_allowed: the first range covering the MSR for this access decides. */
export function kvmMsrAllowed(filter: MsrFilter | undefined, index: number, access: number): boolean {
  if (!filter) return true;
  for (const r of filter.ranges) {
    if (!(r.flags & access)) continue;
    if (index >= r.base && index < r.base + r.nmsrs) {
      const bit = index - r.base;
      return ((r.bitmap[bit >>> 3] ?? 0) & (1 << (bit & 7))) !== 0;
    }
  }
  return filter.defaultAllow;
}

/** KVM_MSR_RET_*: why an MSR access failed inside KVM. */
export const KVM_MSR_RET_OK = 0;
export const KVM_MSR_RET_INVALID = 1;
export const KVM_MSR_RET_UNSUPPORTED = 2;
export const KVM_MSR_RET_FILTERED = 3;

/** kvm_msr_reason: the KVM_MSR_EXIT_REASON_* userspace sees for a KVM_MSR_RET_*. */
export function kvmMsrReason(ret: number): number {
  if (ret === KVM_MSR_RET_UNSUPPORTED) return KVM_MSR_EXIT_REASON_UNKNOWN;
  if (ret === KVM_MSR_RET_FILTERED) return KVM_MSR_EXIT_REASON_FILTER;
  return KVM_MSR_EXIT_REASON_INVAL;
}

/** MSRs KVM keeps in its own vCPU state (kvm_get_msr_common), with their RESET values. */
const IN_KERNEL_MSRS: ReadonlyMap<number, bigint> = new Map([
  [MSR_IA32_TSC, 0n],
  [MSR_IA32_APICBASE, 0xfee0_0800n], // xAPIC enabled; the BSP bit is set per vCPU (Vcpu)
  [MSR_IA32_XSS, 0n],
  // vcpu->arch.msr_ia32_power_ctl: any value, read back as written (emulated_msrs).
  [MSR_IA32_POWER_CTL, 0n],
  // kvmclock's MSRs (emulated_msrs): VMMs write them on every reset (QEMU: 0, disabled).
  [MSR_KVM_WALL_CLOCK, 0n],
  [MSR_KVM_SYSTEM_TIME, 0n],
  [MSR_KVM_WALL_CLOCK_NEW, 0n],
  [MSR_KVM_SYSTEM_TIME_NEW, 0n],
]);

/** kvmclock MSRs whose bit 0 turns the clock on: the model has no pvclock to keep, so it refuses that. */
const KVMCLOCK_ENABLE_MSRS = new Set([MSR_KVM_SYSTEM_TIME, MSR_KVM_SYSTEM_TIME_NEW]);

/** A vCPU's in-kernel MSR values. Unknown indices are KVM_MSR_RET_UNSUPPORTED. */
export class MsrStore {
  readonly #values = new Map(IN_KERNEL_MSRS);

  get(index: number): bigint | undefined {
    return this.#values.get(index);
  }

  /** KVM_MSR_RET_OK, or UNSUPPORTED for an MSR KVM does not emulate. */
  set(index: number, value: bigint): number {
    if (!this.#values.has(index)) return KVM_MSR_RET_UNSUPPORTED;
    this.#values.set(index, BigInt.asUintN(64, value));
    return KVM_MSR_RET_OK;
  }
}

/** MSRs svm_get_msr / svm_set_msr keep in the VMCB save area (the state SVM switches with VMRUN). */
const SAVE_AREA_MSRS: ReadonlyMap<number, number> = new Map([
  [MSR_EFER, SAVE_EFER],
  [MSR_STAR, SAVE_STAR],
  [MSR_LSTAR, SAVE_LSTAR],
  [MSR_CSTAR, SAVE_CSTAR],
  [MSR_SYSCALL_MASK, SAVE_SFMASK],
  [MSR_KERNEL_GS_BASE, SAVE_KERNEL_GS_BASE],
  [MSR_IA32_SYSENTER_CS, SAVE_SYSENTER_CS],
  [MSR_IA32_SYSENTER_ESP, SAVE_SYSENTER_ESP],
  [MSR_IA32_SYSENTER_EIP, SAVE_SYSENTER_EIP],
  [MSR_FS_BASE, SAVE_FS + 8],
  [MSR_GS_BASE, SAVE_GS + 8],
  [MSR_IA32_CR_PAT, SAVE_G_PAT],
  [MSR_IA32_DEBUGCTLMSR, SAVE_DBGCTL],
]);

/** The MSRs KVM_GET_MSR_INDEX_LIST reports (msrs_to_save and emulated_msrs this model has). */
export const KVM_MSR_INDEX_LIST: readonly number[] = [
  ...SAVE_AREA_MSRS.keys(),
  ...IN_KERNEL_MSRS.keys(),
].sort((a, b) => a - b);

/** EFER bits a guest may set (efer_reserved_bits' complement for this model's CPUID: SCE, LME, LMA, NXE). */
const EFER_VALID = 0x1n | 0x100n | 0x400n | 0x800n;
const EFER_LME = 0x100n;
const EFER_LMA = 0x400n;
const EFER_NX = 0x800n;

/**
 * set_efer for the guest's own write (WRMSR, an SEV-ES guest's EFER write trap): reserved bits, a
 * long-mode or NX bit the guest's CPUID lacks (__kvm_valid_efer) and toggling LME while paging are
 * refused (false: #GP); LMA is not the guest's to write (svm_set_cr0 sets it). The model's save-area
 * EFER is vcpu->arch.efer (svm_set_efer adds EFER.SVME only in the hardware's copy).
 */
export function setEfer(vcpu: Vcpu, value: bigint): boolean {
  if (value & ~EFER_VALID) return false;
  if (value & (EFER_LME | EFER_LMA) && !guestCpuidHas(vcpu.cpuid, X86_FEATURE.LM)) return false;
  if (value & EFER_NX && !guestCpuidHas(vcpu.cpuid, X86_FEATURE.NX)) return false;
  const save = vcpu.vmcb.save;
  const old = save.getBigUint64(SAVE_EFER, true);
  if (isPaging(vcpu) && (old & EFER_LME) !== (value & EFER_LME)) return false;
  save.setBigUint64(SAVE_EFER, (value & ~EFER_LMA) | (old & EFER_LMA), true);
  return true;
}

/** kvm_pat_valid: every byte one of the memory types 0, 1, 4, 5, 6, 7. */
function patValid(v: bigint): boolean {
  for (let i = 0n; i < 64n; i += 8n) {
    const t = Number((v >> i) & 0xffn);
    if (t === 2 || t === 3 || t > 7) return false;
  }
  return true;
}

/** An MSR read: the outcome and, for KVM_MSR_RET_OK, the value. */
export interface MsrRead {
  readonly ret: number;
  readonly value: bigint;
}

/** svm_get_msr: the save area for the MSRs SVM switches, KVM's own state for the rest. */
export function svmGetMsr(vcpu: Vcpu, index: number): MsrRead {
  const irqchip = vcpu.vm.irqchip;
  if (irqchip && index >= X2APIC_MSR_BASE && index <= X2APIC_MSR_END) {
    const v = irqchip.readMsr(vcpu, index);
    return v === undefined ? { ret: KVM_MSR_RET_INVALID, value: 0n } : { ret: KVM_MSR_RET_OK, value: v };
  }
  // For an SEV-ES vCPU this is KVM's own VMCB copy, which the hardware ignores (its state is in
  // the VMSA): the access succeeds and changes nothing in the guest, as in svm_get/set_msr.
  const off = SAVE_AREA_MSRS.get(index);
  if (off !== undefined) return { ret: KVM_MSR_RET_OK, value: vcpu.vmcb.save.getBigUint64(off, true) };
  if (isMtrrMsr(index)) return { ret: KVM_MSR_RET_OK, value: vcpu.mtrr.get(index) };
  const v = vcpu.msrs.get(index);
  return v === undefined ? { ret: KVM_MSR_RET_UNSUPPORTED, value: 0n } : { ret: KVM_MSR_RET_OK, value: v };
}

/**
 * svm_set_msr: KVM_MSR_RET_OK, INVALID (#GP: a bad EFER or PAT) or UNSUPPORTED. A guest's EFER goes
 * through set_efer; userspace's (KVM_SET_MSRS, `hostInitiated`) only through the reserved-bit check,
 * and the model stores it as given (LMA included, where set_efer would keep the current LMA).
 */
export function svmSetMsr(vcpu: Vcpu, index: number, value: bigint, hostInitiated = false): number {
  const irqchip = vcpu.vm.irqchip;
  if (irqchip && index >= X2APIC_MSR_BASE && index <= X2APIC_MSR_END)
    return irqchip.writeMsr(vcpu, index, value) ? KVM_MSR_RET_OK : KVM_MSR_RET_INVALID;
  const off = SAVE_AREA_MSRS.get(index);
  if (off !== undefined) {
    if (index === MSR_EFER && !hostInitiated)
      return setEfer(vcpu, value) ? KVM_MSR_RET_OK : KVM_MSR_RET_INVALID;
    if (index === MSR_EFER && value & ~EFER_VALID) return KVM_MSR_RET_INVALID;
    if (index === MSR_IA32_CR_PAT && !patValid(value)) return KVM_MSR_RET_INVALID;
    vcpu.vmcb.save.setBigUint64(off, BigInt.asUintN(64, value), true);
    return KVM_MSR_RET_OK;
  }
  if (isMtrrMsr(index))
    return vcpu.mtrr.set(index, value, vcpu.vm.ctx.maxPhysBits) ? KVM_MSR_RET_OK : KVM_MSR_RET_INVALID;
  if (KVMCLOCK_ENABLE_MSRS.has(index) && value & 1n) return KVM_MSR_RET_UNSUPPORTED;
  return vcpu.msrs.set(index, value);
}
