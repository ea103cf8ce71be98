/**
 * How KVM sets up a vCPU's VMCB (arch/x86/kvm/svm/svm.c of the kernel the model calls `current`):
 * init_vmcb's intercepts; the I/O permission map svm_hardware_setup fills with ones (every port
 * intercepted); the MSR permission map svm_vcpu_alloc_msrpm fills with ones; and the intercepts KVM
 * derives from the guest's CPUID and its own host (svm_recalc_intercepts =
 * svm_recalc_instruction_intercepts + svm_recalc_msr_intercepts), which init_vmcb requests
 * (KVM_REQ_RECALC_INTERCEPTS, served before the first VMRUN) and KVM_SET_CPUID2 repeats. A VM type
 * adds its part through VmTypeOps.initVmcb (sev_init_vmcb) and recalcMsrIntercepts
 * (sev_es_recalc_msr_intercepts). docs/x86-intercepts.md lists the outcome per exit code.
 *
 * Intercepts KVM toggles later, while the guest runs, are set where KVM sets them (VINTR:
 * interrupts.ts; IRET: vcpu.ts) or not modelled (see the document).
 */
import {
  EFER_SVME,
  INTERCEPT_CLGI,
  INTERCEPT_CPUID,
  INTERCEPT_CR0_READ,
  INTERCEPT_CR0_WRITE,
  INTERCEPT_CR3_READ,
  INTERCEPT_CR3_WRITE,
  INTERCEPT_CR4_READ,
  INTERCEPT_CR4_WRITE,
  INTERCEPT_CR8_WRITE,
  INTERCEPT_DR0_READ,
  INTERCEPT_DR0_WRITE,
  INTERCEPT_EXCEPTION_OFFSET,
  INTERCEPT_HLT,
  INTERCEPT_IDLE_HLT,
  INTERCEPT_INTR,
  INTERCEPT_INVD,
  INTERCEPT_INVLPG,
  INTERCEPT_INVLPGA,
  INTERCEPT_INVPCID,
  INTERCEPT_IOIO_PROT,
  INTERCEPT_MONITOR,
  INTERCEPT_MSR_PROT,
  INTERCEPT_MWAIT,
  INTERCEPT_NMI,
  INTERCEPT_PAUSE,
  INTERCEPT_RDPMC,
  INTERCEPT_RDPRU,
  INTERCEPT_RDTSCP,
  INTERCEPT_RSM,
  INTERCEPT_SELECTIVE_CR0,
  INTERCEPT_SHUTDOWN,
  INTERCEPT_SKINIT,
  INTERCEPT_SMI,
  INTERCEPT_STGI,
  INTERCEPT_TASK_SWITCH,
  INTERCEPT_VMLOAD,
  INTERCEPT_VMMCALL,
  INTERCEPT_VMRUN,
  INTERCEPT_VMSAVE,
  INTERCEPT_WBINVD,
  INTERCEPT_XSETBV,
  msrpmSet,
  SAVE_EFER,
  V_INTR_MASKING_MASK,
  type Vmcb,
} from '../cpu/backend.js';
import { KVM_MSR_FILTER_READ, KVM_MSR_FILTER_WRITE } from '../uapi/msr-filter.js';
import {
  MSR_CSTAR,
  MSR_FS_BASE,
  MSR_GS_BASE,
  MSR_IA32_FLUSH_CMD,
  MSR_IA32_PRED_CMD,
  MSR_IA32_SPEC_CTRL,
  MSR_IA32_SYSENTER_CS,
  MSR_IA32_SYSENTER_EIP,
  MSR_IA32_SYSENTER_ESP,
  MSR_KERNEL_GS_BASE,
  MSR_LSTAR,
  MSR_STAR,
  MSR_SYSCALL_MASK,
} from '../uapi/msr-index.js';
import { AC_VECTOR, DB_VECTOR, GP_VECTOR, MC_VECTOR, PF_VECTOR, UD_VECTOR } from '../uapi/svm.js';
import { guestCpuidHas, guestCpuidIsIntelCompatible, X86_FEATURE } from './cpuid.js';
import { kvmMsrAllowed } from './msr.js';
import type { Vcpu } from './vcpu.js';

/**
 * The host and kvm/kvm_amd module parameters the model's KVM runs with, where init_vmcb and the
 * recalc functions look at them: an AMD EPYC host with SEV-ES (the one cpuid.ts describes) and the
 * modules' defaults. These are the model's choices, not facts read off a machine.
 */
