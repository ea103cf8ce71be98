/**
 * The scripted CPU backend: a guest program written in TypeScript as a generator. The program
 * yields at every instruction that may trap to the hypervisor (port I/O, a memory access that is
 * not plain RAM, MSR access, CPUID, HLT, VMMCALL, VMGEXIT) and resumes with the instruction's
 * result. RAM accesses that the nested page table satisfies never leave the backend, as on hardware.
 *
 * Guest programs see guest physical memory (`cpu.mem`) and the results of their own instructions;
 * KVM sees what SVM shows it: the #VMEXIT record and, for unprotected guests only, the registers.
 */
import {
  encodeIoioInfo,
  SVM_EXIT_CPUID,
  SVM_EXIT_HLT,
  SVM_EXIT_IOIO,
  SVM_EXIT_MSR,
  SVM_EXIT_NPF,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_VMGEXIT,
  SVM_EXIT_VMMCALL,
} from '../uapi/svm.js';
import {
  type CpuBackend,
  type GuestPhysMemory,
  NPT_MMIO,
  NPT_OK,
  NR_VCPU_REGS,
  PFERR_PRESENT_MASK,
  PFERR_RSVD_MASK,
  PFERR_WRITE_MASK,
  VCPU_REGS_RAX,
  VCPU_REGS_RBX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDX,
  VCPU_REGS_RSI,
  type VmExitRecord,
} from './backend.js';

/** Port I/O and data access widths. */
export type IoSize = 1 | 2 | 4;
export type AccessSize = 1 | 2 | 4 | 8;

/** One trapping instruction of a guest program. */
export type GuestOp =
  | { readonly op: 'out'; readonly port: number; readonly size: IoSize; readonly value: number }
  | { readonly op: 'in'; readonly port: number; readonly size: IoSize }
  | { readonly op: 'load'; readonly gpa: number; readonly size: AccessSize }
  | { readonly op: 'store'; readonly gpa: number; readonly size: AccessSize; readonly value: bigint }
  | { readonly op: 'rdmsr'; readonly index: number }
  | { readonly op: 'wrmsr'; readonly index: number; readonly value: bigint }
  | { readonly op: 'cpuid'; readonly fn: number; readonly index: number }
  | { readonly op: 'hlt' }
  | { readonly op: 'vmmcall'; readonly nr: bigint; readonly args: readonly bigint[] }
  | { readonly op: 'vmgexit' }
  | { readonly op: 'triple-fault' };

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

const VC_VECTOR = 29;
const MASK32 = 0xffff_ffffn;
const noMemory: GuestPhysMemory = {
  read: () => NPT_MMIO,
  write: () => NPT_MMIO,
};

/** The scripted guest CPU. */
export class ScriptedCpu implements CpuBackend {
  readonly protectedState: boolean;
  ghcbMsr = 0n;
  /** The guest's #VC handler (SEV-ES); without one, an instruction that raises #VC kills the guest. */
  vcHandler: VcHandler | undefined;
  /** Guest physical memory as this CPU sees it; accesses that would fault return a non-NPT_OK code. */
  mem: GuestPhysMemory = noMemory;
  /** Why the CPU shut down (an exception nobody handled, or a bug in the program), if it did. */
  crash: unknown;
  /** Set by the guest program for its observers (tests, the VMM's scenario runner). */
  readonly notes: Record<string, unknown> = {};

  #state: ScriptedState = 'ready';
  readonly #program: GuestProgram;
  readonly #regs = new BigUint64Array(NR_VCPU_REGS);
  readonly #stack: Frame[] = [];
  #pending: GuestOp | undefined;
  #skipped = false;
  /** Set by #execute when an instruction completes inside the CPU (RESUME_NEXT or RESUME_THROW). */
  #resumeKind = RESUME_NONE;
  #resumeValue: unknown;
  #injected: GuestException | undefined;
  readonly #exit: VmExitRecord = { exitCode: 0, exitInfo1: 0, exitInfo2: 0, accessSize: 0 };
  readonly #buf = new Uint8Array(8);
  readonly #bufView = new DataView(this.#buf.buffer);

  constructor(program: GuestProgram, opts: { protectedState?: boolean } = {}) {
    this.#program = program;
    this.protectedState = opts.protectedState ?? false;
  }

  get state(): ScriptedState {
    return this.#state;
  }

