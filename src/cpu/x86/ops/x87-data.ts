/**
 * x87 data transfer: FLD (single, double, extended, ST(i)), FILD, the constants (FLD1, FLDZ,
 * FLDPI, FLDL2E, FLDL2T, FLDLG2, FLDLN2), FST/FSTP (single, double, extended, ST(i)),
 * FIST/FISTP and FISTTP (16/32/64-bit), FXCH, FCMOVcc, FFREE, FFREEP, FINCSTP, FDECSTP and FNOP.
 *
 * Extended values and register copies move their 80 bits exactly (NaN payloads, unnormals and
 * all). Single and double loads are exact; stores round by RC (f80.ts); integer stores round by
 * RC (FISTTP truncates) and store the integer indefinite with IE when the value does not fit. The
 * constants are the round-to-nearest ones whatever RC says (the x87 rounds their 66-bit internal
 * form by RC; up and toward zero can differ in the last bit).
 *
 * In records of these forms r0 and r1 hold the ST(i) numbers of register operands (x87.ts).
 */
import iced from 'iced-x86';
import { F80_BYTES, FSW_IE, FSW_PE, f80ToFloatBits, f80ToInt, RC_ZERO, writeIndefinite } from '../f80.js';
import { cond } from '../flags.js';
import { type Exec, NEXT } from '../insn.js';
import { linearAddress } from '../operands.js';
import { probeWrite } from './sse.js';
import {
  bigintToBytes,
  loadOperand,
  M16INT,
  M32FP,
  M32INT,
  M64FP,
  M64INT,
  M80FP,
  OPERAND_BYTES,
  storeBytes,
} from './x87-memory.js';
import {
  copyReg,
  FSW_C1,
  isEmpty,
  masked,
  pop,
  pushBytes,
  raiseFlags,
  readable,
  rotate,
  roundingControl,
  setEmpty,
  setValid,
  st,
  underflow,
  x87Check,
} from './x87-stack.js';

type X86Cpu = Parameters<Exec>[0];
type Fpu = X86Cpu['fpu'];

const { Code } = iced;

/** Clear C1 (the x87 sets it only on a stack overflow or a rounding up). */
function clearC1(f: Fpu): void {
  f.fsw &= ~FSW_C1;
}

/** FLD/FILD m: the operand converted to extended, pushed. */
function fldMem(type: number): Exec {
  return (cpu, i) => {
    x87Check(cpu);
    const f = cpu.fpu;
    const v = new Uint8Array(F80_BYTES);
    const flags = loadOperand(cpu, linearAddress(cpu, i), type, v);
    clearC1(f);
    raiseFlags(f, flags);
    if (flags & FSW_IE && !masked(f, FSW_IE)) return NEXT;
    pushBytes(f, v, 0);
    return NEXT;
  };
}

/** FLD ST(i): a copy of ST(i) pushed (the indefinite when it is empty). */
const fldReg: Exec = (cpu, i) => {
  x87Check(cpu);
  const f = cpu.fpu;
  clearC1(f);
  if (!readable(f, i.r0)) return NEXT;
  pushBytes(f, f.fpr, st(i.r0));
  return NEXT;
};

/** The constants, as extended (sign/exponent word, significand). */
const CONSTANTS: [number, number, bigint][] = [
  [Code.Fld1, 0x3fff, 0x8000_0000_0000_0000n],
  [Code.Fldz, 0, 0n],
  [Code.Fldpi, 0x4000, 0xc90f_daa2_2168_c235n],
  [Code.Fldl2e, 0x3fff, 0xb8aa_3b29_5c17_f0bcn],
  [Code.Fldl2t, 0x4000, 0xd49a_784b_cd1b_8afen],
  [Code.Fldlg2, 0x3ffd, 0x9a20_9a84_fbcf_f799n],
  [Code.Fldln2, 0x3ffe, 0xb172_17f7_d1cf_79acn],
];

