/**
 * RFLAGS with lazy arithmetic flags for the x86-64 interpreter. The ALU (alu.ts) records which
 * operation last set CF PF AF ZF SF OF, its size, operands and result; a flag is computed only
 * when something reads it (a Jcc, SETcc, CMOVcc, ADC, PUSHF, an exit). Most results are never
 * read, and the common reads (ZF, CF, SF, and the Jcc conditions after CMP or TEST) cost a
 * compare or two.
 *
 * Values are 32-bit halves (lo = bits 31:0, hi = bits 63:32) held as int32 bit patterns (`| 0`),
 * never as numbers of 2^31 or more: V8 keeps int32s as small integers in fields, module variables
 * and arguments alike, where a u32 above 2^31 would be a heap number (an allocation per store in
 * some places, and a field representation change in others). Unsigned comparisons use `>>> 0`.
 * Operands narrower than 8 bytes are truncated (so non-negative) and hi = 0.
 */

/** Lazy-flags record kinds: which operation last set the arithmetic flags. */
export const LAZY_NONE = 0; // CF PF AF ZF SF OF are materialised in `bits`
export const LAZY_ADD = 1;
export const LAZY_ADC = 2;
export const LAZY_SUB = 3;
export const LAZY_SBB = 4;
/** AND OR XOR TEST: CF = OF = 0, AF = 0 (undefined; what AMD and Intel do); only the result is recorded. */
export const LAZY_LOGIC = 5;
/** INC: as ADD with b = 1, CF preserved in `carry`. */
export const LAZY_INC = 6;
/** DEC: as SUB with b = 1, CF preserved in `carry`. */
export const LAZY_DEC = 7;
/** NEG: recorded as SUB 0 - operand (a = 0, b = the operand), whose flags are exactly NEG's. */
export const LAZY_NEG = 8;
/** ZF SF PF from the result; CF AF OF already materialised in `bits` (shifts, SHLD, SHRD). */
export const LAZY_RESULT = 9;
/**
 * Intel's MUL/IMUL: SF PF from the result (the low half); CF ZF AF OF already in `bits` (ZF = AF =
 * 0). AMD's keeps SF ZF AF PF: its ops materialise and leave LAZY_NONE.
 */
export const LAZY_MUL = 10;

export const RFLAGS_CF = 0x1;
export const RFLAGS_FIXED = 0x2; // reserved bit 1, always 1
export const RFLAGS_PF = 0x4;
export const RFLAGS_AF = 0x10;
export const RFLAGS_ZF = 0x40;
export const RFLAGS_SF = 0x80;
export const RFLAGS_TF = 0x100;
export const RFLAGS_IF = 0x200;
export const RFLAGS_DF = 0x400;
export const RFLAGS_OF = 0x800;
export const RFLAGS_IOPL = 0x3000;
export const RFLAGS_NT = 0x4000;
export const RFLAGS_RF = 0x1_0000;
export const RFLAGS_VM = 0x2_0000;
export const RFLAGS_AC = 0x4_0000;
export const RFLAGS_VIF = 0x8_0000;
export const RFLAGS_VIP = 0x10_0000;
export const RFLAGS_ID = 0x20_0000;
/** The six arithmetic (status) flags the lazy record stands for. */
export const RFLAGS_ARITH = RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF;
/** Every bit RFLAGS can hold (bits 3, 5, 15 and 22..63 are reserved 0; bit 1 reads as 1). */
export const RFLAGS_DEFINED = 0x3f_7fd7;

export class Flags {
  /** Lazy kind (LAZY_*). */
  op = LAZY_NONE;
  /** Operand size in bytes: 1, 2, 4 or 8. */
  size = 4;
  /**
   * Result and operands as 32-bit halves, int32 bit patterns (`x >>> 0` is the u32); for size < 8
   * the values are already truncated and hi = 0.
   */
  resLo = 0;
  resHi = 0;
  aLo = 0;
  aHi = 0;
  bLo = 0;
  bHi = 0;
  /** Carry-in of ADC/SBB, and CF preserved across INC/DEC (0 or 1). */
  carry = 0;
  /** RFLAGS as materialised; the arithmetic bits are stale while op !== LAZY_NONE. Bit 1 always set. */
  bits = RFLAGS_FIXED;
  /** High half of a MUL/IMUL product, remainder of DIV/IDIV (int32 halves too; not flags state). */
  hiLo = 0;
  hiHi = 0;
}

