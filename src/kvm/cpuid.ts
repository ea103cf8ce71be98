/**
 * The guest CPUID table (KVM_SET_CPUID2) and its lookup (kvm_cpuid): on AMD, a leaf with no entry
 * reads as zeros. The default table describes an AMD CPU with SEV-ES, C-bit at position 51.
 */
export interface CpuidEntry {
  readonly function: number;
  readonly index: number;
  readonly eax: number;
  readonly ebx: number;
  readonly ecx: number;
  readonly edx: number;
}

/** The C-bit position the default table reports in CPUID 0x8000001F EBX[5:0]. */
export const DEFAULT_CBIT = 51;

const le32 = (s: string): number =>
  s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24);

/** A small AMD-flavoured table: vendor, max leaves, and the SEV leaf. */
export const DEFAULT_CPUID: readonly CpuidEntry[] = [
  { function: 0, index: 0, eax: 0xd, ebx: le32('Auth'), edx: le32('enti'), ecx: le32('cAMD') },
  { function: 1, index: 0, eax: 0x00a00f11, ebx: 0, ecx: 0x80000000 | (1 << 3), edx: 0x178bfbff },
  { function: 0xd, index: 0, eax: 0x7, ebx: 0x340, ecx: 0x340, edx: 0 },
  {
    function: 0x80000000,
    index: 0,
    eax: 0x8000001f,
    ebx: le32('Auth'),
    edx: le32('enti'),
    ecx: le32('cAMD'),
  },
  // 0x8000001F: EAX bit 0 SME, bit 1 SEV, bit 3 SEV-ES; EBX[5:0] C-bit position.
  { function: 0x8000001f, index: 0, eax: 0b1011, ebx: DEFAULT_CBIT | (1 << 6), ecx: 509, edx: 100 },
];

/** Leaves whose sub-leaf index matters (KVM_CPUID_FLAG_SIGNIFCANT_INDEX). */
const INDEXED = new Set([
  0x4, 0x7, 0xb, 0xd, 0xf, 0x10, 0x12, 0x14, 0x1d, 0x1e, 0x1f, 0x24, 0x8000001d, 0x80000020,
]);

/** kvm_cpuid: the entry for (function, index), or zeros. */
export function kvmCpuid(table: readonly CpuidEntry[], fn: number, index: number): CpuidEntry {
  const f = fn >>> 0;
  const i = index >>> 0;
  for (const e of table) {
    // The index test first: it settles the common sub-leaf 0 without the set lookup.
    if (e.function === f && (e.index === i || !INDEXED.has(f))) return e;
  }
  return { function: f, index: i, eax: 0, ebx: 0, ecx: 0, edx: 0 };
}
