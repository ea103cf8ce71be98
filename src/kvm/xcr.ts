/**
 * The extended control registers (arch/x86/kvm/x86.c: __kvm_set_xcr, kvm_emulate_xsetbv): XCR0 is
 * the only one KVM knows. Used by KVM_SET_XCRS, by XSETBV's intercept and by an SEV-ES guest's
 * GHCB XCR0.
 */
import { gpr32, VCPU_REGS_RAX, VCPU_REGS_RCX, VCPU_REGS_RDX } from '../cpu/backend.js';
import { kvmCompleteInsnGp, kvmCpl } from './cache-regs.js';
import { cpuidEntry } from './cpuid.js';
import type { Vcpu } from './vcpu.js';

/** XCR_XFEATURE_ENABLED_MASK: XCR0's index. */
export const XCR_XFEATURE_ENABLED_MASK = 0;

const XFEATURE_FP = 1n;
const XFEATURE_SSE = 2n;
const XFEATURE_YMM = 4n;
const XFEATURE_BNDREGS = 8n;
const XFEATURE_BNDCSR = 16n;
const XFEATURE_AVX512 = 0xe0n;
/** XTILE_CFG (17) and XTILE_DATA (18): AMX's two components, which only go together. */
const XFEATURE_XTILE = 0x6_0000n;

/**
 * __kvm_set_xcr: true when the value is taken (KVM's 0). Refused (nothing changes): an XCR other
 * than XCR0, x87 state off, AVX without SSE, a feature the guest's CPUID 0xD.0 does not offer (or
 * the host cannot save), MPX halves apart, AVX-512 without AVX or in part, AMX in part.
 */
export function kvmSetXcr(vcpu: Vcpu, index: number, xcr: bigint): boolean {
  if (index !== XCR_XFEATURE_ENABLED_MASK) return false;
  const leaf = cpuidEntry(vcpu.cpuid, 0xd, 0);
  // guest_supported_xcr0 (cpuid_get_supported_xcr0): what the guest's CPUID 0xD.0 offers and the
  // host saves (kvm_caps.supported_xcr0); without leaf 0xD the model's guest has x87 and SSE state.
  const offered = leaf ? (BigInt(leaf.edx) << 32n) | BigInt(leaf.eax) : XFEATURE_FP | XFEATURE_SSE;
  const supported = offered & vcpu.vm.ctx.supportedXcr0;
  if (!(xcr & XFEATURE_FP)) return false;
  if (xcr & XFEATURE_YMM && !(xcr & XFEATURE_SSE)) return false;
  if (xcr & ~(supported | XFEATURE_FP)) return false;
  if (!(xcr & XFEATURE_BNDREGS) !== !(xcr & XFEATURE_BNDCSR)) return false;
  if (xcr & XFEATURE_AVX512 && (!(xcr & XFEATURE_YMM) || (xcr & XFEATURE_AVX512) !== XFEATURE_AVX512))
    return false;
  if (xcr & XFEATURE_XTILE && (xcr & XFEATURE_XTILE) !== XFEATURE_XTILE) return false;
  vcpu.xcr0 = xcr;
  return true;
}

/** __kvm_set_xcr(vcpu, 0, xcr0). */
export function kvmSetXcr0(vcpu: Vcpu, xcr0: bigint): boolean {
  return kvmSetXcr(vcpu, XCR_XFEATURE_ENABLED_MASK, xcr0);
}

/**
 * kvm_emulate_xsetbv (xsetbv_interception): XCR[ECX] := EDX:EAX at CPL 0, else #GP(0); the #UD for
 * CR4.OSXSAVE=0 has priority over the intercept, so the CPU raised it and never exited.
 */
export function kvmEmulateXsetbv(vcpu: Vcpu): number {
  const r = vcpu.regs;
  const value = (BigInt(gpr32(r, VCPU_REGS_RDX)) << 32n) | BigInt(gpr32(r, VCPU_REGS_RAX));
  return kvmCompleteInsnGp(vcpu, kvmCpl(vcpu) !== 0 || !kvmSetXcr(vcpu, gpr32(r, VCPU_REGS_RCX), value));
}
