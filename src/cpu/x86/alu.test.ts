/**
 * The ALU and its lazy flags against a reference model written the plain way: BigInt values,
 * shifts and rotates one bit at a time as the SDM's pseudo-code loops, flags from their
 * definitions (signed range for OF, the nibble sums for AF). The model also encodes the
 * undefined flags as each vendor's CPU sets them (AMD's and Intel's, measured: see alu.ts), and
 * each vendor's ALU is checked against it, so every RFLAGS bit is compared, at every size,
 * starting from materialised and from lazy flag states; the lazy getters and cond() are checked
 * against the materialised value after each op. Then a few cases per op family pin where AMD
 * and Intel differ, and that the ops on which they agree are the same functions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import * as alu from './alu.js';
import { ALU_AMD, ALU_INTEL, type Alu, aluFor, type X86Vendor } from './alu.js';
import {
  af,
  cf,
  cond,
  Flags,
  LAZY_NONE,
  of,
  pf,
  RFLAGS_AF,
  RFLAGS_ARITH,
  RFLAGS_CF,
  RFLAGS_DF,
  RFLAGS_OF,
  RFLAGS_PF,
  RFLAGS_SF,
  RFLAGS_ZF,
  readRflags,
  sf,
  writeRflags,
  zf,
} from './flags.js';

const M64 = (1n << 64n) - 1n;
const bitsOf = (s: number): bigint => BigInt(s * 8);
const maskOf = (s: number): bigint => (1n << bitsOf(s)) - 1n;
/** Halves as the ALU may be given them: u32 (from a Uint32Array) or int32 (computed), mixed by a bit of v. */
const half = (v: bigint, x: number): number => ((v >> 7n) & 1n ? x | 0 : x);
const lo = (v: bigint): number => half(v, Number(v & 0xffff_ffffn));
const hi = (v: bigint): number => half(v, Number((v >> 32n) & 0xffff_ffffn));
const join = (l: number, h: number): bigint => (BigInt(h >>> 0) << 32n) | BigInt(l >>> 0);
/** A result half as u32 (the ALU keeps int32 bit patterns). */
const u = (x: number): number => x >>> 0;

// ---------------------------------------------------------------------------------------------
// Reference model.

const bit = (v: bigint, i: bigint): number => Number((v >> i) & 1n);
const signed = (v: bigint, s: number): bigint => (bit(v, bitsOf(s) - 1n) ? v - (1n << bitsOf(s)) : v);
const msbOf = (v: bigint, s: number): number => bit(v, bitsOf(s) - 1n);
function parityFlag(v: bigint): number {
  let ones = 0;
  for (let i = 0n; i < 8n; i++) ones += bit(v, i);
  return ones % 2 === 0 ? RFLAGS_PF : 0;
}
/** ZF SF PF of an n-bit result. */
const szp = (r: bigint, s: number): number =>
  (r === 0n ? RFLAGS_ZF : 0) | (msbOf(r, s) ? RFLAGS_SF : 0) | parityFlag(r);
const flag = (b: boolean | number, f: number): number => (b ? f : 0);
/** fin with the flags in `mask` replaced by `set`. */
const put = (fin: number, mask: number, set: number): number => (fin & ~mask) | set;

interface Out {
  res: bigint;
  /** High half of a product, remainder of a division. */
  high?: bigint;
  flags: number;
  /** false: the destination is not written (BSF/BSR of 0) or the instruction faults (#DE). */
  ok?: boolean;
}

function refAdd(s: number, a: bigint, b: bigint, c: number, fin: number, keepCf = false): Out {
  const C = BigInt(c);
  const sum = a + b + C;
  const r = sum & maskOf(s);
  const ssum = signed(a, s) + signed(b, s) + C;
  const lim = 1n << (bitsOf(s) - 1n);
  const f =
    flag(keepCf ? fin & RFLAGS_CF : sum > maskOf(s), RFLAGS_CF) |
    flag(ssum >= lim || ssum < -lim, RFLAGS_OF) |
    flag((a & 0xfn) + (b & 0xfn) + C > 0xfn, RFLAGS_AF) |
    szp(r, s);
  return { res: r, flags: put(fin, RFLAGS_ARITH, f) };
}

function refSub(s: number, a: bigint, b: bigint, c: number, fin: number, keepCf = false): Out {
  const C = BigInt(c);
  const r = (a - b - C) & maskOf(s);
  const sdiff = signed(a, s) - signed(b, s) - C;
  const lim = 1n << (bitsOf(s) - 1n);
  const f =
    flag(keepCf ? fin & RFLAGS_CF : a < b + C, RFLAGS_CF) |
    flag(sdiff >= lim || sdiff < -lim, RFLAGS_OF) |
    flag((a & 0xfn) < (b & 0xfn) + C, RFLAGS_AF) |
    szp(r, s);
  return { res: r, flags: put(fin, RFLAGS_ARITH, f) };
}

const refLogic = (s: number, r: bigint, fin: number): Out => ({
  res: r & maskOf(s),
  flags: put(fin, RFLAGS_ARITH, szp(r & maskOf(s), s)),
});

type ShiftKind = 'shl' | 'shr' | 'sar' | 'rol' | 'ror' | 'rcl' | 'rcr';

