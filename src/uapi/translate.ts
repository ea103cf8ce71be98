/**
 * Byte-exact codec for struct kvm_translation (KVM_TRANSLATE), from include/uapi/linux/kvm.h. Layout
 * (little-endian, x86-64): linear_address u64 @0, physical_address u64 @8, valid u8 @16,
 * writeable u8 @17, usermode u8 @18, pad[5] u8 @19; 24 bytes.
 *
 * Offsets are exported keyed by C member name (KVM_TRANSLATION_OFFSETS); see ioctl.ts for the scheme.
 */

import { structIn, structOut } from './struct.js';

/** sizeof(struct kvm_translation). */
export const KVM_TRANSLATION_SIZE = 24;

/** offsetof(struct kvm_translation, <member>). */
export const KVM_TRANSLATION_OFFSETS = {
  linear_address: 0,
  physical_address: 8,
  valid: 16,
  writeable: 17,
  usermode: 18,
  pad: 19,
} as const;

/** struct kvm_translation (pad is written as 0). */
export interface KvmTranslation {
  /** __u64 linear_address: in, the guest virtual address. */
  linearAddress: bigint;
  /** __u64 physical_address: out, the guest physical address. */
  physicalAddress: bigint;
  /** __u8 valid: out, the translation exists. */
  valid: number;
  /** __u8 writeable: out. */
  writeable: number;
  /** __u8 usermode: out. */
  usermode: number;
}

/** Encodes struct kvm_translation (24 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeTranslation(value: KvmTranslation, dst?: Uint8Array): Uint8Array {
  const O = KVM_TRANSLATION_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_TRANSLATION_SIZE, 'kvm_translation');
  w.u64(O.linear_address, 'linear_address', value.linearAddress);
  w.u64(O.physical_address, 'physical_address', value.physicalAddress);
  w.u8(O.valid, 'valid', value.valid);
  w.u8(O.writeable, 'writeable', value.writeable);
  w.u8(O.usermode, 'usermode', value.usermode);
  return bytes;
}

/** Decodes struct kvm_translation from the first 24 bytes; RangeError when fewer are given. */
export function decodeTranslation(bytes: Uint8Array): KvmTranslation {
  const O = KVM_TRANSLATION_OFFSETS;
  const r = structIn(bytes, KVM_TRANSLATION_SIZE, 'kvm_translation');
  return {
    linearAddress: r.u64(O.linear_address),
    physicalAddress: r.u64(O.physical_address),
    valid: r.u8(O.valid),
    writeable: r.u8(O.writeable),
    usermode: r.u8(O.usermode),
  };
}
