/** The devices, each on its own: serial, debug-exit, MMIO registers, MMIO RAM window. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDebugExit } from './devices/debug-exit.js';
import { createMmioRam } from './devices/mmio-ram.js';
import { createMmioRegisters } from './devices/mmio-register.js';
import { createSerial } from './devices/serial.js';

const byte = (dev: { read(o: number, d: Uint8Array): void }, off: number): number => {
  const d = new Uint8Array(1);
  dev.read(off, d);
  return d[0]!;
};

describe('serial (16550 subset)', () => {
  it('captures THR writes as output and reads LSR as transmitter empty (0x60)', () => {
    const s = createSerial();
    for (const c of 'ok\n') s.write(0, Uint8Array.of(c.charCodeAt(0)));
    assert.equal(s.text(), 'ok\n');
    assert.deepEqual([...s.output()], [0x6f, 0x6b, 0x0a]);
    assert.equal(byte(s, 5), 0x60);
    assert.equal(byte(s, 0), 0, 'RBR: no input');
  });

  it('returns long output whole, and from an offset', () => {
    const s = createSerial();
    const a = Uint8Array.of(0x61);
    for (let i = 0; i < 200_000; i++) s.write(0, a);
    assert.equal(s.text(), 'a'.repeat(200_000));
    assert.equal(s.text(199_998), 'aa');
  });

  it('keeps other registers as plain bytes; with DLAB set, +0/+1 are the divisor latch', () => {
    const s = createSerial();
    s.write(7, Uint8Array.of(0xa5)); // scratch register
    s.write(1, Uint8Array.of(0x0f)); // IER
    assert.equal(byte(s, 7), 0xa5);
    assert.equal(byte(s, 1), 0x0f);
    s.write(3, Uint8Array.of(0x83)); // LCR: DLAB, 8N1
    s.write(0, Uint8Array.of(0x01)); // divisor low: not output
    assert.equal(byte(s, 0), 0x01);
    assert.equal(byte(s, 1), 0x00, 'divisor high, not IER');
    s.write(3, Uint8Array.of(0x03));
    assert.equal(byte(s, 1), 0x0f);
    assert.equal(s.text(), '');
  });

  it('treats a wide access as consecutive byte registers', () => {
    const s = createSerial();
    const d = new Uint8Array(2);
    s.read(4, d); // MCR, LSR
    assert.deepEqual([...d], [0, 0x60]);
  });
});

describe('debug-exit (isa-debug-exit)', () => {
  it('turns a write of v into exit code (v << 1) | 1, taken once', () => {
    const d = createDebugExit();
    assert.equal(d.pending(), undefined);
    d.write(0, Uint8Array.of(0x10));
    assert.equal(d.pending(), 0x21);
    assert.equal(d.take(), 0x21);
    assert.equal(d.take(), undefined);
    d.write(0, Uint8Array.of(0x34, 0x12));
    assert.equal(d.take(), 0x2469);
    assert.equal(byte(d, 0), 0xff);
  });
});

describe('MMIO registers', () => {
  it('start at the initial value, read and write any width, ignore bytes past the bank', () => {
    const r = createMmioRegisters('regs', 16, 0x1122334455667788n);
    const d = new Uint8Array(4);
    r.read(0, d);
    assert.deepEqual([...d], [0x88, 0x77, 0x66, 0x55]);
    r.read(12, d);
    assert.deepEqual([...d], [0x44, 0x33, 0x22, 0x11]);
    r.write(8, Uint8Array.of(1, 2));
    assert.equal(r.register(1), 0x1122334455660201n);
    assert.equal(r.register(0), 0x1122334455667788n);
    r.write(14, Uint8Array.of(9, 9, 9, 9));
    assert.equal(r.register(1) >> 48n, 0x0909n);
    r.read(15, d);
    assert.deepEqual([...d], [9, 0, 0, 0]);
  });
});

describe('MMIO RAM window', () => {
  it('reads back what was written; past the window reads 0', () => {
    const w = createMmioRam('win', 0x20);
    w.write(0x1e, Uint8Array.of(1, 2, 3, 4));
    const d = new Uint8Array(4);
    w.read(0x1e, d);
    assert.deepEqual([...d], [1, 2, 0, 0]);
    w.write(0, Uint8Array.of(0xaa, 0xbb));
    w.read(0, d);
    assert.deepEqual([...d], [0xaa, 0xbb, 0, 0]);
    // The window holds exactly its 0x20 bytes: the two written at 0x1e, nothing past it.
    const want = new Uint8Array(0x20);
    want.set([0xaa, 0xbb], 0);
    want.set([1, 2], 0x1e);
    assert.deepEqual(w.bytes, want);
  });
});
