/**
 * Exits to userspace as a tagged union, in the manner of rust-vmm's `VcpuExit`: decoded from the
 * kvm_run bytes (the truth), with data fields that are views of that buffer. A VMM answers an IN
 * or an MMIO read by writing into `data`; the next `run()` consumes it, as KVM does.
 */
import {
  KVM_EXIT_AP_RESET_HOLD,
  KVM_EXIT_FAIL_ENTRY,
  KVM_EXIT_HLT,
  KVM_EXIT_HYPERCALL,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_IRQ_WINDOW_OPEN,
  KVM_EXIT_MEMORY_FAULT,
  KVM_EXIT_MMIO,
  KVM_EXIT_SHUTDOWN,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_EXIT_X86_RDMSR,
  KVM_EXIT_X86_WRMSR,
} from './exit-reasons.js';
import {
  KVM_RUN_DATA_WORDS,
  KVM_RUN_OFF_FAIL_ENTRY_CPU,
  KVM_RUN_OFF_FAIL_ENTRY_REASON,
  KVM_RUN_OFF_HYPERCALL_ARGS,
  KVM_RUN_OFF_HYPERCALL_FLAGS,
  KVM_RUN_OFF_HYPERCALL_NR,
  KVM_RUN_OFF_HYPERCALL_RET,
  KVM_RUN_OFF_INTERNAL_NDATA,
  KVM_RUN_OFF_INTERNAL_SUBERROR,
  KVM_RUN_OFF_IO_COUNT,
  KVM_RUN_OFF_IO_DATA_OFFSET,
  KVM_RUN_OFF_IO_DIRECTION,
  KVM_RUN_OFF_IO_PORT,
  KVM_RUN_OFF_IO_SIZE,
  KVM_RUN_OFF_MEMORY_FAULT_FLAGS,
  KVM_RUN_OFF_MEMORY_FAULT_GPA,
  KVM_RUN_OFF_MEMORY_FAULT_SIZE,
  KVM_RUN_OFF_MMIO_DATA,
  KVM_RUN_OFF_MMIO_IS_WRITE,
  KVM_RUN_OFF_MMIO_LEN,
  KVM_RUN_OFF_MMIO_PHYS_ADDR,
  KVM_RUN_OFF_MSR_DATA,
  KVM_RUN_OFF_MSR_ERROR,
  KVM_RUN_OFF_MSR_INDEX,
  KVM_RUN_OFF_MSR_REASON,
  KVM_RUN_OFF_SYSTEM_EVENT_NDATA,
  KVM_RUN_OFF_SYSTEM_EVENT_TYPE,
  KVM_VCPU_MMAP_SIZE,
  type KvmRun,
} from './kvm-run.js';

/** An exit to userspace. `reason` is the KVM_EXIT_* number in kvm_run.exit_reason. */
export type VcpuExit =
  | { kind: 'IoIn'; reason: number; port: number; size: number; count: number; data: Uint8Array }
  | { kind: 'IoOut'; reason: number; port: number; size: number; count: number; data: Uint8Array }
  | { kind: 'MmioRead'; reason: number; addr: number; data: Uint8Array }
  | { kind: 'MmioWrite'; reason: number; addr: number; data: Uint8Array }
  | { kind: 'Hlt'; reason: number }
  | { kind: 'Shutdown'; reason: number }
  | { kind: 'SystemEvent'; reason: number; type: number; data: readonly bigint[] }
  | { kind: 'X86Rdmsr'; reason: number; index: number; msrReason: number; msr: MsrExitData }
  | { kind: 'X86Wrmsr'; reason: number; index: number; msrReason: number; value: bigint; msr: MsrExitData }
  | { kind: 'InternalError'; reason: number; suberror: number; data: readonly bigint[] }
  | {
      kind: 'Hypercall';
      reason: number;
      nr: bigint;
      args: readonly bigint[];
      flags: bigint;
      setRet(ret: bigint): void;
    }
  | { kind: 'FailEntry'; reason: number; hardwareEntryFailureReason: bigint; cpu: number }
  | { kind: 'ApResetHold'; reason: number }
  | { kind: 'MemoryFault'; reason: number; flags: bigint; gpa: bigint; size: bigint }
  | { kind: 'Intr'; reason: number }
  | { kind: 'IrqWindowOpen'; reason: number }
  | { kind: 'Unknown'; reason: number };

/** The writable part of an MSR exit: `error` (inject #GP) and `data` (the RDMSR result). */
export interface MsrExitData {
  setData(value: bigint): void;
  setError(error: boolean): void;
}

function words(run: KvmRun, ndataOff: number): bigint[] {
  const n = Math.min(run.u32(ndataOff), KVM_RUN_DATA_WORDS);
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) out.push(run.dataWord(i));
  return out;
}

