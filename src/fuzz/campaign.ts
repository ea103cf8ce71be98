/**
 * The campaign: generate case after case from one seed (case i from its own seed, so the cases do
 * not depend on how many workers share the work), check every invariant, count VMGEXITs, collect
 * distinct violations and findings; then shrink the first case of each with fast-check and write it
 * as a scenario file that `sevbox run` replays.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import type { ProfileName } from '../scenario/schema.js';
import type { FuzzCase } from './case.js';
import { type CaseVerdict, type CheckOptions, checkCase, type Finding, type Violation } from './check.js';
import type { ExecuteHooks } from './execute.js';
import { fuzzCaseArb } from './generate.js';

/** What a campaign is asked to do. */
export interface CampaignOptions {
  /** Wall-clock budget (default 60 unless `runs` is given). */
  readonly seconds?: number;
  /** Number of cases instead of a time budget. */
  readonly runs?: number;
  readonly seed: number;
  /** Kernel profiles to generate cases for (default all; `seed` cases also run on `prefix`). */
  readonly profiles?: readonly ProfileName[];
  /** Worker threads (default: min(2, CPUs)); 1 runs in this thread. */
  readonly workers?: number;
  /** Check determinism (a second run, trace hashes compared) on every Nth case (default 16). */
  readonly determinismEvery?: number;
  /** Progress, a few times a second. */
  readonly onProgress?: (p: Progress) => void;
  /** Test-only: hooks into every run (forces one worker). */
  readonly hooks?: ExecuteHooks;
  /** Most time spent shrinking one counterexample (default 20 s). */
  readonly shrinkSeconds?: number;
  /** Most candidate cases tried while shrinking one counterexample (default unbounded; deterministic). */
  readonly shrinkTries?: number;
  /** Most steps per case. */
  readonly maxSteps?: number;
}

/** Counters while it runs. */
export interface Progress {
  readonly cases: number;
  readonly runs: number;
  readonly vmgexits: number;
  readonly violations: number;
  readonly elapsed: number;
}

/** One distinct problem, with the first case that showed it. */
export interface Occurrence<T> {
  /** What identifies it across cases (invariant or finding kind, profile, message skeleton). */
  readonly signature: string;
  readonly first: T;
  /** Index of the first case that showed it, and that case's fast-check seed. */
  readonly caseIndex: number;
  readonly caseSeed: number;
  /** How many cases showed it. */
  count: number;
}

/** What the slice of one worker produced. */
export interface SliceResult {
  readonly cases: number;
  readonly runs: number;
  readonly vmgexits: number;
  readonly violations: Occurrence<Violation>[];
  readonly findings: Occurrence<Finding>[];
  readonly causes: [string, number][];
}

/** A shrunk counterexample. */
export interface Shrunk<T> extends Occurrence<T> {
  readonly case: FuzzCase;
  /** The problem as the shrunk case shows it. */
  readonly shrunk: T;
  readonly verdict: CaseVerdict;
}

/** The whole campaign's result. */
export interface CampaignResult {
  readonly seed: number;
  readonly workers: number;
  readonly seconds: number;
  readonly cases: number;
  readonly runs: number;
  readonly vmgexits: number;
  readonly violations: readonly Shrunk<Violation>[];
  readonly findings: readonly Shrunk<Finding>[];
  readonly causes: ReadonlyMap<string, number>;
}

/** fast-check seed of case `i` of campaign `seed`. */
export function caseSeed(seed: number, i: number): number {
  let h = (Math.imul(seed ^ 0x9e37_79b9, 0x85eb_ca6b) + Math.imul(i + 1, 0xc2b2_ae35)) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb_352d);
  h = Math.imul(h ^ (h >>> 15), 0x846c_a68b);
  return (h ^ (h >>> 16)) | 0;
}

/** The message without its numbers: violations that differ only in steps and addresses are one. */
const skeleton = (s: string): string => s.replace(/0x[0-9a-f]+|\d+/gi, '#');
/** Identity of a violation across cases. */
export const violationSignature = (v: Violation): string =>
  `${v.invariant} [${v.profile}] ${skeleton(v.message)}`;
/** Identity of a finding across cases. */
export const findingSignature = (f: Finding): string => `${f.kind} [${f.profile}]`;

/** The case of campaign `seed` at index `i`. */
export function caseAt(arb: fc.Arbitrary<FuzzCase>, seed: number, i: number): FuzzCase {
  return fc.sample(arb, { seed: caseSeed(seed, i), numRuns: 1 })[0]!;
}

/** What a slice (worker) is told. */
export interface SliceOptions {
  readonly seed: number;
  readonly start: number;
  readonly stride: number;
  /** performance.now()-free: a Date.now() deadline. */
  readonly deadline: number;
  /** Stop at this case index (exclusive). */
  readonly limit: number;
  readonly profiles?: readonly ProfileName[];
  readonly determinismEvery: number;
  readonly maxSteps?: number;
  readonly hooks?: ExecuteHooks;
}

