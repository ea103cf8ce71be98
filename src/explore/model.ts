/**
 * What the explorer shows (issue 17), as plain data: one run of the contract between the guest,
 * KVM and the VMM, recorded as a list of events in three lanes, with the GHCB page as KVM read it at
 * each VMGEXIT and the host's memory map. `sevbox explore` records it (record.ts) from a scenario,
 * a trace file or a firmware boot and serves it as JSON; the web page (web/) only reads it.
 *
 * Versioned: a page refuses a trace of another version with a clear message.
 */

export const EXPLORE_TRACE_VERSION = 1;

/** The lane an event belongs to: who acted. */
export type Lane = 'guest' | 'kvm' | 'vmm';

/**
 * What kind of event:
 * - guest: `vc` (the CPU raised #VC in the guest: the model's debug view, which KVM never has),
 *   `vmgexit` (the guest's request: its GHCB at entry), `msr-protocol` (a GHCB MSR request);
 * - kvm: `scratch` (setup_vmgexit_scratch's outcome), `ghcb-error` (a check that failed and was
 *   reflected), `vmgexit-done` (KVM resumed the guest: sw_exit_info_1/2 it wrote back), `restart`,
 *   `oops`, `livelock`;
 * - vmm: `exit` (KVM_RUN returned to userspace: its exit reason), `run-error` (KVM_RUN failed with
 *   an errno), `host-action` (the VMM or its harness changed the host: unmap, populate, budget…).
 */
export type EventKind =
  | 'vc'
  | 'vmgexit'
  | 'msr-protocol'
  | 'scratch'
  | 'ghcb-error'
  | 'vmgexit-done'
  | 'restart'
  | 'oops'
  | 'livelock'
  | 'exit'
  | 'run-error'
  | 'host-action';

/** How the VMGEXIT this event belongs to ended (the filters' "outcome"). */
export type Outcome = 'handled' | 'reflected' | 'userspace' | 'failed' | 'terminated';

export interface ExploreEvent {
  /** Position in the run, from 0. */
  readonly i: number;
  readonly lane: Lane;
  readonly kind: EventKind;
  readonly vcpu: number;
  /** The VMGEXIT (its index among the run's VMGEXITs) this event is part of, if any. */
  readonly vmgexit?: number;
  /** The event family for filters: the SVM exit code's name (SVM_EXIT_IOIO, SVM_VMGEXIT_MMIO_READ…). */
  readonly family?: string;
  readonly outcome?: Outcome;
  /** One line for the lane. */
  readonly label: string;
  /** Details as name → value (hex numbers as strings), shown in the side panel. */
  readonly detail?: Readonly<Record<string, string>>;
  /** `vmgexit`: index into {@link ExploreTrace.ghcbs}, the page as KVM read it. */
  readonly ghcb?: number;
  /** The scenario step that made it, if any. */
  readonly step?: number;
}

/** Each VMGEXIT's events, by VMGEXIT index, in the run's order. */
export function eventsByVmgexit<E extends ExploreEvent>(events: readonly E[]): Map<number, E[]> {
  const by = new Map<number, E[]>();
  for (const e of events) {
    if (e.vmgexit === undefined) continue;
    const list = by.get(e.vmgexit);
    if (list) list.push(e);
    else by.set(e.vmgexit, [e]);
  }
  return by;
}

/** A memslot and the host mapping behind it, at the end of the run. */
export interface MemslotView {
  readonly slot: number;
  readonly gpa: string;
  readonly size: string;
  readonly hva: string;
  readonly flags: number;
  /** The VMM's name for it (the scenario's RAM region). */
  readonly name?: string;
  /** How the VMM backs it: anonymous, file (MAP_SHARED) or lazy (userfaultfd). */
  readonly backing?: string;
  /** Host mapping state of its pages, in runs: anonymous, file, missing (lazy), unmapped. */
  readonly host: readonly PageRun[];
  /**
   * Once the guest's memory is encrypted (a launched SEV guest of the model): its pages in runs,
   * `private` where a guest CPU reached the page with the C-bit set, `shared` elsewhere (the
   * memory controller's debug view; a VMM on hardware does not know this).
   */
  readonly encryption?: readonly PageRun[];
}

/** Pages in a run from `from` (a GPA), all in one state. */
export interface PageRun {
  readonly from: string;
  readonly pages: number;
  readonly state: string;
}

export interface ExploreTrace {
  readonly version: typeof EXPLORE_TRACE_VERSION;
  /** What was run: a scenario's name and file, a trace file, or a firmware. */
  readonly source: {
    readonly kind: 'scenario' | 'trace' | 'firmware';
    readonly name: string;
    readonly profile?: string;
  };
  readonly events: readonly ExploreEvent[];
  /**
   * GHCB pages as KVM read them at VMGEXIT entry, base64, each without its trailing zero bytes (pad
   * to 4096 with zeros) and kept once (VMGEXITs with the same page share its index).
   */
  readonly ghcbs: readonly string[];
  /** The guest's memslots at the end, when the run had a machine. */
  readonly memslots?: readonly MemslotView[];
  /** How the run ended, one line. */
  readonly end: string;
}

/**
 * Two runs of the same guest side by side (two kernel profiles, or with and without sevbox's
 * restart capability): their VMGEXITs paired in order, and the first pair where they part ways.
 */
export interface ExploreComparison {
  readonly version: typeof EXPLORE_TRACE_VERSION;
  readonly left: ExploreTrace;
  readonly right: ExploreTrace;
  /** VMGEXITs paired by order (a side missing when one run made fewer), and whether they agree. */
  readonly pairs: readonly {
    readonly left?: number;
    readonly right?: number;
    readonly same: boolean;
  }[];
  /** The first pair that differs, and how; absent when the runs agree throughout. */
  readonly divergence?: { readonly pair: number; readonly why: string };
}
