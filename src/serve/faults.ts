/**
 * `sevbox serve --fault …`: host failures injected from outside an unmodified client, so a VMM's
 * handling of the seed's ENOMEM and EFAULT can be tested without changing it. The same plans the
 * scenarios use (src/host/allocator.ts's budget and failslab-style plan; a host mapping taken away
 * under KVM), written as `key=value` flags:
 *
 * - `budget=BYTES`: KVM may allocate at most this much at once (bounce buffers: ENOMEM beyond).
 * - `alloc-fail-nth=N[,N…]`: the Nth allocations fail (counted from 1).
 * - `alloc-fail-over=BYTES`: every allocation larger than this fails.
 * - `unmap-gpa=GPA@vmgexit=N`: when the Nth VMGEXIT enters KVM (a GHCB one or an MSR-protocol
 *   one), the host page behind GPA is unmapped from KVM's view of the client (as if the VMM had
 *   munmapped it), so the access KVM makes next faults: the seed's EFAULT, or
 *   KVM_EXIT_MEMORY_FAULT on `current`.
 * - `unmap-gpa=GPA@exit=N`: the same, after the Nth KVM_RUN returned to the client (any guest).
 *
 * Parsing never throws: a bad flag is a message naming it.
 */
import type { AllocFaultPlan } from '../host/allocator.js';

export type FaultSpec =
  | { readonly kind: 'budget'; readonly bytes: number }
  | { readonly kind: 'alloc-fail-nth'; readonly nth: readonly number[] }
  | { readonly kind: 'alloc-fail-over'; readonly bytes: number }
  | {
      readonly kind: 'unmap-gpa';
      readonly gpa: number;
      /** The event counted: VMGEXITs entering KVM, or KVM_RUNs returning to the client. */
      readonly at: 'vmgexit' | 'exit';
      readonly n: number;
    };

/** A non-negative integer in decimal or 0x hex (with _ separators), or undefined. */
function uint(s: string): number | undefined {
  const t = s.replaceAll('_', '');
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** One `--fault` flag, or why it is not one. */
export function parseFault(flag: string): FaultSpec | string {
  const eq = flag.indexOf('=');
  const key = eq < 0 ? flag : flag.slice(0, eq);
  const value = eq < 0 ? '' : flag.slice(eq + 1);
  const bad = (why: string): string => `--fault ${flag}: ${why}`;
  switch (key) {
    case 'budget':
    case 'alloc-fail-over': {
      const bytes = uint(value);
      if (bytes === undefined) return bad('expected a byte count');
      return key === 'budget' ? { kind: 'budget', bytes } : { kind: 'alloc-fail-over', bytes };
    }
    case 'alloc-fail-nth': {
      const nth = value.split(',').map(uint);
      if (nth.length === 0 || nth.some((n) => n === undefined || n < 1))
        return bad('expected N[,N…], counted from 1');
      return { kind: 'alloc-fail-nth', nth: nth as number[] };
    }
    case 'unmap-gpa': {
      const m = /^([^@]+)@(vmgexit|exit)=(.+)$/.exec(value);
      const gpa = m ? uint(m[1]!) : undefined;
      const n = m ? uint(m[3]!) : undefined;
      if (gpa === undefined || n === undefined || n < 1)
        return bad('expected GPA@vmgexit=N or GPA@exit=N (N from 1)');
      return { kind: 'unmap-gpa', gpa, at: m![2] as 'vmgexit' | 'exit', n };
    }
    default:
      return bad('unknown fault (budget, alloc-fail-nth, alloc-fail-over, unmap-gpa)');
  }
}

/** The allocator's part of the plans: its budget and its failslab plan (undefined: none). */
export function allocatorPlan(faults: readonly FaultSpec[]): { budget?: number; faults?: AllocFaultPlan } {
  const out: { budget?: number; faults?: AllocFaultPlan } = {};
  const plan: AllocFaultPlan = {};
  for (const f of faults) {
    if (f.kind === 'budget') out.budget = f.bytes;
    else if (f.kind === 'alloc-fail-nth') plan.failNth = [...((plan.failNth as number[]) ?? []), ...f.nth];
    else if (f.kind === 'alloc-fail-over') plan.failOver = f.bytes;
  }
  if (plan.failNth !== undefined || plan.failOver !== undefined) out.faults = plan;
  return out;
}
