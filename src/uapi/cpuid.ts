/**
 * Byte-exact codec for struct kvm_cpuid2 + struct kvm_cpuid_entry2 (KVM_SET_CPUID2, KVM_GET_CPUID2,
 * KVM_GET_SUPPORTED_CPUID, KVM_GET_EMULATED_CPUID), from arch/x86/include/uapi/asm/kvm.h. Layout
 * (little-endian, x86-64):
 *
 * - kvm_cpuid_entry2 (40 bytes): function u32 @0, index u32 @4, flags u32 @8, eax @12, ebx @16,
 *   ecx @20, edx @24 (u32 each), padding[3] u32 @28.
 * - kvm_cpuid2 (8-byte header): nent u32 @0, padding u32 @4, entries[] @8 (40 bytes each).
 *
 * Variable-length: kvmCpuid2Size(n) gives the bytes with n entries; decodeCpuid2 reads nent and then
 * min(nent, what fits) entries and reports nent separately. For the GET ioctls userspace sets nent to
 * the room it has; KVM writes back the number it filled (E2BIG when the room is too small).
 *
 * Offsets are exported keyed by C member name (KVM_CPUID_ENTRY2_OFFSETS, KVM_CPUID2_OFFSETS); see
 * ioctl.ts for the scheme.
 */

import { entriesThatFit, structIn, structOut } from './struct.js';

/** kvm_cpuid_entry2.flags: the leaf has sub-leaves; `index` selects one (spelled as in the header). */
export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0;
/** kvm_cpuid_entry2.flags: stateful leaf (obsolete; leaf 2 on old CPUs). */
export const KVM_CPUID_FLAG_STATEFUL_FUNC = 1 << 1;
/** kvm_cpuid_entry2.flags: next entry to read for a stateful leaf (obsolete). */
export const KVM_CPUID_FLAG_STATE_READ_NEXT = 1 << 2;

/** sizeof(struct kvm_cpuid_entry2). */
export const KVM_CPUID_ENTRY2_SIZE = 40;
/** sizeof(struct kvm_cpuid2): the header only (entries[] is a flexible array). */
export const KVM_CPUID2_SIZE = 8;

/** offsetof(struct kvm_cpuid_entry2, <member>). */
export const KVM_CPUID_ENTRY2_OFFSETS = {
  function: 0,
  index: 4,
  flags: 8,
  eax: 12,
  ebx: 16,
  ecx: 20,
  edx: 24,
  padding: 28,
} as const;
/** offsetof(struct kvm_cpuid2, <member>). */
export const KVM_CPUID2_OFFSETS = { nent: 0, padding: 4, entries: 8 } as const;

/** Bytes of a struct kvm_cpuid2 with `n` entries. */
export function kvmCpuid2Size(n: number): number {
  return KVM_CPUID2_SIZE + n * KVM_CPUID_ENTRY2_SIZE;
}

/** struct kvm_cpuid_entry2: one CPUID leaf/sub-leaf (padding is written as 0). */
export interface KvmCpuidEntry2 {
  /** __u32 function: the leaf (EAX input). */
  function: number;
  /** __u32 index: the sub-leaf (ECX input), meaningful with KVM_CPUID_FLAG_SIGNIFCANT_INDEX. */
  index: number;
  /** __u32 flags: KVM_CPUID_FLAG_*. */
  flags: number;
  /** __u32 eax. */
  eax: number;
  /** __u32 ebx. */
  ebx: number;
  /** __u32 ecx. */
  ecx: number;
  /** __u32 edx. */
  edx: number;
}

/** struct kvm_cpuid2: a count and the entries. */
export interface KvmCpuid2 {
  /** __u32 nent: the count (on decode: as found in the buffer, whatever fits). */
  nent: number;
  /** struct kvm_cpuid_entry2 entries[]: on decode, min(nent, what fits) entries. */
  entries: KvmCpuidEntry2[];
}

const REGS = ['function', 'index', 'flags', 'eax', 'ebx', 'ecx', 'edx'] as const;

/**
 * Encodes struct kvm_cpuid2 with room for max(nent, entries.length) entries (the entries given, the
 * rest zero) into `dst` at offset 0 (default: a fresh buffer of exactly that size) and returns it;
 * `nent` is written as given.
 */
export function encodeCpuid2(value: KvmCpuid2, dst?: Uint8Array): Uint8Array {
  const { bytes, w } = structOut(
    dst,
    kvmCpuid2Size(Math.max(value.nent, value.entries.length)),
    'kvm_cpuid2',
  );
  w.u32(KVM_CPUID2_OFFSETS.nent, 'nent', value.nent);
  value.entries.forEach((e, i) => {
    const ew = w.at(KVM_CPUID2_OFFSETS.entries + i * KVM_CPUID_ENTRY2_SIZE, `entries[${i}]`);
    for (const f of REGS) ew.u32(KVM_CPUID_ENTRY2_OFFSETS[f], f, e[f]);
  });
  return bytes;
}

/**
 * Decodes struct kvm_cpuid2: nent, then min(nent, (bytes.length - 8) / 40) entries. RangeError when
 * fewer than the 8 header bytes are given.
 */
export function decodeCpuid2(bytes: Uint8Array): KvmCpuid2 {
  const nent = structIn(bytes, KVM_CPUID2_SIZE, 'kvm_cpuid2').u32(KVM_CPUID2_OFFSETS.nent);
  const n = entriesThatFit(nent, bytes.length, KVM_CPUID2_SIZE, KVM_CPUID_ENTRY2_SIZE);
  const r = structIn(bytes, kvmCpuid2Size(n), 'kvm_cpuid2');
  const entries: KvmCpuidEntry2[] = [];
  for (let i = 0; i < n; i++) {
    const er = r.at(KVM_CPUID2_OFFSETS.entries + i * KVM_CPUID_ENTRY2_SIZE);
    const e = {} as KvmCpuidEntry2;
    for (const f of REGS) e[f] = er.u32(KVM_CPUID_ENTRY2_OFFSETS[f]);
    entries.push(e);
  }
  return { nent, entries };
}
