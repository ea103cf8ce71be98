/**
 * QEMU's isa-debug-exit: a write of value v ends the run with exit code (v << 1) | 1, so a guest can
 * report success or failure to the test harness. Reads return 0xff bytes (nothing to read). The
 * value is the written bytes, little-endian, whatever the access size.
 */
import type { BusDevice } from '../bus.js';

/** QEMU's default iobase. */
export const DEBUG_EXIT_PORT = 0x501;
/** QEMU's default iosize. */
export const DEBUG_EXIT_PORTS = 2;

/** The device: a bus device plus the exit code requested, if any. */
export interface DebugExitDevice extends BusDevice {
  /** The code of the last exit request not yet taken; `take` clears it. */
  pending(): number | undefined;
  take(): number | undefined;
}

/** A debug-exit device with no exit requested. */
export function createDebugExit(): DebugExitDevice {
  let code: number | undefined;
  return {
    name: 'debug-exit',
    read(_offset, data) {
      data.fill(0xff);
    },
    write(_offset, data) {
      let v = 0;
      for (let i = Math.min(data.length, 4) - 1; i >= 0; i--) v = v * 256 + data[i]!;
      code = v * 2 + 1;
    },
    pending: () => code,
    take() {
      const c = code;
      code = undefined;
      return c;
    },
  };
}