/** Run cases start, start + stride, ... until the deadline or the limit. */
export function runSlice(o: SliceOptions, tick?: (p: Omit<Progress, 'elapsed'>) => void): SliceResult {
  const arb = fuzzCaseArb({
    ...(o.profiles ? { profiles: o.profiles } : {}),
    ...(o.maxSteps ? { maxSteps: o.maxSteps } : {}),
  });
  const violations = new Map<string, Occurrence<Violation>>();
  const findings = new Map<string, Occurrence<Finding>>();
  const causes = new Map<string, number>();
  let cases = 0;
  let runs = 0;
  let vmgexits = 0;
  let nViolations = 0;
  let lastTick = Date.now();
  for (let i = o.start; i < o.limit; i += o.stride) {
    if (Date.now() >= o.deadline) break;
    const s = caseSeed(o.seed, i);
    const c = fc.sample(arb, { seed: s, numRuns: 1 })[0]!;
    const check: CheckOptions = {
      fast: true,
      determinism: o.determinismEvery > 0 && i % o.determinismEvery === 0,
      ...(o.hooks ? { hooks: o.hooks } : {}),
    };
    const r = checkCase(c, check);
    cases++;
    runs += r.runs;
    vmgexits += r.vmgexits;
    for (const [k, n] of r.causes) causes.set(k, (causes.get(k) ?? 0) + n);
    const seenHere = new Set<string>();
    for (const v of r.violations) {
      const sig = violationSignature(v);
      if (seenHere.has(sig)) continue;
      seenHere.add(sig);
      nViolations++;
      const occ = violations.get(sig);
      if (occ) occ.count++;
      else violations.set(sig, { signature: sig, first: v, caseIndex: i, caseSeed: s, count: 1 });
    }
    for (const f of r.findings) {
      const sig = findingSignature(f);
      if (seenHere.has(sig)) continue;
      seenHere.add(sig);
      const occ = findings.get(sig);
      if (occ) occ.count++;
      else findings.set(sig, { signature: sig, first: f, caseIndex: i, caseSeed: s, count: 1 });
    }
    const now = Date.now();
    if (tick && now - lastTick >= 200) {
      lastTick = now;
      tick({ cases, runs, vmgexits, violations: nViolations });
    }
  }
  tick?.({ cases, runs, vmgexits, violations: nViolations });
  return {
    cases,
    runs,
    vmgexits,
    violations: [...violations.values()],
    findings: [...findings.values()],
    causes: [...causes],
  };
}

/** Merge slices: counts add up, the first occurrence (lowest case index) wins. */
function merge(
  slices: readonly SliceResult[],
): Omit<SliceResult, 'causes'> & { causes: Map<string, number> } {
  const v = new Map<string, Occurrence<Violation>>();
  const f = new Map<string, Occurrence<Finding>>();
  const causes = new Map<string, number>();
  const add = <T>(m: Map<string, Occurrence<T>>, o: Occurrence<T>): void => {
    const prev = m.get(o.signature);
    if (!prev) m.set(o.signature, { ...o });
    else {
      const count = prev.count + o.count;
      m.set(o.signature, o.caseIndex < prev.caseIndex ? { ...o, count } : { ...prev, count });
    }
  };
  let cases = 0;
  let runs = 0;
  let vmgexits = 0;
  for (const s of slices) {
    cases += s.cases;
    runs += s.runs;
    vmgexits += s.vmgexits;
    for (const o of s.violations) add(v, o);
    for (const o of s.findings) add(f, o);
    for (const [k, n] of s.causes) causes.set(k, (causes.get(k) ?? 0) + n);
  }
  return { cases, runs, vmgexits, violations: [...v.values()], findings: [...f.values()], causes };
}

/**
 * Shrink the case at `occ` with fast-check, keeping `holds` false (the problem present). Stops
 * improving after `seconds`, returning the smallest failing case found so far.
 */
export function shrinkCase(
  arb: fc.Arbitrary<FuzzCase>,
  caseSeedValue: number,
  shows: (c: FuzzCase) => boolean,
  seconds: number,
  tries = Number.POSITIVE_INFINITY,
): FuzzCase | undefined {
  const deadline = Date.now() + seconds * 1000;
  let n = 0;
  const r = fc.check(
    fc.property(arb, (c) => {
      if (Date.now() > deadline || n++ > tries) return true;
      return !shows(c);
    }),
    { seed: caseSeedValue, numRuns: 1, endOnFailure: false },
  );
  const c = r.failed ? (r.counterexample?.[0] as FuzzCase | undefined) : undefined;
  return c && dropSteps(c, shows, deadline);
}

/** Then drop single steps fast-check kept, last first, while the problem stays. */
function dropSteps(c: FuzzCase, shows: (c: FuzzCase) => boolean, deadline: number): FuzzCase {
  let cur = c;
  for (let i = cur.steps.length - 1; i >= 0 && cur.steps.length > 1 && Date.now() < deadline; i--) {
    const next: FuzzCase = { ...cur, steps: cur.steps.filter((_, k) => k !== i) };
    if (shows(next)) cur = next;
  }
  return cur;
}

