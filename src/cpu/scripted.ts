/**
 * The scripted CPU backend: a guest program written in TypeScript as a generator. The program
 * yields at every instruction that may trap to the hypervisor (port I/O, a memory access that is
 * not plain RAM, MSR access, CPUID, HLT, VMMCALL, VMGEXIT) and resumes with the instruction's
 * result. RAM accesses that the nested page table satisfies never leave the backend, as on hardware.
 *
 * It is a CPU as SVM shows one to KVM: every instruction sits at an address (RIP advances by the
 * length of its encoding in the current mode), an intercepted instruction exits with next_rip and,
 * for a nested page fault, the decode-assist bytes of a real `mov` encoding, and KVM completes an
 * instruction by moving RIP to next_rip. Exceptions and interrupts arrive through event_inj.
 *
 * Guest programs see guest physical memory (`cpu.mem`) and the results of their own instructions;
 * KVM sees what SVM shows it: the VMCB and, for unprotected guests only, the registers.
 */
import {
  SVM_EXIT_CPUID,
  SVM_EXIT_HLT,
  SVM_EXIT_INTR,
  SVM_EXIT_IOIO,
  SVM_EXIT_IRET,
  SVM_EXIT_MSR,
  SVM_EXIT_NPF,
  SVM_EXIT_RDPMC,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_VINTR,
  SVM_EXIT_VMGEXIT,
  SVM_EXIT_VMMCALL,
  SVM_IOIO_ASIZE_SHIFT,
  SVM_IOIO_PORT_SHIFT,
  SVM_IOIO_SIZE_SHIFT,
  SVM_IOIO_TYPE_MASK,
} from '../uapi/svm.js';
import {
  type CpuAttachment,
  type CpuBackend,
  type GuestPhysMemory,
  NPT_MMIO,
  NPT_OK,
  NPT_READONLY,
  PFERR_GUEST_FINAL_HI,
  PFERR_PRESENT_MASK,
  PFERR_RSVD_MASK,
  PFERR_WRITE_MASK,
} from './backend.js';
import {
  type Gprs,
  gpr,
  gpr32,
  newGprs,
  setGpr,
  setGpr32,
  VCPU_REGS_RAX,
  VCPU_REGS_RBX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDX,
  VCPU_REGS_RSI,
} from './regs.js';
import { type CodeSize, codeSize, RFLAGS_IF, writeResetState } from './reset.js';
import {
  getU64Number,
  SAVE_RFLAGS,
  SAVE_RIP,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_TYPE_MASK,
  SVM_EVTINJ_TYPE_NMI,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VALID_ERR,
  SVM_EVTINJ_VEC_MASK,
  setU64Number,
  V_IRQ_MASK,
  VMCB_NEXT_RIP,
  Vmcb,
} from './vmcb.js';
import { loadVmsa } from './vmsa.js';

/** IOIO exit_info_1's one-hot address size (bits 9:7) for the code size. */
const IOIO_ASIZE: Readonly<Record<CodeSize, number>> = {
  16: 1 << SVM_IOIO_ASIZE_SHIFT,
  32: 2 << SVM_IOIO_ASIZE_SHIFT,
  64: 4 << SVM_IOIO_ASIZE_SHIFT,
};

/** Port I/O and data access widths. */
export type IoSize = 1 | 2 | 4;
export type AccessSize = 1 | 2 | 4 | 8;

/** One instruction of a guest program that may trap (or, sti/cli, change what may be delivered). */
export type GuestOp =
  | { readonly op: 'out'; readonly port: number; readonly size: IoSize; readonly value: number }
  | { readonly op: 'in'; readonly port: number; readonly size: IoSize }
  | { readonly op: 'load'; readonly gpa: number; readonly size: AccessSize }
  | { readonly op: 'store'; readonly gpa: number; readonly size: AccessSize; readonly value: bigint }
  | { readonly op: 'rdmsr'; readonly index: number }
  | { readonly op: 'wrmsr'; readonly index: number; readonly value: bigint }
  | { readonly op: 'cpuid'; readonly fn: number; readonly index: number }
  | { readonly op: 'rdpmc'; readonly counter: number }
  | { readonly op: 'hlt' }
  | { readonly op: 'sti' }
  | { readonly op: 'cli' }
  | { readonly op: 'vmmcall'; readonly nr: bigint; readonly args: readonly bigint[] }
  | { readonly op: 'vmgexit' }
  | { readonly op: 'triple-fault' }
  /** The IRET that ends an interrupt or NMI handler; the CPU runs it when a handler returns. */
  | { readonly op: 'iret' };