function refShift(v: X86Vendor, kind: ShiftKind, s: number, a: bigint, count: number, fin: number): Out {
  const n = bitsOf(s);
  const c = count & (s === 8 ? 63 : 31);
  const msb = (v: bigint): number => bit(v, n - 1n);
  if (c === 0) return { res: a, flags: fin };
  let d = a;
  let carry = fin & RFLAGS_CF;
  if (kind === 'shl' || kind === 'shr' || kind === 'sar') {
    for (let i = 0; i < c; i++) {
      if (kind === 'shl') {
        carry = msb(d);
        d = (d << 1n) & maskOf(s);
      } else {
        carry = bit(d, 0n);
        d = (d >> 1n) | (kind === 'sar' ? BigInt(msb(d)) << (n - 1n) : 0n);
      }
    }
    // OF: defined for 1; larger counts as for 1, Intel from the original operand, AMD from the
    // result. AF: Intel 0, AMD 1.
    const o =
      v === 'intel'
        ? kind === 'shl'
          ? msb(a) ^ bit(a, n - 2n)
          : kind === 'shr'
            ? msb(a)
            : 0
        : kind === 'shl'
          ? msb(d) ^ carry
          : kind === 'shr'
            ? msb(d) ^ bit(d, n - 2n)
            : 0;
    const af = flag(v === 'amd', RFLAGS_AF);
    return {
      res: d,
      flags: put(fin, RFLAGS_ARITH, flag(carry, RFLAGS_CF) | flag(o, RFLAGS_OF) | af | szp(d, s)),
    };
  }
  if (kind === 'rol' || kind === 'ror') {
    for (let i = 0; i < c % Number(n); i++)
      d =
        kind === 'rol'
          ? ((d << 1n) & maskOf(s)) | BigInt(msb(d))
          : (d >> 1n) | (BigInt(bit(d, 0n)) << (n - 1n));
    const cfv = kind === 'rol' ? bit(d, 0n) : msb(d);
    const o =
      v === 'intel'
        ? kind === 'rol'
          ? msb(a) ^ bit(a, n - 2n)
          : msb(a) ^ bit(a, 0n)
        : kind === 'rol'
          ? msb(d) ^ cfv
          : msb(d) ^ bit(d, n - 2n);
    return { res: d, flags: put(fin, RFLAGS_CF | RFLAGS_OF, flag(cfv, RFLAGS_CF) | flag(o, RFLAGS_OF)) };
  }
  const tc = s <= 2 ? c % (Number(n) + 1) : c;
  // No rotation: Intel changes nothing; AMD sets OF from the (unchanged) result, as below.
  if (tc === 0 && v === 'intel') return { res: a, flags: fin };
  const cin = carry;
  for (let i = 0; i < tc; i++) {
    if (kind === 'rcl') {
      const t = msb(d);
      d = ((d << 1n) & maskOf(s)) | BigInt(carry);
      carry = t;
    } else {
      const t = bit(d, 0n);
      d = (d >> 1n) | (BigInt(carry) << (n - 1n));
      carry = t;
    }
  }
  const o =
    v === 'intel'
      ? kind === 'rcl'
        ? msb(a) ^ bit(a, n - 2n)
        : msb(a) ^ cin
      : kind === 'rcl'
        ? msb(d) ^ carry
        : msb(d) ^ bit(d, n - 2n);
  return { res: d, flags: put(fin, RFLAGS_CF | RFLAGS_OF, flag(carry, RFLAGS_CF) | flag(o, RFLAGS_OF)) };
}

/**
 * SHLD/SHRD one bit at a time; the bits shifted in are b's, then (16-bit counts > 16) a's on
 * Intel, b's again on AMD.
 */
function refDouble(
  v: X86Vendor,
  left: boolean,
  s: number,
  a: bigint,
  b: bigint,
  count: number,
  fin: number,
): Out {
  const n = bitsOf(s);
  const c = count & (s === 8 ? 63 : 31);
  if (c === 0) return { res: a, flags: fin };
  let d = a;
  let carry = 0;
  for (let i = 0n; i < BigInt(c); i++) {
    const after = v === 'intel' ? a : b;
    if (left) {
      const stream = (b << n) | after; // read from the top down
      carry = bit(d, n - 1n);
      d = ((d << 1n) & maskOf(s)) | BigInt(bit(stream, 2n * n - 1n - i));
    } else {
      const stream = (after << n) | b; // read from the bottom up
      carry = bit(d, 0n);
      d = (d >> 1n) | (BigInt(bit(stream, i)) << (n - 1n));
    }
  }
  let o: number;
  let af = 0;
  if (v === 'intel') o = left ? bit(a, n - 1n) ^ bit(a, n - 2n) : bit(a, n - 1n) ^ bit(b, 0n);
  else {
    af = RFLAGS_AF;
    // 16-bit counts past 16: CF = 0 (not the last bit out); SHLD's CF and OF are SHL's of a.
    if (s === 2 && c > 16) carry = 0;
    o = left ? (s === 2 && c >= 16 ? carry : msbOf(d, s) ^ carry) : msbOf(d, s) ^ bit(d, n - 2n);
  }
  return {
    res: d,
    flags: put(fin, RFLAGS_ARITH, flag(carry, RFLAGS_CF) | flag(o, RFLAGS_OF) | af | szp(d, s)),
  };
}

function refBt(kind: 0 | 1 | 2 | 3, s: number, a: bigint, i: number, fin: number): Out {
  const k = BigInt(i % (s * 8));
  const m = 1n << k;
  const res = kind === 0 ? a : kind === 1 ? a | m : kind === 2 ? a & ~m : a ^ m;
  return { res, flags: put(fin, RFLAGS_CF, flag(bit(a, k), RFLAGS_CF)) };
}

function refScan(forward: boolean, s: number, a: bigint, fin: number): Out {
  if (a === 0n) return { res: 0n, flags: put(fin, RFLAGS_ARITH, RFLAGS_ZF | RFLAGS_PF), ok: false };
  let i = forward ? 0n : bitsOf(s) - 1n;
  while (!bit(a, i)) i += forward ? 1n : -1n;
  return { res: i, flags: put(fin, RFLAGS_ARITH, parityFlag(i)), ok: true };
}

function refMul(v: X86Vendor, isSigned: boolean, s: number, a: bigint, b: bigint, fin: number): Out {
  const p = isSigned ? signed(a, s) * signed(b, s) : a * b;
  const low = p & maskOf(s);
  const high = (p >> bitsOf(s)) & maskOf(s);
  const overflow = isSigned ? p !== signed(low, s) : high !== 0n;
  const o = flag(overflow, RFLAGS_CF | RFLAGS_OF);
  // Intel: SF and PF from the low half, ZF = AF = 0; AMD: SF ZF AF PF kept.
  if (v === 'amd') return { res: low, high, flags: put(fin, RFLAGS_CF | RFLAGS_OF, o) };
  return {
    res: low,
    high,
    flags: put(fin, RFLAGS_ARITH, o | flag(msbOf(low, s), RFLAGS_SF) | parityFlag(low)),
  };
}

function refDiv(
  v: X86Vendor,
  isSigned: boolean,
  s: number,
  n0: bigint,
  n1: bigint,
  d: bigint,
  fin: number,
): Out {
  const n = bitsOf(s);
  const N = isSigned ? signed((n1 << n) | n0, s * 2) : (n1 << n) | n0;
  const D = isSigned ? signed(d, s) : d;
  if (D === 0n) return { res: 0n, flags: fin, ok: false };
  const q = N / D; // truncates toward 0, as IDIV
  const r = N - q * D;
  const fits = isSigned ? q >= -(1n << (n - 1n)) && q < 1n << (n - 1n) : q <= maskOf(s);
  if (!fits) return { res: 0n, flags: fin, ok: false };
  // Intel: every flag kept; AMD: CF OF kept, SF ZF PF cleared, AF set.
  const flags = v === 'intel' ? fin : put(fin, RFLAGS_SF | RFLAGS_ZF | RFLAGS_PF | RFLAGS_AF, RFLAGS_AF);
  return { res: q & maskOf(s), high: r & maskOf(s), flags, ok: true };
}

// ---------------------------------------------------------------------------------------------
// Generators and the driver.

