/**
 * The 8254 on a fake clock (ns), its counts read as QEMU's pit_get_count computes them
 * (d = ⌊Δt × 1193182 / 10⁹⌋ input ticks since the load), the latch and read-back commands,
 * LSB/MSB/word access, channel 0's IRQ0 edges through nextDeadline/sync, and port 0x61.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createI8254, PIT_FREQ } from './i8254.js';

/** The ns at which `ticks` input ticks have elapsed since a load at 0 (the first such ns). */
const at = (ticks: number): number => Math.ceil((ticks * 1e9) / PIT_FREQ);

function pit() {
  let t = 0;
  let pulses = 0;
  const dev = createI8254(
    () => t,
    () => pulses++,
  );
  const out = (port: number, v: number): void => dev.ports.write(port, Uint8Array.of(v));
  const inb = (port: number): number => {
    const d = new Uint8Array(1);
    dev.ports.read(port, d);
    return d[0]!;
  };
  const in61 = (): number => {
    const d = new Uint8Array(1);
    dev.port61.read(0, d);
    return d[0]!;
  };
  const out61 = (v: number): void => dev.port61.write(0, Uint8Array.of(v));
  /** Channel `ch`'s control word (access word, the mode) and its count, LSB then MSB. */
  const program = (ch: number, mode: number, count: number): void => {
    out(3, (ch << 6) | 0x30 | (mode << 1));
    out(ch, count & 0xff);
    out(ch, (count >> 8) & 0xff);
  };
  /** A word read of channel `ch` (LSB, then MSB). */
  const word = (ch: number): number => {
    const lo = inb(ch);
    return lo | (inb(ch) << 8);
  };
  return {
    dev,
    out,
    inb,
    in61,
    out61,
    program,
    word,
    set: (ns: number) => {
      t = ns;
    },
    /** sync at the current time; the IRQ0 pulses it gave. */
    sync: (): number => {
      const before = pulses;
      dev.sync(t);
      return pulses - before;
    },
  };
}