/** CPUID leaf result. */
export interface CpuidResult {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/** An exception delivered to the guest program at the instruction that caused it. */
export class GuestException extends Error {
  constructor(
    readonly vector: number,
    readonly errorCode?: number,
  ) {
    super(`guest exception vector ${vector}`);
    this.name = 'GuestException';
  }
}

/** A guest program: runs on one vCPU, yields trapping instructions. */
export type GuestProgram = (cpu: ScriptedCpu) => Generator<GuestOp, void, unknown>;

/**
 * An SEV-ES guest's #VC handler: called with the instruction that raised #VC, runs on the same
 * vCPU (it may yield VMGEXITs) and returns what the instruction would have produced.
 */
export type VcHandler = (op: GuestOp, cpu: ScriptedCpu) => Generator<GuestOp, unknown, unknown>;

/**
 * An interrupt handler (an IDT entry for external interrupts and NMIs): runs between two
 * instructions of the program, on the same vCPU, and returns to it (IRET).
 */
export type InterruptHandler = (vector: number, cpu: ScriptedCpu) => Generator<GuestOp, void, unknown>;

/**
 * Run `inner` as part of a guest program, showing each instruction it yields to `onOp` first; what
 * the CPU sends back (a value or an exception) goes to `inner` unchanged. For observers that count
 * or log a program's instructions without changing it.
 */
export function* observeOps<T>(
  inner: Generator<GuestOp, T, unknown>,
  onOp: (op: GuestOp) => void,
): Generator<GuestOp, T, unknown> {
  let resume: { throw: false; value: unknown } | { throw: true; error: unknown } = {
    throw: false,
    value: undefined,
  };
  for (;;) {
    const r: IteratorResult<GuestOp, T> = resume.throw ? inner.throw(resume.error) : inner.next(resume.value);
    if (r.done) return r.value;
    onOp(r.value);
    try {
      resume = { throw: false, value: yield r.value };
    } catch (error) {
      resume = { throw: true, error };
    }
  }
}

/** Lifecycle of the guest program. */
export type ScriptedState = 'ready' | 'running' | 'done' | 'shutdown';

type Frame = Generator<GuestOp, unknown, unknown>;
/** How the program resumes after an instruction: nothing yet, with a value, or with an exception. */
const RESUME_NONE = 0;
const RESUME_NEXT = 1;
const RESUME_THROW = 2;

/** KVM's hypercall argument registers: RBX, RCX, RDX, RSI. */
const HYPERCALL_ARG_REGS = [VCPU_REGS_RBX, VCPU_REGS_RCX, VCPU_REGS_RDX, VCPU_REGS_RSI] as const;
const VC_VECTOR = 29;
const IRET_OP: GuestOp = { op: 'iret' };
const UD_VECTOR = 6;
const MASK32 = 0xffff_ffffn;
const TWO32 = 0x1_0000_0000;
const noMemory: GuestPhysMemory = {
  read: () => NPT_MMIO,
  write: () => NPT_MMIO,
};

/** Length of the {@link movMoffsBytes} encoding, 0 when there is none. */
export function movMoffsLength(mode: CodeSize, size: AccessSize, gpa: number): number {
  if (size === 8) return mode === 64 ? 10 : 0;
  const prefix = (size === 2 ? mode !== 16 : size === 4 && mode === 16) ? 1 : 0;
  if (mode === 64) return prefix + 9;
  if (mode === 32) return prefix + 5;
  return prefix + (gpa > 0xffff ? 6 : 3);
}

/**
 * The bytes of a `mov` between the accumulator and memory (A0-A3 with a moffs operand) for `size`
 * bytes in `mode`, the form decode assist hands KVM on a nested page fault; undefined when the mode
 * has no such instruction (8 bytes outside long mode).
 */
export function movMoffsBytes(
  mode: CodeSize,
  size: AccessSize,
  store: boolean,
  gpa: number,
): Uint8Array | undefined {
  const out: number[] = [];
  if (size === 8) {
    if (mode !== 64) return undefined;
    out.push(0x48); // REX.W
  } else if (size === 2 ? mode !== 16 : size === 4 && mode === 16) {
    out.push(0x66); // operand-size override
  }
  // The offset: 8 bytes in long mode; 4 in 32-bit mode; in 16-bit mode 2, or 4 with 0x67.
  let offBytes = mode === 64 ? 8 : 4;
  if (mode === 16) {
    if (gpa > 0xffff) out.push(0x67);
    else offBytes = 2;
  }
  out.push((store ? 0xa2 : 0xa0) | (size === 1 ? 0 : 1));
  for (let i = 0; i < offBytes; i++)
    out.push(i < 4 ? (gpa >>> (8 * i)) & 0xff : Math.floor(gpa / TWO32) >>> (8 * (i - 4)));
  return Uint8Array.from(out, (b) => b & 0xff);
}

/**
 * Instructions whose #VMEXIT leaves RIP past them: VMGEXIT, and for an SEV-ES guest an intercepted
 * HLT (an automatic exit: hardware advances the encrypted RIP, which KVM cannot).
 */
function trapLike(op: GuestOp, protectedState: boolean): boolean {
  return op.op === 'vmgexit' || (protectedState && op.op === 'hlt');
}

/** Instructions whose completion hands the program a result from the registers. */
function writesRegisters(op: GuestOp): boolean {
  switch (op.op) {
    case 'in':
    case 'load':
    case 'rdmsr':
    case 'rdpmc':
    case 'cpuid':
    case 'vmmcall':
      return true;
    default:
      return false;
  }
}

/** The frame below an interrupt handler: resumes the program as it would have resumed without it. */
function* resumeAfter(
  kind: number,
  value: unknown,
  op: GuestOp | undefined,
): Generator<GuestOp, unknown, unknown> {
  if (op) return yield op;
  if (kind === RESUME_THROW) throw value;
  return value;
}

/** Encoded length of an instruction other than a memory move, in `mode`. */
function opLength(op: GuestOp, mode: CodeSize): number {
  switch (op.op) {
    case 'out':
    case 'in': {
      // OUT imm8, eAX (E6/E7 ib) for ports below 256, else OUT DX, eAX (EE/EF); 0x66 for the other width.
      const base = op.port < 0x100 ? 2 : 1;
      const prefix = op.size === 1 ? 0 : (op.size === 2) === (mode === 16) ? 0 : 1;
      return base + prefix;
    }
    case 'rdmsr':
    case 'wrmsr':
    case 'cpuid':
    case 'rdpmc':
      return 2; // 0F 32, 0F 30, 0F A2, 0F 33
    case 'vmmcall':
      return 3; // 0F 01 D9
    case 'vmgexit':
      return 4; // F3 0F 01 D9
    case 'iret':
      return mode === 64 ? 2 : 1; // 48 CF (IRETQ), CF
    default:
      return 1; // HLT F4, STI FB, CLI FA
  }
}

/** The scripted guest CPU. */
export class ScriptedCpu implements CpuBackend {
  readonly protectedState: boolean;
  /** The guest's #VC handler (SEV-ES); without one, an instruction that raises #VC kills the guest. */
  vcHandler: VcHandler | undefined;
  /** CpuBackend.onVc: the harness's view of each #VC raised (set by the platform). */
  onVc: ((errorCode: number, rip: number) => void) | undefined;
  /** The guest's handler for external interrupts and NMIs; without one they are lost (IRET at once). */
  interruptHandler: InterruptHandler | undefined;
  /** Guest physical memory as this CPU sees it; accesses that would fault return a non-NPT_OK code. */
  mem: GuestPhysMemory = noMemory;
  /** Why the CPU shut down (an exception nobody handled, or a bug in the program), if it did. */
  crash: unknown;
  /** Set by the guest program for its observers (tests, the scenario runner). */
  readonly notes: Record<string, unknown> = {};
  /** Instructions executed (every op the program yielded that the CPU started). */
  instructions = 0;

