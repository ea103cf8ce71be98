/**
 * What KVM changes in an SEV or SEV-ES vCPU's VMCB (arch/x86/kvm/svm/sev.c of the `current` kernel):
 * sev_init_vmcb (+ sev_es_init_vmcb for SEV-ES), which init_vmcb calls, and sev_es_recalc_msr_intercepts, which
 * svm_recalc_msr_intercepts calls. The guest's state is encrypted, so KVM cannot emulate what it
 * would intercept: it drops the CR read/write intercepts for the CR write traps (automatic exits
 * after the write, with the new value), leaves only DR7 of the DR intercepts, and passes through
 * the MSRs the hardware switches itself. docs/x86-intercepts.md has the outcome per exit code.
 */
import {
  INTERCEPT_CR0_READ,
  INTERCEPT_CR0_WRITE,
  INTERCEPT_CR4_READ,
  INTERCEPT_CR4_WRITE,
  INTERCEPT_CR8_READ,
  INTERCEPT_CR8_WRITE,
  INTERCEPT_DR7_READ,
  INTERCEPT_DR7_WRITE,
  INTERCEPT_SELECTIVE_CR0,
  INTERCEPT_XSETBV,
  SVM_NESTED_CTL_SEV_ENABLE,
  SVM_NESTED_CTL_SEV_ES_ENABLE,
  TRAP_CR0_WRITE,
  TRAP_CR4_WRITE,
  TRAP_CR8_WRITE,
  TRAP_EFER_WRITE,
} from '../cpu/backend.js';
import { guestCpuidHas, X86_FEATURE } from '../kvm/cpuid.js';
import {
  clrDrIntercepts,
  MSR_TYPE_R,
  MSR_TYPE_RW,
  SVM_HOST,
  setExceptionIntercept,
  svmSetInterceptForMsr,
} from '../kvm/init-vmcb.js';
import type { Vcpu } from '../kvm/vcpu.js';
import {
  MSR_AMD64_GUEST_TSC_FREQ,
  MSR_AMD64_SEV_ES_GHCB,
  MSR_EFER,
  MSR_IA32_CR_PAT,
  MSR_IA32_XSS,
  MSR_TSC_AUX,
} from '../uapi/msr-index.js';
import { DB_VECTOR, GP_VECTOR, UD_VECTOR } from '../uapi/svm.js';

/**
 * sev_vcpu_has_debug_swap: the VM's VMSA features include DebugSwap. Never here: sevbox accepts no
 * VMSA feature in KVM_SEV_INIT2 (SUPPORTED_VMSA_FEATURES in sev-es-vm.ts), and KVM_SEV_ES_INIT
 * asks for none.
 */
const DEBUG_SWAP = false;

/**
 * sev_init_vmcb for any SEV vCPU: memory encryption under the VM's ASID (nested_ctl SEV_ENABLE) and
 * no #UD or #GP intercepts (KVM cannot decode an encrypted guest's instruction); then, for SEV-ES,
 * sev_es_init_vmcb. A plain SEV vCPU keeps every other intercept: its state is KVM's. The GHCB MSR
 * preset and the VMSA address are the VM type's createVcpu's (sev-es-vm.ts).
 */
export function sevInitVmcb(vcpu: Vcpu, esActive: boolean): void {
  const vmcb = vcpu.vmcb;
  vmcb.nestedCtl |= SVM_NESTED_CTL_SEV_ENABLE;
  setExceptionIntercept(vmcb, UD_VECTOR, false);
  setExceptionIntercept(vmcb, GP_VECTOR, false);
  if (esActive) sevEsInitVmcb(vcpu);
}

/** sev_es_init_vmcb: the state lives in the VMSA, and the intercepts KVM cannot serve go. */
function sevEsInitVmcb(vcpu: Vcpu): void {
  const vmcb = vcpu.vmcb;
  vmcb.nestedCtl |= SVM_NESTED_CTL_SEV_ES_ENABLE;
  // Can't intercept CR register access, HV can't modify CR registers.
  for (const bit of [
    INTERCEPT_CR0_READ,
    INTERCEPT_CR4_READ,
    INTERCEPT_CR8_READ,
    INTERCEPT_CR0_WRITE,
    INTERCEPT_CR4_WRITE,
    INTERCEPT_CR8_WRITE,
    INTERCEPT_SELECTIVE_CR0,
  ])
    vmcb.setIntercept(bit, false);
  // Track EFER/CR register changes.
  for (const bit of [TRAP_EFER_WRITE, TRAP_CR0_WRITE, TRAP_CR4_WRITE, TRAP_CR8_WRITE])
    vmcb.setIntercept(bit, true);
  // intercepts[INTERCEPT_DR] = 0: KVM keeps only DR7 (to disable guest debugging) unless the CPU
  // swaps the debug registers itself, and then does not intercept #DB either.
  clrDrIntercepts(vmcb);
  if (!DEBUG_SWAP) {
    vmcb.setIntercept(INTERCEPT_DR7_READ, true);
    vmcb.setIntercept(INTERCEPT_DR7_WRITE, true);
  } else {
    setExceptionIntercept(vmcb, DB_VECTOR, false);
  }
  // Can't intercept XSETBV, HV can't modify XCR0 directly.
  vmcb.setIntercept(INTERCEPT_XSETBV, false);
}

/**
 * sev_es_recalc_msr_intercepts: pass through the MSRs the hardware switches for an SEV-ES guest
 * (the GHCB MSR, EFER, PAT), TSC_AUX where the CPU virtualizes it and the guest has RDTSCP or RDPID,
 * and XSS where the guest has XSAVES. GUEST_TSC_FREQ stays intercepted: it is readable only with
 * SNP Secure TSC.
 */
export function sevEsRecalcMsrIntercepts(vcpu: Vcpu): void {
  const cpuid = vcpu.cpuid;
  svmSetInterceptForMsr(vcpu, MSR_AMD64_SEV_ES_GHCB, MSR_TYPE_RW, false);
  svmSetInterceptForMsr(vcpu, MSR_EFER, MSR_TYPE_RW, false);
  svmSetInterceptForMsr(vcpu, MSR_IA32_CR_PAT, MSR_TYPE_RW, false);
  if (SVM_HOST.vTscAux)
    svmSetInterceptForMsr(
      vcpu,
      MSR_TSC_AUX,
      MSR_TYPE_RW,
      !guestCpuidHas(cpuid, X86_FEATURE.RDTSCP) && !guestCpuidHas(cpuid, X86_FEATURE.RDPID),
    );
  svmSetInterceptForMsr(vcpu, MSR_AMD64_GUEST_TSC_FREQ, MSR_TYPE_R, true);
  // Intercepted unless guest_cpu_cap_has(XSAVES) && guest_cpuid_has(XSAVES); the model reads the
  // CPUID bit alone (a host that offers XSAVES, so the capability follows the bit).
  svmSetInterceptForMsr(vcpu, MSR_IA32_XSS, MSR_TYPE_RW, !guestCpuidHas(cpuid, X86_FEATURE.XSAVES));
}
