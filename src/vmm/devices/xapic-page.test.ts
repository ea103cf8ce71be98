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
    let t = 0;
    const dev = createXapicPage(0, () => t);
    write32(dev, 0x30, 0);
    assert.equal(read32(dev, 0x30), 0x0005_0014);
    write32(dev, 0x380, 1000); // initial count: kept
    write32(dev, 0x390, 1234);
    assert.equal(read32(dev, 0x380), 1000);
    assert.equal(read32(dev, 0x390), 1000, 'the count starts at the initial count');
    t = 300;
    assert.equal(read32(dev, 0x390), 850, 'TDCR 0 divides by 2: 300 ns at 1 GHz count 150');
    write32(dev, 0xb0, 0);
    assert.equal(read32(dev, 0xb0), 0);
  });

  it('timer: periodic LVT fires its vector each period into IRR; acknowledge moves it to ISR; EOI ends it; TPR holds lower classes', () => {
    let t = 0;
    const dev = createXapicPage(0, () => t);
    write32(dev, 0xf0, 0x1ff); // software-enable
    write32(dev, 0x3e0, 0xb); // divide by 1
    write32(dev, 0x320, (1 << 17) | 0x20); // periodic, vector 0x20, unmasked
    write32(dev, 0x380, 10_000);
    assert.equal(dev.nextDeadline(), 10_000);
    dev.sync(9_999);
    assert.equal(dev.pending(), false);
    t = 25_000;
    dev.sync(t);
    assert.equal(dev.timerFired, 1, 'two periods passed: one edge (coalesced)');
    assert.equal(dev.nextDeadline(), 30_000);
    assert.equal(dev.pending(), true);
    assert.equal(dev.acknowledge(), 0x20);
    assert.equal(read32(dev, 0x100 + 0x10), 1, 'ISR bit 32 (vector 0x20)');
    assert.equal(dev.pending(), false);
    write32(dev, 0xb0, 0); // EOI
    assert.equal(read32(dev, 0x100 + 0x10), 0);
    write32(dev, 0x80, 0x20); // TPR class 2: vector 0x20 is held
    t = 30_000;
    dev.sync(t);
    assert.equal(dev.pending(), false);
    assert.equal(dev.acknowledge(), -1);
    write32(dev, 0x80, 0x10);
    assert.equal(dev.pending(), true);
  });

  it('timer: one-shot fires once; masked or a software-disabled APIC does not fire', () => {
    let t = 0;
    const dev = createXapicPage(0, () => t);
    write32(dev, 0xf0, 0x1ff);
    write32(dev, 0x3e0, 0xb);
    write32(dev, 0x320, 0x30);
    write32(dev, 0x380, 100);
    t = 150;
    dev.sync(t);
    assert.equal(dev.timerFired, 1);
    assert.equal(dev.nextDeadline(), undefined);
    assert.equal(read32(dev, 0x390), 0);
    write32(dev, 0x320, (1 << 16) | 0x30); // masked
    write32(dev, 0x380, 100);
    assert.equal(dev.nextDeadline(), undefined);
    write32(dev, 0x320, 0x30);
    write32(dev, 0xf0, 0xff); // software-disable masks the LVTs
    assert.equal(read32(dev, 0x320) & (1 << 16), 1 << 16);
    assert.equal(dev.nextDeadline(), undefined);
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