const EDGES = [
  0n,
  1n,
  2n,
  0xfn,
  0x10n,
  0x7fn,
  0x80n,
  0xffn,
  0x7fffn,
  0x8000n,
  0xffffn,
  0x7fff_ffffn,
  0x8000_0000n,
  0xffff_ffffn,
  0x1_0000_0000n,
  0x7fff_ffff_ffff_ffffn,
  1n << 63n,
  M64,
];
/** 64-bit operands: edges (with garbage above small edges too), small values, anything. */
const operand = fc.oneof(
  fc.constantFrom(...EDGES),
  fc.tuple(fc.constantFrom(...EDGES), fc.bigInt({ min: 0n, max: M64 })).map(([e, g]) => (g & ~0xffffn) | e),
  fc.bigInt({ min: 0n, max: 0xffn }),
  fc.bigInt({ min: 0n, max: M64 }),
);
const size = fc.constantFrom(1, 2, 4, 8);
const count = fc.oneof(fc.constantFrom(0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65), fc.nat(255));
/** Input RFLAGS: any status flags, DF sometimes (it must survive every op). */
const rflagsIn = fc.nat(0xfff).map((x) => (x & (RFLAGS_ARITH | RFLAGS_DF)) | 2);
/** How the input flags are reached: 0 = written (LAZY_NONE), else a lazy record left by an op. */
const prep = fc.tuple(fc.nat(6), size, operand, operand);

/** A Flags object in a state whose RFLAGS is returned: written, or left lazily by another op. */
function start(fin: number, [how, s, x, y]: [number, number, bigint, bigint]): [Flags, number] {
  const f = new Flags();
  writeRflags(f, fin);
  const ops = [alu.add, alu.sub, alu.and, alu.adc, alu.sbb, alu.neg];
  if (how > 0) ops[how - 1]!(f, s, lo(x), hi(x), lo(y), hi(y));
  return [f, readRflags(f)];
}

/** The getters and every condition agree with the materialised RFLAGS. */
function checkLazy(f: Flags, what: string): void {
  const r = readRflags(f);
  const bits = {
    cf: (r & RFLAGS_CF) !== 0,
    pf: (r & RFLAGS_PF) !== 0,
    af: (r & RFLAGS_AF) !== 0,
    zf: (r & RFLAGS_ZF) !== 0,
    sf: (r & RFLAGS_SF) !== 0,
    of: (r & RFLAGS_OF) !== 0,
  };
  assert.deepEqual({ cf: cf(f), pf: pf(f), af: af(f), zf: zf(f), sf: sf(f), of: of(f) }, bits, what);
  const base = [
    bits.of,
    bits.cf,
    bits.zf,
    bits.cf || bits.zf,
    bits.sf,
    bits.pf,
    bits.sf !== bits.of,
    bits.zf || bits.sf !== bits.of,
  ];
  for (let cc = 0; cc < 16; cc++)
    assert.equal(cond(f, cc), base[cc >> 1] !== ((cc & 1) === 1), `${what} cc=${cc}`);
}

/** Compare an op's result, high half, fault and RFLAGS with the model's. */
function same(f: Flags, want: Out, what: string, got: { ok?: boolean; high?: boolean } = {}): void {
  if (want.ok === false && got.ok !== undefined) assert.equal(got.ok, false, what);
  else {
    if (got.ok !== undefined) assert.equal(got.ok, true, what);
    assert.equal(join(f.resLo, f.resHi).toString(16), want.res.toString(16), `${what}: result`);
    if (got.high) assert.equal(join(f.hiLo, f.hiHi).toString(16), want.high!.toString(16), `${what}: high`);
  }
  assert.equal(readRflags(f).toString(16), want.flags.toString(16), `${what}: rflags`);
  checkLazy(f, what);
}

const RUNS = { numRuns: 2000 };
const hex = (v: bigint): string => `0x${v.toString(16)}`;

type Bin = (f: Flags, s: number, aLo: number, aHi: number, bLo: number, bHi: number) => void;

function binaryProperty(
  name: string,
  op: Bin,
  model: (s: number, a: bigint, b: bigint, fin: number) => Out,
  seed: number,
) {
  it(`${name}: result and flags match the model`, () => {
    fc.assert(
      fc.property(size, operand, operand, rflagsIn, prep, (s, a, b, fin0, p) => {
        const [f, fin] = start(fin0, p);
        op(f, s, lo(a), hi(a), lo(b), hi(b));
        same(
          f,
          model(s, a & maskOf(s), b & maskOf(s), fin),
          `${name}/${s * 8} ${hex(a)}, ${hex(b)} fin=${fin}`,
        );
      }),
      { seed, ...RUNS },
    );
  });
}

