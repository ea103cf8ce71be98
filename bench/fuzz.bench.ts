/**
 * The fuzz loop's rate: VMGEXITs per second through `checkCase` (the scenario, the runs on each
 * profile, the oracle and every invariant; generation excluded: a fixed pool of 256 seeded cases
 * is cycled), one thread. `sevbox fuzz` runs two such loops in worker threads; the target
 * is >= 1 M VMGEXITs in 60 s on 2 cores, i.e. >= ~8.3 k/s per thread.
 */
import { caseAt } from '../src/fuzz/campaign.js';
import type { FuzzCase } from '../src/fuzz/case.js';
import { checkCase } from '../src/fuzz/check.js';
import { fuzzCaseArb } from '../src/fuzz/generate.js';
import type { BenchRow, Prepared } from './harness.js';

const POOL = 256;
/** VMGEXITs per case over the pool, known once setup has run it. */
let perCase = 1;

/** The fuzz row: one operation is one case, scaled by the pool's VMGEXITs per case. */
export const rows: readonly BenchRow[] = [
  {
    name: 'fuzz loop (1 thread, all invariants)',
    unit: 'VMGEXITs/s',
    get perOp() {
      return perCase;
    },
    target: { value: 1e6 / 60 / 2 },
    setup: (): Prepared => {
      const arb = fuzzCaseArb();
      const pool: FuzzCase[] = Array.from({ length: POOL }, (_, i) => caseAt(arb, 1, i));
      let total = 0;
      for (const c of pool) total += checkCase(c, { fast: true }).vmgexits;
      perCase = total / POOL;
      let i = 0;
      return {
        run: (n) => {
          let v = 0;
          for (let k = 0; k < n; k++) v += checkCase(pool[i++ % POOL]!, { fast: true }).vmgexits;
          return v;
        },
      };
    },
  },
];
