/**
 * The PC's 8254 interval timer in the VMM (QEMU's hw/timer/i8254.c and i8254_common.c with
 * kernel-irqchip=off): three counters at 1.193182 MHz behind ports 0x40-0x43, the control word,
 * counter and read-back latches, LSB/MSB/word access, modes 0-5, and channel 0's output on ISA IRQ0
 * (OVMF's 8254TimerDxe programs mode 3 for its tick). Port 0x61 carries channel 2's gate (bit 0), the
 * speaker data enable (bit 1), the refresh toggle (bit 4) and channel 2's output (bit 5), as QEMU's
 * pcspk gives them.
 *
 * Time is the VMM's clock (virtual and deterministic in the model: HostClock). The counters are
 * computed from it when read; the VMM calls `sync` before it runs a vCPU to raise IRQ0 for the
 * periods that ended, and arms its host timer at `nextDeadline`. Ticks missed while the vCPU ran
 * are coalesced into one edge (the 8259 latches edges), where QEMU's lost-tick policy may
 * reinject them.
 */
import type { BusDevice } from '../bus.js';

export const PIT_PORT = 0x40;
export const PIT_PORTS = 4;
export const PORT_61 = 0x61;
/** The counters' input clock, Hz. */
export const PIT_FREQ = 1_193_182;

const NS_PER_S = 1e9;
const RW_LSB = 1;
const RW_MSB = 2;
const RW_WORD0 = 3;
const RW_WORD1 = 4;

interface Channel {
  /** The initial count (0 stands for 0x10000). */
  count: number;
  latchedCount: number;
  countLatched: number;
  statusLatched: boolean;
  status: number;
  readState: number;
  writeState: number;
  writeLatch: number;
  rwMode: number;
  mode: number;
  bcd: number;
  gate: boolean;
  /** When the count was loaded, ns. */
  loadTime: number;
  /** Whether a count was ever loaded (the output does nothing before). */
  loaded: boolean;
}

const newChannel = (gate: boolean): Channel => ({
  count: 0x10000,
  latchedCount: 0,
  countLatched: 0,
  statusLatched: false,
  status: 0,
  readState: RW_LSB,
  writeState: RW_LSB,
  writeLatch: 0,
  rwMode: 0,
  mode: 0,
  bcd: 0,
  gate,
  loadTime: 0,
  loaded: false,
});

const FREQ_N = BigInt(PIT_FREQ);
const NS_PER_S_N = BigInt(NS_PER_S);

/**
 * Input-clock ticks elapsed since `c`'s count was loaded (muldiv64). In integers: a double's 53
 * bits hold ns × PIT_FREQ only for the first 7.5 s after the load, and a periodic count is loaded
 * once, so a rounded product would put ticks on the wrong side of an edge (`timeOf`'s time would
 * not reach its tick, and `sync` would raise the same edge again and again).
 */
const ticksSince = (c: Channel, now: number): number =>
  Number((BigInt(Math.floor(now - c.loadTime)) * FREQ_N) / NS_PER_S_N);

/** The first ns at which `ticks` input-clock ticks after the load have elapsed. */
const timeOf = (c: Channel, ticks: number): number =>
  c.loadTime + Number((BigInt(ticks) * NS_PER_S_N + FREQ_N - 1n) / FREQ_N);

/** pit_get_count. */
function getCount(c: Channel, now: number): number {
  const d = ticksSince(c, now);
  switch (c.mode) {
    case 0:
    case 1:
    case 4:
    case 5:
      return (c.count - d) & 0xffff;
    case 3:
      return c.count - ((2 * d) % c.count);
    default:
      return c.count - (d % c.count);
  }
}

/** pit_get_out. */
function getOut(c: Channel, now: number): boolean {
  const d = ticksSince(c, now);
  switch (c.mode) {
    case 0:
      return d >= c.count;
    case 1:
      return d < c.count;
    case 2:
      return d % c.count === 0 && d !== 0;
    case 3:
      return d % c.count < (c.count + 1) >> 1;
    default:
      return d === c.count;
  }
}

/** The next time after `now` that channel 0's output rises (an IRQ0 edge), or undefined. */
function nextEdge(c: Channel, now: number): number | undefined {
  if (!c.loaded || !c.gate) return undefined;
  const d = ticksSince(c, now);
  switch (c.mode) {
    case 0:
    case 4:
      return d < c.count ? timeOf(c, c.count) : undefined;
    case 2:
    case 3:
      return timeOf(c, (Math.floor(d / c.count) + 1) * c.count);
    default:
      return undefined;
  }
}

export interface I8254 {
  /** Ports 0x40-0x43. */
  readonly ports: BusDevice;
  /** Port 0x61 (channel 2 gate/output, refresh toggle). */
  readonly port61: BusDevice;
  /** Raise IRQ0 (through `raiseIrq0`) if channel 0's output rose since the last sync. */
  sync(now: number): void;
  /** When channel 0's output next rises, ns; undefined when it will not. */
  nextDeadline(): number | undefined;
}

