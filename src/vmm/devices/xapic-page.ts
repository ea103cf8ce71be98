/**
 * The local APIC's register page at 0xfee00000 as the VMM answers it when KVM has no in-kernel APIC
 * (QEMU's userspace hw/intc/apic.c, kernel-irqchip=off): what firmware reads and programs while it
 * sets up virtual-wire mode (ID, version, TPR, SVR, the LVTs, ICR), with the reset values and the
 * write-only and read-only registers as the APIC has them.
 *
 * Where we differ from QEMU: the timer does not count, no IPI is sent, and the 8259's INT reaches
 * the CPU directly (as through LINT0 in ExtINT mode), whatever LINT0 says.
 */
import type { BusDevice } from '../bus.js';

export const XAPIC_BASE = 0xfee0_0000;
export const XAPIC_SIZE = 0x1000;

const APIC_ID = 0x20;
const APIC_LVR = 0x30;
const APIC_EOI = 0xb0;
const APIC_SPIV = 0xf0;
const APIC_LVT_FIRST = 0x320;
const APIC_LVT_LAST = 0x370;
const APIC_TMCCT = 0x390;
/** Version 0x14 with 6 LVT entries (max LVT 5), QEMU's. */
const APIC_VERSION = 0x0005_0014;
const LVT_MASKED = 1 << 16;

/** The page of a CPU with APIC ID `id` (default 0). */
export function createXapicPage(id = 0): BusDevice {
  const regs = new Uint32Array(XAPIC_SIZE / 4);
  regs[APIC_ID / 4] = id << 24;
  regs[APIC_SPIV / 4] = 0xff;
  for (let r = APIC_LVT_FIRST; r <= APIC_LVT_LAST; r += 0x10) regs[r / 4] = LVT_MASKED;
  return {
    name: 'xapic',
    read(offset, data) {
      // Registers are 32 bits at 16-byte strides; other bytes read 0.
      const reg = offset & ~0xf;
      const v = reg === APIC_LVR ? APIC_VERSION : reg === APIC_TMCCT ? 0 : regs[reg / 4]!;
      for (let i = 0; i < data.length; i++) {
        const b = (offset & 0xf) + i;
        data[i] = b < 4 ? (v >>> (8 * b)) & 0xff : 0;
      }
    },
    write(offset, data) {
      if (offset & 0xf || data.length < 4) return;
      const v = data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24);
      if (offset === APIC_LVR || offset === APIC_EOI || offset === APIC_TMCCT) return;
      regs[offset / 4] = v >>> 0;
    },
  };
}
