/**
 * Memslot lookup (gfn_to_memslot) and the slot set's bookkeeping: unit tests of MemslotSet, then a
 * property test driving KVM_SET_USER_MEMORY_REGION with random create/delete/move/flag changes against a
 * naive reference (an array of slots and a linear scan).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Errno } from '../uapi/errno.js';
import { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY } from '../uapi/memslot.js';
import { type Memslot, MemslotSet } from './memslots.js';
import { HVA, newVm, P, region } from './test-util.js';

function slot(id: number, baseGfn: number, npages: number): Memslot {
  return {
    id,
    asId: 0,
    baseGfn,
    npages,
    flags: 0,
    userspaceAddr: HVA + id * 0x100000,
    dirtyBitmap: undefined,
  };
}

describe('MemslotSet', () => {
  it('finds the slot containing a gfn, including its first and last page, and nothing in gaps', () => {
    const set = new MemslotSet();
    set.insert(slot(0, 10, 5)); // 10..14
    set.insert(slot(1, 0, 2)); // 0..1
    set.insert(slot(2, 15, 1)); // 15
    const ids = Array.from({ length: 18 }, (_, g) => set.lookup(g)?.id);
    // prettier-ignore
    assert.deepEqual(ids, [
      1,
      1,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      0,
      0,
      0,
      0,
      0,
      2,
      undefined,
      undefined,
    ]);
    assert.deepEqual(
      set.slots().map((s) => s.id),
      [1, 0, 2],
      'slots() is in gfn order',
    );
  });

  it('does not return a removed slot, even right after it was the last one used', () => {
    const set = new MemslotSet();
    const a = slot(0, 100, 10);
    set.insert(a);
    assert.equal(set.lookup(105), a);
    set.remove(a);
    assert.equal(set.lookup(105), undefined);
    assert.equal(set.get(0), undefined);
    assert.equal(set.size, 0);
  });

  it('after a move, lookups follow the slot to its new place', () => {
    const set = new MemslotSet();
    const a = slot(0, 100, 10);
    const b = slot(1, 50, 10);
    set.insert(a);
    set.insert(b);
    assert.equal(set.lookup(100), a);
    set.move(a, 20);
    assert.equal(set.lookup(100), undefined);
    assert.equal(set.lookup(29), a);
    assert.equal(set.lookup(55), b);
    assert.deepEqual(
      set.slots().map((s) => s.id),
      [0, 1],
    );
  });

  it('overlaps() sees any intersection but ignores the slot being moved', () => {
    const set = new MemslotSet();
    set.insert(slot(0, 10, 5)); // 10..14
    set.insert(slot(1, 20, 5)); // 20..24
    assert.equal(set.overlaps(0, 10), false, 'ends right before');
    assert.equal(set.overlaps(15, 5), false, 'exactly the gap');
    assert.equal(set.overlaps(14, 1), true);
    assert.equal(set.overlaps(9, 2), true);
    assert.equal(set.overlaps(0, 100), true);
    assert.equal(set.overlaps(12, 10, 0), true, 'still reaches slot 1');
    assert.equal(set.overlaps(12, 8, 0), false, 'only its own old range');
    assert.equal(set.overlaps(25, 1000), false);
  });

  it('keeps working past its initial capacity of 16 slots, in any insertion order', () => {
    const set = new MemslotSet();
    const order = Array.from({ length: 100 }, (_, i) => (i * 37) % 100);
    for (const i of order) set.insert(slot(i, i * 3, 2));
    for (let g = 0; g < 300; g++) {
      const expected = g % 3 === 2 ? undefined : Math.floor(g / 3);
      assert.equal(set.lookup(g)?.id, expected, `gfn ${g}`);
    }
    for (const i of order.filter((x) => x % 2 === 0)) set.remove(set.get(i)!);
    for (let g = 0; g < 300; g++) {
      const id = Math.floor(g / 3);
      const expected = g % 3 === 2 || id % 2 === 0 ? undefined : id;
      assert.equal(set.lookup(g)?.id, expected, `gfn ${g} after removing even ids`);
    }
  });
});

// ---- Property test: vm.setUserMemoryRegion + vm.memslotForGpa against a naive reference ----

interface RefSlot {
  id: number;
  gfn: number;
  npages: number;
  hva: number;
  flags: number;
}

type Op =
  | { kind: 'set'; id: number; gfn: number; npages: number; hva: number; flags: number }
  | { kind: 'delete'; id: number }
  | { kind: 'move'; id: number; gfn: number }
  | { kind: 'flags'; id: number; flags: number }
  | { kind: 'resize'; id: number; npages: number };

const IDS = 6;
const GFNS = 64;
const HVAS = [HVA, HVA + 0x100000, HVA + 0x200000];

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('set' as const),
    id: fc.nat(IDS - 1),
    gfn: fc.nat(GFNS - 1),
    npages: fc.integer({ min: 1, max: 12 }),
    hva: fc.constantFrom(...HVAS),
    flags: fc.nat(3),
  }),
  fc.record({ kind: fc.constant('delete' as const), id: fc.nat(IDS - 1) }),
  fc.record({ kind: fc.constant('move' as const), id: fc.nat(IDS - 1), gfn: fc.nat(GFNS - 1) }),
  fc.record({ kind: fc.constant('flags' as const), id: fc.nat(IDS - 1), flags: fc.nat(3) }),
  fc.record({
    kind: fc.constant('resize' as const),
    id: fc.nat(IDS - 1),
    npages: fc.integer({ min: 1, max: 12 }),
  }),
);

/** The request an op stands for: move/flags/resize start from the slot's current fields (if any). */
function requestFor(op: Op, ref: readonly RefSlot[]): RefSlot {
  const cur = ref.find((s) => s.id === op.id) ?? { id: op.id, gfn: 0, npages: 1, hva: HVA, flags: 0 };
  switch (op.kind) {
    case 'set':
      return { id: op.id, gfn: op.gfn, npages: op.npages, hva: op.hva, flags: op.flags };
    case 'delete':
      return { ...cur, npages: 0 };
    case 'move':
      return { ...cur, gfn: op.gfn };
    case 'flags':
      return { ...cur, flags: op.flags };
    case 'resize':
      return { ...cur, npages: op.npages };
  }
}

