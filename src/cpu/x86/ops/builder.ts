/** What an instruction family registers: a builder per mnemonic that picks the handler for a form. */
import type { IcedInstruction } from '../decode.js';
import type { Exec, Insn } from '../insn.js';

/** Picks the handler for one decoded instruction (its record already filled), or undefined: #UD. */
export type Builder = (ins: IcedInstruction, rec: Insn, codeSize: 16 | 32 | 64) => Exec | undefined;

/**
 * The operand size an iced Code name spells after one of the stems (Pushw_ES, Popq_GS, Leavew,
 * Enterd_imm16_imm8, Retnq, Retfw_imm16…): 8 after `q`, 2 after `w`, else 4 (66h's or the mode's).
 */
export function codeStemSize(name: string, a: string, b: string): number {
  return name.startsWith(`${a}q`) || name.startsWith(`${b}q`)
    ? 8
    : name.startsWith(`${a}w`) || name.startsWith(`${b}w`)
      ? 2
      : 4;
}
