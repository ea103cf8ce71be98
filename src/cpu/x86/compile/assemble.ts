/**
 * A decoded block as one generated JavaScript function: the instructions in order, each written
 * out by emit.ts or, for forms it does not know, a call of the record's handler, with the
 * protocol of cpu.ts's loop around it. The function runs the block from its first instruction and
 * returns how many instructions completed: the block's length (a multiple of it when the block ran
 * itself again, see blockSource), or fewer when a handler returned STOP (cpu.ts then delivers what
 * it recorded, as after the interpreter's loop). An instruction
 * that throws STOP_SIGNAL leaves RIP at it and the count of completed instructions in
 * cpu.compiledDone, both written before anything that can throw.
 *
 * RIP is kept in locals: in 64-bit code RIP + the bytes since the block's start (or since the last
 * handler, which may have moved cpu.nextRip), in 16/32-bit code stepped and wrapped at the code
 * size per instruction as cpu.ts does.
 *
 * The function comes from `new Function` over the interpreter's own helpers (HELPERS, and the
 * CPU's ALU) and the block's records: every block gets its own function, so V8 sees each call
 * site in it with one target and inlines the handlers and helpers it calls.
 */
import type { Alu, X86Vendor } from '../alu.js';
import type { Block, CompiledBlock } from '../blocks.js';
import { cf, cond, RFLAGS_RF } from '../flags.js';
import { type Insn, NEXT } from '../insn.js';
import { readLinear, writeLinear } from '../mmu.js';
import { effectiveAddress, linearAddress } from '../operands.js';
import { execUnimplemented } from '../ops/unimplemented.js';
import { EMITTED_BRANCH, emitInstruction } from './emit.js';
import { BlockEmitter } from './emitter.js';

/**
 * The interpreter functions generated code calls, by the names emit.ts uses; with them `alu`, the
 * compiling CPU's ALU (alu.ts: its vendor's undefined flags), bound when the block is compiled.
 */
const HELPERS = { cf, cond, readLinear, writeLinear, effectiveAddress, linearAddress };

type Runtime = typeof HELPERS & { readonly alu: Alu };
type Factory = (rt: Runtime, records: readonly Insn[], block: Block) => CompiledBlock;

/** The code size's RIP wrap (cpu.ts): none in 64-bit code. */
function wrapOf(codeSize: 16 | 32 | 64): number {
  return codeSize === 64 ? 0 : codeSize === 32 ? 0x1_0000_0000 : 0x1_0000;
}

/** What writing out a block's instructions gave. */
interface Body {
  readonly lines: string[];
  /** Every instruction written out (no handler called), the last a branch. */
  readonly inline: boolean;
}

/**
 * The block's instructions as statements, RIP relative to the local `rip`, ending with RIP set
 * (a branch leaves its target in e.target instead). `e` may start from loop-carried state.
 */
function emitBody(b: Block, e: BlockEmitter): Body {
  const insns = b.insns;
  const n = insns.length;
  const wrap = wrapOf(b.codeSize);
  const out: string[] = [];
  let inline = true;
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
      inline = false;
      // The handler, with the state it expects (cpu.ts #runBlock): registers and flags stored,
      // RIP at the instruction, cpu.nextRip after it; on STOP the block ends with this
      // instruction not completed. It may change any of them: the locals forget what they held.
      e.commit();
      e.line(e.sync());
      e.line(`if (exec${k}(cpu, I${k}) !== ${NEXT}) return ${e.doneBase}${k};`);
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
    } else if (e.last && emitted !== EMITTED_BRANCH) {
      inline = false;
      e.line(`cpu.nextRip = ${e.next}; s.rip = ${e.next};`);
    }
    out.push(...e.lines);
  }
  return { lines: out, inline };
}

/**
 * Whether the block ends with a branch back to its own start, so it may run itself again: the
 * taken target's offset (the block's bytes plus the displacement) is 0.
 */
function branchesToItself(b: Block): boolean {
  const last = b.insns.at(-1)!;
  const bytes = b.insns.reduce((n, i) => n + i.len, 0);
  return bytes + last.rel === 0;
}

const PROLOGUE = [
  'const s = cpu.s, r = s.regs, f = cpu.f, tlb = cpu.tlb, tag = tlb.tag, view = tlb.view, writable = tlb.writable;',
  'const rip = s.rip;',
];

/**
 * The body of the factory `new Function('rt', 'I', 'B', body)`: it binds the helpers, the records
 * and the block, and returns the block's function; the ALU ops it writes out set the undefined
 * flags as `vendor`'s do. Exported for tests and for reading what a block became.
 *
 * A block written out entirely whose branch goes back to its start runs itself again as a loop,
 * while cpu.ts would have fetched this same block next and run it compiled: the successor cache
 * says so (same RIP, TLB generation, the block live and checked in this epoch), and the #VMEXIT
 * budget left (`remaining`, the instructions vmrun would still start) is not used up. Nothing
 * else the dispatcher checks between blocks can change in such a body (no handler runs: no
 * exit, no interrupt flag or shadow, no mode change; a fault throws out of it). Registers and
 * the flags record are carried around the loop in variables; RF clears after each iteration as
 * cpu.ts clears it after a block.
 */
export function blockSource(b: Block, vendor: X86Vendor): string {
  const n = b.insns.length;
  const head = [
    "'use strict';",
    `const { alu, ${Object.keys(HELPERS).join(', ')} } = rt;`,
    ...b.insns.map((_, k) => `const I${k} = I[${k}], exec${k} = I${k}.exec;`),
    `return function block_${b.gpa.toString(16)}_${b.codeSize}(cpu, remaining) {`,
    ...PROLOGUE,
  ];
  const e = new BlockEmitter(b.codeSize, vendor);
  const plain = emitBody(b, e);
  if (!plain.inline || !branchesToItself(b)) {
    // The block's end: what only the locals hold goes where the interpreter keeps it.
    e.lines.length = 0;
    if (e.target) e.line(`cpu.nextRip = ${e.target}; s.rip = ${e.target};`);
    e.commit();
    return [...head, ...plain.lines, ...e.lines, `return ${n};`, '};'].join('\n');
  }
  const loop = new BlockEmitter(b.codeSize, vendor);
  loop.doneBase = 'done + ';
  const carried = loop.enterLoop(e.knownWords(), e.written, [
    ...new Set([...e.writtenFlags, 'bits' as const]),
  ]);
  const body = emitBody(b, loop);
  const t = loop.target;
  loop.lines.length = 0;
  loop.line(`done += ${n};`);
  loop.line(
    `if (${t} !== rip || done >= remaining || B.succ !== B || B.succRip !== ${t} || B.succGen !== tlb.generation || !B.live || B.epoch !== cpu.blocks.epoch) {`,
  );
  loop.line(`  ${loop.spill()} cpu.nextRip = ${t}; s.rip = ${t}; return done;`);
  loop.line('}');
  loop.setFlag('bits', `${loop.flag('bits')} & ${~RFLAGS_RF}`);
  loop.line(loop.backEdge());
  return [...head, 'let done = 0;', carried, 'for (;;) {', ...body.lines, ...loop.lines, '}', '};'].join(
    '\n',
  );
}

/**
 * Compile a block for a CPU with ALU `alu` (the one its records were decoded for): its function,
 * ready to run on any CPU whose block cache holds it.
 */
export function compileBlock(b: Block, alu: Alu): CompiledBlock {
  const factory = new Function('rt', 'I', 'B', blockSource(b, alu.vendor)) as Factory;
  return factory({ alu, ...HELPERS }, b.insns, b);
}