/** The rules, naively: returns the errno or the change, and updates `ref` on success. */
function refApply(ref: RefSlot[], req: RefSlot): string {
  const i = ref.findIndex((s) => s.id === req.id);
  const old = ref[i];
  if (req.npages === 0) {
    if (!old) return 'EINVAL';
    ref.splice(i, 1);
    return 'delete';
  }
  let change: string;
  if (!old) change = 'create';
  else if (req.hva !== old.hva || req.npages !== old.npages || (req.flags ^ old.flags) & KVM_MEM_READONLY)
    return 'EINVAL';
  else if (req.gfn !== old.gfn) change = 'move';
  else if (req.flags !== old.flags) change = 'flags-only';
  else return 'none';
  if (change !== 'flags-only') {
    const hit = ref.some(
      (s) => s.id !== req.id && s.gfn < req.gfn + req.npages && req.gfn < s.gfn + s.npages,
    );
    if (hit) return 'EEXIST';
  }
  if (old) ref[i] = { ...req };
  else ref.push({ ...req });
  return change;
}

function refLookup(ref: readonly RefSlot[], gfn: number): RefSlot | undefined {
  return ref.find((s) => gfn >= s.gfn && gfn < s.gfn + s.npages);
}

describe('memslots against a naive reference (fast-check)', () => {
  it('random create/delete/move/flag/resize sequences: same errnos, same lookups, same bitmap charge', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(opArb, fc.array(fc.nat(GFNS + 12), { maxLength: 8 })), {
          minLength: 1,
          maxLength: 40,
        }),
        (steps) => {
          const { vm, vmFd, kvm, set } = newVm();
          const ref: RefSlot[] = [];
          for (const [op, probes] of steps) {
            const req = requestFor(op, ref);
            const expected = refApply(ref, req);
            const r = set(
              region({
                slot: req.id,
                gpa: req.gfn * P,
                size: req.npages * P,
                hva: req.hva,
                flags: req.flags,
              }),
            );
            const actual: string = r instanceof Errno ? r.errno : r;
            assert.equal(actual, expected, `${JSON.stringify(op)} as ${JSON.stringify(req)}`);
            for (const gfn of probes) {
              const got = vm.memslotForGpa(gfn * P + 123);
              const want = refLookup(ref, gfn);
              assert.equal(got?.id, want?.id, `lookup of gfn ${gfn}`);
              if (got && want) {
                assert.deepEqual(
                  [got.baseGfn, got.npages, got.userspaceAddr, got.flags],
                  [want.gfn, want.npages, want.hva, want.flags],
                );
              }
            }
            assert.equal(vm.spaces[0]!.size, ref.length);
            // 1..12 pages: one u64 word per half, 16 bytes per logging slot.
            const logging = ref.filter((s) => s.flags & KVM_MEM_LOG_DIRTY_PAGES).length;
            assert.equal(kvm.allocator.inUse(), 16 * logging, 'dirty bitmaps charged');
          }
          for (let gfn = 0; gfn < GFNS + 12; gfn++) {
            assert.equal(vm.memslotForGpa(gfn * P)?.id, refLookup(ref, gfn)?.id, `final sweep, gfn ${gfn}`);
          }
          vmFd.close();
          assert.equal(kvm.allocator.inUse(), 0);
        },
      ),
      { seed: 0x5eb0c5, numRuns: 300 },
    );
  });
});

