/**
 * Integer arithmetic through the ALU (alu.ts): the two-operand group (ADD ADC SUB SBB AND OR XOR
 * CMP TEST), INC/DEC/NEG/NOT, shifts and rotates, SHLD/SHRD, BT/BTS/BTR/BTC, BSF/BSR, MUL/IMUL,
 * DIV/IDIV (#DE), SETcc, CMOVcc, XADD, CMPXCHG. Operands as the record says: operand 0 is the
 * register r0 or the memory operand, operand 1 the register r1, memory or the immediate. The ops
 * whose undefined flags differ by vendor (shifts, rotates, SHLD/SHRD, MUL/IMUL, DIV/IDIV) come
 * from the decoding CPU's ALU, picked when the handler is built.
 */
import iced from 'iced-x86';
import type { Alu } from '../alu.js';
import * as alu from '../alu.js';
import type { X86Cpu } from '../cpu.js';
import { cond, type Flags } from '../flags.js';
import { type Exec, type Insn, NEXT, REG_NONE } from '../insn.js';
import { readLinear, writeLinear } from '../mmu.js';
import { linearAddress, readReg, readRm0, readRm1, writeReg, writeRm0 } from '../operands.js';
import { DE_VECTOR } from '../vectors.js';
import type { Builder } from './builder.js';

const { Mnemonic, OpKind } = iced;

type BinOp = (f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number) => void;
type UnOp = (f: Flags, size: number, aLo: number, aHi: number) => void;

/** An immediate truncated to the operand size (the record holds it sign-extended to 64 bits). */
function immLo(i: Insn): number {
  return i.size === 1 ? i.immLo & 0xff : i.size === 2 ? i.immLo & 0xffff : i.immLo >>> 0;
}
function immHi(i: Insn): number {
  return i.size === 8 ? i.immHi : 0;
}

function isImmediate(kind: number): boolean {
  return kind >= OpKind.Immediate8 && kind <= OpKind.Immediate32to64;
}

/**
 * A two-operand instruction; `store`: the result goes back to operand 0 (not for CMP/TEST).
 * Operands go to the ALU as int32 bit patterns (`| 0`), as alu.ts asks: the handlers are shared by
 * every op of the group, so the call is not inlined, and a u32 of 2^31 or more passed to a call is
 * a heap number (an allocation per instruction).
 */
function binary(op: BinOp, store: boolean): Builder {
  const rmImm: Exec = (cpu, i) => {
    const a = readRm0(cpu, i, i.size);
    op(cpu.f, i.size, a | 0, cpu.hi | 0, immLo(i) | 0, immHi(i) | 0);
    if (store) writeRm0(cpu, i, i.size, cpu.f.resLo, cpu.f.resHi);
    return NEXT;
  };
  const rmReg: Exec = (cpu, i) => {
    const b = readReg(cpu, i.r1, i.size);
    const bh = cpu.hi;
    const a = readRm0(cpu, i, i.size);
    op(cpu.f, i.size, a | 0, cpu.hi | 0, b | 0, bh | 0);
    if (store) writeRm0(cpu, i, i.size, cpu.f.resLo, cpu.f.resHi);
    return NEXT;
  };
  const regRm: Exec = (cpu, i) => {
    const b = readRm1(cpu, i, i.size);
    const bh = cpu.hi;
    const a = readReg(cpu, i.r0, i.size);
    op(cpu.f, i.size, a | 0, cpu.hi | 0, b | 0, bh | 0);
    if (store) writeReg(cpu, i.r0, i.size, cpu.f.resLo, cpu.f.resHi);
    return NEXT;
  };
  // The register forms of 32- and 64-bit operations, the bulk of compiled code, read and write the
  // register array's halves directly (no size dispatch; a 32-bit result zero-extends).
  const regReg64: Exec = (cpu, i) => {
    const r = cpu.s.regs;
    const d = 2 * i.r0;
    const s = 2 * i.r1;
    const f = cpu.f;
    op(f, 8, r[d]! | 0, r[d + 1]! | 0, r[s]! | 0, r[s + 1]! | 0);
    if (store) {
      r[d] = f.resLo;
      r[d + 1] = f.resHi;
    }
    return NEXT;
  };
  const regReg32: Exec = (cpu, i) => {
    const r = cpu.s.regs;
    const d = 2 * i.r0;
    const f = cpu.f;
    op(f, 4, r[d]! | 0, 0, r[2 * i.r1]! | 0, 0);
    if (store) {
      r[d] = f.resLo;
      r[d + 1] = 0;
    }
    return NEXT;
  };
  const regImm64: Exec = (cpu, i) => {
    const r = cpu.s.regs;
    const d = 2 * i.r0;
    const f = cpu.f;
    op(f, 8, r[d]! | 0, r[d + 1]! | 0, i.immLo | 0, i.immHi | 0);
    if (store) {
      r[d] = f.resLo;
      r[d + 1] = f.resHi;
    }
    return NEXT;
  };
  const regImm32: Exec = (cpu, i) => {
    const r = cpu.s.regs;
    const d = 2 * i.r0;
    const f = cpu.f;
    op(f, 4, r[d]! | 0, 0, i.immLo | 0, 0);
    if (store) {
      r[d] = f.resLo;
      r[d + 1] = 0;
    }
    return NEXT;
  };
  return (ins, rec) => {
    const wide = rec.size === 8 || rec.size === 4;
    if (isImmediate(ins.op1Kind)) {
      if (wide && rec.r0 >= 0 && rec.r0 < 16) return rec.size === 8 ? regImm64 : regImm32;
      return rmImm;
    }
    if (ins.op0Kind === OpKind.Register && ins.op1Kind === OpKind.Register) {
      if (rec.r1 < 0) return undefined;
      if (wide) return rec.size === 8 ? regReg64 : regReg32;
      return rmReg;
    }
    if (ins.op0Kind === OpKind.Register) return regRm;
    return rec.r1 >= 0 ? rmReg : undefined;
  };
}

