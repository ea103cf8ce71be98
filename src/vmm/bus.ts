/**
 * One bus for port I/O and MMIO (kvmtool's/Firecracker's): address ranges map to devices, and an
 * access goes to the device whose range holds its first byte, with the offset into that range.
 * Unclaimed accesses are answered as the hardware would — port reads return all-ones (0xff bytes,
 * an ISA bus with nothing driving it), MMIO reads return zeros (the VMM's choice for holes; real
 * chipsets vary) — and are recorded for diagnostics.
 */
import { type VmmError, vmmError } from './errors.js';

/** A device behind the bus. `read` fills `data` (its length is the access size); `write` consumes it. */
export interface BusDevice {
  /** For diagnostics ("serial", "debug-exit", "mmio-reg"). */
  readonly name: string;
  read(offset: number, data: Uint8Array): void;
  write(offset: number, data: Uint8Array): void;
}

/** An access no device claimed. */
export interface UnclaimedAccess {
  readonly addr: number;
  readonly size: number;
  readonly write: boolean;
}

interface Mapping {
  readonly base: number;
  readonly size: number;
  readonly device: BusDevice;
}

/** How many unclaimed accesses a bus remembers (the oldest are dropped). */
export const UNCLAIMED_LOG_LIMIT = 256;

/** A port-I/O or MMIO bus. */
export class Bus {
  /** What the bus is ('pio' or 'mmio'), for diagnostics. */
  readonly space: 'pio' | 'mmio';
  /** The byte an unclaimed read returns: 0xff for port I/O, 0 for MMIO. */
  readonly unclaimedByte: number;
  /** Recent unclaimed accesses, oldest first (at most UNCLAIMED_LOG_LIMIT). */
  readonly unclaimed: UnclaimedAccess[] = [];
  /** Sorted by base, non-overlapping. */
  readonly #mappings: Mapping[] = [];

  /** A port-I/O bus ('pio': unclaimed reads are 0xff) or an MMIO bus ('mmio': unclaimed reads are 0). */
  constructor(space: 'pio' | 'mmio') {
    this.space = space;
    this.unclaimedByte = space === 'pio' ? 0xff : 0;
  }

  /** Claim [base, base + size) for `device`: EINVAL for an empty or negative range, EEXIST on overlap. */
  register(base: number, size: number, device: BusDevice): VmmError | undefined {
    if (!Number.isSafeInteger(base) || !Number.isSafeInteger(size) || base < 0 || size <= 0) {
      return vmmError('EINVAL', `${this.space} range 0x${base.toString(16)}+${size} for ${device.name}`);
    }
    const clash = this.#mappings.find((m) => base < m.base + m.size && m.base < base + size);
    if (clash) {
      return vmmError(
        'EEXIST',
        `${this.space} range 0x${base.toString(16)}+0x${size.toString(16)} for ${device.name} overlaps ${clash.device.name}`,
      );
    }
    this.#mappings.push({ base, size, device });
    this.#mappings.sort((a, b) => a.base - b.base);
    return undefined;
  }

  /** Release every range `device` holds (a device that moves: a BAR or a PCI-programmed I/O base). */
  unregister(device: BusDevice): void {
    for (let i = this.#mappings.length - 1; i >= 0; i--)
      if (this.#mappings[i]!.device === device) this.#mappings.splice(i, 1);
  }

  /** The device whose range holds `addr`, with the offset into it. */
  find(addr: number): { device: BusDevice; offset: number } | undefined {
    for (const m of this.#mappings) {
      if (addr >= m.base && addr < m.base + m.size) return { device: m.device, offset: addr - m.base };
    }
    return undefined;
  }

  /** A read of data.length bytes at addr: the device fills data, or the unclaimed byte does. */
  read(addr: number, data: Uint8Array): void {
    const hit = this.find(addr);
    if (hit) hit.device.read(hit.offset, data);
    else {
      data.fill(this.unclaimedByte);
      this.#record(addr, data.length, false);
    }
  }

  /** A write of data at addr: to the device, or recorded and dropped. */
  write(addr: number, data: Uint8Array): void {
    const hit = this.find(addr);
    if (hit) hit.device.write(hit.offset, data);
    else this.#record(addr, data.length, true);
  }

  #record(addr: number, size: number, write: boolean): void {
    if (this.unclaimed.length >= UNCLAIMED_LOG_LIMIT) this.unclaimed.shift();
    this.unclaimed.push({ addr, size, write });
  }
}
