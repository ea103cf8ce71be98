/**
 * The i440FX/PIIX chipset functions firmware looks for on QEMU's "pc" machine: the host bridge at
 * 00:00.0 (8086:1237, which OVMF reads to tell pc from q35), the PIIX3 ISA bridge at 00:01.0
 * (8086:7000) and the PIIX4 power-management function at 00:01.3 (8086:7113), whose PMBA (0x40)
 * and PMREGMISC (0x80, bit 0) place the ACPI PM I/O block. Of that block the PM timer (+8) counts:
 * a 24-bit counter at 3.579545 MHz. The model's clock is deterministic: every read of the timer
 * moves it on by PM_TIMER_TICKS_PER_READ (about 100 µs), so firmware delay loops end after the same
 * reads on every run instead of after wall-clock time.
 */
import type { Bus, BusDevice } from '../bus.js';
import { bdf, type PciFunction, pciConfig } from './pci-host.js';

/** The PM timer's advance per read: 358 ticks of 3.579545 MHz, about 100 µs. */
export const PM_TIMER_TICKS_PER_READ = 358;
/** The PM I/O block's size (PIIX4: 64 bytes). */
const PM_IO_SIZE = 64;
const PMBA = 0x40;
const PMREGMISC = 0x80;

/** A function whose configuration space takes writes to the command register and `writable` bytes. */
function simpleFunction(
  at: number,
  config: Uint8Array,
  writable: (offset: number) => boolean,
  after?: () => void,
): PciFunction {
  return {
    bdf: at,
    config,
    write(offset, data) {
      for (let i = 0; i < data.length; i++) {
        const o = offset + i;
        if (o < 256 && (o === 0x04 || o === 0x05 || writable(o))) config[o] = data[i]!;
      }
      after?.();
    },
  };
}

/** The ACPI PM I/O block: PM1 status/enable/control as plain registers, the timer at +8. */
function pmIo(): BusDevice & { ticks: number } {
  const regs = new Uint8Array(PM_IO_SIZE);
  const dev = {
    name: 'piix4-pm',
    ticks: 0,
    read(offset: number, data: Uint8Array) {
      if (offset >= 8 && offset < 12) {
        dev.ticks = (dev.ticks + PM_TIMER_TICKS_PER_READ) & 0xff_ffff;
        for (let i = 0; i < data.length; i++)
          data[i] = offset - 8 + i < 4 ? (dev.ticks >>> (8 * (offset - 8 + i))) & 0xff : 0;
        return;
      }
      for (let i = 0; i < data.length; i++) data[i] = regs[offset + i] ?? 0xff;
    },
    write(offset: number, data: Uint8Array) {
      for (let i = 0; i < data.length; i++) if (offset + i < PM_IO_SIZE) regs[offset + i] = data[i]!;
    },
  };
  return dev;
}

/** The three functions, and the PM block they place on `pio` when firmware enables it. */
export function createI440fx(pio: Bus): PciFunction[] {
  const host = simpleFunction(bdf(0, 0, 0), pciConfig(0x8086, 0x1237, 0x060000, 2), (o) => o >= 0x40);
  const isa = simpleFunction(bdf(0, 1, 0), pciConfig(0x8086, 0x7000, 0x060100, 0, 0x80), (o) => o >= 0x40);
  const pmConfig = pciConfig(0x8086, 0x7113, 0x068000, 3);
  pmConfig[PMBA] = 1; // an I/O-space base
  const io = pmIo();
  const place = (): void => {
    pio.unregister(io);
    const base = (pmConfig[PMBA]! | (pmConfig[PMBA + 1]! << 8)) & 0xffc0;
    if (pmConfig[PMREGMISC]! & 1 && base !== 0) pio.register(base, PM_IO_SIZE, io);
  };
  const pm = simpleFunction(
    bdf(0, 1, 3),
    pmConfig,
    (o) => o >= 0x40,
    () => {
      pmConfig[PMBA] = (pmConfig[PMBA]! & 0xc0) | 1; // bits 5:1 reserved, bit 0 reads 1
      place();
    },
  );
  return [host, isa, pm];
}
