/**
 * QEMU's fw_cfg on x86: the port protocol OVMF's PEI uses (select, byte reads, the file directory),
 * the widths QEMU's I/O regions accept, the DMA interface OVMF's DXE uses (FWCfgDmaAccess in guest
 * memory: SELECT, READ, SKIP, WRITE, the error bit), and what QEMU's pc machine puts in it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createFwCfg,
  E820_RAM,
  E820_RESERVED,
  FW_CFG_DMA_CTL_ERROR,
  FW_CFG_DMA_CTL_READ,
  FW_CFG_DMA_CTL_SELECT,
  FW_CFG_DMA_CTL_SKIP,
  FW_CFG_DMA_CTL_WRITE,
  FW_CFG_DMA_PORT,
  FW_CFG_FILE_DIR,
  FW_CFG_ID,
  FW_CFG_IO_SIZE,
  FW_CFG_IRQ0_OVERRIDE,
  FW_CFG_MAX_CPUS,
  FW_CFG_NB_CPUS,
  FW_CFG_PORT,
  FW_CFG_RAM_SIZE,
  FW_CFG_SIGNATURE,
  type FwCfgConfig,
  type FwCfgDevice,
  KVM_IDENTITY_BASE,
  qemuPcE820,
  qemuPcFwCfg,
} from './fw-cfg.js';

const DMA = FW_CFG_DMA_PORT - FW_CFG_PORT; // the DMA register's offset in the device

function select(dev: FwCfgDevice, key: number): void {
  dev.write(0, Uint8Array.of(key & 0xff, key >> 8));
}

/** `n` single-byte reads of the data port. */
function readData(dev: FwCfgDevice, n: number): Uint8Array {
  const out = new Uint8Array(n);
  const d = new Uint8Array(1);
  for (let i = 0; i < n; i++) {
    dev.read(1, d);
    out[i] = d[0]!;
  }
  return out;
}

function access(dev: FwCfgDevice, offset: number, size: number): number[] {
  const d = new Uint8Array(size);
  dev.read(offset, d);
  return [...d];
}

const ascii = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Guest RAM at [base, base + size); everything else is no memory. */
function guestRam(base: number, size: number) {
  const ram = new Uint8Array(size).fill(0xaa);
  const inside = (gpa: number, n: number): boolean => gpa >= base && gpa + n <= base + size;
  return {
    ram,
    at: (gpa: number, n: number) => ram.subarray(gpa - base, gpa - base + n),
    readGuest: (gpa: number, dst: Uint8Array): boolean => {
      if (!inside(gpa, dst.length)) return false;
      dst.set(ram.subarray(gpa - base, gpa - base + dst.length));
      return true;
    },
    writeGuest: (gpa: number, src: Uint8Array): boolean => {
      if (!inside(gpa, src.length)) return false;
      ram.set(src, gpa - base);
      return true;
    },
  };
}

const RAM_BASE = 0x10_0000;
const DESC = 0x10_0000; // where the tests put FWCfgDmaAccess
const BUF = 0x10_1000; // and the buffer

/** Write a FWCfgDmaAccess at `gpa` (big-endian) and start it through the register as OVMF does. */
function dma(
  dev: FwCfgDevice,
  g: ReturnType<typeof guestRam>,
  gpa: number,
  control: number,
  length: number,
  address: number,
) {
  const inRam = gpa >= RAM_BASE && gpa + 16 <= RAM_BASE + g.ram.length;
  if (inRam) {
    const v = new DataView(g.ram.buffer, gpa - RAM_BASE, 16);
    v.setUint32(0, control);
    v.setUint32(4, length);
    v.setBigUint64(8, BigInt(address));
  }
  const hi = new Uint8Array(4);
  const lo = new Uint8Array(4);
  new DataView(hi.buffer).setUint32(0, Math.floor(gpa / 2 ** 32));
  new DataView(lo.buffer).setUint32(0, gpa >>> 0);
  dev.write(DMA, hi);
  dev.write(DMA + 4, lo);
  return inRam ? new DataView(g.ram.buffer, gpa - RAM_BASE, 4).getUint32(0) : undefined;
}

const FILES = [
  { name: 'etc/zeta', data: Uint8Array.of(1, 2, 3) },
  { name: 'bootorder', data: new Uint8Array(0) },
  { name: 'etc/alpha', data: new TextEncoder().encode('hello, firmware') },
  { name: 'Zed', data: Uint8Array.of(9) },
];

