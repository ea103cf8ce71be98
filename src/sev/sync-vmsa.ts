/**
 * sev_es_sync_vmsa (arch/x86/kvm/svm/sev.c): the vCPU's state as KVM holds it, written into the
 * VMSA page LAUNCH_UPDATE_VMSA hands the firmware. The rules and their versions are in
 * docs/sev-launch-rules.md §3.5: the VMCB save area first (744 bytes, the layouts agree up to
 * 0x2e8), then the GPRs and RIP from vcpu->arch.regs, XCR0, PKRU, XSS, DR6 and sev_features; the
 * x87/SSE fields only for VMs created with a type (KVM_SEV_INIT2: "Skip FPU and AVX setup with
 * KVM_SEV_ES_INIT to avoid breaking older measurements").
 */
import {
  EFER_SVME,
  gpr,
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
  SAVE_X87_CS,
  SAVE_X87_DP,
  SAVE_X87_DS,
  SAVE_X87_FCW,
  SAVE_X87_FOP,
  SAVE_X87_FSW,
  SAVE_X87_FTW,
  SAVE_X87_RIP,
  SAVE_XCR0,
  VCPU_REGS_RAX,
  VCPU_REGS_RBP,
  VCPU_REGS_RBX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDI,
  VCPU_REGS_RDX,
  VCPU_REGS_RSI,
  VCPU_REGS_RSP,
} from '../cpu/backend.js';
import { DR7_FIXED_1 } from '../kvm/debugreg.js';
import type { Vcpu } from '../kvm/vcpu.js';
import { Errno } from '../uapi/errno.js';
import type { KvmFpu } from '../uapi/fpu.js';

/** sizeof(struct vmcb_save_area): what the memcpy copies. */
const VMCB_SAVE_AREA_SIZE = 0x2e8;
/** struct sev_es_save_area offsets past the VMCB save area (sev-snp-measure vmsa.py). */
const VMSA_PKRU = 0x2e8;
const VMSA_XSS = 0x140;
const VMSA_SEV_FEATURES = 0x3b0;

/**
 * The GPRs sev_es_sync_vmsa copies, VMSA offset and KVM's register index. RIP is not among them:
 * the model keeps an unprotected vCPU's RIP in the save area (kvm_rip_read), copied above.
 */
const GPR_SLOTS: readonly (readonly [number, number])[] = [
  [SAVE_RAX, VCPU_REGS_RAX],
  [SAVE_RBX, VCPU_REGS_RBX],
  [SAVE_RCX, VCPU_REGS_RCX],
  [SAVE_RDX, VCPU_REGS_RDX],
  [SAVE_RSP, VCPU_REGS_RSP],
  [SAVE_RBP, VCPU_REGS_RBP],
  [SAVE_RSI, VCPU_REGS_RSI],
  [SAVE_RDI, VCPU_REGS_RDI],
];

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
  for (const [off, r] of GPR_SLOTS) vmsa.setBigUint64(off, gpr(regs, r), true);
  for (let r = 8; r < 16; r++) vmsa.setBigUint64(SAVE_R8 + (r - 8) * 8, gpr(regs, r), true);
  vmsa.setBigUint64(SAVE_XCR0, vcpu.xcrs[0]!, true);
  // vcpu->arch.pkru: the model's vCPUs have no PKU, so it is 0.
  vmsa.setUint32(VMSA_PKRU, 0, true);
  vmsa.setBigUint64(VMSA_XSS, vcpu.xss, true);
  vmsa.setBigUint64(SAVE_DR6, vcpu.dr6, true);
  vmsa.setBigUint64(VMSA_SEV_FEATURES, ctx.vmsaFeatures, true);
  if (ctx.withFpu) syncFpu(vmsa, page, vcpu.fpu, vcpu.ymmHi);
  return undefined;
}

/**
 * The x87, SSE and AVX fields from vcpu->arch.guest_fpu's xsave: FDP, MXCSR, the abridged tag
 * word, FSW, FCW, FOP, FIP (FDS and FCS 0), the registers, XMM0-15 and YMM_Hi128 (get_xsave_addr's
 * copy, or zeros when the component is in its initial configuration: the same bytes).
 */
function syncFpu(vmsa: DataView, page: Uint8Array, fpu: KvmFpu, ymmHi: Uint8Array): void {
  vmsa.setBigUint64(SAVE_X87_DP, fpu.lastDp, true);
  vmsa.setUint32(SAVE_MXCSR, fpu.mxcsr, true);
  vmsa.setUint16(SAVE_X87_FTW, fpu.ftwx, true);
  vmsa.setUint16(SAVE_X87_FSW, fpu.fsw, true);
  vmsa.setUint16(SAVE_X87_FCW, fpu.fcw, true);
  vmsa.setUint16(SAVE_X87_FOP, fpu.lastOpcode, true);
  vmsa.setUint16(SAVE_X87_DS, 0, true);
  vmsa.setUint16(SAVE_X87_CS, 0, true);
  vmsa.setBigUint64(SAVE_X87_RIP, fpu.lastIp, true);
  // fpreg_x87: each 10-byte register, bytes 0-7 at 8 i and bytes 8-9 at 64 + 2 i.
  for (let i = 0; i < 8; i++) {
    page.set(fpu.fpr.subarray(i * 16, i * 16 + 8), SAVE_FPREG_X87 + i * 8);
    page.set(fpu.fpr.subarray(i * 16 + 8, i * 16 + 10), SAVE_FPREG_X87 + 64 + i * 2);
  }
  page.set(fpu.xmm.subarray(0, 256), SAVE_FPREG_XMM);
  page.set(ymmHi, SAVE_FPREG_YMM);
}
