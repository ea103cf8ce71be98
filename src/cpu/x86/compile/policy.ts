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
 * Interpreted runs of a block before it is compiled. Compiling costs about as much as a few
 * hundred interpreted runs of a block (generating the source, and V8 parsing it and running it
 * unoptimised until it is hot itself), so a block must be that hot first.
 */
export const COMPILE_THRESHOLD = 500;

/** The compiled form of a block the CPU is about to run, compiling it when it has become hot. */
export function compiledForm(cpu: X86Cpu, b: Block): CompiledBlock | undefined {
  if (!cpu.compile) return undefined;
  const c = b.compiled;
  if (c !== undefined) return c;
  if (b.runs++ < cpu.compileThreshold) return undefined;
  cpu.blocks.compiled++;
  b.compiled = compileBlock(b);
  return b.compiled;
}
