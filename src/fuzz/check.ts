/**
 * The invariants, checked on every run of a case:
 *   1. every VMGEXIT ends in exactly one outcome, the one the spec gives for its cause (oracle.ts);
 *   2. nothing but a KvmError leaves run();
 *   3. the host allocator is back to its baseline after the VM is destroyed;
 *   4. KVM writes guest memory only inside the GHCB page and the current scratch range;
 *   5. determinism: the same case gives the same trace (hash), when asked;
 *   6. profile differential: `seed` and `prefix` differ only in ENOMEM/EFAULT of the scratch path;
 *   7. the VMM's retry policies terminate.
 * Faithful kernel bugs of a profile (size-0 string I/O oops, MMIO direction quirk) come out as
 * findings, a class of their own.
 */
import type { ProfileName, StepsScenario } from '../scenario/schema.js';
import type { VmgexitOutcome } from '../trace/outcome.js';
import type { FuzzCase } from './case.js';
import { ERR, ERRNO } from './codes.js';
import { caseScenario, type ExecuteHooks, type Execution, execute } from './execute.js';
import {
  type Alternative,
  type FindingKind,
  Oracle,
  type Outcome,
  type StepExpectation,
  sameOutcome,
} from './oracle.js';

/** Which invariant broke. */
export type InvariantName =
  | 'outcome'
  | 'throw'
  | 'leak'
  | 'guest-memory'
  | 'determinism'
  | 'differential'
  | 'termination'
  | 'harness';

/** A model violation. */
export interface Violation {
  readonly invariant: InvariantName;
  readonly profile: ProfileName;
  /** The step concerned, when there is one. */
  readonly step?: number;
  readonly message: string;
}

/** A faithful kernel bug of a profile, seen in this case. */
export interface Finding {
  readonly kind: FindingKind;
  readonly profile: ProfileName;
  readonly step: number;
  readonly cause: string;
}

/** The verdict on one case. */
export interface CaseVerdict {
  readonly violations: readonly Violation[];
  readonly findings: readonly Finding[];
  /** VMGEXITs KVM handled, over all runs of the case. */
  readonly vmgexits: number;
  /** Runs made (profiles, plus the determinism re-run). */
  readonly runs: number;
  /** Per run: the oracle's expectation of every step (for reproducer files). */
  readonly expectations: ReadonlyMap<ProfileName, readonly (StepExpectation | undefined)[]>;
  /** How often each cause of the spec's tables was met, by "profile: cause". */
  readonly causes: ReadonlyMap<string, number>;
  /** Per run: how the run should end (oracle, when it could follow the run to its end) and how it did. */
  readonly stops: ReadonlyMap<ProfileName, { readonly expected?: RunStop; readonly actual?: RunStop }>;
}

/** How a run ended, in the scenario file's `expect.stop` words. */
export interface RunStop {
  readonly kind: string;
  readonly errno?: string;
}

/** Options of {@link checkCase}. */
export interface CheckOptions {
  /** Re-run and compare trace hashes (invariant 5). */
  readonly determinism?: boolean;
  /** Test-only hooks (plant a bug). */
  readonly hooks?: ExecuteHooks;
  /** Run only this profile (no differential); used to replay a reproducer. */
  readonly only?: ProfileName;
  /** Build the scenario without the schema parser (same value; the campaign's hot path). */
  readonly fast?: boolean;
}

const errName = (n: number): string => Object.entries(ERR).find(([, v]) => v === n)?.[0] ?? `#${n}`;
const errnoName = (n: number): string => Object.entries(ERRNO).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;

/** An outcome in words. */
export function describeOutcome(o: Outcome | VmgexitOutcome): string {
  switch (o.kind) {
    case 'reflected':
      return `reflected ${errName(o.error)}`;
    case 'userspace':
      return `userspace [${o.reasons.join(',')}]`;
    case 'error':
      return `KVM_RUN ${errnoName(o.errno)}${'reasons' in o && o.reasons.length ? ` after [${o.reasons.join(',')}]` : ''}`;
    default:
      return o.kind;
  }
}

