/**
 * KVM_GET_XSAVE / KVM_SET_XSAVE / KVM_GET_XSAVE2 (kvm_vcpu_ioctl_x86_get_xsave2, _set_xsave over
 * the kernel's fpu_copy_guest_fpstate_to_uabi / fpu_copy_uabi_to_guest_fpstate) and
 * KVM_GET_DEBUGREGS / KVM_SET_DEBUGREGS (kvm_vcpu_ioctl_x86_get/set_debugregs), over the state
 * KVM_GET_FPU and KVM_GET_XCRS use: vcpu.fpu (x87 and SSE), vcpu.ymmHi (AVX's YMM_Hi128) and the
 * debug registers of src/kvm/dr.ts.
 *
 * The image is the XSAVE standard (non-compacted) format: the 512-byte legacy region (FCW, FSW, the
 * abridged FTW, FOP, FIP, FDP, MXCSR, MXCSR_MASK, ST0-7, XMM0-15, and at 464 the kernel's
 * fx_sw_bytes), the XSAVE header at 512 (XSTATE_BV, XCOMP_BV = 0), the extended components at their
 * CPUID 0xD offsets. The model keeps no state beyond x87, SSE and AVX: XSTATE_BV reads FP|SSE, and
 * YMM when a YMM_Hi128 byte is non-zero (the guest fpstate's header after an XSAVES with the init
 * optimization, for the one component whose initial configuration is plain zeros); components
 * above YMM that KVM supports are accepted and dropped.
 */
import { SAVE_DR7 } from '../cpu/backend.js';
import { initX87State } from '../cpu/reset.js';
import type { KvmDebugregs } from '../uapi/debugregs.js';
import { Errno } from '../uapi/errno.js';
import { FX_MXCSR, FX_XMM, loadX87, storeMxcsr, storeX87, XSAVE_HEADER, XSAVE_YMM } from '../uapi/fxsave.js';
import { KVM_XSAVE_SIZE, type KvmXsave } from '../uapi/xsave.js';
import { xstateRequiredSize } from './cpuid.js';
import type { Vcpu } from './vcpu.js';
import { vcpuStateProtected } from './vcpu-state.js';

const XFEATURE_MASK_FP = 1n;
const XFEATURE_MASK_SSE = 2n;
const XFEATURE_MASK_YMM = 4n;
const XFEATURE_MASK_FPSSE = XFEATURE_MASK_FP | XFEATURE_MASK_SSE;

/** The kernel's fx_sw_bytes in the legacy region's software-available bytes. */
const FX_SW_BYTES = 464;
/** struct xstate_header's size: xfeatures, xcomp_bv, reserved[6]. */
const XSAVE_HDR_SIZE = 64;

/** FP_XSTATE_MAGIC1 and the size of FP_XSTATE_MAGIC2 (struct _fpx_sw_bytes of the signal frame). */
const FP_XSTATE_MAGIC1 = 0x4650_5853;
const FP_XSTATE_MAGIC2_SIZE = 4;

/**
 * KVM_GET_XSAVE / KVM_GET_XSAVE2: the image, `size` bytes (4096; KVM_GET_XSAVE2 copies the guest
 * fpstate's uabi_size). A confidential FPU (an SEV-ES vCPU after LAUNCH_UPDATE_VMSA) is EINVAL for a
 * protected-state VM type (6.10+), else zeros.
 */
export function getXsave(vcpu: Vcpu, size = KVM_XSAVE_SIZE): KvmXsave | Errno {
  const buf = new Uint8Array(Math.max(size, KVM_XSAVE_SIZE));
  const region = buf.subarray(0, KVM_XSAVE_SIZE);
  if (vcpu.guestStateProtected) {
    if (vcpuStateProtected(vcpu)) return new Errno('EINVAL', 'KVM_GET_XSAVE: the FPU is confidential');
    return { region };
  }
  const f = vcpu.fpu;
  const v = new DataView(buf.buffer);
  storeX87(f, v, true);
  storeMxcsr(f.mxcsr, vcpu.vm.ctx.mxcsrFeatureMask, v);
  buf.set(f.xmm.subarray(0, 256), FX_XMM);
  const ymmInUse = vcpu.ymmHi.some((b) => b !== 0);
  if (ymmInUse) buf.set(vcpu.ymmHi, XSAVE_YMM);
  // __copy_xstate_to_uabi_buf writes xstate_fx_sw_bytes: the host's user features and their size.
  const hostFeatures = vcpu.vm.ctx.supportedXcr0;
  const maxSize = xstateRequiredSize(hostFeatures, false, vcpu.vm.ctx.hostXstate);
  v.setUint32(FX_SW_BYTES, FP_XSTATE_MAGIC1, true);
  v.setUint32(FX_SW_BYTES + 4, maxSize + FP_XSTATE_MAGIC2_SIZE, true);
  v.setBigUint64(FX_SW_BYTES + 8, hostFeatures, true);
  v.setUint32(FX_SW_BYTES + 16, maxSize, true);
  // XSTATE_BV: the components in use, within guest_supported_xcr0 | FP | SSE; XCOMP_BV 0.
  v.setBigUint64(XSAVE_HEADER, XFEATURE_MASK_FPSSE | (ymmInUse ? XFEATURE_MASK_YMM : 0n), true);
  return size > KVM_XSAVE_SIZE ? { region, extra: buf.slice(KVM_XSAVE_SIZE) } : { region };
}

