/**
 * Memslot lookup (gfn_to_memslot) and the slot set's bookkeeping: unit tests of MemslotSet, then a
 * property test driving vm.setUserMemoryRegion with random create/delete/move/flag changes against a
 * naive reference (an array of slots and a linear scan).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { KvmError } from '../uapi/kvm-error.js';
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
          const { vm, kvm } = newVm();
          const ref: RefSlot[] = [];
          for (const [op, probes] of steps) {
            const req = requestFor(op, ref);
            const expected = refApply(ref, req);
            let actual: string;
            try {
              actual = vm.setUserMemoryRegion(
                region({
                  slot: req.id,
                  gpa: req.gfn * P,
                  size: req.npages * P,
                  hva: req.hva,
                  flags: req.flags,
                }),
              );
            } catch (e) {
              if (!(e instanceof KvmError)) throw e;
              actual = e.code;
            }
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
          vm.destroy();
          assert.equal(kvm.allocator.inUse(), 0);
        },
      ),
      { seed: 0x5eb0c5, numRuns: 300 },
    );
  });
});
