/**
 * The VMM's own trace sink: keeps the events of the current run (for RunResult.vmgexits), tracks
 * per vCPU the VMGEXIT still in progress and the last scratch-area failure, and forwards every
 * event to the caller's sink. This is how the VMM learns what KVM was doing when KVM_RUN failed,
 * since the EFAULT itself carries no such detail (the seed commit: "KVM's ABI currently sucks").
 */
import type { GuestAccessFaultCause, TraceEvent, TraceSink } from '../trace/events.js';

/** The recorder. */
export interface TraceRecorder {
  /** Install this on the Kvm. */
  readonly sink: TraceSink;
  /** Events since the last `startRun`. */
  readonly events: TraceEvent[];
  /** Forget the previous run's events (the per-vCPU state is kept: a VMGEXIT can span runs). */
  startRun(): void;
  /** A counter that grows with every event; compare two to ask "did X happen since". */
  mark(): number;
  /** The exit code of the GHCB-page VMGEXIT in progress on `vcpu` (entered, GHCB not yet unmapped). */
  openVmgexit(vcpu: number): bigint | undefined;
  /** The scratch copy-in that failed with EFAULT on `vcpu` after `mark` (where and why), if one did. */
  scratchEfaultSince(vcpu: number, mark: number): ScratchFault | undefined;
}

/** A scratch-area copy-in KVM could not make, as its trace event tells. */
export interface ScratchFault {
  readonly gpa: number;
  readonly cause: GuestAccessFaultCause;
}

/** A recorder forwarding to `forward`, if given. */
export function createTraceRecorder(forward?: TraceSink): TraceRecorder {
  const events: TraceEvent[] = [];
  const open = new Map<number, bigint>();
  const scratchEfault = new Map<number, { seq: number; fault: ScratchFault }>();
  let seq = 0;
  const sink: TraceSink = (e) => {
    seq++;
    events.push(e);
    switch (e.name) {
      case 'kvm_vmgexit_enter':
        open.set(e.vcpu, e.exitCode);
        break;
      case 'kvm_vmgexit_exit':
        open.delete(e.vcpu);
        break;
      case 'sevbox_scratch':
        if (e.outcome === 'EFAULT' && e.faultGpa !== undefined && e.cause !== undefined)
          scratchEfault.set(e.vcpu, { seq, fault: { gpa: e.faultGpa, cause: e.cause } });
        break;
      default:
        break;
    }
    forward?.(e);
  };
  return {
    sink,
    events,
    startRun: () => {
      events.length = 0;
    },
    mark: () => seq,
    openVmgexit: (vcpu) => open.get(vcpu),
    scratchEfaultSince: (vcpu, mark) => {
      const f = scratchEfault.get(vcpu);
      return f && f.seq > mark ? f.fault : undefined;
    },
  };
}
