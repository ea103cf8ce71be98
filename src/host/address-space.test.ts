import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SysError } from '../uapi/kvm-error.js';
import {
  HostAddressSpace,
  type HostFault,
  type HostMemoryObserver,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  USER_ADDR_LIMIT,
} from './address-space.js';
import { HostFile } from './file-store.js';
import { PAGE_SIZE } from './page.js';

const P = PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;
const B = 0x7f12_3450_0000;

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (seed + i * 7) & 0xff;
  return out;
}

function readOk(as: HostAddressSpace, hva: number, n: number): Uint8Array {
  const dst = new Uint8Array(n);
  assert.equal(as.read(hva, dst), undefined, `read ${n} at 0x${hva.toString(16)}`);
  return dst;
}

function sysError(code: string) {
  return (e: unknown) => e instanceof SysError && e.code === code;
}

describe('HostAddressSpace: anonymous memory', () => {
  it('unwritten memory reads as zero and writes round-trip across chunk boundaries', () => {
    const as = new HostAddressSpace();
    as.mapAnonymous(B, 64 * P);
    assert.deepEqual(readOk(as, B + 5, 100), new Uint8Array(100));
    const data = bytes(70000, 3);
    const at = B + 16 * P - 1234; // straddles a 64 KiB storage chunk boundary
    assert.equal(as.write(at, data), undefined);
    assert.deepEqual(readOk(as, at, data.length), data);
    assert.deepEqual(readOk(as, at - 10, 10), new Uint8Array(10));
  });

  it('is sparse: 1 TiB mapped, one byte written, almost nothing resident', () => {
    const as = new HostAddressSpace();
    const TiB = 2 ** 40;
    as.mapAnonymous(B - TiB, TiB);
    assert.equal(as.residentBytes(), 0);
    assert.equal(as.write(B - 1, Uint8Array.of(0x5a)), undefined);
    assert.ok(as.residentBytes() > 0 && as.residentBytes() <= 65536, `${as.residentBytes()}`);
    assert.deepEqual([...readOk(as, B - 2, 2)], [0, 0x5a]);
    as.unmap(B - TiB, TiB);
    assert.equal(as.residentBytes(), 0);
    assert.deepEqual(as.describe(B - 1), { state: 'unmapped' });
  });

  it('MAP_FIXED replaces what was there: the new mapping reads zero, the rest keeps its data', () => {
    const as = new HostAddressSpace();
    as.mapAnonymous(B, 4 * P);
    as.write(B, new Uint8Array(4 * P).fill(0xee));
    as.mapAnonymous(B + P, P, PROT_READ);
    assert.equal(readOk(as, B + P - 1, 1)[0], 0xee);
    assert.deepEqual(readOk(as, B + P, P), new Uint8Array(P));
    assert.equal(readOk(as, B + 2 * P, 1)[0], 0xee);
    assert.deepEqual(as.describe(B + P), {
      state: 'anonymous',
      prot: PROT_READ,
      start: B + P,
      end: B + 2 * P,
    });
    assert.deepEqual(as.write(B + P + 8, Uint8Array.of(1)), { kind: 'protection', hva: B + P + 8 });
  });
});

