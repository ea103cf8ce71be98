/**
 * Reporting: reproducer scenario files for shrunk violations and findings (the oracle's
 * expectations written into each step, so `sevbox run` shows ✗ where the model departs from the
 * spec, or ✓ for a faithful kernel bug), and the campaign summary as text or as JSON.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ProfileName } from '../scenario/schema.js';
import type { CampaignResult, Shrunk } from './campaign.js';
import { type FuzzCase, toScenarioDoc } from './case.js';
import type { Finding, RunStop, Violation } from './check.js';
import { ERR, ERRNO, REASON } from './codes.js';
import type { Outcome, StepExpectation } from './oracle.js';

const nameOf = (table: Readonly<Record<string, number>>, n: number): string | number =>
  Object.entries(table).find(([, v]) => v === n)?.[0] ?? n;

/** An oracle outcome in the scenario file's `expect.outcome` words. */
export function outcomeDoc(o: Outcome): unknown {
  switch (o.kind) {
    case 'handled':
    case 'ignored':
      return o.kind;
    case 'reflected':
      return { reflected: nameOf(ERR, o.error) };
    case 'userspace':
      return {
        userspace: o.reasons.map((r) => {
          const n = nameOf(REASON, r);
          return typeof n === 'string' ? `KVM_EXIT_${n}` : n;
        }),
      };
    case 'error':
      return { 'kvm-error': nameOf(ERRNO, o.errno) };
    case 'oops':
      return 'kernel-oops';
    default: {
      const never: never = o;
      return never;
    }
  }
}

/** The reproducer document of `c` on `profile`, with the oracle's expectation on each step it can name. */
export function reproducerDoc(
  c: FuzzCase,
  profile: ProfileName,
  expectations: readonly (StepExpectation | undefined)[] | undefined,
  name: string,
  description: string,
  stop?: RunStop,
): Record<string, unknown> {
  const expect = c.steps.map((_, i) => {
    const e = expectations?.[i];
    if (e?.vmgexits !== 1 || e.alternatives === 'any' || e.alternatives.length !== 1) return undefined;
    return { outcome: outcomeDoc(e.alternatives[0]!.out) };
  });
  return toScenarioDoc(c, {
    name,
    description,
    profile,
    expect,
    ...(stop ? { runExpect: { stop: { ...stop } } } : {}),
  });
}

/** A scenario document as YAML, with a comment header. */
export function toYaml(doc: Record<string, unknown>, header: readonly string[]): string {
  return `${header.map((l) => `# ${l}`).join('\n')}\n${stringify(doc, { lineWidth: 0 })}`;
}

const slug = (s: string): string =>
  s
    .replace(/[^a-z0-9]+/gi, '-')
    .replace(/^-|-$/g, '')
    .toLowerCase();

