/**
 * Control registers (arch/x86/kvm/x86.c: kvm_set_cr0/3/4/8, load_pdptrs; svm.c: svm_set_cr0,
 * svm_set_cr4, cr_interception, cr8_write_interception, cr_trap, efer_trap): the MOV to/from CRn
 * intercepts of an unprotected guest, read with decode assist (exit_info_1 bit 63 valid, the GPR in
 * bits 3:0), and the write traps an SEV-ES guest's CPU takes after the write (exit_info_1 = the new
 * value). The checks that #GP a write are KVM's; the ones the CPU makes before the intercept (CPL,
 * #UD) are the CPU's.
 *
 * The model keeps vcpu->arch.cr0/cr3/cr4/efer in the save area (SEV-ES: arch.cr4 in vcpu.cr4) and
 * arch.cr8 in V_TPR; with the quirk KVM_X86_QUIRK_CD_NW_CLEARED (on: the model has no
 * KVM_CAP_DISABLE_QUIRKS) KVM would run the hardware with CD/NW clear, which an interpreter does not
 * notice, so the save area holds the guest's CR0 as written.
 */
import {
  CR0_PE,
  CR0_PG,
  CR4_PAE,
  EFER_LMA,
  EFER_LME,
  EFER_SVME,
  INTERCEPT_CR0_READ,
  INTERCEPT_CR0_WRITE,
  SAVE_CR0,
  SAVE_CR2,
  SAVE_CR3,
  SAVE_CR4,
  SAVE_CS,
  SAVE_EFER,
  SVM_SELECTOR_L_MASK,
} from '../cpu/backend.js';
import { KVM_EXIT_SET_TPR } from '../uapi/exit-reasons.js';
import { APIC_TASKPRI } from '../uapi/lapic.js';
import {
  SVM_EXIT_CR0_SEL_WRITE,
  SVM_EXIT_CR0_WRITE_TRAP,
  SVM_EXIT_READ_CR0,
  UD_VECTOR,
} from '../uapi/svm.js';
import {
  is64BitMode,
  isLongMode,
  isPae,
  isPaePaging,
  isPaging,
  kvmCompleteInsnGp,
  kvmGetCr8,
  kvmQueueException,
  kvmReadCr0,
  kvmReadCr3,
  kvmReadCr4,
  kvmRegisterRead,
  kvmRegisterWrite,
  sevEsGuest,
  V_TPR_MASK,
} from './cache-regs.js';
import { guestCpuidHas, X86_FEATURE } from './cpuid.js';
import { SVM_HOST } from './init-vmcb.js';
import { setEfer } from './msr.js';
import { emulationFailure } from './userspace-exits.js';
import type { Vcpu } from './vcpu.js';

const MASK32 = 0xffff_ffffn;

// X86_CR0_* (arch/x86/include/uapi/asm/processor-flags.h).
export const X86_CR0_PE = CR0_PE;
export const X86_CR0_MP = 1 << 1;
export const X86_CR0_TS = 1 << 3;
export const X86_CR0_ET = 1 << 4;
export const X86_CR0_WP = 1 << 16;
export const X86_CR0_NW = 1 << 29;
export const X86_CR0_CD = 1 << 30;
export const X86_CR0_PG = CR0_PG;
/** ~CR0_RESERVED_BITS: PE MP EM TS ET NE WP AM NW CD PG. Writes to the other bits are ignored. */
const CR0_DEFINED = 0xe005_003f;
/** X86_CR0_PDPTR_BITS: CR0 bits whose change reloads the PAE PDPTEs. */
const X86_CR0_PDPTR_BITS = X86_CR0_CD | X86_CR0_NW | X86_CR0_PG;

// X86_CR4_*.
export const X86_CR4_DE = 1 << 3;
export const X86_CR4_PSE = 1 << 4;
export const X86_CR4_PAE = CR4_PAE;
const X86_CR4_PGE = 1 << 7;
const X86_CR4_UMIP = 1 << 11;
export const X86_CR4_LA57 = 1 << 12;
const X86_CR4_VMXE = 1 << 13;
const X86_CR4_FSGSBASE = 1 << 16;
export const X86_CR4_PCIDE = 1 << 17;
const X86_CR4_OSXSAVE = 1 << 18;
export const X86_CR4_SMEP = 1 << 20;
export const X86_CR4_SMAP = 1 << 21;
const X86_CR4_PKE = 1 << 22;
export const X86_CR4_CET = 1 << 23;
const X86_CR4_LAM_SUP = 1 << 28;
/**
 * ~CR4_RESERVED_BITS: VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT UMIP LA57 VMXE FSGSBASE
 * PCIDE OSXSAVE SMEP SMAP PKE CET LAM_SUP. SMXE, KL, PKS and bits 63:32 are always reserved.
 */
