/**
 * Issue 17's number: how long the explorer page takes to be ready with a 100k-event trace inlined,
 * in Debian's Chromium (test/web/measure-load.ts, run as a child: the browser is asynchronous and
 * the bench is not), against the 28-event demo trace in the same run. Times, so no ratio. Without
 * /usr/bin/chromium the group is empty.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { BenchRow, MeasureOptions } from './harness.js';
import { QUICK } from './harness.js';

const SCRIPT = new URL('../test/web/measure-load.ts', import.meta.url).pathname;
const CHROMIUM = process.env.SEVBOX_CHROMIUM ?? '/usr/bin/chromium';

let cached: { quick: boolean; ready: number; baseline: number } | undefined;

function measure(opts: MeasureOptions): { ready: number; baseline: number } {
  const quick = opts === QUICK;
  if (cached?.quick === quick) return cached;
  const r = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT, String(quick ? 10_000 : 100_000)], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  const ready = Number(/ready_ms ([\d.]+)/.exec(r.stdout)?.[1]);
  const baseline = Number(/baseline_ms ([\d.]+)/.exec(r.stdout)?.[1]);
  if (r.status !== 0 || !(ready > 0)) throw new Error(`measure-load: ${r.stderr.trim() || r.stdout.trim()}`);
  cached = { quick, ready, baseline };
  return cached;
}

export const rows: readonly BenchRow[] = existsSync(CHROMIUM)
  ? [
      {
        name: 'explorer: page ready with a 100k-event trace, Chromium (--quick: 10k)',
        unit: 's',
        lowerIsBetter: true,
        once: (opts) => ({ value: measure(opts).ready / 1000 }),
      },
      {
        name: 'explorer: page ready with the 28-event demo trace, Chromium',
        unit: 's',
        lowerIsBetter: true,
        once: (opts) => ({ value: measure(opts).baseline / 1000 }),
      },
    ]
  : [];
