/**
 * When a block runs compiled: once the interpreter has run it COMPILE_THRESHOLD times (a loop's
 * body gets there within its first #VMEXIT's budget; code that runs a few times, such as boot
 * code, never pays for compiling). The CPU's `compile` option turns it off, `compileThreshold`
 * changes the count (tests use 0: compiled before the first run).
 */
import type { Block, CompiledBlock } from '../blocks.js';
import type { X86Cpu } from '../cpu.js';
import { compileBlock } from './assemble.js';

/**
 * Interpreted runs of a block before it is compiled. Compiling a block costs about 0.4 ms here
 * (a 12-instruction block: ~0.2 ms to write its source, ~0.2 ms for V8 to parse it, then V8's own
 * warm-up), what some 2,000 interpreted runs of it cost; compiling after that many runs wastes at
 * most about as much again on a block that turns out lukewarm (the ski-rental bound), and a loop's
 * body still compiles within its first #VMEXIT's budget.
 */
export const COMPILE_THRESHOLD = 2000;

/** The compiled form of a block the CPU is about to run, compiling it when it has become hot. */
export function compiledForm(cpu: X86Cpu, b: Block): CompiledBlock | undefined {
  if (!cpu.compile) return undefined;
  const c = b.compiled;
  if (c !== undefined) return c;
  if (b.runs++ < cpu.compileThreshold) return undefined;
  cpu.blocks.compiled++;
  b.compiled = compileBlock(b, cpu.alu);
  return b.compiled;
}
