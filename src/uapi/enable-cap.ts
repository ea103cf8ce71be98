/**
 * Byte-exact codec for struct kvm_enable_cap (KVM_ENABLE_CAP on a VM or vCPU fd), from
 * include/uapi/linux/kvm.h. Layout (little-endian, x86-64): cap u32 @0, flags u32 @4, args[4] u64 @8,
 * pad[64] u8 @40; 104 bytes.
 *
 * Offsets are exported keyed by C member name (KVM_ENABLE_CAP_OFFSETS); see ioctl.ts for the scheme.
 */

import { structIn, structOut } from './struct.js';

/** sizeof(struct kvm_enable_cap). */
export const KVM_ENABLE_CAP_SIZE = 104;

/** offsetof(struct kvm_enable_cap, <member>). */
export const KVM_ENABLE_CAP_OFFSETS = { cap: 0, flags: 4, args: 8, pad: 40 } as const;

/** struct kvm_enable_cap (pad is written as 0). */
export interface KvmEnableCap {
  /** __u32 cap: the KVM_CAP_* to enable. */
  cap: number;
  /** __u32 flags: 0 (x86 KVM refuses non-zero flags with EINVAL). */
  flags: number;
  /** __u64 args[4]: capability-specific, exactly 4 entries. */
  args: bigint[];
}

/** Encodes struct kvm_enable_cap (104 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeEnableCap(value: KvmEnableCap, dst?: Uint8Array): Uint8Array {
  const O = KVM_ENABLE_CAP_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_ENABLE_CAP_SIZE, 'kvm_enable_cap');
  w.u32(O.cap, 'cap', value.cap);
  w.u32(O.flags, 'flags', value.flags);
  w.u64s(O.args, 'args', value.args, 4);
  return bytes;
}

/** Decodes struct kvm_enable_cap from the first 104 bytes; RangeError when fewer are given. */
export function decodeEnableCap(bytes: Uint8Array): KvmEnableCap {
  const O = KVM_ENABLE_CAP_OFFSETS;
  const r = structIn(bytes, KVM_ENABLE_CAP_SIZE, 'kvm_enable_cap');
  return { cap: r.u32(O.cap), flags: r.u32(O.flags), args: r.u64s(O.args, 4) };
}
