/**
 * A VM (the VM fd): memslots per address space, guest memory access with KVM's semantics, dirty
 * logging, and the vCPUs. Created by `Kvm.createVm()`.
 */

import type { CpuBackend, MemoryEncryption } from '../cpu/backend.js';
import type { HostAddressSpace } from '../host/address-space.js';
import type { HostAllocator } from '../host/allocator.js';
import type { HostClock } from '../host/clock.js';
import { PAGE_SIZE } from '../host/page.js';
import type { TraceSink } from '../trace/events.js';
import { dirtyBitmapBytes } from '../uapi/dirty-log.js';
import { Errno } from '../uapi/errno.js';
import {
  KVM_MEM_READONLY,
  KVM_USER_MEM_SLOTS,
  slotAsId,
  slotId,
  type UserspaceMemoryRegion,
} from '../uapi/memslot.js';
import type { CpuidEntry } from './cpuid.js';
import type { FdTable } from './guest-memfd.js';
import { type GuestMemoryFault, kvmReadGuest, kvmWriteGuest, markPageDirtyInSlot } from './guest-memory.js';
import type { Irqchip } from './irqchip.js';
import { type MemoryRegionChange, setMemoryRegion } from './memory-region.js';
import { gfnToHva, type Memslot, MemslotSet } from './memslots.js';
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
  /** Host MAXPHYADDR (the guest's too: KVM advertises it in CPUID 0x80000008). */
  readonly maxPhysBits: number;
  readonly maxGfn: number;
  readonly userAddrLimit: number;
  /** Memslot address spaces (x86: 2 with SMM, 1 without or with private memory). */
  readonly addressSpaces: number;
  readonly maxVcpuId: number;
  readonly core: KvmCoreProfile;
  /** kvm_caps.supported_xcr0. */
  readonly supportedXcr0: bigint;
  /** The state components the host CPU has (xstate_required_size reads only theirs). */
  readonly hostXstate: bigint;
  /** mxcsr_feature_mask: the MXCSR bits the host CPU lets be set (its FXSAVE's MXCSR_MASK). */
  readonly mxcsrFeatureMask: number;
  /** KVM_GET_SUPPORTED_CPUID's table: a new vCPU's until KVM_SET_CPUID2. */
  readonly supportedCpuid: readonly CpuidEntry[];
  /** The process's file descriptors (guest_memfd). */
  readonly fds: FdTable;
  /** The owning Kvm's trace sink, one cell shared with it: setting Kvm.trace reaches every VM. */
  readonly tracer: TraceCell;
  /** The memory controller's encryption, handed to every CPU (absent: all memory plaintext). */
  readonly memoryEncryption?: MemoryEncryption | undefined;
  /** The host's clock: its timers fire at host ticks, where the kernel would take their signals. */
  readonly clock?: HostClock | undefined;
  /** KvmOptions.runArea: the pages a new vCPU's kvm_run lives in (absent: the model's own). */
  readonly runArea?: ((vcpuId: number) => Uint8Array) | undefined;
}

/** Where trace events go right now (undefined: tracing off), read on every exit that may trace. */
export interface TraceCell {
  sink: TraceSink | undefined;
}

/** A KVM virtual machine (struct kvm): KVM-internal; a VMM reaches it through its VmFd (fd.ts). */
export class Vm {
  /** The VM type, as passed to KVM_CREATE_VM. */
  readonly type: number;
  readonly host: HostAddressSpace;
  readonly allocator: HostAllocator;
  readonly core: KvmCoreProfile;
  /** Memslots, one set per address space (x86: 0 = normal, 1 = SMM when supported). */
  readonly spaces: readonly MemslotSet[];
  /** The VM type's hooks (src/sev for SEV-ES). */
  typeOps: VmTypeOps;
  /** KVM_CAP_X86_USER_SPACE_MSR: which KVM_MSR_EXIT_REASON_* go to userspace (0 = none). */
  userSpaceMsrMask = 0;
  /** KVM_X86_SET_MSR_FILTER, if set. */
  msrFilter: MsrFilter | undefined;
  /** KVM_CAP_EXIT_HYPERCALL: bitmask of hypercall numbers that exit to userspace. */
  exitHypercalls = 0;
  /** KVM_CREATE_IRQCHIP's in-kernel PIC, IOAPIC and local APICs, if created. */
  irqchip: Irqchip | undefined;
  /** Set when the VM is destroyed or the host kernel crashed handling it; ioctls fail with EIO. */
  dead = false;
  /** Host MAXPHYADDR. */
  readonly maxPhysBits: number;

