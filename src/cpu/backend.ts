/**
 * The hardware seam: what KVM's SVM code drives (VMRUN, #VMEXIT, the VMCB) and what a guest CPU
 * backend implements. The scripted backend runs guest programs written in TypeScript; an x86
 * interpreter implements the same interface. KVM imports only this file (and the VMCB and register
 * layouts it names) from src/cpu. It also names the hardware facts a CPU needs to decide whether an
 * instruction exits: the intercept bits (intercepts.ts), the I/O and MSR permission maps (msrpm.ts)
 * and, for an SEV-ES guest, which exits are automatic and which raise #VC (sev-es-exits.ts).
 *
 * KVM hands a CPU three things when it creates the vCPU: the VMCB (src/cpu/vmcb.ts), the register
 * array svm_vcpu_run loads into the CPU before VMRUN and stores back after #VMEXIT (unprotected
 * guests only: the model lets the CPU work on the array in place instead of copying it twice per
 * exit), and guest physical memory as the nested page table maps it. For an SEV-ES guest the CPU
 * keeps its registers and save area in its own VMSA; KVM sees the VMCB control area alone.
 */
import type { KvmFpu } from '../uapi/fpu.js';
import type { Gprs } from './regs.js';
import type { Vmcb } from './vmcb.js';

export * from './intercepts.js';
export * from './msrpm.js';
export type { Gprs } from './regs.js';
export {
  clearGprs,
  gpr,
  gpr32,
  NR_VCPU_REGS,
  newGprs,
  setGpr,
  setGpr32,
  VCPU_REGS_R8,
  VCPU_REGS_RAX,
  VCPU_REGS_RBP,
  VCPU_REGS_RBX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDI,
  VCPU_REGS_RDX,
  VCPU_REGS_RIP,
  VCPU_REGS_RSI,
  VCPU_REGS_RSP,
} from './regs.js';
export {
  type CodeSize,
  CR0_PE,
  CR0_PG,
  CR4_PAE,
  codeSize,
  EFER_LMA,
  EFER_LME,
  EFER_SVME,
  PAT_RESET,
  RFLAGS_IF,
  resetFpu,
  writeResetState,
} from './reset.js';
export * from './sev-es-exits.js';
export * from './vmcb.js';
/**
 * The host CPU's ALU, which KVM's instruction emulator runs its fastops on: emulate.c executes the
 * guest's ADD, OR, CMP, TEST... as one host instruction with the guest's arithmetic flags loaded
 * and takes the result and flags back. The model's host CPU is the model's x86 ALU, so KVM's
 * emulation of an MMIO read-modify-write or compare computes with it (and gets exactly the flags
 * the interpreter would); KVM reaches it through this seam, like the rest of the hardware.
 */
export {
  adc as aluAdc,
  add as aluAdd,
  and as aluAnd,
  cmp as aluCmp,
  or as aluOr,
  sbb as aluSbb,
  sub as aluSub,
  test as aluTest,
  xor as aluXor,
} from './x86/alu.js';
export { Flags as AluFlags, RFLAGS_ARITH, readRflags, writeRflags } from './x86/flags.js';

/** Nested-page-fault error-code bits (exit_info_1 of SVM_EXIT_NPF), as the x86 #PF error code. */
export const PFERR_PRESENT_MASK = 1;
export const PFERR_WRITE_MASK = 2;
export const PFERR_USER_MASK = 4;
export const PFERR_RSVD_MASK = 8;
export const PFERR_FETCH_MASK = 16;
/** Bit 32 of exit_info_1 (the high word's bit 0): the fault was on the final guest physical address. */
export const PFERR_GUEST_FINAL_HI = 1;

/** The access completed: the page is RAM KVM could map (and, for a write, writable). */
export const NPT_OK = 0;
/** The CPU takes a nested page fault that KVM must resolve (a host page KVM cannot map yet). */
export const NPT_FAULT = 1;
/**
 * The GPA is not RAM (no memslot): KVM's NPT entry has reserved bits set, so the access takes a
 * reserved-bit nested page fault that KVM emulates as MMIO. For an SEV-ES guest the CPU raises #VC
 * instead, since KVM cannot emulate an encrypted guest's instruction.
 */