/** The trace outcome as an oracle outcome (an error after userspace exits stays distinct). */
function asOutcome(o: VmgexitOutcome): Outcome | undefined {
  switch (o.kind) {
    case 'handled':
    case 'ignored':
      return { kind: o.kind };
    case 'reflected':
      return { kind: 'reflected', error: o.error };
    case 'userspace':
      return { kind: 'userspace', reasons: o.reasons };
    case 'error':
      return o.reasons.length ? undefined : { kind: 'error', errno: o.errno };
    case 'oops':
      return { kind: 'oops' };
    default:
      return undefined;
  }
}

const STOP_OF: Readonly<Record<string, string>> = {
  'kvm-error': 'kvm-error',
  'kernel-oops': 'kernel-oops',
  'internal-error': 'internal-error',
  'sev-termination': 'sev-termination',
  'unhandled-exit': 'unhandled-exit',
};

/** Invariants 1-4 and 7 on one execution, walking the oracle along. */
function checkRun(
  c: FuzzCase,
  x: Execution,
  out: {
    violations: Violation[];
    findings: Finding[];
    expectations: (StepExpectation | undefined)[];
    causes: Map<string, number>;
    stops: Map<ProfileName, { expected?: RunStop; actual?: RunStop }>;
  },
): void {
  const p = x.profile;
  const v = (invariant: InvariantName, message: string, step?: number): void => {
    out.violations.push({ invariant, profile: p, message, ...(step !== undefined ? { step } : {}) });
  };
  if (x.buildError) {
    v('harness', `the machine could not be built: ${x.buildError}`);
    return;
  }
  if (x.thrown) v('throw', x.thrown);
  if (x.leakedBytes !== 0 || x.leakedAllocs !== 0)
    v(
      'leak',
      `${x.leakedBytes} bytes in ${x.leakedAllocs} allocation(s) still charged after the VM was destroyed`,
    );
  for (const e of x.hostErrors) v('harness', `host action failed: ${e}`);
  const result = x.result;
  const stops: { expected?: RunStop; actual?: RunStop } = {};
  out.stops.set(p, stops);
  if (result) {
    const st = result.stop;
    stops.actual = st.kind === 'kvm-error' ? { kind: st.kind, errno: st.errno } : { kind: st.kind };
  }
  if (result) {
    if (result.stop.kind === 'limit')
      v('termination', `the run did not terminate within ${result.exits} exits`);
    const maxRetries =
      (c.policies.enomem.action === 'stop' ? 0 : c.policies.enomem.maxRetries) +
      (c.policies.efault.action === 'stop' ? 0 : c.policies.efault.maxRetries);
    if (result.retried.length > maxRetries)
      v('termination', `${result.retried.length} KVM_RUN retries, the policies allow ${maxRetries}`);
  }

  // Per step: the VMGEXITs it made, against the oracle.
  const byStep = new Map<number, { seen: (typeof x.vmgexits)[number]; index: number }[]>();
  x.vmgexits.forEach((g, index) => {
    if (g.step === undefined) {
      v('outcome', `a VMGEXIT outside any step: ${describeOutcome(g.outcome)}`);
      return;
    }
    const list = byStep.get(g.step) ?? [];
    list.push({ seen: g, index });
    byStep.set(g.step, list);
  });
  const allowedWrite = new Map<number, { gpa: number; len: number } | undefined>();
  const oracle = new Oracle(c, p);
  let stopped: { step: number; stop: string } | undefined;
  let unknown = false;
  for (const [i, entry] of c.steps.entries()) {
    const rec = x.steps[i];
    if (stopped || unknown) {
      if (stopped && rec?.started)
        v('outcome', `step ${i} ran although the run should have stopped at step ${stopped.step}`, i);
      out.expectations.push(undefined);
      continue;
    }
    if (!rec?.started) {
      v(
        'outcome',
        `the run stopped before step ${i} (${result ? result.stop.kind : 'no result'}), the spec says it goes on`,
        i,
      );
      break;
    }
    if (rec.error) v('harness', `the guest could not run step ${i}: ${rec.error}`, i);
    oracle.hostActions(entry.host);
    const e = oracle.step(entry.step);
    out.expectations.push(e);
    if (rec.vmgexits !== e.vmgexits) {
      v('harness', `step ${i} executed ${rec.vmgexits} VMGEXIT(s), expected ${e.vmgexits}`, i);
      unknown = true;
      continue;
    }
    const seen = byStep.get(i) ?? [];
    if (seen.length > e.vmgexits)
      v('outcome', `step ${i}: ${seen.length} outcomes for ${e.vmgexits} VMGEXIT(s)`, i);
    if (e.vmgexits === 0) continue;
    const first = seen[0];
    const actual: Outcome | undefined = first ? asOutcome(first.seen.outcome) : { kind: 'ignored' };
    if (first) allowedWrite.set(first.index, e.write);
    if (e.alternatives === 'any') {
      // Unknowable here: follow what happened, and stop checking later steps if the run ended.
      if (!rec.finished || i === c.steps.length - 1) unknown = true;
      continue;
    }
    const match: Alternative | undefined = actual && e.alternatives.find((a) => sameOutcome(a.out, actual));
    if (!match) {
      const want = e.alternatives.map((a) => `${describeOutcome(a.out)} (${a.cause})`).join(' or ');
      v(
        'outcome',
        `step ${i}: KVM did ${first ? describeOutcome(first.seen.outcome) : 'ignored'}, the spec says ${want}`,
        i,
      );
      unknown = true;
      continue;
    }
    if (match.mmioDirections !== undefined && first && first.seen.mmio !== match.mmioDirections) {
      v(
        'outcome',
        `step ${i}: MMIO exits went ${first.seen.mmio || '(none)'}, the spec says ${match.mmioDirections} (w = write, r = read)`,
        i,
      );
    }
    const key = `${p}: ${match.cause}`;
    out.causes.set(key, (out.causes.get(key) ?? 0) + 1);
    if (match.finding) out.findings.push({ kind: match.finding, profile: p, step: i, cause: match.cause });
    const after = oracle.commit(match);
    if (after.kind === 'stop') {
      stops.expected =
        after.stop === 'kvm-error' && match.out.kind === 'error'
          ? { kind: after.stop, errno: errnoName(match.out.errno) }
          : { kind: after.stop };
      stopped = { step: i, stop: after.stop };
      if (result && STOP_OF[after.stop] !== result.stop.kind)
        v(
          'outcome',
          `step ${i}: the run ended ${result.stop.kind}, the spec and the VMM policy say ${after.stop}`,
          i,
        );
    } else if (i === c.steps.length - 1 && result && result.stop.kind !== 'guest-done') {
      v('outcome', `the run ended ${result.stop.kind} after the last step, expected guest-done`, i);
    }
  }

  if (!stopped && !unknown) stops.expected = { kind: 'guest-done' };

  // Invariant 4: kvm_write_guest only into the scratch range of the VMGEXIT being finished.
  for (const w of x.writes) {
    const allowed = allowedWrite.get(w.vmgexit);
    const ok = allowed !== undefined && w.gpa >= allowed.gpa && w.gpa + w.len <= allowed.gpa + allowed.len;
    if (!ok && !(unknown && !allowedWrite.has(w.vmgexit))) {
      const step = x.vmgexits[w.vmgexit]?.step;
      v(
        'guest-memory',
        `KVM wrote ${w.len} bytes at GPA 0x${w.gpa.toString(16)} during VMGEXIT #${w.vmgexit}` +
          (allowed
            ? `; its scratch range is 0x${allowed.gpa.toString(16)}+${allowed.len}`
            : '; it has no bounce buffer to write back'),
        step,
      );
    }
  }
}

