/**
 * Record a run for the explorer (model.ts): KVM's trace events, put in the lane of whoever acted,
 * with the GHCB page as KVM read it at each VMGEXIT, and each VMGEXIT's events tied together and
 * given its outcome. The recorder sees what a tracer and the VMM see: the trace, and guest memory
 * through the VMM (the GHCB is shared memory); never the guest's private state.
 */
import type { TraceEvent } from '../trace/events.js';
import { kvmExitReasonName } from '../uapi/exit-reasons.js';
import { GHCB_SIZE, ghcbErrName, ghcbMsrInfoName } from '../uapi/ghcb.js';
import { svmExitCodeName } from '../uapi/svm.js';
import {
  EXPLORE_TRACE_VERSION,
  type ExploreEvent,
  type ExploreTrace,
  eventsByVmgexit,
  type Outcome,
} from './model.js';

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

/** Reads `length` bytes of guest memory at a GPA as the host sees it (shared), or undefined. */
export type GuestReader = (gpa: number, length: number) => Uint8Array | undefined;

/** Mutable while recording; frozen into an ExploreTrace by {@link TraceRecorder.finish}. */
type Draft = { -readonly [K in keyof ExploreEvent]: ExploreEvent[K] };

/**
 * Turns trace events into explorer events as they come. Give it a reader of guest memory to keep
 * GHCB pages (without one, VMGEXITs have no page: a trace file replayed).
 */
export class TraceRecorder {
  readonly #events: Draft[] = [];
  readonly #ghcbs: string[] = [];
  readonly #pageIndex = new Map<string, number>();
  /** Per vCPU, the #VCs raised since its last VMGEXIT: the next one is what their handler asked. */
  readonly #vcs = new Map<number, Draft[]>();
  /** Per vCPU, the VMGEXIT in progress (its index). */
  readonly #open = new Map<number, number>();
  #vmgexits = 0;
  #reader: GuestReader | undefined;

  constructor(reader?: GuestReader) {
    this.#reader = reader;
  }

  /** Read guest memory from now on (the machine exists once the recorder is already attached). */
  setReader(reader: GuestReader): void {
    this.#reader = reader;
  }

