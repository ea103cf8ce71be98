/**
 * x87 comparisons and classification: FCOM/FCOMP/FCOMPP, FUCOM/FUCOMP/FUCOMPP, FICOM/FICOMP,
 * FCOMI/FCOMIP/FUCOMI/FUCOMIP, FTST and FXAM. Comparisons are exact (f80.ts's compareF80).
 *
 * FCOM-style results go to C3, C2, C0 (C1 cleared): ST(0) > src 000, < 001, = 100, unordered
 * 111. FCOMI-style results go to ZF, PF, CF the same way, with OF, SF and AF cleared. An unordered
 * comparison raises IE for FCOM/FCOMI always, for FUCOM/FUCOMI only with a signalling NaN (or an
 * unsupported operand); unmasked, the flags stay as they were. An empty operand is a stack
 * underflow (masked: the comparison is unordered). FXAM reports ST(0)'s class in C3, C2, C0 and
 * its sign in C1 (an empty register too: class 101).
 */
import iced from 'iced-x86';
import {
  CLASS_DENORMAL,
  CLASS_INFINITY,
  CLASS_NAN,
  CLASS_NORMAL,
  CLASS_UNSUPPORTED,
  CLASS_ZERO,
  compareF80,
  F80_BYTES,
  FSW_DE,
  FSW_IE,
  isSignalling,
  unpackF80,
} from '../f80.js';
import { RFLAGS_ARITH, RFLAGS_CF, RFLAGS_PF, RFLAGS_ZF, readRflags, writeRflags } from '../flags.js';
import { type Exec, NEXT, REG_NONE } from '../insn.js';
import { linearAddress } from '../operands.js';
import { loadOperand, M16INT, M32FP, M32INT, M64FP } from './x87-memory.js';
import {
  FSW_C0,
  FSW_C1,
  FSW_C2,
  FSW_C3,
  isEmpty,
  masked,
  pop,
  raiseFlags,
  setCc,
  st,
  underflow,
  x87Check,
} from './x87-stack.js';

type X86Cpu = Parameters<Exec>[0];
type Fpu = X86Cpu['fpu'];

const { Code } = iced;

/** A comparison's outcome. */
const GT = 0;
const LT = 1;
const EQ = 2;
const UNORDERED = 3;

/** C3, C2, C0 and ZF, PF, CF by outcome. */
const CC = [0, FSW_C0, FSW_C3, FSW_C3 | FSW_C2 | FSW_C0];
const EFLAGS = [0, RFLAGS_CF, RFLAGS_ZF, RFLAGS_ZF | RFLAGS_PF | RFLAGS_CF];

/**
 * ST(0) against the value at b[off] (already loaded; `srcEmpty` when it is an empty register):
 * the outcome, or undefined when an unmasked exception leaves the flags alone.
 */
function compareTop(
  f: Fpu,
  b: Uint8Array,
  off: number,
  srcEmpty: boolean,
  quiet: boolean,
): number | undefined {
  if (isEmpty(f, 0) || srcEmpty) return underflow(f) ? UNORDERED : undefined;
  const x = unpackF80(f.fpr, st(0));
  const y = unpackF80(b, off);
  if (x.cls === CLASS_DENORMAL || y.cls === CLASS_DENORMAL) raiseFlags(f, FSW_DE);
  const c = compareF80(f.fpr, st(0), b, off);
  if (c !== undefined) return c > 0 ? GT : c < 0 ? LT : EQ;
  const invalid =
    !quiet ||
    x.cls === CLASS_UNSUPPORTED ||
    y.cls === CLASS_UNSUPPORTED ||
    isSignalling(x) ||
    isSignalling(y);
  if (invalid) {
    raiseFlags(f, FSW_IE);
    if (!masked(f, FSW_IE)) return undefined;
  }
  return UNORDERED;
}

/** Pop `n` times. */
function pops(f: Fpu, n: number): void {
  for (let k = 0; k < n; k++) pop(f);
}

/** FCOM/FCOMP/FICOM/FICOMP m: ST(0) against memory, popped `n` times. */
function comMem(type: number, n: number): Exec {
  return (cpu, i) => {
    x87Check(cpu);
    const f = cpu.fpu;
    const m = new Uint8Array(F80_BYTES);
    raiseFlags(f, loadOperand(cpu, linearAddress(cpu, i), type, m) & FSW_DE);
    const r = compareTop(f, m, 0, false, false);
    if (r !== undefined) setCc(f, CC[r]!);
    pops(f, n);
    return NEXT;
  };
}

