/**
 * KVM exit reasons and the codes carried inside exit records (`kvm_run.exit_reason` and friends).
 * Values from include/uapi/linux/kvm.h (Linux 6.18); see shared/spec/kvm-uapi.md section 1.
 */

/** Unknown exit; `hw.hardware_exit_reason` holds the hardware reason. */
export const KVM_EXIT_UNKNOWN = 0;
/** Guest exception KVM could not handle (`ex`). */
export const KVM_EXIT_EXCEPTION = 1;
/** Port I/O for userspace to complete (`io`). */
export const KVM_EXIT_IO = 2;
/** Hypercall forwarded to userspace (`hypercall`); used by SEV for KVM_HC_MAP_GPA_RANGE. */
export const KVM_EXIT_HYPERCALL = 3;
/** Debug exit (`debug`). */
export const KVM_EXIT_DEBUG = 4;
/** HLT with no in-kernel LAPIC. */
export const KVM_EXIT_HLT = 5;
/** MMIO access for userspace to complete (`mmio`). */
export const KVM_EXIT_MMIO = 6;
/** Interrupt window open (userspace irqchip). */
export const KVM_EXIT_IRQ_WINDOW_OPEN = 7;
/** Guest shutdown (triple fault on x86). */
export const KVM_EXIT_SHUTDOWN = 8;
/** VM entry failed (`fail_entry`). */
export const KVM_EXIT_FAIL_ENTRY = 9;
/** Interrupted by a signal (KVM_RUN returns -EINTR). */
export const KVM_EXIT_INTR = 10;
/** TPR write (unused on x86 today). */
export const KVM_EXIT_SET_TPR = 11;
/** TPR access reporting (`tpr_access`). */
export const KVM_EXIT_TPR_ACCESS = 12;
/** s390 only. */
export const KVM_EXIT_S390_SIEIC = 13;
/** s390 only. */
export const KVM_EXIT_S390_RESET = 14;
/** Deprecated (was PowerPC DCR access). */
export const KVM_EXIT_DCR = 15;
/** NMI exit (unused on x86). */
export const KVM_EXIT_NMI = 16;
/** KVM internal error (`internal`, suberror KVM_INTERNAL_ERROR_*). */
export const KVM_EXIT_INTERNAL_ERROR = 17;
/** PowerPC only. */
export const KVM_EXIT_OSI = 18;
/** PowerPC only. */
export const KVM_EXIT_PAPR_HCALL = 19;
/** s390 only. */
export const KVM_EXIT_S390_UCONTROL = 20;
/** PowerPC BookE watchdog. */
export const KVM_EXIT_WATCHDOG = 21;
/** s390 only. */
export const KVM_EXIT_S390_TSCH = 22;
/** PowerPC only. */
export const KVM_EXIT_EPR = 23;
/** System event (`system_event`, type KVM_SYSTEM_EVENT_*). */
export const KVM_EXIT_SYSTEM_EVENT = 24;
/** s390 only. */
export const KVM_EXIT_S390_STSI = 25;
/** EOI for a split-irqchip IOAPIC (`eoi`). */
export const KVM_EXIT_IOAPIC_EOI = 26;
/** Hyper-V exit (`hyperv`). */
export const KVM_EXIT_HYPERV = 27;
/** arm64 only. */
export const KVM_EXIT_ARM_NISV = 28;
/** RDMSR forwarded to userspace (`msr`). */
export const KVM_EXIT_X86_RDMSR = 29;
/** WRMSR forwarded to userspace (`msr`). */
export const KVM_EXIT_X86_WRMSR = 30;
/** A vCPU dirty ring is full. */
export const KVM_EXIT_DIRTY_RING_FULL = 31;
/** SEV-ES AP reset hold (unused by current KVM). */
export const KVM_EXIT_AP_RESET_HOLD = 32;
/** Bus lock detected. */
export const KVM_EXIT_X86_BUS_LOCK = 33;
/** Xen hypercall (`xen`). */
export const KVM_EXIT_XEN = 34;
/** RISC-V only. */
export const KVM_EXIT_RISCV_SBI = 35;
/** RISC-V only. */
export const KVM_EXIT_RISCV_CSR = 36;
/** VM notify exit (Intel). */
export const KVM_EXIT_NOTIFY = 37;
/** LoongArch only. */
export const KVM_EXIT_LOONGARCH_IOCSR = 38;
/** Memory fault; the only exit delivered with KVM_RUN returning -1 (EFAULT/EHWPOISON) (`memory_fault`). */
export const KVM_EXIT_MEMORY_FAULT = 39;
/** TDX VMCALL for userspace (6.16+). */
export const KVM_EXIT_TDX = 40;

