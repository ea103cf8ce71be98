/**
 * x87 memory operands: byte images read and written through the MMU (a store checks every page
 * first, so a faulting one stores nothing), and the typed operands the x87 instructions read
 * (single, double, extended, 16/32/64-bit integers) converted to extended.
 */
import { F80_BYTES, floatBitsToF80, intToF80 } from '../f80.js';
import type { Exec } from '../insn.js';
import { readLinear, writeLinear } from '../mmu.js';
import { probeWrite } from './sse.js';

type X86Cpu = Parameters<Exec>[0];

/** A memory operand's type. */
export const M32FP = 0;
export const M64FP = 1;
export const M80FP = 2;
export const M16INT = 3;
export const M32INT = 4;
export const M64INT = 5;

/** Bytes of each operand type. */
export const OPERAND_BYTES = [4, 8, 10, 2, 4, 8] as const;

/** `n` bytes at a linear address. */
export function loadBytes(cpu: X86Cpu, la: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  const v = new DataView(out.buffer);
  let k = 0;
  for (; k + 8 <= n; k += 8) {
    v.setUint32(k, readLinear(cpu, la + k, 8), true);
    v.setUint32(k + 4, cpu.hi, true);
  }
  for (; k + 2 <= n; k += 2) v.setUint16(k, readLinear(cpu, la + k, 2), true);
  return out;
}

/** Store `bytes` (an even length) at a linear address, every page checked first. */
export function storeBytes(cpu: X86Cpu, la: number, bytes: Uint8Array): void {
  const n = bytes.length;
  probeWrite(cpu, la, n);
  const v = new DataView(bytes.buffer, bytes.byteOffset, n);
  let k = 0;
  for (; k + 8 <= n; k += 8) writeLinear(cpu, la + k, 8, v.getUint32(k, true), v.getUint32(k + 4, true));
  for (; k + 2 <= n; k += 2) writeLinear(cpu, la + k, 2, v.getUint16(k, true), 0);
}

/** A little-endian image as an unsigned bigint. */
export function bytesToBigint(b: Uint8Array): bigint {
  let v = 0n;
  for (let k = b.length - 1; k >= 0; k--) v = (v << 8n) | BigInt(b[k]!);
  return v;
}

/** The low `n` bytes of a bigint, little-endian. */
export function bigintToBytes(v: bigint, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, k) => Number((v >> BigInt(8 * k)) & 0xffn));
}

/**
 * The operand of type `type` at a linear address, as extended into `out` (10 bytes at 0): the
 * flags the conversion raises (IE for a signalling single/double NaN, DE for a denormal).
 */
export function loadOperand(cpu: X86Cpu, la: number, type: number, out: Uint8Array): number {
  const raw = loadBytes(cpu, la, OPERAND_BYTES[type]!);
  switch (type) {
    case M32FP:
      return floatBitsToF80(out, 0, bytesToBigint(raw), 32);
    case M64FP:
      return floatBitsToF80(out, 0, bytesToBigint(raw), 64);
    case M80FP:
      out.set(raw.subarray(0, F80_BYTES));
      return 0;
    default:
      intToF80(out, 0, BigInt.asIntN(8 * raw.length, bytesToBigint(raw)));
      return 0;
  }
}
