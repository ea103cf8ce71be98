/**
 * Byte-exact codec for struct kvm_fpu (KVM_GET_FPU / KVM_SET_FPU), from
 * arch/x86/include/uapi/asm/kvm.h. Layout (little-endian, x86-64; FXSAVE-like): fpr[8][16] u8 @0,
 * fcw u16 @128, fsw u16 @130, ftwx u8 @132 (abridged tag word, FXSAVE format), pad1 u8 @133,
 * last_opcode u16 @134, last_ip u64 @136, last_dp u64 @144, xmm[16][16] u8 @152, mxcsr u32 @408,
 * pad2 u32 @412; 416 bytes.
 *
 * The register files are flat byte arrays: `fpr` is 128 bytes (ST/MM register i at i * 16, 10
 * significant bytes each), `xmm` 256 bytes (XMM register i at i * 16).
 *
 * Offsets are exported keyed by C member name (KVM_FPU_OFFSETS); see ioctl.ts for the scheme.
 */

import { structIn, structOut } from './struct.js';

/** sizeof(struct kvm_fpu). */
export const KVM_FPU_SIZE = 416;
/** Bytes of kvm_fpu.fpr (8 registers x 16). */
export const KVM_FPU_FPR_BYTES = 128;
/** Bytes of kvm_fpu.xmm (16 registers x 16). */
export const KVM_FPU_XMM_BYTES = 256;

/** offsetof(struct kvm_fpu, <member>). */
export const KVM_FPU_OFFSETS = {
  fpr: 0,
  fcw: 128,
  fsw: 130,
  ftwx: 132,
  pad1: 133,
  last_opcode: 134,
  last_ip: 136,
  last_dp: 144,
  xmm: 152,
  mxcsr: 408,
  pad2: 412,
} as const;

/** struct kvm_fpu: x87 and SSE state (pad1/pad2 are written as 0). */
export interface KvmFpu {
  /** __u8 fpr[8][16]: 128 bytes, register i at i * 16. */
  fpr: Uint8Array;
  /** __u16 fcw: x87 control word. */
  fcw: number;
  /** __u16 fsw: x87 status word. */
  fsw: number;
  /** __u8 ftwx: abridged tag word (one bit per register, FXSAVE format). */
  ftwx: number;
  /** __u16 last_opcode: FOP. */
  lastOpcode: number;
  /** __u64 last_ip: FPU instruction pointer. */
  lastIp: bigint;
  /** __u64 last_dp: FPU data pointer. */
  lastDp: bigint;
  /** __u8 xmm[16][16]: 256 bytes, register i at i * 16. */
  xmm: Uint8Array;
  /** __u32 mxcsr. */
  mxcsr: number;
}

/** Encodes struct kvm_fpu (416 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeFpu(value: KvmFpu, dst?: Uint8Array): Uint8Array {
  const O = KVM_FPU_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_FPU_SIZE, 'kvm_fpu');
  w.bytes(O.fpr, 'fpr', value.fpr, KVM_FPU_FPR_BYTES);
  w.u16(O.fcw, 'fcw', value.fcw);
  w.u16(O.fsw, 'fsw', value.fsw);
  w.u8(O.ftwx, 'ftwx', value.ftwx);
  w.u16(O.last_opcode, 'last_opcode', value.lastOpcode);
  w.u64(O.last_ip, 'last_ip', value.lastIp);
  w.u64(O.last_dp, 'last_dp', value.lastDp);
  w.bytes(O.xmm, 'xmm', value.xmm, KVM_FPU_XMM_BYTES);
  w.u32(O.mxcsr, 'mxcsr', value.mxcsr);
  return bytes;
}

/** Decodes struct kvm_fpu from the first 416 bytes; RangeError when fewer are given. */
export function decodeFpu(bytes: Uint8Array): KvmFpu {
  const O = KVM_FPU_OFFSETS;
  const r = structIn(bytes, KVM_FPU_SIZE, 'kvm_fpu');
  return {
    fpr: r.bytes(O.fpr, KVM_FPU_FPR_BYTES),
    fcw: r.u16(O.fcw),
    fsw: r.u16(O.fsw),
    ftwx: r.u8(O.ftwx),
    lastOpcode: r.u16(O.last_opcode),
    lastIp: r.u64(O.last_ip),
    lastDp: r.u64(O.last_dp),
    xmm: r.bytes(O.xmm, KVM_FPU_XMM_BYTES),
    mxcsr: r.u32(O.mxcsr),
  };
}
