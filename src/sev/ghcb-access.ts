/**
 * KVM's GHCB accessors (ghcb_get_X / ghcb_set_X / ghcb_X_is_valid in asm/svm.h) over a 4 KiB page:
 * the mapped guest page, or the private snapshot current kernels validate against.
 */
import { GHCB_OFF_VALID_BITMAP } from '../uapi/ghcb.js';

/** Word index of valid_bitmap (16 bytes, 4 words). */
const W_BITMAP = GHCB_OFF_VALID_BITMAP >>> 2;

/** A GHCB page (or a copy of its save area) as KVM reads and writes it. */
export class GhcbAccess {
  readonly bytes: Uint8Array;
  /** The bytes as a little-endian DataView (KVM-internal: for hot paths that read many fields). */
  readonly view: DataView;
  /** The same bytes as 32-bit words, for byte-order-neutral copies and clears. */
  readonly #words: Uint32Array;

  /** `bytes`: the page or the snapshot; 4-byte aligned, a whole number of words. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  }

  /** The raw u64 at a save-area offset (ghcb_get_X, regardless of the valid bit). */
  get(offset: number): bigint {
    return this.view.getBigUint64(offset, true);
  }

  /** Bits 31:0 of the u64 at a save-area offset, as a number (no BigInt). */
  lo(offset: number): number {
    return this.view.getUint32(offset, true);
  }

  /** Bits 63:32 of the u64 at a save-area offset, as a number (no BigInt). */
  hi(offset: number): number {
    return this.view.getUint32(offset + 4, true);
  }

  /** ghcb_X_is_valid: the field's bit (offset / 8) in valid_bitmap. */
  isValid(offset: number): boolean {
    const idx = offset >>> 3;
    return (this.bytes[GHCB_OFF_VALID_BITMAP + (idx >>> 3)]! & (1 << (idx & 7))) !== 0;
  }

  /** ghcb_get_X_if_valid: the field, or 0 when its valid bit is clear. */
  getIfValid(offset: number): bigint {
    return this.isValid(offset) ? this.get(offset) : 0n;
  }

  /** ghcb_set_X: write the field and set its valid bit. */
  set(offset: number, value: bigint): void {
    if (value === 0n) {
      this.setParts(offset, 0, 0);
      return;
    }
    this.view.setBigUint64(offset, BigInt.asUintN(64, value), true);
    const idx = offset >>> 3;
    this.bytes[GHCB_OFF_VALID_BITMAP + (idx >>> 3)]! |= 1 << (idx & 7);
  }

  /** Set the valid bit of the field at `offset` (the second half of ghcb_set_X). */
  markValid(offset: number): void {
    const idx = offset >>> 3;
    this.bytes[GHCB_OFF_VALID_BITMAP + (idx >>> 3)]! |= 1 << (idx & 7);
  }

  /** ghcb_set_X with the value as two 32-bit halves (no BigInt). */
  setParts(offset: number, lo: number, hi: number): void {
    const v = this.view;
    v.setUint32(offset, lo, true);
    v.setUint32(offset + 4, hi, true);
    const idx = offset >>> 3;
    this.bytes[GHCB_OFF_VALID_BITMAP + (idx >>> 3)]! |= 1 << (idx & 7);
  }

  /** Copy `len` bytes (a multiple of 4) at `offset` from another GHCB view: a partial snapshot. */
  copyFrom(src: GhcbAccess, offset: number, len: number): void {
    const from = src.#words;
    const to = this.#words;
    const end = (offset + len) >>> 2;
    for (let w = offset >>> 2; w < end; w++) to[w] = from[w]!;
  }

  /** A u8 field (cpl). */
  getU8(offset: number): number {
    return this.bytes[offset]!;
  }

  /** ghcb_usage (u32 at 0xFFC); only meaningful on the full page. */
  getU32(offset: number): number {
    return this.view.getUint32(offset, true);
  }

  /** valid_bitmap as four little-endian u32 words into `dst` (bit i of the bitmap: word i >> 5). */
  readBitmap(dst: Uint32Array): void {
    const v = this.view;
    dst[0] = v.getUint32(GHCB_OFF_VALID_BITMAP, true);
    dst[1] = v.getUint32(GHCB_OFF_VALID_BITMAP + 4, true);
    dst[2] = v.getUint32(GHCB_OFF_VALID_BITMAP + 8, true);
    dst[3] = v.getUint32(GHCB_OFF_VALID_BITMAP + 12, true);
  }

  /** Store valid_bitmap from four little-endian u32 words (the inverse of readBitmap). */
  writeBitmap(src: Uint32Array): void {
    const v = this.view;
    v.setUint32(GHCB_OFF_VALID_BITMAP, src[0]!, true);
    v.setUint32(GHCB_OFF_VALID_BITMAP + 4, src[1]!, true);
    v.setUint32(GHCB_OFF_VALID_BITMAP + 8, src[2]!, true);
    v.setUint32(GHCB_OFF_VALID_BITMAP + 12, src[3]!, true);
  }

  /** memset(valid_bitmap, 0): what sync_from_ghcb and the prefix/seed error path do. */
  clearValidBitmap(): void {
    const w = this.#words;
    w[W_BITMAP] = 0;
    w[W_BITMAP + 1] = 0;
    w[W_BITMAP + 2] = 0;
    w[W_BITMAP + 3] = 0;
  }
}
