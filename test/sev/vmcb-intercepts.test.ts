/**
 * The VMCB KVM sets up for an SEV-ES vCPU (src/sev/init-vmcb.ts), checked against the `current`
 * kernel: init_vmcb (arch/x86/kvm/svm/svm.c) as for any vCPU, then sev_init_vmcb and
 * sev_es_init_vmcb (arch/x86/kvm/svm/sev.c): no #UD/#GP intercepts; no CR read/write or selective
 * CR0 intercepts but the EFER, CR0, CR4 and CR8 write traps; of the DR intercepts only DR7's (no
 * DebugSwap); no XSETBV. The MSR permission map adds sev_es_recalc_msr_intercepts' pass-throughs
 * (GHCB MSR, EFER, PAT). Both ways to an SEV-ES VM give the same VMCB (KVM_SEV_INIT2 on a
 * KVM_X86_SEV_ES_VM, KVM_SEV_ES_INIT on a default VM). The default VM's VMCB is
 * src/kvm/init-vmcb.test.ts; which of these exits are automatic is docs/x86-intercepts.md.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INTERCEPT_BITS, sevEsExitIsAutomatic } from '../../src/cpu/backend.js';
import type { ModelVmFd } from '../../src/kvm/fd.js';
import { INIT_VMCB_COMMON_INTERCEPTS, interceptNames, ok, passedThrough } from '../../src/kvm/test-util.js';
import type { KvmCpuidEntry2 } from '../../src/uapi/cpuid.js';
import {
  MSR_AMD64_GUEST_TSC_FREQ,
  MSR_AMD64_SEV_ES_GHCB,
  MSR_CSTAR,
  MSR_EFER,
  MSR_FS_BASE,
  MSR_GS_BASE,
  MSR_IA32_CR_PAT,
  MSR_IA32_DEBUGCTLMSR,
  MSR_IA32_LASTBRANCHFROMIP,
  MSR_IA32_SYSENTER_CS,
  MSR_IA32_SYSENTER_EIP,
  MSR_IA32_SYSENTER_ESP,
  MSR_IA32_XSS,
  MSR_KERNEL_GS_BASE,
  MSR_LSTAR,
  MSR_STAR,
  MSR_SYSCALL_MASK,
  MSR_TSC_AUX,
} from '../../src/uapi/msr-index.js';
import { svmExitCodeName } from '../../src/uapi/svm.js';
import { createSevEsVm, openSevKvm } from './kit.js';

/** vCPU 0 of an SEV-ES VM of the current kernel (`legacy`: KVM_CREATE_VM(0) + KVM_SEV_ES_INIT). */
function sevEsVcpu(legacy: boolean) {
  const w = openSevKvm('current');
  const vm: ModelVmFd = createSevEsVm(w, 1, legacy);
  const vcpuFd = ok(vm.createVcpu(0), 'KVM_CREATE_VCPU');
  return { vm, vcpuFd, vmcb: vcpuFd.vcpu.vmcb };
}

/** init_vmcb (NPT), then sev_init_vmcb + sev_es_init_vmcb, then svm_recalc_instruction_intercepts. */
const SEV_ES_INTERCEPTS = [
  'SVM_EXIT_READ_DR7',
  'SVM_EXIT_WRITE_DR7',
  'SVM_EXIT_EXCP_BASE+1', // #DB: intercepted unless DebugSwap
  'SVM_EXIT_EXCP_BASE+17', // #AC
  'SVM_EXIT_EXCP_BASE+18', // #MC
  'SVM_EXIT_INTR',
  'SVM_EXIT_NMI',
  'SVM_EXIT_SMI',
  ...INIT_VMCB_COMMON_INTERCEPTS,
  'SVM_EXIT_RDPRU',
  'SVM_EXIT_EFER_WRITE_TRAP',
  'SVM_EXIT_CR0_WRITE_TRAP',
  'SVM_EXIT_CR4_WRITE_TRAP',
  'SVM_EXIT_CR8_WRITE_TRAP',
  'SVM_EXIT_INVPCID',
];

/** The default VM's pass-throughs (svm_recalc_msr_intercepts) and sev_es_recalc_msr_intercepts'. */
const SEV_ES_PASSTHROUGH = [
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
  MSR_AMD64_SEV_ES_GHCB,
  MSR_EFER,
  MSR_IA32_CR_PAT,
].sort((a, b) => a - b);

