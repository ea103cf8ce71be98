/**
 * The CFI flash: the command sequences OVMF's QemuFlashFvbServicesRuntimeDxe sends (program a byte,
 * erase a 4 KiB block, back to read-array) land in the backing bytes, status reads after a command,
 * and a sequence the device does not accept changes nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createPflash,
  PFLASH_BLOCK_ERASE,
  PFLASH_BLOCK_ERASE_CONFIRM,
  PFLASH_READ_ARRAY,
  PFLASH_READ_STATUS,
  PFLASH_WRITE_BYTE,
} from './pflash.js';

function flash(size = 0x3000) {
  const bytes = new Uint8Array(size).fill(0xa5);
  const dev = createPflash({
    size,
    backing: {
      read: (off, dst) => dst.set(bytes.subarray(off, off + dst.length)),
      write: (off, src) => bytes.set(src, off),
    },
  });
  const w = (off: number, v: number) => dev.write(off, Uint8Array.of(v));
  const r = (off: number) => {
    const d = new Uint8Array(1);
    dev.read(off, d);
    return d[0]!;
  };
  return { bytes, dev, w, r };
}

describe('pflash (CFI01 command set)', () => {
  it('WRITE_BYTE then data programs one byte; reads give status until READ_ARRAY', () => {
    const { bytes, dev, w, r } = flash();
    w(0x1234, PFLASH_WRITE_BYTE);
    assert.equal(bytes[0x1234], 0xa5, 'the command itself writes nothing');
    w(0x1234, 0x3c);
    assert.equal(bytes[0x1234], 0x3c);
    assert.equal(r(0x1234), 0x80, 'status: ready');
    w(0x1234, PFLASH_READ_ARRAY);
    assert.equal(r(0x1234), 0x3c);
    assert.equal(dev.stats.programmedBytes, 1);
  });

  it('BLOCK_ERASE + confirm fills the 4 KiB block holding the address with 0xff, no more', () => {
    const { bytes, dev, w } = flash();
    w(0x1800, PFLASH_BLOCK_ERASE);
    w(0x1800, PFLASH_BLOCK_ERASE_CONFIRM);
    assert.ok(bytes.subarray(0x1000, 0x2000).every((b) => b === 0xff));
    assert.equal(bytes[0x0fff], 0xa5);
    assert.equal(bytes[0x2000], 0xa5);
    assert.equal(dev.stats.erasedSectors, 1);
  });

  it('an erase without its confirm byte erases nothing and flags an error in status', () => {
    const { bytes, w, r } = flash();
    w(0x100, PFLASH_BLOCK_ERASE);
    w(0x100, 0x00);
    assert.equal(bytes[0x100], 0xa5);
    w(0x100, PFLASH_READ_STATUS);
    assert.equal(r(0x100) & 0x30, 0x30);
  });

  it('writes past the end of the device are dropped', () => {
    const { bytes, w } = flash(0x1000);
    w(0x1000, PFLASH_WRITE_BYTE);
    w(0xfff, PFLASH_WRITE_BYTE);
    w(0xfff, 0x11);
    assert.equal(bytes[0xfff], 0x11);
  });
});
