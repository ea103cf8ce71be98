/**
 * x87 arithmetic: FADD/FADDP/FIADD, FSUB/FSUBP/FISUB, FSUBR/FSUBRP/FISUBR, FMUL/FMULP/FIMUL,
 * FDIV/FDIVP/FIDIV, FDIVR/FDIVRP/FIDIVR (Intel's operand order, as iced names the forms: FSUB
 * dest = dest - src, FSUBR dest = src - dest; one memory operand means ST(0) op memory), FCHS,
 * FABS, FSQRT, FRNDINT, FSCALE, FPREM, FPREM1, F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS
 * and FSINCOS.
 *
 * Precision: the arithmetic and the transcendental functions compute in JavaScript numbers
 * (doubles, round to nearest), their operands rounded to 53 bits and their results stored as
 * extended. Hardware with PC = extended (FNINIT's) keeps 64 bits and rounds by RC, and its exponent
 * range is wider: an operand beyond the double range reads as an infinity or zero here. The
 * results a double can hold exactly (sums, products of small integers, the usual firmware
 * arithmetic) are the same. FRNDINT, FSCALE (of finite operands), FPREM and FPREM1 are exact, with
 * RC where it applies; FCHS and FABS change the sign bit only.
 *
 * Operands: a NaN propagates (quieted; of two, the quiet one, else the larger significand), a
 * signalling NaN or an unsupported encoding raises IE, a denormal DE; an invalid operation (∞ - ∞,
 * 0 × ∞, 0/0, √-1, …) raises IE with the indefinite as the masked result; x/0 raises ZE (the result
 * an infinity); an overflow to infinity raises OE and PE. PE is not computed for the double-based
 * operations. An unmasked IE or ZE leaves the destination alone. Empty operand registers are stack
 * underflows (x87-stack.ts).
 */
import iced from 'iced-x86';
import {
  CLASS_DENORMAL,
  CLASS_INFINITY,
  CLASS_NAN,
  CLASS_NORMAL,
  CLASS_UNSUPPORTED,
  CLASS_ZERO,
  F80_BYTES,
  FSW_DE,
  FSW_IE,
  FSW_OE,
  FSW_PE,
  FSW_ZE,
  f80ToNumber,
  isSignalling,
  numberToF80,
  remainderF80,
  roundF80ToInteger,
  type Unpacked,
  unpackF80,
  writeF80,
  writeIndefinite,
} from '../f80.js';
import { type Exec, NEXT } from '../insn.js';
import { linearAddress } from '../operands.js';
import { loadOperand, M16INT, M32FP, M32INT, M64FP } from './x87-memory.js';
import {
  FSW_C0,
  FSW_C1,
  FSW_C2,
  FSW_C3,
  masked,
  pop,
  pushBytes,
  raiseFlags,
  readable,
  roundingControl,
  setCc,
  st,
  x87Check,
} from './x87-stack.js';

type X86Cpu = Parameters<Exec>[0];
type Fpu = X86Cpu['fpu'];

const { Code } = iced;

/** An operand: its bytes and offset. */
type Operand = readonly [Uint8Array, number];

/**
 * NaN and unsupported operands: when one is there, the result (the propagated NaN, or the
 * indefinite) is written at out[off] (unless IE is unmasked) and true returned.
 */
function nanOperands(
  f: Fpu,
  ops: readonly Operand[],
  us: readonly Unpacked[],
  out: Uint8Array,
  off: number,
): boolean {
  if (us.some((u) => u.cls === CLASS_UNSUPPORTED)) {
    raiseFlags(f, FSW_IE);
    if (masked(f, FSW_IE)) writeIndefinite(out, off);
    return true;
  }
  const nans = us.flatMap((u, k) => (u.cls === CLASS_NAN ? [k] : []));
  if (nans.length === 0) return false;
  if (nans.some((k) => isSignalling(us[k]!))) {
    raiseFlags(f, FSW_IE);
    if (!masked(f, FSW_IE)) return true;
  }
  let pick = nans[0]!;
  if (nans.length === 2) {
    const [a, b] = [us[nans[0]!]!, us[nans[1]!]!];
    const qa = !isSignalling(a);
    const qb = !isSignalling(b);
    if (qa !== qb) pick = qa ? nans[0]! : nans[1]!;
    else if ((b.sig & ~(1n << 62n)) > (a.sig & ~(1n << 62n))) pick = nans[1]!;
  }
  const [src, so] = ops[pick]!;
  out.set(src.slice(so, so + F80_BYTES), off);
  out[off + 7]! |= 0x40; // the quiet bit
  return true;
}

