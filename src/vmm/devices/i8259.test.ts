/**
 * The 8259 pair as a guest programs it through ports 0x20/0x21, 0xa0/0xa1 and the ELCR at
 * 0x4d0/0x4d1, and as the VMM runs its INTA cycle (acknowledge), checked against QEMU's
 * hw/intc/i8259.c: the ICW sequence and vector bases, masking, priority, EOIs and rotation, edge
 * and level inputs, the cascade on IRQ2, spurious IRQ 7, OCW3 register reads and poll mode.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BusDevice } from '../bus.js';
import { createI8259, type I8259 } from './i8259.js';

const out = (dev: BusDevice, offset: number, v: number): void => dev.write(offset, Uint8Array.of(v));
const inb = (dev: BusDevice, offset: number): number => {
  const d = new Uint8Array(1);
  dev.read(offset, d);
  return d[0]!;
};

/** The pair initialised as a PC BIOS (and OVMF's 8259 driver) does: edge, cascade, 8086 mode. */
function pc(masterBase = 0x20, slaveBase = 0x28, opts: { masterIcw4?: number } = {}): I8259 {
  const pic = createI8259();
  out(pic.master, 0, 0x11); // ICW1: edge, cascade, ICW4 follows
  out(pic.master, 1, masterBase); // ICW2
  out(pic.master, 1, 0x04); // ICW3: a slave on IRQ2
  out(pic.master, 1, opts.masterIcw4 ?? 0x01); // ICW4: 8086
  out(pic.slave, 0, 0x11);
  out(pic.slave, 1, slaveBase);
  out(pic.slave, 1, 0x02); // ICW3: slave id 2
  out(pic.slave, 1, 0x01);
  return pic;
}

const pulse = (pic: I8259, irq: number): void => {
  pic.setIrq(irq, true);
  pic.setIrq(irq, false);
};
/** OCW3: read IRR (0x0a) or ISR (0x0b) at the command port. */
const ocw3Read = (dev: BusDevice, ocw3: number): number => {
  out(dev, 0, ocw3);
  return inb(dev, 0);
};
const irr = (dev: BusDevice): number => ocw3Read(dev, 0x0a);
const isr = (dev: BusDevice): number => ocw3Read(dev, 0x0b);
const EOI = 0x20;

