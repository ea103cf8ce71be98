/**
 * The VMCB KVM sets up for a vCPU of a default VM (init-vmcb.ts), checked against the `current`
 * kernel's arch/x86/kvm/svm/svm.c: init_vmcb's intercepts with nested paging, what
 * svm_recalc_instruction_intercepts adds for the guest's CPUID, the all-ones I/O permission map of
 * svm_hardware_setup, and the MSRs svm_recalc_msr_intercepts passes through (every other MSR stays
 * intercepted, as svm_vcpu_alloc_msrpm left it). The SEV-ES VMCB is test/sev/vmcb-intercepts.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KvmCpuidEntry2 } from '../uapi/cpuid.js';
import { KVM_MSR_FILTER_DEFAULT_ALLOW, KVM_MSR_FILTER_READ } from '../uapi/msr-filter.js';
import {
  MSR_AMD64_SEV_ES_GHCB,
  MSR_CSTAR,
  MSR_EFER,
  MSR_FS_BASE,
  MSR_GS_BASE,
  MSR_IA32_APICBASE,
  MSR_IA32_CR_PAT,
  MSR_IA32_DEBUGCTLMSR,
  MSR_IA32_LASTBRANCHFROMIP,
  MSR_IA32_PRED_CMD,
  MSR_IA32_SPEC_CTRL,
  MSR_IA32_SYSENTER_CS,
  MSR_IA32_SYSENTER_EIP,
  MSR_IA32_SYSENTER_ESP,
  MSR_IA32_TSC,
  MSR_IA32_XSS,
  MSR_KERNEL_GS_BASE,
  MSR_LSTAR,
  MSR_STAR,
  MSR_SYSCALL_MASK,
  MSR_TSC_AUX,
} from '../uapi/msr-index.js';
import {
  SVM_EXIT_EXCP_BASE,
  SVM_EXIT_INVPCID,
  SVM_EXIT_IRET,
  SVM_EXIT_RDTSCP,
  SVM_EXIT_READ_CR3,
  SVM_EXIT_VINTR,
  svmExitCodeName,
} from '../uapi/svm.js';
import { DEFAULT_CPUID } from './cpuid.js';
import { INIT_VMCB_COMMON_INTERCEPTS, interceptNames, newVm, ok, passedThrough } from './test-util.js';

const sorted = (msrs: readonly number[]): number[] => [...msrs].sort((a, b) => a - b);

/** vCPU 0 of a fresh default VM (KVM_X86_DEFAULT_VM, no irqchip), as KVM_CREATE_VCPU left it. */
function defaultVcpu() {
  const env = newVm();
  const vcpuFd = ok(env.vmFd.createVcpu(0), 'KVM_CREATE_VCPU');
  return { ...env, vcpuFd, vmcb: vcpuFd.vcpu.vmcb };
}

/** init_vmcb + svm_recalc_instruction_intercepts for DEFAULT_CPUID (no RDTSCP, no INVPCID), NPT on. */
const DEFAULT_VM_INTERCEPTS = [
  // CR: CR0/CR4 reads and writes, CR8 writes (CR3 dropped for NPT).
  'SVM_EXIT_READ_CR0',
  'SVM_EXIT_READ_CR4',
  'SVM_EXIT_WRITE_CR0',
  'SVM_EXIT_WRITE_CR4',
  'SVM_EXIT_WRITE_CR8',
  // set_dr_intercepts: DR0-7, read and write.
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((n) => `SVM_EXIT_READ_DR${n}`),
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((n) => `SVM_EXIT_WRITE_DR${n}`),
  // Exceptions: #DB, #UD, #AC, #MC (#PF dropped for NPT, #GP only for the VMware backdoor).
  'SVM_EXIT_EXCP_BASE+1',
  'SVM_EXIT_EXCP_BASE+6',
  'SVM_EXIT_EXCP_BASE+17',
  'SVM_EXIT_EXCP_BASE+18',
  'SVM_EXIT_INTR',
  'SVM_EXIT_NMI',
  'SVM_EXIT_SMI',
  'SVM_EXIT_CR0_SEL_WRITE',
  ...INIT_VMCB_COMMON_INTERCEPTS,
  'SVM_EXIT_XSETBV',
  'SVM_EXIT_RDPRU',
  'SVM_EXIT_INVPCID',
];

