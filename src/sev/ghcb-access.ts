/**
 * KVM's GHCB accessors (ghcb_get_X / ghcb_set_X in asm/svm.h; valid bits as bitmap words) over a 4 KiB page:
 * the mapped guest page, or the private snapshot current kernels validate against.
 *
 * The page is little-endian u64 fields, read here as u32 words (a field at offset o is words o/4
 * and o/4 + 1), as a little-endian host lays them out; bytes for the u8 fields and the bitmap bits.
 */
import { assertLittleEndianHost, GHCB_OFF_VALID_BITMAP } from '../uapi/ghcb.js';

// Fields are read as the host's 32-bit words: the GHCB is little-endian, and so is every host that matters.
assertLittleEndianHost('the GHCB accessors need a little-endian host');

/** Word index of valid_bitmap (16 bytes, 4 words). */
const W_BITMAP = GHCB_OFF_VALID_BITMAP >>> 2;

/** A GHCB page (or a copy of its save area) as KVM reads and writes it. */
export class GhcbAccess {
  readonly bytes: Uint8Array;
  /** The same bytes as u32 words: word i is bytes 4i..4i+3. */
  readonly words: Uint32Array;

  /** `bytes`: the page or the snapshot; 4-byte aligned, a whole number of words. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  }

  /** The raw u64 at a save-area offset (ghcb_get_X, regardless of the valid bit). */
  get(offset: number): bigint {
    const w = this.words;
    return (BigInt(w[(offset >>> 2) + 1]!) << 32n) | BigInt(w[offset >>> 2]!);
  }

  /** Bits 31:0 of the u64 at a save-area offset, as a number (no BigInt). */
  lo(offset: number): number {
    return this.words[offset >>> 2]!;
  }

  /** Bits 63:32 of the u64 at a save-area offset, as a number (no BigInt). */
  hi(offset: number): number {
    return this.words[(offset >>> 2) + 1]!;
  }

  /** ghcb_set_X: write the field and set its valid bit. */
  set(offset: number, value: bigint): void {
    if (value === 0n) {
      this.setParts(offset, 0, 0);
      return;
    }
    const v = BigInt.asUintN(64, value);
    this.words[offset >>> 2] = Number(v & 0xffff_ffffn);
    this.words[(offset >>> 2) + 1] = Number(v >> 32n);
    const idx = offset >>> 3;
    this.bytes[GHCB_OFF_VALID_BITMAP + (idx >>> 3)]! |= 1 << (idx & 7);
  }

  /** ghcb_set_X with the value as two 32-bit halves (no BigInt). */
  setParts(offset: number, lo: number, hi: number): void {
    this.words[offset >>> 2] = lo;
    this.words[(offset >>> 2) + 1] = hi;
    const idx = offset >>> 3;
    this.bytes[GHCB_OFF_VALID_BITMAP + (idx >>> 3)]! |= 1 << (idx & 7);
  }

  /** A u8 field (cpl). */
  getU8(offset: number): number {
    return this.bytes[offset]!;
  }

  /** ghcb_usage (u32 at 0xFFC); only meaningful on the full page. */
  getU32(offset: number): number {
    return this.words[offset >>> 2]!;
  }

  /** valid_bitmap as four little-endian u32 words into `dst` (bit i of the bitmap: word i >> 5). */
  readBitmap(dst: Uint32Array): void {
    const w = this.words;
    dst[0] = w[W_BITMAP]!;
    dst[1] = w[W_BITMAP + 1]!;
    dst[2] = w[W_BITMAP + 2]!;
    dst[3] = w[W_BITMAP + 3]!;
  }

  /** Store valid_bitmap from four little-endian u32 words (the inverse of readBitmap). */
  writeBitmap(src: Uint32Array): void {
    const w = this.words;
    w[W_BITMAP] = src[0]!;
    w[W_BITMAP + 1] = src[1]!;
    w[W_BITMAP + 2] = src[2]!;
    w[W_BITMAP + 3] = src[3]!;
  }

  /** memset(valid_bitmap, 0): what sync_from_ghcb and the prefix/seed error path do. */
  clearValidBitmap(): void {
    const w = this.words;
    w[W_BITMAP] = 0;
    w[W_BITMAP + 1] = 0;
    w[W_BITMAP + 2] = 0;
    w[W_BITMAP + 3] = 0;
  }
}