describe('x86 ALU: arithmetic and logic', () => {
  binaryProperty('add', alu.add, (s, a, b, fin) => refAdd(s, a, b, 0, fin), 1);
  binaryProperty('adc', alu.adc, (s, a, b, fin) => refAdd(s, a, b, fin & 1, fin), 2);
  binaryProperty('sub', alu.sub, (s, a, b, fin) => refSub(s, a, b, 0, fin), 3);
  binaryProperty('sbb', alu.sbb, (s, a, b, fin) => refSub(s, a, b, fin & 1, fin), 4);
  binaryProperty('cmp', alu.cmp, (s, a, b, fin) => refSub(s, a, b, 0, fin), 5);
  binaryProperty('and', alu.and, (s, a, b, fin) => refLogic(s, a & b, fin), 6);
  binaryProperty('or', alu.or, (s, a, b, fin) => refLogic(s, a | b, fin), 7);
  binaryProperty('xor', alu.xor, (s, a, b, fin) => refLogic(s, a ^ b, fin), 8);
  binaryProperty('test', alu.test, (s, a, b, fin) => refLogic(s, a & b, fin), 9);
  binaryProperty(
    'inc',
    (f, s, aLo, aHi) => alu.inc(f, s, aLo, aHi),
    (s, a, _b, fin) => refAdd(s, a, 1n, 0, fin, true),
    10,
  );
  binaryProperty(
    'dec',
    (f, s, aLo, aHi) => alu.dec(f, s, aLo, aHi),
    (s, a, _b, fin) => refSub(s, a, 1n, 0, fin, true),
    11,
  );
  binaryProperty(
    'neg',
    (f, s, aLo, aHi) => alu.neg(f, s, aLo, aHi),
    (s, a, _b, fin) => refSub(s, 0n, a, 0, fin),
    12,
  );
  binaryProperty(
    'not',
    (f, s, aLo, aHi) => alu.not(f, s, aLo, aHi),
    (s, a, _b, fin) => ({ res: ~a & maskOf(s), flags: fin }),
    13,
  );

  it('carries out of bit 31 into the high half, and out of bit 63', () => {
    const f = new Flags();
    alu.add(f, 8, 0xffff_ffff, 0, 1, 0);
    assert.deepEqual([u(f.resLo), u(f.resHi), cf(f), zf(f)], [0, 1, false, false]);
    alu.add(f, 8, 0xffff_ffff, 0xffff_ffff, 1, 0);
    assert.deepEqual([u(f.resLo), u(f.resHi), cf(f), zf(f), af(f), pf(f)], [0, 0, true, true, true, true]);
    alu.sub(f, 8, 0, 1, 1, 0); // 2^32 - 1: a borrow from the high half
    assert.deepEqual([u(f.resLo), u(f.resHi), cf(f)], [0xffff_ffff, 0, false]);
    writeRflags(f, RFLAGS_CF);
    alu.adc(f, 8, 0xffff_ffff, 0x7fff_ffff, 0, 0); // 0x7fff_ffff_ffff_ffff + 0 + CF
    assert.deepEqual([u(f.resLo), u(f.resHi), cf(f), of(f), sf(f)], [0, 0x8000_0000, false, true, true]);
  });

  it("overflows at 0x80000000 (and at each size's most negative value)", () => {
    const f = new Flags();
    alu.add(f, 4, 0x7fff_ffff, 0, 1, 0);
    assert.deepEqual([u(f.resLo), of(f), sf(f), cf(f), af(f)], [0x8000_0000, true, true, false, true]);
    alu.sub(f, 4, 0x8000_0000, 0, 1, 0);
    assert.deepEqual([u(f.resLo), of(f), sf(f), cf(f)], [0x7fff_ffff, true, false, false]);
    assert.equal(cond(f, 12), true, 'JL: -2^31 < 1 (SF = 0, OF = 1)');
    alu.neg(f, 4, 0x8000_0000, 0);
    assert.deepEqual([u(f.resLo), of(f), cf(f)], [0x8000_0000, true, true]);
    alu.neg(f, 1, 0x80, 0);
    assert.deepEqual([u(f.resLo), of(f)], [0x80, true]);
    alu.inc(f, 2, 0x7fff, 0);
    assert.deepEqual([u(f.resLo), of(f)], [0x8000, true]);
    alu.dec(f, 8, 0, 0x8000_0000);
    assert.deepEqual([u(f.resLo), u(f.resHi), of(f)], [0xffff_ffff, 0x7fff_ffff, true]);
  });

  it('INC and DEC keep CF; NOT keeps every flag, lazy or not', () => {
    const f = new Flags();
    alu.sub(f, 4, 0, 0, 1, 0); // CF = 1
    alu.inc(f, 4, 0xffff_ffff, 0);
    assert.deepEqual([u(f.resLo), cf(f), zf(f)], [0, true, true]);
    alu.dec(f, 4, 0, 0);
    assert.deepEqual([u(f.resLo), cf(f), zf(f), sf(f)], [0xffff_ffff, true, false, true]);
    const before = readRflags(f);
    alu.not(f, 8, 0x1234, 0xffff_0000);
    assert.deepEqual([u(f.resLo), u(f.resHi), readRflags(f)], [0xffff_edcb, 0xffff, before]);
  });

  it('takes operands as int32 or u32 patterns, ignoring bits above the size', () => {
    const f = new Flags();
    alu.add(f, 8, -1, -1, 1, 0);
    assert.deepEqual([u(f.resLo), u(f.resHi), cf(f)], [0, 0, true]);
    alu.add(f, 1, 0x1234_56ff, 0xdead, 0x101, 0xbeef);
    assert.deepEqual([u(f.resLo), u(f.resHi), cf(f), zf(f)], [0, 0, true, true]);
    alu.and(f, 4, -1, 5, 0x8000_0000, 7);
    assert.deepEqual([u(f.resLo), u(f.resHi), sf(f)], [0x8000_0000, 0, true]);
  });

  it('writeRflags keeps bit 1 set and drops reserved bits; readRflags leaves the system flags alone', () => {
    const f = new Flags();
    writeRflags(f, 0xffff_ffff);
    assert.equal(readRflags(f), 0x3f_7fd7);
    writeRflags(f, 0);
    assert.equal(readRflags(f), 2);
    writeRflags(f, RFLAGS_DF | 0x200);
    alu.sub(f, 2, 1, 0, 2, 0);
    assert.equal(f.op !== LAZY_NONE, true);
    assert.equal(readRflags(f), RFLAGS_DF | 0x200 | 2 | RFLAGS_CF | RFLAGS_AF | RFLAGS_SF | RFLAGS_PF);
  });
});

/** Both vendors' ALUs, each with a seed offset for its property runs. */
const VENDORS: [Alu, number][] = [
  [ALU_AMD, 0],
  [ALU_INTEL, 100],
];

