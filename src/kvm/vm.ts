/**
 * A VM (the VM fd): memslots per address space, guest memory access with KVM's semantics, dirty
 * logging, and the vCPUs. Created by `Kvm.createVm()`.
 */

import type { CpuBackend } from '../cpu/backend.js';
import type { HostAddressSpace } from '../host/address-space.js';
import type { HostAllocator } from '../host/allocator.js';
import type { TraceSink } from '../trace/events.js';
import { KvmError } from '../uapi/kvm-error.js';
import {
  decodeUserspaceMemoryRegion,
  decodeUserspaceMemoryRegion2,
  KVM_MEM_READONLY,
  KVM_USER_MEM_SLOTS,
  KVM_USERSPACE_MEMORY_REGION_SIZE,
  slotAsId,
  slotId,
  type UserspaceMemoryRegion,
} from '../uapi/memslot.js';
import type { FdTable } from './guest-memfd.js';
import { type GuestMemoryFault, kvmReadGuest, kvmWriteGuest, markPageDirtyInSlot } from './guest-memory.js';
import { dirtyBitmapBytes, type MemoryRegionChange, setMemoryRegion } from './memory-region.js';
import { type Memslot, MemslotSet } from './memslots.js';
import type { MsrFilter } from './msr.js';
import type { KvmCoreProfile } from './profile.js';
import { Vcpu } from './vcpu.js';
import type { VmTypeOps } from './vm-type.js';

/** A guest page mapped for the kernel (struct kvm_host_map). */
export interface GuestPageMapping {
  readonly gfn: number;
  readonly slot: Memslot;
  /** The 4096 bytes, aliasing the host memory behind the slot. */
  readonly page: Uint8Array;
}

/**
 * A guest page KVM keeps mapped across exits (struct gfn_to_pfn_cache): `map(gfn)` is
 * kvm_vcpu_map, except that the mapping of the last gfn is reused while the VM's memslots and the
 * host address space keep their generations. Any change to either drops it, as KVM's MMU notifier
 * and memslot-generation checks invalidate a pfn cache.
 */
export class GuestPageCache {
  readonly #vm: Vm;
  #map: GuestPageMapping | undefined;
  #slotGen = -1;
  #hostGen = -1;

  constructor(vm: Vm) {
    this.#vm = vm;
  }

  /** The mapping of `gfn` (see Vm.mapGuestPage), cached; undefined when it cannot be mapped. */
  map(gfn: number): GuestPageMapping | undefined {
    const vm = this.#vm;
    const slotGen = vm.spaces[0]!.generation;
    const hostGen = vm.host.generation;
    const m = this.#map;
    if (m !== undefined && m.gfn === gfn && slotGen === this.#slotGen && hostGen === this.#hostGen) return m;
    const fresh = vm.mapGuestPage(gfn);
    this.#map = fresh;
    this.#slotGen = slotGen;
    this.#hostGen = hostGen;
    return fresh;
  }
}

/** The process-wide facts a VM is created with. */
export interface VmContext {
  readonly host: HostAddressSpace;
  readonly allocator: HostAllocator;
  readonly maxGfn: number;
  readonly userAddrLimit: number;
  readonly addressSpaces: number;
  readonly maxVcpuId: number;
  readonly core: KvmCoreProfile;
  /** The process's file descriptors (guest_memfd). */
  readonly fds: FdTable;
  /** The current trace sink of the owning Kvm. */
  readonly trace: () => TraceSink | undefined;
}

/** A KVM virtual machine. */
export class Vm {
  /** The VM type, as passed to KVM_CREATE_VM. */
  readonly type: number;
  readonly host: HostAddressSpace;
  readonly allocator: HostAllocator;
  readonly core: KvmCoreProfile;
  /** Memslots, one set per address space (x86: 0 = normal, 1 = SMM when supported). */
  readonly spaces: readonly MemslotSet[];
  /** The VM type's hooks (src/sev for SEV-ES). */
  readonly typeOps: VmTypeOps;
  /** KVM_CAP_X86_USER_SPACE_MSR: which KVM_MSR_EXIT_REASON_* go to userspace (0 = none). */
  userSpaceMsrMask = 0;
  /** KVM_X86_SET_MSR_FILTER, if set. */
  msrFilter: MsrFilter | undefined;
  /** KVM_CAP_EXIT_HYPERCALL: bitmask of hypercall numbers that exit to userspace. */
  exitHypercalls = 0;
  /** Set when the VM is destroyed; every later ioctl fails with EIO. */
  dead = false;

  readonly #ctx: VmContext;
  readonly #vcpus = new Map<number, Vcpu>();
  #destroyed = false;

  constructor(type: number, ctx: VmContext, typeOps: (vm: Vm) => VmTypeOps) {
    this.type = type;
    this.#ctx = ctx;
    this.host = ctx.host;
    this.allocator = ctx.allocator;
    this.spaces = Array.from({ length: ctx.addressSpaces }, () => new MemslotSet());
    this.typeOps = typeOps(this);
    this.core = this.typeOps.core ?? ctx.core;
  }

