/**
 * The guest CPUID table (KVM_SET_CPUID2) and its lookup (kvm_cpuid): on AMD, a leaf with no entry
 * reads as zeros. The default table describes an AMD CPU with SEV-ES, C-bit at position 51.
 *
 * Some bits are not in the table but follow the vCPU's state (arch/x86/kvm/cpuid.c,
 * kvm_update_cpuid_runtime): leaf 1 ECX.OSXSAVE = CR4.OSXSAVE, leaf 1 EDX.APIC = the APIC-base
 * MSR's enable bit, leaf 7 ECX.OSPKE = CR4.PKE, leaf 0xD EBX = the XSAVE area size for the XCR0
 * the guest enabled (for an SEV-ES guest: the XCR0 its GHCB carried). v5.17 rewrites the entries
 * whenever one of those changes, 6.14+ when CPUID is next emulated; both read the same, which is
 * what this lookup returns.
 */
import { KVM_CPUID_FLAG_SIGNIFCANT_INDEX, type KvmCpuidEntry2 } from '../uapi/cpuid.js';
import { DEFAULT_CBIT } from '../uapi/ghcb.js';
import { MSR_IA32_APICBASE, MSR_IA32_APICBASE_ENABLE } from '../uapi/msr-index.js';
import { kvmReadCr4 } from './cache-regs.js';
import type { Vcpu } from './vcpu.js';

/** One leaf/sub-leaf (struct kvm_cpuid_entry2). */
export type CpuidEntry = Readonly<KvmCpuidEntry2>;

const le32 = (s: string): number =>
  s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24);

/** Leaves whose sub-leaf index matters (KVM sets KVM_CPUID_FLAG_SIGNIFCANT_INDEX on them). */
const INDEXED = new Set([
  0x4, 0x7, 0xb, 0xd, 0xf, 0x10, 0x12, 0x14, 0x1d, 0x1e, 0x1f, 0x24, 0x8000001d, 0x80000020,
]);

type Leaf = Omit<CpuidEntry, 'flags'>;
// Registers as u32 (the table's literals OR bits into bit 31, which JS makes negative).
const withFlags = (e: Leaf): CpuidEntry => ({
  ...e,
  eax: e.eax >>> 0,
  ebx: e.ebx >>> 0,
  ecx: e.ecx >>> 0,
  edx: e.edx >>> 0,
  flags: INDEXED.has(e.function) ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0,
});

/** A small AMD-flavoured table: vendor, max leaves, XSAVE (x87, SSE, AVX), and the SEV leaf. */
export const DEFAULT_CPUID: readonly CpuidEntry[] = (<Leaf[]>[
  { function: 0, index: 0, eax: 0xd, ebx: le32('Auth'), edx: le32('enti'), ecx: le32('cAMD') },
  // EBX: CLFLUSH line size 8 quadwords (64 bytes; firmware strides its cache flushes by it).
  // ECX: SSE3, XSAVE (26), hypervisor (31); OSXSAVE (27) and EDX.APIC (9) are runtime bits.
  { function: 1, index: 0, eax: 0x00a00f11, ebx: 8 << 8, ecx: 0x80000000 | (1 << 26) | 1, edx: 0x178bfbff },
  { function: 0xd, index: 0, eax: 0x7, ebx: 0x240, ecx: 0x340, edx: 0 },
  { function: 0xd, index: 2, eax: 256, ebx: 576, ecx: 0, edx: 0 },
  {
    function: 0x80000000,
    index: 0,
    eax: 0x8000001f,
    ebx: le32('Auth'),
    edx: le32('enti'),
    ecx: le32('cAMD'),
  },
  // 0x80000001: ECX LAHF/SAHF (0), ABM (5); EDX SYSCALL (11), NX (20), LM (29). No PERFCTR_CORE (23):
  // the vPMU has AMD64_NUM_COUNTERS (4) general-purpose counters.
  { function: 0x80000001, index: 0, eax: 0x00a00f11, ebx: 0, ecx: 0x21, edx: 0x20100800 },
  // 0x80000008: EAX physical (7:0) and linear (15:8) address widths, 48 each (MAXPHYADDR).
  { function: 0x80000008, index: 0, eax: 0x3030, ebx: 0, ecx: 0, edx: 0 },
  // 0x8000001F: EAX bit 0 SME, bit 1 SEV, bit 3 SEV-ES; EBX[5:0] C-bit position.
  { function: 0x8000001f, index: 0, eax: 0b1011, ebx: DEFAULT_CBIT | (1 << 6), ecx: 509, edx: 100 },
]).map(withFlags);

