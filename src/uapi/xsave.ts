/**
 * Byte-exact codecs for struct kvm_xsave (KVM_GET_XSAVE / KVM_SET_XSAVE / KVM_GET_XSAVE2) and struct
 * kvm_xcrs + struct kvm_xcr (KVM_GET_XCRS / KVM_SET_XCRS), from arch/x86/include/uapi/asm/kvm.h.
 * Layout (little-endian, x86-64):
 *
 * - kvm_xsave (4096 bytes): region[1024] u32 @0, extra[] u32 @4096 (flexible). KVM_GET_XSAVE2 and
 *   KVM_SET_XSAVE move as many bytes as KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) on the VM fd says
 *   (at least 4096; more only with dynamically enabled features such as AMX); the extra bytes follow
 *   the region. The region is an XSAVE image laid out per host CPUID leaf 0xD.
 * - kvm_xcr (16 bytes): xcr u32 @0, reserved u32 @4, value u64 @8.
 * - kvm_xcrs (392 bytes): nr_xcrs u32 @0, flags u32 @4, xcrs[16] @8 (16 bytes each),
 *   padding[16] u64 @264.
 *
 * The xsave region is kept as raw bytes (4096 of them), not as u32 words. kvm_xcrs has a fixed array
 * of KVM_MAX_XCRS; decodeXcrs reports nr_xcrs and returns min(nr_xcrs, 16) entries, like the
 * variable-length codecs.
 *
 * Offsets are exported keyed by C member name (KVM_XSAVE_OFFSETS, KVM_XCR_OFFSETS,
 * KVM_XCRS_OFFSETS); see ioctl.ts for the scheme.
 */

import { structIn, structOut } from './struct.js';

/** sizeof(struct kvm_xsave): the 4096-byte region (extra[] is a flexible array). */
export const KVM_XSAVE_SIZE = 4096;
/** Entries in kvm_xcrs.xcrs. */
export const KVM_MAX_XCRS = 16;
/** sizeof(struct kvm_xcr). */
export const KVM_XCR_SIZE = 16;
/** sizeof(struct kvm_xcrs). */
export const KVM_XCRS_SIZE = 392;

/** offsetof(struct kvm_xsave, <member>). */
export const KVM_XSAVE_OFFSETS = { region: 0, extra: 4096 } as const;
/** offsetof(struct kvm_xcr, <member>). */
export const KVM_XCR_OFFSETS = { xcr: 0, reserved: 4, value: 8 } as const;
/** offsetof(struct kvm_xcrs, <member>). */
export const KVM_XCRS_OFFSETS = { nr_xcrs: 0, flags: 4, xcrs: 8, padding: 264 } as const;

/** struct kvm_xsave: the XSAVE image. */
export interface KvmXsave {
  /** __u32 region[1024]: exactly 4096 bytes. */
  region: Uint8Array;
  /** __u32 extra[]: bytes after the region (KVM_CAP_XSAVE2 size - 4096), if any. */
  extra?: Uint8Array;
}

/** struct kvm_xcr: one extended control register (reserved is written as 0). */
export interface KvmXcr {
  /** __u32 xcr: the XCR number (0 = XCR0). */
  xcr: number;
  /** __u64 value. */
  value: bigint;
}

/** struct kvm_xcrs: the extended control registers (padding is written as 0). */
export interface KvmXcrs {
  /** __u32 nr_xcrs: the count (on decode: as found; KVM refuses more than 16 with EINVAL). */
  nrXcrs: number;
  /** __u32 flags: none defined, must be 0. */
  flags: number;
  /** struct kvm_xcr xcrs[16]: at most 16 (on decode, min(nr_xcrs, 16)); unused slots are zero. */
  xcrs: KvmXcr[];
}

/** Bytes of a struct kvm_xsave with `extraBytes` after the region. */
export function kvmXsaveSize(extraBytes = 0): number {
  return KVM_XSAVE_SIZE + extraBytes;
}