const CR4_DEFINED = 0x10f7_3fff;
/** X86_CR4_PDPTR_BITS. */
const X86_CR4_PDPTR_BITS = X86_CR4_PGE | X86_CR4_PSE | X86_CR4_PAE | X86_CR4_SMEP;

/** X86_CR3_PCID_NOFLUSH (bit 63) and X86_CR3_PCID_MASK. */
const X86_CR3_PCID_NOFLUSH = 1n << 63n;
const X86_CR3_PCID_MASK = 0xfffn;
/** CR_VALID: exit_info_1 bit 63, decode assist decoded a MOV CRn (clear for LMSW and CLTS). */
const CR_VALID_HI = 0x8000_0000;
/** SVM_EXITINFO_REG_MASK: the GPR of a MOV CRn/DRn, exit_info_1 bits 3:0. */
export const SVM_EXITINFO_REG_MASK = 0xf;

/**
 * load_pdptrs: read the four PAE page-directory-pointer entries at CR3 (32-byte aligned; with nested
 * paging a guest physical address) and check the present ones' reserved bits (above MAXPHYADDR,
 * 8:5, 2:1). False (#GP) when the page is in no memslot or an entry is bad.
 */
export function loadPdptrs(vcpu: Vcpu, cr3: bigint): boolean {
  const gpa = Number((cr3 & ~0xfffn & ((1n << 52n) - 1n)) | (cr3 & 0xfe0n));
  const bytes = new Uint8Array(32);
  if (vcpu.vm.readGuest(gpa, bytes)) return false;
  const view = new DataView(bytes.buffer);
  const rsvd = ((~0n << BigInt(vcpu.vm.maxPhysBits)) & 0xffff_ffff_ffff_ffffn) | 0x1e0n | 0x6n;
  for (let i = 0; i < 4; i++) {
    const pdpte = view.getBigUint64(8 * i, true);
    if (pdpte & 1n && pdpte & rsvd) return false;
  }
  return true;
}

/**
 * svm_set_cr0: CR0 as the guest wrote it; with EFER.LME, turning paging on activates long mode
 * (EFER.LMA) and turning it off leaves it. For an unprotected guest KVM intercepts CR0 reads and
 * writes only while the hardware's CR0 differs from the guest's, i.e. while CD or NW is set (the
 * selective CR0 write intercept stays); an SEV-ES guest's CR intercepts stay clear.
 */
export function svmSetCr0(vcpu: Vcpu, cr0: bigint): void {
  const save = vcpu.vmcb.save;
  const efer = save.getUint32(SAVE_EFER, true);
  const pg = (Number(cr0 & MASK32) & X86_CR0_PG) !== 0;
  if (efer & EFER_LME) {
    if (!isPaging(vcpu) && pg) save.setUint32(SAVE_EFER, efer | EFER_LMA, true);
    if (isPaging(vcpu) && !pg) save.setUint32(SAVE_EFER, efer & ~EFER_LMA, true);
  }
  save.setBigUint64(SAVE_CR0, BigInt.asUintN(64, cr0), true);
  if (sevEsGuest(vcpu)) return;
  // hcr0: without nested paging KVM forces PG and WP; the quirk clears CD and NW.
  const low = Number(cr0 & MASK32);
  const same = SVM_HOST.npt && (low & (X86_CR0_CD | X86_CR0_NW)) === 0;
  vcpu.vmcb.setIntercept(INTERCEPT_CR0_READ, !same);
  vcpu.vmcb.setIntercept(INTERCEPT_CR0_WRITE, !same);
}

/**
 * kvm_set_cr0: false (#GP) for bits 63:32, NW without CD, PG without PE, paging on with EFER.LME but
 * without CR4.PAE or from a 64-bit code segment, PAE paging whose PDPTEs do not load, paging off in
 * 64-bit mode or with CR4.PCIDE, WP off with CR4.CET. ET reads as 1; other reserved bits are ignored.
 */
