/**
 * PCI configuration mechanism #1 over the i440FX functions, and the PIIX4 PM block firmware places
 * through PMBA/PMREGMISC: the PM timer moves on by a fixed step per read (a deterministic clock).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Bus } from '../bus.js';
import { createI440fx, PM_TIMER_TICKS_PER_READ } from './i440fx.js';
import { createPciHost } from './pci-host.js';

function machine() {
  const pio = new Bus('pio');
  const pci = createPciHost(createI440fx(pio));
  pio.register(0xcf8, 8, pci);
  const out32 = (port: number, v: number) =>
    pio.write(port, Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24));
  const in32 = (port: number): number => {
    const d = new Uint8Array(4);
    pio.read(port, d);
    return new DataView(d.buffer).getUint32(0, true);
  };
  const cfgRead = (dev: number, fn: number, reg: number): number => {
    out32(0xcf8, (0x8000_0000 | (dev << 11) | (fn << 8) | reg) >>> 0);
    return in32(0xcfc);
  };
  const cfgWrite = (dev: number, fn: number, reg: number, v: number): void => {
    out32(0xcf8, (0x8000_0000 | (dev << 11) | (fn << 8) | reg) >>> 0);
    out32(0xcfc, v);
  };
  return { pio, in32, cfgRead, cfgWrite };
}

describe('PCI config (0xCF8/0xCFC) and the i440FX functions', () => {
  it('the host bridge, PIIX3 and PIIX4 PM answer with their IDs; an empty slot reads all ones', () => {
    const m = machine();
    assert.equal(m.cfgRead(0, 0, 0), 0x1237_8086);
    assert.equal(m.cfgRead(1, 0, 0), 0x7000_8086);
    assert.equal(m.cfgRead(1, 3, 0), 0x7113_8086);
    assert.equal(m.cfgRead(5, 0, 0), 0xffff_ffff);
    assert.equal(m.cfgRead(0, 0, 0x08) >>> 8, 0x06_0000, 'class: host bridge');
    assert.equal(m.in32(0xcf8), 0x8000_0008, 'CONFIG_ADDRESS reads back');
  });

  it('PMBA and PMREGMISC place the PM block; its timer advances a fixed step per read', () => {
    const m = machine();
    assert.equal(m.in32(0xb008), 0xffff_ffff, 'nothing there before firmware programs it');
    m.cfgWrite(1, 3, 0x40, 0xb000);
    assert.equal(m.cfgRead(1, 3, 0x40), 0xb001, 'bit 0 reads 1 (I/O space)');
    assert.equal(m.in32(0xb008), 0xffff_ffff, 'still disabled (PMREGMISC bit 0)');
    m.cfgWrite(1, 3, 0x80, 1);
    const a = m.in32(0xb008);
    const b = m.in32(0xb008);
    assert.equal(b - a, PM_TIMER_TICKS_PER_READ);
    m.cfgWrite(1, 3, 0x40, 0x6000);
    assert.equal(m.in32(0xb008), 0xffff_ffff, 'moved away');
    assert.equal(m.in32(0x6008) - b, PM_TIMER_TICKS_PER_READ, 'to its new base, the same clock');
    assert.equal(m.cfgRead(0, 0, 0) & 0xffff, 0x8086, 'IDs are read-only');
  });
});
