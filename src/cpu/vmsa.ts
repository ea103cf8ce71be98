/**
 * VMRUN of an SEV-ES guest reads the guest's state from the VMSA page the VMCB names (vmsa_pa),
 * decrypted under the key of the VMCB's ASID, and runs VMRUN's consistency checks on it (AMD APM
 * vol. 2, 15.5.1). A VMSA that LAUNCH_UPDATE_VMSA never wrote is a zeroed page (EFER.SVME clear);
 * one decrypted under a key it was not encrypted with is noise: both fail VMRUN with VMEXIT_INVALID,
 * which KVM reports as KVM_EXIT_FAIL_ENTRY. Every CPU backend loads its VMSA through here.
 */
import type { CpuAttachment } from './backend.js';
import type { Gprs } from './regs.js';
import { CR0_PE, CR0_PG, CR4_PAE, EFER_LME, EFER_SVME } from './reset.js';
import {
  SAVE_CR0,
  SAVE_CR4,
  SAVE_CS,
  SAVE_DR6,
  SAVE_DR7,
  SAVE_EFER,
  SVM_NESTED_CTL_SEV_ENABLE,
  SVM_SELECTOR_DB_MASK,
  SVM_SELECTOR_L_MASK,
  VMCB_SAVE_SIZE,
  VMSA_GPRS,
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
 * The general-purpose registers VMRUN loads from an SEV-ES guest's VMSA (which sev_es_sync_vmsa
 * filled from vcpu->arch.regs), into `regs` (u32 pairs) in place.
 */
export function loadVmsaGprs(save: DataView, regs: Gprs): void {
  for (const [r, off] of VMSA_GPRS) {
    regs[2 * r] = save.getUint32(off, true);
    regs[2 * r + 1] = save.getUint32(off + 4, true);
  }
}
