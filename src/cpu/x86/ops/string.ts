/**
 * String instructions: MOVS, STOS, LODS, CMPS, SCAS, with REP/REPE/REPNE; INS/OUTS are port I/O
 * (intercepted: the #VMEXIT carries the string and REP bits, the address size and the segment).
 * rSI/rDI/rCX are as wide as the address size. Each iteration updates the registers before the
 * next, so a fault in the middle leaves a state the instruction resumes from (RIP stays on it).
 */
import iced from 'iced-x86';
import {
  SVM_EXIT_IOIO,
  SVM_IOIO_ASIZE_SHIFT,
  SVM_IOIO_PORT_SHIFT,
  SVM_IOIO_REP_MASK,
  SVM_IOIO_SEG_SHIFT,
  SVM_IOIO_SIZE_SHIFT,
  SVM_IOIO_STR_MASK,
  SVM_IOIO_TYPE_MASK,
} from '../../../uapi/svm.js';
import { VCPU_REGS_RCX, VCPU_REGS_RDI, VCPU_REGS_RSI } from '../../regs.js';
import * as alu from '../alu.js';
import type { X86Cpu } from '../cpu.js';
import { RFLAGS_DF, readRflags, zf } from '../flags.js';
import { type Exec, type Insn, NEXT } from '../insn.js';
import { readLinear, writeLinear } from '../mmu.js';
import { readReg, writeReg } from '../operands.js';
import { hi32, SEG_DS, SEG_ES, SEG_FS, SEG_GS } from '../state.js';
import type { Builder } from './builder.js';

const { Mnemonic, OpKind } = iced;

/** An index register (rSI/rDI/rCX) at the address size, as a number (64-bit: sign-extended). */
function getIndex(cpu: X86Cpu, r: number, asize: number): number {
  const lo = readReg(cpu, r, asize);
  return asize === 8 ? (cpu.hi | 0) * 0x1_0000_0000 + lo : lo;
}

/** Store an index register at the address size (wrapping as the register does). */
function setIndex(cpu: X86Cpu, r: number, asize: number, v: number): void {
  if (asize === 2) writeReg(cpu, r, 2, v & 0xffff, 0);
  else if (asize === 4) writeReg(cpu, r, 4, v >>> 0, 0);
  else {
    const lo = v >>> 0;
    writeReg(cpu, r, 8, lo, hi32(v));
  }
}

/** The linear address of seg:index (64-bit mode: only FS/GS have a base). */
function linear(cpu: X86Cpu, seg: number, off: number): number {
  const s = cpu.s;
  if (s.codeSize === 64) return seg === SEG_FS || seg === SEG_GS ? off + s.segBase[seg]! : off;
  return (s.segBase[seg]! + off) >>> 0;
}

/** The source segment: DS unless overridden. */
function srcSeg(i: Insn): number {
  return i.mseg >= 0 ? i.mseg : SEG_DS;
}

/** One step of the index in the direction DF gives. */
function step(cpu: X86Cpu, size: number): number {
  return readRflags(cpu.f) & RFLAGS_DF ? -size : size;
}

/**
 * Run `body` once, or under REP while rCX ≠ 0 (and, for CMPS/SCAS, while ZF matches the prefix):
 * rCX is decremented after each iteration.
 */
function repeat(cpu: X86Cpu, i: Insn, conditional: boolean, body: () => void): void {
  if (!i.rep) {
    body();
    return;
  }
  const a = i.asize;
  for (;;) {
    const c = getIndex(cpu, VCPU_REGS_RCX, a);
    if (c === 0) return;
    body();
    setIndex(cpu, VCPU_REGS_RCX, a, c - 1);
    if (conditional && (i.rep === 1 ? !zf(cpu.f) : zf(cpu.f))) return;
  }
}

const movs: Exec = (cpu, i) => {
  const a = i.asize;
  const n = i.size;
  repeat(cpu, i, false, () => {
    const si = getIndex(cpu, VCPU_REGS_RSI, a);
    const di = getIndex(cpu, VCPU_REGS_RDI, a);
    const lo = readLinear(cpu, linear(cpu, srcSeg(i), si), n);
    writeLinear(cpu, linear(cpu, SEG_ES, di), n, lo, cpu.hi);
    const d = step(cpu, n);
    setIndex(cpu, VCPU_REGS_RSI, a, si + d);
    setIndex(cpu, VCPU_REGS_RDI, a, di + d);
  });
  return NEXT;
};

const stos: Exec = (cpu, i) => {
  const a = i.asize;
  const n = i.size;
  const lo = readReg(cpu, 0, n);
  const hi = cpu.hi;
  repeat(cpu, i, false, () => {
    const di = getIndex(cpu, VCPU_REGS_RDI, a);
    writeLinear(cpu, linear(cpu, SEG_ES, di), n, lo, hi);
    setIndex(cpu, VCPU_REGS_RDI, a, di + step(cpu, n));
  });
  return NEXT;
};

