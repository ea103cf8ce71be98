/**
 * A decoded block as one generated JavaScript function: the instructions in order, each written
 * out by emit.ts or, for forms it does not know, a call of the record's handler, with the
 * protocol of cpu.ts's loop around it. The function runs the block from its first instruction and
 * returns how many instructions completed: the block's length, or fewer when a handler returned
 * STOP (cpu.ts then delivers what it recorded, as after the interpreter's loop). An instruction
 * that throws STOP_SIGNAL leaves RIP at it and the count of completed instructions in
 * cpu.compiledDone, both written before anything that can throw.
 *
 * RIP is kept in locals: in 64-bit code RIP + the bytes since the block's start (or since the last
 * handler, which may have moved cpu.nextRip), in 16/32-bit code stepped and wrapped at the code
 * size per instruction as cpu.ts does.
 *
 * The function comes from `new Function` over the interpreter's own helpers (RUNTIME) and the
 * block's records: every block gets its own function, so V8 sees each call site in it with one
 * target and inlines the handlers and helpers it calls.
 */
import * as alu from '../alu.js';
import type { Block, CompiledBlock } from '../blocks.js';
import { cf, cond } from '../flags.js';
import { type Insn, NEXT } from '../insn.js';
import { readLinear, writeLinear } from '../mmu.js';
import { effectiveAddress, linearAddress } from '../operands.js';
import { execUnimplemented } from '../ops/unimplemented.js';
import { EMITTED_BRANCH, emitInstruction } from './emit.js';
import { BlockEmitter } from './emitter.js';

/** The interpreter functions generated code calls, by the names emit.ts uses. */
const RUNTIME = { alu, cf, cond, readLinear, writeLinear, effectiveAddress, linearAddress };

type Factory = (rt: typeof RUNTIME, records: readonly Insn[]) => CompiledBlock;

/** The code size's RIP wrap (cpu.ts): none in 64-bit code. */
function wrapOf(codeSize: 16 | 32 | 64): number {
  return codeSize === 64 ? 0 : codeSize === 32 ? 0x1_0000_0000 : 0x1_0000;
}

/**
 * The body of the factory `new Function('rt', 'I', body)`: it binds the helpers and records and
 * returns the block's function. Exported for tests and for reading what a block became.
 */
export function blockSource(b: Block): string {
  const insns = b.insns;
  const n = insns.length;
  const e = new BlockEmitter(b.codeSize);
  const wrap = wrapOf(b.codeSize);
  const out: string[] = [
    "'use strict';",
    `const { ${Object.keys(RUNTIME).join(', ')} } = rt;`,
    ...insns.map((_, k) => `const I${k} = I[${k}], exec${k} = I${k}.exec;`),
    `return function block_${b.gpa.toString(16)}_${b.codeSize}(cpu) {`,
    'const s = cpu.s, r = s.regs, f = cpu.f, tlb = cpu.tlb, tag = tlb.tag, view = tlb.view, writable = tlb.writable;',
    'const rip = s.rip;',
  ];
  // RIP of the current instruction: `base` + `off` bytes (no wrap), or the local `cur` (wrap).
  let base = 'rip';
  let off = 0;
  let cur = 'rip';
  for (let k = 0; k < n; k++) {
    const i = insns[k]!;
    e.lines.length = 0;
    e.i = i;
    e.k = k;
    e.last = k === n - 1;
    if (wrap) {
      const next = e.name('next');
      e.line(`let ${next} = ${cur} + ${i.len}; if (${next} >= ${wrap}) ${next} -= ${wrap};`);
      e.rip = cur;
      e.next = next;
      cur = next;
    } else {
      e.rip = off ? `(${base} + ${off})` : base;
      e.next = `(${base} + ${off + i.len})`;
      off += i.len;
    }
    out.push(`// ${k}: ${i.name}`);
    // A record without a handler raises #UD: its handler says so (and counts it).
    const emitted = i.exec === execUnimplemented ? undefined : emitInstruction(e);
    if (emitted === undefined) {
      // The handler, with the state it expects (cpu.ts #runBlock): registers and flags stored,
      // RIP at the instruction, cpu.nextRip after it; on STOP the block ends with this
      // instruction not completed. It may change any of them: the locals forget what they held.
      e.commit();
      e.line(e.sync());
      e.line(`if (exec${k}(cpu, I${k}) !== ${NEXT}) return ${k};`);
      e.forget();
      // The handler may have moved cpu.nextRip (a branch): RIP continues from there.
      if (e.last) e.line('s.rip = cpu.nextRip;');
      else {
        const after = e.name('rip');
        e.line(`const ${after} = cpu.nextRip;`);
        cur = after;
        base = after;
        off = 0;
      }
    } else if (e.last && emitted !== EMITTED_BRANCH) e.line(`cpu.nextRip = ${e.next}; s.rip = ${e.next};`);
    // The block's end: what only the locals hold goes where the interpreter keeps it.
    if (e.last) e.commit();
    out.push(...e.lines);
  }
  out.push(`return ${n};`, '};');
  return out.join('\n');
}

/** Compile a block: its function, ready to run on any CPU whose block cache holds it. */
export function compileBlock(b: Block): CompiledBlock {
  const factory = new Function('rt', 'I', blockSource(b)) as Factory;
  return factory(RUNTIME, b.insns);
}