describe('HostAddressSpace: faults report the first failing byte', () => {
  it("'unmapped': access starting mid-page in a hole, and one spanning a good page then a hole", () => {
    const as = new HostAddressSpace();
    as.mapAnonymous(B, P);
    const dst = new Uint8Array(20);
    assert.deepEqual(as.read(B + P + 100, dst), { kind: 'unmapped', hva: B + P + 100 });
    assert.deepEqual(as.read(B + P - 10, dst), { kind: 'unmapped', hva: B + P });
    assert.deepEqual(as.write(B - 5, dst), { kind: 'unmapped', hva: B - 5 });
    // Past the top of the address space.
    assert.deepEqual(as.read(USER_ADDR_LIMIT - 4, new Uint8Array(8)), {
      kind: 'unmapped',
      hva: USER_ADDR_LIMIT - 4,
    });
  });

  it("'protection': PROT_NONE reads, writes without PROT_WRITE; write-only is readable (x86)", () => {
    const as = new HostAddressSpace();
    as.mapAnonymous(B, P, RW);
    as.mapAnonymous(B + P, P, PROT_READ);
    as.mapAnonymous(B + 2 * P, P, PROT_NONE);
    as.mapAnonymous(B + 3 * P, P, PROT_WRITE);
    const src = new Uint8Array(200).fill(9);
    const fault = as.write(B + P - 100, src);
    assert.deepEqual(fault, { kind: 'protection', hva: B + P });
    assert.deepEqual(
      readOk(as, B + P - 100, 100),
      new Uint8Array(100).fill(9),
      'bytes before the fault landed',
    );
    assert.deepEqual(as.read(B + P + 50, new Uint8Array(P)), { kind: 'protection', hva: B + 2 * P });
    assert.deepEqual(as.read(B + 2 * P + 7, new Uint8Array(1)), { kind: 'protection', hva: B + 2 * P + 7 });
    readOk(as, B + 3 * P, P);
  });

  it('a fault in the second of two mappings with the same prot reports the page, not the access start', () => {
    const as = new HostAddressSpace();
    const f = new HostFile('f', P);
    as.mapAnonymous(B, P);
    as.mapFile(B + P, 2 * P, f, 0);
    assert.deepEqual(as.read(B + 10, new Uint8Array(3 * P)), { kind: 'beyond-eof', hva: B + 2 * P });
  });
});

describe('HostAddressSpace: splitting, merging, protecting', () => {
  it('partial unmap splits a mapping and keeps the data on both sides', () => {
    const as = new HostAddressSpace();
    as.mapAnonymous(B, 4 * P);
    as.write(B, bytes(4 * P));
    as.unmap(B + P, P);
    assert.deepEqual(as.describe(B), { state: 'anonymous', prot: RW, start: B, end: B + P });
    assert.deepEqual(as.describe(B + P), { state: 'unmapped' });
    assert.deepEqual(as.describe(B + 3 * P), {
      state: 'anonymous',
      prot: RW,
      start: B + 2 * P,
      end: B + 4 * P,
    });
    assert.deepEqual(readOk(as, B, P), bytes(4 * P).subarray(0, P));
    assert.deepEqual(readOk(as, B + 2 * P, 2 * P), bytes(4 * P).subarray(2 * P));
    // Remapping the hole gives zeros there (the old contents were discarded) and merges back.
    as.mapAnonymous(B + P, P);
    assert.deepEqual(readOk(as, B + P, P), new Uint8Array(P));
    assert.deepEqual(as.describe(B + P), { state: 'anonymous', prot: RW, start: B, end: B + 4 * P });
  });

  it('unmapping a range covering several mappings and holes; unmapping nothing is fine', () => {
    const as = new HostAddressSpace();
    as.mapAnonymous(B, P);
    as.mapAnonymous(B + 2 * P, P, PROT_READ);
    as.mapAnonymous(B + 4 * P, 2 * P);
    as.unmap(B + P / 1, 4 * P);
    assert.deepEqual(as.describe(B), { state: 'anonymous', prot: RW, start: B, end: B + P });
    assert.deepEqual(as.describe(B + 2 * P), { state: 'unmapped' });
    assert.deepEqual(as.describe(B + 5 * P), {
      state: 'anonymous',
      prot: RW,
      start: B + 5 * P,
      end: B + 6 * P,
    });
    as.unmap(B + 100 * P, P);
  });

  it('protect of the middle splits in three; protecting back merges into one', () => {
    const as = new HostAddressSpace();
    as.mapAnonymous(B, 3 * P);
    as.write(B, bytes(3 * P));
    as.protect(B + P, P, PROT_READ);
    assert.deepEqual(as.describe(B), { state: 'anonymous', prot: RW, start: B, end: B + P });
    assert.deepEqual(as.describe(B + P), {
      state: 'anonymous',
      prot: PROT_READ,
      start: B + P,
      end: B + 2 * P,
    });
    assert.deepEqual(as.describe(B + 2 * P), {
      state: 'anonymous',
      prot: RW,
      start: B + 2 * P,
      end: B + 3 * P,
    });
    assert.deepEqual(as.write(B + P, Uint8Array.of(0)), { kind: 'protection', hva: B + P });
    as.protect(B + P, P, RW);
    assert.deepEqual(as.describe(B + P), { state: 'anonymous', prot: RW, start: B, end: B + 3 * P });
    assert.deepEqual(readOk(as, B, 3 * P), bytes(3 * P), 'protection changes never move data');
  });

  it('protect over a hole fails ENOMEM after changing the mappings before the hole (as Linux)', () => {
    const as = new HostAddressSpace();
    as.mapAnonymous(B, 2 * P);
    as.mapAnonymous(B + 3 * P, P);
    assert.throws(() => as.protect(B, 4 * P, PROT_READ), sysError('ENOMEM'));
    assert.deepEqual(as.describe(B), { state: 'anonymous', prot: PROT_READ, start: B, end: B + 2 * P });
    assert.deepEqual(as.describe(B + 3 * P), {
      state: 'anonymous',
      prot: RW,
      start: B + 3 * P,
      end: B + 4 * P,
    });
    assert.throws(() => as.protect(B - P, 2 * P, PROT_READ), sysError('ENOMEM'));
  });

  it('protect of part of a file mapping keeps the file offsets of the pieces', () => {
    const as = new HostAddressSpace();
    const f = new HostFile('f', 8 * P);
    f.write(5 * P, Uint8Array.of(42));
    as.mapFile(B, 4 * P, f, 2 * P);
    as.protect(B + P, P, PROT_READ);
    const d = as.describe(B + 3 * P);
    assert.equal(d.state, 'file');
    assert.equal(d.state === 'file' && d.fileOffset, 4 * P);
    assert.equal(readOk(as, B + 3 * P, 1)[0], 42);
    as.protect(B + P, P, RW);
    const merged = as.describe(B + 3 * P);
    assert.equal(merged.state === 'file' && merged.start, B);
  });
});