/**
 * `fn` of the operands (as numbers) into out[off], with the NaN, invalid, divide-by-zero and
 * overflow rules above; `zeroDivide` tells when the operation divides a finite nonzero number by 0.
 */
function compute(
  f: Fpu,
  ops: readonly Operand[],
  fn: (...xs: number[]) => number,
  out: Uint8Array,
  off: number,
  zeroDivide?: (...xs: number[]) => boolean,
): void {
  const us = ops.map(([b, o]) => unpackF80(b, o));
  if (nanOperands(f, ops, us, out, off)) return;
  if (us.some((u) => u.cls === CLASS_DENORMAL)) raiseFlags(f, FSW_DE);
  const xs = ops.map(([b, o]) => f80ToNumber(b, o));
  const r = fn(...xs);
  if (Number.isNaN(r)) {
    raiseFlags(f, FSW_IE);
    if (masked(f, FSW_IE)) writeIndefinite(out, off);
    return;
  }
  if (zeroDivide?.(...xs)) {
    raiseFlags(f, FSW_ZE);
    if (!masked(f, FSW_ZE)) return;
  } else if (!Number.isFinite(r) && xs.every(Number.isFinite)) raiseFlags(f, FSW_OE | FSW_PE);
  numberToF80(out, off, r);
}

// ---- the binary operations ----

interface BinaryOp {
  readonly fn: (dest: number, src: number) => number;
  readonly zeroDivide?: (dest: number, src: number) => boolean;
}

/** x / 0 with x finite and nonzero. */
const dividesByZero = (x: number, y: number): boolean => y === 0 && x !== 0 && Number.isFinite(x);

const ADD: BinaryOp = { fn: (d, s) => d + s };
const SUB: BinaryOp = { fn: (d, s) => d - s };
const SUBR: BinaryOp = { fn: (d, s) => s - d };
const MUL: BinaryOp = { fn: (d, s) => d * s };
const DIV: BinaryOp = { fn: (d, s) => d / s, zeroDivide: dividesByZero };
const DIVR: BinaryOp = { fn: (d, s) => s / d, zeroDivide: (d, s) => dividesByZero(s, d) };

/** ST(0) := ST(0) op m (single, double, 16/32-bit integer). */
function arithMem(op: BinaryOp, type: number): Exec {
  return (cpu, i) => {
    x87Check(cpu);
    const f = cpu.fpu;
    const m = new Uint8Array(F80_BYTES);
    const flags = loadOperand(cpu, linearAddress(cpu, i), type, m);
    f.fsw &= ~FSW_C1;
    raiseFlags(f, flags);
    if (!readable(f, 0)) return NEXT;
    compute(
      f,
      [
        [f.fpr, st(0)],
        [m, 0],
      ],
      op.fn,
      f.fpr,
      st(0),
      op.zeroDivide,
    );
    return NEXT;
  };
}

/** ST(r0) := ST(r0) op ST(r1), popped after when `popAfter`. */
function arithReg(op: BinaryOp, popAfter: boolean): Exec {
  return (cpu, i) => {
    x87Check(cpu);
    const f = cpu.fpu;
    f.fsw &= ~FSW_C1;
    if (!readable(f, i.r0, i.r1)) return NEXT;
    compute(
      f,
      [
        [f.fpr, st(i.r0)],
        [f.fpr, st(i.r1)],
      ],
      op.fn,
      f.fpr,
      st(i.r0),
      op.zeroDivide,
    );
    if (popAfter) pop(f);
    return NEXT;
  };
}