describe('x86 ALU: shifts and rotates', () => {
  for (const [A, vs] of VENDORS) {
    const v = A.vendor;
    const kinds: [ShiftKind, Alu['shl'], number][] = [
      ['shl', A.shl, 20],
      ['shr', A.shr, 21],
      ['sar', A.sar, 22],
      ['rol', A.rol, 23],
      ['ror', A.ror, 24],
      ['rcl', A.rcl, 25],
      ['rcr', A.rcr, 26],
    ];
    for (const [kind, op, seed] of kinds) {
      it(`${kind} (${v}): result and flags match the bit-by-bit model`, () => {
        fc.assert(
          fc.property(size, operand, count, rflagsIn, prep, (s, a, c, fin0, p) => {
            const [f, fin] = start(fin0, p);
            op(f, s, lo(a), hi(a), c);
            same(
              f,
              refShift(v, kind, s, a & maskOf(s), c, fin),
              `${kind}/${s * 8} ${hex(a)} by ${c} fin=${fin}`,
            );
          }),
          { seed: seed + vs, ...RUNS },
        );
      });
    }
    for (const [name, op, left, seed] of [
      ['shld', A.shld, true, 27],
      ['shrd', A.shrd, false, 28],
    ] as const) {
      it(`${name} (${v}): result and flags match the bit-by-bit model (16, 32, 64-bit)`, () => {
        fc.assert(
          fc.property(
            fc.constantFrom(2, 4, 8),
            operand,
            operand,
            count,
            rflagsIn,
            prep,
            (s, a, b, c, fin0, p) => {
              const [f, fin] = start(fin0, p);
              op(f, s, lo(a), hi(a), lo(b), hi(b), c);
              const want = refDouble(v, left, s, a & maskOf(s), b & maskOf(s), c, fin);
              same(f, want, `${name}/${s * 8} ${hex(a)}, ${hex(b)} by ${c} fin=${fin}`);
            },
          ),
          { seed: seed + vs, ...RUNS },
        );
      });
    }

    it(`count 0 leaves every flag (lazy ones too); counts are masked to 5 or 6 bits (${v})`, () => {
      const f = new Flags();
      alu.sub(f, 4, 1, 0, 2, 0);
      const before = readRflags(f);
      for (const op of [A.shl, A.shr, A.sar, A.rol, A.ror, A.rcl, A.rcr]) {
        op(f, 4, 0x1234, 0, 32); // 32 & 31 = 0
        assert.deepEqual([u(f.resLo), readRflags(f)], [0x1234, before]);
      }
      for (const op of [A.shld, A.shrd]) {
        op(f, 2, 0x1234, 0, 0x5678, 0, 0x20);
        assert.deepEqual([u(f.resLo), readRflags(f)], [0x1234, before]);
      }
      A.shl(f, 8, 1, 0, 64); // 64 & 63 = 0
      assert.deepEqual([u(f.resLo), u(f.resHi), readRflags(f)], [1, 0, before]);
      A.shl(f, 8, 1, 0, 96); // 96 & 63 = 32
      assert.deepEqual([u(f.resLo), u(f.resHi)], [0, 1]);
    });
  }

  for (const [A] of VENDORS)
    it(`shifts by 1 set OF as defined; by the size, CF is the last bit out (${A.vendor})`, () => {
      shiftsByOne(A);
    });

  function shiftsByOne(A: Alu): void {
    const f = new Flags();
    A.shl(f, 4, 0x4000_0000, 0, 1);
    assert.deepEqual([u(f.resLo), cf(f), of(f)], [0x8000_0000, false, true]);
    A.shl(f, 4, 0xc000_0000, 0, 1);
    assert.deepEqual([u(f.resLo), cf(f), of(f)], [0x8000_0000, true, false]);
    A.shr(f, 2, 0x8001, 0, 1);
    assert.deepEqual([u(f.resLo), cf(f), of(f)], [0x4000, true, true]);
    A.sar(f, 1, 0x81, 0, 1);
    assert.deepEqual([u(f.resLo), cf(f), of(f)], [0xc0, true, false]);
    A.shl(f, 1, 0x01, 0, 8); // the operand's bit 0 is the last out
    assert.deepEqual([u(f.resLo), cf(f), zf(f)], [0, true, true]);
    A.shl(f, 1, 0xff, 0, 9); // past the operand: 0
    assert.deepEqual([u(f.resLo), cf(f)], [0, false]);
    A.shr(f, 2, 0x8000, 0, 16);
    assert.deepEqual([u(f.resLo), cf(f)], [0, true]);
    A.sar(f, 2, 0x8000, 0, 31); // the sign, however far
    assert.deepEqual([u(f.resLo), cf(f)], [0xffff, true]);
    A.shl(f, 8, 1, 0, 63);
    assert.deepEqual([u(f.resLo), u(f.resHi), cf(f), sf(f)], [0, 0x8000_0000, false, true]);
    A.shr(f, 8, 0, 0x8000_0000, 32);
    assert.deepEqual([u(f.resLo), u(f.resHi), cf(f)], [0x8000_0000, 0, false]);
    A.sar(f, 8, 0, 0x8000_0000, 63);
    assert.deepEqual([u(f.resLo), u(f.resHi), cf(f)], [0xffff_ffff, 0xffff_ffff, false]);
  }

  it('RCL/RCR rotate through CF modulo size + 1 (8-bit count 9 is no rotation), ROL/ROR modulo the size (Intel)', () => {
    const A = ALU_INTEL;
    const f = new Flags();
    writeRflags(f, RFLAGS_CF | RFLAGS_ZF);
    A.rcl(f, 1, 0x80, 0, 1);
    assert.deepEqual([u(f.resLo), cf(f), of(f), zf(f)], [0x01, true, true, true]);
    writeRflags(f, RFLAGS_CF | RFLAGS_OF);
    A.rcl(f, 1, 0x55, 0, 9); // 9 % 9 = 0: nothing changes
    assert.deepEqual([u(f.resLo), readRflags(f)], [0x55, RFLAGS_CF | RFLAGS_OF | 2]);
    A.rcl(f, 1, 0x55, 0, 10); // one bit: CF in at the bottom
    assert.deepEqual([u(f.resLo), cf(f)], [0xab, false]);
    A.rcr(f, 2, 0x0001, 0, 17); // 17 % 17 = 0
    assert.deepEqual([u(f.resLo), cf(f)], [0x0001, false]);
    A.rcr(f, 2, 0x0001, 0, 18);
    assert.deepEqual([u(f.resLo), cf(f)], [0x0000, true]);
    A.rcr(f, 8, 0, 0, 1); // CF into bit 63
    assert.deepEqual([u(f.resLo), u(f.resHi), cf(f), of(f)], [0, 0x8000_0000, false, true]);
    writeRflags(f, 0);
    A.rol(f, 1, 0x81, 0, 8); // no movement, but CF = LSB of the result
    assert.deepEqual([u(f.resLo), cf(f)], [0x81, true]);
    A.ror(f, 2, 0x0001, 0, 16);
    assert.deepEqual([u(f.resLo), cf(f)], [0x0001, false]);
    A.ror(f, 8, 1, 0, 1);
    assert.deepEqual([u(f.resLo), u(f.resHi), cf(f), of(f)], [0, 0x8000_0000, true, true]);
  });
});

describe('x86 ALU: bit tests and scans', () => {
  for (const [name, op, kind, seed] of [
    ['bt', alu.bt, 0, 30],
    ['bts', alu.bts, 1, 31],
    ['btr', alu.btr, 2, 32],
    ['btc', alu.btc, 3, 33],
  ] as const) {
    it(`${name}: CF is the bit (numbered modulo the size), the rest kept`, () => {
      fc.assert(
        fc.property(fc.constantFrom(2, 4, 8), operand, fc.nat(255), rflagsIn, prep, (s, a, i, fin0, p) => {
          const [f, fin] = start(fin0, p);
          op(f, s, lo(a), hi(a), i);
          same(f, refBt(kind, s, a & maskOf(s), i, fin), `${name}/${s * 8} ${hex(a)} bit ${i}`);
        }),
        { seed, ...RUNS },
      );
    });
  }
  for (const [name, op, forward, seed] of [
    ['bsf', alu.bsf, true, 34],
    ['bsr', alu.bsr, false, 35],
  ] as const) {
    it(`${name}: the index and ZF; a zero source is reported and not written`, () => {
      const src = fc.oneof(
        operand,
        fc.nat(63).map((k) => 1n << BigInt(k)),
      );
      fc.assert(
        fc.property(fc.constantFrom(2, 4, 8), src, rflagsIn, prep, (s, a, fin0, p) => {
          const [f, fin] = start(fin0, p);
          const ok = op(f, s, lo(a), hi(a));
          same(f, refScan(forward, s, a & maskOf(s), fin), `${name}/${s * 8} ${hex(a)}`, { ok });
        }),
        { seed, ...RUNS },
      );
    });
  }
});