describe('HostAddressSpace: file mappings', () => {
  it('writes through a shared mapping are visible in the file and vice versa', () => {
    const as = new HostAddressSpace();
    const f = new HostFile('shared', 4 * P);
    as.mapFile(B, 2 * P, f, 2 * P);
    assert.equal(as.write(B + 10, Uint8Array.of(1, 2, 3)), undefined);
    const buf = new Uint8Array(3);
    f.read(2 * P + 10, buf);
    assert.deepEqual([...buf], [1, 2, 3]);
    f.write(3 * P + 1, Uint8Array.of(77));
    assert.equal(readOk(as, B + P + 1, 1)[0], 77);
    assert.equal(f.size, 4 * P);
  });

  it('truncation under a live mapping: beyond-eof appears, the last page tail zero-fills, re-extend heals', () => {
    const as = new HostAddressSpace();
    const f = new HostFile('img', 4 * P);
    f.write(0, new Uint8Array(4 * P).fill(0xab));
    as.mapFile(B, 4 * P, f, 0);
    readOk(as, B, 4 * P);

    f.truncate(P + 100);
    assert.deepEqual(as.read(B + 3 * P + 5, new Uint8Array(4)), { kind: 'beyond-eof', hva: B + 3 * P + 5 });
    assert.deepEqual(as.read(B + P - 8, new Uint8Array(2 * P)), { kind: 'beyond-eof', hva: B + 2 * P });
    const tail = readOk(as, B + P, P);
    assert.deepEqual(tail.subarray(0, 100), new Uint8Array(100).fill(0xab));
    assert.deepEqual(tail.subarray(100), new Uint8Array(P - 100), 'past EOF in the last page reads zero');
    const d = as.describe(B + 2 * P);
    assert.equal(d.state === 'file' && d.beyondEof, true);

    // A store into the tail of the last page does not extend the file.
    assert.equal(as.write(B + P + 200, Uint8Array.of(5)), undefined);
    assert.equal(f.size, P + 100);
    assert.deepEqual(as.write(B + 2 * P, Uint8Array.of(5)), { kind: 'beyond-eof', hva: B + 2 * P });

    f.truncate(4 * P);
    const healed = readOk(as, B, 4 * P);
    assert.equal(healed[P + 99], 0xab);
    assert.deepEqual(healed.subarray(P + 100), new Uint8Array(3 * P - 100), 'extension reads zero');
  });

  it('rejects a misaligned file offset', () => {
    const as = new HostAddressSpace();
    assert.throws(() => as.mapFile(B, P, new HostFile('f', P), 100), sysError('EINVAL'));
    assert.throws(() => as.mapFile(B, P, new HostFile('f', P), -P), sysError('EINVAL'));
  });
});

