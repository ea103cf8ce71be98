/**
 * `sevbox fuzz`: run a campaign with a progress bar on a TTY (executions/s, VMGEXITs/s,
 * violations), write the shrunk reproducers, print the summary (text, or one JSON document with
 * --json). Exit status 1 when a model violation was found (findings of a profile are not violations).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import type { ProfileName } from '../scenario/schema.js';
import { type Progress, runCampaign } from './campaign.js';
import { formatSummary, summaryJson, writeReproducers } from './report.js';

/** What the command line gives. */
export interface FuzzCommandOptions {
  readonly seconds?: number;
  readonly runs?: number;
  readonly seed?: number;
  readonly profiles?: readonly ProfileName[];
  readonly out?: string;
  readonly workers?: number;
  /** Print the summary as one JSON document (report.ts summaryJson). */
  readonly json?: boolean;
}

/** Run the command; returns the exit status. */
export async function fuzzCommand(o: FuzzCommandOptions): Promise<number> {
  const seed = o.seed ?? Date.now() & 0x7fff_ffff;
  const tty = process.stderr.isTTY === true;
  const total = o.runs ?? o.seconds ?? 60;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format:
            'fuzz [{bar}] {percentage}% | {cases} cases, {execs}/s | {vmgexits} VMGEXITs, {rate}/s | violations {violations}',
          hideCursor: true,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(total, 0, { cases: 0, execs: 0, vmgexits: 0, rate: 0, violations: 0 });
  const onProgress = (p: Progress): void => {
    const t = Math.max(p.elapsed, 1e-3);
    bar?.update(o.runs !== undefined ? p.cases : Math.min(p.elapsed, total), {
      cases: p.cases,
      execs: Math.round(p.runs / t),
      vmgexits: p.vmgexits,
      rate: Math.round(p.vmgexits / t),
      violations: p.violations,
    });
  };
  const r = await runCampaign({
    seed,
    ...(o.runs !== undefined ? { runs: o.runs } : { seconds: o.seconds ?? 60 }),
    ...(o.profiles ? { profiles: o.profiles } : {}),
    ...(o.workers ? { workers: o.workers } : {}),
    onProgress,
  });
  bar?.update(o.runs ?? total);
  bar?.stop();
  const dir = o.out ?? join(tmpdir(), `sevbox-fuzz-${seed}`);
  const files = r.violations.length || r.findings.length ? await writeReproducers(r, dir) : undefined;
  if (o.json) process.stdout.write(`${JSON.stringify(summaryJson(r, files, dir))}\n`);
  else {
    process.stdout.write(`${formatSummary(r, files).join('\n')}\n`);
    if (files) process.stdout.write(`reproducers in ${dir} (sevbox run <file>)\n`);
  }
  return r.violations.length ? 1 : 0;
}
