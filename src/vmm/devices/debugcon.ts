/**
 * QEMU's ISA debug console (-debugcon, hw/char/debugcon.c) at port 0x402, where OVMF's
 * PlatformDebugLibIoPort writes its DEBUG() log: every byte written is output; a read returns the
 * readback value 0xe9, which is how the firmware tells the port is there.
 */
import type { BusDevice } from '../bus.js';

export const DEBUGCON_PORT = 0x402;
/** What a read returns (QEMU's default readback). */
export const DEBUGCON_READBACK = 0xe9;

export interface Debugcon extends BusDevice {
  /** The bytes written so far, as text (Latin-1). */
  text(from?: number): string;
  /** Bytes written so far. */
  readonly length: number;
  /** Called with each complete line as it is written (the boot's live log). */
  onLine: ((line: string) => void) | undefined;
}

export function createDebugcon(): Debugcon {
  let out = '';
  let line = '';
  const dev: Debugcon = {
    name: 'debugcon',
    onLine: undefined,
    get length() {
      return out.length;
    },
    text: (from = 0) => out.slice(from),
    read(_offset, data) {
      data.fill(0);
      data[0] = DEBUGCON_READBACK;
    },
    write(_offset, data) {
      // An OUT writes its low byte only (the port is 8 bits wide).
      const ch = String.fromCharCode(data[0]!);
      out += ch;
      if (ch === '\n') {
        dev.onLine?.(line.replace(/\r$/, ''));
        line = '';
      } else line += ch;
    },
  };
  return dev;
}
