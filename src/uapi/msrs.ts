/**
 * Byte-exact codecs for struct kvm_msrs + struct kvm_msr_entry (KVM_GET_MSRS / KVM_SET_MSRS) and
 * struct kvm_msr_list (KVM_GET_MSR_INDEX_LIST / KVM_GET_MSR_FEATURE_INDEX_LIST), from
 * arch/x86/include/uapi/asm/kvm.h. Layout (little-endian, x86-64):
 *
 * - kvm_msr_entry (16 bytes): index u32 @0, reserved u32 @4, data u64 @8.
 * - kvm_msrs (8-byte header): nmsrs u32 @0, pad u32 @4, entries[] @8 (16 bytes each).
 * - kvm_msr_list (4-byte header): nmsrs u32 @0, indices[] u32 @4.
 *
 * Both are variable-length: kvmMsrsSize(n) / kvmMsrListSize(n) give the bytes with n entries. Decoders
 * read the count and then min(count, what fits in the buffer) entries, and report the count
 * separately so a caller can tell a short buffer. Not uapi, but what a VMM runs into: KVM_GET_MSRS and
 * KVM_SET_MSRS refuse nmsrs >= 256 with E2BIG (MAX_IO_MSRS in arch/x86/kvm/x86.c); the index-list
 * ioctls write the needed count back and fail with E2BIG when nmsrs is too small.
 *
 * Offsets are exported keyed by C member name (KVM_MSR_ENTRY_OFFSETS, KVM_MSRS_OFFSETS,
 * KVM_MSR_LIST_OFFSETS); see ioctl.ts for the scheme.
 */

import { entriesThatFit, structIn, structOut } from './struct.js';

/** sizeof(struct kvm_msr_entry). */
export const KVM_MSR_ENTRY_SIZE = 16;
/** sizeof(struct kvm_msrs): the header only (entries[] is a flexible array). */
export const KVM_MSRS_SIZE = 8;
/** sizeof(struct kvm_msr_list): the header only (indices[] is a flexible array). */
export const KVM_MSR_LIST_SIZE = 4;

/** offsetof(struct kvm_msr_entry, <member>). */
export const KVM_MSR_ENTRY_OFFSETS = { index: 0, reserved: 4, data: 8 } as const;
/** offsetof(struct kvm_msrs, <member>). */
export const KVM_MSRS_OFFSETS = { nmsrs: 0, pad: 4, entries: 8 } as const;
/** offsetof(struct kvm_msr_list, <member>). */
export const KVM_MSR_LIST_OFFSETS = { nmsrs: 0, indices: 4 } as const;

/** Bytes of a struct kvm_msrs with `n` entries. */
export function kvmMsrsSize(n: number): number {
  return KVM_MSRS_SIZE + n * KVM_MSR_ENTRY_SIZE;
}

/** Bytes of a struct kvm_msr_list with `n` indices. */
export function kvmMsrListSize(n: number): number {
  return KVM_MSR_LIST_SIZE + n * 4;
}

/** struct kvm_msr_entry: one MSR (reserved is written as 0). */
export interface KvmMsrEntry {
  /** __u32 index: the MSR number. */
  index: number;
  /** __u64 data: the value. */
  data: bigint;
}

/** struct kvm_msrs: a count and the entries. */
export interface KvmMsrs {
  /** __u32 nmsrs: the count KVM reads (on decode: as found in the buffer, whatever fits). */
  nmsrs: number;
  /** struct kvm_msr_entry entries[]: on decode, min(nmsrs, what fits) entries. */
  entries: KvmMsrEntry[];
}

/** struct kvm_msr_list: a count and the MSR indices. */
export interface KvmMsrList {
  /** __u32 nmsrs: in, the room in indices[]; out, the number of MSRs KVM has. */
  nmsrs: number;
  /** __u32 indices[]: on decode, min(nmsrs, what fits) indices. */
  indices: number[];
}

