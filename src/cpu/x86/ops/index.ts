/**
 * Every instruction family's builders, by mnemonic. Where two families handle forms of one
 * mnemonic (MOV: data moves and control registers), their builders are tried in order and the
 * first that returns a handler wins.
 */
import { ARITH_BUILDERS } from './arith.js';
import { BRANCH_BUILDERS } from './branch.js';
import type { Builder } from './builder.js';
import { DATA_BUILDERS } from './data.js';
import { MISC_BUILDERS } from './misc.js';
import { SSE_BUILDERS } from './sse.js';
import { STRING_BUILDERS } from './string.js';
import { SYSTEM_BUILDERS } from './system.js';
import { X87_BUILDERS } from './x87.js';
import { XSAVE_BUILDERS } from './xsave.js';

function combine(lists: readonly (readonly [number, Builder])[][]): Map<number, Builder> {
  const byMnemonic = new Map<number, Builder[]>();
  for (const list of lists)
    for (const [m, b] of list) {
      const all = byMnemonic.get(m);
      if (all) all.push(b);
      else byMnemonic.set(m, [b]);
    }
  const out = new Map<number, Builder>();
  for (const [m, all] of byMnemonic) {
    const [first] = all;
    out.set(
      m,
      all.length === 1
        ? first!
        : (ins, rec, cs, alu) => {
            for (const b of all) {
              const exec = b(ins, rec, cs, alu);
              if (exec) return exec;
            }
            return undefined;
          },
    );
  }
  return out;
}

// SSE first: its builder takes exact forms only, and MOVSD is also the string move's mnemonic.
export const BUILDERS: ReadonlyMap<number, Builder> = combine([
  SSE_BUILDERS,
  DATA_BUILDERS,
  ARITH_BUILDERS,
  BRANCH_BUILDERS,
  STRING_BUILDERS,
  SYSTEM_BUILDERS,
  XSAVE_BUILDERS,
  X87_BUILDERS,
  MISC_BUILDERS,
]);