/**
 * KVM_SET_XSAVE (fpu_copy_uabi_to_guest_fpstate with kvm_caps.supported_xcr0): XSTATE_BV bits KVM
 * does not support, a non-zero XCOMP_BV (userspace uses the standard format) or reserved header
 * bytes are EINVAL, and so are reserved MXCSR bits when FP, SSE or YMM is present. A component whose
 * XSTATE_BV bit is clear returns to its init state; MXCSR comes with FP, or with SSE/YMM alone.
 * A confidential FPU: EINVAL for a protected-state VM type (6.10+), else ignored.
 */
export function setXsave(vcpu: Vcpu, xsave: KvmXsave): Errno | undefined {
  if (vcpu.guestStateProtected) {
    if (vcpuStateProtected(vcpu)) return new Errno('EINVAL', 'KVM_SET_XSAVE: the FPU is confidential');
    return undefined;
  }
  const r = xsave.region;
  const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
  const xfeatures = v.getBigUint64(XSAVE_HEADER, true);
  if (xfeatures & ~vcpu.vm.ctx.supportedXcr0)
    return new Errno('EINVAL', 'KVM_SET_XSAVE: XSTATE_BV has features KVM does not support');
  if (v.getBigUint64(XSAVE_HEADER + 8, true) !== 0n)
    return new Errno('EINVAL', 'KVM_SET_XSAVE: XCOMP_BV must be 0 (standard format)');
  if (r.subarray(XSAVE_HEADER + 16, XSAVE_HEADER + XSAVE_HDR_SIZE).some((b) => b !== 0))
    return new Errno('EINVAL', 'KVM_SET_XSAVE: reserved header bytes');
  const mxcsr = v.getUint32(FX_MXCSR, true);
  if (xfeatures & (XFEATURE_MASK_FPSSE | XFEATURE_MASK_YMM) && mxcsr & ~vcpu.vm.ctx.mxcsrFeatureMask)
    return new Errno('EINVAL', 'KVM_SET_XSAVE: reserved MXCSR bits');
  // In place: the CPU works on this object and its arrays (CpuAttachment.fpu).
  const f = vcpu.fpu;
  if (xfeatures & XFEATURE_MASK_FP) {
    // The FP component is bytes 0-159 of the legacy region, MXCSR included.
    loadX87(f, v, true);
    f.mxcsr = mxcsr;
  } else {
    initX87State(f);
    // SSE and YMM need MXCSR even without FP.
    if (xfeatures & (XFEATURE_MASK_SSE | XFEATURE_MASK_YMM)) f.mxcsr = mxcsr;
  }
  if (xfeatures & XFEATURE_MASK_SSE) f.xmm.set(r.subarray(FX_XMM, FX_XMM + 256));
  else f.xmm.fill(0);
  if (xfeatures & XFEATURE_MASK_YMM) vcpu.ymmHi.set(r.subarray(XSAVE_YMM, XSAVE_YMM + 256));
  else vcpu.ymmHi.fill(0);
  return undefined;
}

/**
 * The guest fpstate's uabi_size (what KVM_GET_XSAVE2 copies): the standard-format size of the host's
 * user features.
 */
export function xsaveUabiSize(vcpu: Vcpu): number {
  return xstateRequiredSize(vcpu.vm.ctx.supportedXcr0, false, vcpu.vm.ctx.hostXstate);
}

/** KVM_GET_DEBUGREGS: DR0-DR3, vcpu->arch.dr6 and DR7; EINVAL once a protected-state vCPU's VMSA is encrypted. */
export function getDebugregs(vcpu: Vcpu): KvmDebugregs | Errno {
  if (vcpuStateProtected(vcpu))
    return new Errno('EINVAL', "KVM_GET_DEBUGREGS: the vCPU's state is protected");
  return {
    db: [...vcpu.db],
    dr6: vcpu.dr6,
    dr7: vcpu.vmcb.save.getBigUint64(SAVE_DR7, true),
    flags: 0n,
  };
}

/**
 * KVM_SET_DEBUGREGS: flags must be 0 and DR6/DR7 fit in 32 bits (kvm_dr6_valid, kvm_dr7_valid),
 * else EINVAL; the values are taken as given (no fixed bits forced), DR7 through svm_set_dr7 (not
 * for protected state).
 */
export function setDebugregs(vcpu: Vcpu, d: KvmDebugregs): Errno | undefined {
  if (vcpuStateProtected(vcpu))
    return new Errno('EINVAL', "KVM_SET_DEBUGREGS: the vCPU's state is protected");
  if (d.flags) return new Errno('EINVAL', 'KVM_SET_DEBUGREGS: flags');
  if (d.dr6 >> 32n) return new Errno('EINVAL', 'KVM_SET_DEBUGREGS: DR6 bits 63:32');
  if (d.dr7 >> 32n) return new Errno('EINVAL', 'KVM_SET_DEBUGREGS: DR7 bits 63:32');
  for (let i = 0; i < 4; i++) vcpu.db[i] = BigInt.asUintN(64, d.db[i] ?? 0n);
  vcpu.dr6 = d.dr6;
  if (!vcpu.guestStateProtected) vcpu.vmcb.save.setBigUint64(SAVE_DR7, d.dr7, true);
  return undefined;
}
