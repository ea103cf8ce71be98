/**
 * How KVM touches guest memory: kvm_read_guest / kvm_write_guest (memslot → hva → the VMM's
 * address space, page by page), and the nested page table the CPU walks. Every path goes through
 * the memslots and the host address space, so a missing slot, a read-only slot, an unmapped or
 * lazily populated hva fail exactly where they would in Linux.
 */

import { NPT_FAULT, NPT_MMIO, NPT_OK, NPT_READONLY, type NptResult } from '../cpu/backend.js';
import type { HostAddressSpace, HostFaultKind } from '../host/address-space.js';
import { PAGE_SIZE } from '../host/page.js';
import { KVM_MEM_READONLY } from '../uapi/memslot.js';
import { gfnToHva, type Memslot, type MemslotSet } from './memslots.js';

/** Why a guest-memory access failed. */
export type GuestFaultCause = 'no-slot' | 'readonly' | HostFaultKind;

/** A failed kvm_read_guest / kvm_write_guest: EFAULT, with where and why. */
export interface GuestMemoryFault {
  readonly errno: 'EFAULT';
  /** First guest physical address that could not be accessed. */
  readonly gpa: number;
  readonly cause: GuestFaultCause;
  /** The slot the GPA fell in, if any. */
  readonly slot: Memslot | undefined;
  /** The host address that faulted, for host-side causes. */
  readonly hva: number | undefined;
}

function fault(gpa: number, cause: GuestFaultCause, slot?: Memslot, hva?: number): GuestMemoryFault {
  return { errno: 'EFAULT', gpa, cause, slot, hva };
}

/** mark_page_dirty_in_slot: set the page's bit in the slot's dirty bitmap, if it logs dirty pages. */
export function markPageDirtyInSlot(slot: Memslot, gfn: number): void {
  const bitmap = slot.dirtyBitmap;
  if (!bitmap) return;
  const rel = gfn - slot.baseGfn;
  bitmap.bytes[rel >>> 3]! |= 1 << (rel & 7);
}

/**
 * Copy `dst.length` bytes of guest memory at `gpa` (kvm_read_guest). Reads from read-only slots
 * are fine; a GPA without a slot or a host fault fails with EFAULT.
 */
export function kvmReadGuest(
  space: MemslotSet,
  host: HostAddressSpace,
  gpa: number,
  dst: Uint8Array,
): GuestMemoryFault | undefined {
  let done = 0;
  const len = dst.length;
  while (done < len) {
    const cur = gpa + done;
    const gfn = Math.floor(cur / PAGE_SIZE);
    const slot = space.lookup(gfn);
    if (!slot) return fault(cur, 'no-slot');
    // One host copy for the whole run inside this slot: the host reports the exact failing hva.
    const slotEnd = (slot.baseGfn + slot.npages) * PAGE_SIZE;
    const n = Math.min(len - done, slotEnd - cur);
    const hva = gfnToHva(slot, gfn) + (cur - gfn * PAGE_SIZE);
    // Whole buffer in one slot (the common case): no subarray view.
    const f = host.read(hva, n === len ? dst : dst.subarray(done, done + n));
    if (f) return fault(cur + (f.hva - hva), f.kind, slot, f.hva);
    done += n;
  }
  return undefined;
}

/**
 * Copy `src` into guest memory at `gpa` (kvm_write_guest), marking written pages dirty. A read-only
 * slot fails with EFAULT like a missing one; pages before a failing one stay written, as in Linux.
 */
export function kvmWriteGuest(
  space: MemslotSet,
  host: HostAddressSpace,
  gpa: number,
  src: Uint8Array,
): GuestMemoryFault | undefined {
  let done = 0;
  const len = src.length;
  while (done < len) {
    const cur = gpa + done;
    const gfn = Math.floor(cur / PAGE_SIZE);
    const slot = space.lookup(gfn);
    if (!slot) return fault(cur, 'no-slot');
    if (slot.flags & KVM_MEM_READONLY) return fault(cur, 'readonly', slot);
    const slotEnd = (slot.baseGfn + slot.npages) * PAGE_SIZE;
    const n = Math.min(len - done, slotEnd - cur);
    const hva = gfnToHva(slot, gfn) + (cur - gfn * PAGE_SIZE);
    const f = host.write(hva, n === len ? src : src.subarray(done, done + n));
    const written = f ? f.hva - hva : n;
    if (slot.dirtyBitmap && written > 0) {
      const last = Math.floor((cur + written - 1) / PAGE_SIZE);
      for (let g = gfn; g <= last; g++) markPageDirtyInSlot(slot, g);
    }
    if (f) return fault(cur + written, f.kind, slot, f.hva);
    done += n;
  }
  return undefined;
}

