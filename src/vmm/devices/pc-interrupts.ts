/**
 * The PC's legacy interrupt path as a VMM without an in-kernel irqchip builds it (QEMU with
 * kernel-irqchip=off): the 8254's channel 0 on ISA IRQ0 of the 8259 pair, registered on the port
 * bus, offered to the VMM's run loop as a {@link UserspaceIrqchip}: the VMM injects the PIC's vector
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

export interface PcInterrupts extends UserspaceIrqchip {
  readonly pic: I8259;
  readonly pit: I8254;
}

/** Register the PIC, ELCR, PIT and port 0x61 on `pio`, on `clock`'s time. */
export function createPcInterrupts(pio: Bus, clock: HostClock): PcInterrupts | VmmError {
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
  return {
    pic,
    pit,
    sync: (now) => pit.sync(now),
    pending: () => pic.pending(),
    acknowledge: () => pic.acknowledge(),
    nextDeadline: () => pit.nextDeadline(),
  };
}