describe('HostAddressSpace: userfaultfd (missing) mappings', () => {
  it("every page faults 'missing' until populated; the fault names the first unpopulated byte", () => {
    const as = new HostAddressSpace();
    as.mapMissing(B, 4 * P);
    assert.deepEqual(as.read(B + 123, new Uint8Array(4)), { kind: 'missing', hva: B + 123 });
    assert.deepEqual(as.describe(B + P), {
      state: 'missing',
      prot: RW,
      start: B,
      end: B + 4 * P,
      populated: false,
    });
    as.populate(B + P, bytes(P, 5));
    assert.deepEqual(readOk(as, B + P, P), bytes(P, 5));
    assert.deepEqual(as.read(B + 2 * P - 4, new Uint8Array(8)), { kind: 'missing', hva: B + 2 * P });
    assert.deepEqual(as.write(B + 2 * P - 4, new Uint8Array(8).fill(1)), { kind: 'missing', hva: B + 2 * P });
    as.populateZero(B + 2 * P, 2 * P);
    assert.deepEqual([...readOk(as, B + 2 * P - 4, 8)], [1, 1, 1, 1, 0, 0, 0, 0]);
    assert.equal((as.describe(B + 3 * P) as { populated: boolean }).populated, true);
    assert.deepEqual(as.read(B, new Uint8Array(1)), { kind: 'missing', hva: B });
  });

  it('populate: EEXIST on a populated page (nothing copied), EINVAL outside a missing mapping or misaligned', () => {
    const as = new HostAddressSpace();
    as.mapMissing(B, 4 * P);
    as.mapAnonymous(B + 4 * P, P);
    as.populate(B + 2 * P, bytes(P));
    assert.throws(() => as.populate(B + P, new Uint8Array(2 * P).fill(3)), sysError('EEXIST'));
    assert.deepEqual(as.read(B + P, new Uint8Array(1)), { kind: 'missing', hva: B + P }, 'all or nothing');
    assert.throws(() => as.populateZero(B + 2 * P, P), sysError('EEXIST'));
    assert.throws(() => as.populate(B + 3 * P, new Uint8Array(2 * P)), sysError('EINVAL'));
    assert.throws(() => as.populate(B + 5 * P, new Uint8Array(P)), sysError('EINVAL'));
    assert.throws(() => as.populate(B + 100, new Uint8Array(P)), sysError('EINVAL'));
    assert.throws(() => as.populate(B, new Uint8Array(100)), sysError('EINVAL'));
    assert.throws(() => as.populateZero(B, 0), sysError('EINVAL'));
  });

  it('unmapping forgets population; remapping faults again', () => {
    const as = new HostAddressSpace();
    as.mapMissing(B, 2 * P);
    as.populate(B, bytes(2 * P));
    as.unmap(B, P);
    as.mapMissing(B, P);
    assert.deepEqual(as.read(B, new Uint8Array(1)), { kind: 'missing', hva: B });
    as.populateZero(B, P);
    assert.deepEqual(readOk(as, B, P), new Uint8Array(P));
    assert.deepEqual(readOk(as, B + P, P), bytes(2 * P).subarray(P));
  });
});