/** FCOM/FUCOM ST(i) (ST(1) for FCOMPP/FUCOMPP, which name none): popped `n` times. */
function comReg(n: number, quiet: boolean): Exec {
  return (cpu, i) => {
    x87Check(cpu);
    const f = cpu.fpu;
    const src = i.r1 === REG_NONE ? 1 : i.r1;
    const r = compareTop(f, f.fpr, st(src), isEmpty(f, src), quiet);
    if (r !== undefined) setCc(f, CC[r]!);
    pops(f, n);
    return NEXT;
  };
}

/** FCOMI/FUCOMI ST(0), ST(i) (popped after when `popAfter`): the outcome in RFLAGS. */
function comi(popAfter: boolean, quiet: boolean): Exec {
  return (cpu, i) => {
    x87Check(cpu);
    const f = cpu.fpu;
    f.fsw &= ~FSW_C1;
    const r = compareTop(f, f.fpr, st(i.r1), isEmpty(f, i.r1), quiet);
    if (r !== undefined) writeRflags(cpu.f, (readRflags(cpu.f) & ~RFLAGS_ARITH) | EFLAGS[r]!);
    if (popAfter) pop(f);
    return NEXT;
  };
}

const ZERO = new Uint8Array(F80_BYTES);

/** FTST: ST(0) against +0.0. */
const ftst: Exec = (cpu) => {
  x87Check(cpu);
  const f = cpu.fpu;
  const r = compareTop(f, ZERO, 0, false, false);
  if (r !== undefined) setCc(f, CC[r]!);
  return NEXT;
};

/** FXAM's C3, C2, C0 by class (f80.ts's CLASS_*). */
const FXAM_CLASS = new Map([
  [CLASS_UNSUPPORTED, 0],
  [CLASS_NAN, FSW_C0],
  [CLASS_NORMAL, FSW_C2],
  [CLASS_INFINITY, FSW_C2 | FSW_C0],
  [CLASS_ZERO, FSW_C3],
  [CLASS_DENORMAL, FSW_C3 | FSW_C2],
]);
const FXAM_EMPTY = FSW_C3 | FSW_C0;

const fxam: Exec = (cpu) => {
  x87Check(cpu);
  const f = cpu.fpu;
  const sign = f.fpr[st(0) + 9]! & 0x80 ? FSW_C1 : 0;
  setCc(f, (isEmpty(f, 0) ? FXAM_EMPTY : FXAM_CLASS.get(unpackF80(f.fpr, st(0)).cls)!) | sign);
  return NEXT;
};

/** Handlers by iced Code. */
export const X87_COMPARE_OPS = new Map<number, Exec>([
  [Code.Fcom_m32fp, comMem(M32FP, 0)],
  [Code.Fcom_m64fp, comMem(M64FP, 0)],
  [Code.Fcomp_m32fp, comMem(M32FP, 1)],
  [Code.Fcomp_m64fp, comMem(M64FP, 1)],
  [Code.Ficom_m16int, comMem(M16INT, 0)],
  [Code.Ficom_m32int, comMem(M32INT, 0)],
  [Code.Ficomp_m16int, comMem(M16INT, 1)],
  [Code.Ficomp_m32int, comMem(M32INT, 1)],
  [Code.Fcom_st0_sti, comReg(0, false)],
  [Code.Fcom_st0_sti_DCD0, comReg(0, false)],
  [Code.Fcomp_st0_sti, comReg(1, false)],
  [Code.Fcomp_st0_sti_DCD8, comReg(1, false)],
  [Code.Fcomp_st0_sti_DED0, comReg(1, false)],
  [Code.Fcompp, comReg(2, false)],
  [Code.Fucom_st0_sti, comReg(0, true)],
  [Code.Fucomp_st0_sti, comReg(1, true)],
  [Code.Fucompp, comReg(2, true)],
  [Code.Fcomi_st0_sti, comi(false, false)],
  [Code.Fcomip_st0_sti, comi(true, false)],
  [Code.Fucomi_st0_sti, comi(false, true)],
  [Code.Fucomip_st0_sti, comi(true, true)],
  [Code.Ftst, ftst],
  [Code.Fxam, fxam],
]);