/** Invariant 6: `seed` against `prefix`, VMGEXIT by VMGEXIT. */
function differential(c: FuzzCase, seed: Execution, prefix: Execution): string | undefined {
  const n = Math.min(seed.vmgexits.length, prefix.vmgexits.length);
  for (let k = 0; k < n; k++) {
    const s = seed.vmgexits[k]!.outcome;
    const q = prefix.vmgexits[k]!.outcome;
    const so = asOutcome(s);
    const qo = asOutcome(q);
    if (so && qo && sameOutcome(so, qo)) continue;
    const allowed =
      s.kind === 'error' &&
      s.reasons.length === 0 &&
      (s.errno === ERRNO.ENOMEM || s.errno === ERRNO.EFAULT) &&
      q.kind === 'reflected' &&
      q.error === ERR.INVALID_SCRATCH_AREA;
    // A VMM that raised its budget on seed's ENOMEM runs a different host from here on.
    if (allowed && s.errno === ERRNO.ENOMEM && c.policies.enomem.action === 'raise-budget') return undefined;
    if (!allowed)
      return `VMGEXIT #${k} (step ${seed.vmgexits[k]!.step}): seed ${describeOutcome(s)}, prefix ${describeOutcome(q)}`;
  }
  if (seed.vmgexits.length > prefix.vmgexits.length)
    return `seed saw ${seed.vmgexits.length} VMGEXITs, prefix ${prefix.vmgexits.length}`;
  if (seed.vmgexits.length < prefix.vmgexits.length) {
    const last = seed.vmgexits[seed.vmgexits.length - 1]?.outcome;
    const endedOnScratchError =
      last?.kind === 'error' &&
      (last.errno === ERRNO.ENOMEM || last.errno === ERRNO.EFAULT) &&
      seed.result?.stop.kind === 'kvm-error';
    if (!endedOnScratchError)
      return `seed stopped after ${seed.vmgexits.length} VMGEXITs (${seed.result?.stop.kind}), prefix went on to ${prefix.vmgexits.length}`;
  }
  return undefined;
}