describe('HostAddressSpace: view', () => {
  it('aliases anonymous memory both ways', () => {
    const as = new HostAddressSpace();
    as.mapAnonymous(B, 2 * P);
    const v = as.view(B + P + 16, 32, true);
    assert.ok(v instanceof Uint8Array);
    v.fill(0x42);
    assert.deepEqual(readOk(as, B + P + 16, 32), new Uint8Array(32).fill(0x42));
    as.write(B + P + 20, Uint8Array.of(1));
    assert.equal(v[4], 1);
  });

  it('aliases a file page; faults like an access; rejects a view that crosses a page', () => {
    const as = new HostAddressSpace();
    const f = new HostFile('f', P);
    as.mapFile(B, 2 * P, f, 0);
    as.mapAnonymous(B + 2 * P, P, PROT_READ);
    as.mapMissing(B + 3 * P, P);
    const v = as.view(B, 8, true) as Uint8Array;
    v[3] = 99;
    const buf = new Uint8Array(4);
    f.read(0, buf);
    assert.equal(buf[3], 99);
    assert.deepEqual(as.view(B + P + 8, 8, false), {
      kind: 'beyond-eof',
      hva: B + P + 8,
    } satisfies HostFault);
    assert.deepEqual(as.view(B + 2 * P + 1, 8, true), { kind: 'protection', hva: B + 2 * P + 1 });
    assert.ok(as.view(B + 2 * P + 1, 8, false) instanceof Uint8Array);
    assert.deepEqual(as.view(B + 3 * P, 8, false), { kind: 'missing', hva: B + 3 * P });
    assert.deepEqual(as.view(B + 9 * P, 8, false), { kind: 'unmapped', hva: B + 9 * P });
    assert.throws(() => as.view(B + P - 4, 8, false), sysError('EINVAL'));
  });
});

describe('HostAddressSpace: observers (host software’s accesses) and frame (the hardware’s)', () => {
  /** An address space with one RW mapping and an observer recording every call. */
  function observed() {
    const as = new HostAddressSpace();
    as.mapAnonymous(B, 8 * P);
    const calls: [number, number, boolean][] = [];
    const o: HostMemoryObserver = {
      beforeHostAccess: (hva, length, write) => calls.push([hva, length, write]),
    };
    as.observe(o);
    return { as, calls };
  }

  it('read, write and view tell every observer first, with the exact range; frame tells none', () => {
    const { as, calls } = observed();
    const second: [number, number, boolean][] = [];
    as.observe({ beforeHostAccess: (hva, length, write) => second.push([hva, length, write]) });
    readOk(as, B + 10, 3 * P); // spans pages (and takes the slow path first, the fast one later)
    readOk(as, B + 10, 3 * P);
    assert.equal(as.write(B + P - 2, new Uint8Array(5)), undefined);
    assert.ok(as.view(B + 2 * P + 8, 16, false) instanceof Uint8Array);
    assert.ok(as.view(B + 3 * P, P, true) instanceof Uint8Array);
    const want: [number, number, boolean][] = [
      [B + 10, 3 * P, false],
      [B + 10, 3 * P, false],
      [B + P - 2, 5, true],
      [B + 2 * P + 8, 16, false],
      [B + 3 * P, P, true],
    ];
    assert.deepEqual(calls, want);
    assert.deepEqual(second, want);
    calls.length = 0;
    const f = as.frame(B + 4 * P, P, true);
    assert.ok(f instanceof Uint8Array);
    f[0] = 0x5a;
    assert.equal(readOk(as, B + 4 * P, 1)[0], 0x5a, 'frame aliases the memory view would');
    assert.deepEqual(calls, [[B + 4 * P, 1, false]], 'only the read was host software');
  });

  it('observers run before the bytes move: what one writes back is what the host reads', () => {
    const as = new HostAddressSpace();
    as.mapAnonymous(B, P);
    const frame = as.frame(B, P, true) as Uint8Array;
    as.observe({ beforeHostAccess: () => frame.fill(0x33) });
    assert.deepEqual(readOk(as, B, 4), new Uint8Array(4).fill(0x33));
    assert.equal(as.write(B, new Uint8Array([1])), undefined);
    assert.equal(frame[0], 1, 'the host write lands after the observer');
  });

  it('faulting accesses are reported too (as attempted); frame faults as view does; discarding contents is a write', () => {
    const { as, calls } = observed();
    assert.equal(as.read(B + 8 * P, new Uint8Array(4))?.kind, 'unmapped');
    assert.deepEqual(calls, [[B + 8 * P, 4, false]]);
    assert.deepEqual(as.frame(B + 8 * P, 4, false), { kind: 'unmapped', hva: B + 8 * P });
    assert.throws(() => as.frame(B + P - 1, 2, false), sysError('EINVAL'));
    calls.length = 0;
    as.unmap(B + P, 2 * P);
    as.mapAnonymous(B, P); // replaces page 0
    assert.deepEqual(calls, [
      [B + P, 2 * P, true],
      [B, P, true],
    ]);
  });
});