/**
 * The host's XSAVE layout (CPUID 0xD sub-leaf i: size, standard offset, compacted-64-byte-aligned),
 * as xstate_required_size reads it: an AMD EPYC (Zen 4) host.
 */
const HOST_XSTATE: ReadonlyMap<number, { size: number; offset: number; align64: boolean }> = new Map([
  [2, { size: 256, offset: 576, align64: false }], // AVX (YMM_Hi128)
  [5, { size: 64, offset: 832, align64: false }], // AVX-512 opmask
  [6, { size: 512, offset: 896, align64: false }], // ZMM_Hi256
  [7, { size: 1024, offset: 1408, align64: false }], // Hi16_ZMM
  [9, { size: 8, offset: 2432, align64: false }], // PKRU
  [11, { size: 16, offset: 0, align64: false }], // CET_U (supervisor, XSS)
  [12, { size: 24, offset: 0, align64: false }], // CET_S
]);

/** Every state component of HOST_XSTATE (the default host's CPU has them all). */
export const HOST_XSTATE_ALL = (1n << 64n) - 1n;

/**
 * xstate_required_size: the XSAVE area for the features in `xstateBv` (legacy area and header
 * included), from the host's CPUID 0xD sub-leaves. `hostXstate`: the components the host CPU has
 * (the sub-leaf of any other reads as zeros, so it adds nothing).
 */
export function xstateRequiredSize(
  xstateBv: bigint,
  compacted: boolean,
  hostXstate = HOST_XSTATE_ALL,
): number {
  let ret = 512 + 64;
  const bv = xstateBv & hostXstate;
  for (let i = 2; i < 64; i++) {
    if (!((bv >> BigInt(i)) & 1n)) continue;
    const f = HOST_XSTATE.get(i);
    if (!f) continue;
    const offset = compacted ? (f.align64 ? Math.ceil(ret / 64) * 64 : ret) : f.offset;
    ret = Math.max(ret, offset + f.size);
  }
  return ret;
}

/**
 * KVM_SUPPORTED_XCR0 (arch/x86/kvm/x86.c): the XSAVE state components KVM can give a guest at all:
 * x87, SSE, AVX, MPX (BNDREGS, BNDCSR), AVX-512 (opmask, ZMM_Hi256, Hi16_ZMM), PKRU, AMX (XTILE_CFG,
 * XTILE_DATA).
 */
export const KVM_SUPPORTED_XCR0 = 0x6_02ffn;

/**
 * The XCR0 of the host the default table describes (an EPYC Zen 4, as HOST_XSTATE): x87, SSE, AVX,
 * AVX-512 and PKRU. KVM takes kvm_caps.supported_xcr0 = host XCR0 & KVM_SUPPORTED_XCR0 at load time
 * (kvm_x86_vendor_init); a model whose CPUs save less (the x86 interpreter) gives its own.
 */
export const DEFAULT_HOST_XCR0 = 0x2e7n;

/** EDX:EAX of a CPUID entry (leaf 0xD.0: the XCR0 bits it offers). */
const edxEax = (e: CpuidEntry): bigint => (BigInt(e.edx >>> 0) << 32n) | BigInt(e.eax >>> 0);