export function kvmSetCr0(vcpu: Vcpu, value: bigint): boolean {
  const old = kvmReadCr0(vcpu);
  if (value >> 32n) return false;
  let cr0 = Number(value);
  if (cr0 & X86_CR0_NW && !(cr0 & X86_CR0_CD)) return false;
  if (cr0 & X86_CR0_PG && !(cr0 & X86_CR0_PE)) return false;
  cr0 = ((cr0 | X86_CR0_ET) & CR0_DEFINED) >>> 0;
  const save = vcpu.vmcb.save;
  const lme = (save.getUint32(SAVE_EFER, true) & EFER_LME) !== 0;
  if (lme && !isPaging(vcpu) && cr0 & X86_CR0_PG) {
    if (!isPae(vcpu)) return false;
    if (save.getUint16(SAVE_CS + 2, true) & SVM_SELECTOR_L_MASK) return false;
  }
  if (
    !lme &&
    cr0 & X86_CR0_PG &&
    isPae(vcpu) &&
    (cr0 ^ old) & X86_CR0_PDPTR_BITS &&
    !loadPdptrs(vcpu, kvmReadCr3(vcpu))
  )
    return false;
  const cr4 = kvmReadCr4(vcpu);
  if (!(cr0 & X86_CR0_PG) && (is64BitMode(vcpu) || cr4 & X86_CR4_PCIDE)) return false;
  if (!(cr0 & X86_CR0_WP) && cr4 & X86_CR4_CET) return false;
  svmSetCr0(vcpu, BigInt(cr0));
  // kvm_post_set_cr0: MMU and TLB work only, nothing the model keeps.
  return true;
}

/** svm_set_cr4: vcpu->arch.cr4 (the save area; for SEV-ES vcpu.cr4, and KVM's VMCB copy). */
export function svmSetCr4(vcpu: Vcpu, cr4: number): void {
  // KVM also ORs the host's CR4.MCE into the hardware's copy; guest CR4 reads exit, so no one sees it.
  vcpu.vmcb.save.setBigUint64(SAVE_CR4, BigInt(cr4 >>> 0), true);
  if (vcpu.guestStateProtected) vcpu.cr4 = cr4 >>> 0;
}

/**
 * kvm_is_valid_cr4: no reserved bit (CR4_RESERVED_BITS, bits 63:32) and no feature bit the guest's
 * CPUID lacks (vcpu->arch.cr4_guest_rsvd_bits); VMXE and LAM_SUP also because this AMD host offers
 * neither (cr4_reserved_bits), CET because it offers no IBT, so only the guest's SHSTK counts.
 */
export function kvmIsValidCr4(vcpu: Vcpu, value: bigint): boolean {
  if (value >> 32n) return false;
  const cr4 = Number(value);
  if (cr4 & ~CR4_DEFINED) return false;
  const has = (f: (typeof X86_FEATURE)[keyof typeof X86_FEATURE]) => guestCpuidHas(vcpu.cpuid, f);
  let rsvd = X86_CR4_VMXE | X86_CR4_LAM_SUP;
  if (!has(X86_FEATURE.XSAVE)) rsvd |= X86_CR4_OSXSAVE;
  if (!has(X86_FEATURE.SMEP)) rsvd |= X86_CR4_SMEP;
  if (!has(X86_FEATURE.SMAP)) rsvd |= X86_CR4_SMAP;
  if (!has(X86_FEATURE.FSGSBASE)) rsvd |= X86_CR4_FSGSBASE;
  if (!has(X86_FEATURE.PKU)) rsvd |= X86_CR4_PKE;
  if (!has(X86_FEATURE.LA57)) rsvd |= X86_CR4_LA57;
  if (!has(X86_FEATURE.UMIP)) rsvd |= X86_CR4_UMIP;
  if (!has(X86_FEATURE.PCID)) rsvd |= X86_CR4_PCIDE;
  if (!has(X86_FEATURE.SHSTK)) rsvd |= X86_CR4_CET;
  return (cr4 & rsvd) === 0;
}

/**
 * kvm_set_cr4: false (#GP) for a reserved bit, PAE off or LA57 toggled in long mode, PAE paging
 * whose PDPTEs do not load, PCIDE turned on with CR3[11:0] set or outside long mode, CET without
 * CR0.WP.
 */
