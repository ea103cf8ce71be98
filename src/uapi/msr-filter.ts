/**
 * Byte-exact codec for struct kvm_msr_filter + struct kvm_msr_filter_range (KVM_X86_SET_MSR_FILTER),
 * from arch/x86/include/uapi/asm/kvm.h. Layout (little-endian, x86-64):
 *
 * - kvm_msr_filter_range (24 bytes): flags u32 @0, nmsrs u32 @4, base u32 @8, 4 bytes of implicit
 *   padding @12, bitmap @16 (a `__u8 *` userspace pointer, hence 8-aligned).
 * - kvm_msr_filter (392 bytes): flags u32 @0, 4 bytes of implicit padding, ranges[16] @8.
 *
 * The bitmap pointer is a plain bigint; bit i of the bitmap (byte i / 8, bit i % 8) set = MSR base + i
 * gets the range's accesses allowed, clear = denied. Ranges with nmsrs = 0 are unused. This is only
 * the wire format; the filter's meaning lives in src/kvm/msr.ts, and the host binding
 * (HostVmFd.setMsrFilter in src/hostkvm/fd.ts) places the bitmaps in user memory for the real ioctl.
 *
 * Offsets are exported keyed by C member name (KVM_MSR_FILTER_RANGE_OFFSETS, KVM_MSR_FILTER_OFFSETS);
 * see ioctl.ts for the scheme.
 */

import { structIn, structOut } from './struct.js';

/** kvm_msr_filter_range.flags: the range filters RDMSR. */
export const KVM_MSR_FILTER_READ = 1 << 0;
/** kvm_msr_filter_range.flags: the range filters WRMSR. */
export const KVM_MSR_FILTER_WRITE = 1 << 1;
/** Every valid kvm_msr_filter_range.flags bit. */
export const KVM_MSR_FILTER_RANGE_VALID_MASK = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
/** kvm_msr_filter.flags: MSRs outside every range are allowed (0). */
export const KVM_MSR_FILTER_DEFAULT_ALLOW = 0 << 0;
/** kvm_msr_filter.flags: MSRs outside every range are denied. */
export const KVM_MSR_FILTER_DEFAULT_DENY = 1 << 0;
/** Every valid kvm_msr_filter.flags bit. */
export const KVM_MSR_FILTER_VALID_MASK = KVM_MSR_FILTER_DEFAULT_DENY;
/** Entries in kvm_msr_filter.ranges. */
export const KVM_MSR_FILTER_MAX_RANGES = 16;
/** Largest bitmap of one range, in bytes (so nmsrs <= 0x600 * 8). */
export const KVM_MSR_FILTER_MAX_BITMAP_SIZE = 0x600;

/** sizeof(struct kvm_msr_filter_range). */
export const KVM_MSR_FILTER_RANGE_SIZE = 24;
/** sizeof(struct kvm_msr_filter). */
export const KVM_MSR_FILTER_SIZE = 392;

/** offsetof(struct kvm_msr_filter_range, <member>). */
export const KVM_MSR_FILTER_RANGE_OFFSETS = { flags: 0, nmsrs: 4, base: 8, bitmap: 16 } as const;
/** offsetof(struct kvm_msr_filter, <member>). */
export const KVM_MSR_FILTER_OFFSETS = { flags: 0, ranges: 8 } as const;

/** struct kvm_msr_filter_range. */
export interface KvmMsrFilterRange {
  /** __u32 flags: KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE. */
  flags: number;
  /** __u32 nmsrs: MSRs covered (bits in the bitmap); 0 = unused range. */
  nmsrs: number;
  /** __u32 base: first MSR index covered. */
  base: number;
  /** __u8 *bitmap: userspace address of the bitmap. */
  bitmap: bigint;
}

/** struct kvm_msr_filter. */
export interface KvmMsrFilter {
  /** __u32 flags: KVM_MSR_FILTER_DEFAULT_ALLOW or KVM_MSR_FILTER_DEFAULT_DENY. */
  flags: number;
  /** struct kvm_msr_filter_range ranges[16]: at most 16 on encode (the rest zero); always 16 on decode. */
  ranges: KvmMsrFilterRange[];
}

/**
 * Encodes struct kvm_msr_filter (392 bytes) into `dst` at offset 0 (default: a fresh buffer) and
 * returns it; ranges not given are zero (unused). RangeError for more than 16 ranges.
 */
export function encodeMsrFilter(value: KvmMsrFilter, dst?: Uint8Array): Uint8Array {
  if (value.ranges.length > KVM_MSR_FILTER_MAX_RANGES) {
    throw new RangeError(
      `kvm_msr_filter.ranges holds ${KVM_MSR_FILTER_MAX_RANGES}, got ${value.ranges.length}`,
    );
  }
  const O = KVM_MSR_FILTER_RANGE_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_MSR_FILTER_SIZE, 'kvm_msr_filter');
  w.u32(KVM_MSR_FILTER_OFFSETS.flags, 'flags', value.flags);
  value.ranges.forEach((range, i) => {
    const rw = w.at(KVM_MSR_FILTER_OFFSETS.ranges + i * KVM_MSR_FILTER_RANGE_SIZE, `ranges[${i}]`);
    rw.u32(O.flags, 'flags', range.flags);
    rw.u32(O.nmsrs, 'nmsrs', range.nmsrs);
    rw.u32(O.base, 'base', range.base);
    rw.u64(O.bitmap, 'bitmap', range.bitmap);
  });
  return bytes;
}

/** Decodes struct kvm_msr_filter (all 16 ranges) from the first 392 bytes; RangeError when fewer are given. */
export function decodeMsrFilter(bytes: Uint8Array): KvmMsrFilter {
  const O = KVM_MSR_FILTER_RANGE_OFFSETS;
  const r = structIn(bytes, KVM_MSR_FILTER_SIZE, 'kvm_msr_filter');
  const ranges: KvmMsrFilterRange[] = [];
  for (let i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++) {
    const rr = r.at(KVM_MSR_FILTER_OFFSETS.ranges + i * KVM_MSR_FILTER_RANGE_SIZE);
    ranges.push({
      flags: rr.u32(O.flags),
      nmsrs: rr.u32(O.nmsrs),
      base: rr.u32(O.base),
      bitmap: rr.u64(O.bitmap),
    });
  }
  return { flags: r.u32(KVM_MSR_FILTER_OFFSETS.flags), ranges };
}