describe('8259 pair', () => {
  it('ICW1-ICW4 set the vector base (its low 3 bits dropped); the mask is clear after init', () => {
    const pic = pc(0x27, 0x75);
    assert.equal(inb(pic.master, 1), 0, 'IMR after ICW1');
    pulse(pic, 0);
    assert.ok(pic.pending());
    assert.equal(pic.acknowledge(), 0x20 + 0, 'ICW2 0x27 → base 0x20');
    out(pic.master, 0, EOI);
    pulse(pic, 3);
    assert.equal(pic.acknowledge(), 0x23);
    assert.equal(pic.pending(), false);
  });

  it('the data port is OCW1 after the sequence: IMR reads back; a masked IRQ waits in the IRR', () => {
    const pic = pc();
    out(pic.master, 1, 0xfe);
    assert.equal(inb(pic.master, 1), 0xfe);
    pulse(pic, 1);
    assert.equal(pic.pending(), false, 'IRQ1 masked');
    assert.equal(irr(pic.master), 0x02, 'but latched');
    out(pic.master, 1, 0xfc);
    assert.ok(pic.pending(), 'unmasking delivers the latched edge');
    assert.equal(pic.acknowledge(), 0x21);
    assert.deepEqual(pic.acknowledged.slice(0, 3), [0, 1, 0]);
  });

  it('ICW1 resets the IMR, ISR and priority, keeps the ELCR', () => {
    const pic = pc();
    out(pic.elcr, 0, 0x08);
    out(pic.master, 1, 0xff);
    out(pic.master, 1, 0xff);
    out(pic.master, 0, 0x11);
    out(pic.master, 1, 0x08);
    out(pic.master, 1, 0x04);
    out(pic.master, 1, 0x01);
    assert.equal(inb(pic.master, 1), 0);
    assert.equal(inb(pic.elcr, 0), 0x08);
  });

  it('without ICW4 (ICW1 bit 0 clear) the third data write is OCW1 already', () => {
    const pic = createI8259();
    out(pic.master, 0, 0x10);
    out(pic.master, 1, 0x40);
    out(pic.master, 1, 0x04); // ICW3
    out(pic.master, 1, 0xf7); // OCW1
    assert.equal(inb(pic.master, 1), 0xf7);
  });

  it('priority: of two pending IRQs the lower number is taken first; the second waits for the EOI', () => {
    const pic = pc();
    pulse(pic, 5);
    pulse(pic, 3);
    assert.equal(irr(pic.master), 0x28);
    assert.equal(pic.acknowledge(), 0x23);
    assert.equal(isr(pic.master), 0x08);
    assert.equal(pic.pending(), false, 'IRQ5 is lower priority than IRQ3 in service');
    pulse(pic, 1);
    assert.ok(pic.pending(), 'a higher-priority IRQ nests');
    assert.equal(pic.acknowledge(), 0x21);
    assert.equal(isr(pic.master), 0x0a);
    out(pic.master, 0, EOI); // non-specific: the highest in service, IRQ1
    assert.equal(isr(pic.master), 0x08);
    assert.equal(pic.pending(), false);
    out(pic.master, 0, EOI);
    assert.equal(isr(pic.master), 0);
    assert.equal(pic.acknowledge(), 0x25);
  });

  it('specific EOI (0x60 | irq) clears that ISR bit, not the highest', () => {
    const pic = pc();
    pulse(pic, 4);
    assert.equal(pic.acknowledge(), 0x24);
    pulse(pic, 1); // IRQ1 nests
    assert.equal(pic.acknowledge(), 0x21);
    assert.equal(isr(pic.master), 0x12);
    out(pic.master, 0, 0x64);
    assert.equal(isr(pic.master), 0x02, 'IRQ4 ended, IRQ1 still in service');
    out(pic.master, 0, 0x61);
    assert.equal(isr(pic.master), 0);
  });

  it('rotate on non-specific EOI (0xa0): the IRQ ended becomes the lowest priority', () => {
    const pic = pc();
    pulse(pic, 0);
    assert.equal(pic.acknowledge(), 0x20);
    out(pic.master, 0, 0xa0);
    pulse(pic, 0);
    pulse(pic, 6);
    assert.equal(pic.acknowledge(), 0x26, 'IRQ0 now has the lowest priority');
  });

  it('set priority (0xc0 | irq): irq + 1 is the highest', () => {
    const pic = pc();
    out(pic.master, 0, 0xc4);
    pulse(pic, 1);
    pulse(pic, 6);
    assert.equal(pic.acknowledge(), 0x26);
  });

  it('auto-EOI (ICW4 bit 1): nothing stays in service', () => {
    const pic = pc(0x20, 0x28, { masterIcw4: 0x03 });
    pulse(pic, 3);
    assert.equal(pic.acknowledge(), 0x23);
    assert.equal(isr(pic.master), 0);
    pulse(pic, 5);
    assert.ok(pic.pending());
  });

  it('edge-triggered: one interrupt per rising edge, none while the line stays high', () => {
    const pic = pc();
    pic.setIrq(4, true);
    pic.setIrq(4, true);
    assert.equal(pic.acknowledge(), 0x24);
    out(pic.master, 0, EOI);
    pic.setIrq(4, true);
    assert.equal(pic.pending(), false, 'still high: no new edge');
    pic.setIrq(4, false);
    pic.setIrq(4, true);
    assert.ok(pic.pending());
  });

  it('level-triggered by the ELCR: stays pending after the INTA while raised, and goes when lowered', () => {
    const pic = pc();
    out(pic.elcr, 1, 0xff);
    assert.equal(inb(pic.elcr, 1), 0xde, 'slave ELCR: IRQ8 and IRQ13 are always edge');
    out(pic.elcr, 0, 0xff);
    assert.equal(inb(pic.elcr, 0), 0xf8, 'master ELCR: IRQ0-2 are always edge');
    pic.setIrq(3, true);
    assert.equal(pic.acknowledge(), 0x23);
    assert.equal(irr(pic.master), 0x08, 'the IRR bit stays while the line is high');
    assert.equal(pic.pending(), false, 'in service');
    out(pic.master, 0, EOI);
    assert.ok(pic.pending(), 'still raised: interrupts again after the EOI');
    assert.equal(pic.acknowledge(), 0x23);
    out(pic.master, 0, EOI);
    pic.setIrq(3, false);
    assert.equal(irr(pic.master), 0);
    assert.equal(pic.pending(), false);
    // The same line edge-triggered loses its IRR bit at the INTA.
    out(pic.elcr, 0, 0);
    pic.setIrq(3, true);
    assert.equal(pic.acknowledge(), 0x23);
    assert.equal(irr(pic.master), 0);
  });

  it("cascade: slave IRQ 12 gives the slave's vector; the master has IRQ2 in service", () => {
    const pic = pc();
    pulse(pic, 12);
    assert.equal(irr(pic.master), 0x04, 'the slave drives the master IRQ2');
    assert.equal(irr(pic.slave), 0x10);
    assert.ok(pic.pending());
    assert.equal(pic.acknowledge(), 0x28 + 4);
    assert.equal(isr(pic.master), 0x04);
    assert.equal(isr(pic.slave), 0x10);
    assert.equal(irr(pic.master), 0);
    assert.equal(pic.acknowledged[12], 1);
    assert.equal(pic.acknowledged[2], 0, 'counted on the slave line, not the cascade');
    out(pic.slave, 0, EOI);
    out(pic.master, 0, EOI);
    assert.equal(isr(pic.master) | isr(pic.slave), 0);
    assert.equal(pic.pending(), false);
  });

  it('cascade: a masked slave IRQ never reaches the master; the master mask on IRQ2 blocks the slave', () => {
    const pic = pc();
    out(pic.slave, 1, 0x10);
    pulse(pic, 12);
    assert.equal(pic.pending(), false);
    assert.equal(irr(pic.master), 0);
    out(pic.slave, 1, 0);
    assert.ok(pic.pending(), 'unmasking on the slave raises IRQ2');
    out(pic.master, 1, 0x04);
    assert.equal(pic.pending(), false);
  });

  it('cascade: a master IRQ below IRQ2 in priority waits for the slave; IRQ0 and 1 do not', () => {
    const pic = pc();
    pulse(pic, 9);
    pulse(pic, 4);
    assert.equal(pic.acknowledge(), 0x29);
    assert.equal(pic.pending(), false, 'IRQ4 is lower than IRQ2 in service');
    pulse(pic, 0);
    assert.equal(pic.acknowledge(), 0x20);
  });

  it('spurious: an INTA with nothing pending gives IRQ7 and puts nothing in service', () => {
    const pic = pc();
    assert.equal(pic.pending(), false);
    assert.equal(pic.acknowledge(), 0x27);
    assert.equal(isr(pic.master), 0);
    assert.equal(pic.acknowledged[7], 1);
    // A masked edge does not make the INTA real.
    out(pic.master, 1, 0x20);
    pulse(pic, 5);
    assert.equal(pic.acknowledge(), 0x27);
  });

  it('OCW3 selects the register the command port reads; the choice sticks', () => {
    const pic = pc();
    pulse(pic, 6);
    pulse(pic, 3);
    assert.equal(irr(pic.master), 0x48);
    assert.equal(inb(pic.master, 0), 0x48, 'IRR again without a new OCW3');
    pic.acknowledge();
    assert.equal(isr(pic.master), 0x08);
    assert.equal(inb(pic.master, 0), 0x08, 'ISR again');
    out(pic.master, 0, 0x08); // OCW3 without RR: the selection is unchanged
    assert.equal(inb(pic.master, 0), 0x08);
    assert.equal(inb(pic.master, 1), 0, 'the data port reads the IMR');
  });

  it('poll mode (OCW3 bit 2): the next read is 0x80 | irq and acknowledges it; 0 when none', () => {
    const pic = pc();
    pulse(pic, 5);
    out(pic.master, 0, 0x0c);
    assert.equal(inb(pic.master, 0), 0x85);
    assert.equal(isr(pic.master), 0x20, 'polled = acknowledged');
    assert.equal(pic.acknowledged[5], 0, 'no INTA cycle');
    out(pic.master, 0, EOI);
    out(pic.master, 0, 0x0c);
    assert.equal(inb(pic.master, 0), 0, 'nothing pending');
    assert.equal(irr(pic.master), 0, 'one read per poll command: this one reads the IRR');
  });

  it("poll mode on the slave acknowledges the slave's IRQ and lowers the master's IRQ2", () => {
    const pic = pc();
    out(pic.master, 1, 0x04); // the guest polls the slave with the cascade masked
    pulse(pic, 11);
    out(pic.slave, 0, 0x0c);
    assert.equal(inb(pic.slave, 0), 0x83);
    assert.equal(irr(pic.slave), 0);
    // The master latched the IRQ2 edge; lowering the line does not take it back (QEMU): unmasked,
    // its INTA finds nothing on the slave, a spurious IRQ 15.
    out(pic.master, 1, 0);
    assert.ok(pic.pending());
    assert.equal(pic.acknowledge(), 0x28 + 7);
    assert.equal(pic.acknowledged[15], 1);
    assert.equal(isr(pic.master), 0x04, 'the master still puts IRQ2 in service');
    assert.equal(isr(pic.slave), 0x08, 'the polled IRQ 11 only');
  });

  it('poll mode: the read at either port is the poll (QEMU)', () => {
    const pic = pc();
    out(pic.master, 1, 0xf0);
    pulse(pic, 3);
    out(pic.master, 0, 0x0c);
    assert.equal(inb(pic.master, 1), 0x83);
    assert.equal(inb(pic.master, 1), 0xf0, 'then the IMR again');
  });
});