  #state: ScriptedState = 'ready';
  readonly #program: GuestProgram;
  #vmcb: Vmcb = new Vmcb();
  /** The register array: KVM's vcpu->arch.regs for an unprotected guest, the VMSA's for SEV-ES. */
  #regs: Gprs = newGprs();
  /** The save area: the VMCB's, or (SEV-ES) the CPU's own VMSA. */
  #save: DataView = this.#vmcb.save;
  readonly #stack: Frame[] = [];
  /** The instruction that exited and has not completed, its RIP and the RIP after it. */
  #pending: GuestOp | undefined;
  #pendingRip = 0;
  #pendingNext = 0;
  /** RIP of the next instruction while running (the save area holds it between runs). */
  #rip = 0;
  /** Where a finished program sits: `1: hlt; jmp 1b` at this RIP. */
  #doneRip = 0;
  /** What each handler's IRET pops, innermost last: the interrupted RIP and RFLAGS.IF. */
  readonly #iretFrames: { rip: number; interruptFlag: boolean }[] = [];
  /** A resumption the program has not received yet when a host interrupt ended the run. */
  #carryKind = RESUME_NONE;
  #carryValue: unknown;
  /** Set by #execute when an instruction completes inside the CPU (RESUME_NEXT or RESUME_THROW). */
  #resumeKind = RESUME_NONE;
  #resumeValue: unknown;
  readonly #buf = new Uint8Array(8);
  readonly #bufView = new DataView(this.#buf.buffer);