export const SVM_HOST = {
  /** npt_enabled: nested paging (no #PF, INVLPG or CR3 intercepts). */
  npt: true,
  /** enable_vmware_backdoor (kvm.ko, default off): otherwise KVM intercepts #GP. */
  vmwareBackdoor: false,
  /** intercept_smi (kvm_amd.ko, default on). */
  interceptSmi: true,
  /** !kvm_pause_in_guest: the CPU has pause filtering, so KVM intercepts PAUSE. */
  pauseExiting: true,
  /** kvm_hlt_in_guest / kvm_mwait_in_guest: off (the model has no KVM_CAP_X86_DISABLE_EXITS). */
  hltInGuest: false,
  mwaitInGuest: false,
  /** X86_FEATURE_IDLE_HLT: absent, so KVM intercepts HLT rather than IDLE_HLT. */
  idleHlt: false,
  /** kvm_cpu_cap_has(X86_FEATURE_INVPCID) / (X86_FEATURE_RDTSCP). */
  invpcid: true,
  rdtscp: true,
  /** vls, vgif: matter only once EFER.SVME is set, which KVM never sees here (no nested SVM). */
  vls: true,
  vgif: true,
  /** lbrv: LBR virtualization is available (its MSRs stay intercepted until the guest enables LBRs). */
  lbrv: true,
  /** X86_FEATURE_IBPB, X86_FEATURE_FLUSH_L1D (Intel only), X86_FEATURE_V_SPEC_CTRL, X86_FEATURE_V_TSC_AUX. */
  ibpb: true,
  flushL1d: false,
  vSpecCtrl: true,
  vTscAux: true,
  /** kvm->arch.bus_lock_detection_enabled: off (the model has no KVM_CAP_X86_BUS_LOCK_EXIT). */
  busLockDetection: false,
} as const;

/** MSR_TYPE_R / MSR_TYPE_W / MSR_TYPE_RW (arch/x86/kvm/x86.h): which accesses of an MSR. */
export const MSR_TYPE_R = 1;
export const MSR_TYPE_W = 2;
export const MSR_TYPE_RW = 3;

/** set_exception_intercept / clr_exception_intercept. */
export function setExceptionIntercept(vmcb: Vmcb, vector: number, on: boolean): void {
  vmcb.setIntercept(INTERCEPT_EXCEPTION_OFFSET + vector, on);
}

/** set_dr_intercepts: every DR0-7 read and write (DR8-15 do not exist). */
export function setDrIntercepts(vmcb: Vmcb): void {
  for (let dr = 0; dr < 8; dr++) {
    vmcb.setIntercept(INTERCEPT_DR0_READ + dr, true);
    vmcb.setIntercept(INTERCEPT_DR0_WRITE + dr, true);
  }
}

/** clr_dr_intercepts: no DR access exits (intercepts[INTERCEPT_DR] = 0). */
export function clrDrIntercepts(vmcb: Vmcb): void {
  for (let bit = INTERCEPT_DR0_READ; bit < INTERCEPT_DR0_READ + 32; bit++) vmcb.setIntercept(bit, false);
}

/** The intercepts init_vmcb sets unconditionally (for this host: SMI included), by INTERCEPT_* bit. */
const INIT_INTERCEPTS: readonly number[] = [
  INTERCEPT_CR0_READ,
  INTERCEPT_CR3_READ,
  INTERCEPT_CR4_READ,
  INTERCEPT_CR0_WRITE,
  INTERCEPT_CR3_WRITE,
  INTERCEPT_CR4_WRITE,
  INTERCEPT_CR8_WRITE,
  INTERCEPT_INTR,
  INTERCEPT_NMI,
  INTERCEPT_SELECTIVE_CR0,
  INTERCEPT_RDPMC,
  INTERCEPT_CPUID,
  INTERCEPT_INVD,
  INTERCEPT_INVLPG,
  INTERCEPT_INVLPGA,
  INTERCEPT_IOIO_PROT,
  INTERCEPT_MSR_PROT,
  INTERCEPT_TASK_SWITCH,
  INTERCEPT_SHUTDOWN,
  INTERCEPT_VMRUN,
  INTERCEPT_VMMCALL,
  INTERCEPT_VMLOAD,
  INTERCEPT_VMSAVE,
  INTERCEPT_STGI,
  INTERCEPT_CLGI,
  INTERCEPT_SKINIT,
  INTERCEPT_WBINVD,
  INTERCEPT_XSETBV,
  INTERCEPT_RDPRU,
  INTERCEPT_RSM,
];

/**
 * init_vmcb for a new vCPU (svm_vcpu_reset → init_vmcb, with svm_vcpu_create's MSR permission map
 * and svm_hardware_setup's I/O permission map), then the intercepts KVM recomputes before the first
 * VMRUN (svmRecalcIntercepts). V_INTR_MASKING: the guest's RFLAGS.IF masks virtual interrupts.
 */
