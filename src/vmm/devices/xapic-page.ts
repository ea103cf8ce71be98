/**
 * The boot CPU's local APIC as the VMM emulates it when KVM has no in-kernel APIC (QEMU's userspace
 * hw/intc/apic.c, kernel-irqchip=off), reached through its xAPIC register page at 0xfee00000: ID,
 * version, TPR, EOI, SVR, ISR/TMR/IRR, the LVTs, and the timer (initial and current count, divide
 * configuration, one-shot and periodic modes) on the VMM's clock with QEMU's 1 GHz APIC bus. OVMF's
 * DXE timer (LocalApicTimerDxe, PcdFSBClock = 1 GHz) ticks on it.
 *
 * Its interrupts reach the CPU through the VMM's run loop (pending/acknowledge, the INTA cycle QEMU's
 * apic_get_interrupt runs); the 8259's INT goes around it, as through LINT0 in ExtINT mode.
 * Not modelled: IPIs (ICR writes are kept, nothing is sent), the error, thermal and performance
 * LVTs' sources, TSC-deadline mode, x2APIC.
 */
import type { BusDevice } from '../bus.js';

export const XAPIC_BASE = 0xfee0_0000;
export const XAPIC_SIZE = 0x1000;

const APIC_ID = 0x20;
const APIC_LVR = 0x30;
const APIC_TASKPRI = 0x80;
const APIC_PROCPRI = 0xa0;
const APIC_EOI = 0xb0;
const APIC_SPIV = 0xf0;
const APIC_ISR = 0x100;
const APIC_TMR = 0x180;
const APIC_IRR = 0x200;
/** The timer's LVT. */
export const APIC_LVTT = 0x320;
const APIC_LVT_FIRST = 0x320;
const APIC_LVT_LAST = 0x370;
const APIC_TMICT = 0x380;
const APIC_TMCCT = 0x390;
const APIC_TDCR = 0x3e0;
/** Version 0x14 with 6 LVT entries (max LVT 5), QEMU's. */
const APIC_VERSION = 0x0005_0014;
const LVT_MASKED = 1 << 16;
const LVT_TIMER_PERIODIC = 1 << 17;
const SPIV_APIC_ENABLED = 1 << 8;
/** Nanoseconds per APIC bus cycle (QEMU's APIC_BUS_CYCLE_NS). */
const APIC_BUS_CYCLE_NS = 1;

export interface LocalApic extends BusDevice {
  /** Catch up with the clock: a timer period that ended sets its vector in IRR. */
  sync(now: number): void;
  /** Whether IRR holds a vector of a higher priority class than the processor priority. */
  pending(): boolean;
  /** The INTA cycle: the highest vector moves from IRR to ISR; -1 if none is deliverable. */
  acknowledge(): number;
  /** When the timer next fires, ns (undefined: stopped or masked). */
  nextDeadline(): number | undefined;
  /** Timer interrupts raised. */
  readonly timerFired: number;
}

/** The highest set bit of a 256-bit register (8 dwords), or -1. */
function highest(bits: Uint32Array): number {
  for (let i = 7; i >= 0; i--) if (bits[i]) return i * 32 + 31 - Math.clz32(bits[i]!);
  return -1;
}