export function kvmSetCr4(vcpu: Vcpu, value: bigint): boolean {
  const old = kvmReadCr4(vcpu);
  if (!kvmIsValidCr4(vcpu, value)) return false;
  const cr4 = Number(value) >>> 0;
  if (isLongMode(vcpu)) {
    if (!(cr4 & X86_CR4_PAE)) return false;
    if ((cr4 ^ old) & X86_CR4_LA57) return false;
  } else if (
    isPaging(vcpu) &&
    cr4 & X86_CR4_PAE &&
    (cr4 ^ old) & X86_CR4_PDPTR_BITS &&
    !loadPdptrs(vcpu, kvmReadCr3(vcpu))
  ) {
    return false;
  }
  if (cr4 & X86_CR4_PCIDE && !(old & X86_CR4_PCIDE)) {
    if (kvmReadCr3(vcpu) & X86_CR3_PCID_MASK || !isLongMode(vcpu)) return false;
  }
  if (cr4 & X86_CR4_CET && !(kvmReadCr0(vcpu) & X86_CR0_WP)) return false;
  svmSetCr4(vcpu, cr4);
  // kvm_post_set_cr4: MMU and TLB work; the CPUID bits that follow CR4 are computed when read.
  return true;
}

/**
 * kvm_set_cr3: false (#GP) for bits at or above MAXPHYADDR (kvm_vcpu_is_legal_cr3) or PDPTEs that
 * do not load under PAE paging. With CR4.PCIDE bit 63 (no flush) is not part of CR3.
 */
export function kvmSetCr3(vcpu: Vcpu, value: bigint): boolean {
  let cr3 = BigInt.asUintN(64, value);
  if (kvmReadCr4(vcpu) & X86_CR4_PCIDE) cr3 &= ~X86_CR3_PCID_NOFLUSH;
  if (cr3 === kvmReadCr3(vcpu) && !isPaePaging(vcpu)) return true;
  if (cr3 >> BigInt(vcpu.vm.maxPhysBits)) return false;
  if (isPaePaging(vcpu) && !loadPdptrs(vcpu, cr3)) return false;
  vcpu.vmcb.save.setBigUint64(SAVE_CR3, cr3, true);
  return true;
}

/**
 * kvm_set_cr8: false (#GP) for bits above 3:0; else the in-kernel local APIC's TPR[7:4] (bit 2 kept)
 * or vcpu->arch.cr8. V_TPR follows either way (sync_lapic_to_cr8 would copy it at the next entry).
 */
export function kvmSetCr8(vcpu: Vcpu, value: bigint): boolean {
  if (value & ~0xfn) return false;
  const cr8 = Number(value);
  const lapic = vcpu.lapic;
  if (lapic) lapic.set(APIC_TASKPRI, (cr8 << 4) | (lapic.get(APIC_TASKPRI) & 4));
  const vmcb = vcpu.vmcb;
  vmcb.intCtl = (vmcb.intCtl & ~V_TPR_MASK) | cr8;
  return true;
}

/** sync_lapic_to_cr8, before every entry: V_TPR := the in-kernel APIC's TPR[7:4] (the guest reads CR8 from there). */
export function syncLapicToCr8(vcpu: Vcpu): void {
  if (!vcpu.lapic) return;
  const vmcb = vcpu.vmcb;
  vmcb.intCtl = (vmcb.intCtl & ~V_TPR_MASK) | kvmGetCr8(vcpu);
}

/**
 * emulate_on_interception: KVM hands the instruction to its emulator (LMSW, CLTS, a MOV CRn without
 * decode-assist information). The model's emulator knows only MMIO instructions, so it fails as
 * KVM's would: KVM_EXIT_INTERNAL_ERROR, KVM_INTERNAL_ERROR_EMULATION.
 */
function emulateOnInterception(vcpu: Vcpu): number {
  return emulationFailure(vcpu);
}

/**
 * cr_interception: MOV to/from CR0, CR3, CR4, CR8 (and a selective CR0 write, handled as a MOV to
 * CR0). Writes go through kvm_set_crN (#GP on a bad value, RIP stays), reads come from vcpu->arch;
 * outside 64-bit mode only the GPR's low 32 bits are read and written. Then RIP := next_rip.
 */
