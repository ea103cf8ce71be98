/**
 * KVM_SET_USER_MEMORY_REGION(2): kvm_set_memory_region() in virt/kvm/kvm_main.c, check for check in
 * the kernel's order (../shared/spec/kvm-uapi.md section 4), so that every invalid argument fails
 * with the errno, and at the step, that Linux gives it.
 */
import type { HostAllocator } from '../host/allocator.js';
import { dirtyBitmapBytes } from '../uapi/dirty-log.js';
import type { ErrnoName } from '../uapi/errno.js';
import {
  KVM_MEM_GUEST_MEMFD,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_MAX_NR_PAGES,
  KVM_MEM_READONLY,
  KVM_MEM_SLOTS_NUM,
  KVM_USER_MEM_SLOTS,
  slotAsId,
  slotId,
  type UserspaceMemoryRegion,
} from '../uapi/memslot.js';
import type { FdTable } from './guest-memfd.js';
import type { Memslot, MemslotSet } from './memslots.js';

/** Re-exported for the callers that import it from here (it is an ABI fact of src/uapi/dirty-log.ts). */

const PAGE = 4096n;
const U64 = 1n << 64n;

/** What the checks depend on besides the request. */
export interface MemoryRegionContext {
  /** One MemslotSet per address space (x86: 1, or 2 with SMM). */
  readonly spaces: readonly MemslotSet[];
  readonly allocator: HostAllocator;
  /** Highest gfn the MMU can map (kvm_mmu_max_gfn). */
  readonly maxGfn: number;
  /** TASK_SIZE_MAX: access_ok() requires hva + size <= this. */
  readonly userAddrLimit: number;
  /** kvm_arch_has_readonly_mem(). */
  readonly readonlyMem: boolean;
  /** Whether this VM may bind guest_memfd (kvm_arch_supports_gmem). */
  readonly guestMemfd: boolean;
  /** The process's fds, for kvm_gmem_bind; and the VM as the owner guest_memfds must match. */
  readonly fds?: FdTable;
  readonly owner?: object;
}

/** kvm_mr_change: what a successful call did. */
export type MemoryRegionChange = 'create' | 'delete' | 'move' | 'flags-only' | 'none';

/** Outcome: the change made, or the errno. */
export type MemoryRegionResult =
  | { ok: true; change: MemoryRegionChange; slot: Memslot }
  | { ok: false; errno: ErrnoName };

const fail = (errno: ErrnoName): MemoryRegionResult => ({ ok: false, errno });

/**
 * Apply one KVM_SET_USER_MEMORY_REGION (`legacy`) or ..._REGION2 request. On failure nothing has
 * changed; on success the slot set (and dirty-bitmap charges) reflect the change.
 */
