/**
 * How KVM touches guest memory: kvm_read_guest / kvm_write_guest (memslot → hva → the VMM's
 * address space, page by page), and the nested page table the CPU walks. Every path goes through
 * the memslots and the host address space, so a missing slot, a read-only slot, an unmapped or
 * lazily populated hva fail exactly where they would in Linux.
 */

import { NPT_FAULT, NPT_MMIO, NPT_OK, type NptResult } from '../cpu/backend.js';
import type { HostAddressSpace, HostFaultKind } from '../host/address-space.js';
import { KVM_MEM_READONLY } from '../uapi/memslot.js';
import type { Memslot, MemslotSet } from './memslots.js';

const PAGE_SIZE = 4096;

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
    const slot = space.lookup(Math.floor(cur / PAGE_SIZE));
    if (!slot) return fault(cur, 'no-slot');
    // One host copy for the whole run inside this slot: the host reports the exact failing hva.
    const slotEnd = (slot.baseGfn + slot.npages) * PAGE_SIZE;
    const n = Math.min(len - done, slotEnd - cur);
    const hva = slot.userspaceAddr + (cur - slot.baseGfn * PAGE_SIZE);
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
    const hva = slot.userspaceAddr + (cur - slot.baseGfn * PAGE_SIZE);
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

/**
 * Guest physical memory as the CPU sees it through KVM's nested page table. Unlike kvm_*_guest an
 * access is all or nothing (an instruction either completes or faults), so every page is resolved
 * before any byte moves. Reports the last fault so the NPF handler can explain it.
 */
export class NestedPageTable {
  /** The host-side fault behind the last NPT_FAULT, for the NPF handler. */
  lastFault: GuestMemoryFault | undefined;
  readonly #views: Uint8Array[] = [];
  readonly #slots: Memslot[] = [];
  readonly #gfns: number[] = [];

  constructor(
    readonly space: MemslotSet,
    readonly host: HostAddressSpace,
  ) {}

  read(gpa: number, dst: Uint8Array): NptResult {
    const r = this.#resolve(gpa, dst.length, false);
    if (r !== NPT_OK) return r;
    let off = 0;
    for (const v of this.#views) {
      dst.set(v, off);
      off += v.length;
    }
    return NPT_OK;
  }

  write(gpa: number, src: Uint8Array): NptResult {
    const r = this.#resolve(gpa, src.length, true);
    if (r !== NPT_OK) return r;
    let off = 0;
    const views = this.#views;
    for (let i = 0; i < views.length; i++) {
      const v = views[i]!;
      v.set(src.subarray(off, off + v.length));
      off += v.length;
      markPageDirtyInSlot(this.#slots[i]!, this.#gfns[i]!);
    }
    return NPT_OK;
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
      if (!slot || (write && slot.flags & KVM_MEM_READONLY)) return NPT_MMIO;
      const n = Math.min(len - done, PAGE_SIZE - (cur % PAGE_SIZE));
      const hva = slot.userspaceAddr + (cur - slot.baseGfn * PAGE_SIZE);
      const v = this.host.view(hva, n, write);
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
