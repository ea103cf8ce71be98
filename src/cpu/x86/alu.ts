/**
 * The integer ALU of the x86-64 interpreter, with exact flags. Operands come as 32-bit halves (lo
 * = bits 31:0, hi = bits 63:32; u32 or int32 bit patterns alike, as read from a Uint32Array or
 * computed); bits above the operand size are ignored. Every op writes its result to
 * f.resLo/f.resHi as int32 bit patterns (see flags.ts), truncated to the size (hi = 0 below 8
 * bytes: the caller writes it back, zero-extending a 32-bit destination as the mode requires), and
 * leaves the flags as the architecture defines: lazily (flags.ts) where that pays, else in f.bits.
 * No BigInt except in 128/64-bit DIV/IDIV whose dividend's high half is nonzero and divisor is
 * 2^32 or more; no allocation: module temporaries hold int32s only, for the same reason as the
 * Flags fields. Callers should pass int32s too (an Int32Array view of the register file): a u32
 * of 2^31 or more is a heap number when a call is not inlined.
 *
 * The architecturally undefined flags are the CPU vendor's: AMD's and Intel's differ, so there are
 * two ALUs (the tables at the end, ALU_AMD and ALU_INTEL) sharing every op on which the vendors
 * agree. Where they differ each vendor has its own op, named with what it does: around a shared
 * core that computes the result and the defined flags, or (SHL/SHR/SAR, the hot ones) calling one
 * flat body with the vendor as a constant the JIT folds. An X86Cpu takes one table when it is
 * made (AMD's by default: the model is an AMD EPYC host): no op looks its vendor up. Both were
 * measured through test/oracle/x86-alu.test.ts, which runs these instructions on the host CPU
 * (/dev/kvm; KVM's instruction emulator runs them through its `fastop` stubs, so the flags are the
 * hardware's) and checks the table of the host's vendor: Intel on an Intel Xeon, AMD on an AMD
 * EPYC (family 25 model 17, Zen 4). In short:
 * - both clear AF after AND OR XOR TEST; keep all but CF in BT/BTS/BTR/BTC; after BSF/BSR clear
 *   CF OF SF AF and set PF from the index (1 when the source is 0);
 * - the OF of a shift or rotate by more than 1 is computed as for a 1-bit one, by Intel from the
 *   original operand (and CF for RCR), by AMD from the result; after shifts, SHLD and SHRD Intel
 *   clears AF and AMD sets it;
 * - after MUL/IMUL Intel sets SF and PF from the low half and clears ZF and AF; AMD keeps them;
 * - DIV/IDIV: Intel leaves every flag unchanged; AMD keeps CF and OF, clears SF ZF PF, sets AF;
 * - 16-bit SHLD/SHRD by 17..31 (result undefined too): Intel shifts through a:b:a, AMD a:b:b.
 */
import {
  af as auxFlag,
  cf as carryFlag,
  type Flags,
  LAZY_ADC,
  LAZY_ADD,
  LAZY_DEC,
  LAZY_INC,
  LAZY_LOGIC,
  LAZY_MUL,
  LAZY_NEG,
  LAZY_NONE,
  LAZY_RESULT,
  LAZY_SBB,
  LAZY_SUB,
  materialise,
  msb,
  parity,
  RFLAGS_AF,
  RFLAGS_ARITH,
  RFLAGS_CF,
  RFLAGS_OF,
  RFLAGS_PF,
  RFLAGS_SF,
  RFLAGS_ZF,
} from './flags.js';

const TWO32 = 4294967296;

/** Mask of the operand bits within the low half (-1: all 32). */
function lowMask(size: number): number {
  return size === 1 ? 0xff : size === 2 ? 0xffff : -1;
}

/** Record a lazily-flagged op (int32 halves). */
function record(
  f: Flags,
  op: number,
  size: number,
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
  resLo: number,
  resHi: number,
): void {
  f.op = op;
  f.size = size;
  f.aLo = aLo;
  f.aHi = aHi;
  f.bLo = bLo;
  f.bHi = bHi;
  f.resLo = resLo;
  f.resHi = resHi;
}

// ---------------------------------------------------------------------------------------------
// ADD ADC SUB SBB CMP, INC DEC NEG: lazy. The 64-bit carry or borrow between the halves comes
// from the low halves as u32s (a double sum or difference, exact).

export function add(f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  if (size === 8) {
    const s = (aLo >>> 0) + (bLo >>> 0);
    record(
      f,
      LAZY_ADD,
      8,
      aLo | 0,
      aHi | 0,
      bLo | 0,
      bHi | 0,
      s | 0,
      (aHi + bHi + (s > 0xffff_ffff ? 1 : 0)) | 0,
    );
  } else {
    const m = lowMask(size);
    aLo &= m;
    bLo &= m;
    record(f, LAZY_ADD, size, aLo, 0, bLo, 0, (aLo + bLo) & m, 0);
  }
}

/** ADC: a + b + CF. */
export function adc(f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  const c = carryFlag(f) ? 1 : 0;
  f.carry = c;
  if (size === 8) {
    const s = (aLo >>> 0) + (bLo >>> 0) + c;
    record(
      f,
      LAZY_ADC,
      8,
      aLo | 0,
      aHi | 0,
      bLo | 0,
      bHi | 0,
      s | 0,
      (aHi + bHi + (s > 0xffff_ffff ? 1 : 0)) | 0,
    );
  } else {
    const m = lowMask(size);
    aLo &= m;
    bLo &= m;
    record(f, LAZY_ADC, size, aLo, 0, bLo, 0, (aLo + bLo + c) & m, 0);
  }
}

export function sub(f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  if (size === 8) {
    const borrow = aLo >>> 0 < bLo >>> 0 ? 1 : 0;
    record(f, LAZY_SUB, 8, aLo | 0, aHi | 0, bLo | 0, bHi | 0, (aLo - bLo) | 0, (aHi - bHi - borrow) | 0);
  } else {
    const m = lowMask(size);
    aLo &= m;
    bLo &= m;
    record(f, LAZY_SUB, size, aLo, 0, bLo, 0, (aLo - bLo) & m, 0);
  }
}

/** CMP: SUB whose result the caller drops (f.resLo/resHi still hold it: they are the lazy record). */
export const cmp = sub;

/** SBB: a - b - CF. */
export function sbb(f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  const c = carryFlag(f) ? 1 : 0;
  f.carry = c;
  if (size === 8) {
    const s = (aLo >>> 0) - (bLo >>> 0) - c;
    record(f, LAZY_SBB, 8, aLo | 0, aHi | 0, bLo | 0, bHi | 0, s | 0, (aHi - bHi - (s < 0 ? 1 : 0)) | 0);
  } else {
    const m = lowMask(size);
    aLo &= m;
    bLo &= m;
    record(f, LAZY_SBB, size, aLo, 0, bLo, 0, (aLo - bLo - c) & m, 0);
  }
}

/** INC: CF kept (read before the record is overwritten). */
export function inc(f: Flags, size: number, aLo: number, aHi: number): void {
  f.carry = carryFlag(f) ? 1 : 0;
  if (size === 8) {
    const lo = (aLo + 1) | 0;
    record(f, LAZY_INC, 8, aLo | 0, aHi | 0, 1, 0, lo, (aHi + (lo === 0 ? 1 : 0)) | 0);
  } else {
    const m = lowMask(size);
    aLo &= m;
    record(f, LAZY_INC, size, aLo, 0, 1, 0, (aLo + 1) & m, 0);
  }
}

/** DEC: CF kept. */
export function dec(f: Flags, size: number, aLo: number, aHi: number): void {
  f.carry = carryFlag(f) ? 1 : 0;
  if (size === 8) {
    aLo |= 0;
    record(f, LAZY_DEC, 8, aLo, aHi | 0, 1, 0, (aLo - 1) | 0, (aHi - (aLo === 0 ? 1 : 0)) | 0);
  } else {
    const m = lowMask(size);
    aLo &= m;
    record(f, LAZY_DEC, size, aLo, 0, 1, 0, (aLo - 1) & m, 0);
  }
}