/** Entries of the nested page table's translation cache (direct mapped by gfn). */
const TLB_SIZE = 64;
/** #translate results besides an entry index: the NPT result, negated. */
const TR_MMIO = -NPT_MMIO;
const TR_FAULT = -NPT_FAULT;
const TR_READONLY = -NPT_READONLY;

/** The NPT result of a failed #translate. */
function trResult(i: number): NptResult {
  return -i as NptResult;
}
/** What an empty cache entry points at (never read: its gfn is -1). */
const EMPTY_PAGE = new Uint8Array(0);

/**
 * Guest physical memory as the CPU sees it through KVM's nested page table. Unlike kvm_*_guest an
 * access is all or nothing (an instruction either completes or faults), so every page is resolved
 * before any byte moves. Reports the last fault so the NPF handler can explain it.
 *
 * Translations are cached, as the NPT caches them in hardware: gfn → the host page (a view aliasing
 * host memory), its slot and whether it was mapped writable. The cache is dropped whenever the
 * memslots or the host address space change generation, as KVM zaps its NPT when memslots change
 * or an MMU notifier fires; a write to a page cached for reading re-resolves it for writing, as a
 * write fault on a read-only NPT entry would. Faults and MMIO are never cached.
 *
 * The CPU reaches host pages as hardware does (HostAddressSpace.frame): the host's memory observers
 * (the memory controller's coherence hook) hear only of host software's accesses, never of these.
 */
export class NestedPageTable {
  /** The host-side fault behind the last NPT_FAULT, for the NPF handler. */
  lastFault: GuestMemoryFault | undefined;
  readonly #views: Uint8Array[] = [];
  readonly #slots: Memslot[] = [];
  readonly #gfns: number[] = [];
  readonly #tlbGfn = new Float64Array(TLB_SIZE).fill(-1);
  readonly #tlbPage: Uint8Array[] = new Array<Uint8Array>(TLB_SIZE);
  readonly #tlbSlot: Memslot[] = new Array<Memslot>(TLB_SIZE);
  readonly #tlbWritable = new Uint8Array(TLB_SIZE);
  #slotGen = -1;
  #hostGen = -1;
  #epoch = 0;
  /** The last partial-page window read through (a view made once, not per access). */
  #winPage: Uint8Array | undefined;
  #winOff = 0;
  #winLen = 0;
  #win: Uint8Array | undefined;

  constructor(
    readonly space: MemslotSet,
    readonly host: HostAddressSpace,
  ) {
    this.#tlbPage.fill(EMPTY_PAGE);
  }