/** Bit n-1 (the sign) of an n-bit value given as halves: 0 or 1. */
export function msb(size: number, lo: number, hi: number): number {
  return size === 8 ? hi >>> 31 : (lo >>> ((size << 3) - 1)) & 1;
}

/** x86 PF: 1 when the low byte of `v` has an even number of set bits. */
export function parity(v: number): boolean {
  const x = (v ^ (v >>> 4)) & 0xf;
  return ((0x9669 >>> x) & 1) !== 0;
}

/** a < b, unsigned, for values given as 32-bit halves. */
function ltu(aLo: number, aHi: number, bLo: number, bHi: number): boolean {
  return aHi >>> 0 < bHi >>> 0 || (aHi === bHi && aLo >>> 0 < bLo >>> 0);
}

export function cf(f: Flags): boolean {
  switch (f.op) {
    case LAZY_ADD:
      return ltu(f.resLo, f.resHi, f.aLo, f.aHi);
    case LAZY_ADC:
      // res = a + b + 1 wrapped to a or below it.
      return f.carry !== 0 ? !ltu(f.aLo, f.aHi, f.resLo, f.resHi) : ltu(f.resLo, f.resHi, f.aLo, f.aHi);
    case LAZY_SUB:
    case LAZY_NEG:
      return ltu(f.aLo, f.aHi, f.bLo, f.bHi);
    case LAZY_SBB:
      return f.carry !== 0 ? !ltu(f.bLo, f.bHi, f.aLo, f.aHi) : ltu(f.aLo, f.aHi, f.bLo, f.bHi);
    case LAZY_INC:
    case LAZY_DEC:
      return f.carry !== 0;
    case LAZY_LOGIC:
      return false;
    default:
      return (f.bits & RFLAGS_CF) !== 0;
  }
}

export function zf(f: Flags): boolean {
  const op = f.op;
  return op === LAZY_NONE || op === LAZY_MUL ? (f.bits & RFLAGS_ZF) !== 0 : (f.resLo | f.resHi) === 0;
}

export function sf(f: Flags): boolean {
  return f.op === LAZY_NONE ? (f.bits & RFLAGS_SF) !== 0 : msb(f.size, f.resLo, f.resHi) !== 0;
}

export function pf(f: Flags): boolean {
  return f.op === LAZY_NONE ? (f.bits & RFLAGS_PF) !== 0 : parity(f.resLo);
}

export function af(f: Flags): boolean {
  switch (f.op) {
    case LAZY_NONE:
    case LAZY_RESULT:
    case LAZY_MUL:
      return (f.bits & RFLAGS_AF) !== 0;
    case LAZY_LOGIC:
      return false;
    default:
      // The carry (or borrow) into bit 4; for ADC/SBB too, as the carry-in only reaches bit 0.
      return ((f.aLo ^ f.bLo ^ f.resLo) & 0x10) !== 0;
  }
}

export function of(f: Flags): boolean {
  switch (f.op) {
    case LAZY_ADD:
    case LAZY_ADC:
    case LAZY_INC:
      // Both operands have the sign the result lacks.
      return msb(f.size, (f.aLo ^ f.resLo) & (f.bLo ^ f.resLo), (f.aHi ^ f.resHi) & (f.bHi ^ f.resHi)) !== 0;
    case LAZY_SUB:
    case LAZY_SBB:
    case LAZY_DEC:
    case LAZY_NEG:
      // Operands of different signs, and the result's sign is not a's.
      return msb(f.size, (f.aLo ^ f.bLo) & (f.aLo ^ f.resLo), (f.aHi ^ f.bHi) & (f.aHi ^ f.resHi)) !== 0;
    case LAZY_LOGIC:
      return false;
    default:
      return (f.bits & RFLAGS_OF) !== 0;
  }
}

