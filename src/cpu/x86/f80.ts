/**
 * The x87 80-bit extended format and the conversions the x87 instructions need, on byte images:
 * 10 bytes, little-endian, a 64-bit significand with an explicit integer bit (bytes 0-7), then the
 * 15-bit biased exponent and the sign (bytes 8-9). Also the IEEE single and double formats (as
 * their bit patterns, bigint) and signed integers (bigint).
 *
 * Every conversion here is exact or rounds once, by the x87 rounding control (RC = FCW bits
 * 11:10: RC_NEAREST, RC_DOWN, RC_UP, RC_ZERO): a value is unpacked to sign · significand · 2^e
 * (bigint significand), rounded to the target's precision and exponent range, and packed
 * (denormal results, overflow to infinity or the largest finite number by RC, as IEEE 754 says).
 * The flags a conversion raises come back in the FSW_* bits of `flags`; the x87 code ORs them
 * into the status word.
 *
 * NaNs keep their payload across formats (single/double → extended shifts the fraction up;
 * extended → single/double keeps its top bits); a signalling NaN (quiet bit, the fraction's top
 * bit, clear) is made quiet and reported as invalid. Encodings the x87 does not accept
 * (unnormals, pseudo-NaNs and pseudo-infinities: integer bit clear with a nonzero exponent) are
 * "unsupported" and read as invalid operands; pseudo-denormals (exponent 0, integer bit set) are
 * read as the value they encode.
 */

/** Rounding control (FCW bits 11:10). */
export const RC_NEAREST = 0;
export const RC_DOWN = 1;
export const RC_UP = 2;
export const RC_ZERO = 3;

/** FSW exception flags. */
export const FSW_IE = 0x1;
export const FSW_DE = 0x2;
export const FSW_ZE = 0x4;
export const FSW_OE = 0x8;
export const FSW_UE = 0x10;
export const FSW_PE = 0x20;

/** Bytes of an extended value. */
export const F80_BYTES = 10;

/** What an extended value is (FXAM's classes, and the tag word's). */
export const CLASS_ZERO = 0;
export const CLASS_DENORMAL = 1;
export const CLASS_NORMAL = 2;
export const CLASS_INFINITY = 3;
export const CLASS_NAN = 4;
export const CLASS_UNSUPPORTED = 5;

/** A binary floating-point format: significand bits (with the integer bit), exponent bias, bits. */
interface Format {
  readonly precision: number;
  readonly bias: number;
  readonly expBits: number;
  /** The integer bit is stored (extended) or implicit (single, double). */
  readonly explicitInt: boolean;
}
const SINGLE: Format = { precision: 24, bias: 127, expBits: 8, explicitInt: false };
const DOUBLE: Format = { precision: 53, bias: 1023, expBits: 11, explicitInt: false };
const EXTENDED: Format = { precision: 64, bias: 16383, expBits: 15, explicitInt: true };

const INT_BIT = 1n << 63n;
const QUIET_BIT = 1n << 62n;
const FRACTION = QUIET_BIT * 2n - 1n;

/**
 * An unpacked value. Finite nonzero: sign · sig · 2^e. NaN: `sig` holds the extended fraction
 * (63 bits, quiet bit at 62).
 */
export interface Unpacked {
  readonly cls: number;
  readonly sign: number;
  readonly sig: bigint;
  readonly e: number;
}

/** The sign and biased exponent word (bytes 8-9) and the significand (bytes 0-7). */
function fields(b: Uint8Array, off: number): { se: number; sig: bigint } {
  let sig = 0n;
  for (let k = 7; k >= 0; k--) sig = (sig << 8n) | BigInt(b[off + k]!);
  return { se: b[off + 8]! | (b[off + 9]! << 8), sig };
}

/** Write the sign and biased exponent word and the significand at `off`. */
function put(b: Uint8Array, off: number, se: number, sig: bigint): void {
  for (let k = 0; k < 8; k++) b[off + k] = Number((sig >> BigInt(8 * k)) & 0xffn);
  b[off + 8] = se & 0xff;
  b[off + 9] = (se >> 8) & 0xff;
}