  /** What KVM attached. */
  #hw!: CpuAttachment;
  /** Why the last VMRUN failed (VMEXIT_INVALID), for diagnostics. */
  vmrunFailure: string | undefined;

  constructor(program: GuestProgram, opts: { protectedState?: boolean } = {}) {
    this.#program = program;
    this.protectedState = opts.protectedState ?? false;
    writeResetState(this.#save);
  }

  get state(): ScriptedState {
    return this.#state;
  }

  /** The guest's GHCB MSR (MSR_AMD64_SEV_ES_GHCB), which SEV-ES hardware keeps in the VMCB. */
  get ghcbMsr(): bigint {
    return this.#vmcb.ghcbGpa;
  }
  set ghcbMsr(v: bigint) {
    this.#vmcb.ghcbGpa = v;
  }
  /** The GHCB MSR's bits 31:0 and 63:32 (what an MSR-protocol guest reads with RDMSR in EAX:EDX). */
  get ghcbMsrLo(): number {
    return this.#vmcb.ghcbGpaLo;
  }
  get ghcbMsrHi(): number {
    return this.#vmcb.ghcbGpaHi;
  }
  /** WRMSR to the GHCB MSR with EAX = `lo`, EDX = `hi`. */
  setGhcbMsr(lo: number, hi: number): void {
    this.#vmcb.setGhcbGpa(lo, hi);
  }

  attach(hw: CpuAttachment): void {
    this.#vmcb = hw.vmcb;
    this.mem = hw.mem;
    this.#hw = hw;
    if (this.protectedState || !hw.regs) {
      // SEV-ES: the first VMRUN loads the VMSA (loadVmsa); until then, a copy of the RESET state.
      this.#save = new DataView(hw.vmcb.save.buffer.slice(0));
    } else {
      this.#save = hw.vmcb.save;
      this.#regs = hw.regs;
    }
  }

  vmrun(budget: number): void {
    const vmcb = this.#vmcb;
    if (this.#state === 'shutdown') {
      this.#exitAt(SVM_EXIT_SHUTDOWN, 0, 0, 0, 0);
      return;
    }
    if (this.#state === 'ready' && this.protectedState && this.#hw.vmsa) {
      // VMRUN of an SEV-ES guest loads the VMSA LAUNCH_UPDATE_VMSA encrypted, or fails.
      const vmsa = loadVmsa(this.#hw);
      if (typeof vmsa === 'string') {
        this.vmrunFailure = vmsa;
        vmcb.setVmrunFailure();
        return;
      }
      this.#save = vmsa;
    }
    const save = this.#save;
    this.#rip = getU64Number(save, SAVE_RIP);
    // What the program resumes with: a value or an exception (kind), or an instruction to execute
    // again (op). Two locals, not an object: this runs once per exit.
    let kind = RESUME_NONE;
    let value: unknown;
    let op: GuestOp | undefined;
    const pending = this.#pending;
    this.#pending = undefined;
    if (this.#state === 'ready') {
      this.#state = 'running';
      this.#stack.push(this.#program(this));
      kind = RESUME_NEXT;
    } else if (pending) {
      if (this.#rip === this.#pendingNext || trapLike(pending, this.protectedState)) {
        // Completed by KVM (RIP moved past it), or trap-like: resume with its result.
        kind = RESUME_NEXT;
        value = this.#completion(pending);
        this.#rip = this.#pendingNext;
      } else if (this.#rip === this.#pendingRip) {
        op = pending; // a fault-like exit: the same instruction executes again
      } else {
        this.#shutdown(
          new Error(`RIP moved to 0x${this.#rip.toString(16)}: a scripted guest has no code there`),
        );
        return;
      }
    } else {
      kind = this.#carryKind;
      value = this.#carryValue;
      this.#carryKind = RESUME_NONE;
      this.#carryValue = undefined;
    }
    const inj = vmcb.eventInj;
    if (inj & SVM_EVTINJ_VALID && this.#state === 'running') {
      vmcb.eventInj = 0;
      const vector = inj & SVM_EVTINJ_VEC_MASK;
      const type = inj & SVM_EVTINJ_TYPE_MASK;
      if (type === SVM_EVTINJ_TYPE_EXEPT) {
        const exception = new GuestException(
          vector,
          inj & SVM_EVTINJ_VALID_ERR ? vmcb.eventInjErr : undefined,
        );
        // The exception is delivered before the next instruction executes, which the program sees
        // at the yield it is suspended in: an instruction to execute again (a fault-like exit)
        // never runs, a completed one (VMGEXIT, OUT...) is behind it. One KVM completed with a
        // result in registers (IN, RDMSR...) keeps it: the program takes it first, and the
        // exception arrives at its next instruction.
        if (kind === RESUME_NEXT && pending && writesRegisters(pending)) op = this.#step(kind, value);
        kind = op || this.#state === 'running' ? RESUME_THROW : RESUME_NONE;
        value = kind === RESUME_THROW ? exception : undefined;
        op = undefined;
      } else if (this.interruptHandler) {
        // An interrupt or NMI between two instructions: its handler runs first, then its IRET
        // returns to the program, which goes on as it would have.
        this.#iretFrames.push({ rip: this.#rip, interruptFlag: this.#interruptible() });
        this.#stack.push(resumeAfter(kind, value, op));
        this.#stack.push(this.#interruptFrame(this.interruptHandler, vector, type === SVM_EVTINJ_TYPE_NMI));
        kind = RESUME_NEXT;
        value = undefined;
        op = undefined;
      }
    }
    if (this.#state === 'done') {
      this.#finalHalt();
      return;
    }
    for (let n = 0; ; n++) {
      if (
        n >= budget ||
        (vmcb.intCtl & V_IRQ_MASK && this.#interruptible() && vmcb.isIntercept(SVM_EXIT_VINTR))
      ) {
        // A host timer interrupt, or the interrupt window KVM asked for: exit between instructions.
        if (op) {
          // Not started: it executes when the guest runs again (no RIP can complete it).
          this.#pending = op;
          this.#pendingRip = this.#rip;
          this.#pendingNext = -1;
        }
        this.#carryKind = kind;
        this.#carryValue = value;
        this.#exitAt(n >= budget ? SVM_EXIT_INTR : SVM_EXIT_VINTR, 0, 0, 0, 0);
        return;
      }
      if (kind !== RESUME_NONE) {
        op = this.#step(kind, value);
        kind = RESUME_NONE;
        value = undefined;
        if (op === undefined) {
          if ((this.#state as ScriptedState) === 'shutdown') this.#exitAt(SVM_EXIT_SHUTDOWN, 0, 0, 0, 0);
          else this.#finalHalt();
          return;
        }
      }
      this.instructions++;
      if (!this.#execute(op!)) return;
      op = undefined;
      kind = this.#resumeKind;
      value = this.#resumeValue;
      this.#resumeValue = undefined;
    }
  }

  /** A finished program halts where it ended, for good: each HLT exit has its next_rip, then it jumps back. */
  #finalHalt(): void {
    this.#rip = this.#doneRip;
    this.#exitAt(SVM_EXIT_HLT, 0, 0, 0, 0, this.#doneRip + 1);
  }

  #shutdown(crash: unknown): void {
    this.crash = crash;
    this.#state = 'shutdown';
    this.#stack.length = 0;
    this.#iretFrames.length = 0;
    this.#exitAt(SVM_EXIT_SHUTDOWN, 0, 0, 0, 0);
  }

  #interruptible(): boolean {
    return (this.#save.getUint32(SAVE_RFLAGS, true) & RFLAGS_IF) !== 0;
  }

  /**
   * The handler of an external interrupt (IF cleared, as an interrupt gate does) or NMI, ended by
   * its IRET, which restores RIP and IF (KVM may intercept it to learn that an NMI handler is done).
   */
  *#interruptFrame(
    handler: InterruptHandler,
    vector: number,
    nmi: boolean,
  ): Generator<GuestOp, void, unknown> {
    if (!nmi) this.#setIf(false);
    yield* handler(vector, this);
    yield IRET_OP;
  }

  #setIf(on: boolean): void {
    const f = this.#save.getUint32(SAVE_RFLAGS, true);
    this.#save.setUint32(SAVE_RFLAGS, on ? f | RFLAGS_IF : f & ~RFLAGS_IF, true);
  }

  /** Drive the frame stack until some frame yields an instruction; undefined when the program ended. */
  #step(resumeKind: number, resumeValue: unknown): GuestOp | undefined {
    let kind = resumeKind;
    let value = resumeValue;
    const stack = this.#stack;
    for (;;) {
      const top = stack[stack.length - 1];
      if (!top) {
        this.#state = 'done';
        this.#doneRip = this.#rip;
        return undefined;
      }
      let res: IteratorResult<GuestOp, unknown>;
      try {
        res = kind === RESUME_NEXT ? top.next(value) : top.throw(value);
      } catch (error) {
        stack.pop();
        if (stack.length === 0) {
          // Nothing caught it: double fault, then triple fault; the CPU shuts down.
          this.crash = error;
          this.#state = 'shutdown';
          return undefined;
        }
        kind = RESUME_THROW;
        value = error;
        continue;
      }
      if (!res.done) return res.value;
      stack.pop();
      kind = RESUME_NEXT;
      value = res.value;
    }
  }