/** INC, DEC, NEG: read-modify-write of operand 0. */
function unary(op: UnOp): Builder {
  const exec: Exec = (cpu, i) => {
    const a = readRm0(cpu, i, i.size);
    op(cpu.f, i.size, a | 0, cpu.hi | 0);
    writeRm0(cpu, i, i.size, cpu.f.resLo, cpu.f.resHi);
    return NEXT;
  };
  return () => exec;
}

/** NOT: no flags. */
const notExec: Exec = (cpu, i) => {
  const a = readRm0(cpu, i, i.size);
  const mask = i.size === 1 ? 0xff : i.size === 2 ? 0xffff : 0xffff_ffff;
  writeRm0(cpu, i, i.size, ~a & mask, i.size === 8 ? ~cpu.hi >>> 0 : 0);
  return NEXT;
};

/** Shifts and rotates by 1, CL or an immediate. */
function shift(pick: (cpuAlu: Alu) => Alu['shl']): Builder {
  return (ins, _rec, _cs, cpuAlu) => {
    const op = pick(cpuAlu);
    const byCl = ins.op1Kind === OpKind.Register;
    return (cpu, i) => {
      const count = byCl ? readReg(cpu, 1, 1) : i.immLo & 0xff;
      const a = readRm0(cpu, i, i.size);
      op(cpu.f, i.size, a | 0, cpu.hi | 0, count);
      writeRm0(cpu, i, i.size, cpu.f.resLo, cpu.f.resHi);
      return NEXT;
    };
  };
}

/** SHLD/SHRD r/m, r, imm8/CL. */
function doubleShift(pick: (cpuAlu: Alu) => Alu['shld']): Builder {
  return (ins, _rec, _cs, cpuAlu) => {
    const op = pick(cpuAlu);
    const byCl = ins.op2Kind === OpKind.Register;
    return (cpu, i) => {
      const count = byCl ? readReg(cpu, 1, 1) : i.immLo & 0xff;
      const b = readReg(cpu, i.r1, i.size);
      const bh = cpu.hi;
      const a = readRm0(cpu, i, i.size);
      op(cpu.f, i.size, a, cpu.hi, b, bh, count);
      writeRm0(cpu, i, i.size, cpu.f.resLo, cpu.f.resHi);
      return NEXT;
    };
  };
}

/**
 * BT/BTS/BTR/BTC m, r: the register's offset, signed at the operand size, addresses a bit string
 * from the memory operand: the operand-sized word at offset >> log2(bits) words from it, bit
 * offset mod bits. (A 64-bit offset beyond ±2^53 is not exact; such an address does not exist.)
 */
function bitString(op: typeof alu.bt, store: boolean): Exec {
  return (cpu, i) => {
    const size = i.size;
    const bits = size << 3;
    const lo = readReg(cpu, i.r1, size);
    const off = size === 8 ? (cpu.hi | 0) * 0x1_0000_0000 + lo : size === 4 ? lo | 0 : (lo << 16) >> 16;
    const la = linearAddress(cpu, i) + Math.floor(off / bits) * size;
    const at = cpu.s.codeSize === 64 ? la : la >>> 0;
    const a = readLinear(cpu, at, size);
    op(cpu.f, size, a, cpu.hi, lo & (bits - 1));
    if (store) writeLinear(cpu, at, size, cpu.f.resLo, cpu.f.resHi);
    return NEXT;
  };
}

