/** The handler of every instruction the interpreter lacks: #UD, counted by mnemonic (coverage). */
import type { X86Cpu } from '../cpu.js';
import type { ExecResult, Insn } from '../insn.js';

export function execUnimplemented(cpu: X86Cpu, i: Insn): ExecResult {
  cpu.unimplementedInsn(i.name);
}
