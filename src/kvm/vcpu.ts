/**
 * A vCPU (the vCPU fd): `run()` is KVM_RUN. It finishes the previous userspace exit's completion,
 * then enters the guest, handles #VMEXITs in the kernel until one needs userspace, and returns that
 * exit (also written into the kvm_run bytes), or throws KvmError with the errno.
 */
import { type CpuBackend, NR_VCPU_REGS } from '../cpu/backend.js';
import { errnoName } from '../uapi/errno.js';
import { KVM_EXIT_INTR, KVM_EXIT_UNKNOWN } from '../uapi/exit-reasons.js';
import { KvmError } from '../uapi/kvm-error.js';
import { KvmRun } from '../uapi/kvm-run.js';
import { type CpuidEntry, DEFAULT_CPUID } from './cpuid.js';
import { decodeExit, type VcpuExit } from './exits.js';
import { NestedPageTable } from './guest-memory.js';
import { MsrStore } from './msr.js';
import type { Vm } from './vm.js';
import type { ExitHandler, VcpuTypeOps } from './vm-type.js';
import { svmExitHandlers, unexpectedExit } from './x86.js';

/** Exit codes below this (all of SVM's, VMGEXIT included) find their handler by array index. */
const HANDLER_TABLE_SIZE = 0x410;

/** Exits handled in the kernel in one KVM_RUN before sevbox acts as if a signal arrived (EINTR). */
export const DEFAULT_MAX_IN_KERNEL_EXITS = 10_000_000;

/** A virtual CPU. Fields marked KVM-internal are for exit handlers (src/kvm, src/sev), not VMMs. */
export class Vcpu {
  /** The kvm_run mapping (KVM_GET_VCPU_MMAP_SIZE bytes). */
  readonly runArea = new KvmRun();
  /** KVM-internal: vcpu->arch.regs. For unprotected guests it is the CPU's own register file. */
  readonly regs: BigUint64Array;
  /**
   * KVM-internal: the same registers as 32-bit halves, for handlers that need no BigInt: register r
   * is words 2r + REG_LO (bits 31:0) and 2r + REG_HI (bits 63:32).
   */
  readonly regs32: Uint32Array;
  /** KVM-internal: the #VMEXIT being handled (VMCB control exit_code / exit_info_1 / exit_info_2). */
  exitCode = 0;
  exitInfo1 = 0;
  exitInfo2 = 0;
  /** Decode assist for NPF data accesses (bytes), 0 when unknown. */
  accessSize = 0;
  /** KVM-internal: vcpu->arch.complete_userspace_io, run at the start of the next KVM_RUN. */
  completeUserspaceIo: ((vcpu: Vcpu) => number) | undefined;
  /** KVM-internal: in-kernel MSR values. */
  readonly msrs = new MsrStore();
  /** KVM_SET_CPUID2 table. */
  cpuid: readonly CpuidEntry[] = DEFAULT_CPUID;
  /** KVM-internal: the nested page table the CPU uses, and its last host fault. */
  readonly npt: NestedPageTable;
  /** KVM-internal: the VM type's per-vCPU hooks. */
  readonly typeOps: VcpuTypeOps;
  /** In-kernel exits allowed per KVM_RUN before it returns EINTR, as if the VMM's watchdog signalled. */
  maxInKernelExits = DEFAULT_MAX_IN_KERNEL_EXITS;
  /** Counts every #VMEXIT handled, for statistics and benchmarks. */
  exits = 0;
  /** KVM-internal: the guest's CPL as KVM knows it (from the GHCB for SEV-ES; 0 for scripted guests). */
  cpl = 0;
  /** KVM-internal: vcpu->mmio_is_write, set only by the instruction emulator's MMIO path. */
  mmioIsWrite = false;

  readonly #handlers: ReadonlyMap<number, ExitHandler>;
  /** The same handlers indexed by exit code below HANDLER_TABLE_SIZE (an array lookup per exit). */
  readonly #table: (ExitHandler | undefined)[];
  #destroyed = false;