/**
 * Encodes struct kvm_xsave (4096 bytes plus `extra`, if any) into `dst` at offset 0 (default: a fresh
 * buffer of exactly that size) and returns it. RangeError when `region` is not 4096 bytes.
 */
export function encodeXsave(value: KvmXsave, dst?: Uint8Array): Uint8Array {
  const extra = value.extra ?? new Uint8Array(0);
  const { bytes, w } = structOut(dst, kvmXsaveSize(extra.length), 'kvm_xsave');
  w.bytes(KVM_XSAVE_OFFSETS.region, 'region', value.region, KVM_XSAVE_SIZE);
  w.bytes(KVM_XSAVE_OFFSETS.extra, 'extra', extra, extra.length);
  return bytes;
}

/**
 * Decodes struct kvm_xsave of `size` bytes (default 4096; the KVM_CAP_XSAVE2 value for
 * KVM_GET_XSAVE2): the region, and `extra` when `size` > 4096. RangeError when `size` < 4096 or the
 * buffer is shorter than `size`.
 */
export function decodeXsave(bytes: Uint8Array, size = KVM_XSAVE_SIZE): KvmXsave {
  if (size < KVM_XSAVE_SIZE) throw new RangeError(`struct kvm_xsave is at least ${KVM_XSAVE_SIZE} bytes`);
  const r = structIn(bytes, size, 'kvm_xsave');
  const region = r.bytes(KVM_XSAVE_OFFSETS.region, KVM_XSAVE_SIZE);
  if (size === KVM_XSAVE_SIZE) return { region };
  return { region, extra: r.bytes(KVM_XSAVE_OFFSETS.extra, size - KVM_XSAVE_SIZE) };
}

/**
 * Encodes struct kvm_xcrs (392 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns
 * it; `nrXcrs` is written as given. RangeError when more than 16 xcrs are given.
 */
export function encodeXcrs(value: KvmXcrs, dst?: Uint8Array): Uint8Array {
  if (value.xcrs.length > KVM_MAX_XCRS) {
    throw new RangeError(`kvm_xcrs.xcrs holds ${KVM_MAX_XCRS} entries, got ${value.xcrs.length}`);
  }
  const { bytes, w } = structOut(dst, KVM_XCRS_SIZE, 'kvm_xcrs');
  w.u32(KVM_XCRS_OFFSETS.nr_xcrs, 'nr_xcrs', value.nrXcrs);
  w.u32(KVM_XCRS_OFFSETS.flags, 'flags', value.flags);
  value.xcrs.forEach((x, i) => {
    const xw = w.at(KVM_XCRS_OFFSETS.xcrs + i * KVM_XCR_SIZE, `xcrs[${i}]`);
    xw.u32(KVM_XCR_OFFSETS.xcr, 'xcr', x.xcr);
    xw.u64(KVM_XCR_OFFSETS.value, 'value', x.value);
  });
  return bytes;
}

/** Decodes struct kvm_xcrs from the first 392 bytes; RangeError when fewer are given. */
export function decodeXcrs(bytes: Uint8Array): KvmXcrs {
  const r = structIn(bytes, KVM_XCRS_SIZE, 'kvm_xcrs');
  const nrXcrs = r.u32(KVM_XCRS_OFFSETS.nr_xcrs);
  const xcrs: KvmXcr[] = [];
  for (let i = 0; i < Math.min(nrXcrs, KVM_MAX_XCRS); i++) {
    const xr = r.at(KVM_XCRS_OFFSETS.xcrs + i * KVM_XCR_SIZE);
    xcrs.push({ xcr: xr.u32(KVM_XCR_OFFSETS.xcr), value: xr.u64(KVM_XCR_OFFSETS.value) });
  }
  return { nrXcrs, flags: r.u32(KVM_XCRS_OFFSETS.flags), xcrs };
}
