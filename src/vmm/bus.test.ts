/** The port-I/O / MMIO bus: routing by range, unclaimed accesses, overlaps. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Bus, type BusDevice, UNCLAIMED_LOG_LIMIT } from './bus.js';

function recorder(name: string): BusDevice & { log: string[] } {
  const log: string[] = [];
  return {
    name,
    log,
    read(offset, data) {
      log.push(`r${offset}/${data.length}`);
      data.fill(0x5a);
    },
    write(offset, data) {
      log.push(`w${offset}=${[...data].join(',')}`);
    },
  };
}

describe('Bus', () => {
  it('sends an access to the device whose range holds its first byte, with the offset', () => {
    const bus = new Bus('pio');
    const a = recorder('a');
    const b = recorder('b');
    assert.equal(bus.register(0x3f8, 8, a), undefined);
    assert.equal(bus.register(0x60, 1, b), undefined);
    const d = new Uint8Array(2);
    bus.read(0x3fd, d);
    bus.write(0x3f8, Uint8Array.of(0x41));
    bus.write(0x60, Uint8Array.of(1, 2));
    assert.deepEqual(a.log, ['r5/2', 'w0=65']);
    assert.deepEqual(b.log, ['w0=1,2']);
    assert.deepEqual([...d], [0x5a, 0x5a]);
    assert.equal(bus.find(0x3ff)?.offset, 7);
    assert.equal(bus.find(0x400), undefined);
  });

  it('answers unclaimed port reads with 0xff and unclaimed MMIO reads with zeros, and records them', () => {
    const pio = new Bus('pio');
    const mmio = new Bus('mmio');
    const p = new Uint8Array(4);
    const m = new Uint8Array(8).fill(7);
    pio.read(0x80, p);
    pio.write(0x80, Uint8Array.of(1));
    mmio.read(0xfee0_0000, m);
    assert.deepEqual([...p], [0xff, 0xff, 0xff, 0xff]);
    assert.deepEqual([...m], [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(pio.unclaimed, [
      { addr: 0x80, size: 4, write: false },
      { addr: 0x80, size: 1, write: true },
    ]);
    assert.deepEqual(mmio.unclaimed, [{ addr: 0xfee0_0000, size: 8, write: false }]);
  });

  it('keeps only the most recent unclaimed accesses', () => {
    const bus = new Bus('mmio');
    for (let i = 0; i < UNCLAIMED_LOG_LIMIT + 3; i++) bus.write(i, Uint8Array.of(0));
    assert.deepEqual(
      bus.unclaimed.map((u) => u.addr),
      Array.from({ length: UNCLAIMED_LOG_LIMIT }, (_, i) => i + 3),
      'the last UNCLAIMED_LOG_LIMIT writes, oldest first',
    );
  });

  it('refuses overlapping ranges (EEXIST) and empty ones (EINVAL), as values', () => {
    const bus = new Bus('mmio');
    assert.equal(bus.register(0x1000, 0x100, recorder('a')), undefined);
    assert.equal(bus.register(0x10ff, 1, recorder('b'))?.errno, 'EEXIST');
    assert.equal(bus.register(0x0f00, 0x101, recorder('c'))?.errno, 'EEXIST');
    assert.equal(bus.register(0x1100, 0, recorder('d'))?.errno, 'EINVAL');
    assert.equal(bus.register(0x1100, 0x100, recorder('e')), undefined);
  });
});