/** Write one file per shrunk violation and finding into `dir`; returns the paths, in order. */
export async function writeReproducers(
  r: CampaignResult,
  dir: string,
): Promise<{ violations: string[]; findings: string[] }> {
  await mkdir(dir, { recursive: true });
  const write = async <T extends Violation | Finding>(
    s: Shrunk<T>,
    file: string,
    name: string,
    description: string,
  ): Promise<string> => {
    const p = s.shrunk.profile;
    const st = s.verdict.stops.get(p);
    const doc = reproducerDoc(
      s.case,
      p,
      s.verdict.expectations.get(p),
      name,
      description,
      st?.expected ?? st?.actual,
    );
    const path = join(dir, file);
    await writeFile(
      path,
      toYaml(doc, [
        `sevbox fuzz --seed ${r.seed}: case #${s.caseIndex} (fast-check seed ${s.caseSeed}), shrunk to ${s.case.steps.length} step(s)`,
        `replay: sevbox run ${path}`,
      ]),
    );
    return path;
  };
  const violations: string[] = [];
  let k = 0;
  for (const v of r.violations) {
    k++;
    const x = v.shrunk;
    violations.push(
      await write(
        v,
        `violation-${k}-${x.invariant}-${x.profile}.yaml`,
        `fuzz violation ${k}: ${x.invariant} [${x.profile}]`,
        `${x.message}. Invariant ${x.invariant}; the step expectations are what ../shared/spec/vmgexit.md says.`,
      ),
    );
  }
  const findings: string[] = [];
  for (const f of r.findings) {
    const x = f.shrunk;
    findings.push(
      await write(
        f,
        `finding-${slug(x.kind)}-${x.profile}.yaml`,
        `fuzz finding: ${x.kind} [${x.profile}]`,
        `A kernel bug the ${x.profile} profile faithfully carries (${x.cause}), not a model violation.`,
      ),
    );
  }
  return { violations, findings };
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** The summary lines of a campaign. */
export function formatSummary(
  r: CampaignResult,
  files?: { violations: readonly string[]; findings: readonly string[] },
): string[] {
  const out = [
    `sevbox fuzz — seed ${r.seed}, ${r.workers} worker(s), ${r.seconds.toFixed(1)} s`,
    `  cases       ${fmt(r.cases)} (${fmt(r.runs)} runs: seed cases also on prefix, every 16th twice)`,
    `  VMGEXITs    ${fmt(r.vmgexits)} (${fmt(r.vmgexits / Math.max(r.seconds, 1e-9))}/s)`,
    `  violations  ${r.violations.length === 0 ? '0' : `${r.violations.length} distinct`}`,
  ];
  r.violations.forEach((v, i) => {
    out.push(
      `    ${i + 1}. ${v.shrunk.invariant} [${v.shrunk.profile}] in ${v.count} case(s): ${v.shrunk.message}`,
      `       first: case #${v.caseIndex} (fast-check seed ${v.caseSeed}); shrunk to ${v.case.steps.length} step(s)${files?.violations[i] ? `: ${files.violations[i]}` : ''}`,
    );
  });
  out.push(`  findings (faithful kernel bugs of a profile)`);
  const profiles: ProfileName[] = ['prefix', 'seed', 'current'];
  for (const p of profiles) {
    const fs = r.findings.filter((f) => f.shrunk.profile === p);
    if (!fs.length) out.push(`    ${p.padEnd(8)} none`);
    for (const f of fs) {
      const i = r.findings.indexOf(f);
      out.push(
        `    ${p.padEnd(8)} ${f.shrunk.kind} in ${f.count} case(s): ${f.shrunk.cause}${files?.findings[i] ? ` → ${files.findings[i]}` : ''}`,
      );
    }
  }
  const zeroIo = r.causes.get('current: IOIO with size field 0 ignored') ?? 0;
  const zeroStr = r.causes.get('current: zero-length string I/O ignored') ?? 0;
  out.push(
    `    current: ${fmt(zeroIo)} IOIO requests with size field 0 and ${fmt(zeroStr)} zero-length string I/Os, all ignored (no host fault)`,
  );
  out.push(`  causes met  ${r.causes.size} (profile, cause) pairs of the spec's tables`);
  return out;
}

/** A shrunk problem in the JSON summary: where it was first seen and how small it shrank. */
interface ShrunkJson {
  readonly profile: ProfileName;
  readonly count: number;
  readonly caseIndex: number;
  readonly caseSeed: number;
  readonly steps: number;
  readonly reproducer: string | null;
}

/** The campaign summary as one JSON document (`sevbox fuzz --json`): formatSummary's facts, as values. */
export interface FuzzSummaryJson {
  readonly seed: number;
  readonly workers: number;
  readonly seconds: number;
  readonly cases: number;
  readonly runs: number;
  readonly vmgexits: number;
  readonly violations: readonly (ShrunkJson & {
    readonly invariant: string;
    readonly step: number | null;
    readonly message: string;
  })[];
  readonly findings: readonly (ShrunkJson & {
    readonly kind: string;
    readonly step: number;
    readonly cause: string;
  })[];
  /** (profile, cause) pairs of the spec's tables the campaign met, and how often. */
  readonly causes: Readonly<Record<string, number>>;
  /** Where the reproducers were written; null when there were none. */
  readonly reproducers: string | null;
}

/** The summary of a campaign as JSON values (`files`: the reproducers writeReproducers wrote into `dir`). */
export function summaryJson(
  r: CampaignResult,
  files?: { violations: readonly string[]; findings: readonly string[] },
  dir?: string,
): FuzzSummaryJson {
  const shrunk = <T extends Violation | Finding>(s: Shrunk<T>, file: string | undefined): ShrunkJson => ({
    profile: s.shrunk.profile,
    count: s.count,
    caseIndex: s.caseIndex,
    caseSeed: s.caseSeed,
    steps: s.case.steps.length,
    reproducer: file ?? null,
  });
  return {
    seed: r.seed,
    workers: r.workers,
    seconds: r.seconds,
    cases: r.cases,
    runs: r.runs,
    vmgexits: r.vmgexits,
    violations: r.violations.map((v, i) => ({
      invariant: v.shrunk.invariant,
      step: v.shrunk.step ?? null,
      message: v.shrunk.message,
      ...shrunk(v, files?.violations[i]),
    })),
    findings: r.findings.map((f, i) => ({
      kind: f.shrunk.kind,
      step: f.shrunk.step,
      cause: f.shrunk.cause,
      ...shrunk(f, files?.findings[i]),
    })),
    causes: Object.fromEntries([...r.causes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    reproducers: files && dir !== undefined ? dir : null,
  };
}