export const NPT_MMIO = 2;
/**
 * A write to a read-only memslot: the NPT entry is present but not writable, an ordinary nested
 * page fault (never #VC). KVM emulates it as an MMIO write for an unprotected guest.
 */
export const NPT_READONLY = 3;
/** Outcome of a guest access through the nested page table. */
export type NptResult = typeof NPT_OK | typeof NPT_FAULT | typeof NPT_MMIO | typeof NPT_READONLY;

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
   * complete (use read/write, which report why). The view is good only until the vCPU next exits
   * (KVM may zap the NPT or the host may unmap the page while it is out): ask again after every
   * exit — or, where `generation` is offered, for as long as it is unchanged. A write mapping
   * marks the page dirty, as the first store through a write-protected NPT entry would.
   */
  page?(gpa: number, write: boolean): Uint8Array | undefined;
  /**
   * Optional: changes whenever views page() gave out may no longer be right (KVM zapped the NPT:
   * memslots, host mappings, dirty-log write protection). A CPU may keep its TLB while it holds.
   */
  readonly generation?: number;
  /**
   * Optional: the system physical address of the page holding `gpa` (the model's stand-in: its
   * host address), for the memory controller's tweak. Valid right after page(gpa) succeeded.
   */
  spa?(gpa: number): number;
}

/**
 * One ASID's encrypted memory as the memory controller serves it to a CPU (AMD SEV): the key the
 * firmware loaded into the ASID's slot at ACTIVATE, and the plaintext of the private pages the CPUs
 * of that guest use. The model keeps those decrypted (its stand-in for cache lines tagged with the
 * key) so hot accesses never decrypt per byte; what the host side reads or writes is host memory,
 * where a private page is ciphertext. Shared by every vCPU of the guest, as the cache is coherent.
 */
export interface EncryptedMemory {
  /**
   * The plaintext of the private 4 KiB page whose system physical address is `spa` and whose bytes
   * in memory (ciphertext) are `frame`, decrypted on first use. `write`: the CPU will store through
   * it, so the page is written back (encrypted into `frame`) before the host side next touches it.
   * The same array for the same page while `generation` holds.
   */
  page(spa: number, frame: Uint8Array, write: boolean): Uint8Array;
  /**
   * Bumped whenever an array page() gave out may no longer be the page's plaintext or may no longer
   * be tracked as written (written back for a host read, dropped after a host write): a CPU keeps
   * its TLB only while it holds.
   */
  readonly generation: number;
  /**
   * CLFLUSH of a line in the page at `spa`: the page's plaintext is written back encrypted (if
   * written) and forgotten, so the next private access decrypts memory again, as the line is
   * evicted on hardware. The model keeps whole pages, so the whole page goes. Bumps `generation`.
   */
  flushPage(spa: number): void;
  /** Decrypt `bytes` (16-byte multiples) in place as the memory at `spa` (VMRUN reading the VMSA). */
  decrypt(spa: number, bytes: Uint8Array): void;
  /** Encrypt `bytes` in place as the memory at `spa` (#VMEXIT writing the VMSA back). */
  encrypt(spa: number, bytes: Uint8Array): void;
}

/** The memory controller's encryption, as CPUs reach it. */
export interface MemoryEncryption {
  /** The C-bit: the bit of a guest page-table entry that marks the page private (CPUID 0x8000001F EBX[5:0]). */
  readonly cbit: number;
  /** The ASID's encrypted memory, or undefined while no key is loaded for it. */
  domain(asid: number): EncryptedMemory | undefined;
}

