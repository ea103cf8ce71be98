/**
 * Byte-exact codec for struct kvm_device_attr (KVM_GET_DEVICE_ATTR / KVM_HAS_DEVICE_ATTR /
 * KVM_SET_DEVICE_ATTR on /dev/kvm, a vCPU or a device fd), from include/uapi/linux/kvm.h, and the x86
 * attribute groups a VMM queries. Layout (little-endian, x86-64): flags u32 @0, group u32 @4,
 * attr u64 @8, addr u64 @16; 24 bytes.
 *
 * For an SEV-ES VMM the interesting query is KVM_GET_DEVICE_ATTR on /dev/kvm with group
 * KVM_X86_GRP_SEV, attr KVM_X86_SEV_VMSA_FEATURES: KVM writes the u64 of VMSA features
 * KVM_SEV_INIT2 accepts to `addr`.
 *
 * Offsets are exported keyed by C member name (KVM_DEVICE_ATTR_OFFSETS); see ioctl.ts for the scheme.
 */

import { structIn, structOut } from './struct.js';

/** /dev/kvm group: vendor-independent x86 attributes. */
export const KVM_X86_GRP_SYSTEM = 0;
/** KVM_X86_GRP_SYSTEM attribute: the XSAVE features a guest may use (u64). */
export const KVM_X86_XCOMP_GUEST_SUPP = 0;
/** /dev/kvm group: SEV attributes. */
export const KVM_X86_GRP_SEV = 1;
/** KVM_X86_GRP_SEV attribute: the VMSA SEV_FEATURES KVM supports (u64). */
export const KVM_X86_SEV_VMSA_FEATURES = 0;
/** vCPU group: TSC control. */
export const KVM_VCPU_TSC_CTRL = 0;
/** KVM_VCPU_TSC_CTRL attribute: the guest TSC offset (u64). */
export const KVM_VCPU_TSC_OFFSET = 0;

/** sizeof(struct kvm_device_attr). */
export const KVM_DEVICE_ATTR_SIZE = 24;

/** offsetof(struct kvm_device_attr, <member>). */
export const KVM_DEVICE_ATTR_OFFSETS = { flags: 0, group: 4, attr: 8, addr: 16 } as const;

/** struct kvm_device_attr. */
export interface KvmDeviceAttr {
  /** __u32 flags: none defined, 0. */
  flags: number;
  /** __u32 group: device-defined attribute group. */
  group: number;
  /** __u64 attr: group-defined attribute. */
  attr: bigint;
  /** __u64 addr: userspace address of the attribute's data. */
  addr: bigint;
}

/** Encodes struct kvm_device_attr (24 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeDeviceAttr(value: KvmDeviceAttr, dst?: Uint8Array): Uint8Array {
  const O = KVM_DEVICE_ATTR_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_DEVICE_ATTR_SIZE, 'kvm_device_attr');
  w.u32(O.flags, 'flags', value.flags);
  w.u32(O.group, 'group', value.group);
  w.u64(O.attr, 'attr', value.attr);
  w.u64(O.addr, 'addr', value.addr);
  return bytes;
}

/** Decodes struct kvm_device_attr from the first 24 bytes; RangeError when fewer are given. */
export function decodeDeviceAttr(bytes: Uint8Array): KvmDeviceAttr {
  const O = KVM_DEVICE_ATTR_OFFSETS;
  const r = structIn(bytes, KVM_DEVICE_ATTR_SIZE, 'kvm_device_attr');
  return { flags: r.u32(O.flags), group: r.u32(O.group), attr: r.u64(O.attr), addr: r.u64(O.addr) };
}