describe('x86 ALU: multiply and divide', () => {
  for (const [A, vs] of VENDORS) {
    const v = A.vendor;
    for (const [name, op, isSigned, seed] of [
      ['mul', A.mul, false, 40],
      ['imul1', A.imul1, true, 41],
    ] as const) {
      it(`${name} (${v}): the double-width product and CF = OF`, () => {
        fc.assert(
          fc.property(size, operand, operand, rflagsIn, prep, (s, a, b, fin0, p) => {
            const [f, fin] = start(fin0, p);
            op(f, s, lo(a), hi(a), lo(b), hi(b));
            const want = refMul(v, isSigned, s, a & maskOf(s), b & maskOf(s), fin);
            same(f, want, `${name}/${s * 8} ${hex(a)} * ${hex(b)}`, { high: true });
          }),
          { seed: seed + vs, ...RUNS },
        );
      });
    }
    it(`imul2 (${v}): the truncated product and CF = OF (16, 32, 64-bit)`, () => {
      fc.assert(
        fc.property(fc.constantFrom(2, 4, 8), operand, operand, rflagsIn, prep, (s, a, b, fin0, p) => {
          const [f, fin] = start(fin0, p);
          A.imul2(f, s, lo(a), hi(a), lo(b), hi(b));
          const want = refMul(v, true, s, a & maskOf(s), b & maskOf(s), fin);
          same(f, want, `imul2/${s * 8} ${hex(a)} * ${hex(b)}`);
        }),
        { seed: 42 + vs, ...RUNS },
      );
    });

    for (const [name, op, isSigned, seed] of [
      ['div', A.div, false, 43],
      ['idiv', A.idiv, true, 44],
    ] as const) {
      it(`${name} (${v}): quotient and remainder, #DE on 0 or overflow (nothing changed), the vendor's flags`, () => {
        // Dividends whose high part is anything, or below the divisor (the quotient fits).
        const dividend = fc.tuple(operand, operand, fc.nat(3));
        fc.assert(
          fc.property(size, dividend, operand, rflagsIn, prep, (s, [n0, n1r, k], d, fin0, p) => {
            const [f, fin] = start(fin0, p);
            const dm = d & maskOf(s);
            const n1 = k === 0 || dm === 0n ? n1r : k === 1 ? n1r % dm : k === 2 ? 0n : maskOf(s);
            const ok = op(f, s, lo(n0), hi(n0), lo(n1), hi(n1), lo(d), hi(d));
            const want = refDiv(v, isSigned, s, n0 & maskOf(s), n1 & maskOf(s), dm, fin);
            same(f, want, `${name}/${s * 8} ${hex(n1)}:${hex(n0)} / ${hex(d)}`, { ok, high: true });
          }),
          { seed: seed + vs, ...RUNS },
        );
      });
    }
  }

  it('64/64 division (RDX = 0) by divisors of 2^32 and more: the estimated quotient is corrected exactly', () => {
    // Divisors just above 2^32 and near 2^64, dividends near their multiples: the double
    // estimate is off by one either way there.
    const near = (v: bigint) => fc.integer({ min: -3, max: 3 }).map((k) => (v + BigInt(k)) & M64);
    const divisor = fc.oneof(
      fc.bigInt({ min: 1n << 32n, max: M64 }),
      near(1n << 32n),
      near((1n << 32n) + 1n),
      near(M64),
      near(1n << 63n),
      fc.bigInt({ min: 1n << 32n, max: 1n << 40n }),
    );
    fc.assert(
      fc.property(divisor, fc.bigInt({ min: 0n, max: M64 }), fc.bigInt({ min: -3n, max: 3n }), (d, x, k) => {
        if (d < 1n << 32n) return;
        // Mostly q * d + small, so the remainder is near 0 or near d.
        const n = (((x % (M64 / d + 1n)) * d + k) & M64) as bigint;
        const f = new Flags();
        assert.equal(ALU_AMD.div(f, 8, lo(n), hi(n), 0, 0, lo(d), hi(d)), true);
        assert.equal(join(f.resLo, f.resHi), n / d, `${hex(n)} / ${hex(d)}`);
        assert.equal(join(f.hiLo, f.hiHi), n % d, `${hex(n)} % ${hex(d)}`);
      }),
      { seed: 45, numRuns: 5000 },
    );
  });

  it('64x64 products at the extremes', () => {
    const A = ALU_AMD;
    const f = new Flags();
    A.mul(f, 8, -1, -1, -1, -1); // (2^64-1)^2 = 2^128 - 2^65 + 1
    assert.deepEqual(
      [u(f.resLo), u(f.resHi), u(f.hiLo), u(f.hiHi), cf(f), of(f), zf(f)],
      [1, 0, 0xffff_fffe, 0xffff_ffff, true, true, false],
    );
    A.imul1(f, 8, 0, 0x8000_0000, 0, 0x8000_0000); // (-2^63)^2 = 2^126
    assert.deepEqual([u(f.resLo), u(f.resHi), u(f.hiLo), u(f.hiHi), cf(f)], [0, 0, 0, 0x4000_0000, true]);
    A.imul1(f, 8, -1, -1, -1, -1); // (-1)(-1)
    assert.deepEqual([u(f.resLo), u(f.resHi), u(f.hiLo), u(f.hiHi), cf(f)], [1, 0, 0, 0, false]);
    A.imul2(f, 4, 0x8000_0000, 0, -1, 0); // -2^31 * -1 overflows
    assert.deepEqual([u(f.resLo), cf(f), of(f)], [0x8000_0000, true, true]);
    A.imul2(f, 4, 0x1_0000, 0, 0x8000, 0); // 2^31 overflows; -2^31 would not
    assert.deepEqual([u(f.resLo), cf(f)], [0x8000_0000, true]);
    A.imul2(f, 4, 0x1_0000, 0, 0xffff_8000, 0);
    assert.deepEqual([u(f.resLo), cf(f)], [0x8000_0000, false]);
  });

  for (const [A] of VENDORS)
    it(`DIV quotient overflow and IDIV -2^63 / -1 raise #DE (false), leaving the state alone (${A.vendor})`, () => {
      const f = new Flags();
      alu.add(f, 4, 1, 0, 2, 0);
      const rf = readRflags(f);
      // After a division that did not fault: Intel keeps every flag; AMD keeps CF and OF, clears
      // SF ZF PF and sets AF.
      const after = A.vendor === 'intel' ? rf : (rf & ~(RFLAGS_SF | RFLAGS_ZF | RFLAGS_PF)) | RFLAGS_AF;
      const res = [f.resLo, f.resHi];
      assert.equal(A.div(f, 4, 0, 0, 1, 0, 1, 0), false, 'EDX:EAX = 2^32 by 1');
      assert.equal(A.div(f, 1, 0, 0, 0xff, 0, 0xff, 0), false, 'AX = 0xff00 by 0xff');
      assert.equal(A.div(f, 8, 0, 0, 5, 0, 5, 0), false, 'RDX = the divisor');
      assert.equal(A.div(f, 2, 7, 0, 0, 0, 0, 0), false, 'by zero');
      assert.equal(A.idiv(f, 8, 0, 0x8000_0000, -1, -1, -1, -1), false, '-2^63 / -1');
      assert.equal(A.idiv(f, 4, 0x8000_0000, 0, -1, 0, -1, 0), false, '-2^31 / -1');
      assert.equal(A.idiv(f, 1, 0x80, 0, 0xff, 0, 0xff, 0), false, '-128 / -1');
      assert.deepEqual([u(f.resLo), u(f.resHi), readRflags(f)], [...res, rf], 'nothing changed');
      assert.equal(A.idiv(f, 8, 0, 0x8000_0000, -1, -1, 1, 0), true, '-2^63 / 1 fits');
      assert.deepEqual(
        [u(f.resLo), u(f.resHi), u(f.hiLo), u(f.hiHi), readRflags(f)],
        [0, 0x8000_0000, 0, 0, after],
      );
      assert.equal(A.idiv(f, 4, -7, -1, -1, 0, 2, 0), true, '-7 / 2');
      assert.deepEqual([f.resLo | 0, f.hiLo | 0], [-3, -1], 'truncated toward 0, remainder takes the sign');
      // (2^64 - 2):(2^64 - 1) / (2^64 - 1): the largest quotient, by the BigInt path.
      assert.equal(A.div(f, 8, -1, -1, 0xffff_fffe, 0xffff_ffff, -1, -1), true);
      assert.deepEqual(
        [u(f.resLo), u(f.resHi), u(f.hiLo), u(f.hiHi)],
        [0xffff_ffff, 0xffff_ffff, 0xffff_fffe, 0xffff_ffff],
      );
      // ... and by 32-bit long division: (2^32 - 2):2^64-1 / (2^32 - 1).
      assert.equal(A.div(f, 8, -1, -1, 0xffff_fffe, 0, 0xffff_ffff, 0), true);
      assert.deepEqual(
        [u(f.resLo), u(f.resHi), u(f.hiLo), u(f.hiHi)],
        [0xffff_ffff, 0xffff_ffff, 0xffff_fffe, 0],
      );
    });
});

