/**
 * The PC's interrupt path as a VMM without an in-kernel irqchip builds it (QEMU with
 * kernel-irqchip=off): the 8254's channel 0 on ISA IRQ0 of the 8259 pair and the boot CPU's local
 * APIC with its timer, offered to the VMM's run loop as a {@link UserspaceIrqchip}: the VMM injects the PIC's vector
 * with KVM_INTERRUPT when kvm_run says the vCPU can take it, asks for an interrupt window when it
 * cannot, and sleeps until the PIT's next edge when the vCPU halts.
 */
import type { HostClock } from '../../host/clock.js';
import type { Bus } from '../bus.js';
import { isVmmError, type VmmError } from '../errors.js';
import type { UserspaceIrqchip } from '../types.js';
import { createI8254, type I8254, PIT_PORT, PIT_PORTS, PORT_61 } from './i8254.js';
import {
  createI8259,
  ELCR_PORT,
  ELCR_PORTS,
  type I8259,
  PIC_MASTER_PORT,
  PIC_PORTS,
  PIC_SLAVE_PORT,
} from './i8259.js';
import { createXapicPage, type LocalApic, XAPIC_BASE, XAPIC_SIZE } from './xapic-page.js';

export interface PcInterrupts extends UserspaceIrqchip {
  readonly pic: I8259;
  readonly pit: I8254;
  readonly apic: LocalApic;
}

/**
 * Register the PIC, ELCR, PIT and port 0x61 on `pio` and the boot CPU's local APIC on `mmio`, on
 * `clock`'s time. The APIC's interrupts go first, then the PIC's (QEMU's cpu_get_pic_interrupt).
 */
export function createPcInterrupts(pio: Bus, mmio: Bus, clock: HostClock): PcInterrupts | VmmError {
  const apic = createXapicPage(0, () => clock.now());
  const pic = createI8259();
  const pit = createI8254(
    () => clock.now(),
    () => {
      pic.setIrq(0, true);
      pic.setIrq(0, false);
    },
  );
  for (const [base, size, dev] of [
    [PIC_MASTER_PORT, PIC_PORTS, pic.master],
    [PIC_SLAVE_PORT, PIC_PORTS, pic.slave],
    [ELCR_PORT, ELCR_PORTS, pic.elcr],
    [PIT_PORT, PIT_PORTS, pit.ports],
    [PORT_61, 1, pit.port61],
  ] as const) {
    const e = pio.register(base, size, dev);
    if (isVmmError(e)) return e;
  }
  const e = mmio.register(XAPIC_BASE, XAPIC_SIZE, apic);
  if (isVmmError(e)) return e;
  return {
    pic,
    pit,
    apic,
    sync(now) {
      pit.sync(now);
      apic.sync(now);
    },
    pending: () => apic.pending() || pic.pending(),
    acknowledge: () => (apic.pending() ? apic.acknowledge() : pic.acknowledge()),
    nextDeadline() {
      const a = apic.nextDeadline();
      const p = pit.nextDeadline();
      return a === undefined ? p : p === undefined ? a : Math.min(a, p);
    },
  };
}