  /** Where this VM's trace events go right now (undefined: tracing off). */
  get trace(): TraceSink | undefined {
    return this.#ctx.trace();
  }

  /**
   * KVM_SET_USER_MEMORY_REGION: create, move, change flags of or (size 0) delete a memslot.
   * Accepts the struct or its 32 raw bytes. Throws KvmError with the errno Linux gives.
   */
  setUserMemoryRegion(region: UserspaceMemoryRegion | Uint8Array): MemoryRegionChange {
    return this.#setRegion(region instanceof Uint8Array ? decodeKvm(region, true) : region, true);
  }

  /** KVM_SET_USER_MEMORY_REGION2: as above with the 160-byte struct (guest_memfd fields). */
  setUserMemoryRegion2(region: UserspaceMemoryRegion | Uint8Array): MemoryRegionChange {
    return this.#setRegion(region instanceof Uint8Array ? decodeKvm(region, false) : region, false);
  }

  #setRegion(region: UserspaceMemoryRegion, legacy: boolean): MemoryRegionChange {
    this.#checkAlive();
    const r = setMemoryRegion(
      {
        spaces: this.spaces,
        allocator: this.allocator,
        maxGfn: this.#ctx.maxGfn,
        userAddrLimit: this.#ctx.userAddrLimit,
        readonlyMem: !this.typeOps.protectedState || this.core.readonlyMemForProtectedVms,
        guestMemfd: this.core.guestMemfd && !this.typeOps.protectedState,
        fds: this.#ctx.fds,
        owner: this,
      },
      region,
      legacy,
    );
    if (!r.ok)
      throw new KvmError(r.errno, `KVM_SET_USER_MEMORY_REGION${legacy ? '' : '2'} slot ${region.slot}`);
    return r.change;
  }

  /**
   * KVM_ENABLE_CAP (VM ioctl): the VM type enables the capabilities it knows (args[0..3] of struct
   * kvm_enable_cap); anything else is EINVAL, as in Linux.
   */
  enableCap(cap: number, args: readonly bigint[] = []): void {
    this.#checkAlive();
    if (args.length > 4) throw new KvmError('EINVAL', `KVM_ENABLE_CAP: ${args.length} args (at most 4)`);
    const enable = this.typeOps.enableCap;
    if (!enable) throw new KvmError('EINVAL', `KVM_ENABLE_CAP: capability ${cap} not supported by this VM`);
    enable.call(this.typeOps, cap, args);
  }

  /** The memslot containing a GPA in address space 0 (gfn_to_memslot), if any. */
  memslotForGpa(gpa: number, asId = 0): Memslot | undefined {
    return this.spaces[asId]?.lookup(Math.floor(gpa / 4096));
  }

  /**
   * KVM_CREATE_GUEST_MEMFD: a guest_memfd of `size` bytes owned by this VM, returned as its fd.
   * EINVAL for a bad size or a VM that cannot use guest_memfd.
   */
  createGuestMemfd(size: number): number {
    this.#checkAlive();
    if (!this.core.guestMemfd || this.typeOps.protectedState)
      throw new KvmError('EINVAL', 'guest_memfd not supported');
    const f = this.#ctx.fds.createGuestMemfd(this, size);
    if (typeof f === 'string') throw new KvmError(f, `KVM_CREATE_GUEST_MEMFD size ${size}`);
    return f.fd;
  }

  /**
   * kvm_vcpu_map: map one guest page writable for direct kernel access (the GHCB). Undefined when
   * the gfn has no slot, the slot is read-only, or the host page cannot be faulted in.
   */
  mapGuestPage(gfn: number): GuestPageMapping | undefined {
    const slot = this.spaces[0]!.lookup(gfn);
    if (!slot || slot.flags & KVM_MEM_READONLY) return undefined;
    const v = this.host.view(slot.userspaceAddr + (gfn - slot.baseGfn) * 4096, 4096, true);
    return v instanceof Uint8Array ? { gfn, slot, page: v } : undefined;
  }

  /** kvm_vcpu_unmap(dirty = true): the page was written through the mapping. */
  unmapGuestPage(map: GuestPageMapping): void {
    markPageDirtyInSlot(map.slot, map.gfn);
  }

  /** kvm_read_guest: EFAULT (as a value) for a GPA without a slot or with a host fault. */
  readGuest(gpa: number, dst: Uint8Array): GuestMemoryFault | undefined {
    return kvmReadGuest(this.spaces[0]!, this.host, gpa, dst);
  }

  /** kvm_write_guest: also EFAULT for a read-only slot; marks pages dirty. */
  writeGuest(gpa: number, src: Uint8Array): GuestMemoryFault | undefined {
    return kvmWriteGuest(this.spaces[0]!, this.host, gpa, src);
  }