/**
 * KVM_GET_SUPPORTED_CPUID's table for kvm_caps.supported_xcr0 = `supportedXcr0`: DEFAULT_CPUID where
 * the host saves every state component its leaf 0xD offers; otherwise leaf 0xD as __do_cpuid_func
 * builds it from the host's: EDX:EAX of sub-leaf 0 masked to what the host saves, EBX = ECX =
 * xstate_required_size of that, and no sub-leaf for a component the host lacks.
 */
export function supportedCpuid(supportedXcr0: bigint): readonly CpuidEntry[] {
  const leaf = cpuidEntry(DEFAULT_CPUID, 0xd, 0);
  if (!leaf || (edxEax(leaf) & ~supportedXcr0) === 0n) return DEFAULT_CPUID;
  const permitted = edxEax(leaf) & supportedXcr0;
  const size = xstateRequiredSize(permitted, false);
  return DEFAULT_CPUID.flatMap((e) => {
    if (e.function !== 0xd) return [e];
    if (e.index === 0)
      return [
        { ...e, eax: Number(permitted & 0xffff_ffffn), edx: Number(permitted >> 32n), ebx: size, ecx: size },
      ];
    return e.index >= 2 && e.index < 64 && !((permitted >> BigInt(e.index)) & 1n) ? [] : [e];
  });
}

/** cpuid_entry2_find: the entry for (function, index) (the index only where the entry says it matters). */
export function cpuidEntry(table: readonly CpuidEntry[], fn: number, index: number): CpuidEntry | undefined {
  const f = fn >>> 0;
  const i = index >>> 0;
  for (const e of table) {
    if (e.function === f && (e.index === i || !(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX))) return e;
  }
  return undefined;
}

/** Where a CPUID feature bit lives (an X86_FEATURE_* of arch/x86/include/asm/cpufeatures.h). */
export interface CpuidFeature {
  readonly function: number;
  readonly index: number;
  readonly reg: 'eax' | 'ebx' | 'ecx' | 'edx';
  readonly bit: number;
}

/** The X86_FEATURE_* bits KVM's intercept decisions and CR4/EFER/DR6 checks read from the guest's CPUID. */
export const X86_FEATURE = {
  VMX: { function: 1, index: 0, reg: 'ecx', bit: 5 },
  PCID: { function: 1, index: 0, reg: 'ecx', bit: 17 },
  XSAVE: { function: 1, index: 0, reg: 'ecx', bit: 26 },
  FSGSBASE: { function: 7, index: 0, reg: 'ebx', bit: 0 },
  SMEP: { function: 7, index: 0, reg: 'ebx', bit: 7 },
  RTM: { function: 7, index: 0, reg: 'ebx', bit: 11 },
  SMAP: { function: 7, index: 0, reg: 'ebx', bit: 20 },
  UMIP: { function: 7, index: 0, reg: 'ecx', bit: 2 },
  PKU: { function: 7, index: 0, reg: 'ecx', bit: 3 },
  SHSTK: { function: 7, index: 0, reg: 'ecx', bit: 7 },
  LA57: { function: 7, index: 0, reg: 'ecx', bit: 16 },
  BUS_LOCK_DETECT: { function: 7, index: 0, reg: 'ecx', bit: 24 },
  NX: { function: 0x80000001, index: 0, reg: 'edx', bit: 20 },
  LM: { function: 0x80000001, index: 0, reg: 'edx', bit: 29 },
  RDTSCP: { function: 0x80000001, index: 0, reg: 'edx', bit: 27 },
  INVPCID: { function: 7, index: 0, reg: 'ebx', bit: 10 },
  RDPID: { function: 7, index: 0, reg: 'ecx', bit: 22 },
  SPEC_CTRL: { function: 7, index: 0, reg: 'edx', bit: 26 },
  FLUSH_L1D: { function: 7, index: 0, reg: 'edx', bit: 28 },
  XSAVES: { function: 0xd, index: 1, reg: 'eax', bit: 3 },
  AMD_IBPB: { function: 0x80000008, index: 0, reg: 'ebx', bit: 12 },
  AMD_IBRS: { function: 0x80000008, index: 0, reg: 'ebx', bit: 14 },
  AMD_STIBP: { function: 0x80000008, index: 0, reg: 'ebx', bit: 15 },
  AMD_SSBD: { function: 0x80000008, index: 0, reg: 'ebx', bit: 24 },
  SBPB: { function: 0x80000021, index: 0, reg: 'eax', bit: 27 },
} as const satisfies Record<string, CpuidFeature>;