/** Unpack the extended value at `off`. */
export function unpackF80(b: Uint8Array, off = 0): Unpacked {
  const { se, sig } = fields(b, off);
  const sign = se >> 15;
  const exp = se & 0x7fff;
  if (exp === 0x7fff) {
    if (!(sig & INT_BIT)) return { cls: CLASS_UNSUPPORTED, sign, sig, e: 0 };
    const frac = sig & FRACTION;
    return frac === 0n
      ? { cls: CLASS_INFINITY, sign, sig: 0n, e: 0 }
      : { cls: CLASS_NAN, sign, sig: frac, e: 0 };
  }
  if (sig === 0n) return { cls: exp === 0 ? CLASS_ZERO : CLASS_UNSUPPORTED, sign, sig, e: 0 };
  if (exp === 0) return { cls: CLASS_DENORMAL, sign, sig, e: 1 - EXTENDED.bias - 63 };
  if (!(sig & INT_BIT)) return { cls: CLASS_UNSUPPORTED, sign, sig, e: 0 };
  return { cls: CLASS_NORMAL, sign, sig, e: exp - EXTENDED.bias - 63 };
}

/** The class of the extended value at `off` (CLASS_*). */
export function classF80(b: Uint8Array, off = 0): number {
  return unpackF80(b, off).cls;
}

/** A NaN's extended value is signalling (quiet bit clear). */
export function isSignalling(u: Unpacked): boolean {
  return u.cls === CLASS_NAN && !(u.sig & QUIET_BIT);
}

/** The x87's default NaN (the "real indefinite"): sign 1, exponent 0x7fff, significand 0xC000000000000000. */
export function writeIndefinite(b: Uint8Array, off = 0): void {
  put(b, off, 0xffff, INT_BIT | QUIET_BIT);
}

/** Write an infinity, zero or NaN (sig: the 63-bit fraction; made quiet) as extended. */
function writeSpecial(b: Uint8Array, off: number, u: Unpacked): void {
  if (u.cls === CLASS_ZERO) put(b, off, u.sign << 15, 0n);
  else if (u.cls === CLASS_INFINITY) put(b, off, (u.sign << 15) | 0x7fff, INT_BIT);
  else put(b, off, (u.sign << 15) | 0x7fff, INT_BIT | QUIET_BIT | u.sig);
}

/** Bits in a positive bigint. */
function bitLength(v: bigint): number {
  return v.toString(2).length;
}

/** Whether a result truncated toward zero, with remainder `rem` of `half`·2, rounds away from zero. */
function roundsUp(rc: number, sign: number, odd: boolean, rem: bigint, half: bigint): boolean {
  if (rem === 0n) return false;
  switch (rc) {
    case RC_NEAREST:
      return rem > half || (rem === half && odd);
    case RC_DOWN:
      return sign === 1;
    case RC_UP:
      return sign === 0;
    default:
      return false;
  }
}

/** A rounded, packed result: biased exponent and significand fields, and the flags raised. */
interface Rounded {
  exp: number;
  sig: bigint;
  flags: number;
}

/**
 * Round sign · sig · 2^e (sig > 0) to a format by RC: the biased exponent and the stored
 * significand (with the integer bit for extended, without for single/double), with PE, UE (tiny
 * and inexact) and OE (PE too) as IEEE 754's masked responses set them.
 */
