/**
 * The hardware seam: what KVM's SVM code drives (VMRUN, #VMEXIT, the VMCB) and what a guest CPU
 * backend implements. The scripted backend runs guest programs written in TypeScript; an x86
 * interpreter will implement the same interface. KVM imports only this file from src/cpu.
 *
 * The record a backend returns is the subset of the VMCB control area that SVM fills at #VMEXIT.
 * Registers are reachable only for unprotected guests: for SEV-ES the save area is encrypted, so
 * `gprs` is null and KVM learns registers from the GHCB alone.
 */

/** KVM's VCPU_REGS_* indices (arch/x86/include/asm/kvm_host.h): the x86 register encoding. */
export const VCPU_REGS_RAX = 0;
export const VCPU_REGS_RCX = 1;
export const VCPU_REGS_RDX = 2;
export const VCPU_REGS_RBX = 3;
export const VCPU_REGS_RSP = 4;
export const VCPU_REGS_RBP = 5;
export const VCPU_REGS_RSI = 6;
export const VCPU_REGS_RDI = 7;
export const VCPU_REGS_R8 = 8;
export const NR_VCPU_REGS = 16;
/**
 * A register file viewed as a Uint32Array over its BigUint64Array (platform byte order): register r
 * is words 2r + REG_LO (bits 31:0) and 2r + REG_HI (bits 63:32). Lets handlers skip BigInt.
 */
export const REG_LO = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1;
/** See {@link REG_LO}. */
export const REG_HI = 1 - REG_LO;

/** Nested-page-fault error-code bits (exit_info_1 of SVM_EXIT_NPF), as the x86 #PF error code. */
export const PFERR_PRESENT_MASK = 1;
export const PFERR_WRITE_MASK = 2;
export const PFERR_USER_MASK = 4;
export const PFERR_RSVD_MASK = 8;

/** What SVM writes to the VMCB at #VMEXIT. Numbers, not bigints: every value here is below 2^53. */
export interface VmExitRecord {
  /** SVM_EXIT_* (src/uapi/svm.ts). */
  exitCode: number;
  exitInfo1: number;
  exitInfo2: number;
  /**
   * Decode assist for SVM_EXIT_NPF caused by a data access: the access size in bytes (the data
   * register is RAX), 0 when the faulting instruction is not a simple load or store.
   */
  accessSize: number;
}

/** The access completed: the page is RAM KVM could map (and, for a write, writable). */
export const NPT_OK = 0;
/** The CPU takes a nested page fault that KVM must resolve (a host page KVM cannot map yet). */
export const NPT_FAULT = 1;
/**
 * The GPA is not RAM the guest may access this way (no memslot, or a write to a read-only slot):
 * KVM emulates it as MMIO. For an SEV-ES guest the CPU raises #VC instead, since KVM cannot
 * emulate an encrypted guest's instruction.
 */
export const NPT_MMIO = 2;
/** Outcome of a guest access through the nested page table. */
export type NptResult = typeof NPT_OK | typeof NPT_FAULT | typeof NPT_MMIO;

/**
 * Guest physical memory as the CPU reaches it through the nested page table KVM maintains. An
 * access that does not complete leaves memory untouched; the CPU then reports SVM_EXIT_NPF with the
 * GPA (or raises #VC for an SEV-ES guest's MMIO access).
 */
export interface GuestPhysMemory {
  read(gpa: number, dst: Uint8Array): NptResult;
  write(gpa: number, src: Uint8Array): NptResult;
  /**
   * Optional, the CPU's TLB: the 4 KiB page holding `gpa` as the guest's loads and stores reach
   * it right now (a view aliasing the RAM behind it), or undefined when an access would not
   * complete (use read/write, which report why). For a guest that touches a few fields of one
   * page, as a kernel builds a GHCB request, instead of copying a range. The view is good only
   * until the vCPU next exits (KVM may zap the NPT or the host may unmap the page while it is
   * out): ask again after every exit. A write mapping marks the page dirty, as the first store
   * through a write-protected NPT entry would.
   */
  page?(gpa: number, write: boolean): Uint8Array | undefined;
}

/** A guest CPU behind VMRUN. One instance per vCPU. */
export interface CpuBackend {
  /** SEV-ES and later: register state is encrypted; KVM must not (and cannot) read registers. */
  readonly protectedState: boolean;
  /** Called once by KVM when the backend is attached to a vCPU: the vCPU's view of guest memory. */
  attach(mem: GuestPhysMemory): void;
  /** VMRUN: run the guest until the next intercepted event and return the #VMEXIT record. */
  vmrun(): VmExitRecord;
  /** The general-purpose registers in VCPU_REGS_* order (RIP aside); null for protected state. */
  readonly gprs: BigUint64Array | null;
  /**
   * Complete the intercepted instruction and move RIP past it (KVM's skip_emulated_instruction,
   * SVM's nRIP). Without it the next VMRUN re-executes the instruction, as after a fault.
   * Not available for protected state (KVM cannot move an SEV-ES guest's RIP).
   */
  skipInstruction(): void;
  /** VMCB EVENTINJ: deliver an exception to the guest at the next VMRUN. */
  injectException(vector: number, errorCode?: number): void;
  /** VMCB control `ghcb_gpa`: the guest's GHCB MSR (0xC0010130) value. Meaningful for SEV-ES only. */
  ghcbMsr: bigint;
}
