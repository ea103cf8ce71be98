/**
 * KVM's GHCB accessors (ghcb_get_X / ghcb_set_X / ghcb_X_is_valid in asm/svm.h) over a 4 KiB page:
 * the mapped guest page, or the private snapshot current kernels validate against.
 */
import { GHCB_OFF_VALID_BITMAP } from '../uapi/ghcb.js';

/** A GHCB page (or a copy of its save area) as KVM reads and writes it. */
export class GhcbAccess {
  readonly bytes: Uint8Array;
  readonly #view: DataView;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** The raw u64 at a save-area offset (ghcb_get_X, regardless of the valid bit). */
  get(offset: number): bigint {
    return this.#view.getBigUint64(offset, true);
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
    this.#view.setBigUint64(offset, BigInt.asUintN(64, value), true);
    const idx = offset >>> 3;
    this.bytes[GHCB_OFF_VALID_BITMAP + (idx >>> 3)]! |= 1 << (idx & 7);
  }

  /** A u8 field (cpl). */
  getU8(offset: number): number {
    return this.bytes[offset]!;
  }

  /** ghcb_usage (u32 at 0xFFC); only meaningful on the full page. */
  getU32(offset: number): number {
    return this.#view.getUint32(offset, true);
  }

  /** memset(valid_bitmap, 0): what sync_from_ghcb and the prefix/seed error path do. */
  clearValidBitmap(): void {
    this.bytes.fill(0, GHCB_OFF_VALID_BITMAP, GHCB_OFF_VALID_BITMAP + 16);
  }
}