/** What KVM gives a CPU when it creates the vCPU. */
export interface CpuAttachment {
  readonly vmcb: Vmcb;
  /** vcpu->arch.regs for an unprotected guest; null for protected state (the VMSA holds them). */
  readonly regs: Gprs | null;
  /**
   * DR0-DR3 (vcpu->arch.db), the breakpoint-address registers the VMCB does not hold: KVM loads them
   * into the CPU before VMRUN and reads them back after a #VMEXIT while the guest's DR accesses do
   * not exit; the CPU uses the array in place instead, as it does `regs`. DR6 and DR7 are the save
   * area's. Null for protected state; absent where no KVM attaches the CPU (a test's own harness).
   */
  readonly db?: BigUint64Array | null;
  /**
   * The x87/SSE state (vcpu->arch.guest_fpu as KVM_GET/SET_FPU see it: XMM0-15, MXCSR, the x87
   * registers and control words), which KVM loads into the CPU around VMRUN; the CPU uses the
   * object in place instead, as it does `regs`, so KVM must update it in place (its byte arrays
   * too: the CPU keeps views of `xmm`). Null for protected state (the VMSA holds it); absent where
   * no KVM attaches the CPU (the CPU then keeps its own, at the RESET values).
   */
  readonly fpu?: KvmFpu | null;
  /**
   * The AVX state beyond the XMM registers (the guest fpstate's YMM_Hi128 component, XSAVE state
   * component 2: bits 255:128 of YMM0-15, register i at 16 i, 256 bytes), used in place as `fpu`
   * is. Null for protected state (the VMSA's fpreg_ymm is loaded instead); absent where no KVM
   * attaches the CPU (the CPU then keeps its own, zero at RESET).
   */
  readonly ymmHi?: Uint8Array | null;
  /**
   * vcpu->arch.xcr0 (element 0), which KVM writes into the CPU's XCR0 before VMRUN
   * (kvm_load_guest_xsave_state: XSETBV when CR4.OSXSAVE is set and it differs from the host's); the
   * CPU copies it at each VMRUN, and an XSETBV the guest executes without an intercept changes the
   * CPU's register only, as on hardware. Null for protected state (the VMSA's xcr0 is loaded
   * instead, and the CPU keeps its own); absent where no KVM attaches the CPU (XCR0 then keeps its
   * RESET value, 1, until the guest sets it).
   */
  readonly xcr0?: BigUint64Array | null;
  readonly mem: GuestPhysMemory;
  /** The memory controller's encryption (absent: a platform without SEV, all memory plaintext). */
  readonly memoryEncryption?: MemoryEncryption;
  /**
   * SEV-ES: the VMSA page the VMCB's vmsa_pa names (KVM's, 4096 bytes, encrypted under the guest key
   * once LAUNCH_UPDATE_VMSA ran) and its system physical address. Absent for unprotected guests.
   */
  readonly vmsa?: { readonly bytes: Uint8Array; readonly spa: number };
}

/** A guest CPU behind VMRUN. One instance per vCPU. */
export interface CpuBackend {
  /** SEV-ES and later: register state is encrypted; KVM must not (and cannot) read registers. */
  readonly protectedState: boolean;
  /** Called once by KVM when the vCPU is created. The VMCB's save area already holds the RESET state. */
  attach(hw: CpuAttachment): void;
  /**
   * VMRUN: deliver a valid event_inj, run the guest until an intercepted event and write the
   * #VMEXIT into the VMCB control area (exit_code, exit_info_1/2, next_rip, decode-assist bytes).
   * After `budget` instructions without one, a host timer interrupt ends the run with
   * SVM_EXIT_INTR, so KVM can look for pending signals as it does at every physical interrupt.
   */
  vmrun(budget: number): void;
  /**
   * A debug view for the model's harness, never KVM's: called when the CPU raises #VC inside the
   * guest (error code: the exit code the intercept would have had; RIP: the faulting instruction's).
   * Hardware tells no one; the platform sets it when a tracer asks to see inside the guest.
   */
  onVc?: ((errorCode: number, rip: number) => void) | undefined;
}
