/**
 * What the views look up in a trace, computed once: per-lane counts, the family and outcome values
 * with their counts (the filters), each VMGEXIT's events, and the previous VMGEXIT of the same vCPU.
 * Linear in the number of events; nothing here touches the DOM.
 */

import type { ExploreEvent, ExploreTrace, Lane } from '../src/explore/model.js';

/** The lanes, left to right. */
export const LANES: readonly Lane[] = ['guest', 'kvm', 'vmm'];

/** The filter key of an event without a family or outcome. */
export const NONE = '(none)';

/** The filter keys of an event. */
export const familyKey = (e: ExploreEvent): string => e.family ?? NONE;
export const outcomeKey = (e: ExploreEvent): string => e.outcome ?? NONE;

export interface TraceIndex {
  readonly trace: ExploreTrace;
  readonly laneCounts: Readonly<Record<Lane, number>>;
  /** Family → number of events, most frequent first. */
  readonly families: ReadonlyMap<string, number>;
  /** Outcome → number of events, most frequent first. */
  readonly outcomes: ReadonlyMap<string, number>;
  /** VMGEXIT index → the positions (in `trace.events`) of its events, in order. */
  readonly members: ReadonlyMap<number, readonly number[]>;
  /** VMGEXIT index → the position of its guest request (kind `vmgexit` or `msr-protocol`). */
  readonly heads: ReadonlyMap<number, number>;
  /** Position of a `vmgexit` event with a GHCB → the position of the previous one of the same vCPU. */
  readonly previousOnVcpu: ReadonlyMap<number, number>;
}

function byCount(m: Map<string, number>): Map<string, number> {
  return new Map([...m].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
}

/** Index `trace`. */
export function indexTrace(trace: ExploreTrace): TraceIndex {
  const laneCounts: Record<Lane, number> = { guest: 0, kvm: 0, vmm: 0 };
  const families = new Map<string, number>();
  const outcomes = new Map<string, number>();
  const members = new Map<number, number[]>();
  const heads = new Map<number, number>();
  const previousOnVcpu = new Map<number, number>();
  const lastOnVcpu = new Map<number, number>();
  const events = trace.events;
  for (let p = 0; p < events.length; p++) {
    const e = events[p]!;
    laneCounts[e.lane]++;
    const f = familyKey(e);
    families.set(f, (families.get(f) ?? 0) + 1);
    const o = outcomeKey(e);
    outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
    if (e.vmgexit !== undefined) {
      const m = members.get(e.vmgexit);
      if (m) m.push(p);
      else members.set(e.vmgexit, [p]);
      if ((e.kind === 'vmgexit' || e.kind === 'msr-protocol') && !heads.has(e.vmgexit))
        heads.set(e.vmgexit, p);
    }
    if (e.kind === 'vmgexit' && e.ghcb !== undefined) {
      const before = lastOnVcpu.get(e.vcpu);
      if (before !== undefined) previousOnVcpu.set(p, before);
      lastOnVcpu.set(e.vcpu, p);
    }
  }
  return {
    trace,
    laneCounts,
    families: byCount(families),
    outcomes: byCount(outcomes),
    members,
    heads,
    previousOnVcpu,
  };
}

/** The position of the VMGEXIT request an event belongs to (itself for a request), if any. */
export function headOf(index: TraceIndex, p: number): number | undefined {
  const e = index.trace.events[p];
  if (!e) return undefined;
  if (e.kind === 'vmgexit' || e.kind === 'msr-protocol') return p;
  return e.vmgexit === undefined ? undefined : index.heads.get(e.vmgexit);
}