  /** An instruction completed inside the CPU: RIP moves past it and the program resumes with `value`. */
  #resumeNext(len: number, value: unknown): true {
    this.#rip += len;
    this.#resumeKind = RESUME_NEXT;
    this.#resumeValue = value;
    return true;
  }

  /** An instruction completed by raising an exception in the program (RIP stays at it). */
  #resumeThrow(error: unknown): true {
    this.#resumeKind = RESUME_THROW;
    this.#resumeValue = error;
    return true;
  }

  /**
   * Execute one instruction: true when it completed inside the CPU (the resumption is in
   * #resumeKind / #resumeValue), false when it exited (the VMCB holds the #VMEXIT).
   */
  #execute(op: GuestOp): boolean {
    const regs = this.#regs;
    const vmcb = this.#vmcb;
    switch (op.op) {
      case 'load':
      case 'store': {
        const buf = this.#buf.subarray(0, op.size);
        if (op.op === 'store') this.#bufView.setBigUint64(0, op.value, true);
        const r = op.op === 'load' ? this.mem.read(op.gpa, buf) : this.mem.write(op.gpa, buf);
        const mode = codeSize(this.#save);
        const len = movMoffsLength(mode, op.size, op.gpa);
        // A RAM access completes whatever the mode (a program's load is not bound to one encoding);
        // only a nested page fault needs the bytes of a real `mov` for KVM to decode.
        if (r === NPT_OK)
          return this.#resumeNext(len || 8, op.op === 'load' ? this.#loadValue(op.size) : undefined);
        if (r === NPT_MMIO && this.protectedState) return this.#raiseVc(op, SVM_EXIT_NPF);
        // No single move does 8 bytes outside long mode.
        if (len === 0) return this.#resumeThrow(new GuestException(UD_VECTOR));
        if (op.op === 'store') setGpr(regs, VCPU_REGS_RAX, op.value);
        // Not present (a host page KVM has yet to map), write-protected, or KVM's reserved-bit MMIO entry.
        let err = op.op === 'store' ? PFERR_WRITE_MASK : 0;
        if (r === NPT_MMIO) err |= PFERR_RSVD_MASK | PFERR_PRESENT_MASK;
        else if (r === NPT_READONLY) err |= PFERR_PRESENT_MASK;
        const bytes = movMoffsBytes(mode, op.size, op.op === 'store', op.gpa)!;
        // A nested page fault has no next_rip: KVM decodes the bytes decode assist fetched.
        this.#pendingAt(op, len);
        const at = this.#faultingGpa(op.gpa, op.size, op.op === 'store');
        this.#exitAt(SVM_EXIT_NPF, err, PFERR_GUEST_FINAL_HI, at >>> 0, Math.floor(at / TWO32));
        vmcb.insnBytes.set(bytes);
        vmcb.insnLen = bytes.length;
        return false;
      }
      case 'out':
      case 'in': {
        if (this.protectedState) return this.#raiseVc(op, SVM_EXIT_IOIO);
        const mode = codeSize(this.#save);
        if (op.op === 'out') setGpr(regs, VCPU_REGS_RAX, BigInt(op.value >>> 0));
        const info =
          ((op.port << SVM_IOIO_PORT_SHIFT) |
            IOIO_ASIZE[mode] |
            (op.size << SVM_IOIO_SIZE_SHIFT) |
            (op.op === 'in' ? SVM_IOIO_TYPE_MASK : 0)) >>>
          0;
        // IOIO: exit_info_2 is the RIP of the next instruction.
        const next = this.#pendingAt(op, opLength(op, mode));
        return this.#exitAt(SVM_EXIT_IOIO, info, 0, next >>> 0, Math.floor(next / TWO32), next);
      }
      case 'rdmsr':
      case 'wrmsr':
        if (this.protectedState) return this.#raiseVc(op, SVM_EXIT_MSR);
        setGpr32(regs, VCPU_REGS_RCX, op.index >>> 0);
        if (op.op === 'wrmsr') {
          setGpr32(regs, VCPU_REGS_RAX, Number(op.value & MASK32));
          setGpr32(regs, VCPU_REGS_RDX, Number((op.value >> 32n) & MASK32));
        }
        return this.#exitAt(SVM_EXIT_MSR, op.op === 'wrmsr' ? 1 : 0, 0, 0, 0, this.#pendingAt(op, 2));
      case 'cpuid':
        if (this.protectedState) return this.#raiseVc(op, SVM_EXIT_CPUID);
        setGpr32(regs, VCPU_REGS_RAX, op.fn >>> 0);
        setGpr32(regs, VCPU_REGS_RCX, op.index >>> 0);
        return this.#exitAt(SVM_EXIT_CPUID, 0, 0, 0, 0, this.#pendingAt(op, 2));
      case 'rdpmc':
        if (this.protectedState) return this.#raiseVc(op, SVM_EXIT_RDPMC);
        setGpr32(regs, VCPU_REGS_RCX, op.counter >>> 0);
        return this.#exitAt(SVM_EXIT_RDPMC, 0, 0, 0, 0, this.#pendingAt(op, 2));
      case 'vmmcall':
        if (this.protectedState) return this.#raiseVc(op, SVM_EXIT_VMMCALL);
        setGpr(regs, VCPU_REGS_RAX, op.nr);
        for (let i = 0; i < HYPERCALL_ARG_REGS.length; i++)
          setGpr(regs, HYPERCALL_ARG_REGS[i]!, op.args[i] ?? 0n);
        return this.#exitAt(SVM_EXIT_VMMCALL, 0, 0, 0, 0, this.#pendingAt(op, 3));
      case 'hlt':
        return this.#exitAt(SVM_EXIT_HLT, 0, 0, 0, 0, this.#pendingAt(op, 1));
      case 'sti':
      case 'cli':
        this.#setIf(op.op === 'sti');
        return this.#resumeNext(1, undefined);
      case 'vmgexit':
        if (!this.protectedState) {
          // VMGEXIT outside an SEV-ES guest is an illegal instruction.
          return this.#resumeThrow(new GuestException(UD_VECTOR));
        }
        return this.#exitAt(SVM_EXIT_VMGEXIT, 0, 0, 0, 0, this.#pendingAt(op, 4));
      case 'iret': {
        if (vmcb.isIntercept(SVM_EXIT_IRET))
          return this.#exitAt(
            SVM_EXIT_IRET,
            0,
            0,
            0,
            0,
            this.#pendingAt(op, opLength(op, codeSize(this.#save))),
          );
        const frame = this.#iretFrames.pop();
        if (frame) {
          this.#setIf(frame.interruptFlag);
          this.#rip = frame.rip;
        }
        this.#resumeKind = RESUME_NEXT;
        this.#resumeValue = undefined;
        return true;
      }
      case 'triple-fault':
        this.#state = 'shutdown';
        this.#stack.length = 0;
        this.#iretFrames.length = 0;
        return this.#exitAt(SVM_EXIT_SHUTDOWN, 0, 0, 0, 0);
      default: {
        const never: never = op;
        return this.#resumeThrow(new Error(`unknown guest op ${JSON.stringify(never)}`));
      }
    }
  }

  /**
   * The GPA a nested page fault reports: the access's own when its first page faults, else the
   * start of the page after (an access crossing into a page that is not RAM).
   */
  #faultingGpa(gpa: number, size: number, write: boolean): number {
    const inFirst = 4096 - (gpa % 4096);
    if (size <= inFirst) return gpa;
    const first = this.mem.page?.(gpa, write);
    return first ? gpa + inFirst : gpa;
  }

  /** `op` (at RIP, `len` bytes long) exits: remember it and its next RIP, which is returned. */
  #pendingAt(op: GuestOp, len: number): number {
    this.#pending = op;
    this.#pendingRip = this.#rip;
    this.#pendingNext = this.#rip + len;
    return this.#pendingNext;
  }

  /** #VC for `op`, error code `code` (the exit code its intercept would have had). */
  #raiseVc(op: GuestOp, code: number): true {
    this.onVc?.(code, this.#rip);
    const handler = this.vcHandler;
    if (!handler) return this.#resumeThrow(new GuestException(VC_VECTOR));
    this.#stack.push(handler(op, this));
    // #VC is a fault: the handler's frame runs, then hands the instruction's result to the program.
    this.#resumeKind = RESUME_NEXT;
    this.#resumeValue = undefined;
    return true;
  }

  #saveRip(): void {
    setU64Number(this.#save, SAVE_RIP, this.#rip);
  }

  /** #VMEXIT with the given code and infos; an instruction intercept also reports next_rip. */
  #exitAt(code: number, info1Lo: number, info1Hi: number, info2Lo: number, info2Hi: number, next = 0): false {
    const vmcb = this.#vmcb;
    vmcb.setExit(code, info1Lo, info1Hi, info2Lo, info2Hi);
    setU64Number(vmcb.control, VMCB_NEXT_RIP, next);
    vmcb.insnLen = 0;
    this.#saveRip();
    return false;
  }

  #loadValue(size: AccessSize): bigint {
    const v = this.#bufView.getBigUint64(0, true);
    return size === 8 ? v : BigInt.asUintN(size * 8, v);
  }

  /** What a completed instruction hands back to the program, taken from the registers KVM wrote. */
  #completion(op: GuestOp): unknown {
    const regs = this.#regs;
    const rax = gpr32(regs, VCPU_REGS_RAX);
    switch (op.op) {
      case 'in':
        return op.size === 4 ? rax : rax & ((1 << (op.size * 8)) - 1);
      case 'load': {
        const v = gpr(regs, VCPU_REGS_RAX);
        return op.size === 8 ? v : BigInt.asUintN(op.size * 8, v);
      }
      case 'rdmsr':
      case 'rdpmc':
        // EDX:EAX.
        return (BigInt(gpr32(regs, VCPU_REGS_RDX)) << 32n) | BigInt(rax);
      case 'cpuid':
        return {
          eax: rax,
          ebx: gpr32(regs, VCPU_REGS_RBX),
          ecx: gpr32(regs, VCPU_REGS_RCX),
          edx: gpr32(regs, VCPU_REGS_RDX),
        } satisfies CpuidResult;
      case 'vmmcall':
        return gpr(regs, VCPU_REGS_RAX);
      default:
        return undefined;
    }
  }

  // Instructions, for guest programs: `const v = yield* cpu.in(0x60, 1)`.

  /** OUT: write `value` to `port`. */
  *out(port: number, size: IoSize, value: number): Generator<GuestOp, void, unknown> {
    yield { op: 'out', port, size, value };
  }
  /** IN: read `size` bytes from `port`. */
  *in(port: number, size: IoSize): Generator<GuestOp, number, unknown> {
    return (yield { op: 'in', port, size }) as number;
  }
  /** A load instruction (`mov rax, [gpa]`): RAM, or MMIO when the GPA is not RAM. */
  *load(gpa: number, size: AccessSize): Generator<GuestOp, bigint, unknown> {
    return (yield { op: 'load', gpa, size }) as bigint;
  }
  /** A store instruction (`mov [gpa], rax`). */
  *store(gpa: number, size: AccessSize, value: bigint): Generator<GuestOp, void, unknown> {
    yield { op: 'store', gpa, size, value: BigInt.asUintN(size * 8, value) };
  }
  /** RDMSR. */
  *rdmsr(index: number): Generator<GuestOp, bigint, unknown> {
    return (yield { op: 'rdmsr', index }) as bigint;
  }
  /** WRMSR. */
  *wrmsr(index: number, value: bigint): Generator<GuestOp, void, unknown> {
    yield { op: 'wrmsr', index, value: BigInt.asUintN(64, value) };
  }
  /** RDPMC: performance counter `counter` (ECX), as EDX:EAX. */
  *rdpmc(counter: number): Generator<GuestOp, bigint, unknown> {
    return (yield { op: 'rdpmc', counter }) as bigint;
  }
  /** CPUID. */
  *cpuid(fn: number, index = 0): Generator<GuestOp, CpuidResult, unknown> {
    return (yield { op: 'cpuid', fn, index }) as CpuidResult;
  }
  /** HLT. */
  *hlt(): Generator<GuestOp, void, unknown> {
    yield { op: 'hlt' };
  }
  /** STI: maskable interrupts may be delivered from now on. */
  *sti(): Generator<GuestOp, void, unknown> {
    yield { op: 'sti' };
  }
  /** CLI. */
  *cli(): Generator<GuestOp, void, unknown> {
    yield { op: 'cli' };
  }
  /** VMMCALL with hypercall number `nr` and up to four arguments (RBX, RCX, RDX, RSI). */
  *vmmcall(nr: bigint, ...args: bigint[]): Generator<GuestOp, bigint, unknown> {
    return (yield { op: 'vmmcall', nr, args }) as bigint;
  }
  /** VMGEXIT (SEV-ES): hand the GHCB (or the GHCB MSR request) to the hypervisor. */
  *vmgexit(): Generator<GuestOp, void, unknown> {
    yield { op: 'vmgexit' };
  }
  /** A triple fault: the CPU shuts down. */
  *tripleFault(): Generator<GuestOp, never, unknown> {
    yield { op: 'triple-fault' };
    throw new Error('unreachable: the CPU is shut down');
  }
}
