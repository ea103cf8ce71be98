/**
 * Helpers shared by the uapi struct codecs' tests: a hand-built little-endian image (so a test states
 * each field's offset as a literal, independent of the codec's offset table) and the contract every
 * encodeX/decodeX pair keeps (see struct.ts). Test-only; nothing in src imports it.
 */
import assert from 'node:assert/strict';

/** 2^64 - 1. */
export const U64_MAX = 0xffff_ffff_ffff_ffffn;
/** Only bit 63 set: negative if misread as signed. */
export const U64_TOP = 0x8000_0000_0000_0000n;
/** 2^32 - 1. */
export const U32_MAX = 0xffff_ffff;

/** One field of a hand-built image: [offset, type, value]. */
export type Put =
  | readonly [number, 'u8' | 'u16' | 'u32', number]
  | readonly [number, 'u64', bigint]
  | readonly [number, 'bytes', Uint8Array];

/** A zeroed buffer of `size` bytes with the given little-endian fields written at literal offsets. */
export function image(size: number, puts: readonly Put[]): Uint8Array {
  const bytes = new Uint8Array(size);
  const dv = new DataView(bytes.buffer);
  for (const p of puts) {
    if (p[1] === 'u64') dv.setBigUint64(p[0], p[2], true);
    else if (p[1] === 'bytes') bytes.set(p[2], p[0]);
    else if (p[1] === 'u32') dv.setUint32(p[0], p[2], true);
    else if (p[1] === 'u16') dv.setUint16(p[0], p[2], true);
    else dv.setUint8(p[0], p[2]);
  }
  return bytes;
}

/** `n` bytes counting up from `start` (mod 256): a pattern where a shifted copy shows. */
export function ramp(n: number, start = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
}

/**
 * Checks the codec contract for `value`: encode gives a fresh buffer of exactly `size` bytes that
 * decodes back to `decoded` (default `value`); encoding into a larger, dirty `dst` (also one at a
 * non-zero byteOffset) overwrites exactly the first `size` bytes with the same image and returns
 * `dst`; a `dst` one byte short and a decode buffer one byte shorter than `minDecode` (default
 * `size`) are RangeErrors; bytes after the struct do not change what decodes.
 */
export function checkCodec<T>(c: {
  value: T;
  size: number;
  encode: (v: T, dst?: Uint8Array) => Uint8Array;
  decode: (b: Uint8Array) => unknown;
  decoded?: unknown;
  minDecode?: number;
}): void {
  const { value, size, encode, decode } = c;
  const decoded = 'decoded' in c ? c.decoded : value;
  const fresh = encode(value);
  assert.equal(fresh.length, size, 'fresh buffer has the exact size');
  assert.deepEqual(decode(fresh), decoded, 'round trip');

  const dst = new Uint8Array(size + 16).fill(0xab);
  assert.equal(encode(value, dst), dst, 'returns dst');
  assert.deepEqual(dst.subarray(0, size), fresh, 'dirty dst: same image, padding zeroed');
  assert.ok(
    dst.subarray(size).every((b) => b === 0xab),
    'bytes after the struct untouched',
  );
  assert.deepEqual(decode(dst), decoded, 'trailing bytes do not change the decode');

  const outer = new Uint8Array(size + 32).fill(0xcd);
  const inner = outer.subarray(5, 5 + size);
  encode(value, inner);
  assert.deepEqual(inner, fresh, 'dst at a byteOffset');
  assert.ok(
    outer.subarray(0, 5).every((b) => b === 0xcd) && outer.subarray(5 + size).every((b) => b === 0xcd),
  );
  assert.deepEqual(decode(inner), decoded, 'decode at a byteOffset');

  assert.throws(() => encode(value, new Uint8Array(size - 1)), RangeError, 'short dst');
  assert.throws(() => decode(new Uint8Array((c.minDecode ?? size) - 1)), RangeError, 'short decode');
}
