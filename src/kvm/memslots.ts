/**
 * Memslots: the guest-physical → host-virtual map KVM keeps per address space (struct kvm_memslots).
 * Lookup by gfn sits behind a last-used-slot cache, as KVM's __gfn_to_memslot does; behind it, instead
 * of search_memslots' tree walk, a bucket index over the slots sorted by base gfn narrows the search
 * to a slot or two. Slots never overlap within one address space.
 */
import type { HostAllocation } from '../host/allocator.js';
import { PAGE_SIZE } from '../host/page.js';

/** One memslot (struct kvm_memory_slot). Numbers are exact: gfns stay below 2^40, hvas below 2^47. */
export interface Memslot {
  /** Slot id within its address space (bits 0-15 of the ioctl's `slot`). */
  readonly id: number;
  readonly asId: number;
  baseGfn: number;
  readonly npages: number;
  flags: number;
  readonly userspaceAddr: number;
  /** Dirty bitmap (two halves, as kvm_alloc_dirty_bitmap allocates), charged to the host allocator. */
  dirtyBitmap: HostAllocation | undefined;
  /** The guest_memfd bound to it (KVM_MEM_GUEST_MEMFD), if any. */
  readonly gmemFd?: number | undefined;
}

/**
 * GPAs below this are exact as numbers; a u64 GPA from the guest at or above it lies beyond every
 * memslot (gfns stay below 2^40), so it is refused before converting.
 */
export const GPA_NUMBER_LIMIT = 2n ** 53n;

/** __gfn_to_hva_memslot: the host address of guest page `gfn`, which must lie in `slot`. */
export function gfnToHva(slot: Memslot, gfn: number): number {
  return slot.userspaceAddr + (gfn - slot.baseGfn) * PAGE_SIZE;
}

/** The memslots of one address space. */
export class MemslotSet {
  readonly #byId = new Map<number, Memslot>();
  /** Slots sorted by baseGfn. */
  #sorted: Memslot[] = [];
  /**
   * Their ranges, interleaved for a tight search: #ranges[2i] is #sorted[i]'s base gfn and
   * #ranges[2i + 1] its end, so a slot's end and the next slot's base share a cache line.
   */
  #ranges = new Float64Array(32);
  /**
   * Last-used-slot cache (kvm_memslots.last_used_slot), its range kept as numbers so that a hit
   * needs no read of the slot object. An empty range [0, 0) when nothing is cached.
   */
  #lastUsed: Memslot | undefined;
  #lastBase = 0;
  #lastEnd = 0;
  /**
   * Bucket index over the sorted bases: bucket b covers gfns [#indexBase + b * 2^k, ... + 2^k) and
   * #index[b] is the index of the last slot whose base is <= the bucket's first gfn, so the slot
   * of a gfn in bucket b lies in [#index[b], #index[b + 1]]: evenly spread slots need 0 or 1
   * search steps, clustered ones fall back to a binary search over their bucket's share. Built
   * lazily by lookup (see #stale), never per insert: creating 32764 slots stays cheap.
   */
  #index = new Int32Array(0);
  #indexBase = 0;
  /** 2^-k, exact, so (gfn - #indexBase) * #bucketScale floors to the bucket without a division. */
  #bucketScale = 0;
  /** Buckets times their width: gfns at or past #indexBase + #indexLimit are past the last base. */
  #indexLimit = 0;
  /** The slots changed since the index was built. */
  #stale = true;
  /** Lookups served by plain binary search since the last change, towards paying for a rebuild. */
  #staleLookups = 0;
  #indexBuilds = 0;
  #generation = 0;

  get size(): number {
    return this.#sorted.length;
  }

  /** How many times the lookup index has been (re)built: a diagnostic for tests. */
  get indexBuilds(): number {
    return this.#indexBuilds;
  }

  /**
   * kvm_memslots.generation: bumped by every change to the set or to a slot in it, so caches of
   * translations through the slots (the nested page table's, a cached guest page mapping) know
   * when to drop them.
   */
  get generation(): number {
    return this.#generation;
  }

  /** A slot's flags or dirty bitmap changed in place (KVM_MR_FLAGS_ONLY): a new generation. */
  slotChanged(): void {
    this.#generation++;
  }

  /** The slot with this id, if any. */
  get(id: number): Memslot | undefined {
    return this.#byId.get(id);
  }

  /** All slots in gfn order. */
  slots(): readonly Memslot[] {
    return this.#sorted;
  }