export function crInterception(vcpu: Vcpu): number {
  const vmcb = vcpu.vmcb;
  if (!(vmcb.exitInfo1Hi & CR_VALID_HI)) return emulateOnInterception(vcpu);
  const reg = vmcb.exitInfo1Lo & SVM_EXITINFO_REG_MASK;
  const code = vmcb.exitCode;
  let cr = code === SVM_EXIT_CR0_SEL_WRITE ? 16 : code - SVM_EXIT_READ_CR0;
  let ok = true;
  if (cr >= 16) {
    cr -= 16;
    const val = kvmRegisterRead(vcpu, reg);
    switch (cr) {
      case 0:
        // check_selective_cr0_intercepted: only for a nested guest (L1 intercepting it).
        ok = kvmSetCr0(vcpu, val);
        break;
      case 3:
        ok = kvmSetCr3(vcpu, val);
        break;
      case 4:
        ok = kvmSetCr4(vcpu, val);
        break;
      case 8:
        ok = kvmSetCr8(vcpu, val);
        break;
      default:
        // WARN: "unhandled write to CR%d".
        kvmQueueException(vcpu, UD_VECTOR);
        return 1;
    }
  } else {
    const save = vcpu.vmcb.save;
    let val: bigint;
    switch (cr) {
      case 0:
        val = save.getBigUint64(SAVE_CR0, true);
        break;
      case 2:
        val = save.getBigUint64(SAVE_CR2, true);
        break;
      case 3:
        val = kvmReadCr3(vcpu);
        break;
      case 4:
        val = BigInt(kvmReadCr4(vcpu));
        break;
      case 8:
        val = BigInt(kvmGetCr8(vcpu));
        break;
      default:
        // WARN: "unhandled read from CR%d".
        kvmQueueException(vcpu, UD_VECTOR);
        return 1;
    }
    kvmRegisterWrite(vcpu, reg, val);
  }
  return kvmCompleteInsnGp(vcpu, !ok);
}

/**
 * cr8_write_interception: a MOV to CR8. Without an in-kernel local APIC, lowering the TPR exits to
 * userspace (KVM_EXIT_SET_TPR, kvm_run->cr8 the new value) so the VMM's APIC can deliver what it
 * held back; the instruction is retired first.
 */
export function cr8WriteInterception(vcpu: Vcpu): number {
  const prev = kvmGetCr8(vcpu);
  const r = crInterception(vcpu);
  if (vcpu.lapic) return r;
  if (prev <= kvmGetCr8(vcpu)) return r;
  vcpu.runArea.exitReason = KVM_EXIT_SET_TPR;
  return 0;
}

/**
 * cr_trap: an SEV-ES guest wrote CR0, CR4 or CR8 (the CPU took the write, then this automatic
 * exit with the new value in exit_info_1 and RIP already past the instruction). KVM records it:
 * CR0 through svm_set_cr0 (EFER.LMA follows paging), CR4 through svm_set_cr4, CR8 through
 * kvm_set_cr8 (#GP for bits above 3:0).
 */
export function crTrap(vcpu: Vcpu): number {
  const vmcb = vcpu.vmcb;
  const value = vmcb.exitInfo1;
  let ok = true;
  switch (vmcb.exitCode - SVM_EXIT_CR0_WRITE_TRAP) {
    case 0:
      svmSetCr0(vcpu, value);
      break;
    case 4:
      svmSetCr4(vcpu, Number(value & MASK32));
      break;
    case 8:
      ok = kvmSetCr8(vcpu, value);
      break;
    default:
      // WARN: "unhandled CR%d write trap".
      kvmQueueException(vcpu, UD_VECTOR);
      return 1;
  }
  return kvmCompleteInsnGp(vcpu, !ok);
}

/**
 * efer_trap: an SEV-ES guest wrote EFER (exit_info_1 = the new value). KVM applies it as a guest
 * WRMSR would (kvm_set_msr_common → set_efer), without EFER.SVME, which KVM sets for the hardware
 * but the guest's CPUID may not offer.
 */
export function eferTrap(vcpu: Vcpu): number {
  const ok = setEfer(vcpu, vcpu.vmcb.exitInfo1 & ~BigInt(EFER_SVME));
  return kvmCompleteInsnGp(vcpu, !ok);
}