// ---- operations on ST(0) ----

/** An operation on ST(0) (and ST(1) for some), C1 cleared, underflow checked first. */
function onTop(regs: number[], body: (f: Fpu) => void): Exec {
  return (cpu) => {
    x87Check(cpu);
    const f = cpu.fpu;
    f.fsw &= ~FSW_C1;
    if (!readable(f, ...regs)) return NEXT;
    body(f);
    return NEXT;
  };
}

const fchs = onTop([0], (f) => {
  f.fpr[st(0) + 9]! ^= 0x80;
});
const fabs = onTop([0], (f) => {
  f.fpr[st(0) + 9]! &= 0x7f;
});

/** ST(0) := fn(ST(0)). */
function unary(fn: (x: number) => number): Exec {
  return onTop([0], (f) => compute(f, [[f.fpr, st(0)]], fn, f.fpr, st(0)));
}

const frndint = onTop([0], (f) => {
  const ops: Operand[] = [[f.fpr, st(0)]];
  if (nanOperands(f, ops, [unpackF80(f.fpr, st(0))], f.fpr, st(0))) return;
  raiseFlags(f, roundF80ToInteger(f.fpr, st(0), roundingControl(f)));
});

/** FSCALE: ST(0) := ST(0) × 2^trunc(ST(1)); exact for finite operands. */
const fscale = onTop([0, 1], (f) => {
  const x = unpackF80(f.fpr, st(0));
  const y = unpackF80(f.fpr, st(1));
  const finite = (u: Unpacked) => u.cls === CLASS_NORMAL || u.cls === CLASS_DENORMAL;
  if (finite(x) && (finite(y) || y.cls === CLASS_ZERO)) {
    // Beyond ±2^17 the result over- or underflows whatever ST(0) is.
    const n = Math.max(-(2 ** 17), Math.min(2 ** 17, Math.trunc(f80ToNumber(f.fpr, st(1)))));
    raiseFlags(f, writeF80(f.fpr, st(0), x.sign, x.sig, x.e + n, roundingControl(f)));
    return;
  }
  compute(
    f,
    [
      [f.fpr, st(0)],
      [f.fpr, st(1)],
    ],
    (a, b) => a * 2 ** Math.trunc(b),
    f.fpr,
    st(0),
  );
});

/**
 * FPREM (`nearest` false) and FPREM1: ST(0) := the exact remainder of ST(0) / ST(1), the quotient's
 * low bits in C0 (bit 2), C3 (bit 0) and C1 (bit 1); the reduction is complete (C2 = 0).
 */
function fprem(nearest: boolean): Exec {
  return onTop([0, 1], (f) => {
    const ops: Operand[] = [
      [f.fpr, st(0)],
      [f.fpr, st(1)],
    ];
    const x = unpackF80(f.fpr, st(0));
    const y = unpackF80(f.fpr, st(1));
    setCc(f, 0);
    if (nanOperands(f, ops, [x, y], f.fpr, st(0))) return;
    if (x.cls === CLASS_DENORMAL || y.cls === CLASS_DENORMAL) raiseFlags(f, FSW_DE);
    if (x.cls === CLASS_INFINITY || y.cls === CLASS_ZERO) {
      raiseFlags(f, FSW_IE);
      if (masked(f, FSW_IE)) writeIndefinite(f.fpr, st(0));
      return;
    }
    // x finite: an infinite divisor leaves it as it is.
    if (y.cls === CLASS_INFINITY) return;
    const q = remainderF80(x, y, nearest, f.fpr, st(0));
    setCc(f, (q & 4 ? FSW_C0 : 0) | (q & 1 ? FSW_C3 : 0) | (q & 2 ? FSW_C1 : 0));
  });
}