describe('HostAddressSpace: argument checking and findFree', () => {
  it('EINVAL for misaligned, zero-length, negative and out-of-limit ranges and bad prot', () => {
    const as = new HostAddressSpace({ limit: 64 * P });
    const bad: Array<[number, number]> = [
      [100, P],
      [0, 100],
      [0, 0],
      [-P, 2 * P],
      [63 * P, 2 * P],
      [64 * P, P],
    ];
    for (const [hva, len] of bad) {
      assert.throws(() => as.mapAnonymous(hva, len), sysError('EINVAL'), `map ${hva},${len}`);
      assert.throws(() => as.mapMissing(hva, len), sysError('EINVAL'));
      assert.throws(() => as.mapFile(hva, len, new HostFile('f'), 0), sysError('EINVAL'));
      assert.throws(() => as.unmap(hva, len), sysError('EINVAL'), `unmap ${hva},${len}`);
      assert.throws(() => as.protect(hva, len, PROT_READ), sysError('EINVAL'));
    }
    as.mapAnonymous(63 * P, P);
    assert.throws(() => as.mapAnonymous(0, P, 8), sysError('EINVAL'));
    assert.throws(() => as.protect(63 * P, P, -1), sysError('EINVAL'));
    assert.throws(() => new HostAddressSpace({ limit: 100 }), sysError('EINVAL'));
  });

  it('findFree returns a free range above the mmap base, skipping mappings, mapping nothing', () => {
    const as = new HostAddressSpace();
    const a = as.findFree(4 * P);
    assert.equal(a, 0x7f00_0000_0000);
    assert.equal(as.findFree(4 * P), a, 'nothing was mapped');
    as.mapAnonymous(a, 4 * P);
    as.mapAnonymous(a + 6 * P, P);
    assert.equal(as.findFree(2 * P), a + 4 * P, 'fits in the gap');
    assert.equal(as.findFree(3 * P), a + 7 * P, 'does not fit in the gap');
    assert.throws(() => as.findFree(100), sysError('EINVAL'));

    const small = new HostAddressSpace({ limit: 64 * P });
    const s = small.findFree(P);
    assert.ok(s >= P && s + P <= 64 * P);
    small.mapAnonymous(s, 64 * P - s);
    assert.throws(() => small.findFree(64 * P), sysError('ENOMEM'));
  });
});

// ---- property test against a naive page map ----

type Op =
  | { op: 'map'; page: number; pages: number; prot: number }
  | { op: 'unmap'; page: number; pages: number }
  | { op: 'protect'; page: number; pages: number; prot: number }
  | { op: 'write'; hva: number; len: number; seed: number }
  | { op: 'read'; hva: number; len: number };

const PAGES = 40; // spans three 64 KiB storage chunks
const LIMIT = PAGES * P;

const rangeArb = fc
  .tuple(fc.integer({ min: 0, max: PAGES - 1 }), fc.integer({ min: 1, max: 12 }))
  .map(([page, n]) => ({ page, pages: Math.min(n, PAGES - page) }));
const protArb = fc.constantFrom(PROT_NONE, PROT_READ, PROT_WRITE, RW);
const accessArb = fc.record({
  hva: fc.integer({ min: 0, max: LIMIT + P }),
  len: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 3 * P })),
});
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ r: rangeArb, prot: protArb }).map(({ r, prot }): Op => ({ op: 'map', ...r, prot })),
  rangeArb.map((r): Op => ({ op: 'unmap', ...r })),
  fc.record({ r: rangeArb, prot: protArb }).map(({ r, prot }): Op => ({ op: 'protect', ...r, prot })),
  fc
    .record({ a: accessArb, seed: fc.integer({ min: 0, max: 255 }) })
    .map(({ a, seed }): Op => ({ op: 'write', ...a, seed })),
  accessArb.map((a): Op => ({ op: 'read', ...a })),
);