/** The local APIC with ID `id` (default 0) on the clock `now` (ns). */
export function createXapicPage(id = 0, now: () => number = () => 0): LocalApic {
  const regs = new Uint32Array(XAPIC_SIZE / 4);
  const isr = new Uint32Array(8);
  const tmr = new Uint32Array(8);
  const irr = new Uint32Array(8);
  regs[APIC_ID / 4] = id << 24;
  regs[APIC_SPIV / 4] = 0xff;
  for (let r = APIC_LVT_FIRST; r <= APIC_LVT_LAST; r += 0x10) regs[r / 4] = LVT_MASKED;
  /** Timer: when the count was loaded (ns), the count, the divider's shift. */
  let loadTime = 0;
  let initialCount = 0;
  // TDCR resets to 0: divide by 2.
  let countShift = 1;
  let nextTimer: number | undefined;
  let timerFired = 0;

  const lvtt = (): number => regs[APIC_LVTT / 4]!;
  const enabled = (): boolean => (regs[APIC_SPIV / 4]! & SPIV_APIC_ENABLED) !== 0;
  /** The length of one timer period, ns. */
  const period = (): number => initialCount * (1 << countShift) * APIC_BUS_CYCLE_NS;

  /** apic_timer_update: when the running count next reaches 0, after `t`. */
  const scheduleTimer = (t: number): void => {
    if (initialCount === 0 || lvtt() & LVT_MASKED || !enabled()) {
      nextTimer = undefined;
      return;
    }
    const p = period();
    const elapsed = t - loadTime;
    if (lvtt() & LVT_TIMER_PERIODIC) nextTimer = loadTime + (Math.floor(elapsed / p) + 1) * p;
    else nextTimer = elapsed < p ? loadTime + p : undefined;
  };

  const currentCount = (): number => {
    if (initialCount === 0) return 0;
    const d = Math.floor((now() - loadTime) / APIC_BUS_CYCLE_NS / (1 << countShift));
    if (lvtt() & LVT_TIMER_PERIODIC) return initialCount - (d % initialCount);
    return d >= initialCount ? 0 : initialCount - d;
  };

  /** apic_get_ppr: the processor priority from TPR and the highest in-service vector. */
  const ppr = (): number => {
    const tpr = regs[APIC_TASKPRI / 4]! & 0xff;
    const isrv = Math.max(0, highest(isr)) >> 4;
    return tpr >> 4 >= isrv ? tpr : isrv << 4;
  };

  const readReg = (reg: number): number => {
    if (reg >= APIC_ISR && reg < APIC_ISR + 0x80) return isr[(reg - APIC_ISR) >> 4]!;
    if (reg >= APIC_TMR && reg < APIC_TMR + 0x80) return tmr[(reg - APIC_TMR) >> 4]!;
    if (reg >= APIC_IRR && reg < APIC_IRR + 0x80) return irr[(reg - APIC_IRR) >> 4]!;
    switch (reg) {
      case APIC_LVR:
        return APIC_VERSION;
      case APIC_PROCPRI:
        return ppr();
      case APIC_EOI:
        return 0;
      case APIC_TMCCT:
        return currentCount();
      default:
        return regs[reg / 4]!;
    }
  };

  const writeReg = (reg: number, v: number): void => {
    switch (reg) {
      case APIC_LVR:
      case APIC_PROCPRI:
      case APIC_TMCCT:
        return; // read-only
      case APIC_EOI: {
        const v0 = highest(isr);
        if (v0 >= 0) isr[v0 >> 5]! &= ~(1 << (v0 & 31));
        return;
      }
      case APIC_SPIV:
        regs[reg / 4] = v & 0x3ff;
        // A software-disabled APIC masks every LVT (apic_mem_write, APIC_SPIV).
        if (!(v & SPIV_APIC_ENABLED))
          for (let r = APIC_LVT_FIRST; r <= APIC_LVT_LAST; r += 0x10) regs[r / 4]! |= LVT_MASKED;
        scheduleTimer(now());
        return;
      case APIC_TMICT:
        initialCount = v >>> 0;
        loadTime = now();
        regs[reg / 4] = v >>> 0;
        scheduleTimer(loadTime);
        return;
      case APIC_TDCR: {
        regs[reg / 4] = v & 0xb;
        const d = (v & 3) | ((v >> 1) & 4);
        countShift = (d + 1) & 7;
        scheduleTimer(now());
        return;
      }
      default:
        if (reg >= APIC_ISR && reg < APIC_IRR + 0x80) return; // ISR, TMR, IRR are read-only
        if (reg >= APIC_LVT_FIRST && reg <= APIC_LVT_LAST && !enabled()) v |= LVT_MASKED;
        regs[reg / 4] = v >>> 0;
        if (reg === APIC_LVTT) scheduleTimer(now());
    }
  };

  return {
    name: 'xapic',
    get timerFired() {
      return timerFired;
    },
    read(offset, data) {
      // Registers are 32 bits at 16-byte strides; other bytes read 0.
      const v = readReg(offset & 0xff0);
      for (let i = 0; i < data.length; i++) {
        const b = (offset & 0xf) + i;
        data[i] = b < 4 ? (v >>> (8 * b)) & 0xff : 0;
      }
    },
    write(offset, data) {
      if (offset & 0xf || data.length < 4) return;
      writeReg(offset, (data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)) >>> 0);
    },
    sync(t) {
      if (nextTimer === undefined || t < nextTimer) return;
      const vector = lvtt() & 0xff;
      irr[vector >> 5]! |= 1 << (vector & 31);
      timerFired++;
      scheduleTimer(t);
    },
    pending() {
      const v = highest(irr);
      return v >= 0 && enabled() && (v & 0xf0) > (ppr() & 0xf0);
    },
    acknowledge() {
      const v = highest(irr);
      if (v < 0 || (v & 0xf0) <= (ppr() & 0xf0)) return -1;
      irr[v >> 5]! &= ~(1 << (v & 31));
      isr[v >> 5]! |= 1 << (v & 31);
      return v;
    },
    nextDeadline: () => nextTimer,
  };
}
