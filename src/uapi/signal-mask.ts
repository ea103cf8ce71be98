/**
 * Byte-exact codec for struct kvm_signal_mask (KVM_SET_SIGNAL_MASK), from include/uapi/linux/kvm.h.
 * Layout (little-endian, x86-64): len u32 @0, sigset[] u8 @4 (flexible); sizeof 4. KVM requires len
 * to be the kernel's sigset_t size, 8 on x86-64 (else EINVAL); KVM_SET_SIGNAL_MASK with a NULL
 * argument clears the mask instead.
 *
 * Variable-length: kvmSignalMaskSize(n) gives the bytes with an n-byte sigset; decodeSignalMask reads
 * len and then min(len, what fits) bytes and reports len separately.
 *
 * Offsets are exported keyed by C member name (KVM_SIGNAL_MASK_OFFSETS); see ioctl.ts for the scheme.
 */

import { entriesThatFit, structIn, structOut } from './struct.js';

/** sizeof(struct kvm_signal_mask): the header only (sigset[] is a flexible array). */
export const KVM_SIGNAL_MASK_SIZE = 4;
/** The sigset length KVM accepts on x86-64: sizeof(sigset_t) in the kernel (64 signals). */
export const KVM_SIGSET_BYTES = 8;

/** offsetof(struct kvm_signal_mask, <member>). */
export const KVM_SIGNAL_MASK_OFFSETS = { len: 0, sigset: 4 } as const;

/** Bytes of a struct kvm_signal_mask with an `n`-byte sigset. */
export function kvmSignalMaskSize(n: number): number {
  return KVM_SIGNAL_MASK_SIZE + n;
}

/** struct kvm_signal_mask. */
export interface KvmSignalMask {
  /** __u32 len: bytes of sigset (on decode: as found in the buffer). */
  len: number;
  /** __u8 sigset[]: the mask, bit n - 1 = signal n; on decode, min(len, what fits) bytes. */
  sigset: Uint8Array;
}

/**
 * Encodes struct kvm_signal_mask with room for max(len, sigset.length) sigset bytes (the rest zero)
 * into `dst` at offset 0 (default: a fresh buffer of exactly that size) and returns it.
 */
export function encodeSignalMask(value: KvmSignalMask, dst?: Uint8Array): Uint8Array {
  const size = kvmSignalMaskSize(Math.max(value.len, value.sigset.length));
  const { bytes, w } = structOut(dst, size, 'kvm_signal_mask');
  w.u32(KVM_SIGNAL_MASK_OFFSETS.len, 'len', value.len);
  w.bytes(KVM_SIGNAL_MASK_OFFSETS.sigset, 'sigset', value.sigset, value.sigset.length);
  return bytes;
}

/** Decodes struct kvm_signal_mask: len, then min(len, bytes.length - 4) bytes. RangeError below 4 bytes. */
export function decodeSignalMask(bytes: Uint8Array): KvmSignalMask {
  const len = structIn(bytes, KVM_SIGNAL_MASK_SIZE, 'kvm_signal_mask').u32(KVM_SIGNAL_MASK_OFFSETS.len);
  const n = entriesThatFit(len, bytes.length, KVM_SIGNAL_MASK_SIZE, 1);
  return {
    len,
    sigset: structIn(bytes, kvmSignalMaskSize(n), 'kvm_signal_mask').bytes(KVM_SIGNAL_MASK_OFFSETS.sigset, n),
  };
}