for (const legacy of [false, true]) {
  const how = legacy ? 'KVM_SEV_ES_INIT' : 'KVM_SEV_INIT2';
  describe(`[current] an SEV-ES vCPU's VMCB (${how})`, () => {
    it("has init_vmcb's intercepts as sev_init_vmcb and sev_es_init_vmcb leave them", () => {
      const { vm, vmcb } = sevEsVcpu(legacy);
      assert.deepEqual(interceptNames(vmcb), SEV_ES_INTERCEPTS);
      vm.close();
    });

    it('intercepts no CR access, no #UD, #GP or XSETBV, no DR other than DR7, no selective CR0 write', () => {
      const { vm, vmcb } = sevEsVcpu(legacy);
      for (const code of [
        0x00, // CR0 read
        0x04, // CR4 read
        0x10, // CR0 write
        0x14, // CR4 write
        0x18, // CR8 write
        0x65, // selective CR0 write
        0x20, // DR0 read
        0x36, // DR6 write
        0x46, // #UD
        0x4d, // #GP
        0x8d, // XSETBV
        0x64, // VINTR: only while KVM waits for an interrupt window
        0x74, // IRET: never for SEV-ES (svm_set_iret_intercept)
      ])
        assert.equal(vmcb.isIntercept(code), false, svmExitCodeName(code));
      vm.close();
    });

    it('every intercepted exit is automatic or raises #VC: the instruction exits raise #VC, the traps exit', () => {
      const { vm, vmcb } = sevEsVcpu(legacy);
      const automatic: string[] = [];
      for (let bit = 0; bit < INTERCEPT_BITS; bit++)
        if (vmcb.isIntercept(bit) && sevEsExitIsAutomatic(bit)) automatic.push(svmExitCodeName(bit));
      assert.deepEqual(automatic, [
        'SVM_EXIT_EXCP_BASE+18',
        'SVM_EXIT_INTR',
        'SVM_EXIT_NMI',
        'SVM_EXIT_SMI',
        'SVM_EXIT_PAUSE',
        'SVM_EXIT_HLT',
        'SVM_EXIT_SHUTDOWN',
        'SVM_EXIT_EFER_WRITE_TRAP',
        'SVM_EXIT_CR0_WRITE_TRAP',
        'SVM_EXIT_CR4_WRITE_TRAP',
        'SVM_EXIT_CR8_WRITE_TRAP',
      ]);
      vm.close();
    });

    it('intercepts every port (IOPM all ones): any IN/OUT is a #VC(SVM_EXIT_IOIO)', () => {
      const { vm, vmcb } = sevEsVcpu(legacy);
      for (let port = 0; port <= 0xffff; port++)
        for (const size of [1, 2, 4])
          if (!vmcb.ioIntercepted(port, size)) assert.fail(`port ${port.toString(16)} size ${size}`);
      vm.close();
    });

    it("passes through the GHCB MSR, EFER and PAT besides the default VM's MSRs (sev_es_recalc_msr_intercepts)", () => {
      const { vm, vmcb } = sevEsVcpu(legacy);
      assert.deepEqual(passedThrough(vmcb, false), SEV_ES_PASSTHROUGH);
      assert.deepEqual(passedThrough(vmcb, true), SEV_ES_PASSTHROUGH);
      for (const msr of [
        MSR_TSC_AUX, // no RDTSCP/RDPID in the guest's CPUID
        MSR_IA32_XSS, // no XSAVES in the guest's CPUID
        MSR_AMD64_GUEST_TSC_FREQ, // SNP Secure TSC only
        MSR_IA32_DEBUGCTLMSR, // LBR virtualization starts at LAUNCH_UPDATE_VMSA (not modelled)
        MSR_IA32_LASTBRANCHFROMIP,
      ])
        assert.equal(vmcb.msrIntercepted(msr, false), true, msr.toString(16));
      vm.close();
    });

    it('opens TSC_AUX for a guest with RDTSCP and XSS for one with XSAVES (KVM_SET_CPUID2)', () => {
      const { vm, vcpuFd, vmcb } = sevEsVcpu(legacy);
      const table = ok(vcpuFd.getCpuid2(64), 'KVM_GET_CPUID2');
      const next: KvmCpuidEntry2[] = table.map((e) =>
        e.function === 0x8000_0001 ? { ...e, edx: (e.edx | (1 << 27)) >>> 0 } : e,
      );
      next.push({ function: 0xd, index: 1, flags: 1, eax: 1 << 3, ebx: 0, ecx: 0, edx: 0 });
      ok(vcpuFd.setCpuid2(next), 'KVM_SET_CPUID2');
      assert.equal(vmcb.msrIntercepted(MSR_TSC_AUX, false), false);
      assert.equal(vmcb.msrIntercepted(MSR_IA32_XSS, true), false);
      assert.equal(vmcb.isIntercept(0x87), false, 'RDTSCP runs natively now');
      vm.close();
    });
  });
}