/** The profiles a case runs on: a `prefix` or `seed` case runs on both, for the differential. */
export function profilesOf(c: FuzzCase): readonly ProfileName[] {
  return c.profile === 'current' ? ['current'] : ['seed', 'prefix'];
}

/** Check every invariant on case `c`. */
export function checkCase(c: FuzzCase, opts: CheckOptions = {}): CaseVerdict {
  const violations: Violation[] = [];
  const findings: Finding[] = [];
  const expectations = new Map<ProfileName, (StepExpectation | undefined)[]>();
  const causes = new Map<string, number>();
  const stops = new Map<ProfileName, { expected?: RunStop; actual?: RunStop }>();
  let scenario: StepsScenario;
  try {
    scenario = caseScenario(c, opts.fast === true);
  } catch (e) {
    return {
      violations: [
        {
          invariant: 'harness',
          profile: c.profile,
          message: `the case is not a valid scenario: ${String(e)}`,
        },
      ],
      findings,
      vmgexits: 0,
      runs: 0,
      expectations,
      causes,
      stops,
    };
  }
  const runs = new Map<ProfileName, Execution>();
  let vmgexits = 0;
  let n = 0;
  for (const p of opts.only ? [opts.only] : profilesOf(c)) {
    const x = execute(scenario, p, {
      ...(opts.hooks ? { hooks: opts.hooks } : {}),
      hash: opts.determinism === true,
    });
    n++;
    runs.set(p, x);
    vmgexits += x.vmgexits.length;
    const exp: (StepExpectation | undefined)[] = [];
    expectations.set(p, exp);
    checkRun(c, x, { violations, findings, expectations: exp, causes, stops });
    if (opts.determinism) {
      const again = execute(scenario, p, { ...(opts.hooks ? { hooks: opts.hooks } : {}), hash: true });
      n++;
      vmgexits += again.vmgexits.length;
      if (again.traceHash !== x.traceHash)
        violations.push({
          invariant: 'determinism',
          profile: p,
          message: `trace hash ${x.traceHash.slice(0, 12)} then ${again.traceHash.slice(0, 12)}`,
        });
    }
  }
  const seed = runs.get('seed');
  const prefix = runs.get('prefix');
  if (seed && prefix && !seed.buildError && !prefix.buildError) {
    const d = differential(c, seed, prefix);
    if (d) violations.push({ invariant: 'differential', profile: 'seed', message: d });
  }
  return { violations, findings, vmgexits, runs: n, expectations, causes, stops };
}