/**
 * Encodes struct kvm_msrs with room for max(nmsrs, entries.length) entries (the entries given, the
 * rest zero) into `dst` at offset 0 (default: a fresh buffer of exactly that size) and returns it.
 * `nmsrs` is written as given, so a caller can ask KVM_GET_MSRS for entries it leaves zero.
 */
export function encodeMsrs(value: KvmMsrs, dst?: Uint8Array): Uint8Array {
  const size = kvmMsrsSize(Math.max(value.nmsrs, value.entries.length));
  const { bytes, w } = structOut(dst, size, 'kvm_msrs');
  w.u32(KVM_MSRS_OFFSETS.nmsrs, 'nmsrs', value.nmsrs);
  value.entries.forEach((e, i) => {
    const ew = w.at(KVM_MSRS_OFFSETS.entries + i * KVM_MSR_ENTRY_SIZE, `entries[${i}]`);
    ew.u32(KVM_MSR_ENTRY_OFFSETS.index, 'index', e.index);
    ew.u64(KVM_MSR_ENTRY_OFFSETS.data, 'data', e.data);
  });
  return bytes;
}

/**
 * Decodes struct kvm_msrs: nmsrs, then min(nmsrs, (bytes.length - 8) / 16) entries. RangeError when
 * fewer than the 8 header bytes are given.
 */
export function decodeMsrs(bytes: Uint8Array): KvmMsrs {
  const nmsrs = structIn(bytes, KVM_MSRS_SIZE, 'kvm_msrs').u32(KVM_MSRS_OFFSETS.nmsrs);
  const n = entriesThatFit(nmsrs, bytes.length, KVM_MSRS_SIZE, KVM_MSR_ENTRY_SIZE);
  const r = structIn(bytes, kvmMsrsSize(n), 'kvm_msrs');
  const entries: KvmMsrEntry[] = [];
  for (let i = 0; i < n; i++) {
    const er = r.at(KVM_MSRS_OFFSETS.entries + i * KVM_MSR_ENTRY_SIZE);
    entries.push({ index: er.u32(KVM_MSR_ENTRY_OFFSETS.index), data: er.u64(KVM_MSR_ENTRY_OFFSETS.data) });
  }
  return { nmsrs, entries };
}

/**
 * Encodes struct kvm_msr_list with room for max(nmsrs, indices.length) indices into `dst` at offset
 * 0 (default: a fresh buffer of exactly that size) and returns it; `nmsrs` is written as given.
 */
export function encodeMsrList(value: KvmMsrList, dst?: Uint8Array): Uint8Array {
  const size = kvmMsrListSize(Math.max(value.nmsrs, value.indices.length));
  const { bytes, w } = structOut(dst, size, 'kvm_msr_list');
  w.u32(KVM_MSR_LIST_OFFSETS.nmsrs, 'nmsrs', value.nmsrs);
  value.indices.forEach((idx, i) => {
    w.u32(KVM_MSR_LIST_OFFSETS.indices + 4 * i, `indices[${i}]`, idx);
  });
  return bytes;
}

/**
 * Decodes struct kvm_msr_list: nmsrs, then min(nmsrs, (bytes.length - 4) / 4) indices. RangeError
 * when fewer than the 4 header bytes are given.
 */
export function decodeMsrList(bytes: Uint8Array): KvmMsrList {
  const nmsrs = structIn(bytes, KVM_MSR_LIST_SIZE, 'kvm_msr_list').u32(KVM_MSR_LIST_OFFSETS.nmsrs);
  const n = entriesThatFit(nmsrs, bytes.length, KVM_MSR_LIST_SIZE, 4);
  const r = structIn(bytes, kvmMsrListSize(n), 'kvm_msr_list');
  const indices: number[] = [];
  for (let i = 0; i < n; i++) indices.push(r.u32(KVM_MSR_LIST_OFFSETS.indices + 4 * i));
  return { nmsrs, indices };
}