function device(extra: Partial<FwCfgConfig> = {}) {
  const g = guestRam(RAM_BASE, 0x4000);
  const dev = createFwCfg({
    files: FILES,
    readGuest: g.readGuest,
    writeGuest: g.writeGuest,
    ...extra,
  });
  return { dev, g };
}

/** Parse FW_CFG_FILE_DIR read through the ports. */
function directory(dev: FwCfgDevice): { size: number; select: number; reserved: number; name: string }[] {
  select(dev, FW_CFG_FILE_DIR);
  const count = new DataView(readData(dev, 4).buffer).getUint32(0);
  const out = [];
  for (let i = 0; i < count; i++) {
    const e = readData(dev, 64);
    const v = new DataView(e.buffer);
    const name = e.subarray(8);
    out.push({
      size: v.getUint32(0),
      select: v.getUint16(4),
      reserved: v.getUint16(6),
      name: ascii(name.subarray(0, name.indexOf(0))),
    });
  }
  return out;
}

describe('fw_cfg: the port interface', () => {
  it('claims 0x510..0x51b; the signature item reads "QEMU" byte by byte after a 16-bit select', () => {
    assert.equal(FW_CFG_PORT, 0x510);
    assert.equal(FW_CFG_IO_SIZE, 12);
    const { dev } = device();
    select(dev, FW_CFG_ID);
    select(dev, FW_CFG_SIGNATURE);
    assert.equal(ascii(readData(dev, 4)), 'QEMU');
    assert.equal(dev.offset, 4);
  });

  it('FW_CFG_ID: traditional interface and DMA (bit 1) by default; bit 0 alone with DMA off', () => {
    const on = device().dev;
    select(on, FW_CFG_ID);
    assert.deepEqual([...readData(on, 4)], [3, 0, 0, 0]);
    const off = device({ dma: false }).dev;
    select(off, FW_CFG_ID);
    assert.deepEqual([...readData(off, 4)], [1, 0, 0, 0]);
    assert.deepEqual(access(off, DMA, 4), [0xff, 0xff, 0xff, 0xff], 'no DMA register: unclaimed ports');
  });

  it('the file directory: BE count and fields, names sorted as strcmp sorts them, selectors from 0x20', () => {
    const dev = device().dev;
    assert.deepEqual(directory(dev), [
      { size: 1, select: 0x20, reserved: 0, name: 'Zed' },
      { size: 0, select: 0x21, reserved: 0, name: 'bootorder' },
      { size: 15, select: 0x22, reserved: 0, name: 'etc/alpha' },
      { size: 3, select: 0x23, reserved: 0, name: 'etc/zeta' },
    ]);
    // QEMU's directory item is as long as its slots (4 + 64 × 0x20), zero past the last file.
    select(dev, FW_CFG_FILE_DIR);
    const all = readData(dev, 4 + 64 * 0x20 + 1);
    assert.ok(all.subarray(4 + 64 * 4).every((b) => b === 0));
    assert.equal(dev.offset, 4 + 64 * 0x20, 'the read past the end did not advance');
  });

  it('a file read through the data port after selecting it; past the end reads 0 and stays', () => {
    const dev = device().dev;
    const alpha = directory(dev).find((f) => f.name === 'etc/alpha')!;
    select(dev, alpha.select);
    assert.equal(ascii(readData(dev, 5)), 'hello');
    assert.equal(ascii(readData(dev, 10)), ', firmware');
    assert.deepEqual([...readData(dev, 3)], [0, 0, 0]);
    assert.equal(dev.offset, 15);
    select(dev, alpha.select);
    assert.equal(dev.offset, 0, 'selecting resets the offset');
    assert.equal(ascii(readData(dev, 1)), 'h');
  });

  it('keys as QEMU keys them: bit 14 ignored, an index past the slots selects nothing', () => {
    const dev = device().dev;
    select(dev, 0x4000 | FW_CFG_SIGNATURE);
    assert.equal(ascii(readData(dev, 4)), 'QEMU');
    select(dev, 0x40); // FW_CFG_FILE_FIRST + 0x20 slots: out of range
    assert.equal(dev.selected, -1);
    assert.deepEqual([...readData(dev, 2)], [0, 0]);
    select(dev, 0x3f); // in range, nothing there
    assert.equal(dev.selected, 0x3f);
    assert.deepEqual([...readData(dev, 2)], [0, 0]);
  });

  it('access widths as QEMU’s I/O regions take them', () => {
    const dev = device().dev;
    select(dev, FW_CFG_SIGNATURE);
    assert.deepEqual(access(dev, 0, 1), [0x51], 'a byte read of 0x510 reads data too (one region)');
    assert.deepEqual(access(dev, 0, 2), [0, 0], 'inw 0x510: refused, reads 0');
    assert.equal(dev.offset, 1, 'and does not advance');
    assert.deepEqual(access(dev, 0, 4), [0, 0, 0xff, 0xff], 'inl 0x510: clipped at the region');
    assert.deepEqual(access(dev, 1, 2), [0x45, 0xff], 'inw 0x511: one data byte, then an unclaimed port');
    assert.equal(dev.offset, 2);
    dev.write(1, Uint8Array.of(0x01)); // a data-port write: nothing (QEMU ≥ 2.4)
    dev.write(0, Uint8Array.of(0x01)); // a byte write of the selector: nothing
    assert.equal(dev.selected, FW_CFG_SIGNATURE);
    assert.equal(dev.offset, 2);
    dev.write(0, Uint8Array.of(FW_CFG_ID, 0, 0x55, 0x55)); // outl: the low two bytes select
    assert.equal(dev.selected, FW_CFG_ID);
  });

  it('the DMA register reads "QEMU CFG" at any width and alignment', () => {
    const dev = device().dev;
    assert.equal(ascii(Uint8Array.from(access(dev, DMA, 8))), 'QEMU CFG');
    assert.equal(ascii(Uint8Array.from(access(dev, DMA, 4))), 'QEMU');
    assert.equal(ascii(Uint8Array.from(access(dev, DMA + 4, 4))), ' CFG');
    assert.equal(ascii(Uint8Array.from(access(dev, DMA + 1, 2))), 'EM');
    assert.deepEqual(access(dev, 2, 4), [0xff, 0xff, 0x51, 0x45], '0x512-0x513 unclaimed, then the register');
  });
});

