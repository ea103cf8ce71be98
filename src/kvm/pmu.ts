/**
 * RDPMC with KVM's default AMD vPMU (arch/x86/kvm/pmu.c kvm_pmu_rdpmc, svm/pmu.c): version 1 with
 * four counters, six when the guest's CPUID 0x80000001 ECX has PERFCTR_CORE; a counter nobody
 * programmed reads 0 (the model starts no perf events). #GP for an index without a counter, or from
 * CPL > 0 with CR4.PCE clear in protected mode. v5.17 ignores index bits 31:30 on AMD (bit 31 asks
 * for a 32-bit "fast" read); since 6.10 an index with either bit set has no counter.
 */
import { CR0_PE, gpr32, setGpr32, VCPU_REGS_RAX, VCPU_REGS_RCX, VCPU_REGS_RDX } from '../cpu/backend.js';
import { kvmCpl, kvmInjectGp, kvmReadCr0, kvmReadCr4, kvmSkipEmulatedInstruction } from './cache-regs.js';
import { cpuidEntry } from './cpuid.js';
import type { Vcpu } from './vcpu.js';

/** AMD64_NUM_COUNTERS and AMD64_NUM_COUNTERS_CORE. */
const AMD64_NUM_COUNTERS = 4;
const AMD64_NUM_COUNTERS_CORE = 6;
const X86_FEATURE_PERFCTR_CORE = 1 << 23;
const X86_CR4_PCE = 1 << 8;

/** amd_pmu_refresh: the general-purpose counters the guest's CPUID gives it. */
export function amdPmuCounters(vcpu: Vcpu): number {
  const ext = cpuidEntry(vcpu.cpuid, 0x8000_0001, 0);
  return ext && ext.ecx & X86_FEATURE_PERFCTR_CORE ? AMD64_NUM_COUNTERS_CORE : AMD64_NUM_COUNTERS;
}

/** kvm_pmu_rdpmc: the counter's value, or undefined for #GP. */
export function kvmPmuRdpmc(vcpu: Vcpu, ecx: number): bigint | undefined {
  let idx = ecx >>> 0;
  let mask = (1n << 64n) - 1n;
  if (vcpu.vm.core.rdpmcIgnoresHighBits) {
    if (idx & 0x8000_0000) mask = 0xffff_ffffn; // fast_mode
    idx &= 0x3fff_ffff;
  }
  if (idx >= amdPmuCounters(vcpu)) return undefined;
  const pe = (kvmReadCr0(vcpu) & CR0_PE) !== 0;
  if (!(kvmReadCr4(vcpu) & X86_CR4_PCE) && kvmCpl(vcpu) !== 0 && pe) return undefined;
  return vcpu.pmcs[idx]! & mask;
}

/** kvm_emulate_rdpmc: EDX:EAX = the counter, or #GP (injected, also for an SEV-ES guest). */
export function rdpmcInterception(vcpu: Vcpu): number {
  const r = vcpu.regs;
  const data = kvmPmuRdpmc(vcpu, gpr32(r, VCPU_REGS_RCX));
  if (data === undefined) {
    kvmInjectGp(vcpu);
    return 1;
  }
  setGpr32(r, VCPU_REGS_RAX, Number(data & 0xffff_ffffn));
  setGpr32(r, VCPU_REGS_RDX, Number((data >> 32n) & 0xffff_ffffn));
  return kvmSkipEmulatedInstruction(vcpu);
}