export function initVmcb(vcpu: Vcpu): void {
  const vmcb = vcpu.vmcb;
  // svm_hardware_setup: one IOPM of all ones (every port intercepted), which KVM shares among all
  // vCPUs; svm_vcpu_alloc_msrpm: each vCPU's MSRPM starts all ones (every MSR intercepted).
  vmcb.iopm.fill(0xff);
  vmcb.msrpm.fill(0xff);
  for (const bit of INIT_INTERCEPTS) vmcb.setIntercept(bit, true);
  setDrIntercepts(vmcb);
  for (const vector of [PF_VECTOR, UD_VECTOR, MC_VECTOR, AC_VECTOR, DB_VECTOR])
    setExceptionIntercept(vmcb, vector, true);
  // Guest access to VMware backdoor ports could legitimately #GP (TSS I/O permission bitmap).
  if (SVM_HOST.vmwareBackdoor) setExceptionIntercept(vmcb, GP_VECTOR, true);
  if (SVM_HOST.interceptSmi) vmcb.setIntercept(INTERCEPT_SMI, true);
  if (!SVM_HOST.mwaitInGuest) {
    vmcb.setIntercept(INTERCEPT_MONITOR, true);
    vmcb.setIntercept(INTERCEPT_MWAIT, true);
  }
  if (!SVM_HOST.hltInGuest) vmcb.setIntercept(SVM_HOST.idleHlt ? INTERCEPT_IDLE_HLT : INTERCEPT_HLT, true);
  vmcb.intCtl = V_INTR_MASKING_MASK;
  if (SVM_HOST.npt) {
    // Nested paging: the guest owns its page tables, CR3 and TLB.
    vmcb.setIntercept(INTERCEPT_INVLPG, false);
    setExceptionIntercept(vmcb, PF_VECTOR, false);
    vmcb.setIntercept(INTERCEPT_CR3_READ, false);
    vmcb.setIntercept(INTERCEPT_CR3_WRITE, false);
  }
  vmcb.setIntercept(INTERCEPT_PAUSE, SVM_HOST.pauseExiting);
  // sev_init_vmcb when the VM is an SEV guest.
  vcpu.vm.typeOps.initVmcb?.(vcpu);
  svmRecalcIntercepts(vcpu);
}

/** svm_recalc_intercepts: what KVM_REQ_RECALC_INTERCEPTS does (at creation, after KVM_SET_CPUID2). */
export function svmRecalcIntercepts(vcpu: Vcpu): void {
  svmRecalcInstructionIntercepts(vcpu);
  svmRecalcMsrIntercepts(vcpu);
}

/** vcpu->arch.efer & EFER_SVME: the save area's EFER; never set for an SEV-ES guest (efer_trap clears it). */
function eferSvme(vcpu: Vcpu): boolean {
  if (vcpu.guestStateProtected) return false;
  return (vcpu.vmcb.save.getUint32(SAVE_EFER, true) & EFER_SVME) !== 0;
}

/**
 * svm_recalc_instruction_intercepts: the instruction intercepts that follow guest CPUID (INVPCID,
 * RDTSCP), EFER.SVME (VMLOAD, VMSAVE, CLGI, STGI #UD without it) and the PMU (RDPMC: no mediated
 * vPMU here, so always intercepted).
 */
export function svmRecalcInstructionIntercepts(vcpu: Vcpu): void {
  const vmcb = vcpu.vmcb;
  const cpuid = vcpu.cpuid;
  // Shadow paging needs INVPCID to sync roots; a guest without INVPCID must get #UD.
  if (SVM_HOST.invpcid)
    vmcb.setIntercept(INTERCEPT_INVPCID, !SVM_HOST.npt || !guestCpuidHas(cpuid, X86_FEATURE.INVPCID));
  if (SVM_HOST.rdtscp) vmcb.setIntercept(INTERCEPT_RDTSCP, !guestCpuidHas(cpuid, X86_FEATURE.RDTSCP));
  if (!eferSvme(vcpu)) {
    vmcb.setIntercept(INTERCEPT_VMLOAD, true);
    vmcb.setIntercept(INTERCEPT_VMSAVE, true);
    vmcb.setIntercept(INTERCEPT_CLGI, true);
    vmcb.setIntercept(INTERCEPT_STGI, true);
  } else {
    if (guestCpuidIsIntelCompatible(cpuid)) {
      vmcb.setIntercept(INTERCEPT_VMLOAD, true);
      vmcb.setIntercept(INTERCEPT_VMSAVE, true);
    } else if (SVM_HOST.vls) {
      vmcb.setIntercept(INTERCEPT_VMLOAD, false);
      vmcb.setIntercept(INTERCEPT_VMSAVE, false);
    }
    if (SVM_HOST.vgif) {
      vmcb.setIntercept(INTERCEPT_CLGI, false);
      vmcb.setIntercept(INTERCEPT_STGI, false);
    }
  }
  // kvm_need_rdpmc_intercept: true without a mediated vPMU.
  vmcb.setIntercept(INTERCEPT_RDPMC, true);
}

