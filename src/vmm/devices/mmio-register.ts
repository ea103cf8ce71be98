/**
 * An MMIO register bank: `size / 8` little-endian 64-bit registers, each starting at `value`. Any
 * access width at any offset reads or writes the bytes it covers; bytes past the bank read 0 and
 * ignore writes.
 */
import type { BusDevice } from '../bus.js';

/** The bank: a bus device plus a way to look at its registers. */
export interface MmioRegisterDevice extends BusDevice {
  /** Register `index` (offset index * 8). */
  register(index: number): bigint;
}

/** A bank of `size` bytes (rounded up to whole registers) whose registers all hold `value`. */
export function createMmioRegisters(name: string, size: number, value = 0n): MmioRegisterDevice {
  const count = Math.ceil(size / 8);
  const bytes = new Uint8Array(count * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < count; i++) view.setBigUint64(i * 8, BigInt.asUintN(64, value), true);
  return {
    name,
    read(offset, data) {
      for (let i = 0; i < data.length; i++) data[i] = bytes[offset + i] ?? 0;
    },
    write(offset, data) {
      const n = Math.max(0, Math.min(data.length, bytes.length - offset));
      bytes.set(data.subarray(0, n), offset);
    },
    register: (index) => view.getBigUint64(index * 8, true),
  };
}
