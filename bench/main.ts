/**
 * `npm run bench`: measure every row (or those matching `--filter`) and print a table, or with
 * `--json` one JSON object per row. `--quick` shortens each measurement, for a smoke test.
 *
 * To add a group: write `bench/<topic>.bench.ts` exporting `rows: readonly BenchRow[]` and list it in
 * GROUPS below.
 */
import { parseArgs } from 'node:util';
import { rows as explore } from './explore.bench.js';
import { rows as fuzz } from './fuzz.bench.js';
import { rows as guestMemory } from './guest-memory.bench.js';
import { type BenchRow, FULL, formatJsonLine, QUICK, runRow, selectRows, tablePrinter } from './harness.js';
import { rows as hostkvm } from './hostkvm.bench.js';
import { rows as memslots } from './memslots.bench.js';
import { rows as ovmf } from './ovmf.bench.js';
import { rows as psp } from './psp.bench.js';
import { rows as shim } from './shim.bench.js';
import { rows as vmgexit } from './vmgexit.bench.js';
import { rows as x86 } from './x86.bench.js';
import { rows as x86Alu } from './x86-alu.bench.js';

/** Every row group, in table order. */
const GROUPS: readonly (readonly BenchRow[])[] = [
  memslots,
  guestMemory,
  vmgexit,
  x86,
  x86Alu,
  psp,
  ovmf,
  hostkvm,
  shim,
  explore,
  fuzz,
];

const USAGE = `usage: npm run bench -- [--json] [--filter <substring>] [--quick]
  --json      one JSON object per row: {name, value, unit, baseline?, ratio?, target?, pass?}
  --filter S  only rows whose name contains S (case-insensitive)
  --quick     short measurements (smoke test; numbers are rough)`;

function main(): number {
  let args: { json?: boolean; quick?: boolean; filter?: string; help?: boolean };
  try {
    ({ values: args } = parseArgs({
      options: {
        json: { type: 'boolean' },
        quick: { type: 'boolean' },
        filter: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const rows = selectRows(GROUPS.flat(), args.filter);
  if (rows.length === 0) {
    process.stderr.write(`no benchmark matches --filter ${JSON.stringify(args.filter)}\n`);
    return 1;
  }
  const opts = args.quick ? QUICK : FULL;
  const out = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  const table = args.json
    ? undefined
    : tablePrinter(
        rows.map((r) => r.name),
        out,
      );
  if (table) {
    out(
      `sevbox bench: node ${process.version}, ${args.quick ? 'quick' : 'full'} run ` +
        `(median of ${opts.samples} samples x ${opts.sampleMs} ms, baseline interleaved)\n`,
    );
    table.header();
  }
  const start = performance.now();
  for (const row of rows) {
    const r = runRow(row, opts);
    if (table) table.row(r);
    else out(formatJsonLine(r));
  }
  if (table) out(`\n${rows.length} rows in ${((performance.now() - start) / 1000).toFixed(1)} s`);
  return 0;
}

process.exitCode = main();
