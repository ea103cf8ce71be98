/**
 * VMRUN of an SEV-ES guest reads the guest's state from the VMSA page the VMCB names (vmsa_pa),
 * decrypted under the key of the VMCB's ASID, and runs VMRUN's consistency checks on it (AMD APM
 * vol. 2, 15.5.1). A VMSA that LAUNCH_UPDATE_VMSA never wrote is a zeroed page (EFER.SVME clear);
 * one decrypted under a key it was not encrypted with is noise: both fail VMRUN with VMEXIT_INVALID,
 * which KVM reports as KVM_EXIT_FAIL_ENTRY. Every CPU backend loads its VMSA through here.
 */
import type { KvmFpu } from '../uapi/fpu.js';
import type { CpuAttachment } from './backend.js';
import {
  type Gprs,
  VCPU_REGS_R8,
  VCPU_REGS_RAX,
  VCPU_REGS_RBP,
  VCPU_REGS_RBX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDI,
  VCPU_REGS_RDX,
  VCPU_REGS_RSI,
  VCPU_REGS_RSP,
} from './regs.js';
import { CR0_PE, CR0_PG, CR4_PAE, EFER_LME, EFER_SVME } from './reset.js';
import {
  SAVE_CR0,
  SAVE_CR4,
  SAVE_CS,
  SAVE_DR6,
  SAVE_DR7,
  SAVE_EFER,
  SAVE_FPREG_X87,
  SAVE_FPREG_XMM,
  SAVE_FPREG_YMM,
  SAVE_MXCSR,
  SAVE_R8,
  SAVE_RAX,
  SAVE_RBP,
  SAVE_RBX,
  SAVE_RCX,
  SAVE_RDI,
  SAVE_RDX,
  SAVE_RSI,
  SAVE_RSP,
  SAVE_X87_DP,
  SAVE_X87_FCW,
  SAVE_X87_FOP,
  SAVE_X87_FSW,
  SAVE_X87_FTW,
  SAVE_X87_RIP,
  SVM_NESTED_CTL_SEV_ENABLE,
  SVM_SELECTOR_DB_MASK,
  SVM_SELECTOR_L_MASK,
  VMCB_SAVE_SIZE,
} from './vmcb.js';

const CR0_NW = 1 << 29;
const CR0_CD = 1 << 30;

/** The MBZ and illegal combinations VMRUN checks in a save area; undefined when it may run. */
export function vmrunConsistencyError(save: DataView): string | undefined {
  const efer = save.getUint32(SAVE_EFER, true);
  const cr0 = save.getUint32(SAVE_CR0, true);
  const cr4 = save.getUint32(SAVE_CR4, true);
  if (!(efer & EFER_SVME)) return 'EFER.SVME is clear';
  if (save.getUint32(SAVE_EFER + 4, true) !== 0 || efer >>> 16 !== 0) return 'EFER reserved bits set';
  if (save.getUint32(SAVE_CR0 + 4, true) !== 0) return 'CR0[63:32] set';
  if (!(cr0 & CR0_CD) && cr0 & CR0_NW) return 'CR0.NW without CR0.CD';
  if (save.getUint32(SAVE_CR4 + 4, true) !== 0) return 'CR4[63:32] set';
  if (save.getUint32(SAVE_DR6 + 4, true) !== 0) return 'DR6[63:32] set';
  if (save.getUint32(SAVE_DR7 + 4, true) !== 0) return 'DR7[63:32] set';
  if (efer & EFER_LME && cr0 & CR0_PG) {
    if (!(cr4 & CR4_PAE)) return 'long mode without CR4.PAE';
    if (!(cr0 & CR0_PE)) return 'long mode without CR0.PE';
    const csAttr = save.getUint16(SAVE_CS + 2, true);
    if (csAttr & SVM_SELECTOR_L_MASK && csAttr & SVM_SELECTOR_DB_MASK) return 'CS.L and CS.D both set';
  }
  return undefined;
}

/**
 * The VMSA VMRUN loads for `hw`'s SEV-ES guest: a decrypted copy of the VMSA page, or the reason
 * VMRUN fails. Without a memory controller (a platform whose firmware encrypts nothing) the page
 * is read as it is.
 */
