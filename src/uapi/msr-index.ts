/**
 * MSR indices and bits (arch/x86/include/asm/msr-index.h): the ones KVM, the GHCB protocol and the
 * guests here name.
 */

/** Time-stamp counter. */
export const MSR_IA32_TSC = 0x10;
/** Speculation control (IBRS, STIBP, SSBD); KVM passes it through only under conditions (svm_recalc_msr_intercepts). */
export const MSR_IA32_SPEC_CTRL = 0x48;
/** Prediction command (IBPB): write-only. */
export const MSR_IA32_PRED_CMD = 0x49;
/** L1D flush command: write-only. */
export const MSR_IA32_FLUSH_CMD = 0x10b;
/** Local APIC base. */
export const MSR_IA32_APICBASE = 0x1b;
/** APIC base bits: this is the bootstrap processor; the APIC is enabled (xAPIC). */
export const MSR_IA32_APICBASE_BSP = 1n << 8n;
export const MSR_IA32_APICBASE_ENABLE = 1n << 11n;
export const MSR_IA32_SYSENTER_CS = 0x174;
export const MSR_IA32_SYSENTER_ESP = 0x175;
export const MSR_IA32_SYSENTER_EIP = 0x176;
export const MSR_IA32_DEBUGCTLMSR = 0x1d9;
/** The last-branch-record MSRs LBR virtualization switches. */
export const MSR_IA32_LASTBRANCHFROMIP = 0x1db;
export const MSR_IA32_LASTBRANCHTOIP = 0x1dc;
export const MSR_IA32_LASTINTFROMIP = 0x1dd;
export const MSR_IA32_LASTINTTOIP = 0x1de;
export const MSR_IA32_CR_PAT = 0x277;
/** Power management control (Intel; KVM keeps whatever the guest writes on every vendor). */
export const MSR_IA32_POWER_CTL = 0x1fc;
/** Supervisor state components enabled for XSAVES. */
export const MSR_IA32_XSS = 0xda0;
/** Extended feature enable register. */
export const MSR_EFER = 0xc000_0080;
export const MSR_STAR = 0xc000_0081;
export const MSR_LSTAR = 0xc000_0082;
export const MSR_CSTAR = 0xc000_0083;
export const MSR_SYSCALL_MASK = 0xc000_0084;
export const MSR_FS_BASE = 0xc000_0100;
export const MSR_GS_BASE = 0xc000_0101;
export const MSR_KERNEL_GS_BASE = 0xc000_0102;
/** The value RDTSCP and RDPID return. */
export const MSR_TSC_AUX = 0xc000_0103;
/** The GHCB MSR: GHCB GPA, or an MSR-protocol request/response. */
export const MSR_AMD64_SEV_ES_GHCB = 0xc001_0130;
/** SEV_STATUS: bit 0 SEV, bit 1 SEV-ES, as the hardware reports them to a guest (never intercepted). */
export const MSR_AMD64_SEV = 0xc001_0131;
/** SEV-SNP Secure TSC: the guest's TSC frequency (read-only). */
export const MSR_AMD64_GUEST_TSC_FREQ = 0xc001_0134;

/** kvmclock (arch/x86/include/uapi/asm/kvm_para.h): the original pair and the 0x4b564dxx pair. */
export const MSR_KVM_WALL_CLOCK = 0x11;
export const MSR_KVM_SYSTEM_TIME = 0x12;
export const MSR_KVM_WALL_CLOCK_NEW = 0x4b564d00;
export const MSR_KVM_SYSTEM_TIME_NEW = 0x4b564d01;
