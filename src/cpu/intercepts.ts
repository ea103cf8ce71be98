/**
 * The VMCB intercept vector as KVM names its bits (the anonymous INTERCEPT_* enum of
 * arch/x86/include/asm/svm.h): six u32 words at control offset 0x000, bit n of the whole vector
 * being the intercept whose #VMEXIT reports exit code n (SVM_EXIT_* in src/uapi/svm.ts), for every
 * n in 0x00-0xbf. Word 0 is CR0-15 read (bits 0-15) and write (16-31), word 1 DR0-15 read and
 * write, word 2 one bit per exception vector, words 3-5 everything else (AMD APM vol. 2, appendix B,
 * table B-1). KVM's svm_set_intercept / vmcb_set_intercept are Vmcb.setIntercept here.
 */

// Word 0 (offset 0x000): CR reads and writes.
export const INTERCEPT_CR0_READ = 0;
export const INTERCEPT_CR3_READ = 3;
export const INTERCEPT_CR4_READ = 4;
export const INTERCEPT_CR8_READ = 8;
export const INTERCEPT_CR0_WRITE = 16;
export const INTERCEPT_CR3_WRITE = 16 + 3;
export const INTERCEPT_CR4_WRITE = 16 + 4;
export const INTERCEPT_CR8_WRITE = 16 + 8;

// Word 1 (offset 0x004): DR reads and writes.
export const INTERCEPT_DR0_READ = 32;
export const INTERCEPT_DR7_READ = 32 + 7;
export const INTERCEPT_DR0_WRITE = 48;
export const INTERCEPT_DR7_WRITE = 48 + 7;

/** Word 2 (offset 0x008): the intercept of exception vector v is bit INTERCEPT_EXCEPTION_OFFSET + v. */
export const INTERCEPT_EXCEPTION_OFFSET = 64;

// Word 3 (offset 0x00c).
export const INTERCEPT_INTR = 96;
export const INTERCEPT_NMI = 97;
export const INTERCEPT_SMI = 98;
export const INTERCEPT_INIT = 99;
export const INTERCEPT_VINTR = 100;
export const INTERCEPT_SELECTIVE_CR0 = 101;
export const INTERCEPT_STORE_IDTR = 102;
export const INTERCEPT_STORE_GDTR = 103;
export const INTERCEPT_STORE_LDTR = 104;
export const INTERCEPT_STORE_TR = 105;
export const INTERCEPT_LOAD_IDTR = 106;
export const INTERCEPT_LOAD_GDTR = 107;
export const INTERCEPT_LOAD_LDTR = 108;
export const INTERCEPT_LOAD_TR = 109;
export const INTERCEPT_RDTSC = 110;
export const INTERCEPT_RDPMC = 111;
export const INTERCEPT_PUSHF = 112;
export const INTERCEPT_POPF = 113;
export const INTERCEPT_CPUID = 114;
export const INTERCEPT_RSM = 115;
export const INTERCEPT_IRET = 116;
export const INTERCEPT_INTn = 117;
export const INTERCEPT_INVD = 118;
export const INTERCEPT_PAUSE = 119;
export const INTERCEPT_HLT = 120;
export const INTERCEPT_INVLPG = 121;
export const INTERCEPT_INVLPGA = 122;
/** Port I/O is intercepted where the I/O permission map says so (Vmcb.iopm). */
export const INTERCEPT_IOIO_PROT = 123;
/** RDMSR/WRMSR are intercepted where the MSR permission map says so (Vmcb.msrpm). */
export const INTERCEPT_MSR_PROT = 124;
export const INTERCEPT_TASK_SWITCH = 125;
export const INTERCEPT_FERR_FREEZE = 126;
export const INTERCEPT_SHUTDOWN = 127;

// Word 4 (offset 0x010).
export const INTERCEPT_VMRUN = 128;
export const INTERCEPT_VMMCALL = 129;
export const INTERCEPT_VMLOAD = 130;
export const INTERCEPT_VMSAVE = 131;
export const INTERCEPT_STGI = 132;
export const INTERCEPT_CLGI = 133;
export const INTERCEPT_SKINIT = 134;
export const INTERCEPT_RDTSCP = 135;
export const INTERCEPT_ICEBP = 136;
export const INTERCEPT_WBINVD = 137;
export const INTERCEPT_MONITOR = 138;
export const INTERCEPT_MWAIT = 139;
export const INTERCEPT_MWAIT_COND = 140;
export const INTERCEPT_XSETBV = 141;
export const INTERCEPT_RDPRU = 142;
/** SEV-ES: an automatic exit after the guest wrote EFER (exit_info_1 = the new value). */
export const TRAP_EFER_WRITE = 143;
/** SEV-ES: an automatic exit after the guest wrote CRn (TRAP_CR0_WRITE + n; exit_info_1 = the new value). */
export const TRAP_CR0_WRITE = 144;
export const TRAP_CR4_WRITE = 144 + 4;
export const TRAP_CR8_WRITE = 144 + 8;

// Word 5 (offset 0x014).
export const INTERCEPT_INVLPGB = 160;
export const INTERCEPT_INVLPGB_ILLEGAL = 161;
export const INTERCEPT_INVPCID = 162;
export const INTERCEPT_MCOMMIT = 163;
export const INTERCEPT_TLBSYNC = 164;
export const INTERCEPT_BUSLOCK = 165;
export const INTERCEPT_IDLE_HLT = 166;

/** Bits in the intercept vector (MAX_INTERCEPT words of 32). */
export const INTERCEPT_BITS = 6 * 32;
