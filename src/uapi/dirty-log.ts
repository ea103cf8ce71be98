/**
 * Byte-exact codecs for struct kvm_dirty_log (KVM_GET_DIRTY_LOG) and struct kvm_clear_dirty_log
 * (KVM_CLEAR_DIRTY_LOG), from include/uapi/linux/kvm.h. Layout (little-endian, x86-64):
 *
 * - kvm_dirty_log (16 bytes): slot u32 @0, padding1 u32 @4, dirty_bitmap @8 (a union of a
 *   userspace pointer and __u64 padding2).
 * - kvm_clear_dirty_log (24 bytes): slot u32 @0, num_pages u32 @4, first_page u64 @8,
 *   dirty_bitmap @16 (union with __u64 padding2).
 *
 * `slot` carries the address space in bits 16-31 as for memslots. The bitmap pointer is a plain
 * bigint (a userspace address), one bit per page of the slot.
 *
 * Offsets are exported keyed by C member name (KVM_DIRTY_LOG_OFFSETS, KVM_CLEAR_DIRTY_LOG_OFFSETS);
 * see ioctl.ts for the scheme.
 */

import { structIn, structOut } from './struct.js';

/** sizeof(struct kvm_dirty_log). */
export const KVM_DIRTY_LOG_SIZE = 16;
/** sizeof(struct kvm_clear_dirty_log). */
export const KVM_CLEAR_DIRTY_LOG_SIZE = 24;

/** offsetof(struct kvm_dirty_log, <member>). */
export const KVM_DIRTY_LOG_OFFSETS = { slot: 0, padding1: 4, dirty_bitmap: 8, padding2: 8 } as const;
/** offsetof(struct kvm_clear_dirty_log, <member>). */
export const KVM_CLEAR_DIRTY_LOG_OFFSETS = {
  slot: 0,
  num_pages: 4,
  first_page: 8,
  dirty_bitmap: 16,
  padding2: 16,
} as const;

/**
 * Bytes of a slot's dirty bitmap of `npages` pages (kvm_dirty_bitmap_bytes: whole u64 words, i.e.
 * ALIGN(npages, 64) / 8): what KVM_GET_DIRTY_LOG writes, and each half KVM keeps per slot.
 */
export function dirtyBitmapBytes(npages: number): number {
  return Math.ceil(npages / 64) * 8;
}

/** struct kvm_dirty_log (padding1 is written as 0). */
export interface KvmDirtyLog {
  /** __u32 slot: slot id in bits 0-15, address space in bits 16-31. */
  slot: number;
  /** void __user *dirty_bitmap: where KVM writes the slot's bitmap. */
  dirtyBitmap: bigint;
}

/** struct kvm_clear_dirty_log. */
export interface KvmClearDirtyLog {
  /** __u32 slot: slot id in bits 0-15, address space in bits 16-31. */
  slot: number;
  /** __u32 num_pages: pages covered by the bitmap (a multiple of 64 unless it reaches the slot's end). */
  numPages: number;
  /** __u64 first_page: first page of the slot covered (a multiple of 64). */
  firstPage: bigint;
  /** void __user *dirty_bitmap: the bits to clear, bit 0 = first_page. */
  dirtyBitmap: bigint;
}

/** Encodes struct kvm_dirty_log (16 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeDirtyLog(value: KvmDirtyLog, dst?: Uint8Array): Uint8Array {
  const { bytes, w } = structOut(dst, KVM_DIRTY_LOG_SIZE, 'kvm_dirty_log');
  w.u32(KVM_DIRTY_LOG_OFFSETS.slot, 'slot', value.slot);
  w.u64(KVM_DIRTY_LOG_OFFSETS.dirty_bitmap, 'dirty_bitmap', value.dirtyBitmap);
  return bytes;
}

/** Decodes struct kvm_dirty_log from the first 16 bytes; RangeError when fewer are given. */
export function decodeDirtyLog(bytes: Uint8Array): KvmDirtyLog {
  const r = structIn(bytes, KVM_DIRTY_LOG_SIZE, 'kvm_dirty_log');
  return { slot: r.u32(KVM_DIRTY_LOG_OFFSETS.slot), dirtyBitmap: r.u64(KVM_DIRTY_LOG_OFFSETS.dirty_bitmap) };
}

/** Encodes struct kvm_clear_dirty_log (24 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeClearDirtyLog(value: KvmClearDirtyLog, dst?: Uint8Array): Uint8Array {
  const O = KVM_CLEAR_DIRTY_LOG_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_CLEAR_DIRTY_LOG_SIZE, 'kvm_clear_dirty_log');
  w.u32(O.slot, 'slot', value.slot);
  w.u32(O.num_pages, 'num_pages', value.numPages);
  w.u64(O.first_page, 'first_page', value.firstPage);
  w.u64(O.dirty_bitmap, 'dirty_bitmap', value.dirtyBitmap);
  return bytes;
}

/** Decodes struct kvm_clear_dirty_log from the first 24 bytes; RangeError when fewer are given. */
export function decodeClearDirtyLog(bytes: Uint8Array): KvmClearDirtyLog {
  const O = KVM_CLEAR_DIRTY_LOG_OFFSETS;
  const r = structIn(bytes, KVM_CLEAR_DIRTY_LOG_SIZE, 'kvm_clear_dirty_log');
  return {
    slot: r.u32(O.slot),
    numPages: r.u32(O.num_pages),
    firstPage: r.u64(O.first_page),
    dirtyBitmap: r.u64(O.dirty_bitmap),
  };
}
