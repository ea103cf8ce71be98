/**
 * The PC's CMOS/RTC (an MC146818 behind ports 0x70/0x71), as QEMU's mc146818rtc and pc_cmos_init
 * give it to firmware: an index register (bit 7 of a write is the NMI mask, not part of the index)
 * and 128 bytes of data, holding the memory sizes firmware reads before anything else (OVMF's
 * PlatformPei: 0x34/0x35 for RAM from 16 MiB to 4 GiB, 0x5b-0x5d above 4 GiB, in 64 KiB units),
 * the CPU count (0x5f) and a clock that reads the same time on every run (deterministic: the time
 * is given, in BCD, 24-hour). Status register A reports no update in progress, D a valid battery.
 */
import type { BusDevice } from '../bus.js';

/** The index and data ports. */
export const CMOS_PORT = 0x70;
export const CMOS_PORTS = 2;

const MIB = 1024 * 1024;
const KIB64 = 64 * 1024;

/** What the CMOS reports. */
export interface CmosConfig {
  /** RAM below 4 GiB, in bytes. */
  readonly ramBelow4g: number;
  /** RAM above 4 GiB, in bytes (default 0). */
  readonly ramAbove4g?: number;
  /** vCPUs (default 1). */
  readonly cpus?: number;
  /** The clock's time (default 2026-01-01 00:00:00 UTC): it does not advance. */
  readonly time?: Date;
}

const bcd = (v: number): number => ((Math.floor(v / 10) % 10) << 4) | (v % 10);

/** QEMU's CMOS bytes for `c` (pc_cmos_init, rtc_set_date_from_host). */
export function cmosBytes(c: CmosConfig): Uint8Array {
  const b = new Uint8Array(128);
  const t = c.time ?? new Date(Date.UTC(2026, 0, 1));
  b[0x00] = bcd(t.getUTCSeconds());
  b[0x02] = bcd(t.getUTCMinutes());
  b[0x04] = bcd(t.getUTCHours());
  b[0x06] = bcd(t.getUTCDay() + 1);
  b[0x07] = bcd(t.getUTCDate());
  b[0x08] = bcd(t.getUTCMonth() + 1);
  b[0x09] = bcd(t.getUTCFullYear() % 100);
  b[0x32] = bcd(Math.floor(t.getUTCFullYear() / 100)); // century
  b[0x0a] = 0x26; // 32.768 kHz divider, 1024 Hz rate; UIP clear
  b[0x0b] = 0x02; // 24-hour, BCD
  b[0x0d] = 0x80; // valid RAM and time
  // Base memory: 640 KiB.
  b[0x15] = 640 & 0xff;
  b[0x16] = 640 >> 8;
  // Extended memory from 1 MiB, in KiB, at most 0xffff (0x17/0x18 and the copy at 0x30/0x31).
  const ext = Math.min(0xffff, Math.max(0, (c.ramBelow4g - MIB) / 1024));
  b[0x17] = b[0x30] = ext & 0xff;
  b[0x18] = b[0x31] = ext >> 8;
  // From 16 MiB to 4 GiB, in 64 KiB units.
  const above16 = Math.min(0xffff, Math.max(0, Math.floor((c.ramBelow4g - 16 * MIB) / KIB64)));
  b[0x34] = above16 & 0xff;
  b[0x35] = above16 >> 8;
  // Above 4 GiB, in 64 KiB units (three bytes).
  const high = Math.floor((c.ramAbove4g ?? 0) / KIB64);
  b[0x5b] = high & 0xff;
  b[0x5c] = (high >> 8) & 0xff;
  b[0x5d] = (high >> 16) & 0xff;
  b[0x5f] = (c.cpus ?? 1) - 1;
  return b;
}

/** The CMOS as a bus device at CMOS_PORT: offset 0 the index, 1 the data. */
export function createCmos(c: CmosConfig): BusDevice {
  const bytes = cmosBytes(c);
  let index = 0;
  return {
    name: 'cmos',
    read(offset, data) {
      // The index port reads back as QEMU's does (0xff: write-only); the data port the byte.
      data.fill(offset === 0 ? 0xff : bytes[index]!);
    },
    write(offset, data) {
      if (offset === 0) index = data[0]! & 0x7f;
      // The clock and the status registers' writes are accepted and change nothing the model reads.
      else if (index >= 0x0e) bytes[index] = data[0]!;
    },
  };
}
