/**
 * Bytes the x86 suites write into guest memory: little-endian quadwords (descriptors, page-table
 * entries, imm64 operands), machine code given as hex, and 64-bit IDT gates.
 */

/** `v` as 8 little-endian bytes (its low 64 bits). */
export const u64le = (v: bigint): number[] =>
  Array.from({ length: 8 }, (_, k) => Number((v >> BigInt(8 * k)) & 0xffn));

/** Machine code written as whitespace-separated hex bytes ("48 89 e0"). */
export const hexBytes = (hex: string): Uint8Array =>
  Uint8Array.from(hex.split(/\s+/).map((x) => Number.parseInt(x, 16)));

/** A 64-bit interrupt gate to `offset` in CS 8: present, DPL 0, type 0xE, on IST `ist` (0: none). */
export function gate64(offset: number, ist = 0): number[] {
  const lo =
    BigInt(offset & 0xffff) |
    (8n << 16n) |
    (BigInt(ist) << 32n) |
    (0x8en << 40n) |
    (BigInt((offset >>> 16) & 0xffff) << 48n);
  return [...u64le(lo), ...u64le(BigInt(Math.floor(offset / 2 ** 32)))];
}
