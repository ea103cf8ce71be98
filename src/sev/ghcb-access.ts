/**
 * KVM's GHCB accessors (ghcb_get_X / ghcb_set_X in asm/svm.h; valid bits as bitmap words) over a 4 KiB page:
 * the mapped guest page, or the private snapshot current kernels validate against.
 *
 * The page is little-endian u64 fields, read here as u32 words (a field at offset o is words o/4
 * and o/4 + 1), as a little-endian host lays them out; bytes for the u8 fields and the bitmap bits.
 */
import { type Gprs, VCPU_REGS_RAX, VCPU_REGS_RBX, VCPU_REGS_RCX, VCPU_REGS_RDX } from '../cpu/backend.js';
import {
  assertLittleEndianHost,
  GHCB_OFF_RAX,
  GHCB_OFF_RBX,
  GHCB_OFF_RCX,
  GHCB_OFF_RDX,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_VALID_BITMAP,
  ghcbBitmapIdx,
} from '../uapi/ghcb.js';

// Fields are read as the host's 32-bit words: the GHCB is little-endian, and so is every host that matters.
assertLittleEndianHost('the GHCB accessors need a little-endian host');

/** Word index of valid_bitmap (16 bytes, 4 words). */
const W_BITMAP = GHCB_OFF_VALID_BITMAP >>> 2;

/**
 * The valid bit of the field at `offset` (GHCB_BITMAP_IDX) as a word index into the bitmap words
 * (readBitmap) and a mask in that word: precomputed per field, a bit test is one load and one AND.
 */
export const bitWord = (offset: number): number => ghcbBitmapIdx(offset) >>> 5;
export const bitMask = (offset: number): number => 1 << (ghcbBitmapIdx(offset) & 31);

const W_RAX = bitWord(GHCB_OFF_RAX);
const M_RAX = bitMask(GHCB_OFF_RAX);
const W_RBX = bitWord(GHCB_OFF_RBX);
const M_RBX = bitMask(GHCB_OFF_RBX);
const W_RCX = bitWord(GHCB_OFF_RCX);
const M_RCX = bitMask(GHCB_OFF_RCX);
const W_RDX = bitWord(GHCB_OFF_RDX);
const M_RDX = bitMask(GHCB_OFF_RDX);
const W_INFO_1 = bitWord(GHCB_OFF_SW_EXIT_INFO_1);
const M_INFO_1 = bitMask(GHCB_OFF_SW_EXIT_INFO_1);
const W_INFO_2 = bitWord(GHCB_OFF_SW_EXIT_INFO_2);
const M_INFO_2 = bitMask(GHCB_OFF_SW_EXIT_INFO_2);

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

  /** ghcb_set_sw_exit_info_1(0) and ghcb_set_sw_exit_info_2(0): svm_vmgexit_success with nothing to report. */
  setExitInfoZero(): void {
    const w = this.words;
    w[GHCB_OFF_SW_EXIT_INFO_1 >>> 2] = 0;
    w[(GHCB_OFF_SW_EXIT_INFO_1 >>> 2) + 1] = 0;
    w[GHCB_OFF_SW_EXIT_INFO_2 >>> 2] = 0;
    w[(GHCB_OFF_SW_EXIT_INFO_2 >>> 2) + 1] = 0;
    w[W_BITMAP + W_INFO_1]! |= M_INFO_1;
    w[W_BITMAP + W_INFO_2]! |= M_INFO_2;
  }

  /**
   * sev_es_sync_to_ghcb: ghcb_set_rax/rbx/rcx/rdx from the register array (`r`: two u32 words per
   * register), values and valid bits, in one call on every guest entry after a GHCB exit.
   */
  setGprs(r: Gprs): void {
    const w = this.words;
    w[GHCB_OFF_RAX >>> 2] = r[2 * VCPU_REGS_RAX]!;
    w[(GHCB_OFF_RAX >>> 2) + 1] = r[2 * VCPU_REGS_RAX + 1]!;
    w[GHCB_OFF_RBX >>> 2] = r[2 * VCPU_REGS_RBX]!;
    w[(GHCB_OFF_RBX >>> 2) + 1] = r[2 * VCPU_REGS_RBX + 1]!;
    w[GHCB_OFF_RCX >>> 2] = r[2 * VCPU_REGS_RCX]!;
    w[(GHCB_OFF_RCX >>> 2) + 1] = r[2 * VCPU_REGS_RCX + 1]!;
    w[GHCB_OFF_RDX >>> 2] = r[2 * VCPU_REGS_RDX]!;
    w[(GHCB_OFF_RDX >>> 2) + 1] = r[2 * VCPU_REGS_RDX + 1]!;
    w[W_BITMAP + W_RAX]! |= M_RAX;
    w[W_BITMAP + W_RBX]! |= M_RBX;
    w[W_BITMAP + W_RCX]! |= M_RCX;
    w[W_BITMAP + W_RDX]! |= M_RDX;
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