export function loadVmsa(hw: CpuAttachment): DataView | string {
  const vmcb = hw.vmcb;
  const vmsa = hw.vmsa;
  if (!vmsa) return 'no VMSA page';
  const copy = vmsa.bytes.slice(0, VMCB_SAVE_SIZE);
  const me = hw.memoryEncryption;
  if (me && vmcb.nestedCtl & SVM_NESTED_CTL_SEV_ENABLE) {
    const domain = me.domain(vmcb.asid);
    if (!domain) return `no key loaded for ASID ${vmcb.asid}`;
    domain.decrypt(vmsa.spa, copy);
  }
  const save = new DataView(copy.buffer);
  return vmrunConsistencyError(save) ?? save;
}

/**
 * The floating-point state VMRUN loads from an SEV-ES guest's VMSA (sev_es_save_area's x87_dp to
 * fpreg_ymm, the fields sev_es_sync_vmsa fills), into `fpu` and `ymmHi` in place. x87_ds and x87_cs
 * are not kept: the model's FPU pointers are 64-bit offsets with no selector (as FXSAVE64 stores them).
 */
export function loadVmsaFpu(save: DataView, fpu: KvmFpu, ymmHi: Uint8Array): void {
  const page = new Uint8Array(save.buffer, save.byteOffset, save.byteLength);
  fpu.lastDp = save.getBigUint64(SAVE_X87_DP, true);
  fpu.mxcsr = save.getUint32(SAVE_MXCSR, true);
  // x87_ftw holds FXSAVE's abridged tag word (one bit per register, in its low byte).
  fpu.ftwx = save.getUint8(SAVE_X87_FTW);
  fpu.fsw = save.getUint16(SAVE_X87_FSW, true);
  fpu.fcw = save.getUint16(SAVE_X87_FCW, true);
  fpu.lastOpcode = save.getUint16(SAVE_X87_FOP, true);
  fpu.lastIp = save.getBigUint64(SAVE_X87_RIP, true);
  // fpreg_x87: bytes 0-7 of each 10-byte register at 8 i, bytes 8-9 at 64 + 2 i.
  for (let i = 0; i < 8; i++) {
    fpu.fpr.set(page.subarray(SAVE_FPREG_X87 + i * 8, SAVE_FPREG_X87 + i * 8 + 8), i * 16);
    fpu.fpr.set(page.subarray(SAVE_FPREG_X87 + 64 + i * 2, SAVE_FPREG_X87 + 66 + i * 2), i * 16 + 8);
    fpu.fpr.fill(0, i * 16 + 10, i * 16 + 16);
  }
  fpu.xmm.set(page.subarray(SAVE_FPREG_XMM, SAVE_FPREG_XMM + 256));
  ymmHi.set(page.subarray(SAVE_FPREG_YMM, SAVE_FPREG_YMM + 256));
}

/** Where sev_es_save_area keeps each GPR (RIP is loaded with the rest of the save area). */
const VMSA_GPRS: readonly (readonly [number, number])[] = [
  [VCPU_REGS_RAX, SAVE_RAX],
  [VCPU_REGS_RCX, SAVE_RCX],
  [VCPU_REGS_RDX, SAVE_RDX],
  [VCPU_REGS_RBX, SAVE_RBX],
  [VCPU_REGS_RSP, SAVE_RSP],
  [VCPU_REGS_RBP, SAVE_RBP],
  [VCPU_REGS_RSI, SAVE_RSI],
  [VCPU_REGS_RDI, SAVE_RDI],
  ...Array.from({ length: 8 }, (_, i) => [VCPU_REGS_R8 + i, SAVE_R8 + 8 * i] as const),
];

/**
 * The general-purpose registers VMRUN loads from an SEV-ES guest's VMSA (which sev_es_sync_vmsa
 * filled from vcpu->arch.regs), into `regs` (u32 pairs) in place.
 */
export function loadVmsaGprs(save: DataView, regs: Gprs): void {
  for (const [r, off] of VMSA_GPRS) {
    regs[2 * r] = save.getUint32(off, true);
    regs[2 * r + 1] = save.getUint32(off + 4, true);
  }
}
