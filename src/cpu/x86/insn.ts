/**
 * One decoded instruction as the interpreter executes it: a compact record made once from iced-x86's
 * decoding (decode.ts) and kept in a block (blocks.ts), so execution never calls into WebAssembly.
 * Every record has the same fields (one object shape for V8); `exec` is the handler chosen for the
 * instruction's operation and operand form.
 */
import type { X86Cpu } from './cpu.js';

/**
 * What a handler tells the execution loop: go on with the next instruction, or stop (the CPU has
 * written a #VMEXIT into the VMCB, or delivered an exception and RIP already points at its handler).
 */
export const NEXT = 0;
export const STOP = 1;
export type ExecResult = typeof NEXT | typeof STOP;

/** What a faulting instruction throws once the CPU has recorded a guest exception or written a #VMEXIT. */
export const STOP_SIGNAL: unique symbol = Symbol('x86 stop');

/** Executes `i` with RIP at the instruction; cpu.nextRip is RIP + length on entry (branches change it). */
export type Exec = (cpu: X86Cpu, i: Insn) => ExecResult;

/** Register operand numbers: 0-15 are RAX..R15 (the low 8/16/32/64 bits by size), 16-19 AH, CH, DH, BH. */
export const REG_AH = 16;
/** No register. */
export const REG_NONE = -1;

/**
 * What operands 0 and 1 of a record are (`kind0`, `kind1`), so the block compiler (compile/) can
 * tell an instruction's form from its record alone: none, a general-purpose register (r0/r1 says
 * which), the memory operand, an immediate, a near branch's target (rel), or anything else (a
 * segment, control, debug or XMM register, a far pointer, a string operand).
 */
export const OPERAND_NONE = 0;
export const OPERAND_GPR = 1;
export const OPERAND_MEM = 2;
export const OPERAND_IMM = 3;
export const OPERAND_REL = 4;
export const OPERAND_OTHER = 5;

export class Insn {
  exec: Exec;
  /** Length in bytes. */
  len = 0;
  /** iced-x86's Code: the exact instruction form (names for coverage, #UD reports). */
  code = 0;
  /** The mnemonic, for coverage counts and traces. */
  name = '';
  /** Operand size in bytes (1, 2, 4, 8). */
  size = 0;
  /** Address size in bytes (2, 4, 8). */
  asize = 0;
  /** Register operands (see REG_AH), or REG_NONE. */
  r0 = REG_NONE;
  r1 = REG_NONE;
  /** Immediate, sign- or zero-extended to the operand size as the encoding defines, as u32 halves. */
  immLo = 0;
  immHi = 0;
  /** Second immediate (ENTER), or a far branch's selector. */
  imm2 = 0;
  /** Memory operand: segment (SEG_*), base and index registers (0-15, or REG_NONE), scale, displacement. */
  mseg = -1;
  mbase = REG_NONE;
  mindex = REG_NONE;
  mscale = 1;
  /** Displacement, sign-extended to the address size (a number: exact below 2^53). */
  mdisp = 0;
  /** RIP-relative: the displacement is from the next instruction. */
  ripRel = false;
  /** Relative branch displacement (from the next instruction), sign-extended. */
  rel = 0;
  /** Condition code (x86 tttn) of Jcc/SETcc/CMOVcc. */
  cc = 0;
  /** REP prefix: 0 none, 1 REP/REPE, 2 REPNE. */
  rep = 0;
  /** Kinds of operands 0 and 1 as decoded (OPERAND_*). */
  kind0 = OPERAND_NONE;
  kind1 = OPERAND_NONE;

  constructor(exec: Exec) {
    this.exec = exec;
  }
}
