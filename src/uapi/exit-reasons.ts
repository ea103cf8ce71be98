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

// ---- sevbox extension of memory_fault.flags (not Linux; see KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO) ----
// Linux defines only bit 3 (PRIVATE). sevbox uses bits 32 and up, which Linux leaves zero.

/** Shift of the cause code (bits 32-39) in memory_fault.flags (sevbox extension). */
export const KVM_MEMORY_EXIT_SEVBOX_CAUSE_SHIFT = 32n;
/** Mask of the cause code, unshifted. */
export const KVM_MEMORY_EXIT_SEVBOX_CAUSE_MASK = 0xffn;
/** Cause: no memslot covers the GPA (userspace never declared it RAM). */
export const KVM_MEMORY_EXIT_SEVBOX_CAUSE_NO_SLOT = 1;
/** Cause: the memslot's hva is not mapped in the VMM (munmap). */
export const KVM_MEMORY_EXIT_SEVBOX_CAUSE_HVA_UNMAPPED = 2;
/** Cause: a userfaultfd (MISSING) page not yet populated (post-copy). */
export const KVM_MEMORY_EXIT_SEVBOX_CAUSE_USERFAULT_MISSING = 3;
/** Cause: a file-backed hva beyond the file's end (SIGBUS; e.g. virtiofs DAX after truncation). */
export const KVM_MEMORY_EXIT_SEVBOX_CAUSE_BEYOND_EOF = 4;
/** Cause: KVM wanted to write a read-only memslot. */
export const KVM_MEMORY_EXIT_SEVBOX_CAUSE_READONLY = 5;
/** Cause: the hva's protection forbids the access (mprotect). */
export const KVM_MEMORY_EXIT_SEVBOX_CAUSE_PROTECTION = 6;
/** Cause: KVM could not allocate its bounce buffer (KVM_RUN fails -ENOMEM; gpa/size name the scratch area). */
export const KVM_MEMORY_EXIT_SEVBOX_CAUSE_NOMEM = 7;
/** Flag (bit 40): KVM kept the request; fix the cause and KVM_RUN again to process the same VMGEXIT again. */
export const KVM_MEMORY_EXIT_SEVBOX_RESTARTABLE = 1n << 40n;
/** Flag (bit 41): KVM was writing guest memory (else reading or mapping). */
export const KVM_MEMORY_EXIT_SEVBOX_WRITE = 1n << 41n;
/** Shift of the access code (bits 48-55): which host-side access of the VMGEXIT failed. */
export const KVM_MEMORY_EXIT_SEVBOX_ACCESS_SHIFT = 48n;
/** Access: copying the scratch area in (kvm_read_guest into the bounce buffer). */
export const KVM_MEMORY_EXIT_SEVBOX_ACCESS_SCRATCH_IN = 1;
/** Access: allocating the bounce buffer for the scratch area. */
export const KVM_MEMORY_EXIT_SEVBOX_ACCESS_SCRATCH_ALLOC = 2;
/** Access: mapping the GHCB page the GHCB MSR names. */
export const KVM_MEMORY_EXIT_SEVBOX_ACCESS_GHCB_MAP = 3;

const SEVBOX_CAUSE_NAMES = [
  '',
  'no-slot',
  'hva-unmapped',
  'userfault-missing',
  'beyond-eof',
  'readonly',
  'protection',
  'nomem',
] as const;
const SEVBOX_ACCESS_NAMES = ['', 'scratch-in', 'scratch-alloc', 'ghcb-map'] as const;

/** A cause name of the sevbox memory_fault extension. */
export type SevboxFaultCause = Exclude<(typeof SEVBOX_CAUSE_NAMES)[number], ''>;
/** An access name of the sevbox memory_fault extension. */
export type SevboxFaultAccess = Exclude<(typeof SEVBOX_ACCESS_NAMES)[number], ''>;

/** memory_fault.flags for a sevbox-annotated fault. */
export function sevboxMemoryFaultFlags(
  cause: SevboxFaultCause,
  access: SevboxFaultAccess,
  opts: { restartable: boolean; write?: boolean },
): bigint {
  let f =
    (BigInt(SEVBOX_CAUSE_NAMES.indexOf(cause)) << KVM_MEMORY_EXIT_SEVBOX_CAUSE_SHIFT) |
    (BigInt(SEVBOX_ACCESS_NAMES.indexOf(access)) << KVM_MEMORY_EXIT_SEVBOX_ACCESS_SHIFT);
  if (opts.restartable) f |= KVM_MEMORY_EXIT_SEVBOX_RESTARTABLE;
  if (opts.write) f |= KVM_MEMORY_EXIT_SEVBOX_WRITE;
  return f;
}

/** The sevbox part of memory_fault.flags, decoded; undefined when no cause code is present (plain Linux flags). */
export function decodeSevboxMemoryFaultFlags(
  flags: bigint,
):
  | { cause: SevboxFaultCause; access: SevboxFaultAccess | undefined; restartable: boolean; write: boolean }
  | undefined {
  const c = Number((flags >> KVM_MEMORY_EXIT_SEVBOX_CAUSE_SHIFT) & KVM_MEMORY_EXIT_SEVBOX_CAUSE_MASK);
  const cause = SEVBOX_CAUSE_NAMES[c];
  if (!cause) return undefined;
  const a = Number((flags >> KVM_MEMORY_EXIT_SEVBOX_ACCESS_SHIFT) & 0xffn);
  return {
    cause,
    access: SEVBOX_ACCESS_NAMES[a] || undefined,
    restartable: (flags & KVM_MEMORY_EXIT_SEVBOX_RESTARTABLE) !== 0n,
    write: (flags & KVM_MEMORY_EXIT_SEVBOX_WRITE) !== 0n,
  };
}
