/**
 * The two ways an X86Cpu runs guest code, for the x86 suites to run under both: the interpreter
 * alone, and compiled blocks (src/cpu/x86/compile/) from a block's first run, so every block a
 * test runs is compiled and the compiled form meets every case the suite has.
 */
import { describe } from 'node:test';
import type { X86CpuOptions } from '../../src/cpu/x86/cpu.js';

/** An engine: its name in the suite's title, and the CPU options that select it. */
export interface Engine {
  readonly name: string;
  readonly options: X86CpuOptions;
}

/** The interpreter, record by record. */
export const INTERPRETED: Engine = { name: 'interpreted', options: { compile: false } };
/** Every block compiled before its first run. */
export const COMPILED: Engine = { name: 'compiled', options: { compile: true, compileThreshold: 0 } };

export const ENGINES: readonly Engine[] = [INTERPRETED, COMPILED];

/** A suite once per engine, the engine named after the suite's title. */
export function describeEngines(name: string, fn: (engine: Engine) => void): void {
  for (const engine of ENGINES) describe(`${name} [${engine.name}]`, () => fn(engine));
}
