/**
 * Words for what happened in a scenario run: a VMGEXIT's outcome ("reflected (INVALID_SCRATCH_AREA)",
 * "exit to userspace (KVM_EXIT_MMIO ×3)", "KVM_RUN failed (EFAULT)"), a guest result, a stop reason.
 */
import type { GhcbResult } from '../guest/result.js';
import type { VmgexitOutcome } from '../trace/outcome.js';
import { errnoName } from '../uapi/errno.js';
import { kvmExitReasonName } from '../uapi/exit-reasons.js';
import { ghcbErrName } from '../uapi/ghcb.js';
import type { StopReason } from '../vmm/types.js';
import type { StepRecord } from './program.js';

const short = (n: number): string => ghcbErrName(n).replace(/^GHCB_ERR_/, '');

/** Exit reasons with runs of the same reason counted: "KVM_EXIT_MMIO ×3, KVM_EXIT_IO". */
export function describeReasons(reasons: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < reasons.length; ) {
    let j = i;
    while (j < reasons.length && reasons[j] === reasons[i]) j++;
    parts.push(`${kvmExitReasonName(reasons[i]!)}${j - i > 1 ? ` ×${j - i}` : ''}`);
    i = j;
  }
  return parts.join(', ');
}

/** One VMGEXIT's outcome, as a report line says it. */
export function describeOutcome(o: VmgexitOutcome): string {
  switch (o.kind) {
    case 'handled':
      return 'handled';
    case 'ignored':
      return 'ignored';
    case 'reflected':
      return `reflected (${short(o.error)})`;
    case 'userspace':
      return `exit to userspace (${describeReasons(o.reasons)})`;
    case 'error': {
      const failed = `KVM_RUN failed (${errnoName(o.errno) ?? `errno ${o.errno}`})`;
      return o.reasons.length ? `exit to userspace (${describeReasons(o.reasons)}), then ${failed}` : failed;
    }
    case 'oops':
      return `host kernel oops (${o.message})`;
    default: {
      const never: never = o;
      return String(never);
    }
  }
}

/** What the guest saw in a step's answer. */
export function describeResult(r: StepRecord['result']): string {
  if (!r) return 'no answer';
  switch (r.kind) {
    case 'ok':
      return 'ok';
    case 'exception':
      return `exception ${r.vector}${r.errorCode !== undefined ? ` (error code ${r.errorCode})` : ''}`;
    case 'reflected':
      return `reflected ${short(r.error)}`;
    case 'vmm-error': {
      const g = r as Extract<GhcbResult, { kind: 'vmm-error' }>;
      return `vmm-error (sw_exit_info_1 0x${g.info1.toString(16)})`;
    }
    default: {
      const never: never = r;
      return String(never);
    }
  }
}

/** How a run ended, in a line. */
export function describeStop(s: StopReason): string {
  switch (s.kind) {
    case 'guest-done':
      return 'guest done';
    case 'debug-exit':
      return `debug exit, code ${s.code}`;
    case 'shutdown':
      return `shutdown${s.crash ? ` (${s.crash})` : ''}`;
    case 'sev-termination':
      return `SEV termination set ${s.reasonSet} code ${s.reasonCode} (${s.description})`;
    case 'system-event':
      return `system event ${s.name}`;
    case 'ap-reset-hold':
      return 'AP reset hold, nobody woke the vCPU';
    case 'unhandled-exit':
      return `unhandled exit ${s.name}`;
    case 'internal-error':
      return `internal error, suberror ${s.suberror}`;
    case 'kvm-error':
      return `KVM_RUN failed (${s.errno})${s.diagnosis ? `: ${s.diagnosis.text}` : ''}${s.unresolved ? `; the VMM ${s.unresolved.startsWith('gave up') ? s.unresolved : `gave up: ${s.unresolved}`}` : ''}`;
    case 'kernel-oops':
      return `host kernel oops: ${s.message}`;
    case 'limit':
      return `exit limit reached after ${s.exits} exits`;
    default: {
      const never: never = s;
      return String(never);
    }
  }
}