/** BT/BTS/BTR/BTC: on a register, on memory with an immediate offset, or on a bit string in memory. */
function bitTest(op: typeof alu.bt, store: boolean): Builder {
  return (ins) => {
    const imm = isImmediate(ins.op1Kind);
    if (!imm && ins.op0Kind !== OpKind.Register) return bitString(op, store);
    return (cpu, i) => {
      const bit = imm ? i.immLo & 0xff : readReg(cpu, i.r1, i.size);
      const a = readRm0(cpu, i, i.size);
      op(cpu.f, i.size, a, cpu.hi, bit);
      if (store) writeRm0(cpu, i, i.size, cpu.f.resLo, cpu.f.resHi);
      return NEXT;
    };
  };
}

/** BSF/BSR: the destination is unchanged when the source is 0 (ZF set). */
function bitScan(op: UnOp): Builder {
  return () => (cpu, i) => {
    const a = readRm1(cpu, i, i.size);
    op(cpu.f, i.size, a, cpu.hi);
    if (a !== 0 || cpu.hi !== 0) writeReg(cpu, i.r0, i.size, cpu.f.resLo, cpu.f.resHi);
    return NEXT;
  };
}

/** MUL/IMUL with one operand: AX = AL × r/m8, else rDX:rAX = rAX × r/m. */
function multiplyWide(op: BinOp): Exec {
  return (cpu, i) => {
    const b = readRm0(cpu, i, i.size);
    const bh = cpu.hi;
    const a = readReg(cpu, 0, i.size);
    op(cpu.f, i.size, a, cpu.hi, b, bh);
    const f = cpu.f;
    if (i.size === 1) writeReg(cpu, 0, 2, (f.resLo & 0xff) | ((f.hiLo & 0xff) << 8), 0);
    else {
      writeReg(cpu, 0, i.size, f.resLo, f.resHi);
      writeReg(cpu, 2, i.size, f.hiLo, f.hiHi);
    }
    return NEXT;
  };
}

/** IMUL r, r/m (and r, r/m, imm): the truncated product. */
const imulTwo: Builder = (ins, _rec, _cs, cpuAlu) => {
  const three = ins.opCount === 3;
  const imul2 = cpuAlu.imul2;
  return (cpu, i) => {
    const b = three ? immLo(i) : readRm1(cpu, i, i.size);
    const bh = three ? immHi(i) : cpu.hi;
    const a = three ? readRm1(cpu, i, i.size) : readReg(cpu, i.r0, i.size);
    imul2(cpu.f, i.size, a, cpu.hi, b, bh);
    writeReg(cpu, i.r0, i.size, cpu.f.resLo, cpu.f.resHi);
    return NEXT;
  };
};

/** DIV/IDIV: rDX:rAX (AX for bytes) by r/m; #DE on a zero divisor or a quotient that does not fit. */
function divide(op: Alu['div']): Exec {
  return (cpu: X86Cpu, i: Insn) => {
    const d = readRm0(cpu, i, i.size);
    const dh = cpu.hi;
    let lo0: number;
    let hi0: number;
    let lo1: number;
    let hi1: number;
    if (i.size === 1) {
      const ax = readReg(cpu, 0, 2);
      lo0 = ax & 0xff;
      hi0 = 0;
      lo1 = ax >>> 8;
      hi1 = 0;
    } else {
      lo0 = readReg(cpu, 0, i.size);
      hi0 = cpu.hi;
      lo1 = readReg(cpu, 2, i.size);
      hi1 = cpu.hi;
    }
    if (!op(cpu.f, i.size, lo0, hi0, lo1, hi1, d, dh)) cpu.raise({ vector: DE_VECTOR });
    const f = cpu.f;
    if (i.size === 1) writeReg(cpu, 0, 2, (f.resLo & 0xff) | ((f.hiLo & 0xff) << 8), 0);
    else {
      writeReg(cpu, 0, i.size, f.resLo, f.resHi);
      writeReg(cpu, 2, i.size, f.hiLo, f.hiHi);
    }
    return NEXT;
  };
}

/** SETcc r/m8. */
const setcc: Builder = () => (cpu, i) => {
  writeRm0(cpu, i, 1, cond(cpu.f, i.cc) ? 1 : 0, 0);
  return NEXT;
};

/** CMOVcc: the source is read (and may fault) whatever the condition; a 32-bit destination is zero-extended either way. */
const cmovcc: Builder = () => (cpu, i) => {
  const v = readRm1(cpu, i, i.size);
  const vh = cpu.hi;
  if (cond(cpu.f, i.cc)) writeReg(cpu, i.r0, i.size, v, vh);
  else if (i.size === 4) writeReg(cpu, i.r0, 4, readReg(cpu, i.r0, 4), 0);
  return NEXT;
};