/** guest_cpuid_has: the bit in the table as KVM_SET_CPUID2 gave it (no runtime bits: none of these is one). */
export function guestCpuidHas(table: readonly CpuidEntry[], f: CpuidFeature): boolean {
  const e = cpuidEntry(table, f.function, f.index);
  return e !== undefined && ((e[f.reg] >>> f.bit) & 1) === 1;
}

/** The vendors is_guest_vendor_amd / is_guest_vendor_hygon accept, as leaf 0's EBX-EDX-ECX. */
const AMD_COMPATIBLE_VENDORS = new Set(['AuthenticAMD', 'AMDisbetter!', 'HygonGenuine']);

/**
 * guest_cpuid_is_intel_compatible = !is_amd_compatible (arch/x86/kvm/cpuid.h, 6.10+): any vCPU
 * whose leaf 0 does not name AMD or Hygon (a table without leaf 0 included) is "Intel compatible".
 */
export function guestCpuidIsIntelCompatible(table: readonly CpuidEntry[]): boolean {
  const e = cpuidEntry(table, 0, 0);
  if (!e) return true;
  const s = (v: number): string =>
    String.fromCharCode(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
  return !AMD_COMPATIBLE_VENDORS.has(s(e.ebx) + s(e.edx) + s(e.ecx));
}

const X86_CR4_OSXSAVE = 1 << 18;
const X86_CR4_PKE = 1 << 22;

/** kvm_cpuid: the entry for (function, index) with the runtime bits applied, or zeros. */
export function kvmCpuid(vcpu: Vcpu, fn: number, index: number): CpuidEntry {
  const e = cpuidEntry(vcpu.cpuid, fn, index);
  if (!e) return { function: fn >>> 0, index: index >>> 0, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: 0 };
  switch (e.function) {
    case 1: {
      const cr4 = kvmReadCr4(vcpu);
      const apicOn = ((vcpu.msrs.get(MSR_IA32_APICBASE) ?? 0n) & MSR_IA32_APICBASE_ENABLE) !== 0n;
      const osxsave = e.ecx & (1 << 26) && cr4 & X86_CR4_OSXSAVE ? 1 << 27 : 0;
      return {
        ...e,
        ecx: ((e.ecx & ~(1 << 27)) | osxsave) >>> 0,
        edx: ((e.edx & ~(1 << 9)) | (apicOn ? 1 << 9 : 0)) >>> 0,
      };
    }
    case 7:
      if (e.index !== 0) return e;
      return { ...e, ecx: ((e.ecx & ~(1 << 4)) | (kvmReadCr4(vcpu) & X86_CR4_PKE ? 1 << 4 : 0)) >>> 0 };
    case 0xd:
      if (e.index === 0) return { ...e, ebx: xstateRequiredSize(vcpu.xcr0, false, vcpu.vm.ctx.hostXstate) };
      if (e.index === 1 && e.eax & 0b1010) {
        const bv = vcpu.vm.core.xssInXsaveSize ? vcpu.xcr0 | vcpu.xss : vcpu.xcr0;
        return { ...e, ebx: xstateRequiredSize(bv, true, vcpu.vm.ctx.hostXstate) };
      }
      return e;
    default:
      return e;
  }
}
