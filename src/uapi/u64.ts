/**
 * u64 values (GHCB MSR, GHCB fields, registers) split into and joined from two 32-bit halves without
 * BigInt arithmetic: every `v & mask` or `v >> 32n` allocates a BigInt, while going through an
 * 8-byte scratch buffer does not. The split is exact for any bigint: like `BigInt.asUintN(64, v)`,
 * it takes the low 64 bits of the two's complement, which is what masking bits 63:0 reads.
 */

const scratch = new DataView(new ArrayBuffer(8));
const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** Bits 31:0 of `v` (as `Number(v & 0xffff_ffffn)`). */
export function u64Lo(v: bigint): number {
  scratch.setBigUint64(0, v, true);
  return scratch.getUint32(0, true);
}

/** Bits 63:32 of `v` (as `Number((v >> 32n) & 0xffff_ffffn)`). */
export function u64Hi(v: bigint): number {
  scratch.setBigUint64(0, v, true);
  return scratch.getUint32(4, true);
}

/** The u64 `hi:lo` (each taken modulo 2^32). */
export function u64Join(lo: number, hi: number): bigint {
  scratch.setUint32(0, lo >>> 0, true);
  scratch.setUint32(4, hi >>> 0, true);
  return scratch.getBigUint64(0, true);
}

/** True when `v` is in [0, 2^64), i.e. joining its halves gives `v` back. */
export function isU64(v: bigint): boolean {
  return v >= 0n && v <= U64_MAX;
}