describe('x86 ALU: decimal adjust (16/32-bit modes)', () => {
  /** Every AL (or AX low byte with a few AHs) with every CF and AF. */
  function each(fn: (x: number, fin: number) => void): void {
    for (const ah of [0, 1, 0x7f, 0xff])
      for (let al = 0; al < 256; al++)
        for (const fin of [2, 2 | RFLAGS_CF, 2 | RFLAGS_AF, 2 | RFLAGS_CF | RFLAGS_AF | RFLAGS_OF])
          fn((ah << 8) | al, fin);
  }
  const logic8 = (al: number): number => szp(BigInt(al), 1);

  it('DAA and DAS follow the SDM (OF, undefined, cleared)', () => {
    each((x, fin) => {
      const al = x & 0xff;
      const c0 = fin & 1;
      const a0 = (fin & RFLAGS_AF) !== 0;
      for (const add of [true, false]) {
        let r = al;
        let c = 0;
        let a = 0;
        if ((al & 0xf) > 9 || a0) {
          const t = add ? r + 6 : r - 6;
          if (!add) c = c0 | (t < 0 ? 1 : 0);
          r = t & 0xff;
          a = 1;
        }
        if (al > 0x99 || c0) {
          r = (add ? r + 0x60 : r - 0x60) & 0xff;
          c = 1;
        } else if (add) c = 0;
        const f = new Flags();
        writeRflags(f, fin);
        (add ? alu.daa : alu.das)(f, al);
        assert.equal(f.resLo, r, `${add ? 'daa' : 'das'} ${al}`);
        assert.equal(readRflags(f), put(fin, RFLAGS_ARITH, c | flag(a, RFLAGS_AF) | logic8(r)));
      }
    });
  });

  it('AAA and AAS adjust AX by 0x106; AAM and AAD by any base; AAM 0 is #DE', () => {
    each((x, fin) => {
      const adj = (x & 0xf) > 9 || (fin & RFLAGS_AF) !== 0;
      for (const add of [true, false]) {
        const f = new Flags();
        writeRflags(f, fin);
        (add ? alu.aaa : alu.aas)(f, x);
        const r = ((adj ? (add ? x + 0x106 : x - 0x106) : x) & 0xff0f) >>> 0;
        assert.equal(f.resLo, r);
        assert.equal(
          readRflags(f),
          put(fin, RFLAGS_ARITH, flag(adj, RFLAGS_CF | RFLAGS_AF) | logic8(r & 0xff)),
        );
      }
      for (const base of [10, 7, 16, 1, 255]) {
        const f = new Flags();
        writeRflags(f, fin);
        assert.equal(alu.aam(f, x & 0xff, base), true);
        const al = (x & 0xff) % base;
        assert.equal(f.resLo, (Math.floor((x & 0xff) / base) << 8) | al);
        assert.equal(readRflags(f), put(fin, RFLAGS_ARITH, logic8(al)));
        alu.aad(f, x, base);
        const r = ((x & 0xff) + (x >> 8) * base) & 0xff;
        assert.equal(f.resLo, r);
        assert.equal(readRflags(f), put(fin, RFLAGS_ARITH, logic8(r)));
      }
    });
    const f = new Flags();
    assert.equal(alu.aam(f, 0x42, 0), false);
  });
});

