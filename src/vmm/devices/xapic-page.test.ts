/**
 * The VMM's xAPIC register page (no in-kernel APIC): the reset values OVMF reads, registers that
 * read back what was written, the read-only version and current count, write-only EOI, and the
 * access rules (whole 32-bit registers at 16-byte strides).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createXapicPage } from './xapic-page.js';

type Dev = ReturnType<typeof createXapicPage>;
const read32 = (dev: Dev, off: number): number => {
  const d = new Uint8Array(4);
  dev.read(off, d);
  return new DataView(d.buffer).getUint32(0, true);
};
const write32 = (dev: Dev, off: number, v: number): void => {
  const d = new Uint8Array(4);
  new DataView(d.buffer).setUint32(0, v >>> 0, true);
  dev.write(off, d);
};

describe('xAPIC page', () => {
  it('reset values: the ID in bits 31:24, version 0x14 with 6 LVTs, SVR 0xff, every LVT masked, TPR 0', () => {
    const dev = createXapicPage(3);
    assert.equal(read32(dev, 0x20), 3 << 24);
    assert.equal(read32(createXapicPage(), 0x20), 0);
    assert.equal(read32(dev, 0x30), 0x0005_0014);
    assert.equal(read32(dev, 0xf0), 0xff);
    for (const lvt of [0x320, 0x330, 0x340, 0x350, 0x360, 0x370])
      assert.equal(read32(dev, lvt), 1 << 16, `LVT ${lvt.toString(16)}`);
    assert.equal(read32(dev, 0x80), 0, 'TPR');
  });

  it('a register reads back a 32-bit write, all 32 bits', () => {
    const dev = createXapicPage();
    write32(dev, 0xf0, 0x1ff); // SVR: APIC software-enabled, spurious vector 0xff
    assert.equal(read32(dev, 0xf0), 0x1ff);
    write32(dev, 0x350, 0x700); // LINT0: ExtINT, unmasked (virtual-wire mode)
    assert.equal(read32(dev, 0x350), 0x700);
    write32(dev, 0x310, 0xff00_0000);
    assert.equal(read32(dev, 0x310), 0xff00_0000, 'ICR high: bit 31 kept, unsigned');
  });

  it('the version and current count are read-only; EOI is write-only (reads 0)', () => {
    const dev = createXapicPage();
    write32(dev, 0x30, 0);
    assert.equal(read32(dev, 0x30), 0x0005_0014);
    write32(dev, 0x380, 1000); // initial count: kept
    write32(dev, 0x390, 1234);
    assert.equal(read32(dev, 0x380), 1000);
    assert.equal(read32(dev, 0x390), 0, 'the timer does not count');
    write32(dev, 0xb0, 0);
    assert.equal(read32(dev, 0xb0), 0);
  });

  it('narrow or unaligned writes are dropped; a narrow read gives the bytes of the register; bytes 4-15 read 0', () => {
    const dev = createXapicPage();
    write32(dev, 0x80, 0x20);
    dev.write(0x80, Uint8Array.of(0x30)); // 1 byte
    dev.write(0x84, Uint8Array.of(1, 2, 3, 4)); // not at a register
    assert.equal(read32(dev, 0x80), 0x20);
    const b = new Uint8Array(2);
    dev.read(0x32, b);
    assert.deepEqual([...b], [0x05, 0x00], 'version bytes 2-3');
    dev.read(0x34, b);
    assert.deepEqual([...b], [0, 0]);
    const q = new Uint8Array(8);
    dev.read(0x30, q);
    assert.deepEqual([...q], [0x14, 0, 0x05, 0, 0, 0, 0, 0], 'an 8-byte read: the register, then zeros');
  });
});
