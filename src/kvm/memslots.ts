/**
 * Memslots: the guest-physical → host-virtual map KVM keeps per address space (struct kvm_memslots).
 * Lookup by gfn is a binary search over slots sorted by base gfn, behind a last-used-slot cache, as
 * KVM's __gfn_to_memslot / search_memslots do; slots never overlap within one address space.
 */
import type { HostAllocation } from '../host/allocator.js';

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
}

/** The memslots of one address space. */
export class MemslotSet {
  readonly #byId = new Map<number, Memslot>();
  /** Slots sorted by baseGfn, with their bases and ends in typed arrays for a tight binary search. */
  #sorted: Memslot[] = [];
  #bases = new Float64Array(16);
  #ends = new Float64Array(16);
  #lastUsed: Memslot | undefined;

  get size(): number {
    return this.#sorted.length;
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
    const last = this.#lastUsed;
    if (last !== undefined && gfn >= last.baseGfn && gfn < last.baseGfn + last.npages) return last;
    const i = this.#floor(gfn);
    if (i < 0 || gfn >= this.#ends[i]!) return undefined;
    const slot = this.#sorted[i]!;
    this.#lastUsed = slot;
    return slot;
  }

  /** True when [baseGfn, baseGfn + npages) intersects a slot other than `exceptId`. */
  overlaps(baseGfn: number, npages: number, exceptId?: number): boolean {
    // Slots are disjoint and sorted, so ends are sorted too: only the last slots starting before
    // the range's end can reach into it; skip the slot being moved.
    let i = this.#floor(baseGfn + npages - 1);
    while (i >= 0) {
      if (this.#ends[i]! <= baseGfn) return false;
      if (this.#sorted[i]!.id !== exceptId) return true;
      i--;
    }
    return false;
  }

  /** Add a slot (caller has checked it overlaps nothing). */
  insert(slot: Memslot): void {
    this.#byId.set(slot.id, slot);
    const n = this.#sorted.length;
    if (n === this.#bases.length) this.#grow();
    const at = this.#floor(slot.baseGfn) + 1;
    this.#sorted.splice(at, 0, slot);
    this.#bases.copyWithin(at + 1, at, n);
    this.#ends.copyWithin(at + 1, at, n);
    this.#bases[at] = slot.baseGfn;
    this.#ends[at] = slot.baseGfn + slot.npages;
  }

  /** Remove a slot. */
  remove(slot: Memslot): void {
    this.#byId.delete(slot.id);
    const at = this.#sorted.indexOf(slot, Math.max(0, this.#floor(slot.baseGfn)));
    if (at < 0) return;
    const n = this.#sorted.length;
    this.#sorted.splice(at, 1);
    this.#bases.copyWithin(at, at + 1, n);
    this.#ends.copyWithin(at, at + 1, n);
    if (this.#lastUsed === slot) this.#lastUsed = undefined;
  }

  /** Move a slot to a new base gfn (KVM_MR_MOVE). */
  move(slot: Memslot, baseGfn: number): void {
    this.remove(slot);
    slot.baseGfn = baseGfn;
    this.insert(slot);
  }

  /** Index of the last slot whose base is <= gfn, or -1. */
  #floor(gfn: number): number {
    const bases = this.#bases;
    let lo = 0;
    let hi = this.#sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (bases[mid]! <= gfn) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi;
  }

  #grow(): void {
    const bases = new Float64Array(this.#bases.length * 2);
    const ends = new Float64Array(this.#ends.length * 2);
    bases.set(this.#bases);
    ends.set(this.#ends);
    this.#bases = bases;
    this.#ends = ends;
  }
}
