/**
 * The PC's two cascaded 8259A interrupt controllers in the VMM (a userspace irqchip, QEMU's
 * hw/intc/i8259.c with kernel-irqchip=off): ICW1-ICW4 initialisation, the mask (OCW1), EOIs and
 * rotation (OCW2), IRR/ISR reads and poll (OCW3), edge- and level-triggered inputs by the ELCR
 * (ports 0x4d0/0x4d1), the slave cascaded on the master's IRQ2, and the INTA cycle the VMM runs
 * when it injects the vector with KVM_INTERRUPT.
 */
import type { BusDevice } from '../bus.js';

/** The master's and the slave's command/data ports, and the ELCR's. */
export const PIC_MASTER_PORT = 0x20;
export const PIC_SLAVE_PORT = 0xa0;
export const PIC_PORTS = 2;
export const ELCR_PORT = 0x4d0;
export const ELCR_PORTS = 2;

/** One 8259A (PICCommonState's fields that matter to a guest). */
class Pic8259 {
  irr = 0;
  imr = 0;
  isr = 0;
  lastIrr = 0;
  priorityAdd = 0;
  irqBase = 0;
  readRegSelect = 0;
  poll = false;
  specialMask = false;
  initState = 0;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialFullyNested = false;
  init4 = false;
  singleMode = false;
  elcr = 0;

  constructor(
    readonly master: boolean,
    /** The ELCR bits that exist (IRQ 0, 1, 2, 8 and 13 are always edge-triggered). */
    readonly elcrMask: number,
  ) {}

  /** pic_init_reset: ICW1 resets everything but the ELCR. */
  reset(): void {
    this.lastIrr = 0;
    this.irr &= this.elcr;
    this.imr = 0;
    this.isr = 0;
    this.priorityAdd = 0;
    this.irqBase = 0;
    this.readRegSelect = 0;
    this.poll = false;
    this.specialMask = false;
    this.initState = 0;
    this.autoEoi = false;
    this.rotateOnAutoEoi = false;
    this.specialFullyNested = false;
    this.init4 = false;
    this.singleMode = false;
  }

  /** The highest priority (0 = highest) among `mask`'s bits, 8 for none. */
  priority(mask: number): number {
    if (mask === 0) return 8;
    let p = 0;
    while (!(mask & (1 << ((p + this.priorityAdd) & 7)))) p++;
    return p;
  }

  /** pic_get_irq: the input this chip would raise INT for, or -1. */
  irq(): number {
    const p = this.priority(this.irr & ~this.imr);
    if (p === 8) return -1;
    let inService = this.isr;
    if (this.specialMask) inService &= ~this.imr;
    if (this.specialFullyNested && this.master) inService &= ~(1 << 2);
    return p < this.priority(inService) ? (p + this.priorityAdd) & 7 : -1;
  }

  /** pic_set_irq: an input line's level. */
  setIrq(irq: number, level: boolean): void {
    const mask = 1 << irq;
    if (this.elcr & mask) {
      if (level) {
        this.irr |= mask;
        this.lastIrr |= mask;
      } else {
        this.irr &= ~mask;
        this.lastIrr &= ~mask;
      }
    } else if (level) {
      if (!(this.lastIrr & mask)) this.irr |= mask;
      this.lastIrr |= mask;
    } else this.lastIrr &= ~mask;
  }