/** The full RFLAGS value (materialises the lazy bits, keeps the others); as a u32 number (RFLAGS bits 63:32 are 0). */
export function readRflags(f: Flags): number {
  const op = f.op;
  if (op === LAZY_NONE) return f.bits;
  // One pass: ZF SF PF from the result for every kind, then CF AF OF by kind.
  const size = f.size;
  const rLo = f.resLo;
  const rHi = f.resHi;
  let v =
    ((rLo | rHi) === 0 ? RFLAGS_ZF : 0) |
    (msb(size, rLo, rHi) !== 0 ? RFLAGS_SF : 0) |
    (parity(rLo) ? RFLAGS_PF : 0);
  switch (op) {
    case LAZY_LOGIC:
      return (f.bits & ~RFLAGS_ARITH) | v;
    case LAZY_RESULT:
      return (f.bits & ~(RFLAGS_ZF | RFLAGS_SF | RFLAGS_PF)) | v;
    case LAZY_MUL:
      return (f.bits & ~(RFLAGS_SF | RFLAGS_PF)) | (v & (RFLAGS_SF | RFLAGS_PF));
    case LAZY_ADD:
    case LAZY_ADC:
    case LAZY_INC:
      v |= msb(size, (f.aLo ^ rLo) & (f.bLo ^ rLo), (f.aHi ^ rHi) & (f.bHi ^ rHi)) << 11;
      break;
    default:
      v |= msb(size, (f.aLo ^ f.bLo) & (f.aLo ^ rLo), (f.aHi ^ f.bHi) & (f.aHi ^ rHi)) << 11;
  }
  return (f.bits & ~RFLAGS_ARITH) | v | ((f.aLo ^ f.bLo ^ rLo) & RFLAGS_AF) | (cf(f) ? RFLAGS_CF : 0);
}

/** Compute the lazy flags into `bits` (op becomes LAZY_NONE): before an op that changes only some of them. */
export function materialise(f: Flags): void {
  if (f.op === LAZY_NONE) return;
  f.bits = readRflags(f);
  f.op = LAZY_NONE;
}

/** Set RFLAGS from a value (POPF/IRET/SAHF paths — callers mask what the mode allows); op becomes LAZY_NONE. */
export function writeRflags(f: Flags, v: number): void {
  f.bits = (v & RFLAGS_DEFINED) | RFLAGS_FIXED;
  f.op = LAZY_NONE;
}

/** Condition code cc (0..15, the x86 tttn encoding: O, NO, B, AE, E, NE, BE, A, S, NS, P, NP, L, GE, LE, G). */
export function cond(f: Flags, cc: number): boolean {
  const t = cc >>> 1;
  const op = f.op;
  let r: boolean;
  if (op === LAZY_SUB && (t === 1 || t === 3 || t >= 6)) r = condSub(f, t);
  else if (op === LAZY_LOGIC) r = condLogic(f, t);
  else {
    switch (t) {
      case 0:
        r = of(f);
        break;
      case 1:
        r = cf(f);
        break;
      case 2:
        r = zf(f);
        break;
      case 3:
        r = cf(f) || zf(f);
        break;
      case 4:
        r = sf(f);
        break;
      case 5:
        r = pf(f);
        break;
      case 6:
        r = sf(f) !== of(f);
        break;
      default:
        r = zf(f) || sf(f) !== of(f);
    }
  }
  return (cc & 1) === 0 ? r : !r;
}

/** B, BE, L, LE after CMP/SUB: the relation of a and b itself, no flag computed. */
function condSub(f: Flags, t: number): boolean {
  const aLo = f.aLo;
  const aHi = f.aHi;
  const bLo = f.bLo;
  const bHi = f.bHi;
  if (t === 1) return ltu(aLo, aHi, bLo, bHi);
  if (t === 3) return !ltu(bLo, bHi, aLo, aHi);
  // Signed: compare the high halves as int32 (for size < 8 the sign moved up to bit 31).
  let lt: boolean;
  if (f.size === 8) lt = aHi < bHi || (aHi === bHi && aLo >>> 0 < bLo >>> 0);
  else {
    const sh = 32 - (f.size << 3);
    lt = aLo << sh < bLo << sh;
  }
  return t === 6 ? lt : lt || (aLo === bLo && aHi === bHi);
}

/** After AND/OR/XOR/TEST: CF = OF = 0, so B is false, BE is E, L is S, LE is E or S. */
function condLogic(f: Flags, t: number): boolean {
  switch (t) {
    case 0:
    case 1:
      return false;
    case 2:
    case 3:
      return (f.resLo | f.resHi) === 0;
    case 4:
    case 6:
      return msb(f.size, f.resLo, f.resHi) !== 0;
    case 5:
      return parity(f.resLo);
    default:
      return (f.resLo | f.resHi) === 0 || msb(f.size, f.resLo, f.resHi) !== 0;
  }
}
