/**
 * Trace events: plain data emitted at the places Linux KVM has trace points (kvm_vmgexit_enter,
 * kvm_vmgexit_exit, kvm_vmgexit_msr_protocol_enter/_exit, kvm_userspace_exit) plus sevbox's own
 * (setupScratch outcomes, reflected errors). Plain objects so they can be serialised, diffed,
 * hashed or shipped to a browser as they are. Numbers above 2^53 are bigints.
 */

/** VMGEXIT through the GHCB page: what KVM read (trace_kvm_vmgexit_enter). */
export interface VmgexitEnterEvent {
  readonly name: 'kvm_vmgexit_enter';
  readonly vcpu: number;
  readonly exitCode: bigint;
  readonly info1: bigint;
  readonly info2: bigint;
  /** The GHCB's GPA (sevbox's addition; the kernel's tracepoint does not print it). */
  readonly ghcbGpa?: number;
}

/** GHCB unmapped at the next entry: what the guest will read (trace_kvm_vmgexit_exit). */
export interface VmgexitExitEvent {
  readonly name: 'kvm_vmgexit_exit';
  readonly vcpu: number;
  readonly exitCode: bigint;
  readonly info1: bigint;
  readonly info2: bigint;
}

/** GHCB MSR protocol request (trace_kvm_vmgexit_msr_protocol_enter). */
export interface MsrProtocolEnterEvent {
  readonly name: 'kvm_vmgexit_msr_protocol_enter';
  readonly vcpu: number;
  readonly ghcbGpa: bigint;
}

/** GHCB MSR protocol response and handler return value (trace_kvm_vmgexit_msr_protocol_exit). */
export interface MsrProtocolExitEvent {
  readonly name: 'kvm_vmgexit_msr_protocol_exit';
  readonly vcpu: number;
  readonly ghcbGpa: bigint;
  readonly result: number;
}

/** KVM_RUN returning to userspace (trace_kvm_userspace_exit): exit reason, or an errno. */
export interface UserspaceExitEvent {
  readonly name: 'kvm_userspace_exit';
  readonly vcpu: number;
  readonly reason: number;
  /** 0 for a normal exit, else the positive errno of the failed KVM_RUN. */
  readonly errno: number;
}

/** An error KVM reflected into the guest through the GHCB (sw_exit_info_1 = 2). */
export interface GhcbErrorEvent {
  readonly name: 'sevbox_ghcb_error';
  readonly vcpu: number;
  readonly exitCode: bigint;
  /** GHCB_ERR_* */
  readonly error: number;
  /** Which check: 'usage', 'missing-input', 'invalid-event', 'scratch', 'invalid-input', ... */
  readonly why: string;
}

/** Why a guest-memory access by KVM failed: no memslot, a read-only one, or the host mapping (HostFaultKind). */
export type GuestAccessFaultCause =
  | 'no-slot'
  | 'readonly'
  | 'unmapped'
  | 'missing'
  | 'beyond-eof'
  | 'protection';

/** The scratch area KVM set up (or refused) for a VMGEXIT. */
export interface ScratchEvent {
  readonly name: 'sevbox_scratch';
  readonly vcpu: number;
  readonly gpa: bigint;
  readonly len: number;
  /** 'ghcb' (inside the shared buffer), 'bounce' (outside, copied), or the failure. */
  readonly outcome: 'ghcb' | 'bounce' | 'invalid' | 'ENOMEM' | 'EFAULT';
  /** EFAULT: the first guest physical address kvm_read_guest could not read. */
  readonly faultGpa?: number;
  /** EFAULT: why. */
  readonly cause?: GuestAccessFaultCause;
}

/** KVM wrote guest memory through kvm_write_guest (a scratch write-back, an emulated store). */
export interface KvmWriteGuestEvent {
  readonly name: 'sevbox_kvm_write_guest';
  readonly gpa: number;
  readonly len: number;
  /** The vCPU whose work it is (trace events carry one; KVM-wide writes use -1). */
  readonly vcpu: number;
}

/**
 * KVM resumed the same nested page fault so often without progress that the vCPU is plainly stuck
 * (an SEV-ES guest writing to a read-only memslot: KVM cannot emulate it and never reflects it).
 */
export interface LivelockEvent {
  readonly name: 'sevbox_livelock';
  readonly vcpu: number;
  readonly gpa: number;
  readonly write: boolean;
  readonly repeats: number;
}

/** The host kernel crashed while handling the guest (see KernelOops); KVM_RUN never returns. */
export interface KernelOopsEvent {
  readonly name: 'sevbox_kernel_oops';
  readonly vcpu: number;
  readonly message: string;
}

/**
 * sevbox extension (KVM_CAP_SEVBOX_VMGEXIT_RESTART): KVM processes a VMGEXIT again that failed on
 * the host side (`from`: the scratch path, or mapping the GHCB page) instead of resuming the guest.
 */
export interface VmgexitRestartEvent {
  readonly name: 'sevbox_vmgexit_restart';
  readonly vcpu: number;
  readonly from: 'scratch' | 'ghcb-map';
}

/**
 * A debug view, not KVM's: the GHCB a VMGEXIT named as the guest wrote it privately, decrypted with
 * the key only the model knows. Emitted after kvm_vmgexit_enter when the guest reached that page
 * through a private mapping (a GHCB left private), where KVM read ciphertext.
 */
export interface DebugPrivateGhcbEvent {
  readonly name: 'sevbox_debug_private_ghcb';
  readonly vcpu: number;
  readonly ghcbGpa: number;
  readonly exitCode: bigint;
  readonly info1: bigint;
  readonly info2: bigint;
}

/**
 * A debug view, not KVM's: the model's CPU raised #VC inside an SEV-ES guest (a non-automatic exit:
 * an intercepted instruction, or an access to MMIO). On hardware no tracepoint sees this; the guest's
 * #VC handler then fills the GHCB and VMGEXITs. Delivered only to a sink that asks for it.
 */
export interface DebugVcEvent {
  readonly name: 'sevbox_debug_vc';
  readonly vcpu: number;
  /** The #VC error code: the exit code the intercept would have had (SVM_EXIT_CPUID, SVM_EXIT_NPF…). */
  readonly errorCode: number;
  /** The faulting instruction's RIP. */
  readonly rip: bigint;
}

/** Any trace event. */
export type TraceEvent =
  | VmgexitEnterEvent
  | VmgexitExitEvent
  | MsrProtocolEnterEvent
  | MsrProtocolExitEvent
  | UserspaceExitEvent
  | GhcbErrorEvent
  | ScratchEvent
  | KernelOopsEvent
  | LivelockEvent
  | KvmWriteGuestEvent
  | VmgexitRestartEvent
  | DebugPrivateGhcbEvent
  | DebugVcEvent;

/** Where trace events go. */
export type TraceSink = (event: TraceEvent) => void;
