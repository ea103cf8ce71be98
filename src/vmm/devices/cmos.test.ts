/**
 * The CMOS/RTC device: the memory-size bytes QEMU's pc_cmos_init writes (what OVMF's PlatformPei
 * reads when fw_cfg gives no e820 table), the index/data port protocol and a clock that does not move.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cmosBytes, createCmos } from './cmos.js';

function read(dev: ReturnType<typeof createCmos>, index: number): number {
  dev.write(0, Uint8Array.of(index | 0x80)); // bit 7: the NMI mask, not part of the index
  const d = new Uint8Array(1);
  dev.read(1, d);
  return d[0]!;
}

describe('CMOS/RTC', () => {
  it('memory sizes: 128 MiB below 4 GiB and 1 GiB above, in QEMU’s units', () => {
    const b = cmosBytes({ ramBelow4g: 128 << 20, ramAbove4g: 1 << 30, cpus: 2 });
    assert.deepEqual([b[0x15], b[0x16]], [0x80, 0x02], 'base memory 640 KiB');
    assert.deepEqual([b[0x17], b[0x18]], [0xff, 0xff], 'extended memory in KiB, capped');
    assert.deepEqual([b[0x34], b[0x35]], [0x00, 0x07], '112 MiB above 16 MiB in 64 KiB units');
    assert.deepEqual([b[0x5b], b[0x5c], b[0x5d]], [0x00, 0x40, 0x00], '1 GiB above 4 GiB');
    assert.equal(b[0x5f], 1, 'CPUs - 1');
  });

  it('through the ports: the index (NMI bit masked off), the data; the clock reads a fixed BCD time', () => {
    const dev = createCmos({ ramBelow4g: 64 << 20, time: new Date(Date.UTC(2026, 11, 5, 13, 47, 9)) });
    assert.equal(read(dev, 0x35), 0x03, '48 MiB above 16 MiB: 0x300');
    assert.deepEqual(
      [0x09, 0x08, 0x07, 0x04, 0x02, 0x00].map((r) => read(dev, r)),
      [0x26, 0x12, 0x05, 0x13, 0x47, 0x09],
    );
    assert.equal(read(dev, 0x0a) & 0x80, 0, 'no update in progress');
    assert.equal(read(dev, 0x0d), 0x80, 'valid RAM and time');
    dev.write(0, Uint8Array.of(0x40));
    dev.write(1, Uint8Array.of(0x5a));
    assert.equal(read(dev, 0x40), 0x5a, 'NVRAM bytes keep what was written');
  });
});
