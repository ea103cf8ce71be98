/**
 * The 80-bit extended format module: conversions to and from doubles, singles, integers, rounding
 * by RC (ties to even, the directed modes, overflow and denormal results), NaN payloads, classes,
 * exact comparison and the FPREM/FPREM1 remainder. Expected bit patterns are worked out by hand
 * from the formats' definitions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CLASS_DENORMAL,
  CLASS_INFINITY,
  CLASS_NAN,
  CLASS_NORMAL,
  CLASS_UNSUPPORTED,
  CLASS_ZERO,
  classF80,
  compareF80,
  F80_BYTES,
  FSW_DE,
  FSW_IE,
  FSW_OE,
  FSW_PE,
  FSW_UE,
  f80ToFloatBits,
  f80ToInt,
  f80ToNumber,
  floatBitsToF80,
  intToF80,
  numberToF80,
  RC_DOWN,
  RC_NEAREST,
  RC_UP,
  RC_ZERO,
  remainderF80,
  roundF80ToInteger,
  unpackF80,
} from './f80.js';

/** An extended value from its sign/exponent word and significand. */
function f80(se: number, sig: bigint): Uint8Array {
  const b = new Uint8Array(F80_BYTES);
  for (let k = 0; k < 8; k++) b[k] = Number((sig >> BigInt(8 * k)) & 0xffn);
  b[8] = se & 0xff;
  b[9] = se >> 8;
  return b;
}
/** The sign/exponent word and significand of an extended value. */
function parts(b: Uint8Array): [number, bigint] {
  let sig = 0n;
  for (let k = 7; k >= 0; k--) sig = (sig << 8n) | BigInt(b[k]!);
  return [b[8]! | (b[9]! << 8), sig];
}
function fromNumber(x: number): Uint8Array {
  const b = new Uint8Array(F80_BYTES);
  numberToF80(b, 0, x);
  return b;
}
function fromInt(v: bigint): Uint8Array {
  const b = new Uint8Array(F80_BYTES);
  intToF80(b, 0, v);
  return b;
}
const ONE = 0x8000_0000_0000_0000n;

describe('f80: doubles', () => {
  it('numbers convert exactly and back, signed zeros, infinities and the smallest denormal included', () => {
    assert.deepEqual(parts(fromNumber(1)), [0x3fff, ONE]);
    assert.deepEqual(parts(fromNumber(-2.5)), [0xc000, 0xa000_0000_0000_0000n]);
    assert.deepEqual(parts(fromNumber(-0)), [0x8000, 0n]);
    assert.deepEqual(parts(fromNumber(Number.NEGATIVE_INFINITY)), [0xffff, ONE]);
    // 2^-1074: a double denormal, a normal extended number.
    assert.deepEqual(parts(fromNumber(5e-324)), [16383 - 1074, ONE]);
    assert.deepEqual(parts(fromNumber(Number.NaN)), [0xffff, 0xc000_0000_0000_0000n]);
    for (const x of [1, -2.5, 0.1, Math.PI, 5e-324, 2.2250738585072014e-308, Number.MAX_VALUE, -Infinity])
      assert.equal(f80ToNumber(fromNumber(x)), x);
    assert.ok(Object.is(f80ToNumber(fromNumber(-0)), -0));
  });

  it('extended to double rounds to nearest even once', () => {
    // 11 bits go: 0x400 is exactly half an ulp of 1.0 (even: stays), 0x401 just above (up).
    assert.equal(f80ToNumber(f80(0x3fff, ONE | 0x400n)), 1);
    assert.equal(f80ToNumber(f80(0x3fff, ONE | 0x401n)), 1 + 2 ** -52);
    // 1 + 2^-52 + half an ulp: odd, so the tie goes up.
    assert.equal(f80ToNumber(f80(0x3fff, ONE | 0xc00n)), 1 + 2 ** -51);
  });

  it('beyond the double range: infinity, zero; NaN and unsupported read as NaN', () => {
    assert.equal(f80ToNumber(f80(0x7ffe, ONE)), Infinity);
    assert.equal(f80ToNumber(f80(0xfffe, ONE)), -Infinity);
    assert.equal(f80ToNumber(f80(0x0000, 1n)), 0);
    assert.ok(Number.isNaN(f80ToNumber(f80(0x7fff, ONE | 1n))));
    assert.ok(Number.isNaN(f80ToNumber(f80(0x3fff, 0x4000_0000_0000_0000n))));
  });
});

