/**
 * A CFI parallel flash (Intel command set), as QEMU's pflash_cfi01 gives the PC's firmware its
 * variable store. Reads are served by a read-only memslot over the flash bytes (QEMU's "ROMD" mode),
 * so only writes reach the device, as MMIO exits: under SEV-ES OVMF sends them itself, with an
 * MMIO-write VMGEXIT (QemuFlashPtrWrite), because KVM cannot emulate a store it cannot decode.
 *
 * Where we differ from QEMU: the memslot stays mapped after a command, so a guest that reads the
 * status register by plain loads sees the array instead (QEMU drops out of ROMD mode until the next
 * READ_ARRAY). OVMF reads status only when it probes for flash, which it skips under SEV-ES; a VMM that
 * unmaps the slot gets `read` calls and the status byte.
 */
import type { BusDevice } from '../bus.js';

/** The commands OVMF's QemuFlashFvbServicesRuntimeDxe sends (QemuFlash.h) and the CFI ones QEMU knows. */
export const PFLASH_READ_ARRAY = 0xff;
export const PFLASH_CLEAR_STATUS = 0x50;
export const PFLASH_READ_STATUS = 0x70;
export const PFLASH_WRITE_BYTE = 0x10;
export const PFLASH_WRITE_BYTE_ALT = 0x40;
export const PFLASH_BLOCK_ERASE = 0x20;
export const PFLASH_BLOCK_ERASE_CONFIRM = 0xd0;

/** Status register: write state machine ready. */
const STATUS_READY = 0x80;
/** Status register: erase or program error (a sequence the device did not accept). */
const STATUS_ERROR = 0x30;

/** The flash bytes behind the device (the memslot's backing, written through the host mapping). */
export interface PflashBacking {
  read(offset: number, dst: Uint8Array): void;
  write(offset: number, src: Uint8Array): void;
}

export interface PflashConfig {
  readonly size: number;
  /** Erase block size (QEMU's PC flash: 4 KiB). */
  readonly sectorSize?: number;
  readonly backing: PflashBacking;
}

/** The device's counters, for tests and the boot summary. */
export interface PflashStats {
  programmedBytes: number;
  erasedSectors: number;
}

export interface Pflash extends BusDevice {
  readonly stats: PflashStats;
}

/** A pflash over `config.backing`, to be registered on the MMIO bus at the flash's GPA. */
export function createPflash(config: PflashConfig): Pflash {
  const sector = config.sectorSize ?? 4096;
  const stats: PflashStats = { programmedBytes: 0, erasedSectors: 0 };
  /** The command awaiting its second cycle, or 0 in the first cycle. */
  let pending = 0;
  /** Whether a read returns the status register (after a command) or the array. */
  let statusMode = false;
  let status = STATUS_READY;

  const command = (offset: number, cmd: number): void => {
    switch (cmd) {
      case 0x00: // QEMU's reset value for READ_ARRAY
      case 0xf0:
      case PFLASH_READ_ARRAY:
        statusMode = false;
        return;
      case PFLASH_CLEAR_STATUS:
        status = STATUS_READY;
        return;
      case PFLASH_READ_STATUS:
        statusMode = true;
        return;
      case PFLASH_WRITE_BYTE:
      case PFLASH_WRITE_BYTE_ALT:
      case PFLASH_BLOCK_ERASE:
        pending = cmd;
        return;
      default:
        // Unknown commands (lock, CFI query, buffered write) go back to read-array mode, as QEMU's
        // reset_flash path does after logging them.
        void offset;
        statusMode = false;
    }
  };

  return {
    name: 'pflash',
    stats,
    read(offset, data) {
      if (statusMode) data.fill(status);
      else if (offset + data.length <= config.size) config.backing.read(offset, data);
      else data.fill(0xff);
    },
    write(offset, data) {
      if (offset + data.length > config.size) return;
      const value = data[0]!;
      if (pending === 0) return command(offset, value);
      const cmd = pending;
      pending = 0;
      statusMode = true;
      if (cmd === PFLASH_BLOCK_ERASE) {
        if (value !== PFLASH_BLOCK_ERASE_CONFIRM) {
          status |= STATUS_ERROR;
          return;
        }
        const start = offset - (offset % sector);
        config.backing.write(start, new Uint8Array(Math.min(sector, config.size - start)).fill(0xff));
        stats.erasedSectors++;
        status |= STATUS_READY;
        return;
      }
      // Program: QEMU stores the value as written (pflash_data_write), not ANDed into the cell.
      config.backing.write(offset, data);
      stats.programmedBytes += data.length;
      status |= STATUS_READY;
    },
  };
}