describe('x86 ALU: where AMD and Intel differ (as measured; alu.ts)', () => {
  /** `op` from RFLAGS `fin` on each vendor's ALU: the result's low half and RFLAGS, by vendor. */
  function both(fin: number, op: (A: Alu, f: Flags) => unknown): Record<X86Vendor, [number, number]> {
    const out = {} as Record<X86Vendor, [number, number]>;
    for (const [A] of VENDORS) {
      const f = new Flags();
      writeRflags(f, fin);
      op(A, f);
      out[A.vendor] = [u(f.resLo), readRflags(f)];
    }
    return out;
  }
  const F = 2; // RFLAGS bit 1
  const CF = RFLAGS_CF;
  const PF = RFLAGS_PF;
  const AF = RFLAGS_AF;
  const ZF = RFLAGS_ZF;
  const SF = RFLAGS_SF;
  const OF = RFLAGS_OF;

  it('the ops they agree on are the same functions in both ALUs; aluFor picks by vendor', () => {
    const agreed = [
      'add',
      'adc',
      'sub',
      'sbb',
      'and',
      'or',
      'xor',
      'test',
      'inc',
      'dec',
      'neg',
      'not',
    ] as const;
    for (const k of [
      ...agreed,
      'bt',
      'bts',
      'btr',
      'btc',
      'bsf',
      'bsr',
      'daa',
      'das',
      'aaa',
      'aas',
      'aam',
      'aad',
    ] as const)
      assert.equal(ALU_AMD[k], ALU_INTEL[k], k);
    for (const k of [
      'shl',
      'shr',
      'sar',
      'rol',
      'ror',
      'rcl',
      'rcr',
      'shld',
      'shrd',
      'mul',
      'imul1',
      'imul2',
      'div',
      'idiv',
    ] as const)
      assert.notEqual(ALU_AMD[k], ALU_INTEL[k], k);
    assert.equal(aluFor('amd'), ALU_AMD);
    assert.equal(aluFor('intel'), ALU_INTEL);
  });

  it('SHL/SHR/SAR by more than 1: OF from the operand (Intel) or the result (AMD); AF 0 (Intel) or 1 (AMD)', () => {
    // 0x60 << 2 = 0x80, CF = bit 6 = 1: Intel OF = bit 7 ^ bit 6 of 0x60; AMD OF = bit 7 of 0x80 ^ CF.
    assert.deepEqual(
      both(F, (A, f) => A.shl(f, 1, 0x60, 0, 2)),
      { amd: [0x80, F | CF | AF | SF], intel: [0x80, F | CF | SF | OF] },
    );
    // Intel OF = the operand's MSB; AMD's is 0 past a count of 1.
    assert.deepEqual(
      both(F, (A, f) => A.shr(f, 4, 0x8000_0000, 0, 4)),
      { amd: [0x0800_0000, F | PF | AF], intel: [0x0800_0000, F | PF | OF] },
    );
    assert.deepEqual(
      both(F, (A, f) => A.sar(f, 2, 0x8000, 0, 3)),
      { amd: [0xf000, F | PF | AF | SF], intel: [0xf000, F | PF | SF] },
    );
  });

  it('rotates: OF from the operand (Intel) or the result (AMD); RCL/RCR by size + 1 set OF on AMD only', () => {
    // ROL 0x21 by 3 = 0x09, CF = 1: Intel OF = bit 7 ^ bit 6 of 0x21 = 0; AMD bit 7 of 0x09 ^ CF = 1.
    assert.deepEqual(
      both(F, (A, f) => A.rol(f, 1, 0x21, 0, 3)),
      { amd: [0x09, F | CF | OF], intel: [0x09, F | CF] },
    );
    // ROR 0x03 by 2 = 0xc0, CF = 1: Intel OF = bit 7 ^ bit 0 of 0x03 = 1; AMD bit 7 ^ bit 6 of 0xc0 = 0.
    assert.deepEqual(
      both(F, (A, f) => A.ror(f, 1, 0x03, 0, 2)),
      { amd: [0xc0, F | CF], intel: [0xc0, F | CF | OF] },
    );
    // No rotation (17 % 17): Intel changes nothing; AMD keeps CF, OF = bit 15 ^ bit 14 of 0x8000.
    assert.deepEqual(
      both(F | CF, (A, f) => A.rcr(f, 2, 0x8000, 0, 17)),
      { amd: [0x8000, F | CF | OF], intel: [0x8000, F | CF] },
    );
    // No rotation (9 % 9): AMD's OF = bit 7 of 0x40 ^ CF = 0, Intel keeps OF = 1.
    assert.deepEqual(
      both(F | OF, (A, f) => A.rcl(f, 1, 0x40, 0, 9)),
      { amd: [0x40, F], intel: [0x40, F | OF] },
    );
  });

  it('SHLD/SHRD: OF and AF as the shifts; 16-bit counts past 16 shift a:b:a (Intel) or a:b:b (AMD)', () => {
    // By 20: Intel (b << 4 | a >>> 12), CF = bit 12 of b; AMD b rotated left by 4, CF = OF = 0.
    assert.deepEqual(
      both(F, (A, f) => A.shld(f, 2, 0x1234, 0, 0x9bcd, 0, 20)),
      { amd: [0xbcd9, F | AF | SF], intel: [0xbcd1, F | CF | PF | SF] },
    );
    // By 20: Intel (b >>> 4 | a << 12), CF = bit 3 of b; AMD b rotated right by 4, CF = 0.
    assert.deepEqual(
      both(F, (A, f) => A.shrd(f, 2, 0x1234, 0, 0x9bcd, 0, 20)),
      { amd: [0xd9bc, F | AF | SF], intel: [0x49bc, F | CF | OF] },
    );
    // By 4: Intel OF = MSB(a) ^ LSB(b) = 1; AMD OF = bit 31 ^ bit 30 of the result = 0.
    assert.deepEqual(
      both(F, (A, f) => A.shrd(f, 4, 0x8000_0000, 0, 0, 0, 4)),
      { amd: [0x0800_0000, F | PF | AF], intel: [0x0800_0000, F | PF | OF] },
    );
  });

  it('MUL/IMUL: SF PF from the low half, ZF = AF = 0 (Intel); SF ZF AF PF kept (AMD)', () => {
    assert.deepEqual(
      both(F | ZF | AF | SF, (A, f) => A.mul(f, 1, 0x10, 0, 0x10, 0)),
      { amd: [0x00, F | CF | ZF | AF | SF | OF], intel: [0x00, F | CF | PF | OF] },
    );
    assert.deepEqual(
      both(F | ZF | PF, (A, f) => A.imul2(f, 4, 3, 0, -2, 0)),
      { amd: [0xffff_fffa, F | ZF | PF], intel: [0xffff_fffa, F | PF | SF] },
    );
  });

  it('DIV/IDIV: every flag kept (Intel); CF OF kept, SF ZF PF cleared, AF set (AMD)', () => {
    const fin = F | CF | PF | ZF | SF | OF;
    assert.deepEqual(
      both(fin, (A, f) => A.div(f, 1, 100, 0, 0, 0, 7, 0)),
      { amd: [14, F | CF | AF | OF], intel: [14, fin] },
    );
    assert.deepEqual(
      both(F | AF, (A, f) => A.idiv(f, 8, -7, -1, -1, -1, 2, 0)),
      { amd: [0xffff_fffd, F | AF], intel: [0xffff_fffd, F | AF] },
    );
  });
});