  get gprs(): BigUint64Array | null {
    return this.protectedState ? null : this.#regs;
  }

  attach(mem: GuestPhysMemory): void {
    this.mem = mem;
  }

  skipInstruction(): void {
    if (this.protectedState) throw new Error('KVM cannot move the RIP of a guest with protected state');
    this.#skipped = true;
  }

  injectException(vector: number, errorCode?: number): void {
    this.#injected = new GuestException(vector, errorCode);
  }

  vmrun(): VmExitRecord {
    if (this.#state === 'shutdown') return this.#record(SVM_EXIT_SHUTDOWN);
    if (this.#state === 'done') return this.#record(SVM_EXIT_HLT);
    // The resumption as two locals, not an object: this runs once per exit.
    let kind = RESUME_NONE;
    let value: unknown;
    if (this.#state === 'ready') {
      this.#state = 'running';
      this.#stack.push(this.#program(this));
      kind = RESUME_NEXT;
    } else if (this.#injected) {
      kind = RESUME_THROW;
      value = this.#injected;
      this.#injected = undefined;
      this.#pending = undefined;
    } else if (this.#pending) {
      const op = this.#pending;
      if (this.#skipped || op.op === 'vmgexit') {
        // Completed by KVM (or trap-like, as VMGEXIT is): resume past it with its result.
        kind = RESUME_NEXT;
        value = this.#completion(op);
        this.#pending = undefined;
      }
      // else: fault-like exit; the same instruction executes again below.
    }
    this.#skipped = false;
    if (kind === RESUME_NONE && !this.#pending) kind = RESUME_NEXT;
    for (;;) {
      let op: GuestOp;
      if (kind !== RESUME_NONE) {
        const next = this.#step(kind, value);
        kind = RESUME_NONE;
        value = undefined;
        if (next === undefined) {
          return this.#record(
            (this.#state as ScriptedState) === 'shutdown' ? SVM_EXIT_SHUTDOWN : SVM_EXIT_HLT,
          );
        }
        op = next;
      } else {
        op = this.#pending!;
      }
      if (!this.#execute(op)) {
        this.#pending = op;
        return this.#exit;
      }
      kind = this.#resumeKind;
      value = this.#resumeValue;
      this.#resumeValue = undefined;
    }
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

  /** An instruction completed inside the CPU: the program resumes with `value`. */
  #resumeNext(value: unknown): true {
    this.#resumeKind = RESUME_NEXT;
    this.#resumeValue = value;
    return true;
  }

  /** An instruction completed by raising an exception in the program. */
  #resumeThrow(error: unknown): true {
    this.#resumeKind = RESUME_THROW;
    this.#resumeValue = error;
    return true;
  }

  /**
   * Execute one instruction: true when it completed inside the CPU (the resumption is in
   * #resumeKind / #resumeValue), false when it exited (the #VMEXIT record is filled).
   */
  #execute(op: GuestOp): boolean {
    const regs = this.#regs;
    switch (op.op) {
      case 'load':
      case 'store': {
        const buf = this.#buf.subarray(0, op.size);
        if (op.op === 'store') this.#bufView.setBigUint64(0, op.value, true);
        const r = op.op === 'load' ? this.mem.read(op.gpa, buf) : this.mem.write(op.gpa, buf);
        if (r === NPT_OK) return this.#resumeNext(op.op === 'load' ? this.#loadValue(op.size) : undefined);
        if (r === NPT_MMIO && this.protectedState) return this.#raiseVc(op);
        regs[VCPU_REGS_RAX] = op.op === 'store' ? op.value : regs[VCPU_REGS_RAX]!;
        // Not present (a host page KVM has yet to map), or KVM's reserved-bit MMIO entry.
        let err = op.op === 'store' ? PFERR_WRITE_MASK : 0;
        if (r === NPT_MMIO) err |= PFERR_RSVD_MASK | PFERR_PRESENT_MASK;
        return this.#exitWith(SVM_EXIT_NPF, err, op.gpa, op.size);
      }
      case 'out':
      case 'in':
        if (this.protectedState) return this.#raiseVc(op);
        if (op.op === 'out') regs[VCPU_REGS_RAX] = BigInt(op.value >>> 0);
        return this.#exitWith(
          SVM_EXIT_IOIO,
          encodeIoioInfo({ port: op.port, size: op.size, in: op.op === 'in' }),
          0,
        );
      case 'rdmsr':
      case 'wrmsr':
        if (this.protectedState) return this.#raiseVc(op);
        regs[VCPU_REGS_RCX] = BigInt(op.index >>> 0);
        if (op.op === 'wrmsr') {
          regs[VCPU_REGS_RAX] = op.value & MASK32;
          regs[VCPU_REGS_RDX] = (op.value >> 32n) & MASK32;
        }
        return this.#exitWith(SVM_EXIT_MSR, op.op === 'wrmsr' ? 1 : 0, 0);
      case 'cpuid':
        if (this.protectedState) return this.#raiseVc(op);
        regs[VCPU_REGS_RAX] = BigInt(op.fn >>> 0);
        regs[VCPU_REGS_RCX] = BigInt(op.index >>> 0);
        return this.#exitWith(SVM_EXIT_CPUID, 0, 0);
      case 'vmmcall':
        if (this.protectedState) return this.#raiseVc(op);
        regs[VCPU_REGS_RAX] = op.nr;
        [VCPU_REGS_RBX, VCPU_REGS_RCX, VCPU_REGS_RDX, VCPU_REGS_RSI].forEach((r, i) => {
          regs[r] = op.args[i] ?? 0n;
        });
        return this.#exitWith(SVM_EXIT_VMMCALL, 0, 0);
      case 'hlt':
        return this.#exitWith(SVM_EXIT_HLT, 0, 0);
      case 'vmgexit':
        if (!this.protectedState) {
          // VMGEXIT outside an SEV-ES guest is an illegal instruction.
          return this.#resumeThrow(new GuestException(6));
        }
        return this.#exitWith(SVM_EXIT_VMGEXIT, 0, 0);
      case 'triple-fault':
        this.#state = 'shutdown';
        this.#stack.length = 0;
        return this.#exitWith(SVM_EXIT_SHUTDOWN, 0, 0);
      default: {
        const never: never = op;
        return this.#resumeThrow(new Error(`unknown guest op ${JSON.stringify(never)}`));
      }
    }
  }