function spawnSlice(o: SliceOptions, onTick: (p: Omit<Progress, 'elapsed'>) => void): Promise<SliceResult> {
  // The worker module sits beside this one, with the same extension: worker.ts beside campaign.ts under
  // tsx, dist/worker.mjs beside the bundle dist/sevbox.mjs (scripts/build.mjs builds both).
  const self = import.meta.url;
  const ext = self.slice(self.lastIndexOf('.'));
  const ts = ext === '.ts';
  const url = new URL(`./worker${ext}`, self);
  // From TypeScript sources (tsx), the worker registers tsx's loader before importing its module.
  const worker = ts
    ? new Worker(
        `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`,
        { eval: true, workerData: o },
      )
    : new Worker(url, { workerData: o });
  return new Promise((resolve, reject) => {
    worker.on(
      'message',
      (m: { type: 'tick'; p: Omit<Progress, 'elapsed'> } | { type: 'done'; r: SliceResult }) => {
        if (m.type === 'tick') onTick(m.p);
        else resolve(m.r);
      },
    );
    worker.on('error', reject);
    worker.on('exit', (code) => {
      if (code !== 0) reject(new Error(`fuzz worker exited with ${code}`));
    });
  });
}

/** Run a campaign. */
export async function runCampaign(opts: CampaignOptions): Promise<CampaignResult> {
  const start = Date.now();
  const seconds = opts.seconds ?? (opts.runs === undefined ? 60 : Number.POSITIVE_INFINITY);
  const deadline = Number.isFinite(seconds) ? start + seconds * 1000 : Number.POSITIVE_INFINITY;
  const limit = opts.runs ?? Number.MAX_SAFE_INTEGER;
  const workers = opts.hooks ? 1 : Math.max(1, opts.workers ?? Math.min(2, availableParallelism()));
  const base = {
    seed: opts.seed,
    stride: workers,
    deadline,
    limit,
    determinismEvery: opts.determinismEvery ?? 16,
    ...(opts.profiles ? { profiles: opts.profiles } : {}),
    ...(opts.maxSteps ? { maxSteps: opts.maxSteps } : {}),
  };
  const ticks: Omit<Progress, 'elapsed'>[] = Array.from({ length: workers }, () => ({
    cases: 0,
    runs: 0,
    vmgexits: 0,
    violations: 0,
  }));
  const report = (): void => {
    if (!opts.onProgress) return;
    const sum = ticks.reduce((a, t) => ({
      cases: a.cases + t.cases,
      runs: a.runs + t.runs,
      vmgexits: a.vmgexits + t.vmgexits,
      violations: a.violations + t.violations,
    }));
    opts.onProgress({ ...sum, elapsed: (Date.now() - start) / 1000 });
  };
  let slices: SliceResult[];
  if (workers === 1) {
    slices = [
      runSlice({ ...base, start: 0, ...(opts.hooks ? { hooks: opts.hooks } : {}) }, (p) => {
        ticks[0] = p;
        report();
      }),
    ];
  } else {
    slices = await Promise.all(
      Array.from({ length: workers }, (_, w) =>
        spawnSlice({ ...base, start: w }, (p) => {
          ticks[w] = p;
          report();
        }),
      ),
    );
  }
  const elapsed = (Date.now() - start) / 1000;
  const m = merge(slices);
  const arb = fuzzCaseArb({
    ...(opts.profiles ? { profiles: opts.profiles } : {}),
    ...(opts.maxSteps ? { maxSteps: opts.maxSteps } : {}),
  });
  const shrinkSeconds = opts.shrinkSeconds ?? 20;
  const hooks = opts.hooks ? { hooks: opts.hooks } : {};
  const violations = m.violations
    .sort((a, b) => a.caseIndex - b.caseIndex)
    .map((o): Shrunk<Violation> => {
      const shows = (c: FuzzCase): Violation | undefined =>
        checkCase(c, { fast: true, ...hooks }).violations.find((v) => violationSignature(v) === o.signature);
      const c =
        shrinkCase(arb, o.caseSeed, (x) => shows(x) !== undefined, shrinkSeconds, opts.shrinkTries) ??
        caseAt(arb, opts.seed, o.caseIndex);
      const verdict = checkCase(c, { fast: true, ...hooks });
      return { ...o, case: c, shrunk: shows(c) ?? o.first, verdict };
    });
  const findings = m.findings
    .sort((a, b) => a.signature.localeCompare(b.signature))
    .map((o): Shrunk<Finding> => {
      const shows = (c: FuzzCase): Finding | undefined =>
        checkCase(c, { fast: true }).findings.find((f) => findingSignature(f) === o.signature);
      const c =
        shrinkCase(arb, o.caseSeed, (x) => shows(x) !== undefined, shrinkSeconds, opts.shrinkTries) ??
        caseAt(arb, opts.seed, o.caseIndex);
      const verdict = checkCase(c, { fast: true });
      return { ...o, case: c, shrunk: shows(c) ?? o.first, verdict };
    });
  return {
    seed: opts.seed,
    workers,
    seconds: elapsed,
    cases: m.cases,
    runs: m.runs,
    vmgexits: m.vmgexits,
    violations,
    findings,
    causes: m.causes,
  };
}