function round(sign: number, sig: bigint, e: number, fmt: Format, rc: number): Rounded {
  const p = fmt.precision;
  const maxExp = (1 << fmt.expBits) - 1;
  const n = bitLength(sig);
  let be = e + n - 1 + fmt.bias;
  let shift = n - p;
  const tiny = be < 1;
  if (tiny) {
    shift += 1 - be;
    be = 1;
  }
  let q: bigint;
  let flags = 0;
  if (shift > 0) {
    const s = BigInt(shift);
    q = sig >> s;
    const rem = sig & ((1n << s) - 1n);
    if (rem !== 0n) flags |= FSW_PE | (tiny ? FSW_UE : 0);
    if (roundsUp(rc, sign, (q & 1n) === 1n, rem, 1n << (s - 1n))) q += 1n;
    if (q >> BigInt(p)) {
      q >>= 1n;
      be++;
    }
  } else q = sig << BigInt(-shift);
  if (be >= maxExp) {
    // Overflow: infinity, or the largest finite number when RC rounds toward zero for this sign.
    const toInf = rc === RC_NEAREST || (rc === RC_UP && sign === 0) || (rc === RC_DOWN && sign === 1);
    const max = (1n << BigInt(p)) - 1n;
    return toInf
      ? { exp: maxExp, sig: fmt.explicitInt ? INT_BIT : 0n, flags: FSW_OE | FSW_PE }
      : { exp: maxExp - 1, sig: fmt.explicitInt ? max : max >> 1n, flags: FSW_OE | FSW_PE };
  }
  const normal = q >> BigInt(p - 1) !== 0n;
  return {
    exp: normal ? be : 0,
    sig: fmt.explicitInt ? q : q & ((1n << BigInt(p - 1)) - 1n),
    flags,
  };
}

/** Round sign · sig · 2^e (sig ≥ 0) to extended at `off`; the flags raised. */
export function writeF80(
  b: Uint8Array,
  off: number,
  sign: number,
  sig: bigint,
  e: number,
  rc: number,
): number {
  if (sig === 0n) {
    put(b, off, sign << 15, 0n);
    return 0;
  }
  const r = round(sign, sig, e, EXTENDED, rc);
  put(b, off, (sign << 15) | r.exp, r.sig);
  return r.flags;
}

// ---- single and double ----

/** Unpack a single (32) or double (64) bit pattern. */
function unpackBinary(bits: bigint, fmt: Format): Unpacked {
  const fracBits = BigInt(fmt.precision - 1);
  const width = fracBits + BigInt(fmt.expBits);
  const sign = Number(bits >> width) & 1;
  const exp = Number((bits >> fracBits) & BigInt((1 << fmt.expBits) - 1));
  const frac = bits & ((1n << fracBits) - 1n);
  const maxExp = (1 << fmt.expBits) - 1;
  if (exp === maxExp)
    return frac === 0n
      ? { cls: CLASS_INFINITY, sign, sig: 0n, e: 0 }
      : { cls: CLASS_NAN, sign, sig: frac << (63n - fracBits), e: 0 };
  if (exp === 0)
    return frac === 0n
      ? { cls: CLASS_ZERO, sign, sig: 0n, e: 0 }
      : { cls: CLASS_DENORMAL, sign, sig: frac, e: 1 - fmt.bias - Number(fracBits) };
  return { cls: CLASS_NORMAL, sign, sig: frac | (1n << fracBits), e: exp - fmt.bias - Number(fracBits) };
}

/** Pack an unpacked value (NaNs made quiet) as a single or double bit pattern, rounded by RC; the flags. */
function packBinary(u: Unpacked, fmt: Format, rc: number): { bits: bigint; flags: number } {
  const fracBits = BigInt(fmt.precision - 1);
  const signBit = BigInt(u.sign) << (fracBits + BigInt(fmt.expBits));
  const maxExp = BigInt((1 << fmt.expBits) - 1);
  switch (u.cls) {
    case CLASS_ZERO:
      return { bits: signBit, flags: 0 };
    case CLASS_INFINITY:
      return { bits: signBit | (maxExp << fracBits), flags: 0 };
    case CLASS_NAN: {
      const frac = (u.sig >> (63n - fracBits)) | (1n << (fracBits - 1n));
      return { bits: signBit | (maxExp << fracBits) | frac, flags: u.sig & QUIET_BIT ? 0 : FSW_IE };
    }
    case CLASS_UNSUPPORTED:
      // The format's indefinite: sign 1, quiet NaN, fraction otherwise 0.
      return {
        bits: (1n << (fracBits + BigInt(fmt.expBits))) | (maxExp << fracBits) | (1n << (fracBits - 1n)),
        flags: FSW_IE,
      };
    default: {
      const r = round(u.sign, u.sig, u.e, fmt, rc);
      return { bits: signBit | (BigInt(r.exp) << fracBits) | r.sig, flags: r.flags };
    }
  }
}