  readonly ctx: VmContext;
  readonly #vcpus = new Map<number, Vcpu>();
  #destroyed = false;
  /** users_count: the VM fd's reference and one per vCPU fd. */
  #users = 1;

  constructor(type: number, ctx: VmContext, typeOps: VmTypeOps) {
    this.type = type;
    this.ctx = ctx;
    this.host = ctx.host;
    this.allocator = ctx.allocator;
    this.spaces = Array.from({ length: ctx.addressSpaces }, () => new MemslotSet());
    this.typeOps = typeOps;
    this.core = ctx.core;
    this.maxPhysBits = ctx.maxPhysBits;
  }

  /** Where this VM's trace events go right now (undefined: tracing off). */
  get trace(): TraceSink | undefined {
    return this.ctx.tracer.sink;
  }

  /** kvm_set_memory_region for KVM_SET_USER_MEMORY_REGION (`legacy`) or ..._REGION2. */
  setMemoryRegion(region: UserspaceMemoryRegion, legacy: boolean): Errno | MemoryRegionChange {
    const r = setMemoryRegion(
      {
        spaces: this.spaces,
        allocator: this.allocator,
        maxGfn: this.ctx.maxGfn,
        userAddrLimit: this.ctx.userAddrLimit,
        readonlyMem: !this.typeOps.protectedState || this.core.readonlyMemForProtectedVms,
        guestMemfd: this.core.guestMemfd && !this.typeOps.protectedState,
        fds: this.ctx.fds,
        owner: this,
      },
      region,
      legacy,
    );
    if (!r.ok)
      return new Errno(r.errno, `KVM_SET_USER_MEMORY_REGION${legacy ? '' : '2'} slot ${region.slot}`);
    return r.change;
  }

  /** The memslot containing a GPA (gfn_to_memslot), if any. */
  memslotForGpa(gpa: number, asId = 0): Memslot | undefined {
    return this.spaces[asId]?.lookup(Math.floor(gpa / PAGE_SIZE));
  }

  /**
   * kvm_vcpu_map: map one guest page writable for direct kernel access (the GHCB). Undefined when
   * the gfn has no slot, the slot is read-only, or the host page cannot be faulted in.
   */
  mapGuestPage(gfn: number): GuestPageMapping | undefined {
    const slot = this.spaces[0]!.lookup(gfn);
    if (!slot || slot.flags & KVM_MEM_READONLY) return undefined;
    const v = this.host.view(gfnToHva(slot, gfn), PAGE_SIZE, true);
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
    const trace = this.trace;
    if (trace) trace({ name: 'sevbox_kvm_write_guest', vcpu: -1, gpa, len: src.length });
    return kvmWriteGuest(this.spaces[0]!, this.host, gpa, src);
  }

  /**
   * KVM_GET_DIRTY_LOG: the slot's dirty bitmap (bit n = page n, u64 words, little-endian), then
   * cleared, as KVM does without manual dirty-log protection. ENOENT when the slot does not log.
   */
  getDirtyLog(slot: number): Errno | Uint8Array {
    const s = this.#dirtySlot(slot);
    if (s instanceof Errno) return s;
    const half = dirtyBitmapBytes(s.npages);
    const bitmap = s.dirtyBitmap!.bytes;
    const out = bitmap.slice(0, half);
    bitmap.fill(0, 0, half);
    // The pages are write-protected again and the vCPUs' TLBs flushed
    // (kvm_arch_flush_remote_tlbs_memslot): a new memslot generation does both here.
    this.spaces[slotAsId(slot >>> 0)]!.slotChanged();
    return out;
  }