describe('f80: classes', () => {
  it('zero, denormal, pseudo-denormal, normal, infinity, NaN, unnormal and pseudo-infinity', () => {
    assert.equal(classF80(f80(0x8000, 0n)), CLASS_ZERO);
    assert.equal(classF80(f80(0, 1n)), CLASS_DENORMAL);
    assert.equal(classF80(f80(0, ONE)), CLASS_DENORMAL);
    assert.equal(classF80(f80(0x3fff, ONE)), CLASS_NORMAL);
    assert.equal(classF80(f80(0xffff, ONE)), CLASS_INFINITY);
    assert.equal(classF80(f80(0x7fff, ONE | 5n)), CLASS_NAN);
    assert.equal(classF80(f80(0x3fff, 1n)), CLASS_UNSUPPORTED);
    assert.equal(classF80(f80(0x7fff, 0n)), CLASS_UNSUPPORTED);
  });
});

describe('f80: singles and doubles as stored (FST, FLD m32/m64)', () => {
  it('rounds by RC: 1 + 2^-60 to double', () => {
    const x = f80(0x3fff, ONE | 8n);
    assert.deepEqual(f80ToFloatBits(x, 0, 64, RC_NEAREST), { bits: 0x3ff0_0000_0000_0000n, flags: FSW_PE });
    assert.deepEqual(f80ToFloatBits(x, 0, 64, RC_UP), { bits: 0x3ff0_0000_0000_0001n, flags: FSW_PE });
    assert.deepEqual(f80ToFloatBits(x, 0, 64, RC_DOWN), { bits: 0x3ff0_0000_0000_0000n, flags: FSW_PE });
    const neg = f80(0xbfff, ONE | 8n);
    assert.equal(f80ToFloatBits(neg, 0, 64, RC_DOWN).bits, 0xbff0_0000_0000_0001n);
    assert.equal(f80ToFloatBits(neg, 0, 64, RC_ZERO).bits, 0xbff0_0000_0000_0000n);
  });

  it('overflow: infinity by nearest, the largest finite number toward zero', () => {
    const big = f80(0x3fff + 200, ONE);
    assert.deepEqual(f80ToFloatBits(big, 0, 32, RC_NEAREST), { bits: 0x7f80_0000n, flags: FSW_OE | FSW_PE });
    assert.deepEqual(f80ToFloatBits(big, 0, 32, RC_ZERO), { bits: 0x7f7f_ffffn, flags: FSW_OE | FSW_PE });
    assert.equal(f80ToFloatBits(f80(0xbfff + 200, ONE), 0, 32, RC_UP).bits, 0xff7f_ffffn);
  });

  it('denormal results: exact (no flags) and tiny-inexact (UE, PE)', () => {
    assert.deepEqual(f80ToFloatBits(f80(0x3fff - 140, ONE), 0, 32, RC_NEAREST), { bits: 0x200n, flags: 0 });
    // 2^-150 · 1.5 rounds to the smallest denormal 2^-149.
    assert.deepEqual(f80ToFloatBits(f80(0x3fff - 150, 0xc000_0000_0000_0000n), 0, 32, RC_NEAREST), {
      bits: 1n,
      flags: FSW_UE | FSW_PE,
    });
    // An extended denormal operand reports DE.
    assert.equal(f80ToFloatBits(f80(0, 1n), 0, 64, RC_NEAREST).flags & FSW_DE, FSW_DE);
  });

  it('NaN payloads carry across; a signalling NaN is quieted with IE', () => {
    const b = new Uint8Array(F80_BYTES);
    assert.equal(floatBitsToF80(b, 0, 0x7ff0_0000_0000_0001n, 64), FSW_IE);
    assert.deepEqual(parts(b), [0x7fff, 0xc000_0000_0000_0800n]);
    assert.equal(floatBitsToF80(b, 0, 0xffc0_0001n, 32), 0);
    assert.deepEqual(parts(b), [0xffff, 0xc000_0100_0000_0000n]);
    assert.deepEqual(f80ToFloatBits(b, 0, 32, RC_NEAREST), { bits: 0xffc0_0001n, flags: 0 });
    // The f80 SNaN to double: quieted, IE.
    assert.deepEqual(f80ToFloatBits(f80(0x7fff, ONE | (1n << 11n)), 0, 64, RC_NEAREST), {
      bits: 0x7ff8_0000_0000_0001n,
      flags: FSW_IE,
    });
    // A single denormal loads exactly, with DE.
    assert.equal(floatBitsToF80(b, 0, 1n, 32), FSW_DE);
    assert.deepEqual(parts(b), [0x3fff - 149, ONE]);
  });
});