  constructor(
    readonly vm: Vm,
    readonly id: number,
    readonly backend: CpuBackend,
  ) {
    this.regs = backend.gprs ?? new BigUint64Array(NR_VCPU_REGS);
    this.regs32 = new Uint32Array(this.regs.buffer, this.regs.byteOffset, 2 * this.regs.length);
    this.npt = new NestedPageTable(vm.spaces[0]!, vm.host);
    backend.attach(this.npt);
    this.typeOps = vm.typeOps.createVcpu(this);
    const extra = this.typeOps.exitHandlers;
    this.#handlers = extra ? new Map([...svmExitHandlers, ...extra]) : svmExitHandlers;
    this.#table = new Array<ExitHandler | undefined>(HANDLER_TABLE_SIZE).fill(undefined);
    for (const [code, h] of this.#handlers) if (code >= 0 && code < HANDLER_TABLE_SIZE) this.#table[code] = h;
  }

  /** KVM_RUN. Returns the exit to userspace; throws KvmError (EINTR, EFAULT, ENOMEM, EINVAL, EIO...). */
  run(): VcpuExit {
    const r = this.runRaw();
    if (r < 0) throw new KvmError(errnoName(-r) ?? 'EINVAL', `KVM_RUN on vcpu ${this.id}`);
    return decodeExit(this.runArea);
  }

  /**
   * KVM_RUN without decoding: 0 when kvm_run holds an exit, -errno on failure (kvm_run keeps what
   * KVM wrote, e.g. KVM_EXIT_MEMORY_FAULT). For hot loops that read kvm_run themselves.
   */
  runRaw(): number {
    const r = this.#run();
    const trace = this.vm.trace;
    if (trace)
      trace({
        name: 'kvm_userspace_exit',
        vcpu: this.id,
        reason: this.runArea.exitReason,
        errno: r < 0 ? -r : 0,
      });
    return r;
  }

  #run(): number {
    if (this.#destroyed || this.vm.dead) return -5; // EIO
    const run = this.runArea;
    run.flags = 0;
    const cui = this.completeUserspaceIo;
    if (cui) {
      this.completeUserspaceIo = undefined;
      const r = cui(this);
      if (r <= 0) return r;
    }
    if (run.immediateExit) return -4; // EINTR, exit_reason untouched
    if (this.vm.core.presetExitReasonUnknown) run.exitReason = KVM_EXIT_UNKNOWN;
    const backend = this.backend;
    const table = this.#table;
    const typeOps = this.typeOps;
    for (let n = 0; ; n++) {
      if (n >= this.maxInKernelExits) {
        run.exitReason = KVM_EXIT_INTR;
        return -4;
      }
      typeOps.prepareSwitchToGuest?.();
      const rec = backend.vmrun();
      this.exits++;
      this.exitCode = rec.exitCode;
      this.exitInfo1 = rec.exitInfo1;
      this.exitInfo2 = rec.exitInfo2;
      this.accessSize = rec.accessSize;
      const handler = this.#handler(table, rec.exitCode);
      const r = handler ? handler(this) : unexpectedExit(this);
      if (r <= 0) return r;
    }
  }

  /** KVM-internal: svm_invoke_exit_handler, for VM types that dispatch on a code of their own. */
  invokeExitHandler(exitCode: number): number {
    const handler = this.#handler(this.#table, exitCode);
    if (!handler) {
      this.exitCode = exitCode;
      return unexpectedExit(this);
    }
    return handler(this);
  }

  /** The exit handler for `exitCode`: from the table when the code is small, else from the map. */
  #handler(table: (ExitHandler | undefined)[], exitCode: number): ExitHandler | undefined {
    return exitCode >= 0 && exitCode < HANDLER_TABLE_SIZE ? table[exitCode] : this.#handlers.get(exitCode);
  }

  /** Decode what kvm_run currently holds (e.g. KVM_EXIT_MEMORY_FAULT after an EFAULT). */
  decodeExit(): VcpuExit {
    return decodeExit(this.runArea);
  }

  /** KVM-internal: skip_emulated_instruction (nothing for protected state: KVM cannot move its RIP). */
  skipInstruction(): void {
    if (!this.backend.protectedState) this.backend.skipInstruction();
  }

  /** Close the vCPU: the VM type frees what it holds for it. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.typeOps.destroy?.();
  }
}