/** Decode kvm_run's exit_reason and union into a VcpuExit. */
export function decodeExit(run: KvmRun): VcpuExit {
  const reason = run.exitReason;
  switch (reason) {
    case KVM_EXIT_IO: {
      const size = run.u8(KVM_RUN_OFF_IO_SIZE);
      const count = run.u32(KVM_RUN_OFF_IO_COUNT);
      const off = run.u64n(KVM_RUN_OFF_IO_DATA_OFFSET);
      const end = Math.min(off + size * count, KVM_VCPU_MMAP_SIZE);
      const data = run.bytes.subarray(Math.min(off, end), end);
      const port = run.u16(KVM_RUN_OFF_IO_PORT);
      const kind = run.u8(KVM_RUN_OFF_IO_DIRECTION) === KVM_EXIT_IO_OUT ? 'IoOut' : 'IoIn';
      return { kind, reason, port, size, count, data };
    }
    case KVM_EXIT_MMIO: {
      const len = Math.min(run.u32(KVM_RUN_OFF_MMIO_LEN), 8);
      const addr = run.u64n(KVM_RUN_OFF_MMIO_PHYS_ADDR);
      const data = run.bytes.subarray(KVM_RUN_OFF_MMIO_DATA, KVM_RUN_OFF_MMIO_DATA + len);
      return run.u8(KVM_RUN_OFF_MMIO_IS_WRITE)
        ? { kind: 'MmioWrite', reason, addr, data }
        : { kind: 'MmioRead', reason, addr, data };
    }
    case KVM_EXIT_HLT:
      return { kind: 'Hlt', reason };
    case KVM_EXIT_SHUTDOWN:
      return { kind: 'Shutdown', reason };
    case KVM_EXIT_SYSTEM_EVENT:
      return {
        kind: 'SystemEvent',
        reason,
        type: run.u32(KVM_RUN_OFF_SYSTEM_EVENT_TYPE),
        data: words(run, KVM_RUN_OFF_SYSTEM_EVENT_NDATA),
      };
    case KVM_EXIT_X86_RDMSR:
    case KVM_EXIT_X86_WRMSR: {
      const msr: MsrExitData = {
        setData: (v) => run.setU64(KVM_RUN_OFF_MSR_DATA, v),
        setError: (e) => run.setU8(KVM_RUN_OFF_MSR_ERROR, e ? 1 : 0),
      };
      const index = run.u32(KVM_RUN_OFF_MSR_INDEX);
      const msrReason = run.u32(KVM_RUN_OFF_MSR_REASON);
      return reason === KVM_EXIT_X86_RDMSR
        ? { kind: 'X86Rdmsr', reason, index, msrReason, msr }
        : { kind: 'X86Wrmsr', reason, index, msrReason, value: run.u64(KVM_RUN_OFF_MSR_DATA), msr };
    }
    case KVM_EXIT_INTERNAL_ERROR:
      return {
        kind: 'InternalError',
        reason,
        suberror: run.u32(KVM_RUN_OFF_INTERNAL_SUBERROR),
        data: words(run, KVM_RUN_OFF_INTERNAL_NDATA),
      };
    case KVM_EXIT_HYPERCALL:
      return {
        kind: 'Hypercall',
        reason,
        nr: run.u64(KVM_RUN_OFF_HYPERCALL_NR),
        args: Array.from({ length: 6 }, (_, i) => run.u64(KVM_RUN_OFF_HYPERCALL_ARGS + 8 * i)),
        flags: run.u64(KVM_RUN_OFF_HYPERCALL_FLAGS),
        setRet: (ret) => run.setU64(KVM_RUN_OFF_HYPERCALL_RET, ret),
      };
    case KVM_EXIT_FAIL_ENTRY:
      return {
        kind: 'FailEntry',
        reason,
        hardwareEntryFailureReason: run.u64(KVM_RUN_OFF_FAIL_ENTRY_REASON),
        cpu: run.u32(KVM_RUN_OFF_FAIL_ENTRY_CPU),
      };
    case KVM_EXIT_AP_RESET_HOLD:
      return { kind: 'ApResetHold', reason };
    case KVM_EXIT_MEMORY_FAULT:
      return {
        kind: 'MemoryFault',
        reason,
        flags: run.u64(KVM_RUN_OFF_MEMORY_FAULT_FLAGS),
        gpa: run.u64(KVM_RUN_OFF_MEMORY_FAULT_GPA),
        size: run.u64(KVM_RUN_OFF_MEMORY_FAULT_SIZE),
      };
    case KVM_EXIT_INTR:
      return { kind: 'Intr', reason };
    case KVM_EXIT_IRQ_WINDOW_OPEN:
      return { kind: 'IrqWindowOpen', reason };
    default:
      return { kind: 'Unknown', reason };
  }
}
