/** What an instruction family registers: a builder per mnemonic that picks the handler for a form. */
import type { IcedInstruction } from '../decode.js';
import type { Exec, Insn } from '../insn.js';

/** Picks the handler for one decoded instruction (its record already filled), or undefined: #UD. */
export type Builder = (ins: IcedInstruction, rec: Insn, codeSize: 16 | 32 | 64) => Exec | undefined;