const EXIT_NAMES: readonly string[] = [
  'KVM_EXIT_UNKNOWN',
  'KVM_EXIT_EXCEPTION',
  'KVM_EXIT_IO',
  'KVM_EXIT_HYPERCALL',
  'KVM_EXIT_DEBUG',
  'KVM_EXIT_HLT',
  'KVM_EXIT_MMIO',
  'KVM_EXIT_IRQ_WINDOW_OPEN',
  'KVM_EXIT_SHUTDOWN',
  'KVM_EXIT_FAIL_ENTRY',
  'KVM_EXIT_INTR',
  'KVM_EXIT_SET_TPR',
  'KVM_EXIT_TPR_ACCESS',
  'KVM_EXIT_S390_SIEIC',
  'KVM_EXIT_S390_RESET',
  'KVM_EXIT_DCR',
  'KVM_EXIT_NMI',
  'KVM_EXIT_INTERNAL_ERROR',
  'KVM_EXIT_OSI',
  'KVM_EXIT_PAPR_HCALL',
  'KVM_EXIT_S390_UCONTROL',
  'KVM_EXIT_WATCHDOG',
  'KVM_EXIT_S390_TSCH',
  'KVM_EXIT_EPR',
  'KVM_EXIT_SYSTEM_EVENT',
  'KVM_EXIT_S390_STSI',
  'KVM_EXIT_IOAPIC_EOI',
  'KVM_EXIT_HYPERV',
  'KVM_EXIT_ARM_NISV',
  'KVM_EXIT_X86_RDMSR',
  'KVM_EXIT_X86_WRMSR',
  'KVM_EXIT_DIRTY_RING_FULL',
  'KVM_EXIT_AP_RESET_HOLD',
  'KVM_EXIT_X86_BUS_LOCK',
  'KVM_EXIT_XEN',
  'KVM_EXIT_RISCV_SBI',
  'KVM_EXIT_RISCV_CSR',
  'KVM_EXIT_NOTIFY',
  'KVM_EXIT_LOONGARCH_IOCSR',
  'KVM_EXIT_MEMORY_FAULT',
  'KVM_EXIT_TDX',
];

/** Printable name of an exit reason: "KVM_EXIT_IO", or "KVM_EXIT_#<n>" for a value not listed here. */
export function kvmExitReasonName(n: number): string {
  return (Number.isInteger(n) && EXIT_NAMES[n]) || `KVM_EXIT_#${n}`;
}

/** `io.direction` of KVM_EXIT_IO: the guest executed IN. */
export const KVM_EXIT_IO_IN = 0;
/** `io.direction` of KVM_EXIT_IO: the guest executed OUT. */
export const KVM_EXIT_IO_OUT = 1;

/** `internal.suberror`: instruction emulation failed. */
export const KVM_INTERNAL_ERROR_EMULATION = 1;
/** `internal.suberror`: unexpected simultaneous exceptions. */
export const KVM_INTERNAL_ERROR_SIMUL_EX = 2;
/** `internal.suberror`: unexpected VM exit while delivering an event. */
export const KVM_INTERNAL_ERROR_DELIVERY_EV = 3;
/** `internal.suberror`: unexpected hardware exit reason (pre-ad5b353240c8 SEV-ES validation failures). */
export const KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4;
/** `emulation_failure.flags` bit 0: `insn_size`/`insn_bytes` are valid. */
export const KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES = 1;

const INTERNAL_ERROR_NAMES: readonly string[] = [
  '',
  'KVM_INTERNAL_ERROR_EMULATION',
  'KVM_INTERNAL_ERROR_SIMUL_EX',
  'KVM_INTERNAL_ERROR_DELIVERY_EV',
  'KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON',
];

/** Printable name of an internal-error suberror, or "KVM_INTERNAL_ERROR_#<n>". */
export function internalErrorSuberrorName(n: number): string {
  return (Number.isInteger(n) && INTERNAL_ERROR_NAMES[n]) || `KVM_INTERNAL_ERROR_#${n}`;
}

/** `system_event.type`: the guest asked for power-off. */
export const KVM_SYSTEM_EVENT_SHUTDOWN = 1;
/** `system_event.type`: the guest asked for a reset. */
export const KVM_SYSTEM_EVENT_RESET = 2;
/** `system_event.type`: the guest crashed. */
export const KVM_SYSTEM_EVENT_CRASH = 3;
/** `system_event.type`: a vCPU woke up (arm64 WFI with suspend). */
export const KVM_SYSTEM_EVENT_WAKEUP = 4;
/** `system_event.type`: the guest asked for system suspend. */
export const KVM_SYSTEM_EVENT_SUSPEND = 5;
/**
 * `system_event.type`: an SEV-ES/SNP guest asked to terminate; ndata = 1 and data[0] = the GHCB MSR
 * value (raw TERM_REQ for the MSR protocol, the GHCB GPA for the TERM_REQUEST NAE event).
 */
export const KVM_SYSTEM_EVENT_SEV_TERM = 6;
/** `system_event.type`: a TDX guest hit a fatal error (6.16+). */
export const KVM_SYSTEM_EVENT_TDX_FATAL = 7;

const SYSTEM_EVENT_NAMES: readonly string[] = [
  '',
  'KVM_SYSTEM_EVENT_SHUTDOWN',
  'KVM_SYSTEM_EVENT_RESET',
  'KVM_SYSTEM_EVENT_CRASH',
  'KVM_SYSTEM_EVENT_WAKEUP',
  'KVM_SYSTEM_EVENT_SUSPEND',
  'KVM_SYSTEM_EVENT_SEV_TERM',
  'KVM_SYSTEM_EVENT_TDX_FATAL',
];

/** Printable name of a system event type: "KVM_SYSTEM_EVENT_SEV_TERM", or "KVM_SYSTEM_EVENT_#<n>". */
export function systemEventTypeName(n: number): string {
  return (Number.isInteger(n) && SYSTEM_EVENT_NAMES[n]) || `KVM_SYSTEM_EVENT_#${n}`;
}

/** `msr.reason`: the MSR access would have raised #GP (invalid). */
export const KVM_MSR_EXIT_REASON_INVAL = 1 << 0;
/** `msr.reason`: the MSR is unknown to KVM. */
export const KVM_MSR_EXIT_REASON_UNKNOWN = 1 << 1;
/** `msr.reason`: the access was denied by the userspace MSR filter. */
export const KVM_MSR_EXIT_REASON_FILTER = 1 << 2;

/** `memory_fault.flags`: the faulting access was to private memory (1ULL << 3); no other flag exists. */
export const KVM_MEMORY_EXIT_FLAG_PRIVATE = 1n << 3n;