/** NEG: recorded as 0 - operand (CF = operand ≠ 0, OF for the most negative value). */
export function neg(f: Flags, size: number, aLo: number, aHi: number): void {
  if (size === 8) {
    aLo |= 0;
    record(f, LAZY_NEG, 8, 0, 0, aLo, aHi | 0, -aLo | 0, (0 - aHi - (aLo !== 0 ? 1 : 0)) | 0);
  } else {
    const m = lowMask(size);
    aLo &= m;
    record(f, LAZY_NEG, size, 0, 0, aLo, 0, -aLo & m, 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Logic: CF = OF = 0; AF undefined, both vendors clear it (measured, all four ops and sizes).

function logic(f: Flags, size: number, lo: number, hi: number): void {
  f.op = LAZY_LOGIC;
  f.size = size;
  if (size === 8) {
    f.resLo = lo;
    f.resHi = hi;
  } else {
    f.resLo = lo & lowMask(size);
    f.resHi = 0;
  }
}

export function and(f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  logic(f, size, aLo & bLo, aHi & bHi);
}

export function or(f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  logic(f, size, aLo | bLo, aHi | bHi);
}

export function xor(f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  logic(f, size, aLo ^ bLo, aHi ^ bHi);
}

/** TEST: AND whose result the caller drops. */
export const test = and;

/** NOT: no flag changes (the lazy record is materialised first, as the result overwrites it). */
export function not(f: Flags, size: number, aLo: number, aHi: number): void {
  materialise(f);
  f.resLo = ~aLo & lowMask(size);
  f.resHi = size === 8 ? ~aHi : 0;
}

// ---------------------------------------------------------------------------------------------
// 64-bit helpers on halves; results in module temporaries (int32s: no allocation).

let tLo = 0;
let tHi = 0;

/** (hi:lo) << c, 0 <= c <= 64, into tLo/tHi. */
function shl64(lo: number, hi: number, c: number): void {
  if (c === 0) {
    tLo = lo | 0;
    tHi = hi | 0;
  } else if (c < 32) {
    tHi = (hi << c) | (lo >>> (32 - c));
    tLo = lo << c;
  } else if (c < 64) {
    tHi = lo << (c - 32);
    tLo = 0;
  } else {
    tLo = 0;
    tHi = 0;
  }
}

/** (hi:lo) >>> c, 0 <= c <= 64, into tLo/tHi. */
function shr64(lo: number, hi: number, c: number): void {
  if (c === 0) {
    tLo = lo | 0;
    tHi = hi | 0;
  } else if (c < 32) {
    tLo = (lo >>> c) | (hi << (32 - c));
    tHi = hi >>> c;
  } else if (c < 64) {
    tLo = (hi >>> (c - 32)) | 0;
    tHi = 0;
  } else {
    tLo = 0;
    tHi = 0;
  }
}

/** Bit i (0..63) of hi:lo. */
function bit64(lo: number, hi: number, i: number): number {
  return (i < 32 ? lo >>> i : hi >>> (i - 32)) & 1;
}

// ---------------------------------------------------------------------------------------------
// Shifts. Count masked to 5 bits (6 for 64-bit); a masked count of 0 changes no flag. CF is the
// last bit shifted out; for SHL/SHR of 8/16-bit operands by the operand size or more (SDM:
// undefined) both vendors give the bit a wide shifter would (0 past the operand; SAR: the sign).
// ZF SF PF come from the result (lazily). OF is defined for a count of 1; for larger counts Intel
// computes it as for 1 from the original operand (SHL MSB ^ bit n-2, SHR MSB, SAR 0), AMD as for
// 1 from the result (SHL MSB ^ CF, SHR MSB ^ bit n-2, which is 0 past a count of 1; SAR 0). AF
// (undefined): Intel clears it, AMD sets it. Measured, every size and count.
//
// Each shift is one body, flat, given whose undefined flags to set (`amd`); each vendor's op
// passes a constant, which the JIT folds once it inlines the body into the op. (A core for the
// result and a step for the flags, as the rotates have, or even helpers for the final stores,
// cost SAR up to a fifth of its throughput.)

/**
 * Count 0: the result is the operand and no flag changes. Cold, and kept a call: inlined, its
 * materialisation would use up the inlining budget the hot path needs.
 */
function keep(f: Flags, size: number, aLo: number, aHi: number): void {
  materialise(f);
  f.resLo = aLo & lowMask(size);
  f.resHi = size === 8 ? aHi | 0 : 0;
}

/** A shift's result as the lazy record (ZF SF PF from it; CF AF OF go to `bits`). */
function recordResult(f: Flags, size: number, lo: number, hi: number): void {
  f.op = LAZY_RESULT;
  f.size = size;
  f.resLo = lo;
  f.resHi = hi;
}

/** CF, OF (0 or 1) and AF (RFLAGS_AF or 0) of a shift, SHLD or SHRD by a nonzero count. */
function shiftFlags(f: Flags, c: number, o: number, a: number): void {
  f.bits = (f.bits & ~(RFLAGS_CF | RFLAGS_AF | RFLAGS_OF)) | c | (o << 11) | a;
}

/**
 * Bit n-1 ^ bit n-2 of a value of `size` bytes given as halves: the OF of a 1-bit left shift of
 * it, or of the 1-bit right shift that gave it.
 */
function top2Xor(size: number, lo: number, hi: number): number {
  const t = size === 8 ? hi >>> 30 : lo >>> ((size << 3) - 2);
  return (t ^ (t >>> 1)) & 1;
}

/** The count as the CPU masks it: to 6 bits for a 64-bit operand, else 5. */
function maskedCount(size: number, count: number): number {
  return count & (size === 8 ? 63 : 31);
}

// The bodies are written out flat, with locals: helper calls and module temporaries for the
// 64-bit halves cost about half the throughput.

/** SHL: OF = MSB ^ bit n-2 of the operand (Intel) or MSB of the result ^ CF (AMD). */
function shlBody(f: Flags, size: number, aLo: number, aHi: number, count: number, amd: boolean): void {
  let lo: number;
  let hi = 0;
  let c: number;
  let o: number;
  if (size === 8) {
    const n = count & 63;
    if (n === 0) {
      keep(f, 8, aLo, aHi);
      return;
    }
    if (n < 32) {
      hi = (aHi << n) | (aLo >>> (32 - n));
      lo = aLo << n;
      c = (aHi >>> (32 - n)) & 1;
    } else {
      hi = aLo << (n - 32);
      lo = 0;
      c = n === 32 ? aHi & 1 : (aLo >>> (64 - n)) & 1;
    }
    o = amd ? (hi >>> 31) ^ c : ((aHi >>> 31) ^ (aHi >>> 30)) & 1;
  } else {
    const n = count & 31;
    if (n === 0) {
      keep(f, size, aLo, aHi);
      return;
    }
    const w = size << 3;
    const m = lowMask(size);
    const a = aLo & m;
    lo = (a << n) & m;
    c = n <= w ? (a >>> (w - n)) & 1 : 0;
    o = amd ? (lo >>> (w - 1)) ^ c : ((a >>> (w - 1)) ^ (a >>> (w - 2))) & 1;
  }
  f.bits = (f.bits & ~(RFLAGS_CF | RFLAGS_AF | RFLAGS_OF)) | c | (o << 11) | (amd ? RFLAGS_AF : 0);
  f.op = LAZY_RESULT;
  f.size = size;
  f.resLo = lo;
  f.resHi = hi;
}

/** SHR: OF = MSB of the operand (Intel) or MSB ^ bit n-2 of the result (AMD: the operand's MSB for a count of 1, else 0). */
function shrBody(f: Flags, size: number, aLo: number, aHi: number, count: number, amd: boolean): void {
  let lo: number;
  let hi = 0;
  let c: number;
  let o: number;
  if (size === 8) {
    const n = count & 63;
    if (n === 0) {
      keep(f, 8, aLo, aHi);
      return;
    }
    if (n < 32) {
      lo = (aLo >>> n) | (aHi << (32 - n));
      hi = aHi >>> n;
      c = (aLo >>> (n - 1)) & 1;
    } else {
      lo = (aHi >>> (n - 32)) | 0;
      c = (aHi >>> (n - 33)) & 1;
      if (n === 32) c = aLo >>> 31;
    }
    o = amd ? ((hi >>> 31) ^ (hi >>> 30)) & 1 : aHi >>> 31;
  } else {
    const n = count & 31;
    if (n === 0) {
      keep(f, size, aLo, aHi);
      return;
    }
    const w = size << 3;
    const a = aLo & lowMask(size);
    // Bits past the operand are 0, so n - 1 >= its size gives CF = 0 by itself; n >= 1 keeps a >>> n an int32.
    lo = a >>> n;
    c = (a >>> (n - 1)) & 1;
    o = amd ? ((lo >>> (w - 1)) ^ (lo >>> (w - 2))) & 1 : (a >>> (w - 1)) & 1;
  }
  f.bits = (f.bits & ~(RFLAGS_CF | RFLAGS_AF | RFLAGS_OF)) | c | (o << 11) | (amd ? RFLAGS_AF : 0);
  f.op = LAZY_RESULT;
  f.size = size;
  f.resLo = lo;
  f.resHi = hi;
}

/** SAR: OF = 0 (both). */
function sarBody(f: Flags, size: number, aLo: number, aHi: number, count: number, amd: boolean): void {
  let lo: number;
  let hi = 0;
  let c: number;
  if (size === 8) {
    const n = count & 63;
    if (n === 0) {
      keep(f, 8, aLo, aHi);
      return;
    }
    if (n < 32) {
      lo = (aLo >>> n) | (aHi << (32 - n));
      hi = aHi >> n;
      c = (aLo >>> (n - 1)) & 1;
    } else {
      lo = aHi >> (n - 32);
      hi = aHi >> 31;
      c = n === 32 ? aLo >>> 31 : (aHi >>> (n - 33)) & 1;
    }
  } else {
    const n = count & 31;
    if (n === 0) {
      keep(f, size, aLo, aHi);
      return;
    }
    const sh = 32 - (size << 3);
    const s = (aLo << sh) >> sh; // sign-extended to 32 bits
    lo = (s >> n) & lowMask(size);
    c = (s >> (n - 1)) & 1;
  }
  f.bits = (f.bits & ~(RFLAGS_CF | RFLAGS_AF | RFLAGS_OF)) | c | (amd ? RFLAGS_AF : 0);
  f.op = LAZY_RESULT;
  f.size = size;
  f.resLo = lo;
  f.resHi = hi;
}

// Intel's shifts clear AF, AMD's set it.

function shlIntel(f: Flags, size: number, aLo: number, aHi: number, count: number): void {
  shlBody(f, size, aLo, aHi, count, false);
}

function shlAmd(f: Flags, size: number, aLo: number, aHi: number, count: number): void {
  shlBody(f, size, aLo, aHi, count, true);
}

function shrIntel(f: Flags, size: number, aLo: number, aHi: number, count: number): void {
  shrBody(f, size, aLo, aHi, count, false);
}

function shrAmd(f: Flags, size: number, aLo: number, aHi: number, count: number): void {
  shrBody(f, size, aLo, aHi, count, true);
}

function sarIntel(f: Flags, size: number, aLo: number, aHi: number, count: number): void {
  sarBody(f, size, aLo, aHi, count, false);
}

function sarAmd(f: Flags, size: number, aLo: number, aHi: number, count: number): void {
  sarBody(f, size, aLo, aHi, count, true);
}

// ---------------------------------------------------------------------------------------------
// Rotates: only CF and OF change (the other flags are materialised and kept). ROL/ROR: count
// masked to 5/6 bits, rotated modulo the size; a masked count of 0 changes nothing, a nonzero
// multiple of the size still sets CF (LSB for ROL, MSB for ROR of the result) and OF. RCL/RCR:
// masked count modulo size + 1 for 8/16-bit. OF is defined for a count of 1; for other counts
// Intel computes it as for 1 from the original operand (ROL MSB ^ bit n-2, ROR MSB ^ LSB, RCL
// MSB ^ bit n-2, RCR MSB ^ CF-in), AMD as for 1 from the result (ROL and RCL MSB ^ CF, ROR and
// RCR MSB ^ bit n-2). An 8/16-bit RCL/RCR by a nonzero multiple of size + 1 rotates nothing:
// Intel then changes no flag, AMD keeps CF and sets OF from the (unchanged) result. Measured,
// every size and count.
//
// Each rotate is a vendor's op, which masks the count and sets CF and OF, around a shared core
// for a nonzero rotation n: it materialises the flags, puts the result in f.resLo/resHi and
// returns CF.

/** The result, once the flags it keeps are materialised (the record is about to be overwritten). */
function rotatedTo(f: Flags, lo: number, hi: number): void {
  materialise(f);
  f.resLo = lo;
  f.resHi = hi;
}

function rotateFlags(f: Flags, c: number, o: number): void {
  f.bits = (f.bits & ~(RFLAGS_CF | RFLAGS_OF)) | c | (o << 11);
}

function rolCore(f: Flags, size: number, aLo: number, aHi: number, n: number): number {
  if (size === 8) {
    let r = n;
    // By 32 or more: swap the halves, then rotate by the rest.
    let lo = aLo | 0;
    let hi = aHi | 0;
    if (r >= 32) {
      lo = aHi | 0;
      hi = aLo | 0;
      r -= 32;
    }
    if (r !== 0) {
      const l = (lo << r) | (hi >>> (32 - r));
      hi = (hi << r) | (lo >>> (32 - r));
      lo = l;
    }
    rotatedTo(f, lo, hi);
    return lo & 1;
  }
  const w = size << 3;
  const m = lowMask(size);
  const a = aLo & m;
  const r = n & (w - 1);
  // r = 0 (8/16-bit): a >>> w is 0, so the result is a.
  const res = ((a << r) | (a >>> (w - r))) & m;
  rotatedTo(f, res, 0);
  return res & 1;
}

function rorCore(f: Flags, size: number, aLo: number, aHi: number, n: number): number {
  if (size === 8) {
    let r = n;
    let lo = aLo | 0;
    let hi = aHi | 0;
    if (r >= 32) {
      lo = aHi | 0;
      hi = aLo | 0;
      r -= 32;
    }
    if (r !== 0) {
      const l = (lo >>> r) | (hi << (32 - r));
      hi = (hi >>> r) | (lo << (32 - r));
      lo = l;
    }
    rotatedTo(f, lo, hi);
    return hi >>> 31;
  }
  const w = size << 3;
  const m = lowMask(size);
  const a = aLo & m;
  const r = n & (w - 1);
  // r = 0 (8/16-bit): (a << w) & m is 0, so the result is a.
  const res = ((a >>> r) | (a << (w - r))) & m;
  rotatedTo(f, res, 0);
  return (res >>> (w - 1)) & 1;
}

function rclCore(f: Flags, size: number, aLo: number, aHi: number, c: number): number {
  if (size === 8) {
    const cin = carryFlag(f) ? 1 : 0;
    // 65-bit rotation of CF:a: a << c, CF into bit c - 1, a >>> (65 - c) below it.
    shl64(aLo, aHi, c);
    let lo = tLo;
    let hi = tHi;
    if (c <= 32) lo |= cin << (c - 1);
    else hi |= cin << (c - 33);
    shr64(aLo, aHi, 65 - c);
    rotatedTo(f, lo | tLo, hi | tHi);
    return bit64(aLo, aHi, 64 - c);
  }
  const n = size << 3;
  const cin = carryFlag(f) ? 1 : 0;
  const m = lowMask(size);
  const a = aLo & m;
  if (size === 4) {
    rotatedTo(f, (a << c) | (cin << (c - 1)) | (c === 1 ? 0 : a >>> (33 - c)), 0);
    return (a >>> (32 - c)) & 1;
  }
  const w = (cin << n) | a; // n + 1 <= 17 bits
  const r = ((w << c) | (w >>> (n + 1 - c))) & ((2 << n) - 1);
  rotatedTo(f, r & m, 0);
  return r >>> n;
}

function rcrCore(f: Flags, size: number, aLo: number, aHi: number, c: number): number {
  if (size === 8) {
    const cin = carryFlag(f) ? 1 : 0;
    // 65-bit rotation: a >>> c, CF into bit 64 - c, a << (65 - c) above it.
    shr64(aLo, aHi, c);
    let lo = tLo;
    let hi = tHi;
    if (c > 32) lo |= cin << (64 - c);
    else hi |= cin << (32 - c);
    shl64(aLo, aHi, 65 - c);
    rotatedTo(f, lo | tLo, hi | tHi);
    return bit64(aLo, aHi, c - 1);
  }
  const n = size << 3;
  const cin = carryFlag(f) ? 1 : 0;
  const m = lowMask(size);
  const a = aLo & m;
  if (size === 4) {
    rotatedTo(f, (a >>> c) | (cin << (32 - c)) | (c === 1 ? 0 : a << (33 - c)), 0);
    return (a >>> (c - 1)) & 1;
  }
  const w = (cin << n) | a;
  const r = ((w >>> c) | (w << (n + 1 - c))) & ((2 << n) - 1);
  rotatedTo(f, r & m, 0);
  return r >>> n;
}

/** RCL/RCR's rotation: the masked count, modulo size + 1 for 8/16-bit operands (0: none). */
function rotationThroughCf(size: number, count: number): number {
  return size >= 4 ? maskedCount(size, count) : (count & 31) % ((size << 3) + 1);
}

/** Intel ROL: OF = MSB ^ bit n-2 of the operand. */
function rolIntel(f: Flags, size: number, aLo: number, aHi: number, count: number): void {
  const n = maskedCount(size, count);
  if (n === 0) keep(f, size, aLo, aHi);
  else rotateFlags(f, rolCore(f, size, aLo, aHi, n), top2Xor(size, aLo, aHi));
}

/** AMD ROL: OF = MSB of the result ^ CF. */
function rolAmd(f: Flags, size: number, aLo: number, aHi: number, count: number): void {
  const n = maskedCount(size, count);
  if (n === 0) keep(f, size, aLo, aHi);
  else {
    const c = rolCore(f, size, aLo, aHi, n);
    rotateFlags(f, c, msb(size, f.resLo, f.resHi) ^ c);
  }
}

/** Intel ROR: OF = MSB ^ LSB of the operand. */
function rorIntel(f: Flags, size: number, aLo: number, aHi: number, count: number): void {
  const n = maskedCount(size, count);
  if (n === 0) keep(f, size, aLo, aHi);
  else rotateFlags(f, rorCore(f, size, aLo, aHi, n), msb(size, aLo, aHi) ^ (aLo & 1));
}

/** AMD ROR: OF = MSB ^ bit n-2 of the result. */
function rorAmd(f: Flags, size: number, aLo: number, aHi: number, count: number): void {
  const n = maskedCount(size, count);
  if (n === 0) keep(f, size, aLo, aHi);
  else rotateFlags(f, rorCore(f, size, aLo, aHi, n), top2Xor(size, f.resLo, f.resHi));
}

/** Intel RCL: OF = MSB ^ bit n-2 of the operand; no flag changes when nothing rotates. */
function rclIntel(f: Flags, size: number, aLo: number, aHi: number, count: number): void {
  const n = rotationThroughCf(size, count);
  if (n === 0) keep(f, size, aLo, aHi);
  else rotateFlags(f, rclCore(f, size, aLo, aHi, n), top2Xor(size, aLo, aHi));
}

/** AMD RCL: OF = MSB of the result ^ CF, also when nothing rotates (but the masked count is not 0; CF kept). */
function rclAmd(f: Flags, size: number, aLo: number, aHi: number, count: number): void {
  const n = rotationThroughCf(size, count);
  let c: number;
  if (n !== 0) c = rclCore(f, size, aLo, aHi, n);
  else {
    keep(f, size, aLo, aHi);
    if ((count & 31) === 0) return;
    c = f.bits & RFLAGS_CF;
  }
  rotateFlags(f, c, msb(size, f.resLo, f.resHi) ^ c);
}

/** Intel RCR: OF = MSB of the operand ^ CF before it; no flag changes when nothing rotates. */
function rcrIntel(f: Flags, size: number, aLo: number, aHi: number, count: number): void {
  const n = rotationThroughCf(size, count);
  if (n === 0) keep(f, size, aLo, aHi);
  else {
    const cin = carryFlag(f) ? 1 : 0;
    rotateFlags(f, rcrCore(f, size, aLo, aHi, n), msb(size, aLo, aHi) ^ cin);
  }
}

/** AMD RCR: OF = MSB ^ bit n-2 of the result, also when nothing rotates (but the masked count is not 0; CF kept). */
function rcrAmd(f: Flags, size: number, aLo: number, aHi: number, count: number): void {
  const n = rotationThroughCf(size, count);
  let c: number;
  if (n !== 0) c = rcrCore(f, size, aLo, aHi, n);
  else {
    keep(f, size, aLo, aHi);
    if ((count & 31) === 0) return;
    c = f.bits & RFLAGS_CF;
  }
  rotateFlags(f, c, top2Xor(size, f.resLo, f.resHi));
}

// ---------------------------------------------------------------------------------------------
// SHLD/SHRD (16, 32, 64-bit): a is the destination, b the source whose bits shift in. Count
// masked to 5/6 bits; 0 changes nothing. ZF SF PF come from the result (lazily). OF (undefined
// past a count of 1): Intel computes it as for 1 from the original operands (SHLD MSB(a) ^ bit
// n-2 of a, SHRD MSB(a) ^ LSB(b)), AMD as for 1 from the result (SHLD MSB ^ CF, SHRD MSB ^ bit
// n-2). AF (undefined): Intel clears it, AMD sets it. 16-bit counts 17..31 (SDM: result and
// flags undefined): Intel shifts through a:b:a (SHLD) / b:a:b (SHRD) as a 48-bit value, CF the
// last bit out; AMD through a:b:b / b:b:a, so the result is b rotated by count - 16, and CF is 0
// (SHLD's OF too: from 16 on, SHLD's CF and OF are those of SHL of a alone, so by 16 OF = CF =
// bit 0 of a). Measured, every size and count.
//
// The cores cover the counts where the vendors agree on the result and CF (all but 16-bit counts
// 17..31): the result into the lazy record, CF returned.

function shldCore(
  f: Flags,
  size: number,
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
  c: number,
): number {
  if (size === 8) {
    shl64(aLo, aHi, c);
    const lo = tLo;
    const hi = tHi;
    shr64(bLo, bHi, 64 - c);
    recordResult(f, 8, lo | tLo, hi | tHi);
    return bit64(aLo, aHi, 64 - c);
  }
  if (size === 4) {
    recordResult(f, 4, (aLo << c) | (bLo >>> (32 - c)), 0);
    return (aLo >>> (32 - c)) & 1;
  }
  const a = aLo & 0xffff;
  recordResult(f, 2, ((a << c) | ((bLo & 0xffff) >>> (16 - c))) & 0xffff, 0);
  return (a >>> (16 - c)) & 1;
}

function shrdCore(
  f: Flags,
  size: number,
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
  c: number,
): number {
  if (size === 8) {
    shr64(aLo, aHi, c);
    const lo = tLo;
    const hi = tHi;
    shl64(bLo, bHi, 64 - c);
    recordResult(f, 8, lo | tLo, hi | tHi);
    return bit64(aLo, aHi, c - 1);
  }
  if (size === 4) {
    recordResult(f, 4, (aLo >>> c) | (bLo << (32 - c)), 0);
    return (aLo >>> (c - 1)) & 1;
  }
  const a = aLo & 0xffff;
  recordResult(f, 2, ((a >>> c) | ((bLo & 0xffff) << (16 - c))) & 0xffff, 0);
  return (a >>> (c - 1)) & 1;
}

/** Intel SHLD: OF = MSB ^ bit n-2 of a, AF = 0; 16-bit counts 17..31 through a:b:a. */
function shldIntel(
  f: Flags,
  size: number,
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
  count: number,
): void {
  const n = maskedCount(size, count);
  if (n === 0) {
    keep(f, size, aLo, aHi);
    return;
  }
  let c: number;
  if (size === 2 && n > 16) {
    // a:b:a: b's bits, then a's from the top.
    const b = bLo & 0xffff;
    recordResult(f, 2, ((b << (n - 16)) | ((aLo & 0xffff) >>> (32 - n))) & 0xffff, 0);
    c = (b >>> (32 - n)) & 1;
  } else c = shldCore(f, size, aLo, aHi, bLo, bHi, n);
  shiftFlags(f, c, top2Xor(size, aLo, aHi), 0);
}

/** AMD SHLD: OF = MSB of the result ^ CF, AF = 1; 16-bit counts 16..31: b rotated, CF and OF SHL's of a. */
function shldAmd(
  f: Flags,
  size: number,
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
  count: number,
): void {
  const n = maskedCount(size, count);
  if (n === 0) {
    keep(f, size, aLo, aHi);
    return;
  }
  if (size === 2 && n >= 16) {
    // a:b:b: b rotated left by n - 16; CF and OF those of SHL of a.
    const b = bLo & 0xffff;
    const r = n - 16;
    recordResult(f, 2, ((b << r) | (b >>> (16 - r))) & 0xffff, 0);
    const c = n === 16 ? aLo & 1 : 0;
    shiftFlags(f, c, c, RFLAGS_AF);
    return;
  }
  const c = shldCore(f, size, aLo, aHi, bLo, bHi, n);
  shiftFlags(f, c, msb(size, f.resLo, f.resHi) ^ c, RFLAGS_AF);
}

/** Intel SHRD: OF = MSB(a) ^ LSB(b), AF = 0; 16-bit counts 17..31 through b:a:b. */
function shrdIntel(
  f: Flags,
  size: number,
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
  count: number,
): void {
  const n = maskedCount(size, count);
  if (n === 0) {
    keep(f, size, aLo, aHi);
    return;
  }
  let c: number;
  if (size === 2 && n > 16) {
    // b:a:b: b's bits, then a's from the bottom.
    const b = bLo & 0xffff;
    recordResult(f, 2, ((b >>> (n - 16)) | ((aLo & 0xffff) << (32 - n))) & 0xffff, 0);
    c = (b >>> (n - 17)) & 1;
  } else c = shrdCore(f, size, aLo, aHi, bLo, bHi, n);
  shiftFlags(f, c, msb(size, aLo, aHi) ^ (bLo & 1), 0);
}

/** AMD SHRD: OF = MSB ^ bit n-2 of the result, AF = 1; 16-bit counts 17..31: b rotated, CF = 0. */
function shrdAmd(
  f: Flags,
  size: number,
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
  count: number,
): void {
  const n = maskedCount(size, count);
  if (n === 0) {
    keep(f, size, aLo, aHi);
    return;
  }
  let c = 0;
  if (size === 2 && n > 16) {
    // b:b:a: b rotated right by n - 16, CF = 0.
    const b = bLo & 0xffff;
    const r = n - 16;
    recordResult(f, 2, ((b >>> r) | (b << (16 - r))) & 0xffff, 0);
  } else c = shrdCore(f, size, aLo, aHi, bLo, bHi, n);
  shiftFlags(f, c, top2Xor(size, f.resLo, f.resHi), RFLAGS_AF);
}

// ---------------------------------------------------------------------------------------------
// BT BTS BTR BTC (16, 32, 64-bit): CF = the bit, numbered modulo the operand size (a memory
// operand's bit offset beyond the operand is the caller's address arithmetic). ZF is kept; OF SF
// AF PF are undefined and both vendors keep them too (measured).

function bitTest(f: Flags, size: number, aLo: number, aHi: number, bit: number, op: number): void {
  materialise(f);
  const i = bit & ((size << 3) - 1);
  let lo = aLo & lowMask(size);
  let hi = size === 8 ? aHi | 0 : 0;
  let c: number;
  if (i < 32) {
    const m = 1 << i;
    c = (lo >>> i) & 1;
    lo = op === 0 ? lo : op === 1 ? lo | m : op === 2 ? lo & ~m : lo ^ m;
  } else {
    const m = 1 << (i - 32);
    c = (hi >>> (i - 32)) & 1;
    hi = op === 0 ? hi : op === 1 ? hi | m : op === 2 ? hi & ~m : hi ^ m;
  }
  f.bits = (f.bits & ~RFLAGS_CF) | c;
  f.resLo = lo;
  f.resHi = hi;
}

/** BT: CF = the bit; the result is the operand (the caller writes nothing back). */
export function bt(f: Flags, size: number, aLo: number, aHi: number, bit: number): void {
  bitTest(f, size, aLo, aHi, bit, 0);
}

export function bts(f: Flags, size: number, aLo: number, aHi: number, bit: number): void {
  bitTest(f, size, aLo, aHi, bit, 1);
}

export function btr(f: Flags, size: number, aLo: number, aHi: number, bit: number): void {
  bitTest(f, size, aLo, aHi, bit, 2);
}

export function btc(f: Flags, size: number, aLo: number, aHi: number, bit: number): void {
  bitTest(f, size, aLo, aHi, bit, 3);
}

// ---------------------------------------------------------------------------------------------
// BSF/BSR (16, 32, 64-bit) of the source a. Returns false when the source is 0: ZF = 1 and the
// destination is not written (SDM: undefined; Intel and AMD both leave it unchanged, and neither
// clears bits 63:32 of a 32-bit destination: measured), so f.resLo/resHi are not
// set. Else true, the bit index in f.resLo. CF OF SF AF PF are undefined: both vendors clear CF OF
// SF AF and set PF from the index (PF = 1 for a zero source): measured.

function scanned(f: Flags, zero: boolean, idx: number): void {
  f.bits = (f.bits & ~RFLAGS_ARITH) | (zero ? RFLAGS_ZF | RFLAGS_PF : parity(idx) ? RFLAGS_PF : 0);
  f.op = LAZY_NONE;
}

export function bsf(f: Flags, size: number, aLo: number, aHi: number): boolean {
  const lo = aLo & lowMask(size);
  const hi = size === 8 ? aHi | 0 : 0;
  if ((lo | hi) === 0) {
    scanned(f, true, 0);
    return false;
  }
  const idx = lo !== 0 ? 31 - Math.clz32(lo & -lo) : 63 - Math.clz32(hi & -hi);
  scanned(f, false, idx);
  f.resLo = idx;
  f.resHi = 0;
  return true;
}

export function bsr(f: Flags, size: number, aLo: number, aHi: number): boolean {
  const lo = aLo & lowMask(size);
  const hi = size === 8 ? aHi | 0 : 0;
  if ((lo | hi) === 0) {
    scanned(f, true, 0);
    return false;
  }
  const idx = hi !== 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(lo);
  scanned(f, false, idx);
  f.resLo = idx;
  f.resHi = 0;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Multiplication. 32x32 products from 16-bit limbs, 64x64 from 32x32 ones (no BigInt).

let mLo = 0;
let mHi = 0;

/** Unsigned 32x32 → 64 product into mLo/mHi (int32 bit patterns of any 32-bit inputs). */
function mul32(a: number, b: number): void {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  mLo = (mid << 16) | (p00 & 0xffff);
  mHi = (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) | 0;
}

/** Signed 32x32 → 64 product of int32s into mLo/mHi: the unsigned one, its high half corrected. */
function signed32(a: number, b: number): void {
  mul32(a, b);
  if (a < 0) mHi = (mHi - b) | 0;
  if (b < 0) mHi = (mHi - a) | 0;
}

let w0 = 0;
let w1 = 0;
let w2 = 0;
let w3 = 0;

/** Unsigned 64x64 → 128 product into w0 (low) .. w3; column sums in doubles (< 2^35, exact). */
function mul64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  mul32(aLo, bLo);
  w0 = mLo;
  let s1 = mHi >>> 0;
  mul32(aLo, bHi);
  s1 += mLo >>> 0;
  let s2 = mHi >>> 0;
  mul32(aHi, bLo);
  s1 += mLo >>> 0;
  s2 += mHi >>> 0;
  mul32(aHi, bHi);
  s2 += mLo >>> 0;
  const s3 = mHi >>> 0;
  w1 = s1 | 0;
  s2 += Math.floor(s1 / TWO32);
  w2 = s2 | 0;
  w3 = (s3 + Math.floor(s2 / TWO32)) | 0;
}

/** A product: the low half to resLo/resHi (the result), the high half to hiLo/hiHi. */
function product(f: Flags, lo: number, hi: number, highLo: number, highHi: number): void {
  f.resLo = lo;
  f.resHi = hi;
  f.hiLo = highLo;
  f.hiHi = highHi;
}

// The cores compute a product into f (the result fields: the lazy record is overwritten) and
// return CF | OF when it overflows the low half, else 0; the vendor's op sets the flags.

/** CF | OF: what a product that overflows its low half sets. */
const MUL_OVERFLOW = RFLAGS_CF | RFLAGS_OF;

/** Unsigned a * b; CF = OF = the high half ≠ 0. */
function unsignedProduct(f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number): number {
  if (size === 8) {
    if ((aHi | bHi) === 0) {
      // Both below 2^32: one 32x32 product.
      mul32(aLo | 0, bLo | 0);
      product(f, mLo, mHi, 0, 0);
      return 0;
    }
    mul64(aLo | 0, aHi | 0, bLo | 0, bHi | 0);
    product(f, w0, w1, w2, w3);
    return (w2 | w3) !== 0 ? MUL_OVERFLOW : 0;
  }
  if (size === 4) {
    mul32(aLo | 0, bLo | 0);
    product(f, mLo, 0, mHi, 0);
    return mHi !== 0 ? MUL_OVERFLOW : 0;
  }
  const n = size << 3;
  const m = lowMask(size);
  const p = (aLo & m) * (bLo & m); // < 2^32
  const hi = p >>> n;
  product(f, p & m, 0, hi, 0);
  return hi !== 0 ? MUL_OVERFLOW : 0;
}

/** Signed a * b; CF = OF = the product does not fit the low half. */
function signedProduct(f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number): number {
  aLo |= 0;
  aHi |= 0;
  bLo |= 0;
  bHi |= 0;
  if (size === 8 && aHi === aLo >> 31 && bHi === bLo >> 31) {
    // Both sign-extended 32-bit values (the usual case): the product fits 64 bits.
    signed32(aLo, bLo);
    const ext = mHi >> 31;
    product(f, mLo, mHi, ext, ext);
    return 0;
  }
  if (size === 8) {
    mul64(aLo, aHi, bLo, bHi);
    // Signed high half = unsigned high half - (a < 0 ? b : 0) - (b < 0 ? a : 0), mod 2^64.
    let lo = w2;
    let hi = w3;
    if (aHi >>> 31) {
      hi = (hi - bHi - (lo >>> 0 < bLo >>> 0 ? 1 : 0)) | 0;
      lo = (lo - bLo) | 0;
    }
    if (bHi >>> 31) {
      hi = (hi - aHi - (lo >>> 0 < aLo >>> 0 ? 1 : 0)) | 0;
      lo = (lo - aLo) | 0;
    }
    const ext = w1 >> 31; // the high half if the product fits: the low half's sign
    product(f, w0, w1, lo, hi);
    return lo !== ext || hi !== ext ? MUL_OVERFLOW : 0;
  }
  if (size === 4) {
    signed32(aLo, bLo);
    product(f, mLo, 0, mHi, 0);
    return mHi !== mLo >> 31 ? MUL_OVERFLOW : 0;
  }
  const sh = 32 - (size << 3);
  const p = ((aLo << sh) >> sh) * ((bLo << sh) >> sh); // |p| <= 2^30
  const m = lowMask(size);
  product(f, p & m, 0, (p >> (size << 3)) & m, 0);
  return p !== (p << sh) >> sh ? MUL_OVERFLOW : 0;
}

/** IMUL's two/three-operand forms: the truncated product (hiLo/hiHi may be clobbered); CF = OF on overflow. */
function truncatedProduct(
  f: Flags,
  size: number,
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
): number {
  if (size === 8) {
    aLo |= 0;
    bLo |= 0;
    if ((aHi | 0) === aLo >> 31 && (bHi | 0) === bLo >> 31) {
      // Both sign-extended 32-bit values (the usual case): the 64-bit product cannot overflow.
      // The signed 32x32 product, written out (no helper call, no module temporaries).
      const a0 = aLo & 0xffff;
      const a1 = aLo >>> 16;
      const b0 = bLo & 0xffff;
      const b1 = bLo >>> 16;
      const p00 = a0 * b0;
      const p01 = a0 * b1;
      const p10 = a1 * b0;
      const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
      let hi = (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) | 0;
      if (aLo < 0) hi = (hi - bLo) | 0;
      if (bLo < 0) hi = (hi - aLo) | 0;
      f.resLo = (mid << 16) | (p00 & 0xffff);
      f.resHi = hi;
      return 0;
    }
    return signedProduct(f, 8, aLo, aHi, bLo, bHi);
  }
  if (size === 4) {
    // The double product is inexact past 2^53, but rounding is monotonic and ±2^31 are exact,
    // so it is outside the int32 range exactly when the true product is.
    const p = (aLo | 0) * (bLo | 0);
    f.resLo = Math.imul(aLo, bLo);
    f.resHi = 0;
    return p > 0x7fff_ffff || p < -0x8000_0000 ? MUL_OVERFLOW : 0;
  }
  return signedProduct(f, size, aLo, aHi, bLo, bHi);
}

/**
 * Intel's MUL/IMUL flags: CF and OF (`overflow`: both or 0); of the undefined ones SF and PF come
 * from the low half of the product (lazily: LAZY_MUL) and ZF = AF = 0. Measured, every size and
 * form.
 */
function multipliedIntel(f: Flags, size: number, overflow: number): void {
  f.bits = (f.bits & ~(RFLAGS_CF | RFLAGS_ZF | RFLAGS_AF | RFLAGS_OF)) | overflow;
  f.op = LAZY_MUL;
  f.size = size;
}

/**
 * AMD's MUL/IMUL flags: CF and OF (`overflow`); SF ZF AF PF are kept (measured, every size and
 * form), so the op materialises them before the product replaces the record.
 */
function multipliedAmd(f: Flags, overflow: number): void {
  f.bits = (f.bits & ~(RFLAGS_CF | RFLAGS_OF)) | overflow;
}

// MUL: unsigned a * b; low half in resLo/resHi, high half in hiLo/hiHi. IMUL one-operand form:
// signed, the same halves. IMUL two/three-operand forms: the truncated product in resLo/resHi.

function mulIntel(f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  multipliedIntel(f, size, unsignedProduct(f, size, aLo, aHi, bLo, bHi));
}

function mulAmd(f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  materialise(f);
  multipliedAmd(f, unsignedProduct(f, size, aLo, aHi, bLo, bHi));
}

function imul1Intel(f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  multipliedIntel(f, size, signedProduct(f, size, aLo, aHi, bLo, bHi));
}

function imul1Amd(f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  materialise(f);
  multipliedAmd(f, signedProduct(f, size, aLo, aHi, bLo, bHi));
}

function imul2Intel(f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  multipliedIntel(f, size, truncatedProduct(f, size, aLo, aHi, bLo, bHi));
}

function imul2Amd(f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number): void {
  materialise(f);
  multipliedAmd(f, truncatedProduct(f, size, aLo, aHi, bLo, bHi));
}

// ---------------------------------------------------------------------------------------------
// Division. The dividend is hi:lo, each of the operand size (AH:AL, DX:AX, EDX:EAX, RDX:RAX),
// given as halves nLo0/nHi0 (low part) and nLo1/nHi1 (high part). false = #DE (divisor 0 or
// quotient too large), with nothing changed; else the quotient in resLo/resHi and the remainder
// in hiLo/hiHi. All flags are undefined: Intel leaves every one unchanged, AMD keeps CF and OF,
// clears SF ZF PF and sets AF (measured, every size, signed or not, whatever the operands). The
// cores, divCore and idivCore, change no flag: they are Intel's ops; AMD's set its flags after.

let qLo = 0;
let qHi = 0;
let rLo = 0;
let rHi = 0;

/**
 * Unsigned (hi:lo) / d for u32s (≥ 0 numbers) with hi < d, so the quotient fits 32 bits, into
 * qLo and rLo: two steps of 16-bit long division, each partial dividend < 2^48 so the floor of
 * the double quotient is exact.
 */
function div64by32(hi: number, lo: number, d: number): void {
  let t = hi * 65536 + (lo >>> 16);
  const q1 = Math.floor(t / d);
  t = (t - q1 * d) * 65536 + (lo & 0xffff);
  const q0 = Math.floor(t / d);
  qLo = (q1 * 65536 + q0) | 0;
  rLo = (t - q0 * d) | 0;
}

/** Unsigned 128/64 division of u32 words into qLo..rHi; false if d = 0 or the quotient needs more than 64 bits. */
function divu128(n0: number, n1: number, n2: number, n3: number, dLo: number, dHi: number): boolean {
  if (dLo === 0 && dHi === 0) return false;
  // Quotient ≥ 2^64 exactly when the high half n3:n2 ≥ d.
  if (n3 > dHi || (n3 === dHi && n2 >= dLo)) return false;
  if (dHi === 0) {
    if (n2 === 0 && n1 < 0x10_0000) {
      // Dividend < 2^52: the floor of the double quotient is exact, and so is q * d.
      const n = n1 * TWO32 + n0;
      const q = Math.floor(n / dLo);
      const r = n - q * dLo;
      qLo = q | 0;
      qHi = Math.floor(q / TWO32) | 0;
      rLo = r | 0;
      rHi = 0;
      return true;
    }
    // 96/32 long division (n3 = 0 and n2 < d here), 32 bits of quotient per step.
    div64by32(n2, n1, dLo);
    qHi = qLo;
    div64by32(rLo >>> 0, n0, dLo);
    rHi = 0;
    return true;
  }
  if ((n2 | n3) === 0) {
    div64by64(n0, n1, dLo, dHi);
    return true;
  }
  const n = (BigInt(n3) << 96n) | (BigInt(n2) << 64n) | (BigInt(n1) << 32n) | BigInt(n0);
  const d = (BigInt(dHi) << 32n) | BigInt(dLo);
  const q = n / d;
  const r = n - q * d;
  qLo = Number(q & 0xffff_ffffn) | 0;
  qHi = Number(q >> 32n) | 0;
  rLo = Number(r & 0xffff_ffffn) | 0;
  rHi = Number(r >> 32n) | 0;
  return true;
}

/**
 * Unsigned (n1:n0) / (dHi:dLo) for u32 words with dHi ≥ 1, so the quotient is below 2^32, into
 * qLo..rHi. The double quotient is within 1 of the true one (both operands rounded to 53 bits, a
 * quotient below 2^32); the remainder n - q * d is computed exactly from 32x32 products and q
 * corrected until it lies in [0, d).
 */
function div64by64(n0: number, n1: number, dLo: number, dHi: number): void {
  let q = Math.floor((n1 * TWO32 + n0) / (dHi * TWO32 + dLo));
  if (q > 0xffff_ffff) q = 0xffff_ffff;
  mul32(q | 0, dLo | 0);
  const p0 = mLo >>> 0;
  const p1 = mHi >>> 0;
  mul32(q | 0, dHi | 0);
  // r = n - q * d = top * 2^64 + x1 * 2^32 + x0, with x0 and x1 brought into [0, 2^32).
  let x0 = n0 - p0;
  let x1 = n1 - p1 - (mLo >>> 0);
  if (x0 < 0) {
    x0 += TWO32;
    x1--;
  }
  let top = -(mHi >>> 0);
  while (x1 < 0) {
    x1 += TWO32;
    top--;
  }
  while (top < 0) {
    q--;
    x0 += dLo;
    if (x0 >= TWO32) {
      x0 -= TWO32;
      x1++;
    }
    x1 += dHi;
    if (x1 >= TWO32) {
      x1 -= TWO32;
      top++;
    }
  }
  while (x1 > dHi || (x1 === dHi && x0 >= dLo)) {
    q++;
    x0 -= dLo;
    if (x0 < 0) {
      x0 += TWO32;
      x1--;
    }
    x1 -= dHi;
  }
  qLo = q | 0;
  qHi = 0;
  rLo = x0 | 0;
  rHi = x1 | 0;
}

function divided(f: Flags, quoLo: number, quoHi: number, remLo: number, remHi: number): boolean {
  materialise(f); // flags unchanged, but the result fields hold the lazy record
  f.resLo = quoLo;
  f.resHi = quoHi;
  f.hiLo = remLo;
  f.hiHi = remHi;
  return true;
}

/** DIV: unsigned (n1:n0) / d. */
function divCore(
  f: Flags,
  size: number,
  nLo0: number,
  nHi0: number,
  nLo1: number,
  nHi1: number,
  dLo: number,
  dHi: number,
): boolean {
  if (size === 8) {
    if (!divu128(nLo0 >>> 0, nHi0 >>> 0, nLo1 >>> 0, nHi1 >>> 0, dLo >>> 0, dHi >>> 0)) return false;
    return divided(f, qLo, qHi, rLo, rHi);
  }
  if (size === 4) {
    const hi = nLo1 >>> 0;
    const d = dLo >>> 0;
    if (d === 0 || hi >= d) return false;
    div64by32(hi, nLo0 >>> 0, d);
    return divided(f, qLo, 0, rLo, 0);
  }
  const m = lowMask(size);
  const d = dLo & m;
  if (d === 0) return false;
  const x = (nLo1 & m) * (m + 1) + (nLo0 & m); // < 2^32
  const q = Math.floor(x / d);
  if (q > m) return false;
  return divided(f, q, 0, x - q * d, 0);
}

/** IDIV: signed (n1:n0) / d, quotient truncated toward 0, remainder with the dividend's sign. */
function idivCore(
  f: Flags,
  size: number,
  nLo0: number,
  nHi0: number,
  nLo1: number,
  nHi1: number,
  dLo: number,
  dHi: number,
): boolean {
  if (size === 8) {
    // Magnitudes (as u32 words), the unsigned division, then the signs and the range check.
    let n0 = nLo0 >>> 0;
    let n1 = nHi0 >>> 0;
    let n2 = nLo1 >>> 0;
    let n3 = nHi1 >>> 0;
    let d0 = dLo >>> 0;
    let d1 = dHi >>> 0;
    const nNeg = n3 >>> 31;
    const dNeg = d1 >>> 31;
    if (nNeg) {
      // 128-bit two's complement negation: invert, add 1 with carry.
      n0 = (~n0 + 1) >>> 0;
      let c = n0 === 0 ? 1 : 0;
      n1 = (~n1 + c) >>> 0;
      c = c && n1 === 0 ? 1 : 0;
      n2 = (~n2 + c) >>> 0;
      c = c && n2 === 0 ? 1 : 0;
      n3 = (~n3 + c) >>> 0;
    }
    if (dNeg) {
      d0 = (~d0 + 1) >>> 0;
      d1 = (~d1 + (d0 === 0 ? 1 : 0)) >>> 0;
    }
    if (!divu128(n0, n1, n2, n3, d0, d1)) return false;
    const qNeg = nNeg ^ dNeg;
    // |q| ≤ 2^63 - 1, or 2^63 when negative.
    const qh = qHi >>> 0;
    if (qh > 0x8000_0000 || (qh === 0x8000_0000 && (qLo !== 0 || !qNeg))) return false;
    let ql = qLo;
    let qhs = qHi;
    if (qNeg) {
      qhs = (~qhs + (ql === 0 ? 1 : 0)) | 0;
      ql = -ql | 0;
    }
    let rl = rLo;
    let rh = rHi;
    if (nNeg) {
      rh = (~rh + (rl === 0 ? 1 : 0)) | 0;
      rl = -rl | 0;
    }
    return divided(f, ql, qhs, rl, rh);
  }
  if (size === 4) {
    let lo = nLo0 >>> 0;
    let hi = nLo1 >>> 0;
    const nNeg = hi >>> 31;
    if (nNeg) {
      lo = -lo >>> 0;
      hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
    }
    const ds = dLo | 0;
    const d = Math.abs(ds);
    if (d === 0 || hi >= d) return false;
    div64by32(hi, lo, d);
    const qNeg = nNeg ^ (ds < 0 ? 1 : 0);
    const q = qLo >>> 0;
    if (q > (qNeg ? 0x8000_0000 : 0x7fff_ffff)) return false;
    return divided(f, qNeg ? -q | 0 : q | 0, 0, nNeg ? -rLo | 0 : rLo, 0);
  }
  const n = size << 3;
  const sh = 32 - n;
  const m = lowMask(size);
  const d = (dLo << sh) >> sh;
  if (d === 0) return false;
  const x = size === 2 ? (nLo1 << 16) | (nLo0 & 0xffff) : (((nLo1 << 8) | (nLo0 & 0xff)) << 16) >> 16;
  const q = Math.trunc(x / d);
  const lim = 1 << (n - 1);
  if (q >= lim || q < -lim) return false;
  return divided(f, q & m, 0, (x - q * d) & m, 0);
}

/** AMD's flags after a division that did not fault: CF OF kept, SF ZF PF cleared, AF set. */
function dividedAmd(f: Flags): boolean {
  f.bits = (f.bits & ~(RFLAGS_SF | RFLAGS_ZF | RFLAGS_PF)) | RFLAGS_AF;
  return true;
}

function divAmd(
  f: Flags,
  size: number,
  nLo0: number,
  nHi0: number,
  nLo1: number,
  nHi1: number,
  dLo: number,
  dHi: number,
): boolean {
  return divCore(f, size, nLo0, nHi0, nLo1, nHi1, dLo, dHi) && dividedAmd(f);
}

function idivAmd(
  f: Flags,
  size: number,
  nLo0: number,
  nHi0: number,
  nLo1: number,
  nHi1: number,
  dLo: number,
  dHi: number,
): boolean {
  return idivCore(f, size, nLo0, nHi0, nLo1, nHi1, dLo, dHi) && dividedAmd(f);
}

// ---------------------------------------------------------------------------------------------
// Decimal adjust (16/32-bit modes only; #UD in 64-bit mode is the decoder's). Not measured, on
// either vendor: the oracle's KVM (kvm_pvm, on the Intel and on the AMD machine alike) does not
// run these on the CPU (it emulates DAS, AAM, AAD in C and not DAA, AAA, AAS at all). Both tables
// share what P6-family Intel CPUs are documented to do with the undefined flags (as Bochs models
// them): SF ZF PF from AL and OF = 0 after all six, and AF = CF = 0 after AAM/AAD.

function adjusted(f: Flags, al: number, c: number, a: number): void {
  f.bits =
    (f.bits & ~RFLAGS_ARITH) |
    c |
    (a ? RFLAGS_AF : 0) |
    (parity(al) ? RFLAGS_PF : 0) |
    (al === 0 ? RFLAGS_ZF : 0) |
    (al & RFLAGS_SF);
  f.op = LAZY_NONE;
}

/** DAA: AL adjusted after a packed-BCD addition; the new AL in resLo. */
export function daa(f: Flags, al: number): void {
  const c0 = carryFlag(f) ? 1 : 0;
  const a0 = auxFlag(f);
  const old = al & 0xff;
  let r = old;
  let c = 0;
  let a = 0;
  if ((old & 0xf) > 9 || a0) {
    r = (r + 6) & 0xff;
    a = 1;
  }
  if (old > 0x99 || c0) {
    r = (r + 0x60) & 0xff;
    c = 1;
  }
  adjusted(f, r, c, a);
  f.resLo = r;
  f.resHi = 0;
}

/** DAS: AL adjusted after a packed-BCD subtraction; the new AL in resLo. */
export function das(f: Flags, al: number): void {
  const c0 = carryFlag(f) ? 1 : 0;
  const a0 = auxFlag(f);
  const old = al & 0xff;
  let r = old;
  let c = 0;
  let a = 0;
  if ((old & 0xf) > 9 || a0) {
    c = c0 | (old < 6 ? 1 : 0);
    r = (r - 6) & 0xff;
    a = 1;
  }
  if (old > 0x99 || c0) {
    r = (r - 0x60) & 0xff;
    c = 1;
  }
  adjusted(f, r, c, a);
  f.resLo = r;
  f.resHi = 0;
}

/** AAA: AX adjusted after an unpacked-BCD addition (AX + 0x106 when adjusting, as since the 286); the new AX in resLo. */
export function aaa(f: Flags, ax: number): void {
  const adj = (ax & 0xf) > 9 || auxFlag(f) ? 1 : 0;
  const r = (adj ? ax + 0x106 : ax) & 0xff0f;
  adjusted(f, r & 0xff, adj, adj);
  f.resLo = r;
  f.resHi = 0;
}

/** AAS: AX adjusted after an unpacked-BCD subtraction (AX - 0x106 when adjusting); the new AX in resLo. */
export function aas(f: Flags, ax: number): void {
  const adj = (ax & 0xf) > 9 || auxFlag(f) ? 1 : 0;
  const r = (adj ? ax - 0x106 : ax) & 0xff0f;
  adjusted(f, r & 0xff, adj, adj);
  f.resLo = r;
  f.resHi = 0;
}

/** AAM imm8: AH = AL / imm8, AL = AL % imm8 (the new AX in resLo); false = #DE (imm8 = 0). */
export function aam(f: Flags, al: number, imm8: number): boolean {
  const b = imm8 & 0xff;
  if (b === 0) return false;
  const x = al & 0xff;
  const lo = x % b;
  adjusted(f, lo, 0, 0);
  f.resLo = (((x - lo) / b) << 8) | lo;
  f.resHi = 0;
  return true;
}

/** AAD imm8: AL = (AL + AH * imm8) & 0xff, AH = 0 (the new AX in resLo). */
export function aad(f: Flags, ax: number, imm8: number): void {
  const r = ((ax & 0xff) + ((ax >>> 8) & 0xff) * (imm8 & 0xff)) & 0xff;
  adjusted(f, r, 0, 0);
  f.resLo = r;
  f.resHi = 0;
}

// ---------------------------------------------------------------------------------------------
// The vendors' ALUs: every op, the shared ones and the vendor's own. A CPU takes one table when
// it is made (X86CpuOptions.vendor) and its decoded instructions and compiled blocks call that
// table's functions: no op asks which vendor it runs for.

/** The CPU vendors whose undefined flags the ALU models. */
export type X86Vendor = 'amd' | 'intel';

/** The model's CPU vendor unless told otherwise: an AMD EPYC, as SEV-ES needs. */
export const DEFAULT_X86_VENDOR: X86Vendor = 'amd';

/** The ops on which AMD and Intel agree, undefined flags included. */
const SHARED = {
  add,
  adc,
  sub,
  cmp,
  sbb,
  inc,
  dec,
  neg,
  and,
  or,
  xor,
  test,
  not,
  bt,
  bts,
  btr,
  btc,
  bsf,
  bsr,
  daa,
  das,
  aaa,
  aas,
  aam,
  aad,
};

/** AMD's ALU, as measured on an AMD EPYC (family 25 model 17, Zen 4): the model's CPU. */
export const ALU_AMD = {
  vendor: 'amd' as X86Vendor,
  ...SHARED,
  shl: shlAmd,
  shr: shrAmd,
  sar: sarAmd,
  rol: rolAmd,
  ror: rorAmd,
  rcl: rclAmd,
  rcr: rcrAmd,
  shld: shldAmd,
  shrd: shrdAmd,
  mul: mulAmd,
  imul1: imul1Amd,
  imul2: imul2Amd,
  div: divAmd,
  idiv: idivAmd,
};

/** One vendor's ALU: the ops by name (the same names, in the same order, for both). */
export type Alu = typeof ALU_AMD;

/** Intel's ALU, as measured on an Intel Xeon. */
export const ALU_INTEL: Alu = {
  vendor: 'intel',
  ...SHARED,
  shl: shlIntel,
  shr: shrIntel,
  sar: sarIntel,
  rol: rolIntel,
  ror: rorIntel,
  rcl: rclIntel,
  rcr: rcrIntel,
  shld: shldIntel,
  shrd: shrdIntel,
  mul: mulIntel,
  imul1: imul1Intel,
  imul2: imul2Intel,
  div: divCore,
  idiv: idivCore,
};

/** The ALU of a vendor. */
export function aluFor(vendor: X86Vendor): Alu {
  return vendor === 'intel' ? ALU_INTEL : ALU_AMD;
}