/**
 * svm_set_intercept_for_msr: intercept (`intercept` true) or pass through the `type` accesses of
 * `msr`. KVM never passes through an access the VM's MSR filter denies (userspace wants those).
 */
export function svmSetInterceptForMsr(vcpu: Vcpu, msr: number, type: number, intercept: boolean): void {
  const msrpm = vcpu.vmcb.msrpm;
  const filter = vcpu.vm.msrFilter;
  if (type & MSR_TYPE_R)
    msrpmSet(msrpm, msr, false, intercept || !kvmMsrAllowed(filter, msr, KVM_MSR_FILTER_READ));
  if (type & MSR_TYPE_W)
    msrpmSet(msrpm, msr, true, intercept || !kvmMsrAllowed(filter, msr, KVM_MSR_FILTER_WRITE));
}

/** The MSRs svm_recalc_msr_intercepts always passes through, reads and writes (CONFIG_X86_64). */
export const SVM_PASSTHROUGH_MSRS: readonly number[] = [
  MSR_STAR,
  MSR_IA32_SYSENTER_CS,
  MSR_GS_BASE,
  MSR_FS_BASE,
  MSR_KERNEL_GS_BASE,
  MSR_LSTAR,
  MSR_CSTAR,
  MSR_SYSCALL_MASK,
];

/**
 * svm_recalc_msr_intercepts: the MSRs KVM lets the guest reach without a #VMEXIT. Those not named
 * here stay intercepted: the LBR MSRs until the guest turns LBRs on (svm_recalc_lbr_msr_intercepts
 * leaves them as created), APERF/MPERF (no KVM_X86_DISABLE_EXITS_APERFMPERF), the CET MSRs (no
 * shadow stack in the guest's CPUID), the PMU's (no mediated vPMU), x2APIC's (no x2AVIC).
 */
export function svmRecalcMsrIntercepts(vcpu: Vcpu): void {
  const cpuid = vcpu.cpuid;
  for (const msr of SVM_PASSTHROUGH_MSRS) svmSetInterceptForMsr(vcpu, msr, MSR_TYPE_RW, false);
  if (SVM_HOST.ibpb) svmSetInterceptForMsr(vcpu, MSR_IA32_PRED_CMD, MSR_TYPE_W, !guestHasPredCmdMsr(cpuid));
  if (SVM_HOST.flushL1d)
    svmSetInterceptForMsr(vcpu, MSR_IA32_FLUSH_CMD, MSR_TYPE_W, !guestCpuidHas(cpuid, X86_FEATURE.FLUSH_L1D));
  // With V_SPEC_CTRL the CPU switches SPEC_CTRL itself; without it KVM passes the MSR through once
  // the guest wrote a non-zero value (svm_set_msr), which the model's guests never do.
  svmSetInterceptForMsr(
    vcpu,
    MSR_IA32_SPEC_CTRL,
    MSR_TYPE_RW,
    SVM_HOST.vSpecCtrl ? !guestHasSpecCtrlMsr(cpuid) : true,
  );
  // AMD hardware keeps 32 bits of SYSENTER_EIP/ESP; a vCPU that looks like Intel expects 64.
  const intel = guestCpuidIsIntelCompatible(cpuid);
  svmSetInterceptForMsr(vcpu, MSR_IA32_SYSENTER_EIP, MSR_TYPE_RW, intel);
  svmSetInterceptForMsr(vcpu, MSR_IA32_SYSENTER_ESP, MSR_TYPE_RW, intel);
  // sev_es_recalc_msr_intercepts for an SEV-ES VM.
  vcpu.vm.typeOps.recalcMsrIntercepts?.(vcpu);
}

/** guest_has_spec_ctrl_msr (arch/x86/kvm/cpuid.h). */
function guestHasSpecCtrlMsr(cpuid: Vcpu['cpuid']): boolean {
  return (
    guestCpuidHas(cpuid, X86_FEATURE.SPEC_CTRL) ||
    guestCpuidHas(cpuid, X86_FEATURE.AMD_STIBP) ||
    guestCpuidHas(cpuid, X86_FEATURE.AMD_IBRS) ||
    guestCpuidHas(cpuid, X86_FEATURE.AMD_SSBD)
  );
}

/** guest_has_pred_cmd_msr (arch/x86/kvm/cpuid.h). */
function guestHasPredCmdMsr(cpuid: Vcpu['cpuid']): boolean {
  return (
    guestCpuidHas(cpuid, X86_FEATURE.SPEC_CTRL) ||
    guestCpuidHas(cpuid, X86_FEATURE.AMD_IBPB) ||
    guestCpuidHas(cpuid, X86_FEATURE.SBPB)
  );
}
