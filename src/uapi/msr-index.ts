/**
 * MSR indices and bits (arch/x86/include/asm/msr-index.h): the ones KVM, the GHCB protocol and the
 * guests here name.
 */

/** Time-stamp counter. */
export const MSR_IA32_TSC = 0x10;
/** Local APIC base. */
export const MSR_IA32_APICBASE = 0x1b;
/** APIC base bits: this is the bootstrap processor; the APIC is enabled (xAPIC). */
export const MSR_IA32_APICBASE_BSP = 1n << 8n;
export const MSR_IA32_APICBASE_ENABLE = 1n << 11n;
export const MSR_IA32_SYSENTER_CS = 0x174;
export const MSR_IA32_SYSENTER_ESP = 0x175;
export const MSR_IA32_SYSENTER_EIP = 0x176;
export const MSR_IA32_DEBUGCTLMSR = 0x1d9;
export const MSR_IA32_CR_PAT = 0x277;
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
/** The GHCB MSR: GHCB GPA, or an MSR-protocol request/response. */
export const MSR_AMD64_SEV_ES_GHCB = 0xc001_0130;