  /**
   * KVM_CLEAR_DIRTY_LOG: clear the bits set in `mask` for pages [firstPage, firstPage + numPages).
   * firstPage must be a multiple of 64 and the range inside the slot, else EINVAL.
   */
  clearDirtyLog(slot: number, firstPage: number, numPages: number, mask: Uint8Array): Errno | undefined {
    // kvm_clear_dirty_log_protect's order: slot id, alignment, slot, range.
    const bad = this.#checkSlotId(slot);
    if (bad) return bad;
    if (firstPage % 64 !== 0)
      return new Errno('EINVAL', 'KVM_CLEAR_DIRTY_LOG first_page not a multiple of 64');
    const s = this.#dirtySlot(slot);
    if (s instanceof Errno) return s;
    const rest = s.npages - firstPage;
    if (firstPage > s.npages || numPages < 0 || numPages > rest || (numPages < rest && numPages % 64 !== 0)) {
      return new Errno('EINVAL', 'KVM_CLEAR_DIRTY_LOG range');
    }
    if (mask.length * 8 < numPages) return new Errno('EFAULT', 'KVM_CLEAR_DIRTY_LOG bitmap too short');
    const bitmap = s.dirtyBitmap!.bytes;
    for (let i = 0; i < numPages; i++) {
      if (mask[i >>> 3]! & (1 << (i & 7))) {
        const p = firstPage + i;
        bitmap[p >>> 3]! &= ~(1 << (p & 7));
      }
    }
    // Cleared pages are write-protected again and the TLBs flushed, as in getDirtyLog.
    this.spaces[slotAsId(slot >>> 0)]!.slotChanged();
    return undefined;
  }

  #checkSlotId(slot: number): Errno | undefined {
    if (slotAsId(slot >>> 0) >= this.spaces.length || slotId(slot) >= KVM_USER_MEM_SLOTS) {
      return new Errno('EINVAL', `slot ${slot}`);
    }
    return undefined;
  }

  #dirtySlot(slot: number): Memslot | Errno {
    const bad = this.#checkSlotId(slot);
    if (bad) return bad;
    const s = this.spaces[slotAsId(slot >>> 0)]!.get(slotId(slot));
    if (!s?.dirtyBitmap) return new Errno('ENOENT', `slot ${slot} does not log dirty pages`);
    return s;
  }

  /**
   * kvm_vm_ioctl_create_vcpu with the CPU the hardware gives it: EINVAL for an id beyond the limit,
   * EEXIST for a duplicate (found after the vCPU was built, as in Linux, then destroyed again).
   */
  createVcpu(id: number, backend: CpuBackend): Vcpu | Errno {
    if (!Number.isInteger(id) || id < 0 || id >= this.ctx.maxVcpuId)
      return new Errno('EINVAL', `vcpu id ${id}`);
    if (this.#vcpus.has(id)) return new Errno('EEXIST', `vcpu ${id} exists`);
    if (backend.protectedState !== (this.typeOps.sevEs ?? false)) {
      return new Errno('EINVAL', 'CPU backend protection does not match the VM type');
    }
    const vcpu = new Vcpu(this, id, backend);
    this.#vcpus.set(id, vcpu);
    this.irqchip?.addVcpu(vcpu);
    return vcpu;
  }

  /** The vCPUs, by id. */
  get vcpus(): ReadonlyMap<number, Vcpu> {
    return this.#vcpus;
  }

  /** kvm_get_kvm: a vCPU fd holds the VM as its VM fd does. */
  get(): void {
    this.#users++;
  }

  /** kvm_put_kvm: the VM is destroyed with its last reference (VM fd and vCPU fds alike). */
  put(): void {
    if (--this.#users === 0) this.destroy();
  }

  /** kvm_destroy_vm: vCPUs are freed, and so are dirty bitmaps and anything the VM type holds. */
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
}