describe('fw_cfg: DMA', () => {
  it('SELECT|READ of a file into guest memory; control written back as 0', () => {
    const { dev, g } = device();
    const control = dma(dev, g, DESC, (0x22 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 15, BUF);
    assert.equal(control, 0);
    assert.equal(ascii(g.at(BUF, 15)), 'hello, firmware');
    assert.equal(g.at(BUF + 15, 1)[0], 0xaa, 'nothing past the length');
    assert.equal(dev.selected, 0x22);
    assert.equal(dev.offset, 15);
  });

  it('SKIP then READ continue from the offset; READ without SELECT keeps the item', () => {
    const { dev, g } = device();
    assert.equal(dma(dev, g, DESC, (0x22 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_SKIP, 7, BUF), 0);
    assert.equal(g.at(BUF, 1)[0], 0xaa, 'SKIP writes nothing');
    assert.equal(dev.offset, 7);
    assert.equal(dma(dev, g, DESC, FW_CFG_DMA_CTL_READ, 8, BUF), 0);
    assert.equal(ascii(g.at(BUF, 8)), 'firmware');
  });

  it('READ longer than the item: the rest is zero-filled; an invalid key reads zeros', () => {
    const { dev, g } = device();
    assert.equal(dma(dev, g, DESC, (0x23 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 8, BUF), 0);
    assert.deepEqual([...g.at(BUF, 9)], [1, 2, 3, 0, 0, 0, 0, 0, 0xaa]);
    assert.equal(dev.offset, 3, 'the offset stops at the end');
    assert.equal(dma(dev, g, DESC, (0x40 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, BUF), 0);
    assert.deepEqual([...g.at(BUF, 4)], [0, 0, 0, 0]);
  });

  it('SELECT alone selects and transfers nothing; the address register resets after each transfer', () => {
    const { dev, g } = device();
    assert.equal(dma(dev, g, DESC, (FW_CFG_ID << 16) | FW_CFG_DMA_CTL_SELECT, 4, BUF), 0);
    assert.equal(dev.selected, FW_CFG_ID);
    assert.equal(g.at(BUF, 1)[0], 0xaa);
    // Only the low half written: the address is that alone (the high half was cleared).
    new DataView(g.ram.buffer, 0x200, 16).setUint32(0, (FW_CFG_SIGNATURE << 16) | 0x0a); // SELECT|READ
    new DataView(g.ram.buffer, 0x200, 16).setUint32(4, 4);
    new DataView(g.ram.buffer, 0x200, 16).setBigUint64(8, BigInt(BUF));
    const lo = new Uint8Array(4);
    new DataView(lo.buffer).setUint32(0, RAM_BASE + 0x200);
    dev.write(DMA + 4, lo);
    assert.equal(ascii(g.at(BUF, 4)), 'QEMU');
  });

  it('a descriptor where there is no memory: nothing happens (the ERROR write-back has nowhere to go)', () => {
    const { dev, g } = device();
    const before = g.ram.slice();
    assert.equal(dma(dev, g, 0x8000_0000, FW_CFG_DMA_CTL_READ, 4, BUF), undefined);
    assert.deepEqual(g.ram, before);
    assert.equal(dev.selected, FW_CFG_SIGNATURE, 'the descriptor was not acted on');
    assert.equal(dev.offset, 0);
  });

  it('a descriptor only partly in memory: ERROR written to its control word, nothing transferred', () => {
    const { dev, g } = device();
    const at = RAM_BASE + g.ram.length - 8; // control and length in RAM, address past its end
    new DataView(g.ram.buffer, at - RAM_BASE, 8).setUint32(0, (0x22 << 16) | 0x0a); // SELECT|READ
    const hi = new Uint8Array(4);
    const lo = new Uint8Array(4);
    new DataView(lo.buffer).setUint32(0, at);
    dev.write(DMA, hi);
    dev.write(DMA + 4, lo);
    assert.equal(new DataView(g.ram.buffer, at - RAM_BASE, 4).getUint32(0), FW_CFG_DMA_CTL_ERROR);
    assert.equal(dev.selected, FW_CFG_SIGNATURE);
  });

  it('a buffer where there is no memory: ERROR in the control word; the offset still moves as QEMU’s', () => {
    const { dev, g } = device();
    const sel = (0x22 << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ;
    assert.equal(dma(dev, g, DESC, sel, 4, 0x8000_0000), FW_CFG_DMA_CTL_ERROR);
    assert.equal(dev.offset, 4);
    assert.equal(dma(dev, g, DESC, sel, 4, 2 ** 60), FW_CFG_DMA_CTL_ERROR, 'a u64 address past 2^53');
    // Zero fill past the end into no memory fails too.
    assert.equal(dma(dev, g, DESC, (0x3f << 16) | sel, 4, 0x8000_0000), FW_CFG_DMA_CTL_ERROR);
  });

  it('WRITE: stored in a writable file; ERROR for read-only items, past the end, and no item', () => {
    const { dev, g } = device({
      files: [...FILES, { name: 'etc/state', data: new Uint8Array(4), writable: true }],
    });
    const dir = directory(dev);
    const state = dir.find((f) => f.name === 'etc/state')!.select;
    const zeta = dir.find((f) => f.name === 'etc/zeta')!.select;
    assert.deepEqual([state, zeta], [0x23, 0x24], 'the new file sorts in before etc/zeta');
    g.at(BUF, 4).set([0xde, 0xad, 0xbe, 0xef]);
    const w = (key: number, n: number) =>
      dma(dev, g, DESC, (key << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE, n, BUF);
    assert.equal(w(state, 4), 0);
    assert.deepEqual([...dev.file('etc/state')!], [0xde, 0xad, 0xbe, 0xef]);
    assert.equal(w(FW_CFG_SIGNATURE, 4), FW_CFG_DMA_CTL_ERROR);
    assert.equal(dev.file('etc/zeta')![0], 1);
    assert.equal(w(zeta, 2), FW_CFG_DMA_CTL_ERROR, 'a read-only file');
    assert.deepEqual([...dev.file('etc/zeta')!], [1, 2, 3]);
    g.at(BUF, 5).set([1, 2, 3, 4, 5]);
    assert.equal(w(state, 5), FW_CFG_DMA_CTL_ERROR, 'past the end');
    assert.deepEqual([...dev.file('etc/state')!], [0xde, 0xad, 0xbe, 0xef], 'nothing stored');
    assert.equal(w(0x3f, 1), FW_CFG_DMA_CTL_ERROR, 'no item');
    // READ wins over WRITE when both are set.
    assert.equal(
      dma(
        dev,
        g,
        DESC,
        (state << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ | FW_CFG_DMA_CTL_WRITE,
        4,
        BUF,
      ),
      0,
    );
    assert.deepEqual([...g.at(BUF, 4)], [0xde, 0xad, 0xbe, 0xef]);
  });

  it('refuses a configuration QEMU would not build', () => {
    assert.throws(() => createFwCfg({ files: [FILES[0]!, FILES[0]!] }), /duplicate/);
    assert.throws(() => createFwCfg({ files: [{ name: 'x'.repeat(56), data: new Uint8Array(1) }] }), /name/);
    assert.throws(() => createFwCfg({ items: new Map([[FW_CFG_SIGNATURE, new Uint8Array(4)]]) }), /twice/);
    assert.throws(() => createFwCfg({ items: new Map([[0x20, new Uint8Array(4)]]) }), /file slot/);
  });
});

/** Parse etc/e820 bytes. */
function parseE820(b: Uint8Array): { address: number; length: number; type: number }[] {
  assert.equal(b.length % 20, 0);
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  const out = [];
  for (let i = 0; i < b.length; i += 20) {
    out.push({
      address: Number(v.getBigUint64(i, true)),
      length: Number(v.getBigUint64(i + 8, true)),
      type: v.getUint32(i + 16, true),
    });
  }
  return out;
}

describe('fw_cfg: QEMU’s pc machine', () => {
  const MIB = 1 << 20;
  const GIB = 1 << 30;

  it('e820 for 128 MiB: KVM’s identity-map reservation, then the RAM', () => {
    assert.deepEqual(qemuPcE820({ ramBelow4g: 128 * MIB }), [
      { address: KVM_IDENTITY_BASE, length: 0x4000, type: E820_RESERVED },
      { address: 0, length: 128 * MIB, type: E820_RAM },
    ]);
    assert.deepEqual(qemuPcE820({ ramBelow4g: 128 * MIB, kvm: false }), [
      { address: 0, length: 128 * MIB, type: E820_RAM },
    ]);
  });

  it('e820 for 3 GiB below 4 GiB and 1 GiB above, read as OVMF reads it (directory, then DMA)', () => {
    const g = guestRam(RAM_BASE, 0x4000);
    const dev = createFwCfg({
      ...qemuPcFwCfg({ ramBelow4g: 3 * GIB, ramAbove4g: GIB, cpus: 2 }),
      readGuest: g.readGuest,
      writeGuest: g.writeGuest,
    });
    const e820 = directory(dev).find((f) => f.name === 'etc/e820')!;
    assert.equal(e820.size, 60);
    const ctl = (e820.select << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ;
    assert.equal(dma(dev, g, DESC, ctl, e820.size, BUF), 0);
    assert.deepEqual(parseE820(g.at(BUF, 60).slice()), [
      { address: 0xfeffc000, length: 0x4000, type: 2 },
      { address: 0, length: 0xc000_0000, type: 1 },
      { address: 0x1_0000_0000, length: 0x4000_0000, type: 1 },
    ]);
  });

  it('the items and files: sizes and CPU counts, empty boot lists, boot-fail-wait, system states', () => {
    const dev = createFwCfg(qemuPcFwCfg({ ramBelow4g: 3 * GIB, ramAbove4g: GIB, cpus: 2, maxCpus: 4 }));
    const item = (key: number, n: number) => {
      select(dev, key);
      return [...readData(dev, n)];
    };
    assert.deepEqual(item(FW_CFG_RAM_SIZE, 8), [0, 0, 0, 0, 1, 0, 0, 0], '4 GiB');
    assert.deepEqual(item(FW_CFG_NB_CPUS, 2), [2, 0]);
    assert.deepEqual(item(FW_CFG_MAX_CPUS, 2), [4, 0]);
    assert.deepEqual(item(FW_CFG_IRQ0_OVERRIDE, 4), [1, 0, 0, 0]);
    const dir = directory(dev);
    assert.deepEqual(
      dir.map((f) => [f.name, f.size]),
      [
        ['bios-geometry', 0],
        ['bootorder', 0],
        ['etc/boot-fail-wait', 4],
        ['etc/e820', 60],
        ['etc/system-states', 6],
      ],
    );
    assert.deepEqual([...dev.file('etc/boot-fail-wait')!], [0xff, 0xff, 0xff, 0xff]);
    assert.deepEqual([...dev.file('etc/system-states')!], [0x80, 0, 0, 0x81, 0x82, 0x80]);
    const noS3 = createFwCfg(qemuPcFwCfg({ ramBelow4g: 128 * MIB, disableS3: true, bootMenuWaitMs: 3000 }));
    assert.deepEqual([...noS3.file('etc/system-states')!], [0x80, 0, 0, 0x01, 0x82, 0x80]);
    assert.deepEqual([...noS3.file('etc/boot-menu-wait')!], [0xb8, 0x0b]);
  });
});