interface RefPage {
  prot: number;
  bytes: Uint8Array;
}

/** The naive model: a page map; accesses go byte by byte and stop at the first byte that cannot go. */
function refAccess(
  ref: Map<number, RefPage>,
  hva: number,
  buf: Uint8Array,
  write: boolean,
): HostFault | undefined {
  for (let i = 0; i < buf.length; i++) {
    const a = hva + i;
    const page = ref.get(Math.floor(a / P));
    if (page === undefined) return { kind: 'unmapped', hva: a };
    if (write ? (page.prot & PROT_WRITE) === 0 : page.prot === PROT_NONE)
      return { kind: 'protection', hva: a };
    if (write) page.bytes[a % P] = buf[i]!;
    else buf[i] = page.bytes[a % P]!;
  }
  return undefined;
}

describe('HostAddressSpace: model-based property', () => {
  it('agrees with a naive page map on map/unmap/protect/read/write sequences', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
        const as = new HostAddressSpace({ limit: LIMIT });
        const ref = new Map<number, RefPage>();
        for (const o of ops) {
          switch (o.op) {
            case 'map':
              as.mapAnonymous(o.page * P, o.pages * P, o.prot);
              for (let p = o.page; p < o.page + o.pages; p++)
                ref.set(p, { prot: o.prot, bytes: new Uint8Array(P) });
              break;
            case 'unmap':
              as.unmap(o.page * P, o.pages * P);
              for (let p = o.page; p < o.page + o.pages; p++) ref.delete(p);
              break;
            case 'protect': {
              let refHole = false;
              for (let p = o.page; p < o.page + o.pages; p++) {
                const page = ref.get(p);
                if (page === undefined) {
                  refHole = true;
                  break;
                }
                page.prot = o.prot;
              }
              let threw = false;
              try {
                as.protect(o.page * P, o.pages * P, o.prot);
              } catch (e) {
                assert.ok(e instanceof SysError && e.code === 'ENOMEM');
                threw = true;
              }
              assert.equal(threw, refHole);
              break;
            }
            case 'write': {
              const src = bytes(o.len, o.seed);
              assert.deepEqual(as.write(o.hva, src), refAccess(ref, o.hva, src, true));
              break;
            }
            case 'read': {
              const got = new Uint8Array(o.len);
              const want = new Uint8Array(o.len);
              const fault = as.read(o.hva, got);
              assert.deepEqual(fault, refAccess(ref, o.hva, want, false));
              if (fault === undefined) assert.deepEqual(got, want);
              break;
            }
            default: {
              const never: never = o;
              throw new Error(`unknown op ${JSON.stringify(never)}`);
            }
          }
        }
        // Every page's state agrees, and each VMA is a maximal run of pages with one protection
        // (adjacent compatible mappings are merged, as vma_merge does).
        for (let p = 0; p < PAGES; p++) {
          const d = as.describe(p * P + 1);
          const page = ref.get(p);
          if (page === undefined) {
            assert.deepEqual(d, { state: 'unmapped' });
            continue;
          }
          assert.equal(d.state, 'anonymous');
          if (d.state !== 'anonymous') continue;
          assert.equal(d.prot, page.prot);
          let lo = p;
          while (ref.get(lo - 1)?.prot === page.prot) lo--;
          let hi = p + 1;
          while (ref.get(hi)?.prot === page.prot) hi++;
          assert.deepEqual([d.start, d.end], [lo * P, hi * P], `vma bounds at page ${p}`);
          const got = new Uint8Array(P);
          if (page.prot !== PROT_NONE) {
            assert.equal(as.read(p * P, got), undefined);
            assert.deepEqual(got, page.bytes, `contents of page ${p}`);
          }
        }
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});