/**
 * An 8254 on the VMM's clock `now`; `pulseIrq0` is channel 0's output rising (the PIC latches the
 * edge: the line is raised and lowered).
 */
export function createI8254(now: () => number, pulseIrq0: () => void): I8254 {
  const ch = [newChannel(true), newChannel(true), newChannel(false)];
  let nextIrq0: number | undefined;
  let refresh = 0;
  /** Port 0x61 bit 1, the speaker data enable: kept and read back (pcspk's data_on). */
  let speakerData = 0;

  const load = (c: Channel, val: number): void => {
    c.count = val === 0 ? 0x10000 : val;
    c.loadTime = now();
    c.loaded = true;
    if (c === ch[0]) nextIrq0 = nextEdge(c, c.loadTime);
  };

  const latchCount = (c: Channel): void => {
    if (c.countLatched) return;
    c.latchedCount = getCount(c, now());
    c.countLatched = c.rwMode;
  };

  const readChannel = (c: Channel): number => {
    if (c.statusLatched) {
      c.statusLatched = false;
      return c.status;
    }
    if (c.countLatched) {
      switch (c.countLatched) {
        case RW_LSB:
          c.countLatched = 0;
          return c.latchedCount & 0xff;
        case RW_MSB:
          c.countLatched = 0;
          return (c.latchedCount >> 8) & 0xff;
        default:
          // RW_WORD0 (the control word's access mode 3): LSB, then MSB.
          c.countLatched = RW_MSB;
          return c.latchedCount & 0xff;
      }
    }
    const count = getCount(c, now());
    switch (c.readState) {
      case RW_LSB:
        return count & 0xff;
      case RW_MSB:
        return (count >> 8) & 0xff;
      case RW_WORD0:
        c.readState = RW_WORD1;
        return count & 0xff;
      default:
        c.readState = RW_WORD0;
        return (count >> 8) & 0xff;
    }
  };

  const writeControl = (val: number): void => {
    const channel = val >> 6;
    if (channel === 3) {
      // Read-back: bit 5 clear latches counts, bit 4 clear latches status, for the channels in 3:1.
      for (let i = 0; i < 3; i++) {
        if (!(val & (2 << i))) continue;
        const c = ch[i]!;
        if (!(val & 0x20)) latchCount(c);
        if (!(val & 0x10) && !c.statusLatched) {
          c.status = ((getOut(c, now()) ? 1 : 0) << 7) | (c.rwMode << 4) | (c.mode << 1) | c.bcd;
          c.statusLatched = true;
        }
      }
      return;
    }
    const c = ch[channel]!;
    const access = (val >> 4) & 3;
    if (access === 0) {
      latchCount(c);
      return;
    }
    c.rwMode = access;
    c.readState = access;
    c.writeState = access;
    c.mode = (val >> 1) & 7;
    if (c.mode > 5) c.mode -= 4; // 6 and 7 are 2 and 3
    c.bcd = val & 1;
  };

  const writeChannel = (c: Channel, val: number): void => {
    switch (c.writeState) {
      case RW_LSB:
        load(c, val);
        break;
      case RW_MSB:
        load(c, val << 8);
        break;
      case RW_WORD0:
        c.writeLatch = val;
        c.writeState = RW_WORD1;
        break;
      default:
        load(c, c.writeLatch | (val << 8));
        c.writeState = RW_WORD0;
    }
  };

  return {
    ports: {
      name: 'pit',
      read(offset, data) {
        data.fill(0);
        data[0] = offset === 3 ? 0 : readChannel(ch[offset]!);
      },
      write(offset, data) {
        if (offset === 3) writeControl(data[0]!);
        else writeChannel(ch[offset]!, data[0]!);
      },
    },
    port61: {
      name: 'port61',
      read(_offset, data) {
        const c = ch[2]!;
        refresh ^= 1;
        data.fill(0);
        data[0] =
          (c.gate ? 1 : 0) |
          (speakerData << 1) |
          (refresh << 4) |
          ((c.loaded && getOut(c, now()) ? 1 : 0) << 5);
      },
      write(_offset, data) {
        const c = ch[2]!;
        const gate = (data[0]! & 1) !== 0;
        speakerData = (data[0]! >> 1) & 1;
        // A rising gate restarts the count in modes 1, 2, 3 and 5 (pit_set_gate).
        if (gate && !c.gate && c.mode !== 0 && c.mode !== 4) c.loadTime = now();
        c.gate = gate;
      },
    },
    sync(t) {
      if (nextIrq0 === undefined || t < nextIrq0) return;
      pulseIrq0();
      nextIrq0 = nextEdge(ch[0]!, t);
    },
    nextDeadline: () => nextIrq0,
  };
}