const lods: Exec = (cpu, i) => {
  const a = i.asize;
  const n = i.size;
  repeat(cpu, i, false, () => {
    const si = getIndex(cpu, VCPU_REGS_RSI, a);
    const lo = readLinear(cpu, linear(cpu, srcSeg(i), si), n);
    writeReg(cpu, 0, n, lo, cpu.hi);
    setIndex(cpu, VCPU_REGS_RSI, a, si + step(cpu, n));
  });
  return NEXT;
};

const cmps: Exec = (cpu, i) => {
  const a = i.asize;
  const n = i.size;
  repeat(cpu, i, true, () => {
    const si = getIndex(cpu, VCPU_REGS_RSI, a);
    const di = getIndex(cpu, VCPU_REGS_RDI, a);
    const x = readLinear(cpu, linear(cpu, srcSeg(i), si), n);
    const xh = cpu.hi;
    const y = readLinear(cpu, linear(cpu, SEG_ES, di), n);
    alu.sub(cpu.f, n, x, xh, y, cpu.hi);
    const d = step(cpu, n);
    setIndex(cpu, VCPU_REGS_RSI, a, si + d);
    setIndex(cpu, VCPU_REGS_RDI, a, di + d);
  });
  return NEXT;
};

const scas: Exec = (cpu, i) => {
  const a = i.asize;
  const n = i.size;
  const acc = readReg(cpu, 0, n);
  const accHi = cpu.hi;
  repeat(cpu, i, true, () => {
    const di = getIndex(cpu, VCPU_REGS_RDI, a);
    const y = readLinear(cpu, linear(cpu, SEG_ES, di), n);
    alu.sub(cpu.f, n, acc, accHi, y, cpu.hi);
    setIndex(cpu, VCPU_REGS_RDI, a, di + step(cpu, n));
  });
  return NEXT;
};

/** INS/OUTS: an IOIO intercept with the string bit (KVM's IOPM covers every port). */
function stringIo(isIn: boolean): Exec {
  return (cpu, i) => {
    const port = readReg(cpu, 2, 2);
    const a = i.asize === 8 ? 4 : i.asize === 4 ? 2 : 1;
    // OUTS reads through its (overridable) source segment; INS always writes ES.
    const seg = isIn ? SEG_ES : srcSeg(i);
    const info =
      ((port << SVM_IOIO_PORT_SHIFT) |
        (i.size << SVM_IOIO_SIZE_SHIFT) |
        (a << SVM_IOIO_ASIZE_SHIFT) |
        (seg << SVM_IOIO_SEG_SHIFT) |
        SVM_IOIO_STR_MASK |
        (i.rep ? SVM_IOIO_REP_MASK : 0) |
        (isIn ? SVM_IOIO_TYPE_MASK : 0)) >>>
      0;
    const next = cpu.nextRip;
    return cpu.intercept(SVM_EXIT_IOIO, info, 0, next >>> 0, hi32(next), next);
  };
}

/** Whether an operand kind is a string operand ([rSI] or ES:[rDI]). */
function isStringOperand(kind: number): boolean {
  return kind >= OpKind.MemorySegSI && kind <= OpKind.MemoryESRDI;
}

/**
 * A string form (not the SSE2 MOVSD/CMPSD that share a mnemonic): the element size comes from the
 * memory operand (the B/W/D/Q suffix).
 */
function form(exec: Exec): Builder {
  return (ins, rec) => {
    if (!isStringOperand(ins.op0Kind) && !isStringOperand(ins.op1Kind)) return undefined;
    rec.size = iced.MemorySizeExt.size(ins.memorySize);
    return rec.size ? exec : undefined;
  };
}

export const STRING_BUILDERS: [number, Builder][] = [
  ...[Mnemonic.Movsb, Mnemonic.Movsw, Mnemonic.Movsd, Mnemonic.Movsq].map((m): [number, Builder] => [
    m,
    form(movs),
  ]),
  ...[Mnemonic.Stosb, Mnemonic.Stosw, Mnemonic.Stosd, Mnemonic.Stosq].map((m): [number, Builder] => [
    m,
    form(stos),
  ]),
  ...[Mnemonic.Lodsb, Mnemonic.Lodsw, Mnemonic.Lodsd, Mnemonic.Lodsq].map((m): [number, Builder] => [
    m,
    form(lods),
  ]),
  ...[Mnemonic.Cmpsb, Mnemonic.Cmpsw, Mnemonic.Cmpsd, Mnemonic.Cmpsq].map((m): [number, Builder] => [
    m,
    form(cmps),
  ]),
  ...[Mnemonic.Scasb, Mnemonic.Scasw, Mnemonic.Scasd, Mnemonic.Scasq].map((m): [number, Builder] => [
    m,
    form(scas),
  ]),
  ...[Mnemonic.Insb, Mnemonic.Insw, Mnemonic.Insd].map((m): [number, Builder] => [m, form(stringIo(true))]),
  ...[Mnemonic.Outsb, Mnemonic.Outsw, Mnemonic.Outsd].map((m): [number, Builder] => [
    m,
    form(stringIo(false)),
  ]),
];
