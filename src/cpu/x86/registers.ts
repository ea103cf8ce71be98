/** iced-x86's register operands as the interpreter numbers them (insn.ts): GPRs and segment registers. */
import iced from 'iced-x86';
import { REG_AH } from './insn.js';

const { Register } = iced;

/** A register operand: its number (see insn.ts) and size in bytes, or undefined for a non-GPR. */
export function gprOperand(reg: number): { num: number; size: number } | undefined {
  if (reg >= Register.AL && reg <= Register.BL) return { num: reg - Register.AL, size: 1 };
  if (reg >= Register.AH && reg <= Register.BH) return { num: REG_AH + reg - Register.AH, size: 1 };
  if (reg >= Register.SPL && reg <= Register.R15L) return { num: 4 + reg - Register.SPL, size: 1 };
  if (reg >= Register.AX && reg <= Register.R15W) return { num: reg - Register.AX, size: 2 };
  if (reg >= Register.EAX && reg <= Register.R15D) return { num: reg - Register.EAX, size: 4 };
  if (reg >= Register.RAX && reg <= Register.R15) return { num: reg - Register.RAX, size: 8 };
  return undefined;
}

/** A segment register operand (ES..GS → SEG_ES..SEG_GS), or -1. */
export function segOperand(reg: number): number {
  return reg >= Register.ES && reg <= Register.GS ? reg - Register.ES : -1;
}