/** svm_recalc_msr_intercepts' unconditional pass-throughs, and SYSENTER_EIP/ESP for an AMD vCPU. */
const DEFAULT_VM_PASSTHROUGH = [
  MSR_STAR,
  MSR_IA32_SYSENTER_CS,
  MSR_IA32_SYSENTER_EIP,
  MSR_IA32_SYSENTER_ESP,
  MSR_GS_BASE,
  MSR_FS_BASE,
  MSR_KERNEL_GS_BASE,
  MSR_LSTAR,
  MSR_CSTAR,
  MSR_SYSCALL_MASK,
];

/** DEFAULT_CPUID with these leaves replacing (or added to) its own. */
function withLeaves(...leaves: KvmCpuidEntry2[]): KvmCpuidEntry2[] {
  const replaced = (e: KvmCpuidEntry2) =>
    leaves.some((l) => l.function === e.function && l.index === e.index);
  return [...DEFAULT_CPUID.filter((e) => !replaced(e)), ...leaves];
}

/** A leaf for withLeaves: zeros except `regs`. */
const leaf = (fn: number, regs: Partial<KvmCpuidEntry2>): KvmCpuidEntry2 => ({
  function: fn,
  index: 0,
  flags: 0,
  eax: 0,
  ebx: 0,
  ecx: 0,
  edx: 0,
  ...regs,
});

/** DEFAULT_CPUID's leaf 0x80000001. */
const EXT1 = DEFAULT_CPUID.find((e) => e.function === 0x8000_0001)!;

describe('init_vmcb: the intercepts of a default VM vCPU (svm.c, NPT on)', () => {
  it("are init_vmcb's, minus what nested paging drops, plus svm_recalc_instruction_intercepts'", () => {
    const { vmcb } = defaultVcpu();
    assert.deepEqual(interceptNames(vmcb), DEFAULT_VM_INTERCEPTS);
  });

  it('leave out what KVM intercepts only on demand or never here: CR3, #PF, #GP, INVLPG, VINTR, IRET, RDTSC', () => {
    const { vmcb } = defaultVcpu();
    for (const code of [
      SVM_EXIT_READ_CR3,
      SVM_EXIT_EXCP_BASE + 14,
      SVM_EXIT_EXCP_BASE + 13,
      0x79, // INVLPG
      SVM_EXIT_VINTR,
      SVM_EXIT_IRET,
      0x6e, // RDTSC
      0x8f, // the SEV-ES EFER write trap
    ])
      assert.equal(vmcb.isIntercept(code), false, svmExitCodeName(code));
  });

  it('V_INTR_MASKING is on (int_ctl bit 24)', () => {
    const { vmcb } = defaultVcpu();
    assert.equal(vmcb.intCtl, 1 << 24);
  });

  it('KVM_SET_CPUID2 recomputes RDTSCP and INVPCID (svm_vcpu_after_set_cpuid → svm_recalc_instruction_intercepts)', () => {
    const { vcpuFd, vmcb } = defaultVcpu();
    ok(
      vcpuFd.setCpuid2(
        withLeaves({ ...EXT1, edx: EXT1.edx | (1 << 27) }, leaf(7, { ebx: 1 << 10 })), // RDTSCP, INVPCID
      ),
    );
    assert.equal(vmcb.isIntercept(SVM_EXIT_RDTSCP), false, 'the guest has RDTSCP: it runs natively');
    assert.equal(vmcb.isIntercept(SVM_EXIT_INVPCID), false, 'the guest has INVPCID and NPT is on');
    ok(vcpuFd.setCpuid2(DEFAULT_CPUID));
    assert.equal(vmcb.isIntercept(SVM_EXIT_RDTSCP), true);
    assert.equal(vmcb.isIntercept(SVM_EXIT_INVPCID), true);
  });
});

describe('the I/O permission map (svm_hardware_setup: all ones)', () => {
  it('intercepts every port, for every access size', () => {
    const { vmcb } = defaultVcpu();
    for (let port = 0; port <= 0xffff; port++)
      for (const size of [1, 2, 4])
        if (!vmcb.ioIntercepted(port, size)) assert.fail(`port ${port.toString(16)} size ${size}`);
  });
});

