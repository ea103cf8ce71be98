/**
 * sev_es_sync_vmsa (arch/x86/kvm/svm/sev.c): the vCPU's state as KVM holds it, written into the
 * VMSA page LAUNCH_UPDATE_VMSA hands the firmware. The rules and their versions are in
 * docs/sev-launch-rules.md §3.5: the VMCB save area first (744 bytes, the layouts agree up to
 * 0x2e8), then the GPRs and RIP from vcpu->arch.regs, XCR0, PKRU, XSS, DR6 and sev_features; the
 * x87/SSE fields only for VMs created with a type (KVM_SEV_INIT2: "Skip FPU and AVX setup with
 * KVM_SEV_ES_INIT to avoid breaking older measurements").
 */
import { EFER_SVME, gpr, SAVE_DR6, SAVE_DR7, SAVE_EFER, SAVE_XCR0 } from '../cpu/backend.js';
import { storeVmsaFpu, VMSA_GPRS } from '../cpu/vmcb.js';
import { DR7_FIXED_1 } from '../kvm/debugreg.js';
import type { Vcpu } from '../kvm/vcpu.js';
import { Errno } from '../uapi/errno.js';

/** sizeof(struct vmcb_save_area): what the memcpy copies. */
const VMCB_SAVE_AREA_SIZE = 0x2e8;
/** struct sev_es_save_area offsets past the VMCB save area (sev-snp-measure vmsa.py). */
const VMSA_PKRU = 0x2e8;
const VMSA_XSS = 0x140;
const VMSA_SEV_FEATURES = 0x3b0;

/** What the VMSA takes beyond the vCPU: the VM's VMSA features and whether it was created with a type. */
export interface SyncVmsaContext {
  /** sev->vmsa_features (KVM_SEV_INIT2's; 0 for KVM_SEV_ES_INIT). */
  readonly vmsaFeatures: bigint;
  /** kvm->arch.vm_type != KVM_X86_DEFAULT_VM: the FPU state goes in too (6.10+). */
  readonly withFpu: boolean;
}

/**
 * sev_es_sync_vmsa: EINVAL for guest debugging or a DR7 with any bit but bit 10 (KVM could not
 * keep them from an encrypted guest); otherwise the vCPU's state in `vcpu.vmsa`.
 */
export function sevEsSyncVmsa(vcpu: Vcpu, ctx: SyncVmsaContext): Errno | undefined {
  const page = vcpu.vmsa;
  if (!page) return new Errno('EINVAL', 'sev_es_sync_vmsa: not an SEV-ES vCPU');
  const save = vcpu.vmcb.save;
  if (vcpu.guestDebug || (save.getBigUint64(SAVE_DR7, true) & ~DR7_FIXED_1) !== 0n)
    return new Errno('EINVAL', 'sev_es_sync_vmsa: guest debugging or DR7 breakpoints on an SEV-ES guest');
  const vmsa = new DataView(page.buffer, page.byteOffset, page.byteLength);
  page.set(new Uint8Array(save.buffer, save.byteOffset, VMCB_SAVE_AREA_SIZE));
  // svm_set_efer keeps EFER.SVME set in the VMCB (the reference VMSA's EFER is 0x1000); the
  // model's VMCB holds the guest's EFER alone, so the bit is added here.
  vmsa.setUint32(SAVE_EFER, vmsa.getUint32(SAVE_EFER, true) | EFER_SVME, true);
  const regs = vcpu.regs;
  for (const [r, off] of VMSA_GPRS) vmsa.setBigUint64(off, gpr(regs, r), true);
  vmsa.setBigUint64(SAVE_XCR0, vcpu.xcrs[0]!, true);
  // vcpu->arch.pkru: the model's vCPUs have no PKU, so it is 0.
  vmsa.setUint32(VMSA_PKRU, 0, true);
  vmsa.setBigUint64(VMSA_XSS, vcpu.xss, true);
  vmsa.setBigUint64(SAVE_DR6, vcpu.dr6, true);
  vmsa.setBigUint64(VMSA_SEV_FEATURES, ctx.vmsaFeatures, true);
  if (ctx.withFpu) storeVmsaFpu(vmsa, vcpu.fpu, vcpu.ymmHi);
  return undefined;
}