function fldConstant(se: number, sig: bigint): Exec {
  const v = new Uint8Array(F80_BYTES);
  v.set(bigintToBytes(sig, 8));
  v[8] = se & 0xff;
  v[9] = se >> 8;
  return (cpu) => {
    x87Check(cpu);
    clearC1(cpu.fpu);
    pushBytes(cpu.fpu, v, 0);
    return NEXT;
  };
}

/**
 * ST(0) as the memory operand's type: its bytes and the flags raised, or undefined when an
 * unmasked invalid operation stores nothing. `rc` rounds (FISTTP: toward zero).
 */
function convertTop(f: Fpu, type: number, rc: number): { bytes: Uint8Array; flags: number } | undefined {
  let src = f.fpr;
  let off = st(0);
  if (isEmpty(f, 0)) {
    if (!underflow(f)) return undefined;
    src = new Uint8Array(F80_BYTES);
    off = 0;
    writeIndefinite(src);
  }
  const n = OPERAND_BYTES[type]!;
  if (type === M80FP) return { bytes: src.slice(off, off + F80_BYTES), flags: 0 };
  if (type === M32FP || type === M64FP) {
    const r = f80ToFloatBits(src, off, type === M32FP ? 32 : 64, rc);
    if (r.flags & FSW_IE && !masked(f, FSW_IE)) return undefined;
    return { bytes: bigintToBytes(r.bits, n), flags: r.flags };
  }
  const r = f80ToInt(src, off, 8 * n, rc);
  if (r) return { bytes: bigintToBytes(r.v, n), flags: r.inexact ? FSW_PE : 0 };
  if (!masked(f, FSW_IE)) {
    raiseFlags(f, FSW_IE);
    return undefined;
  }
  // The integer indefinite: only the sign bit set.
  return { bytes: bigintToBytes(1n << BigInt(8 * n - 1), n), flags: FSW_IE };
}

/** FST/FSTP/FIST/FISTP/FISTTP m: ST(0) stored as the type (popped after when `popAfter`). */
function fstMem(type: number, popAfter: boolean, truncate = false): Exec {
  return (cpu, i) => {
    x87Check(cpu);
    const f = cpu.fpu;
    const la = linearAddress(cpu, i);
    // The pages first: a faulting store changes nothing, the status word included.
    probeWrite(cpu, la, OPERAND_BYTES[type]!);
    clearC1(f);
    const r = convertTop(f, type, truncate ? RC_ZERO : roundingControl(f));
    if (!r) return NEXT;
    storeBytes(cpu, la, r.bytes);
    raiseFlags(f, r.flags);
    if (popAfter) pop(f);
    return NEXT;
  };
}

/** FST/FSTP ST(i): ST(i) := ST(0) (the indefinite when ST(0) is empty), popped after when `popAfter`. */
function fstReg(popAfter: boolean): Exec {
  return (cpu, i) => {
    x87Check(cpu);
    const f = cpu.fpu;
    clearC1(f);
    if (isEmpty(f, 0)) {
      if (!underflow(f)) return NEXT;
      writeIndefinite(f.fpr, st(i.r0));
      setValid(f, i.r0);
    } else copyReg(f, i.r0, 0);
    if (popAfter) pop(f);
    return NEXT;
  };
}

/** FXCH ST(i): swap ST(0) and ST(i) (an empty one reads as the indefinite). */
const fxch: Exec = (cpu, i) => {
  x87Check(cpu);
  const f = cpu.fpu;
  clearC1(f);
  const r = i.r1;
  if (!readable(f, 0, r)) return NEXT;
  const t = f.fpr.slice(st(0), st(0) + F80_BYTES);
  f.fpr.copyWithin(st(0), st(r), st(r) + F80_BYTES);
  f.fpr.set(t, st(r));
  setValid(f, 0);
  setValid(f, r);
  return NEXT;
};

/** FCMOVcc ST(0), ST(i): ST(0) := ST(i) when condition `cc` (tttn) holds on RFLAGS. */
function fcmov(cc: number): Exec {
  return (cpu, i) => {
    x87Check(cpu);
    const f = cpu.fpu;
    clearC1(f);
    if (!readable(f, 0, i.r1)) return NEXT;
    if (cond(cpu.f, cc)) copyReg(f, 0, i.r1);
    return NEXT;
  };
}