// ---- MemslotSet.lookup (last-used cache + lazily built bucket index) against a linear scan ----

/** The slot containing gfn by a linear scan over the set's own slots: what lookup must return. */
function scan(set: MemslotSet, gfn: number): Memslot | undefined {
  return set.slots().find((s) => gfn >= s.baseGfn && gfn < s.baseGfn + s.npages);
}

/** Gfns worth asking about: every slot's edges and their neighbours, plus the given extra ones. */
function probesFor(set: MemslotSet, extra: readonly number[]): number[] {
  const out = [0, 2 ** 40 - 1, 2 ** 52, -1, ...extra];
  for (const s of set.slots())
    out.push(s.baseGfn - 1, s.baseGfn, s.baseGfn + s.npages - 1, s.baseGfn + s.npages);
  return out;
}

/**
 * A layout: runs of slots separated by gaps, where a gap is usually small (evenly spread slots)
 * but sometimes huge (slots bunched into clusters far apart, so most buckets are empty and a few
 * hold many slots).
 */
const gapArb = fc.oneof(
  { weight: 8, arbitrary: fc.nat(4) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 2 ** 20 }) },
  { weight: 1, arbitrary: fc.integer({ min: 2 ** 30, max: 2 ** 38 }) },
);
const layoutArb = fc.array(fc.tuple(gapArb, fc.integer({ min: 1, max: 40 })), {
  minLength: 0,
  maxLength: 300,
});

type SetOp =
  | { kind: 'insert'; gfn: number; npages: number }
  | { kind: 'remove'; pick: number }
  | { kind: 'move'; pick: number; gfn: number }
  | { kind: 'lookups'; gfns: number[] };

const gfnArb = fc.oneof(fc.nat(20000), fc.integer({ min: 0, max: 2 ** 40 - 1 }));
const setOpArb: fc.Arbitrary<SetOp> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), gfn: gfnArb, npages: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('move' as const), pick: fc.nat(), gfn: gfnArb }),
  fc.record({ kind: fc.constant('lookups' as const), gfns: fc.array(gfnArb, { maxLength: 80 }) }),
);