  #raiseVc(op: GuestOp): true {
    const handler = this.vcHandler;
    if (!handler) return this.#resumeThrow(new GuestException(VC_VECTOR));
    this.#stack.push(handler(op, this));
    return this.#resumeNext(undefined);
  }

  #record(exitCode: number): VmExitRecord {
    this.#exitWith(exitCode, 0, 0);
    return this.#exit;
  }

  #exitWith(exitCode: number, exitInfo1: number, exitInfo2: number, accessSize = 0): false {
    const e = this.#exit;
    e.exitCode = exitCode;
    e.exitInfo1 = exitInfo1;
    e.exitInfo2 = exitInfo2;
    e.accessSize = accessSize;
    return false;
  }

  #loadValue(size: AccessSize): bigint {
    const v = this.#bufView.getBigUint64(0, true);
    return size === 8 ? v : v & ((1n << BigInt(size * 8)) - 1n);
  }

  /** What a completed instruction hands back to the program, taken from the registers KVM wrote. */
  #completion(op: GuestOp): unknown {
    const regs = this.#regs;
    switch (op.op) {
      case 'in':
        return Number(regs[VCPU_REGS_RAX]! & ((1n << BigInt(op.size * 8)) - 1n));
      case 'load': {
        const v = regs[VCPU_REGS_RAX]!;
        return op.size === 8 ? v : v & ((1n << BigInt(op.size * 8)) - 1n);
      }
      case 'rdmsr':
        return ((regs[VCPU_REGS_RDX]! & MASK32) << 32n) | (regs[VCPU_REGS_RAX]! & MASK32);
      case 'cpuid':
        return {
          eax: Number(regs[VCPU_REGS_RAX]! & MASK32),
          ebx: Number(regs[VCPU_REGS_RBX]! & MASK32),
          ecx: Number(regs[VCPU_REGS_RCX]! & MASK32),
          edx: Number(regs[VCPU_REGS_RDX]! & MASK32),
        } satisfies CpuidResult;
      case 'vmmcall':
        return regs[VCPU_REGS_RAX];
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
  /** CPUID. */
  *cpuid(fn: number, index = 0): Generator<GuestOp, CpuidResult, unknown> {
    return (yield { op: 'cpuid', fn, index }) as CpuidResult;
  }
  /** HLT. */
  *hlt(): Generator<GuestOp, void, unknown> {
    yield { op: 'hlt' };
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