/** The extended value at `off` as a single (32) or double (64) bit pattern, rounded by RC; the flags. */
export function f80ToFloatBits(
  b: Uint8Array,
  off: number,
  width: 32 | 64,
  rc: number,
): { bits: bigint; flags: number } {
  const u = unpackF80(b, off);
  const r = packBinary(u, width === 32 ? SINGLE : DOUBLE, rc);
  return u.cls === CLASS_DENORMAL ? { bits: r.bits, flags: r.flags | FSW_DE } : r;
}

/**
 * A single (32) or double (64) bit pattern as extended at `off` (exact): the flags (IE for a
 * signalling NaN, made quiet; DE for a denormal).
 */
export function floatBitsToF80(b: Uint8Array, off: number, bits: bigint, width: 32 | 64): number {
  const u = unpackBinary(bits, width === 32 ? SINGLE : DOUBLE);
  if (u.cls === CLASS_NORMAL || u.cls === CLASS_DENORMAL) {
    writeF80(b, off, u.sign, u.sig, u.e, RC_NEAREST);
    return u.cls === CLASS_DENORMAL ? FSW_DE : 0;
  }
  writeSpecial(b, off, u);
  return isSignalling(u) ? FSW_IE : 0;
}

const F64 = new Float64Array(1);
const F64_BITS = new BigUint64Array(F64.buffer);

/**
 * The extended value at `off` as a JavaScript number, rounded to nearest: beyond the double range
 * it is ±Infinity or 0, a NaN or unsupported encoding is NaN.
 */
export function f80ToNumber(b: Uint8Array, off = 0): number {
  const u = unpackF80(b, off);
  if (u.cls === CLASS_NAN || u.cls === CLASS_UNSUPPORTED) return Number.NaN;
  F64_BITS[0] = packBinary(u, DOUBLE, RC_NEAREST).bits;
  return F64[0]!;
}

/** A JavaScript number as extended at `off` (exact; NaN is the indefinite). */
export function numberToF80(b: Uint8Array, off: number, x: number): void {
  if (Number.isNaN(x)) writeIndefinite(b, off);
  else {
    F64[0] = x;
    floatBitsToF80(b, off, F64_BITS[0]!, 64);
  }
}

// ---- integers ----

/** A signed integer as extended at `off` (exact for |v| ≤ 2^64; zero is +0). */
export function intToF80(b: Uint8Array, off: number, v: bigint): void {
  writeF80(b, off, v < 0n ? 1 : 0, v < 0n ? -v : v, 0, RC_NEAREST);
}

/** The integer a finite value rounds to by RC (ties to even for nearest), and whether that was inexact. */
function roundToInteger(u: Unpacked, rc: number): { v: bigint; inexact: boolean } {
  if (u.cls === CLASS_ZERO) return { v: 0n, inexact: false };
  let q: bigint;
  let inexact = false;
  if (u.e >= 0) q = u.sig << BigInt(u.e);
  else {
    // Past 66 bits of shift the integer part is 0 and the remainder below a half: sticky only.
    const s = BigInt(Math.min(-u.e, 66));
    const sig = -u.e > 66 ? 1n : u.sig;
    q = sig >> s;
    const rem = sig & ((1n << s) - 1n);
    inexact = rem !== 0n;
    if (roundsUp(rc, u.sign, (q & 1n) === 1n, rem, 1n << (s - 1n))) q += 1n;
  }
  return { v: u.sign ? -q : q, inexact };
}

/**
 * The extended value at `off` as a signed integer of `bits` (16, 32, 64), rounded by RC;
 * undefined when it is a NaN, an infinity, unsupported, or out of range (the instruction then
 * stores the integer indefinite, 1 << (bits - 1), and reports IE).
 */
