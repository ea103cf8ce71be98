/**
 * An MMIO RAM window: `size` bytes behind the MMIO bus (no memslot) that read back what was
 * written, for tests that move MMIO data through a scratch area. Bytes past the window read 0 and
 * ignore writes.
 */
import type { BusDevice } from '../bus.js';

/** The window: a bus device plus its bytes. */
export interface MmioRamDevice extends BusDevice {
  /** The window's contents (live). */
  readonly bytes: Uint8Array;
}

/** A zeroed window of `size` bytes. */
export function createMmioRam(name: string, size: number): MmioRamDevice {
  const bytes = new Uint8Array(size);
  return {
    name,
    bytes,
    read(offset, data) {
      for (let i = 0; i < data.length; i++) data[i] = bytes[offset + i] ?? 0;
    },
    write(offset, data) {
      const n = Math.max(0, Math.min(data.length, size - offset));
      bytes.set(data.subarray(0, n), offset);
    },
  };
}