  /**
   * KVM_GET_DIRTY_LOG: the slot's dirty bitmap (bit n = page n, u64 words, little-endian), then
   * cleared, as KVM does without manual dirty-log protection. ENOENT when the slot does not log.
   */
  getDirtyLog(slot: number): Uint8Array {
    const s = this.#dirtySlot(slot);
    const half = dirtyBitmapBytes(s.npages);
    const bitmap = s.dirtyBitmap!.bytes;
    const out = bitmap.slice(0, half);
    bitmap.fill(0, 0, half);
    return out;
  }

  /**
   * KVM_CLEAR_DIRTY_LOG: clear the bits set in `mask` for pages [firstPage, firstPage + numPages).
   * firstPage must be a multiple of 64 and the range inside the slot, else EINVAL.
   */
  clearDirtyLog(slot: number, firstPage: number, numPages: number, mask: Uint8Array): void {
    // kvm_clear_dirty_log_protect's order: slot id, alignment, slot, range.
    this.#checkSlotId(slot);
    if (firstPage % 64 !== 0)
      throw new KvmError('EINVAL', 'KVM_CLEAR_DIRTY_LOG first_page not a multiple of 64');
    const s = this.#dirtySlot(slot);
    const rest = s.npages - firstPage;
    if (firstPage > s.npages || numPages < 0 || numPages > rest || (numPages < rest && numPages % 64 !== 0)) {
      throw new KvmError('EINVAL', 'KVM_CLEAR_DIRTY_LOG range');
    }
    if (mask.length * 8 < numPages) throw new KvmError('EFAULT', 'KVM_CLEAR_DIRTY_LOG bitmap too short');
    const bitmap = s.dirtyBitmap!.bytes;
    for (let i = 0; i < numPages; i++) {
      if (mask[i >>> 3]! & (1 << (i & 7))) {
        const p = firstPage + i;
        bitmap[p >>> 3]! &= ~(1 << (p & 7));
      }
    }
  }

  #checkSlotId(slot: number): void {
    this.#checkAlive();
    if (slotAsId(slot >>> 0) >= this.spaces.length || slotId(slot) >= KVM_USER_MEM_SLOTS) {
      throw new KvmError('EINVAL', `slot ${slot}`);
    }
  }

  #dirtySlot(slot: number): Memslot {
    this.#checkSlotId(slot);
    const s = this.spaces[slotAsId(slot >>> 0)]!.get(slotId(slot));
    if (!s?.dirtyBitmap) throw new KvmError('ENOENT', `slot ${slot} does not log dirty pages`);
    return s;
  }

  /**
   * KVM_CREATE_VCPU, with the guest CPU that will run on it (the scripted backend, or later the x86
   * interpreter). EINVAL for an id beyond the limit, EEXIST for a duplicate.
   */
  createVcpu(id: number, backend: CpuBackend): Vcpu {
    this.#checkAlive();
    if (!Number.isInteger(id) || id < 0 || id >= this.#ctx.maxVcpuId)
      throw new KvmError('EINVAL', `vcpu id ${id}`);
    if (this.#vcpus.has(id)) throw new KvmError('EEXIST', `vcpu ${id} exists`);
    if (backend.protectedState !== this.typeOps.protectedState) {
      throw new KvmError('EINVAL', 'CPU backend protection does not match the VM type');
    }
    const vcpu = new Vcpu(this, id, backend);
    this.#vcpus.set(id, vcpu);
    return vcpu;
  }

  /** The vCPUs, by id. */
  get vcpus(): ReadonlyMap<number, Vcpu> {
    return this.#vcpus;
  }

  /** Close the VM fd: vCPUs are freed, and so are dirty bitmaps and anything the VM type holds. */
  destroy(): void {
    // A VM killed by a kernel oops is dead (ioctls fail with EIO) but still has to be freed.
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const vcpu of this.#vcpus.values()) vcpu.destroy();
    this.typeOps.destroy?.();
    for (const space of this.spaces) {
      for (const slot of [...space.slots()]) {
        if (slot.dirtyBitmap) this.allocator.free(slot.dirtyBitmap);
        slot.dirtyBitmap = undefined;
        space.remove(slot);
      }
    }
    this.dead = true;
  }

  #checkAlive(): void {
    if (this.dead) throw new KvmError('EIO', 'VM is dead');
  }
}

function decodeKvm(bytes: Uint8Array, legacy: boolean): UserspaceMemoryRegion {
  // copy_from_user of a buffer that is too short faults: EFAULT, as a KvmError.
  const need = legacy ? KVM_USERSPACE_MEMORY_REGION_SIZE : 160;
  if (bytes.length < need) throw new KvmError('EFAULT', 'memory region struct out of bounds');
  return legacy ? decodeUserspaceMemoryRegion(bytes) : decodeUserspaceMemoryRegion2(bytes);
}
