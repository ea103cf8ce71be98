/**
 * Memslot lookup (gfn → slot, KVM's __gfn_to_memslot) at 1 to 32764 slots, against a linear scan
 * over the same sorted slots with the same gfns. Random gfns defeat the last-used-slot cache, so
 * beyond one slot this measures the search itself.
 */
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { openKvm } from '../src/kvm/index.js';
import { isErrno } from '../src/uapi/errno.js';
import { KVM_USER_MEM_SLOTS } from '../src/uapi/memslot.js';
import type { BenchRow, Prepared } from './harness.js';

const PAGE = 4096;
/** Pages per slot, and pages of hole after each slot. */
const SLOT_PAGES = 16;
const GAP_PAGES = 16;
/** First slot's gfn (1 MiB), and the hvas backing the slots (never touched: lookup does not map). */
const FIRST_GFN = 256;
const HVA_BASE = 0x7f00_0000_0000;
/** Precomputed gfns, a power of two so the index wraps with a mask. */
const GFN_COUNT = 1 << 16;
/** Share of gfns that fall inside a slot; the rest land in the hole after one. */
const HIT_PERCENT = 90;

/** Slot i covers gfns [base(i), base(i) + SLOT_PAGES). */
const base = (i: number): number => FIRST_GFN + i * (SLOT_PAGES + GAP_PAGES);

/** Pseudo-random gfns for `slots` slots, same seed every run. */
function randomGfns(slots: number): Float64Array {
  const rng = xoroshiro128plus(0x5e7b0c);
  const gfns = new Float64Array(GFN_COUNT);
  for (let k = 0; k < GFN_COUNT; k++) {
    const i = uniformInt(rng, 0, slots - 1);
    const hit = uniformInt(rng, 0, 99) < HIT_PERCENT;
    gfns[k] = base(i) + (hit ? 0 : SLOT_PAGES) + uniformInt(rng, 0, (hit ? SLOT_PAGES : GAP_PAGES) - 1);
  }
  return gfns;
}

function setup(slots: number): Prepared {
  const vm = openKvm().createVm();
  if (isErrno(vm)) throw new Error(String(vm));
  for (let i = 0; i < slots; i++) {
    vm.setUserMemoryRegion({
      slot: i,
      flags: 0,
      guestPhysAddr: BigInt(base(i) * PAGE),
      memorySize: BigInt(SLOT_PAGES * PAGE),
      userspaceAddr: BigInt(HVA_BASE + i * SLOT_PAGES * PAGE),
    });
  }
  // KVM-internal: the memslot set of address space 0, whose lookup this row measures.
  const space = vm.vm.spaces[0]!;
  const gfns = randomGfns(slots);
  const mask = GFN_COUNT - 1;
  const scan = (gfn: number): number => {
    const all = space.slots();
    for (let j = 0; j < all.length; j++) {
      const s = all[j]!;
      if (gfn >= s.baseGfn && gfn < s.baseGfn + s.npages) return s.id;
    }
    return -1;
  };
  // The two lookups must agree before their speeds are compared.
  for (let k = 0; k < 2000; k++) {
    if ((space.lookup(gfns[k]!)?.id ?? -1) !== scan(gfns[k]!)) throw new Error(`lookup(${gfns[k]}) is wrong`);
  }
  let at = 0;
  let atScan = 0;
  return {
    // The sink counts hits rather than reading a field of the slot: dereferencing a random one of
    // 32764 slot objects (~2 MB scattered over the heap) is a cache miss the caller pays, not lookup.
    run(n) {
      let acc = 0;
      for (let k = 0; k < n; k++) {
        const slot = space.lookup(gfns[at]!);
        at = (at + 1) & mask;
        acc += slot === undefined ? 0 : 1;
      }
      return acc;
    },
    // The obvious lookup without the sorted-array invariant: first slot containing the gfn.
    baseline(n) {
      const all = space.slots();
      let acc = 0;
      for (let k = 0; k < n; k++) {
        const gfn = gfns[atScan]!;
        atScan = (atScan + 1) & mask;
        let id = -1;
        for (let j = 0; j < all.length; j++) {
          const s = all[j]!;
          if (gfn >= s.baseGfn && gfn < s.baseGfn + s.npages) {
            id = s.id;
            break;
          }
        }
        acc += id < 0 ? 0 : 1;
      }
      return acc;
    },
  };
}

/** Lookups per second at 1, 100, 1000 and the maximum number of user slots. */
export const rows: readonly BenchRow[] = [1, 100, 1000, KVM_USER_MEM_SLOTS].map((slots) => ({
  name: `memslot lookup (${slots} slot${slots === 1 ? '' : 's'})`,
  unit: 'lookups/s',
  ...(slots === KVM_USER_MEM_SLOTS && { target: { value: 20e6 } }),
  setup: () => setup(slots),
}));