  /**
   * A GHCB page's index in the recording. Pages are kept without their trailing zero bytes (the
   * page reads them back as zero) and once each: a guest that repeats a request repeats its page.
   */
  #keepPage(page: Uint8Array): number {
    let end = page.length;
    while (end > 0 && page[end - 1] === 0) end--;
    const b64 = Buffer.from(page.subarray(0, end)).toString('base64');
    let i = this.#pageIndex.get(b64);
    if (i === undefined) {
      i = this.#ghcbs.length;
      this.#ghcbs.push(b64);
      this.#pageIndex.set(b64, i);
    }
    return i;
  }

  #push(e: Omit<Draft, 'i'>): Draft {
    const d = { i: this.#events.length, ...e } as Draft;
    this.#events.push(d);
    return d;
  }

  #openOf(vcpu: number): { vmgexit?: number } {
    const v = this.#open.get(vcpu);
    return v === undefined ? {} : { vmgexit: v };
  }

  #enter(vcpu: number): number {
    const index = this.#vmgexits++;
    this.#open.set(vcpu, index);
    for (const vc of this.#vcs.get(vcpu) ?? []) vc.vmgexit = index;
    this.#vcs.delete(vcpu);
    return index;
  }

  /** One trace event. */
  add(e: TraceEvent): void {
    switch (e.name) {
      case 'sevbox_debug_vc': {
        const family = svmExitCodeName(e.errorCode);
        const vc = this.#push({
          lane: 'guest',
          kind: 'vc',
          vcpu: e.vcpu,
          family,
          label: `#VC ${family} at rip ${hex(e.rip)}`,
          detail: { error_code: hex(e.errorCode), rip: hex(e.rip), view: 'debug (inside the guest)' },
        });
        const list = this.#vcs.get(e.vcpu);
        if (list) list.push(vc);
        else this.#vcs.set(e.vcpu, [vc]);
        return;
      }
      case 'kvm_vmgexit_enter': {
        const family = svmExitCodeName(e.exitCode);
        const vmgexit = this.#enter(e.vcpu);
        const page = e.ghcbGpa !== undefined ? this.#reader?.(e.ghcbGpa, GHCB_SIZE) : undefined;
        const ghcb = page ? this.#keepPage(page) : undefined;
        this.#push({
          lane: 'guest',
          kind: 'vmgexit',
          vcpu: e.vcpu,
          vmgexit,
          family,
          label: `VMGEXIT ${family}`,
          detail: {
            sw_exit_code: hex(e.exitCode),
            sw_exit_info_1: hex(e.info1),
            sw_exit_info_2: hex(e.info2),
            ...(e.ghcbGpa !== undefined ? { ghcbGpa: hex(e.ghcbGpa) } : {}),
          },
          ...(ghcb !== undefined ? { ghcb } : {}),
        });
        return;
      }
      case 'kvm_vmgexit_msr_protocol_enter': {
        const info = Number(e.ghcbGpa & 0xfffn);
        const family = `MSR ${ghcbMsrInfoName(info)}`;
        const vmgexit = this.#enter(e.vcpu);
        this.#push({
          lane: 'guest',
          kind: 'msr-protocol',
          vcpu: e.vcpu,
          vmgexit,
          family,
          label: `VMGEXIT (MSR protocol) ${ghcbMsrInfoName(info)}`,
          detail: { ghcb_msr: hex(e.ghcbGpa) },
        });
        return;
      }
      case 'sevbox_scratch':
        this.#push({
          lane: 'kvm',
          kind: 'scratch',
          vcpu: e.vcpu,
          ...this.#openOf(e.vcpu),
          label: `scratch ${hex(e.gpa)}+${e.len}: ${e.outcome}`,
          detail: {
            gpa: hex(e.gpa),
            len: String(e.len),
            outcome: e.outcome,
            ...(e.faultGpa !== undefined ? { faultGpa: hex(e.faultGpa) } : {}),
            ...(e.cause !== undefined ? { cause: e.cause } : {}),
          },
        });
        return;
      case 'sevbox_ghcb_error':
        this.#push({
          lane: 'kvm',
          kind: 'ghcb-error',
          vcpu: e.vcpu,
          ...this.#openOf(e.vcpu),
          label: `reflected ${ghcbErrName(e.error)} (${e.why})`,
          detail: { error: ghcbErrName(e.error), why: e.why, sw_exit_code: hex(e.exitCode) },
        });
        return;
      case 'kvm_vmgexit_exit':
        this.#push({
          lane: 'kvm',
          kind: 'vmgexit-done',
          vcpu: e.vcpu,
          ...this.#openOf(e.vcpu),
          label: `resumed: sw_exit_info_1 ${hex(e.info1)}, sw_exit_info_2 ${hex(e.info2)}`,
          detail: { sw_exit_info_1: hex(e.info1), sw_exit_info_2: hex(e.info2) },
        });
        this.#open.delete(e.vcpu);
        return;
      case 'kvm_vmgexit_msr_protocol_exit':
        this.#push({
          lane: 'kvm',
          kind: 'vmgexit-done',
          vcpu: e.vcpu,
          ...this.#openOf(e.vcpu),
          label: `MSR protocol answered (${e.result})`,
          detail: { ghcb_msr: hex(e.ghcbGpa), result: String(e.result) },
        });
        this.#open.delete(e.vcpu);
        return;
      case 'kvm_userspace_exit': {
        const reason = kvmExitReasonName(e.reason);
        this.#push({
          lane: 'vmm',
          kind: e.errno === 0 ? 'exit' : 'run-error',
          vcpu: e.vcpu,
          ...this.#openOf(e.vcpu),
          label: e.errno === 0 ? reason : `KVM_RUN failed: errno ${e.errno} (${reason})`,
          detail: { exit_reason: reason, ...(e.errno !== 0 ? { errno: String(e.errno) } : {}) },
        });
        // A failed KVM_RUN ends the VMGEXIT it interrupted.
        if (e.errno !== 0) this.#open.delete(e.vcpu);
        return;
      }
      case 'sevbox_vmgexit_restart':
        this.#push({
          lane: 'kvm',
          kind: 'restart',
          vcpu: e.vcpu,
          ...this.#openOf(e.vcpu),
          label: `VMGEXIT restarted (${e.from})`,
        });
        return;
      case 'sevbox_kernel_oops':
        this.#push({ lane: 'kvm', kind: 'oops', vcpu: e.vcpu, ...this.#openOf(e.vcpu), label: e.message });
        return;
      case 'sevbox_livelock':
        this.#push({
          lane: 'kvm',
          kind: 'livelock',
          vcpu: e.vcpu,
          ...this.#openOf(e.vcpu),
          label: `livelock at ${hex(e.gpa)} (${e.repeats} repeats)`,
        });
        return;
      default:
        // KVM's writes to guest memory and the debug views: detail the explorer does not lane.
        return;
    }
  }

  /** Something the VMM did to the host between two KVM_RUNs (unmap, truncate, populate). */
  addHostAction(label: string, detail: Readonly<Record<string, string>>, step?: number): void {
    // The VMM acts for the whole process, not for a vCPU: -1.
    this.#push({
      lane: 'vmm',
      kind: 'host-action',
      vcpu: -1,
      label,
      detail,
      ...(step !== undefined ? { step } : {}),
    });
  }

  /**
   * Give every event of a VMGEXIT that VMGEXIT's outcome and family: reflected if KVM refused it,
   * failed if KVM_RUN failed on it (or the kernel crashed), userspace if it exited, else handled.
   */
  #settle(): void {
    for (const list of eventsByVmgexit(this.#events).values()) {
      const kinds = new Set(list.map((e) => e.kind));
      const outcome: Outcome = kinds.has('ghcb-error')
        ? 'reflected'
        : kinds.has('run-error') || kinds.has('oops')
          ? 'failed'
          : kinds.has('exit')
            ? 'userspace'
            : 'handled';
      // The request's family (a #VC before it has its own error code's: SVM_EXIT_NPF for MMIO).
      const family = list.find((e) => e.kind === 'vmgexit' || e.kind === 'msr-protocol')?.family;
      for (const e of list) {
        e.outcome = outcome;
        if (family !== undefined) e.family = family;
      }
    }
  }

  /** The recording. */
  finish(source: ExploreTrace['source'], end: string, memslots?: ExploreTrace['memslots']): ExploreTrace {
    this.#settle();
    return {
      version: EXPLORE_TRACE_VERSION,
      source,
      events: this.#events,
      ghcbs: this.#ghcbs,
      ...(memslots ? { memslots } : {}),
      end,
    };
  }
}

/** Convenience: record a finished list of trace events (no guest memory: no GHCB pages). */
export function recordEvents(
  events: readonly TraceEvent[],
  source: ExploreTrace['source'],
  end: string,
): ExploreTrace {
  const r = new TraceRecorder();
  for (const e of events) r.add(e);
  return r.finish(source, end);
}