describe('the MSR permission map (svm_vcpu_alloc_msrpm all ones, then svm_recalc_msr_intercepts)', () => {
  it('passes through exactly STAR, LSTAR, CSTAR, SYSCALL_MASK, FS/GS/KERNEL_GS_BASE and SYSENTER_CS/EIP/ESP', () => {
    const { vmcb } = defaultVcpu();
    assert.deepEqual(passedThrough(vmcb, false), sorted(DEFAULT_VM_PASSTHROUGH));
    assert.deepEqual(passedThrough(vmcb, true), sorted(DEFAULT_VM_PASSTHROUGH));
  });

  it('intercepts EFER, PAT, the GHCB MSR (SEV-ES only opens it), TSC, APIC base, XSS, TSC_AUX, SPEC_CTRL, PRED_CMD, DEBUGCTL, LBRs', () => {
    const { vmcb } = defaultVcpu();
    for (const msr of [
      MSR_EFER,
      MSR_IA32_CR_PAT,
      MSR_AMD64_SEV_ES_GHCB,
      MSR_IA32_TSC,
      MSR_IA32_APICBASE,
      MSR_IA32_XSS,
      MSR_TSC_AUX,
      MSR_IA32_SPEC_CTRL,
      MSR_IA32_PRED_CMD,
      MSR_IA32_DEBUGCTLMSR,
      MSR_IA32_LASTBRANCHFROMIP,
      0x4b56_4d00, // a KVM paravirtual MSR: outside the map, always intercepted
    ]) {
      assert.equal(vmcb.msrIntercepted(msr, false), true, `rdmsr ${msr.toString(16)}`);
      assert.equal(vmcb.msrIntercepted(msr, true), true, `wrmsr ${msr.toString(16)}`);
    }
  });

  it('follows KVM_SET_CPUID2: an Intel-compatible vCPU keeps SYSENTER_EIP/ESP intercepted; SPEC_CTRL opens up', () => {
    const { vcpuFd, vmcb } = defaultVcpu();
    // GenuineIntel in leaf 0, SPEC_CTRL (CPUID.7.0:EDX[26]).
    const intel = leaf(0, { eax: 0xd, ebx: 0x756e_6547, edx: 0x4965_6e69, ecx: 0x6c65_746e });
    ok(vcpuFd.setCpuid2(withLeaves(intel, leaf(7, { edx: 1 << 26 }))));
    assert.equal(vmcb.msrIntercepted(MSR_IA32_SYSENTER_EIP, false), true);
    assert.equal(vmcb.msrIntercepted(MSR_IA32_SYSENTER_ESP, true), true);
    assert.equal(
      vmcb.msrIntercepted(MSR_IA32_SPEC_CTRL, false),
      false,
      'V_SPEC_CTRL host, guest has SPEC_CTRL',
    );
    assert.equal(vmcb.msrIntercepted(MSR_IA32_PRED_CMD, true), false, 'IBPB writes pass through');
    assert.equal(vmcb.msrIntercepted(MSR_IA32_PRED_CMD, false), true, 'PRED_CMD reads stay intercepted');
  });

  it('never passes through an access the MSR filter denies (svm_set_intercept_for_msr → kvm_msr_allowed)', () => {
    const { vmFd, vmcb } = defaultVcpu();
    ok(
      vmFd.setMsrFilter({
        flags: KVM_MSR_FILTER_DEFAULT_ALLOW,
        ranges: [{ flags: KVM_MSR_FILTER_READ, base: MSR_STAR, nmsrs: 1, bitmap: new Uint8Array(8) }],
      }),
    );
    assert.equal(vmcb.msrIntercepted(MSR_STAR, false), true, 'the denied read now exits for userspace');
    assert.equal(vmcb.msrIntercepted(MSR_STAR, true), false, 'the write is not filtered');
    ok(vmFd.setMsrFilter({ flags: KVM_MSR_FILTER_DEFAULT_ALLOW, ranges: [] }));
    assert.equal(vmcb.msrIntercepted(MSR_STAR, false), false, 'filter gone: passed through again');
  });
});