describe('f80: integers', () => {
  it('FILD is exact: 2^63 - 1, -2^63, -1, 0', () => {
    assert.deepEqual(parts(fromInt(2n ** 63n - 1n)), [0x3fff + 62, 0xffff_ffff_ffff_fffen]);
    assert.deepEqual(parts(fromInt(-(2n ** 63n))), [0x8000 | (0x3fff + 63), ONE]);
    assert.deepEqual(parts(fromInt(-1n)), [0xbfff, ONE]);
    assert.deepEqual(parts(fromInt(0n)), [0, 0n]);
  });

  it('rounds by RC, ties to even; out of range and NaN are undefined', () => {
    const cases: [number, number, bigint][] = [
      [2.5, RC_NEAREST, 2n],
      [3.5, RC_NEAREST, 4n],
      [-2.5, RC_NEAREST, -2n],
      [-2.5, RC_DOWN, -3n],
      [2.1, RC_UP, 3n],
      [-2.9, RC_UP, -2n],
      [-2.9, RC_ZERO, -2n],
      [1e-300, RC_UP, 1n],
      [-1e-300, RC_DOWN, -1n],
    ];
    for (const [x, rc, v] of cases)
      assert.deepEqual(f80ToInt(fromNumber(x), 0, 32, rc), { v, inexact: true }, `${x}`);
    assert.deepEqual(f80ToInt(fromNumber(-32768), 0, 16, RC_NEAREST), { v: -32768n, inexact: false });
    assert.equal(f80ToInt(fromNumber(32768), 0, 16, RC_NEAREST), undefined);
    assert.equal(f80ToInt(fromNumber(32767.5), 0, 16, RC_NEAREST), undefined);
    assert.equal(f80ToInt(fromInt(2n ** 63n - 1n), 0, 64, RC_NEAREST)?.v, 2n ** 63n - 1n);
    assert.equal(f80ToInt(fromNumber(2 ** 63), 0, 64, RC_NEAREST), undefined);
    assert.equal(f80ToInt(fromNumber(Number.NaN), 0, 64, RC_NEAREST), undefined);
    assert.equal(f80ToInt(fromNumber(Infinity), 0, 32, RC_NEAREST), undefined);
  });

  it('FRNDINT keeps a zero result signed and reports PE', () => {
    const b = fromNumber(-0.3);
    assert.equal(roundF80ToInteger(b, 0, RC_NEAREST), FSW_PE);
    assert.deepEqual(parts(b), [0x8000, 0n]);
    const c = fromNumber(2.5);
    assert.equal(roundF80ToInteger(c, 0, RC_UP), FSW_PE);
    assert.equal(f80ToNumber(c), 3);
    assert.equal(roundF80ToInteger(c, 0, RC_UP), 0);
  });
});

describe('f80: comparison and remainder', () => {
  it('compares exactly (beyond double precision), zeros equal, NaN unordered', () => {
    assert.equal(compareF80(fromInt(2n ** 63n - 1n), 0, fromInt(2n ** 63n - 2n), 0), 1);
    assert.equal(compareF80(fromNumber(-0), 0, fromNumber(0), 0), 0);
    assert.equal(compareF80(fromNumber(-Infinity), 0, f80(0x8000, 1n), 0), -1);
    assert.equal(compareF80(f80(0x8000, 1n), 0, f80(0x0000, 1n), 0), -1);
    assert.equal(compareF80(fromNumber(-3), 0, fromNumber(-2), 0), -1);
    assert.equal(compareF80(fromNumber(Number.NaN), 0, fromNumber(1), 0), undefined);
  });

  it('FPREM truncates the quotient, FPREM1 rounds it to nearest', () => {
    const out = new Uint8Array(F80_BYTES);
    const [x, y] = [unpackF80(fromNumber(7)), unpackF80(fromNumber(2))];
    assert.equal(remainderF80(x, y, false, out, 0), 3);
    assert.equal(f80ToNumber(out), 1);
    assert.equal(remainderF80(x, y, true, out, 0), 4);
    assert.equal(f80ToNumber(out), -1);
    assert.equal(remainderF80(unpackF80(fromNumber(-7)), y, false, out, 0), 3);
    assert.equal(f80ToNumber(out), -1);
    // A huge exponent difference still reduces completely: 2^1000 = 3q + 1, q = 0x5555…5 (odd).
    assert.equal(remainderF80(unpackF80(fromNumber(2 ** 1000)), unpackF80(fromNumber(3)), false, out, 0), 5);
    assert.equal(f80ToNumber(out), 1);
  });
});
