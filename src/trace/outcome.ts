/**
 * The outcome of each VMGEXIT, folded from the trace: handled in the kernel, reflected to the guest
 * (GHCB_ERR_*), ignored (no GHCB to answer in), one or more exits to userspace, or KVM_RUN failing.
 * One VMGEXIT, one outcome: what the CLI prints, the tests compare with the spec's tables and the
 * fuzzer checks.
 */
import { errnoName } from '../uapi/errno.js';
import { kvmExitReasonName } from '../uapi/exit-reasons.js';
import { ghcbErrName, ghcbMsrInfoName } from '../uapi/ghcb.js';
import { svmExitCodeName } from '../uapi/svm.js';
import type { MsrProtocolEnterEvent, TraceEvent, VmgexitEnterEvent } from './events.js';

const short = (n: number): string => ghcbErrName(n).replace(/^GHCB_ERR_/, '');

/** How one VMGEXIT ended. */
export type VmgexitOutcome =
  /** Done in the kernel; the guest resumed with a result in the GHCB (or the MSR). */
  | { readonly kind: 'handled' }
  /** KVM wrote nothing: GHCB GPA 0, or a GHCB page KVM could not map. The guest resumed. */
  | { readonly kind: 'ignored' }
  /** KVM refused the request: sw_exit_info_1 = 2, sw_exit_info_2 = `error`. The guest resumed. */
  | { readonly kind: 'reflected'; readonly error: number; readonly why: string }
  /** KVM_RUN returned to userspace with these exit reasons (e.g. several MMIO fragments), then the guest resumed or the VM stopped. */
  | { readonly kind: 'userspace'; readonly reasons: readonly number[] }
  /** KVM_RUN failed with this errno (after `reasons` userspace exits, if any). */
  | { readonly kind: 'error'; readonly errno: number; readonly reasons: readonly number[] }
  /** The host kernel crashed handling it (a kernel bug the profile carries); the VM is dead. */
  | { readonly kind: 'oops'; readonly message: string };

/** One VMGEXIT as seen in the trace. */
export interface VmgexitRecord {
  readonly vcpu: number;
  /** 'ghcb' for the GHCB page protocol, 'msr' for the MSR protocol. */
  readonly protocol: 'ghcb' | 'msr';
  /** sw_exit_code for the GHCB protocol; the MSR value's GHCBInfo for the MSR protocol. */
  readonly exitCode: bigint;
  readonly outcome: VmgexitOutcome;
}

/** A VMGEXIT's request as its entry event names it: its protocol and exit code (or GHCBInfo). */
export function vmgexitRequest(
  e: VmgexitEnterEvent | MsrProtocolEnterEvent,
): Pick<VmgexitRecord, 'protocol' | 'exitCode'> {
  return e.name === 'kvm_vmgexit_msr_protocol_enter'
    ? { protocol: 'msr', exitCode: e.ghcbGpa & 0xfffn }
    : { protocol: 'ghcb', exitCode: e.exitCode };
}

/** A VMGEXIT's event as reports name it: an SVM exit code (SVM_EXIT_IOIO) or an MSR request (GHCB_MSR_CPUID_REQ). */
export function vmgexitName(r: Pick<VmgexitRecord, 'protocol' | 'exitCode'>): string {
  return r.protocol === 'msr' ? ghcbMsrInfoName(Number(r.exitCode)) : svmExitCodeName(r.exitCode);
}

const EINTR = 4;

interface Open {
  vcpu: number;
  protocol: 'ghcb' | 'msr';
  exitCode: bigint;
  reflected?: { error: number; why: string };
  reasons: number[];
}

/**
 * Fold a trace into one record per VMGEXIT. A GHCB-page VMGEXIT ends when KVM unmaps the GHCB at
 * the next guest entry (kvm_vmgexit_exit) or when KVM_RUN fails; an MSR-protocol one when its
 * handler returns (and, for an exit to userspace, at that exit).
 * `ignored` VMGEXITs leave no enter event, so they are invisible here: callers that need them
 * count VMGEXIT exits themselves.
 */
export function foldVmgexits(events: readonly TraceEvent[]): VmgexitRecord[] {
  const out: VmgexitRecord[] = [];
  const open = new Map<number, Open>();
  const close = (o: Open, outcome?: VmgexitOutcome): void => {
    open.delete(o.vcpu);
    let result: VmgexitOutcome;
    if (outcome) result = outcome;
    else if (o.reasons.length) result = { kind: 'userspace', reasons: o.reasons };
    else if (o.reflected) result = { kind: 'reflected', ...o.reflected };
    else result = { kind: 'handled' };
    out.push({ vcpu: o.vcpu, protocol: o.protocol, exitCode: o.exitCode, outcome: result });
  };
  for (const e of events) {
    switch (e.name) {
      case 'kvm_vmgexit_enter':
      case 'kvm_vmgexit_msr_protocol_enter': {
        const prev = open.get(e.vcpu);
        if (prev) close(prev);
        open.set(e.vcpu, { vcpu: e.vcpu, ...vmgexitRequest(e), reasons: [] });
        break;
      }
      case 'sevbox_ghcb_error': {
        const o = open.get(e.vcpu);
        if (o) o.reflected = { error: e.error, why: e.why };
        break;
      }
      case 'kvm_vmgexit_msr_protocol_exit': {
        const o = open.get(e.vcpu);
        if (o?.protocol !== 'msr') break;
        if (e.result > 0) close(o);
        else if (e.result < 0) close(o, { kind: 'error', errno: -e.result, reasons: [] });
        break;
      }
      case 'kvm_userspace_exit': {
        const o = open.get(e.vcpu);
        if (!o) break;
        // EINTR (immediate_exit, a signal) says nothing about the VMGEXIT in progress.
        if (e.errno === EINTR) break;
        if (e.errno) close(o, { kind: 'error', errno: e.errno, reasons: o.reasons });
        else {
          o.reasons.push(e.reason);
          if (o.protocol === 'msr') close(o);
        }
        break;
      }
      case 'sevbox_kernel_oops': {
        const o = open.get(e.vcpu);
        if (o) close(o, { kind: 'oops', message: e.message });
        break;
      }
      case 'sevbox_vmgexit_restart': {
        // KVM processes the failed VMGEXIT again (sevbox extension): its record reopens, and the
        // outcome is what the restarted request ends with. A GHCB that could not be mapped left no
        // record; its restart opens one with kvm_vmgexit_enter.
        if (e.from !== 'scratch' || open.has(e.vcpu)) break;
        let i = out.length - 1;
        while (i >= 0 && out[i]!.vcpu !== e.vcpu) i--;
        const last = out[i];
        if (last?.protocol !== 'ghcb' || last.outcome.kind !== 'error') break;
        out.splice(i, 1);
        open.set(e.vcpu, { vcpu: e.vcpu, protocol: 'ghcb', exitCode: last.exitCode, reasons: [] });
        break;
      }
      case 'kvm_vmgexit_exit': {
        const o = open.get(e.vcpu);
        if (o && o.protocol === 'ghcb') close(o);
        break;
      }
      default:
        break;
    }
  }
  for (const o of [...open.values()]) close(o);
  return out;
}

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
      const failed = `KVM_RUN failed (${errnoName(o.errno)})`;
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
