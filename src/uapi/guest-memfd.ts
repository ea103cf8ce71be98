/**
 * Byte-exact codecs for struct kvm_create_guest_memfd (KVM_CREATE_GUEST_MEMFD) and struct
 * kvm_memory_attributes (KVM_SET_MEMORY_ATTRIBUTES, which marks guest-physical ranges private, i.e.
 * backed by the guest_memfd), from include/uapi/linux/kvm.h. Layout (little-endian, x86-64):
 *
 * - kvm_create_guest_memfd (64 bytes): size u64 @0, flags u64 @8, reserved[6] u64 @16.
 * - kvm_memory_attributes (32 bytes): address u64 @0, size u64 @8, attributes u64 @16, flags u64 @24.
 *
 * Offsets are exported keyed by C member name (KVM_CREATE_GUEST_MEMFD_OFFSETS,
 * KVM_MEMORY_ATTRIBUTES_OFFSETS); see ioctl.ts for the scheme.
 */

import { structIn, structOut } from './struct.js';

/** kvm_memory_attributes.attributes: the range is private (guest_memfd-backed). */
export const KVM_MEMORY_ATTRIBUTE_PRIVATE = 1 << 3;

/** sizeof(struct kvm_create_guest_memfd). */
export const KVM_CREATE_GUEST_MEMFD_SIZE = 64;
/** sizeof(struct kvm_memory_attributes). */
export const KVM_MEMORY_ATTRIBUTES_SIZE = 32;

/** offsetof(struct kvm_create_guest_memfd, <member>). */
export const KVM_CREATE_GUEST_MEMFD_OFFSETS = { size: 0, flags: 8, reserved: 16 } as const;
/** offsetof(struct kvm_memory_attributes, <member>). */
export const KVM_MEMORY_ATTRIBUTES_OFFSETS = { address: 0, size: 8, attributes: 16, flags: 24 } as const;

/** struct kvm_create_guest_memfd (reserved is written as 0). */
export interface KvmCreateGuestMemfd {
  /** __u64 size: bytes, page aligned and non-zero. */
  size: bigint;
  /** __u64 flags: none defined in 6.12, 0. */
  flags: bigint;
}

/** struct kvm_memory_attributes. */
export interface KvmMemoryAttributes {
  /** __u64 address: guest physical address, page aligned. */
  address: bigint;
  /** __u64 size: bytes, page aligned and non-zero. */
  size: bigint;
  /** __u64 attributes: KVM_MEMORY_ATTRIBUTE_*. */
  attributes: bigint;
  /** __u64 flags: none defined, 0. */
  flags: bigint;
}

/** Encodes struct kvm_create_guest_memfd (64 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeCreateGuestMemfd(value: KvmCreateGuestMemfd, dst?: Uint8Array): Uint8Array {
  const { bytes, w } = structOut(dst, KVM_CREATE_GUEST_MEMFD_SIZE, 'kvm_create_guest_memfd');
  w.u64(KVM_CREATE_GUEST_MEMFD_OFFSETS.size, 'size', value.size);
  w.u64(KVM_CREATE_GUEST_MEMFD_OFFSETS.flags, 'flags', value.flags);
  return bytes;
}

/** Decodes struct kvm_create_guest_memfd from the first 64 bytes; RangeError when fewer are given. */
export function decodeCreateGuestMemfd(bytes: Uint8Array): KvmCreateGuestMemfd {
  const r = structIn(bytes, KVM_CREATE_GUEST_MEMFD_SIZE, 'kvm_create_guest_memfd');
  return {
    size: r.u64(KVM_CREATE_GUEST_MEMFD_OFFSETS.size),
    flags: r.u64(KVM_CREATE_GUEST_MEMFD_OFFSETS.flags),
  };
}

/** Encodes struct kvm_memory_attributes (32 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeMemoryAttributes(value: KvmMemoryAttributes, dst?: Uint8Array): Uint8Array {
  const O = KVM_MEMORY_ATTRIBUTES_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_MEMORY_ATTRIBUTES_SIZE, 'kvm_memory_attributes');
  w.u64(O.address, 'address', value.address);
  w.u64(O.size, 'size', value.size);
  w.u64(O.attributes, 'attributes', value.attributes);
  w.u64(O.flags, 'flags', value.flags);
  return bytes;
}

/** Decodes struct kvm_memory_attributes from the first 32 bytes; RangeError when fewer are given. */
export function decodeMemoryAttributes(bytes: Uint8Array): KvmMemoryAttributes {
  const O = KVM_MEMORY_ATTRIBUTES_OFFSETS;
  const r = structIn(bytes, KVM_MEMORY_ATTRIBUTES_SIZE, 'kvm_memory_attributes');
  return {
    address: r.u64(O.address),
    size: r.u64(O.size),
    attributes: r.u64(O.attributes),
    flags: r.u64(O.flags),
  };
}
