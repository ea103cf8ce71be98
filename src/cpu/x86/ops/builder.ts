/** What an instruction family registers: a builder per mnemonic that picks the handler for a form. */
import iced from 'iced-x86';
import type { Alu } from '../alu.js';
import type { IcedInstruction } from '../decode.js';
import type { Exec, Insn } from '../insn.js';

const { Code, Mnemonic, OpKind } = iced;

/**
 * Picks the handler for one decoded instruction (its record already filled), or undefined: #UD.
 * `alu` is the decoding CPU's ALU (its vendor's undefined flags): a handler that calls an ALU op
 * whose undefined flags differ by vendor takes the op from it here, once, not per instruction.
 */
export type Builder = (ins: IcedInstruction, rec: Insn, codeSize: 16 | 32 | 64, alu: Alu) => Exec | undefined;

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

/**
 * A family's builder over its handlers by iced Code: the form's handler, with the numbers of
 * operands 0 and 1 that are registers of one file (`first` the file's register 0 in iced's
 * Register, `count` its size: XMM0-15, ST0-7) in r0/r1.
 */
export function codeBuilder(byCode: ReadonlyMap<number, Exec>, first: number, count: number): Builder {
  return (ins, rec) => {
    const exec = byCode.get(ins.code);
    if (!exec) return undefined;
    for (let k = 0; k < Math.min(ins.opCount, 2); k++) {
      if (ins.opKind(k) !== OpKind.Register) continue;
      const r = ins.opRegister(k) - first;
      if (r < 0 || r >= count) continue;
      if (k === 0) rec.r0 = r;
      else rec.r1 = r;
    }
    return exec;
  };
}

/** `builder` for every mnemonic of the Codes in `byCode` (a Code's name starts with its mnemonic's: Movaps_xmm_xmmm128). */
export function byMnemonic(byCode: ReadonlyMap<number, Exec>, builder: Builder): [number, Builder][] {
  const mnemonics = new Set(
    [...byCode.keys()].map((c) => {
      const m = (Mnemonic as unknown as Record<string, number>)[Code[c]!.split('_')[0]!];
      if (m === undefined) throw new Error(`no mnemonic for ${Code[c]}`);
      return m;
    }),
  );
  return [...mnemonics].map((m) => [m, builder]);
}