/** FFREE ST(i) (and FFREEP: then pop). */
function ffree(popAfter: boolean): Exec {
  return (cpu, i) => {
    x87Check(cpu);
    setEmpty(cpu.fpu, i.r0);
    if (popAfter) pop(cpu.fpu);
    return NEXT;
  };
}

/** FINCSTP (+1) and FDECSTP (-1): TOP moves, the tags stay. */
function moveTop(by: number): Exec {
  return (cpu) => {
    x87Check(cpu);
    clearC1(cpu.fpu);
    rotate(cpu.fpu, by);
    return NEXT;
  };
}

const fnop: Exec = (cpu) => {
  x87Check(cpu);
  return NEXT;
};

/** FCMOVcc's conditions as x86 tttn numbers: B, E, BE, U (parity) and their negations. */
const TTTN_B = 2;
const TTTN_E = 4;
const TTTN_BE = 6;
const TTTN_P = 10;

/** Handlers by iced Code. */
export const X87_DATA_OPS = new Map<number, Exec>([
  [Code.Fld_m32fp, fldMem(M32FP)],
  [Code.Fld_m64fp, fldMem(M64FP)],
  [Code.Fld_m80fp, fldMem(M80FP)],
  [Code.Fild_m16int, fldMem(M16INT)],
  [Code.Fild_m32int, fldMem(M32INT)],
  [Code.Fild_m64int, fldMem(M64INT)],
  [Code.Fld_sti, fldReg],
  ...CONSTANTS.map(([code, se, sig]): [number, Exec] => [code, fldConstant(se, sig)]),
  [Code.Fst_m32fp, fstMem(M32FP, false)],
  [Code.Fst_m64fp, fstMem(M64FP, false)],
  [Code.Fstp_m32fp, fstMem(M32FP, true)],
  [Code.Fstp_m64fp, fstMem(M64FP, true)],
  [Code.Fstp_m80fp, fstMem(M80FP, true)],
  [Code.Fist_m16int, fstMem(M16INT, false)],
  [Code.Fist_m32int, fstMem(M32INT, false)],
  [Code.Fistp_m16int, fstMem(M16INT, true)],
  [Code.Fistp_m32int, fstMem(M32INT, true)],
  [Code.Fistp_m64int, fstMem(M64INT, true)],
  [Code.Fisttp_m16int, fstMem(M16INT, true, true)],
  [Code.Fisttp_m32int, fstMem(M32INT, true, true)],
  [Code.Fisttp_m64int, fstMem(M64INT, true, true)],
  [Code.Fst_sti, fstReg(false)],
  [Code.Fstp_sti, fstReg(true)],
  [Code.Fstpnce_sti, fstReg(true)],
  [Code.Fstp_sti_DFD0, fstReg(true)],
  [Code.Fstp_sti_DFD8, fstReg(true)],
  [Code.Fxch_st0_sti, fxch],
  [Code.Fxch_st0_sti_DDC8, fxch],
  [Code.Fxch_st0_sti_DFC8, fxch],
  [Code.Fcmovb_st0_sti, fcmov(TTTN_B)],
  [Code.Fcmove_st0_sti, fcmov(TTTN_E)],
  [Code.Fcmovbe_st0_sti, fcmov(TTTN_BE)],
  [Code.Fcmovu_st0_sti, fcmov(TTTN_P)],
  [Code.Fcmovnb_st0_sti, fcmov(TTTN_B + 1)],
  [Code.Fcmovne_st0_sti, fcmov(TTTN_E + 1)],
  [Code.Fcmovnbe_st0_sti, fcmov(TTTN_BE + 1)],
  [Code.Fcmovnu_st0_sti, fcmov(TTTN_P + 1)],
  [Code.Ffree_sti, ffree(false)],
  [Code.Ffreep_sti, ffree(true)],
  [Code.Fincstp, moveTop(1)],
  [Code.Fdecstp, moveTop(-1)],
  [Code.Fnop, fnop],
]);
