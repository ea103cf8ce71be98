/**
 * Words for what happened in a scenario run: a VMGEXIT's outcome ("reflected (INVALID_SCRATCH_AREA)",
 * "exit to userspace (KVM_EXIT_MMIO ×3)", "KVM_RUN failed (EFAULT)"), a guest result, a stop reason.
 */
import type { GhcbResult } from '../guest/result.js';
import { ghcbErrName } from '../uapi/ghcb.js';
import type { StopReason } from '../vmm/types.js';
import type { StepRecord } from './program.js';

const short = (n: number): string => ghcbErrName(n).replace(/^GHCB_ERR_/, '');

export { describeOutcome, describeReasons } from '../trace/outcome.js';

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
    case 'idle':
      return 'every vCPU waits in the kernel for an event nothing sends';
    case 'unhandled-exit':
      return `unhandled exit ${s.name}`;
    case 'internal-error':
      return `internal error, suberror ${s.suberror}`;
    case 'kvm-error':
      return `KVM_RUN failed (${s.errno})${s.diagnosis ? `: ${s.diagnosis.text}` : ''}${s.unresolved ? `; the VMM ${s.unresolved.startsWith('gave up') ? s.unresolved : `gave up: ${s.unresolved}`}` : ''}`;
    case 'kernel-oops':
      return `host kernel oops: ${s.message}`;
    case 'limit':
      return `KVM_RUN limit reached after ${s.kvmRuns} KVM_RUN calls (maxKvmRuns)`;
    case 'launch-failed':
      return `the SEV-ES launch failed: ${s.message}`;
    default: {
      const never: never = s;
      return String(never);
    }
  }
}
