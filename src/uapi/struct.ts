/**
 * Plumbing shared by the uapi struct codecs (regs.ts, sregs.ts, msrs.ts, ...): a bounds-checked
 * reader and a zero-filling, range-checking writer over little-endian bytes. Not a uapi struct.
 *
 * Conventions every codec follows: `encodeX(value, dst?)` writes at offset 0 of `dst` (or of a fresh
 * buffer of exactly the struct's size), zeroes every byte of the struct first so reserved and padding
 * bytes are 0, and throws RangeError when `dst` is too short or a field does not fit its C type.
 * `decodeX(bytes)` reads from offset 0 and throws RangeError when `bytes` is shorter than the struct
 * (the ioctl layer maps a short buffer to EFAULT itself). Decoded byte arrays are copies.
 */

import { isU64 } from './u64.js';

/** A little-endian view on the first `size` bytes of `bytes`; RangeError when `bytes` is shorter. */
export function structView(bytes: Uint8Array, size: number, struct: string): DataView {
  if (bytes.length < size) {
    throw new RangeError(`struct ${struct} needs ${size} bytes, buffer has ${bytes.length}`);
  }
  return new DataView(bytes.buffer, bytes.byteOffset, size);
}

/** Reads fields of one struct instance at `base` within a view. */
export class StructReader {
  constructor(
    readonly dv: DataView,
    readonly base = 0,
  ) {}

  /** A reader for the nested struct at `off`. */
  at(off: number): StructReader {
    return new StructReader(this.dv, this.base + off);
  }

  u8(off: number): number {
    return this.dv.getUint8(this.base + off);
  }
  u16(off: number): number {
    return this.dv.getUint16(this.base + off, true);
  }
  u32(off: number): number {
    return this.dv.getUint32(this.base + off, true);
  }
  s32(off: number): number {
    return this.dv.getInt32(this.base + off, true);
  }
  u64(off: number): bigint {
    return this.dv.getBigUint64(this.base + off, true);
  }
  /** `n` consecutive u64s starting at `off`. */
  u64s(off: number, n: number): bigint[] {
    const out: bigint[] = [];
    for (let i = 0; i < n; i++) out.push(this.u64(off + 8 * i));
    return out;
  }
  /** A copy of `len` bytes starting at `off`. */
  bytes(off: number, len: number): Uint8Array {
    const start = this.dv.byteOffset + this.base + off;
    return new Uint8Array(this.dv.buffer.slice(start, start + len));
  }
}

/**
 * Writes fields of one struct instance at `base` within a view, checking each value against its C
 * type (RangeError naming `struct.field` otherwise).
 */
export class StructWriter {
  constructor(
    readonly struct: string,
    readonly dv: DataView,
    readonly base = 0,
  ) {}

  /** A writer for the nested struct `field` at `off` (errors name it `struct.field.member`). */
  at(off: number, field: string): StructWriter {
    return new StructWriter(`${this.struct}.${field}`, this.dv, this.base + off);
  }

  #uint(field: string, v: number, bits: number): number {
    if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) {
      throw new RangeError(`${this.struct}.${field} ${v} is not a u${bits}`);
    }
    return v;
  }

  u8(off: number, field: string, v: number): void {
    this.dv.setUint8(this.base + off, this.#uint(field, v, 8));
  }
  u16(off: number, field: string, v: number): void {
    this.dv.setUint16(this.base + off, this.#uint(field, v, 16), true);
  }
  u32(off: number, field: string, v: number): void {
    this.dv.setUint32(this.base + off, this.#uint(field, v, 32), true);
  }
  u64(off: number, field: string, v: bigint): void {
    if (typeof v !== 'bigint' || !isU64(v)) {
      throw new RangeError(`${this.struct}.${field} ${v} is not a u64`);
    }
    this.dv.setBigUint64(this.base + off, v, true);
  }
  /** Exactly `n` u64s from `vs` starting at `off`. */
  u64s(off: number, field: string, vs: readonly bigint[], n: number): void {
    if (vs.length !== n) throw new RangeError(`${this.struct}.${field} needs ${n} entries, got ${vs.length}`);
    for (let i = 0; i < n; i++) this.u64(off + 8 * i, `${field}[${i}]`, vs[i]!);
  }
  /** Exactly `len` bytes from `src` at `off`. */
  bytes(off: number, field: string, src: Uint8Array, len: number): void {
    if (src.length !== len)
      throw new RangeError(`${this.struct}.${field} is ${len} bytes, got ${src.length}`);
    new Uint8Array(this.dv.buffer, this.dv.byteOffset + this.base + off, len).set(src);
  }
}

/**
 * The output buffer of an encoder: `dst` (at least `size` bytes, else RangeError) or a fresh buffer
 * of exactly `size` bytes; its first `size` bytes are zeroed. Returns the buffer and a writer on it.
 */
export function structOut(
  dst: Uint8Array | undefined,
  size: number,
  struct: string,
): { bytes: Uint8Array; w: StructWriter } {
  const bytes = dst ?? new Uint8Array(size);
  const dv = structView(bytes, size, struct);
  bytes.fill(0, 0, size);
  return { bytes, w: new StructWriter(struct, dv) };
}

/** A reader on the first `size` bytes of `bytes`; RangeError when `bytes` is shorter. */
export function structIn(bytes: Uint8Array, size: number, struct: string): StructReader {
  return new StructReader(structView(bytes, size, struct));
}

/**
 * How many entries of `entrySize` bytes after a `headerSize`-byte header a decoder reads: the
 * declared `count`, or fewer when `byteLength` holds fewer.
 */
export function entriesThatFit(
  count: number,
  byteLength: number,
  headerSize: number,
  entrySize: number,
): number {
  return Math.min(count, Math.floor((byteLength - headerSize) / entrySize));
}