  read(gpa: number, dst: Uint8Array): NptResult {
    const len = dst.length;
    const off = gpa % PAGE_SIZE;
    // Fast path: a non-empty access within one page, through the translation cache.
    if (len > 0 && off + len <= PAGE_SIZE && off >= 0 && Number.isSafeInteger(gpa)) {
      const i = this.#translate(gpa, false);
      if (i < 0) return trResult(i);
      const page = this.#tlbPage[i]!;
      dst.set(len === PAGE_SIZE ? page : this.#window(page, off, len));
      return NPT_OK;
    }
    const r = this.#resolve(gpa, len, false);
    if (r !== NPT_OK) return r;
    let at = 0;
    for (const v of this.#views) {
      dst.set(v, at);
      at += v.length;
    }
    return NPT_OK;
  }

  write(gpa: number, src: Uint8Array): NptResult {
    const len = src.length;
    const off = gpa % PAGE_SIZE;
    if (len > 0 && off + len <= PAGE_SIZE && off >= 0 && Number.isSafeInteger(gpa)) {
      const i = this.#translate(gpa, true);
      if (i < 0) return trResult(i);
      this.#tlbPage[i]!.set(src, off);
      markPageDirtyInSlot(this.#tlbSlot[i]!, this.#tlbGfn[i]!);
      return NPT_OK;
    }
    const r = this.#resolve(gpa, len, true);
    if (r !== NPT_OK) return r;
    let at = 0;
    const views = this.#views;
    for (let i = 0; i < views.length; i++) {
      const v = views[i]!;
      v.set(src.subarray(at, at + v.length));
      at += v.length;
      markPageDirtyInSlot(this.#slots[i]!, this.#gfns[i]!);
    }
    return NPT_OK;
  }

  /** GuestPhysMemory.page: the cached translation's page view; a write mapping marks it dirty. */
  page(gpa: number, write: boolean): Uint8Array | undefined {
    if (!(gpa >= 0) || !Number.isSafeInteger(gpa)) return undefined;
    const i = this.#translate(gpa, write);
    if (i < 0) return undefined;
    if (write) markPageDirtyInSlot(this.#tlbSlot[i]!, this.#tlbGfn[i]!);
    return this.#tlbPage[i];
  }

  /**
   * GuestPhysMemory.spa: the system physical address of `gpa` (the model's: its host address),
   * from the translation page() just made (looked up afresh when it is gone). Throws when no memslot
   * holds the page (page() did not succeed).
   */
  spa(gpa: number): number {
    const off = gpa % PAGE_SIZE;
    const gfn = (gpa - off) / PAGE_SIZE;
    const i = gfn % TLB_SIZE;
    const slot = this.#tlbGfn[i] === gfn ? this.#tlbSlot[i]! : this.space.lookup(gfn);
    if (!slot) throw new RangeError(`spa of gpa 0x${gpa.toString(16)}: no memslot`);
    return gfnToHva(slot, gfn) + off;
  }

  /**
   * The cache entry for the page of `gpa` (a safe non-negative integer), filled on a miss; TR_MMIO
   * when no memslot holds that page, TR_READONLY for a write to a read-only slot, TR_FAULT (lastFault set) when the host page cannot
   * be mapped.
   */
  #translate(gpa: number, write: boolean): number {
    if (this.space.generation !== this.#slotGen || this.host.generation !== this.#hostGen) this.#flush();
    const gfn = (gpa - (gpa % PAGE_SIZE)) / PAGE_SIZE;
    const i = gfn % TLB_SIZE;
    if (this.#tlbGfn[i] === gfn && (!write || this.#tlbWritable[i] === 1)) return i;
    const slot = this.space.lookup(gfn);
    // No slot: KVM's MMIO entry (reserved bits). A read-only slot: present, not writable.
    if (!slot) return TR_MMIO;
    if (write && slot.flags & KVM_MEM_READONLY) return TR_READONLY;
    const pageHva = gfnToHva(slot, gfn);
    const v = this.host.frame(pageHva, PAGE_SIZE, write);
    if (!(v instanceof Uint8Array)) {
      // The fault as a view of just the accessed bytes reports it: at the access's first byte.
      this.lastFault = fault(gpa, v.kind, slot, pageHva + (gpa - gfn * PAGE_SIZE));
      return TR_FAULT;
    }
    this.#tlbGfn[i] = gfn;
    this.#tlbPage[i] = v;
    this.#tlbSlot[i] = slot;
    this.#tlbWritable[i] = write ? 1 : 0;
    return i;
  }

  /**
   * GuestPhysMemory.generation: bumped whenever the pages page() handed out may no longer be
   * what the guest reaches (a memslot changed, a host mapping changed, dirty logging
   * write-protected pages again).
   */
  get generation(): number {
    if (this.space.generation !== this.#slotGen || this.host.generation !== this.#hostGen) this.#flush();
    return this.#epoch;
  }

  #flush(): void {
    this.#epoch++;
    this.#tlbGfn.fill(-1);
    this.#tlbPage.fill(EMPTY_PAGE);
    this.#winPage = undefined;
    this.#win = undefined;
    this.#slotGen = this.space.generation;
    this.#hostGen = this.host.generation;
  }

  /** `len` bytes of `page` from `off`, as a view kept for the next access of the same window. */
  #window(page: Uint8Array, off: number, len: number): Uint8Array {
    if (page === this.#winPage && off === this.#winOff && len === this.#winLen) return this.#win!;
    const w = new Uint8Array(page.buffer, page.byteOffset + off, len);
    this.#winPage = page;
    this.#winOff = off;
    this.#winLen = len;
    this.#win = w;
    return w;
  }

  #resolve(gpa: number, len: number, write: boolean): NptResult {
    const views = this.#views;
    views.length = 0;
    this.#slots.length = 0;
    this.#gfns.length = 0;
    let done = 0;
    while (done < len) {
      const cur = gpa + done;
      const gfn = Math.floor(cur / PAGE_SIZE);
      const slot = this.space.lookup(gfn);
      if (!slot) return NPT_MMIO;
      if (write && slot.flags & KVM_MEM_READONLY) return NPT_READONLY;
      const n = Math.min(len - done, PAGE_SIZE - (cur % PAGE_SIZE));
      const hva = gfnToHva(slot, gfn) + (cur - gfn * PAGE_SIZE);
      const v = this.host.frame(hva, n, write);
      if (!(v instanceof Uint8Array)) {
        this.lastFault = fault(cur, v.kind, slot, v.hva);
        return NPT_FAULT;
      }
      views.push(v);
      this.#slots.push(slot);
      this.#gfns.push(gfn);
      done += n;
    }
    return NPT_OK;
  }
}
