/**
 * Memslot facts and byte-exact codecs for struct kvm_userspace_memory_region(2).
 * Values from include/uapi/linux/kvm.h and include/linux/kvm_host.h; see shared/spec/kvm-uapi.md
 * section 3. Layout (little-endian, x86-64): slot u32 @0, flags u32 @4, guest_phys_addr u64 @8,
 * memory_size u64 @16, userspace_addr u64 @24; v2 adds guest_memfd_offset u64 @32, guest_memfd u32 @40,
 * pad1 u32 @44, pad2[14] u64 @48..159.
 */

import { SysError } from './kvm-error.js';
import { isU64 } from './u64.js';

/** Memslot flag: track dirty pages (KVM_GET_DIRTY_LOG / dirty ring). */
export const KVM_MEM_LOG_DIRTY_PAGES = 1;
/** Memslot flag: guest writes exit to userspace as MMIO. */
export const KVM_MEM_READONLY = 2;
/** Memslot flag: private memory backed by a guest_memfd (KVM_SET_USER_MEMORY_REGION2 only). */
export const KVM_MEM_GUEST_MEMFD = 4;

/** Slot ids userspace may use per address space (ids 0..32763); what KVM_CAP_NR_MEMSLOTS returns. */
export const KVM_USER_MEM_SLOTS = 32764;
/** Total slot ids per address space (SHRT_MAX), user plus internal. */
export const KVM_MEM_SLOTS_NUM = 32767;
/** Slots KVM keeps for itself on x86 (TSS, identity map, APIC access page). */
export const KVM_INTERNAL_MEM_SLOTS = 3;
/** Largest slot in pages (2^31 - 1, i.e. 8 TiB - 4 KiB); one more page is EINVAL. */
export const KVM_MEM_MAX_NR_PAGES = 2 ** 31 - 1;

/** The slot id: bits 0-15 of `slot`. */
export function slotId(slot: number): number {
  return slot & 0xffff;
}

/** The address-space id: bits 16-31 of `slot` (1 = SMM on x86). */
export function slotAsId(slot: number): number {
  return slot >>> 16;
}

/** struct kvm_userspace_memory_region2 (the v1 struct is its first 32 bytes). u64 fields are bigint so nothing is lost. */
export interface UserspaceMemoryRegion {
  /** u32: slot id in bits 0-15, address space in bits 16-31. */
  slot: number;
  /** u32: KVM_MEM_* flags. */
  flags: number;
  /** u64: first guest physical address. */
  guestPhysAddr: bigint;
  /** u64: size in bytes; 0 deletes the slot. */
  memorySize: bigint;
  /** u64: host virtual address of the backing memory. */
  userspaceAddr: bigint;
  /** u64: offset into the guest_memfd (v2 only). */
  guestMemfdOffset?: bigint;
  /** u32: guest_memfd file descriptor (v2 only). */
  guestMemfd?: number;
}

/** sizeof(struct kvm_userspace_memory_region). */
export const KVM_USERSPACE_MEMORY_REGION_SIZE = 32;
/** sizeof(struct kvm_userspace_memory_region2). */
export const KVM_USERSPACE_MEMORY_REGION2_SIZE = 160;

function u32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${name} ${v} is not a u32`);
  return v;
}

function u64(name: string, v: bigint): bigint {
  if (!isU64(v)) throw new RangeError(`${name} ${v} is not a u64`);
  return v;
}

/** A DataView over the first `size` bytes, or EFAULT when the buffer is shorter (copy_{from,to}_user fails). */
function view(bytes: Uint8Array, size: number): DataView {
  if (bytes.length < size) {
    throw new SysError('EFAULT', `struct needs ${size} bytes, buffer has ${bytes.length}`);
  }
  return new DataView(bytes.buffer, bytes.byteOffset, size);
}

function writeV1(dv: DataView, r: UserspaceMemoryRegion): void {
  dv.setUint32(0, u32('slot', r.slot), true);
  dv.setUint32(4, u32('flags', r.flags), true);
  dv.setBigUint64(8, u64('guestPhysAddr', r.guestPhysAddr), true);
  dv.setBigUint64(16, u64('memorySize', r.memorySize), true);
  dv.setBigUint64(24, u64('userspaceAddr', r.userspaceAddr), true);
}

function readV1(dv: DataView): UserspaceMemoryRegion {
  return {
    slot: dv.getUint32(0, true),
    flags: dv.getUint32(4, true),
    guestPhysAddr: dv.getBigUint64(8, true),
    memorySize: dv.getBigUint64(16, true),
    userspaceAddr: dv.getBigUint64(24, true),
  };
}

/**
 * Encodes struct kvm_userspace_memory_region (32 bytes) into `bytes` (default: a new buffer) and
 * returns it. guestMemfdOffset/guestMemfd are not part of v1 and are ignored. Throws SysError('EFAULT')
 * when `bytes` is shorter than 32, RangeError when a field does not fit its C type.
 */
export function encodeUserspaceMemoryRegion(
  r: UserspaceMemoryRegion,
  bytes: Uint8Array = new Uint8Array(KVM_USERSPACE_MEMORY_REGION_SIZE),
): Uint8Array {
  writeV1(view(bytes, KVM_USERSPACE_MEMORY_REGION_SIZE), r);
  return bytes;
}

/**
 * Decodes struct kvm_userspace_memory_region from the first 32 bytes. The result has no guest_memfd
 * fields (for this ioctl KVM zero-fills them). Throws SysError('EFAULT') when fewer than 32 bytes are given.
 */
export function decodeUserspaceMemoryRegion(bytes: Uint8Array): UserspaceMemoryRegion {
  return readV1(view(bytes, KVM_USERSPACE_MEMORY_REGION_SIZE));
}

/**
 * Encodes struct kvm_userspace_memory_region2 (160 bytes) into `bytes` (default: a new buffer) and
 * returns it; missing guest_memfd fields and all padding are written as 0. Throws SysError('EFAULT')
 * when `bytes` is shorter than 160, RangeError when a field does not fit its C type.
 */
export function encodeUserspaceMemoryRegion2(
  r: UserspaceMemoryRegion,
  bytes: Uint8Array = new Uint8Array(KVM_USERSPACE_MEMORY_REGION2_SIZE),
): Uint8Array {
  const dv = view(bytes, KVM_USERSPACE_MEMORY_REGION2_SIZE);
  writeV1(dv, r);
  dv.setBigUint64(32, u64('guestMemfdOffset', r.guestMemfdOffset ?? 0n), true);
  dv.setUint32(40, u32('guestMemfd', r.guestMemfd ?? 0), true);
  bytes.fill(0, 44, KVM_USERSPACE_MEMORY_REGION2_SIZE);
  return bytes;
}

/**
 * Decodes struct kvm_userspace_memory_region2 from the first 160 bytes; padding is ignored, as KVM
 * ignores it. Throws SysError('EFAULT') when fewer than 160 bytes are given.
 */
export function decodeUserspaceMemoryRegion2(bytes: Uint8Array): UserspaceMemoryRegion {
  const dv = view(bytes, KVM_USERSPACE_MEMORY_REGION2_SIZE);
  return {
    ...readV1(dv),
    guestMemfdOffset: dv.getBigUint64(32, true),
    guestMemfd: dv.getUint32(40, true),
  };
}
