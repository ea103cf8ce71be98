/**
 * Pair two recorded runs VMGEXIT by VMGEXIT and find where they part ways: the first VMGEXIT whose
 * request (its family) or whose handling (its outcome, and what KVM and the VMM did: the labels of
 * its KVM and VMM events) differs. Request details that only differ in addresses a run chose (the
 * GHCB page bytes) do not count: the question is what KVM did with the same guest.
 */
import {
  EXPLORE_TRACE_VERSION,
  type ExploreComparison,
  type ExploreEvent,
  type ExploreTrace,
  eventsByVmgexit,
} from './model.js';

/** What a VMGEXIT came to: its family, outcome and the KVM/VMM events' labels, in order. */
function summary(events: readonly ExploreEvent[]): { family: string; outcome: string; acts: string[] } {
  const head = events[0]!;
  return {
    family: head.family ?? '?',
    outcome: head.outcome ?? '?',
    acts: events.filter((e) => e.lane !== 'guest').map((e) => `${e.lane}: ${e.label}`),
  };
}

/** The run's VMGEXITs in order, each as its events. */
function byVmgexit(t: ExploreTrace): ExploreEvent[][] {
  return [...eventsByVmgexit(t.events).entries()].sort((a, b) => a[0] - b[0]).map(([, list]) => list);
}

/** Why two VMGEXITs differ, or undefined when they agree. */
function difference(a: ExploreEvent[] | undefined, b: ExploreEvent[] | undefined): string | undefined {
  if (!a) return 'only the right run made this VMGEXIT';
  if (!b) return 'only the left run made this VMGEXIT';
  const x = summary(a);
  const y = summary(b);
  if (x.family !== y.family) return `the requests differ: ${x.family} against ${y.family}`;
  if (x.outcome !== y.outcome) return `${x.family}: ${x.outcome} against ${y.outcome}`;
  for (let i = 0; i < Math.max(x.acts.length, y.acts.length); i++) {
    if (x.acts[i] !== y.acts[i])
      return `${x.family}: ${x.acts[i] ?? '(nothing)'} against ${y.acts[i] ?? '(nothing)'}`;
  }
  return undefined;
}

export function compareTraces(left: ExploreTrace, right: ExploreTrace): ExploreComparison {
  const a = byVmgexit(left);
  const b = byVmgexit(right);
  const pairs: ExploreComparison['pairs'][number][] = [];
  let divergence: ExploreComparison['divergence'];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const why = difference(a[i], b[i]);
    pairs.push({
      ...(a[i] ? { left: a[i]![0]!.vmgexit! } : {}),
      ...(b[i] ? { right: b[i]![0]!.vmgexit! } : {}),
      same: why === undefined,
    });
    if (why !== undefined && divergence === undefined) divergence = { pair: i, why };
  }
  return { version: EXPLORE_TRACE_VERSION, left, right, pairs, ...(divergence ? { divergence } : {}) };
}