/** XADD r/m, r: operand 1 gets the old destination, the destination the sum. */
const xadd: Builder = (_ins, rec) => {
  if (rec.r1 === REG_NONE) return undefined;
  return (cpu, i) => {
    const b = readReg(cpu, i.r1, i.size);
    const bh = cpu.hi;
    const a = readRm0(cpu, i, i.size);
    const ah = cpu.hi;
    alu.add(cpu.f, i.size, a, ah, b, bh);
    writeRm0(cpu, i, i.size, cpu.f.resLo, cpu.f.resHi);
    writeReg(cpu, i.r1, i.size, a, ah);
    // XADD r, r with one register: the destination is written last (the sum stays).
    if (i.r0 === i.r1) writeReg(cpu, i.r0, i.size, cpu.f.resLo, cpu.f.resHi);
    return NEXT;
  };
};

/**
 * CMPXCHG r/m, r: compare the accumulator with the destination; equal: store the source, else load
 * the destination into the accumulator. The destination is written in both cases (as the locked
 * form's bus cycle does), with its own value when unequal.
 */
const cmpxchg: Builder = (_ins, rec) => {
  if (rec.r1 === REG_NONE) return undefined;
  return (cpu, i) => {
    const d = readRm0(cpu, i, i.size);
    const dh = cpu.hi;
    const acc = readReg(cpu, 0, i.size);
    alu.cmp(cpu.f, i.size, acc, cpu.hi, d, dh);
    if (cpu.f.resLo === 0 && cpu.f.resHi === 0) {
      const s = readReg(cpu, i.r1, i.size);
      writeRm0(cpu, i, i.size, s, cpu.hi);
    } else {
      writeRm0(cpu, i, i.size, d, dh);
      writeReg(cpu, 0, i.size, d, dh);
    }
    return NEXT;
  };
};

const conditions = (names: string[], b: Builder): [number, Builder][] =>
  names.map((n): [number, Builder] => [Mnemonic[n as keyof typeof Mnemonic] as number, b]);

const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

/** The arithmetic builders by mnemonic. */
export const ARITH_BUILDERS: [number, Builder][] = [
  [Mnemonic.Add, binary(alu.add, true)],
  [Mnemonic.Adc, binary(alu.adc, true)],
  [Mnemonic.Sub, binary(alu.sub, true)],
  [Mnemonic.Sbb, binary(alu.sbb, true)],
  [Mnemonic.And, binary(alu.and, true)],
  [Mnemonic.Or, binary(alu.or, true)],
  [Mnemonic.Xor, binary(alu.xor, true)],
  [Mnemonic.Cmp, binary(alu.cmp, false)],
  [Mnemonic.Test, binary(alu.test, false)],
  [Mnemonic.Inc, unary(alu.inc)],
  [Mnemonic.Dec, unary(alu.dec)],
  [Mnemonic.Neg, unary(alu.neg)],
  [Mnemonic.Not, () => notExec],
  [Mnemonic.Shl, shift((a) => a.shl)],
  [Mnemonic.Sal, shift((a) => a.shl)],
  [Mnemonic.Shr, shift((a) => a.shr)],
  [Mnemonic.Sar, shift((a) => a.sar)],
  [Mnemonic.Rol, shift((a) => a.rol)],
  [Mnemonic.Ror, shift((a) => a.ror)],
  [Mnemonic.Rcl, shift((a) => a.rcl)],
  [Mnemonic.Rcr, shift((a) => a.rcr)],
  [Mnemonic.Shld, doubleShift((a) => a.shld)],
  [Mnemonic.Shrd, doubleShift((a) => a.shrd)],
  [Mnemonic.Bt, bitTest(alu.bt, false)],
  [Mnemonic.Bts, bitTest(alu.bts, true)],
  [Mnemonic.Btr, bitTest(alu.btr, true)],
  [Mnemonic.Btc, bitTest(alu.btc, true)],
  [Mnemonic.Bsf, bitScan(alu.bsf)],
  [Mnemonic.Bsr, bitScan(alu.bsr)],
  [Mnemonic.Mul, (_ins, _rec, _cs, a) => multiplyWide(a.mul)],
  [
    Mnemonic.Imul,
    (ins, rec, cs, a) => (ins.opCount === 1 ? multiplyWide(a.imul1) : imulTwo(ins, rec, cs, a)),
  ],
  [Mnemonic.Div, (_ins, _rec, _cs, a) => divide(a.div)],
  [Mnemonic.Idiv, (_ins, _rec, _cs, a) => divide(a.idiv)],
  [Mnemonic.Xadd, xadd],
  [Mnemonic.Cmpxchg, cmpxchg],
  ...conditions(
    CC.map((c) => `Set${c}`),
    setcc,
  ),
  ...conditions(
    CC.map((c) => `Cmov${c}`),
    cmovcc,
  ),
];
