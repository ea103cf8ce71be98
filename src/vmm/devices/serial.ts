/**
 * A 16550-style UART, the subset a guest's early console uses: writes to THR (+0) are captured as
 * output, LSR (+5) always reports the transmitter empty and idle (0x60), RBR (+0) reads 0 (no
 * input). With LCR.DLAB (bit 7) set, +0/+1 are the divisor latch. Every other register is a plain
 * byte that reads back what was written. Multi-byte accesses act byte by byte on consecutive
 * registers.
 */
import type { BusDevice } from '../bus.js';

/** COM1's base port. */
export const SERIAL_COM1 = 0x3f8;
/** The UART's eight registers. */
export const SERIAL_PORTS = 8;

const THR = 0;
const LCR = 3;
const LSR = 5;
const LCR_DLAB = 0x80;
/** THRE | TEMT: transmit holding register and transmitter empty. */
const LSR_IDLE = 0x60;

/** The UART: a bus device plus the output it captured. */
export interface SerialDevice extends BusDevice {
  /** Every byte the guest transmitted, in order. */
  output(): Uint8Array;
  /** The output from byte `from` on, as text (Latin-1, a character per byte). */
  text(from?: number): string;
}

/** A fresh UART with no output. */
export function createSerial(): SerialDevice {
  const regs = new Uint8Array(SERIAL_PORTS);
  const divisor = new Uint8Array(2);
  let out = new Uint8Array(256);
  let len = 0;
  const dlab = (): boolean => (regs[LCR]! & LCR_DLAB) !== 0;
  const emit = (b: number): void => {
    if (len === out.length) {
      const grown = new Uint8Array(out.length * 2);
      grown.set(out);
      out = grown;
    }
    out[len++] = b;
  };
  const readReg = (r: number): number => {
    if (r < 2 && dlab()) return divisor[r]!;
    if (r === THR) return 0;
    if (r === LSR) return LSR_IDLE;
    return regs[r] ?? 0xff;
  };
  const writeReg = (r: number, v: number): void => {
    if (r < 2 && dlab()) divisor[r] = v;
    else if (r === THR) emit(v);
    else if (r < SERIAL_PORTS) regs[r] = v;
  };
  return {
    name: 'serial',
    read(offset, data) {
      for (let i = 0; i < data.length; i++) data[i] = readReg(offset + i);
    },
    write(offset, data) {
      for (let i = 0; i < data.length; i++) writeReg(offset + i, data[i]!);
    },
    output: () => out.slice(0, len),
    text(from = 0) {
      let s = '';
      // In chunks: spreading a long output into one call would overflow the stack.
      for (let i = from; i < len; i += 4096)
        s += String.fromCharCode(...out.subarray(i, Math.min(len, i + 4096)));
      return s;
    },
  };
}