/** The trigonometric instructions take |x| < 2^63; beyond it they set C2 and leave ST(0) alone. */
const TRIG_LIMIT = 2 ** 63;

/** FSIN, FCOS, FPTAN (`then` pushes 1.0 after), FSINCOS: C2 = 1 and nothing else when out of range. */
function trig(fn: (x: number) => number, then?: (f: Fpu, x: Uint8Array) => void): Exec {
  return onTop([0], (f) => {
    f.fsw &= ~FSW_C2;
    if (Math.abs(f80ToNumber(f.fpr, st(0))) >= TRIG_LIMIT) {
      f.fsw |= FSW_C2;
      return;
    }
    const x = f.fpr.slice(st(0), st(0) + F80_BYTES);
    compute(f, [[x, 0]], fn, f.fpr, st(0));
    then?.(f, x);
  });
}

const ONE = new Uint8Array(F80_BYTES);
numberToF80(ONE, 0, 1);

const fptan = trig(Math.tan, (f) => pushBytes(f, ONE, 0));
const fsincos = trig(Math.sin, (f, x) => {
  const c = new Uint8Array(F80_BYTES);
  compute(f, [[x, 0]], Math.cos, c, 0);
  pushBytes(f, c, 0);
});

/** ST(1) := fn(ST(1), ST(0)), then pop (FYL2X, FYL2XP1, FPATAN). */
function intoSt1(fn: (y: number, x: number) => number, zeroDivide?: (y: number, x: number) => boolean): Exec {
  return onTop([0, 1], (f) => {
    compute(
      f,
      [
        [f.fpr, st(1)],
        [f.fpr, st(0)],
      ],
      fn,
      f.fpr,
      st(1),
      zeroDivide,
    );
    pop(f);
  });
}

/** log2(0) with a finite nonzero multiplier: divide by zero. */
const logOfZero = (y: number, x: number): boolean => x === 0 && y !== 0 && Number.isFinite(y);

/** The binary operations' forms by Code name stem (Fadd, Fiadd, Faddp …). */
const BINARY: [string, BinaryOp][] = [
  ['add', ADD],
  ['sub', SUB],
  ['subr', SUBR],
  ['mul', MUL],
  ['div', DIV],
  ['divr', DIVR],
];

function code(name: string): number {
  const c = (Code as unknown as Record<string, number>)[name];
  if (c === undefined) throw new Error(`no iced Code ${name}`);
  return c;
}

/** Handlers by iced Code. */
export const X87_ARITH_OPS = new Map<number, Exec>([
  ...BINARY.flatMap(([stem, op]): [number, Exec][] => [
    [code(`F${stem}_m32fp`), arithMem(op, M32FP)],
    [code(`F${stem}_m64fp`), arithMem(op, M64FP)],
    [code(`Fi${stem}_m16int`), arithMem(op, M16INT)],
    [code(`Fi${stem}_m32int`), arithMem(op, M32INT)],
    [code(`F${stem}_st0_sti`), arithReg(op, false)],
    [code(`F${stem}_sti_st0`), arithReg(op, false)],
    [code(`F${stem}p_sti_st0`), arithReg(op, true)],
  ]),
  [Code.Fchs, fchs],
  [Code.Fabs, fabs],
  [Code.Fsqrt, unary(Math.sqrt)],
  [Code.Frndint, frndint],
  [Code.Fscale, fscale],
  [Code.Fprem, fprem(false)],
  [Code.Fprem1, fprem(true)],
  [Code.F2xm1, unary((x) => Math.expm1(x * Math.LN2))],
  [Code.Fyl2x, intoSt1((y, x) => y * Math.log2(x), logOfZero)],
  [Code.Fyl2xp1, intoSt1((y, x) => (y * Math.log1p(x)) / Math.LN2)],
  [Code.Fpatan, intoSt1(Math.atan2)],
  [Code.Fptan, fptan],
  [Code.Fsin, trig(Math.sin)],
  [Code.Fcos, trig(Math.cos)],
  [Code.Fsincos, fsincos],
]);