export function setMemoryRegion(
  ctx: MemoryRegionContext,
  mem: UserspaceMemoryRegion,
  legacy: boolean,
): MemoryRegionResult {
  const flags = mem.flags >>> 0;
  // 2. The legacy struct has no guest_memfd fields, so it takes only the two old flags.
  if (legacy && flags & ~(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)) return fail('EINVAL');
  const id = slotId(mem.slot);
  const asId = slotAsId(mem.slot >>> 0);
  // 3.
  if (id >= KVM_USER_MEM_SLOTS) return fail('EINVAL');
  // 4. check_memory_region_flags()
  let valid = KVM_MEM_LOG_DIRTY_PAGES;
  if (ctx.guestMemfd) valid |= KVM_MEM_GUEST_MEMFD;
  if (flags & KVM_MEM_GUEST_MEMFD) valid &= ~KVM_MEM_LOG_DIRTY_PAGES;
  if (ctx.readonlyMem && !(flags & KVM_MEM_GUEST_MEMFD)) valid |= KVM_MEM_READONLY;
  if (flags & ~valid) return fail('EINVAL');
  const size = BigInt.asUintN(64, mem.memorySize);
  const gpa = BigInt.asUintN(64, mem.guestPhysAddr);
  const hva = BigInt.asUintN(64, mem.userspaceAddr);
  // 5, 6.
  if (size % PAGE !== 0n) return fail('EINVAL');
  if (gpa % PAGE !== 0n) return fail('EINVAL');
  // 7. access_ok(): hva + size must not wrap and must stay inside the user address space. Whether
  // anything is mapped there is not checked (that is found out at access time).
  if (hva % PAGE !== 0n || hva + size > BigInt(ctx.userAddrLimit)) return fail('EINVAL');
  // 8.
  const gmemOffset = BigInt.asUintN(64, mem.guestMemfdOffset ?? 0n);
  if (flags & KVM_MEM_GUEST_MEMFD && (gmemOffset % PAGE !== 0n || gmemOffset + size >= U64))
    return fail('EINVAL');
  // 9.
  if (asId >= ctx.spaces.length || id >= KVM_MEM_SLOTS_NUM) return fail('EINVAL');
  // 10.
  if (gpa + size >= U64) return fail('EINVAL');
  const npagesBig = size / PAGE;
  // 11.
  if (npagesBig > BigInt(KVM_MEM_MAX_NR_PAGES)) return fail('EINVAL');
  const space = ctx.spaces[asId]!;
  const old = space.get(id);
  // 12. Delete: gpa and hva were checked above but are otherwise ignored.
  if (size === 0n) {
    if (!old) return fail('EINVAL');
    space.remove(old);
    if (old.gmemFd !== undefined) ctx.fds?.unbind(old.gmemFd, old.id);
    if (old.dirtyBitmap) ctx.allocator.free(old.dirtyBitmap);
    old.dirtyBitmap = undefined;
    return { ok: true, change: 'delete', slot: old };
  }
  const npages = Number(npagesBig);
  const baseGfn = Number(gpa / PAGE);
  const userspaceAddr = Number(hva);
  let change: MemoryRegionChange;
  if (!old) {
    // 13. The running page total cannot wrap a 64-bit unsigned long with at most 32764 slots of
    // at most 2^31 pages each, so there is nothing to check here.
    change = 'create';
  } else {
    // 14.
    if (flags & KVM_MEM_GUEST_MEMFD) return fail('EINVAL');
    if (
      userspaceAddr !== old.userspaceAddr ||
      npages !== old.npages ||
      (flags ^ old.flags) & KVM_MEM_READONLY
    ) {
      return fail('EINVAL');
    }
    if (baseGfn !== old.baseGfn) change = 'move';
    else if (flags !== old.flags) change = 'flags-only';
    else return { ok: true, change: 'none', slot: old };
  }
  // 15. A moved slot may overlap its own old range.
  if ((change === 'create' || change === 'move') && space.overlaps(baseGfn, npages, old?.id))
    return fail('EEXIST');
  // 17. kvm_gmem_bind, before kvm_set_memslot's preparations (and undone if they fail).
  const gmemFd = flags & KVM_MEM_GUEST_MEMFD ? (mem.guestMemfd ?? 0) : undefined;
  if (gmemFd !== undefined) {
    const r = ctx.fds ? ctx.fds.bind(ctx.owner ?? ctx, gmemFd, gmemOffset, npages, id) : 'EBADF';
    if (r) return fail(r);
  }
  const unbind = (): void => {
    if (gmemFd !== undefined) ctx.fds?.unbind(gmemFd, id);
  };
  // kvm_prepare_memory_region: a slot logging dirty pages needs a bitmap (an old one is kept),
  // allocated before the arch check below, and freed again if that check fails.
  let bitmap = old?.dirtyBitmap;
  let fresh = false;
  if (!(flags & KVM_MEM_LOG_DIRTY_PAGES)) bitmap = undefined;
  else if (!bitmap) {
    bitmap = ctx.allocator.alloc(2 * dirtyBitmapBytes(npages), 'dirty-bitmap');
    if (!bitmap) {
      unbind();
      return fail('ENOMEM');
    }
    fresh = true;
  }
  // 18. kvm_arch_prepare_memory_region: the MMU cannot map gfns above its limit.
  if ((change === 'create' || change === 'move') && baseGfn + npages - 1 > ctx.maxGfn) {
    if (fresh) ctx.allocator.free(bitmap!);
    unbind();
    return fail('EINVAL');
  }
  if (change === 'create') {
    const slot: Memslot = { id, asId, baseGfn, npages, flags, userspaceAddr, dirtyBitmap: bitmap, gmemFd };
    space.insert(slot);
    return { ok: true, change, slot };
  }
  const slot = old!;
  if (slot.dirtyBitmap && slot.dirtyBitmap !== bitmap) ctx.allocator.free(slot.dirtyBitmap);
  slot.dirtyBitmap = bitmap;
  slot.flags = flags;
  if (change === 'move') space.move(slot, baseGfn);
  else space.slotChanged();
  return { ok: true, change, slot };
}