  /** pic_intack. */
  ack(irq: number): void {
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (irq + 1) & 7;
    } else this.isr |= 1 << irq;
    // Edge-triggered inputs are cleared when acknowledged; level-triggered ones stay while raised.
    if (!(this.elcr & (1 << irq))) this.irr &= ~(1 << irq);
  }

  writeCommand(val: number): void {
    if (val & 0x10) {
      // ICW1
      this.reset();
      this.initState = 1;
      this.init4 = (val & 1) !== 0;
      this.singleMode = (val & 2) !== 0;
    } else if (val & 0x08) {
      // OCW3
      if (val & 0x04) this.poll = true;
      if (val & 0x02) this.readRegSelect = val & 1;
      if (val & 0x40) this.specialMask = ((val >> 5) & 1) !== 0;
    } else {
      // OCW2
      const cmd = val >> 5;
      switch (cmd) {
        case 0:
        case 4:
          this.rotateOnAutoEoi = cmd >> 2 !== 0;
          break;
        case 1: // non-specific EOI
        case 5: {
          const p = this.priority(this.isr);
          if (p !== 8) {
            const irq = (p + this.priorityAdd) & 7;
            this.isr &= ~(1 << irq);
            if (cmd === 5) this.priorityAdd = (irq + 1) & 7;
          }
          break;
        }
        case 3: // specific EOI
          this.isr &= ~(1 << (val & 7));
          break;
        case 6:
          this.priorityAdd = (val + 1) & 7;
          break;
        case 7:
          this.isr &= ~(1 << (val & 7));
          this.priorityAdd = ((val & 7) + 1) & 7;
          break;
      }
    }
  }

  writeData(val: number): void {
    switch (this.initState) {
      case 0: // OCW1
        this.imr = val;
        break;
      case 1: // ICW2
        this.irqBase = val & 0xf8;
        this.initState = this.singleMode ? (this.init4 ? 3 : 0) : 2;
        break;
      case 2: // ICW3 (the cascade wiring is fixed)
        this.initState = this.init4 ? 3 : 0;
        break;
      case 3: // ICW4
        this.specialFullyNested = ((val >> 4) & 1) !== 0;
        this.autoEoi = ((val >> 1) & 1) !== 0;
        this.initState = 0;
        break;
    }
  }
}

/** The pair, its port devices and the CPU side of its INT line. */
export interface I8259 {
  /** Ports 0x20/0x21 and 0xa0/0xa1. */
  readonly master: BusDevice;
  readonly slave: BusDevice;
  /** Ports 0x4d0/0x4d1. */
  readonly elcr: BusDevice;
  /** An ISA IRQ line (0-15) changes level; an edge-triggered input latches on the rising edge. */
  setIrq(irq: number, level: boolean): void;
  /** Whether the master drives INT (an interrupt the CPU should take). */
  pending(): boolean;
  /** The INTA cycle (pic_read_irq): the vector, the IRQ acknowledged (7 or 15: spurious). */
  acknowledge(): number;
  /** Interrupts acknowledged, by IRQ line (for the boot summary). */
  readonly acknowledged: number[];
}

export function createI8259(): I8259 {
  const m = new Pic8259(true, 0xf8);
  const s = new Pic8259(false, 0xde);
  const acknowledged = new Array<number>(16).fill(0);
  // pic_update_irq: the slave's INT is the master's IRQ2.
  const cascade = (): void => m.setIrq(2, s.irq() >= 0);

  const portDevice = (chip: Pic8259, name: string): BusDevice => ({
    name,
    read(offset, data) {
      let v: number;
      // pic_ioport_read: after a poll command the next read at either port is the poll.
      if (chip.poll) {
        chip.poll = false;
        const irq = chip.irq();
        if (irq >= 0) {
          chip.ack(irq);
          v = irq | 0x80;
        } else v = 0;
        if (chip === s) cascade();
      } else if (offset === 1) v = chip.imr;
      else v = chip.readRegSelect ? chip.isr : chip.irr;
      data.fill(0);
      data[0] = v;
    },
    write(offset, data) {
      if (offset === 0) chip.writeCommand(data[0]!);
      else chip.writeData(data[0]!);
      if (chip === s) cascade();
    },
  });

  return {
    master: portDevice(m, 'pic-master'),
    slave: portDevice(s, 'pic-slave'),
    elcr: {
      name: 'elcr',
      read(offset, data) {
        data.fill(0);
        data[0] = (offset === 0 ? m : s).elcr;
      },
      write(offset, data) {
        const chip = offset === 0 ? m : s;
        chip.elcr = data[0]! & chip.elcrMask;
      },
    },
    acknowledged,
    setIrq(irq, level) {
      if (irq >= 8) {
        s.setIrq(irq - 8, level);
        cascade();
      } else m.setIrq(irq, level);
    },
    pending: () => m.irq() >= 0,
    acknowledge() {
      const irq = m.irq();
      let vector: number;
      if (irq < 0) {
        acknowledged[7]!++;
        return m.irqBase + 7; // spurious
      }
      m.ack(irq);
      if (irq === 2) {
        const irq2 = s.irq();
        if (irq2 >= 0) s.ack(irq2);
        const line = irq2 >= 0 ? irq2 : 7;
        vector = s.irqBase + line;
        acknowledged[8 + line]!++;
        cascade();
      } else {
        vector = m.irqBase + irq;
        acknowledged[irq]!++;
      }
      return vector;
    },
  };
}