export function f80ToInt(
  b: Uint8Array,
  off: number,
  bits: number,
  rc: number,
): { v: bigint; inexact: boolean } | undefined {
  const u = unpackF80(b, off);
  if (u.cls !== CLASS_ZERO && u.cls !== CLASS_NORMAL && u.cls !== CLASS_DENORMAL) return undefined;
  // Far out of range: do not build the huge integer.
  if (u.e > 64) return undefined;
  const r = roundToInteger(u, rc);
  const lim = 1n << BigInt(bits - 1);
  return r.v < -lim || r.v >= lim ? undefined : r;
}

/**
 * FRNDINT: the extended value at `off` rounded to an integer by RC, in place (a zero result
 * keeps the sign); PE when inexact. NaNs, infinities and integers are left alone.
 */
export function roundF80ToInteger(b: Uint8Array, off: number, rc: number): number {
  const u = unpackF80(b, off);
  if ((u.cls !== CLASS_NORMAL && u.cls !== CLASS_DENORMAL) || u.e >= 0) return 0;
  const r = roundToInteger(u, rc);
  writeF80(b, off, u.sign, r.v < 0n ? -r.v : r.v, 0, RC_NEAREST);
  return r.inexact ? FSW_PE : 0;
}

// ---- comparison ----

/** Compare two finite or infinite values: -1, 0, 1 (NaN and unsupported: undefined, unordered). */
export function compareF80(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): number | undefined {
  const x = unpackF80(a, aOff);
  const y = unpackF80(b, bOff);
  if (x.cls >= CLASS_NAN || y.cls >= CLASS_NAN) return undefined;
  const mag = magnitudeOrder(x, y);
  const sx = x.cls === CLASS_ZERO ? 0 : x.sign ? -1 : 1;
  const sy = y.cls === CLASS_ZERO ? 0 : y.sign ? -1 : 1;
  if (sx !== sy) return sx < sy ? -1 : 1;
  return sx < 0 ? -mag : mag;
}

/** |x| against |y| (both zero, finite or infinite): -1, 0, 1. */
function magnitudeOrder(x: Unpacked, y: Unpacked): number {
  const rank = (u: Unpacked) => (u.cls === CLASS_ZERO ? 0 : u.cls === CLASS_INFINITY ? 2 : 1);
  if (rank(x) !== rank(y) || rank(x) !== 1) return Math.sign(rank(x) - rank(y));
  const ex = x.e + bitLength(x.sig);
  const ey = y.e + bitLength(y.sig);
  if (ex !== ey) return ex < ey ? -1 : 1;
  // Same top exponent: align to the smaller e (a difference below 64 + 64 bits).
  const base = Math.min(x.e, y.e);
  const vx = x.sig << BigInt(x.e - base);
  const vy = y.sig << BigInt(y.e - base);
  return vx === vy ? 0 : vx < vy ? -1 : 1;
}

// ---- remainder ----

/**
 * FPREM (`nearest` false: the quotient truncated) and FPREM1 (`nearest`: rounded to nearest
 * even) of two finite values, x nonzero-divisor: the exact remainder written at `off` and the
 * quotient's low three bits. The reduction is always complete.
 */
export function remainderF80(x: Unpacked, y: Unpacked, nearest: boolean, b: Uint8Array, off: number): number {
  if (x.cls === CLASS_ZERO) {
    put(b, off, x.sign << 15, 0n);
    return 0;
  }
  const base = Math.min(x.e, y.e);
  const vx = x.sig << BigInt(x.e - base);
  const vy = y.sig << BigInt(y.e - base);
  let q = vx / vy;
  let r = vx - q * vy;
  let sign = x.sign;
  if (nearest && (2n * r > vy || (2n * r === vy && (q & 1n) === 1n))) {
    r = vy - r;
    q += 1n;
    sign ^= 1;
  }
  // A zero remainder has x's sign.
  writeF80(b, off, r === 0n ? x.sign : sign, r, base, RC_NEAREST);
  return Number(q & 7n);
}