describe('MemslotSet.lookup against a linear scan (fast-check)', () => {
  it('agrees on random layouts, evenly spread or clustered, through random insert/remove/move', () => {
    fc.assert(
      fc.property(
        layoutArb,
        fc.infiniteStream(fc.nat()),
        fc.array(setOpArb, { maxLength: 30 }),
        (layout, order, ops) => {
          const set = new MemslotSet();
          // Build the layout, inserting in a random order.
          const all: Memslot[] = [];
          let at = 0;
          for (const [gap, npages] of layout) {
            at += gap;
            all.push(slot(all.length, at, npages));
            at += npages;
          }
          const pending = [...all];
          const it = order[Symbol.iterator]();
          while (pending.length > 0) {
            const k = it.next().value! % pending.length;
            set.insert(pending.splice(k, 1)[0]!);
          }
          let nextId = all.length;
          const check = (gfns: readonly number[], what: string): void => {
            for (const g of gfns) assert.equal(set.lookup(g), scan(set, g), `${what}: gfn ${g}`);
          };
          check(probesFor(set, []), 'initial layout');
          /** The changed range's edges, asked right after the change (while the index is stale). */
          const edges = (base: number, npages: number): number[] => [
            base - 1,
            base,
            base + npages - 1,
            base + npages,
          ];
          for (const op of ops) {
            const slots = set.slots();
            if (op.kind === 'insert') {
              if (set.overlaps(op.gfn, op.npages)) continue;
              set.insert(slot(nextId++, op.gfn, op.npages));
              check(edges(op.gfn, op.npages), 'after insert');
            } else if (op.kind === 'remove') {
              const s = slots[op.pick % Math.max(1, slots.length)];
              if (!s) continue;
              set.remove(s);
              check(edges(s.baseGfn, s.npages), 'after remove');
            } else if (op.kind === 'move') {
              const s = slots[op.pick % Math.max(1, slots.length)];
              if (!s || set.overlaps(op.gfn, s.npages, s.id)) continue;
              const old = s.baseGfn;
              set.move(s, op.gfn);
              check([...edges(op.gfn, s.npages), ...edges(old, s.npages)], 'after move');
            } else {
              check(op.gfns, 'random lookups');
            }
          }
          check(probesFor(set, []), 'final layout');
          assert.deepEqual(
            set.slots().map((s) => s.baseGfn),
            set
              .slots()
              .map((s) => s.baseGfn)
              .sort((a, b) => a - b),
            'slots() stays in gfn order',
          );
        },
      ),
      { seed: 0x10c4a7e, numRuns: 200 },
    );
  });

  it('builds its index lazily: not per insert, on lookup after a change, and correct while stale', () => {
    const set = new MemslotSet();
    const n = 2000;
    for (let i = 0; i < n; i++) set.insert(slot(i, 100 + i * 10, 5)); // [100 + 10i, 105 + 10i)
    assert.equal(set.indexBuilds, 0, 'inserting builds nothing');
    // Until lookups since the last change amount to about a rebuild's cost (n / 64 searches), they
    // run a plain binary search; the next one builds the index.
    for (let k = 0; k < n / 64 - 1; k++) assert.equal(set.lookup(100 + k * 10 + 4)?.id, k);
    assert.equal(set.indexBuilds, 0, 'the first few lookups search');
    assert.equal(set.lookup(100 + 1234 * 10 + 4)?.id, 1234);
    assert.equal(set.indexBuilds, 1, 'then a lookup builds the index');
    for (let g = 0; g < 100 + n * 10 + 20; g++) {
      const i = Math.floor((g - 100) / 10);
      const want = g >= 100 && (g - 100) % 10 < 5 && i < n ? i : undefined;
      assert.equal(set.lookup(g)?.id, want, `gfn ${g}`);
    }
    assert.equal(set.indexBuilds, 1, 'lookups without changes reuse the index');

    // Changes interleaved with lookups: each answer reflects the change right away (the stale index
    // is not used), and the index is not rebuilt per change while the set is this big.
    for (let k = 0; k < 100; k++) {
      const s = set.get(k)!;
      set.move(s, 100 + n * 10 + 1000 + k * 7);
      assert.equal(set.lookup(100 + k * 10), undefined, `old place of slot ${k}`);
      assert.equal(set.lookup(s.baseGfn + 6), undefined, `past slot ${k}'s end`);
      assert.equal(set.lookup(s.baseGfn + 4), s, `new place of slot ${k}`);
      const extra = slot(n + k, 100 + k * 10 + 2, 3);
      set.insert(extra);
      assert.equal(set.lookup(100 + k * 10 + 3), extra);
      assert.equal(set.lookup(100 + k * 10 + 1), undefined);
    }
    assert.equal(set.indexBuilds, 1, 'a few lookups per change run a plain search instead');
    // Enough lookups after the last change pay for a rebuild; results are the same either side of it.
    const gfns = Array.from({ length: 400 }, (_, j) => 95 + j * 53);
    const before = gfns.map((g) => set.lookup(g)?.id);
    assert.equal(set.indexBuilds, 2, 'rebuilt once lookups outweigh the rebuild');
    assert.deepEqual(
      gfns.map((g) => set.lookup(g)?.id),
      before,
    );
    assert.deepEqual(
      before,
      gfns.map((g) => scan(set, g)?.id),
    );
    set.remove(set.get(n + 5)!);
    assert.equal(set.lookup(100 + 5 * 10 + 3), undefined, 'a removed slot is gone at once');

    // Small sets rebuild on the first lookup after every change.
    const small = new MemslotSet();
    small.insert(slot(0, 10, 2));
    assert.equal(small.lookup(11)?.id, 0);
    small.insert(slot(1, 12, 2));
    assert.equal(small.lookup(12)?.id, 1);
    assert.equal(small.indexBuilds, 2);
    small.remove(small.get(0)!);
    small.remove(small.get(1)!);
    assert.equal(small.lookup(12), undefined, 'empty again');
  });

  it('finds slots bunched in a huge span (index buckets bounded, search falls back within one)', () => {
    const set = new MemslotSet();
    for (let i = 0; i < 3000; i++) set.insert(slot(i, 1000 + i * 2, 1)); // one cluster of 3000
    set.insert(slot(3000, 2 ** 39, 8)); // and one slot far away
    set.insert(slot(3001, 0, 1));
    for (const g of probesFor(set, [2 ** 39 - 1, 2 ** 39 + 8, 2 ** 38])) {
      assert.equal(set.lookup(g), scan(set, g), `gfn ${g}`);
    }
  });
});