describe('8254 PIT', () => {
  it('mode 2 counts down by one per input tick, from the count (QEMU: count - d % count)', () => {
    const p = pit();
    p.set(1000);
    p.program(0, 2, 1000);
    assert.equal(p.word(0), 1000, 'd = 0: the count itself');
    p.set(1000 + 1_000_000); // d = ⌊1193.182⌋ = 1193
    assert.equal(p.word(0), 1000 - 193);
    p.set(1000 + at(1000));
    assert.equal(p.word(0), 1000, 'reloaded at the period');
  });

  it('mode 3 counts down by two (QEMU: count - 2d % count)', () => {
    const p = pit();
    p.set(1000);
    p.program(0, 3, 1000);
    p.set(1000 + 1_000_000); // 2d = 2386
    assert.equal(p.word(0), 1000 - 386);
    p.set(1000 + at(250));
    assert.equal(p.word(0), 500);
  });

  it('modes 0, 1, 4, 5 count down once and wrap through 0xffff', () => {
    for (const mode of [0, 1, 4, 5]) {
      const p = pit();
      p.program(1, mode, 100);
      p.set(at(40));
      assert.equal(p.word(1), 60, `mode ${mode}`);
      p.set(at(101));
      assert.equal(p.word(1), 0xffff, `mode ${mode} after terminal count`);
    }
  });

  it('word access: reads alternate LSB, MSB; writes take LSB then MSB', () => {
    const p = pit();
    p.program(0, 2, 0x1234);
    assert.deepEqual([p.inb(0), p.inb(0), p.inb(0), p.inb(0)], [0x34, 0x12, 0x34, 0x12]);
    p.out(3, 0x34);
    p.out(0, 0x78);
    assert.equal(p.word(0), 0x1234, 'half a count written loads nothing');
    p.out(0, 0x56);
    assert.equal(p.word(0), 0x5678);
  });

  it('LSB-only and MSB-only access: one byte loads the count; every read is that byte', () => {
    const p = pit();
    p.out(3, 0x14); // channel 0, LSB only, mode 2
    p.out(0, 100);
    p.set(at(30));
    assert.deepEqual([p.inb(0), p.inb(0)], [70, 70]);
    assert.equal(p.dev.nextDeadline(), at(100), 'the period is 100 ticks');
    const q = pit();
    q.out(3, 0x24); // MSB only
    q.out(0, 0x12);
    assert.equal(q.dev.nextDeadline(), at(0x1200));
    q.set(at(0x100));
    assert.deepEqual([q.inb(0), q.inb(0)], [0x11, 0x11]);
  });

  it('a count of 0 is 65536', () => {
    const p = pit();
    p.program(0, 2, 0);
    assert.equal(p.word(0), 0, '65536 reads as 0');
    p.set(at(1));
    assert.equal(p.word(0), 0xffff);
    assert.equal(p.dev.nextDeadline(), at(65536));
    const q = pit();
    q.out(3, 0x10); // LSB only, mode 0
    q.out(0, 0);
    q.set(at(65535));
    assert.equal(q.inb(0), 1);
  });

  it('the latch command freezes the count until read; a second latch before then is ignored', () => {
    const p = pit();
    p.program(0, 2, 1000);
    p.set(1_000_000); // count 1000 - 1193 % 1000 = 807
    p.out(3, 0x00);
    p.set(2_000_000); // live count 1000 - 2386 % 1000 = 614
    p.out(3, 0x00);
    assert.equal(p.word(0), 807, 'the first latch');
    assert.equal(p.word(0), 614, 'then live again');
    // LSB-only: the latch is released by one read.
    p.out(3, 0x14);
    p.set(3_000_000);
    p.out(0, 200);
    p.set(3_000_000 + at(50));
    p.out(3, 0x00);
    p.set(3_000_000 + at(80));
    assert.deepEqual([p.inb(0), p.inb(0)], [150, 120]);
  });

  it('read-back: status (OUT, access, mode, BCD) then the latched count, per channel', () => {
    const p = pit();
    p.program(0, 3, 1000);
    p.program(2, 0, 100);
    p.set(at(100));
    p.out(3, 0xe2); // status only, channel 0
    assert.equal(p.inb(0), 0x80 | 0x30 | (3 << 1), 'mode 3, first half: OUT high');
    assert.equal(p.word(0), 800, 'then the live count');
    p.set(at(600));
    p.out(3, 0xc2); // status and count, channel 0
    p.set(at(700));
    assert.equal(p.inb(0), 0x30 | (3 << 1), 'second half: OUT low');
    assert.equal(p.word(0), 1000 - 200, 'the count at the read-back, 2 × 600 % 1000 down');
    p.out(3, 0xe8); // channel 2: mode 0, OUT high after its 100 ticks
    p.out(3, 0xe8); // a second status latch before the read is ignored
    assert.equal(p.inb(2), 0x80 | 0x30);
    assert.equal(p.inb(2) | (p.inb(2) << 8), (100 - 700) & 0xffff);
    p.out(3, 0xd2); // count only (bit 4 set: no status)
    p.set(at(900));
    assert.equal(p.word(0), 1000 - 400);
  });

  it('channel 0 mode 2: one IRQ0 per period, at the first ns its tick has elapsed', () => {
    const p = pit();
    const t0 = 1000;
    p.set(t0);
    assert.equal(p.dev.nextDeadline(), undefined, 'nothing loaded: no edge');
    p.program(0, 2, 1000);
    assert.equal(p.dev.nextDeadline(), t0 + at(1000));
    p.set(t0 + at(1000) - 1);
    assert.equal(p.sync(), 0);
    p.set(t0 + at(1000));
    assert.equal(p.sync(), 1);
    assert.equal(p.sync(), 0, 'once');
    assert.equal(p.dev.nextDeadline(), t0 + at(2000));
  });

  it('missed periods coalesce into one edge; the next deadline is the next period after now', () => {
    for (const mode of [2, 3]) {
      const p = pit();
      p.program(0, mode, 1000);
      p.set(at(11_000) + 5);
      assert.equal(p.sync(), 1, `mode ${mode}`);
      assert.equal(p.dev.nextDeadline(), at(12_000));
      assert.equal(p.sync(), 0);
    }
  });

  it('mode 3 rises at the end of each period, not at the half (the edge the PIC latches)', () => {
    const p = pit();
    p.program(0, 3, 1000);
    p.set(at(500));
    assert.equal(p.sync(), 0);
    p.set(at(1000));
    assert.equal(p.sync(), 1);
  });

  it('mode 0: one IRQ0 at the terminal count, then none; a reload starts over', () => {
    const p = pit();
    p.program(0, 0, 500);
    p.set(at(500));
    assert.equal(p.sync(), 1);
    assert.equal(p.dev.nextDeadline(), undefined);
    p.set(at(5000));
    assert.equal(p.sync(), 0);
    p.program(0, 0, 10);
    assert.equal(p.dev.nextDeadline(), at(5000) + at(10));
  });

  it('channel 0 periodic for a long time: every deadline is after its edge and raises it once', () => {
    const p = pit();
    p.program(0, 2, 1000);
    for (const start of [1e12, 1e14]) {
      p.set(start);
      p.sync();
      for (let i = 0; i < 2000; i++) {
        const d = p.dev.nextDeadline()!;
        assert.ok(d > start, 'in the future');
        p.set(d - 1);
        assert.equal(p.sync(), 0, `not before ${d}`);
        p.set(d);
        assert.equal(p.sync(), 1, `at ${d}`);
        assert.ok(p.dev.nextDeadline()! > d);
      }
    }
  });

  it('channels 1 and 2 never raise IRQ0', () => {
    const p = pit();
    p.program(1, 2, 10);
    p.out61(1);
    p.program(2, 2, 10);
    assert.equal(p.dev.nextDeadline(), undefined);
    p.set(at(1000));
    assert.equal(p.sync(), 0);
  });

  it('port 0x61: gate, speaker data, the refresh toggle, channel 2 OUT', () => {
    const p = pit();
    const a = p.in61();
    const b = p.in61();
    assert.equal(a & 0x23, 0, 'gate low, speaker off, OUT low');
    assert.equal((a ^ b) & 0x10, 0x10, 'bit 4 toggles on each read');
    p.out61(0x03);
    assert.equal(p.in61() & 0x03, 0x03, 'gate and speaker data read back');
    p.out61(0x01);
    assert.equal(p.in61() & 0x03, 0x01);
    p.set(100);
    p.program(2, 0, 100);
    p.set(100 + at(100) - 1);
    assert.equal(p.in61() & 0x20, 0);
    p.set(100 + at(100));
    assert.equal(p.in61() & 0x20, 0x20, 'channel 2 reached its terminal count');
  });

  it("port 0x61: a rising gate restarts channel 2's count in mode 2, not in mode 0", () => {
    const p = pit();
    p.out61(1);
    p.program(2, 2, 1000);
    p.set(500_000); // d = 596
    assert.equal(p.word(2), 404);
    p.out61(0);
    p.out61(1);
    assert.equal(p.word(2), 1000, 'restarted');
    p.program(2, 0, 1000);
    p.set(1_000_000);
    p.out61(0);
    p.out61(1);
    assert.equal(p.word(2), 1000 - 596, 'mode 0 counts on');
  });

  it('the control port reads 0', () => {
    const p = pit();
    p.program(0, 2, 0x1234);
    assert.equal(p.inb(3), 0);
  });
});
