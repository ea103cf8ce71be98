/**
 * The benchmark harness behind `npm run bench`: how a throughput is measured, what a row of the table
 * is, and the two output formats (an aligned table, or one JSON object per line).
 *
 * A row group lives in its own `bench/<topic>.bench.ts` file exporting `rows: readonly BenchRow[]`;
 * bench/main.ts lists the groups. Benchmarks are not tests: nothing here fails the process on a miss.
 */

/**
 * Runs `n` operations of the thing measured and returns a number derived from their results. The
 * harness adds it to {@link sink}, so the JIT cannot prove the work unused and drop it.
 */
export type Batch = (n: number) => number;

/** Where results of measured closures end up: observable from outside, so never dead code. */
export const sink = { value: 0 };

/** What a row must reach: an absolute value (in the row's unit) and/or a ratio to its baseline. */
export interface Target {
  readonly value?: number;
  readonly ratio?: number;
}

/** The closures of a row, built by its setup (so slow setups only run for selected rows). */
export interface Prepared {
  /** The operation measured. */
  readonly run: Batch;
  /** The reference the row is compared with, measured the same way in the same process. */
  readonly baseline?: Batch;
}

/** One row of the table. Throughputs only, so higher is always better. */
export interface BenchRow {
  readonly name: string;
  /** Unit of the value, e.g. `lookups/s` or `MB/s`. */
  readonly unit: string;
  /** Units of work one operation counts as (e.g. bytes / 1e6 for MB/s); 1 by default. */
  readonly perOp?: number;
  readonly target?: Target;
  /** A throughput: the closures the harness samples. */
  readonly setup?: () => Prepared;
  /**
   * A one-off measurement instead (a firmware boot: too long to sample in batches): its value and
   * the baseline measured in the same run. Rows with `lowerIsBetter` (times) have no ratio.
   */
  readonly once?: (opts: MeasureOptions) => { value: number; baseline?: number };
  readonly lowerIsBetter?: boolean;
}

/** How long to measure. */
export interface MeasureOptions {
  /** Wall time each closure runs before measuring, letting the JIT reach its top tier. */
  readonly warmupMs: number;
  /** Wall time of one sample. */
  readonly sampleMs: number;
  /** Samples per closure; the reported rate is their median. */
  readonly samples: number;
}

/** Full runs: ~4 s per row with a baseline. */
export const FULL: MeasureOptions = { warmupMs: 250, sampleMs: 250, samples: 7 };
/** `--quick`: a smoke test that the rows run, numbers only roughly right. */
export const QUICK: MeasureOptions = { warmupMs: 40, sampleMs: 30, samples: 3 };

