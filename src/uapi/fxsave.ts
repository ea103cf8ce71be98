/**
 * The format of struct kvm_xsave's region (xsave.ts): the XSAVE standard format, whose first 512
 * bytes are the FXSAVE area (SDM vol. 1, 10.5.1 and 13.4.1; the kernel's struct fxregs_state): its
 * offsets, the XSAVE header and the YMM_Hi128 component after it, and the x87 state stored into and
 * loaded from it. KVM's KVM_GET/SET_XSAVE and the CPU's FXSAVE/XSAVE share this layout.
 */
import type { KvmFpu } from './fpu.js';

export const FX_FCW = 0;
export const FX_FSW = 2;
export const FX_FTW = 4;
export const FX_FOP = 6;
export const FX_FIP = 8;
export const FX_FDP = 16;
export const FX_MXCSR = 24;
export const FX_MXCSR_MASK = 28;
export const FX_ST = 32;
export const FX_XMM = 160;
/** The XSAVE header: XSTATE_BV, XCOMP_BV, reserved (64 bytes). */
export const XSAVE_HEADER = 512;
/** The YMM_Hi128 component's standard-format offset (CPUID 0xD.2 EBX). */
export const XSAVE_YMM = 576;

/**
 * The x87 state into a legacy-region image `v`: FCW, FSW, the abridged tag word, FOP, FIP, FDP (the
 * 64-bit FPU IP and DP when `wide`, the REX.W forms and the kernel's 64-bit layout; else their low
 * 32 bits and a zero selector) and the x87 registers as stored bytes (16 each). MXCSR and the XMM
 * registers are not x87 state.
 */
export function storeX87(f: KvmFpu, v: DataView, wide: boolean): void {
  v.setUint16(FX_FCW, f.fcw, true);
  v.setUint16(FX_FSW, f.fsw, true);
  v.setUint8(FX_FTW, f.ftwx);
  v.setUint8(FX_FTW + 1, 0);
  v.setUint16(FX_FOP, f.lastOpcode, true);
  v.setBigUint64(FX_FIP, wide ? f.lastIp : f.lastIp & 0xffff_ffffn, true);
  v.setBigUint64(FX_FDP, wide ? f.lastDp : f.lastDp & 0xffff_ffffn, true);
  new Uint8Array(v.buffer, v.byteOffset + FX_ST, 128).set(f.fpr.subarray(0, 128));
}

/** The x87 state from a legacy-region image (what storeX87 stores). */
export function loadX87(f: KvmFpu, v: DataView, wide: boolean): void {
  f.fcw = v.getUint16(FX_FCW, true);
  f.fsw = v.getUint16(FX_FSW, true);
  f.ftwx = v.getUint8(FX_FTW);
  f.lastOpcode = v.getUint16(FX_FOP, true);
  const ip = v.getBigUint64(FX_FIP, true);
  const dp = v.getBigUint64(FX_FDP, true);
  f.lastIp = wide ? ip : ip & 0xffff_ffffn;
  f.lastDp = wide ? dp : dp & 0xffff_ffffn;
  f.fpr.set(new Uint8Array(v.buffer, v.byteOffset + FX_ST, 128));
}

/**
 * MXCSR_MASK as FXSAVE reports it (the MXCSR bits a CPU lets be set; Linux's mxcsr_feature_mask):
 * an Intel CPU's 0xffff; an AMD EPYC's 0x2ffff, with bit 17, MM (misaligned SSE mode, CPUID
 * 8000_0001 ECX MisAlignSse), as this project's EPYC and its /dev/kvm report.
 */
export const MXCSR_MASK_INTEL = 0xffff;
export const MXCSR_MASK_AMD = 0x2ffff;

/** MXCSR and MXCSR_MASK (the bits the CPU lets MXCSR have) into a legacy-region image. */
export function storeMxcsr(mxcsr: number, mask: number, v: DataView): void {
  v.setUint32(FX_MXCSR, mxcsr >>> 0, true);
  v.setUint32(FX_MXCSR_MASK, mask, true);
}