  /** The slot containing `gfn` (KVM's gfn_to_memslot). */
  lookup(gfn: number): Memslot | undefined {
    if (gfn >= this.#lastBase && gfn < this.#lastEnd) return this.#lastUsed;
    const i = this.#stale ? this.#staleFloor(gfn) : this.#indexedFloor(gfn);
    if (i < 0) return undefined;
    const end = this.#ranges[2 * i + 1]!;
    if (gfn >= end) return undefined;
    const slot = this.#sorted[i]!;
    this.#lastUsed = slot;
    this.#lastBase = this.#ranges[2 * i]!;
    this.#lastEnd = end;
    return slot;
  }

  /** True when [baseGfn, baseGfn + npages) intersects a slot other than `exceptId`. */
  overlaps(baseGfn: number, npages: number, exceptId?: number): boolean {
    // Slots are disjoint and sorted, so ends are sorted too: only the last slots starting before
    // the range's end can reach into it; skip the slot being moved.
    let i = this.#floor(baseGfn + npages - 1);
    while (i >= 0) {
      if (this.#ranges[2 * i + 1]! <= baseGfn) return false;
      if (this.#sorted[i]!.id !== exceptId) return true;
      i--;
    }
    return false;
  }

  /** Add a slot (caller has checked it overlaps nothing). */
  insert(slot: Memslot): void {
    this.#byId.set(slot.id, slot);
    const n = this.#sorted.length;
    if (2 * n === this.#ranges.length) this.#grow();
    const at = this.#floor(slot.baseGfn) + 1;
    this.#sorted.splice(at, 0, slot);
    const ranges = this.#ranges;
    ranges.copyWithin(2 * at + 2, 2 * at, 2 * n);
    ranges[2 * at] = slot.baseGfn;
    ranges[2 * at + 1] = slot.baseGfn + slot.npages;
    this.#changed();
  }

  /** Remove a slot. */
  remove(slot: Memslot): void {
    this.#byId.delete(slot.id);
    const at = this.#sorted.indexOf(slot, Math.max(0, this.#floor(slot.baseGfn)));
    if (at < 0) return;
    const n = this.#sorted.length;
    this.#sorted.splice(at, 1);
    this.#ranges.copyWithin(2 * at, 2 * at + 2, 2 * n);
    if (this.#lastUsed === slot) {
      this.#lastUsed = undefined;
      this.#lastBase = 0;
      this.#lastEnd = 0;
    }
    this.#changed();
  }

  /** Move a slot to a new base gfn (KVM_MR_MOVE). */
  move(slot: Memslot, baseGfn: number): void {
    this.remove(slot);
    slot.baseGfn = baseGfn;
    this.insert(slot);
  }

  #changed(): void {
    this.#generation++;
    this.#stale = true;
    this.#staleLookups = 0;
  }

  /**
   * #floor while the index is stale. Below 64 slots the first lookup after a change rebuilds it;
   * above, lookups run a plain binary search until there have been n / 64 of them since the last
   * change (about the cost of a rebuild), then rebuild. So changes interleaved with a few lookups
   * (setting up slots, dirty-log tests) cost O(log n) per lookup instead of an O(n) rebuild each.
   */
  #staleFloor(gfn: number): number {
    if (this.#staleLookups >= this.#sorted.length >>> 6) {
      this.#rebuild();
      return this.#indexedFloor(gfn);
    }
    this.#staleLookups++;
    return this.#floor(gfn);
  }

  /** #floor through the bucket index (which must be up to date). */
  #indexedFloor(gfn: number): number {
    const off = gfn - this.#indexBase;
    if (!(off >= 0)) return -1; // below the first slot (or NaN)
    if (off >= this.#indexLimit) return this.#sorted.length - 1;
    const b = Math.floor(off * this.#bucketScale);
    const index = this.#index;
    let lo = index[b]!;
    let hi = index[b + 1]!;
    const ranges = this.#ranges;
    // Slot lo's base is <= gfn; find the last i in [lo, hi] whose base is <= gfn.
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (ranges[2 * mid]! <= gfn) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Build the bucket index: about two buckets per slot, as few as the span of the bases allows. */
  #rebuild(): void {
    this.#stale = false;
    this.#staleLookups = 0;
    this.#indexBuilds++;
    const n = this.#sorted.length;
    const ranges = this.#ranges;
    if (n === 0) {
      // Nothing to find: every gfn is "below the first slot".
      this.#indexBase = Number.POSITIVE_INFINITY;
      this.#indexLimit = 0;
      return;
    }
    const first = ranges[0]!;
    // Bases lie in [first, first + span): pick the smallest power-of-two bucket width giving at most
    // 2n buckets (bounded, whatever the span: clustered slots just share buckets).
    const span = ranges[2 * n - 2]! - first + 1;
    let width = 1;
    while (span / width > 2 * n) width *= 2;
    const buckets = Math.ceil(span / width);
    if (this.#index.length < buckets + 1)
      this.#index = new Int32Array(Math.max(buckets + 1, 2 * this.#index.length));
    const index = this.#index;
    let j = 0;
    for (let b = 0; b <= buckets; b++) {
      const start = first + b * width;
      while (j + 1 < n && ranges[2 * j + 2]! <= start) j++;
      index[b] = j;
    }
    this.#indexBase = first;
    this.#bucketScale = 1 / width;
    this.#indexLimit = buckets * width;
  }

  /** Index of the last slot whose base is <= gfn, or -1. */
  #floor(gfn: number): number {
    const ranges = this.#ranges;
    let lo = 0;
    let hi = this.#sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (ranges[2 * mid]! <= gfn) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi;
  }

  #grow(): void {
    const ranges = new Float64Array(this.#ranges.length * 2);
    ranges.set(this.#ranges);
    this.#ranges = ranges;
  }
}