/** A measured rate in operations per second. */
export interface Rate {
  /** Median over the samples. */
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

const now = (): number => performance.now();

/**
 * Warm a closure up for `warmupMs` while sizing its batches so one batch takes about `batchMs`
 * (timer overhead and the call into the closure then vanish next to the work). Returns the batch size.
 */
function warmUp(fn: Batch, warmupMs: number, batchMs: number): number {
  let n = 1;
  const start = now();
  for (;;) {
    const t0 = now();
    sink.value += fn(n);
    const t1 = now();
    if (t1 - start >= warmupMs && t1 - t0 >= batchMs / 4) return n;
    // Re-size both ways: the closure speeds up as it tiers up, or slows down after a deopt.
    const dt = t1 - t0;
    const want = dt <= 0 ? n * 16 : Math.round((n * batchMs) / dt);
    n = Math.max(1, Math.min(n * 16, Math.max(Math.floor(n / 4), want)));
  }
}

/** One sample: whole batches until `sampleMs` has passed; operations per second. */
function sample(fn: Batch, n: number, sampleMs: number): number {
  let ops = 0;
  const t0 = now();
  let t = t0;
  do {
    sink.value += fn(n);
    ops += n;
    t = now();
  } while (t - t0 < sampleMs);
  return (ops * 1000) / (t - t0);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >>> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Measure the throughput of several closures the same way, their samples interleaved (a, b, a, b, ...)
 * so that anything drifting during the run (CPU frequency, another process on the 2 cores, GC pressure
 * building up) hits all of them alike, and a ratio between them stays fair.
 *
 * Each closure is warmed up, then sampled `samples` times; a sample runs whole batches for a fixed wall
 * time. The reported rate is the MEDIAN of the samples, not the best: interference on a shared machine
 * only ever slows a sample down, which argues for the best, but the best sample is also the one where no
 * GC happened to run, and several paths measured here allocate per call (views, fault records), so their
 * GC cost is part of their real throughput. The median keeps that cost while ignoring the one sample
 * that a neighbour's burst ruined; min and max are kept to show the spread.
 */
export function measure(fns: readonly Batch[], opts: MeasureOptions): Rate[] {
  const batchMs = Math.max(1, opts.sampleMs / 10);
  const sizes = fns.map((fn) => warmUp(fn, opts.warmupMs, batchMs));
  const rates: number[][] = fns.map(() => []);
  for (let s = 0; s < opts.samples; s++) {
    for (let i = 0; i < fns.length; i++) rates[i]!.push(sample(fns[i]!, sizes[i]!, opts.sampleMs));
  }
  return rates.map((r) => ({ median: median(r), min: Math.min(...r), max: Math.max(...r) }));
}

/** Measure one closure on its own (see {@link measure}). */
export function measureThroughput(fn: Batch, opts: MeasureOptions): Rate {
  return measure([fn], opts)[0]!;
}

/**
 * `count` views of `size` bytes into one buffer, at offsets spread evenly over a 4 KiB page (for
 * {@link pickMedianVariant}): the only way JS has to vary where a copy's bytes sit in a page.
 */
export function pageOffsetViews(size: number, count: number, fill: number): Uint8Array[] {
  const step = 4096 / count;
  const backing = new ArrayBuffer(size + 4096);
  return Array.from({ length: count }, (_, i) => new Uint8Array(backing, i * step, size).fill(fill));
}

/**
 * Choose among `count` variants of one closure (`select(i)` switches to variant i) the one of median
 * speed, and leave it selected. For copies: how fast memmove runs depends on where source and
 * destination sit relative to each other within a 4 KiB page, which JS code cannot see or control
 * (on this project's AMD hosts a destination 16 bytes past the source modulo 4 KiB makes a copy ~15x
 * slower, 4K aliasing). Which case a run lands in depends on malloc's layout of ArrayBuffers, so it
 * changes with what ran before; trying the closure with buffers at several page offsets and keeping
 * the median one measures the typical case, in every run. `opsPerProbe` operations should take ~1 ms.
 */
export function pickMedianVariant(
  fn: Batch,
  count: number,
  select: (i: number) => void,
  opsPerProbe: number,
): number {
  select(0);
  const warm = now();
  while (now() - warm < 30) sink.value += fn(opsPerProbe);
  const times: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    select(i);
    let best = Number.POSITIVE_INFINITY;
    for (let rep = 0; rep < 3; rep++) {
      const t0 = now();
      sink.value += fn(opsPerProbe);
      best = Math.min(best, now() - t0);
    }
    times.push([best, i]);
  }
  times.sort((a, b) => a[0] - b[0]);
  const chosen = times[count >>> 1]![1];
  select(chosen);
  return chosen;
}

/** A measured row, in the row's unit. */
export interface RowResult {
  readonly name: string;
  readonly unit: string;
  readonly value: number;
  /** (max - min) / median of the value's samples. */
  readonly spread: number;
  readonly baseline?: number;
  /** value / baseline: higher is better. */
  readonly ratio?: number;
  readonly target?: Target;
  /** Whether the target was reached (rows with a target only). */
  readonly pass?: boolean;
}

/** Set up and measure one row, value and baseline interleaved. */
export function runRow(row: BenchRow, opts: MeasureOptions): RowResult {
  if (row.once) {
    const r = row.once(opts);
    const ratio = r.baseline !== undefined && !row.lowerIsBetter ? r.value / r.baseline : undefined;
    return {
      name: row.name,
      unit: row.unit,
      value: r.value,
      spread: Number.NaN, // one measurement: no spread
      ...(r.baseline !== undefined && { baseline: r.baseline }),
      ...(ratio !== undefined && { ratio }),
    };
  }
  if (!row.setup) throw new Error(`bench row ${row.name}: neither setup nor once`);
  const { run, baseline } = row.setup();
  const scale = row.perOp ?? 1;
  const [v, b] = measure(baseline ? [run, baseline] : [run], opts);
  const value = v!.median * scale;
  const base = b ? b.median * scale : undefined;
  const ratio = base !== undefined ? value / base : undefined;
  const t = row.target;
  let pass: boolean | undefined;
  if (t) {
    pass = (t.value === undefined || value >= t.value) && (t.ratio === undefined || (ratio ?? 0) >= t.ratio);
  }
  return {
    name: row.name,
    unit: row.unit,
    value,
    spread: (v!.max - v!.min) / v!.median,
    ...(base !== undefined && { baseline: base, ratio }),
    ...(t && { target: t, pass }),
  };
}

/** Rows whose name contains `filter` (case-insensitive); all rows without a filter. */
export function selectRows(rows: readonly BenchRow[], filter: string | undefined): BenchRow[] {
  if (filter === undefined) return [...rows];
  const f = filter.toLowerCase();
  return rows.filter((r) => r.name.toLowerCase().includes(f));
}

// ---- output ----

const sig3 = (x: number): number => Number(x.toPrecision(3));
/** Ratios keep 4 digits in JSON so one just under a target does not print as the target itself. */
const sig4 = (x: number): number => Number(x.toPrecision(4));
/** A ratio for the table, truncated (not rounded) so 0.4996 does not show as a passing 0.500. */
const formatRatio = (x: number): string =>
  x >= 10 ? x.toFixed(1) : (Math.floor(x * 1000) / 1000).toFixed(3);

/** `--json`: one object per row, `{name, value, unit, baseline?, ratio?, target?, pass?}`. */
export function formatJsonLine(r: RowResult): string {
  return JSON.stringify({
    name: r.name,
    value: sig3(r.value),
    unit: r.unit,
    ...(r.baseline !== undefined && { baseline: sig3(r.baseline) }),
    ...(r.ratio !== undefined && { ratio: sig4(r.ratio) }),
    ...(r.target && { target: r.target, pass: r.pass }),
  });
}

/** A rate for people: 3 significant digits, k/M/G above 10 000. */
export function formatNumber(x: number): string {
  if (Number.isNaN(x)) return '—';
  const a = Math.abs(x);
  if (a >= 1e10) return `${sig3(x / 1e9)}G`;
  if (a >= 1e7) return `${sig3(x / 1e6)}M`;
  if (a >= 1e4) return `${sig3(x / 1e3)}k`;
  return String(sig3(x));
}

function formatTarget(r: RowResult): string {
  const t = r.target;
  if (!t) return '';
  const parts: string[] = [];
  if (t.value !== undefined) parts.push(`>= ${formatNumber(t.value)}`);
  if (t.ratio !== undefined) parts.push(`ratio >= ${t.ratio}`);
  return parts.join(', ');
}

/** Columns of the table: header label, alignment, cell. */
const COLUMNS: readonly [string, 'l' | 'r', (r: RowResult) => string][] = [
  ['value', 'r', (r) => formatNumber(r.value)],
  ['unit', 'l', (r) => r.unit],
  ['±', 'r', (r) => (Number.isNaN(r.spread) ? '' : `${Math.round(r.spread * 100)}%`)],
  ['baseline', 'r', (r) => (r.baseline === undefined ? '' : formatNumber(r.baseline))],
  ['ratio', 'r', (r) => (r.ratio === undefined ? '' : formatRatio(r.ratio))],
  ['target', 'l', formatTarget],
  ['', 'l', (r) => (r.pass === undefined ? '' : r.pass ? 'PASS' : 'MISS')],
];
const WIDTHS = [8, 10, 4, 8, 6, 16, 4];

/** A table whose rows are printed as they are measured (widths fixed up front from the row names). */
export function tablePrinter(names: readonly string[], out: (line: string) => void) {
  const nameWidth = Math.max(4, ...names.map((n) => n.length));
  const line = (name: string, cells: readonly string[]): string =>
    [
      name.padEnd(nameWidth),
      ...cells.map((c, i) => (COLUMNS[i]![1] === 'r' ? c.padStart(WIDTHS[i]!) : c.padEnd(WIDTHS[i]!))),
    ]
      .join('  ')
      .trimEnd();
  return {
    header(): void {
      out(
        line(
          'name',
          COLUMNS.map((c) => c[0]),
        ),
      );
      out('-'.repeat(nameWidth + WIDTHS.reduce((a, w) => a + w + 2, 0)));
    },
    row(r: RowResult): void {
      out(
        line(
          r.name,
          COLUMNS.map((c) => c[2](r)),
        ),
      );
    },
  };
}
