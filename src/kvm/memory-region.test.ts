/**
 * KVM_SET_USER_MEMORY_REGION(2): one test per numbered rule of shared/spec/kvm-uapi.md section 4 that
 * sevbox models, the order consequences listed at its end, and the dirty-bitmap accounting.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostAllocator } from '../host/allocator.js';
import { dirtyBitmapBytes } from '../uapi/dirty-log.js';
import { SysError } from '../uapi/kvm-error.js';
import {
  decodeUserspaceMemoryRegion,
  decodeUserspaceMemoryRegion2,
  encodeUserspaceMemoryRegion,
  encodeUserspaceMemoryRegion2,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_USER_MEM_SLOTS,
} from '../uapi/memslot.js';
import type { KvmOptions } from './kvm.js';
import { KVM_CORE_5_17, KVM_CORE_CURRENT } from './profile.js';
import { del, expectErrno, HVA, newVm, P, region } from './test-util.js';

const LOG = KVM_MEM_LOG_DIRTY_PAGES;
const RO = KVM_MEM_READONLY;
/** USER_ADDR_LIMIT / TASK_SIZE_MAX. */
const TASK_SIZE_MAX = 0x7fff_ffff_f000;
const U64 = 1n << 64n;
/** The current core built without CONFIG_KVM_SMM: one memslot address space. */
const NO_SMM = { ...KVM_CORE_CURRENT, smm: false };

/** A VM whose slot 0 is 4 pages at GPA 0x10000 (hva HVA), with the given flags. */
function withSlot0(flags = 0, opts: KvmOptions = {}) {
  const env = newVm(opts);
  const req = region({ slot: 0, gpa: 0x10000, size: 4 * P, hva: HVA, flags });
  assert.equal(env.set(req), 'create');
  return { ...env, req };
}

/** A SysError with this errno name: what a codec throws when copy_from_user would fault. */
function sysErrno(code: string): (e: unknown) => boolean {
  return (e) => e instanceof SysError && e.code === code;
}

describe('KVM_SET_USER_MEMORY_REGION: step 1, copying the struct in', () => {
  // The VM fd takes the decoded struct; copying its bytes in (copy_from_user) is the codec's part,
  // so the EFAULT of a short buffer now comes from decodeUserspaceMemoryRegion(2), before any ioctl.
  it('accepts the 32 raw bytes of struct kvm_userspace_memory_region', () => {
    const { vm, set } = newVm();
    const bytes = encodeUserspaceMemoryRegion(region({ slot: 3, gpa: 0x20000, size: 2 * P, hva: HVA }));
    assert.equal(set(decodeUserspaceMemoryRegion(bytes)), 'create');
    const s = vm.memslotForGpa(0x21000);
    assert.equal(s?.id, 3);
    assert.equal(s?.baseGfn, 0x20);
    assert.equal(s?.npages, 2);
    assert.equal(s?.userspaceAddr, HVA);
  });

  it('fails with EFAULT when the raw struct is shorter than 32 bytes, and changes nothing', () => {
    const { vm } = newVm();
    const bytes = encodeUserspaceMemoryRegion(region({ slot: 0, size: P }));
    assert.throws(() => decodeUserspaceMemoryRegion(bytes.subarray(0, 31)), sysErrno('EFAULT'));
    assert.throws(() => decodeUserspaceMemoryRegion(new Uint8Array(0)), sysErrno('EFAULT'));
    assert.equal(vm.spaces[0]!.size, 0);
  });

  it('REGION2 takes the 160-byte struct and fails with EFAULT for 159 bytes', () => {
    const { vm, set } = newVm();
    const bytes = encodeUserspaceMemoryRegion2(region({ slot: 1, gpa: 0, size: P }));
    assert.throws(() => decodeUserspaceMemoryRegion2(bytes.subarray(0, 159)), sysErrno('EFAULT'));
    assert.equal(vm.spaces[0]!.size, 0);
    assert.equal(set(decodeUserspaceMemoryRegion2(bytes), true), 'create');
    assert.equal(vm.memslotForGpa(0)?.id, 1);
  });
});

describe('KVM_SET_USER_MEMORY_REGION: steps 2-4, flags and slot id', () => {
  it('step 2: the legacy ioctl refuses GUEST_MEMFD (flags 4) and unknown bits', () => {
    const { vm, set } = newVm();
    expectErrno(set(region({ slot: 0, size: P, flags: KVM_MEM_GUEST_MEMFD })), 'EINVAL');
    expectErrno(set(region({ slot: 0, size: P, flags: 8 })), 'EINVAL');
    expectErrno(set(region({ slot: 0, size: P, flags: 0x8000_0000 })), 'EINVAL');
    assert.equal(vm.spaces[0]!.size, 0);
  });

  it('step 4: REGION2 refuses GUEST_MEMFD on a VM without guest_memfd, and unknown bits', () => {
    const { set } = newVm();
    expectErrno(set(region({ slot: 0, size: P, flags: KVM_MEM_GUEST_MEMFD }), true), 'EINVAL');
    expectErrno(set(region({ slot: 0, size: P, flags: 8 }), true), 'EINVAL');
    // The current core lets a default VM bind guest_memfd (the EINVAL above is for fd 0, not a
    // guest_memfd); on 5.17 there is no guest_memfd at all, so the flag itself is refused (step 4).
    const old = newVm({ core: KVM_CORE_5_17 });
    expectErrno(old.set(region({ slot: 0, size: P, flags: KVM_MEM_GUEST_MEMFD }), true), 'EINVAL');
    assert.equal(old.vm.spaces[0]!.size, 0);
  });

  it('step 4: LOG_DIRTY_PAGES and READONLY are both accepted on a default VM', () => {
    const { vm, set } = newVm();
    assert.equal(set(region({ slot: 0, gpa: 0, size: P, flags: LOG | RO })), 'create');
    assert.equal(vm.memslotForGpa(0)?.flags, LOG | RO);
  });

  it('step 4: READONLY is refused on a VM type with protected state (kvm_arch_has_readonly_mem)', () => {
    const PROTECTED = 9;
    const { set } = newVm(
      { vmTypes: [{ type: PROTECTED, init: () => ({ protectedState: true, createVcpu: () => ({}) }) }] },
      PROTECTED,
    );
    expectErrno(set(region({ slot: 0, size: P, flags: RO })), 'EINVAL');
    assert.equal(set(region({ slot: 0, size: P, flags: LOG })), 'create');
  });

  it('step 3: slot id 32764 (KVM_USER_MEM_SLOTS) is EINVAL, 32763 is the last usable id', () => {
    const { vm, set } = newVm();
    expectErrno(set(region({ slot: 32764, size: P })), 'EINVAL');
    expectErrno(set(region({ slot: 0xffff, size: P })), 'EINVAL');
    assert.equal(set(region({ slot: 32763, size: P })), 'create');
    assert.equal(vm.spaces[0]!.get(32763)?.npages, 1);
  });

  it('step 9: without SMM there is one address space: as_id 1 is EINVAL', () => {
    const { vm, set } = newVm({ core: NO_SMM });
    expectErrno(set(region({ slot: (1 << 16) | 0, size: P })), 'EINVAL');
    expectErrno(set(region({ slot: 0xffff_0000, size: P })), 'EINVAL');
    assert.equal(vm.spaces.length, 1);
    assert.equal(vm.spaces[0]!.size, 0);
  });

  it('step 9: with SMM (the default core) as_id 1 is the SMM address space; as_id 2 is EINVAL', () => {
    const { vm, set } = newVm();
    assert.equal(vm.spaces.length, 2);
    expectErrno(set(region({ slot: (2 << 16) | 0, size: P })), 'EINVAL');
    expectErrno(set(region({ slot: 0xffff_0000, size: P })), 'EINVAL');
    assert.equal(set(region({ slot: (1 << 16) | 5, gpa: 0x30000, size: P })), 'create');
    assert.equal(vm.spaces[1]!.get(5)?.baseGfn, 0x30);
    assert.equal(vm.spaces[0]!.size, 0, 'address space 0 is untouched');
    assert.equal(vm.memslotForGpa(0x30000), undefined, 'guest accesses see address space 0');
    assert.equal(vm.memslotForGpa(0x30000, 1)?.id, 5);
  });
});

describe('KVM_SET_USER_MEMORY_REGION: steps 5-7, alignment and the user address range', () => {
  it('step 5: memory_size must be a multiple of 4096', () => {
    const { set } = newVm();
    for (const size of [1, 4095, 4097, 2 * P + 512]) {
      expectErrno(set(region({ slot: 0, size })), 'EINVAL');
    }
  });

  it('step 6: guest_phys_addr must be page aligned', () => {
    const { set } = newVm();
    for (const gpa of [1, 0x800, 0x1000 + 8]) {
      expectErrno(set(region({ slot: 0, gpa, size: P })), 'EINVAL');
    }
  });

  it('step 7: userspace_addr must be page aligned', () => {
    const { set } = newVm();
    expectErrno(set(region({ slot: 0, size: P, hva: HVA + 0x10 })), 'EINVAL');
    expectErrno(set(region({ slot: 0, size: P, hva: HVA + 0x800 })), 'EINVAL');
  });

  it('step 7: hva + size may end exactly at 0x7ffffffff000 but not one page beyond', () => {
    const { set } = newVm();
    expectErrno(set(region({ slot: 0, size: 2 * P, hva: TASK_SIZE_MAX - P })), 'EINVAL');
    expectErrno(set(region({ slot: 0, size: P, hva: TASK_SIZE_MAX })), 'EINVAL');
    expectErrno(set(region({ slot: 0, size: P, hva: 1n << 63n })), 'EINVAL');
    assert.equal(set(region({ slot: 0, size: 2 * P, hva: TASK_SIZE_MAX - 2 * P })), 'create');
  });

  it('step 7: an hva range that wraps 2^64 is EINVAL', () => {
    const { set } = newVm();
    expectErrno(set(region({ slot: 0, size: 2 * P, hva: U64 - BigInt(P) })), 'EINVAL');
  });

  it('step 7: whether the hva is mapped is not checked (an empty address space is fine)', () => {
    const { host, set } = newVm();
    assert.deepEqual(host.describe(HVA), { state: 'unmapped' });
    assert.equal(set(region({ slot: 0, size: 16 * P, hva: HVA })), 'create');
  });
});

describe('KVM_SET_USER_MEMORY_REGION: steps 10-11, wrap and size limit', () => {
  it('step 10: guest_phys_addr + memory_size wrapping 2^64 is EINVAL', () => {
    const { set } = newVm();
    expectErrno(set(region({ slot: 0, gpa: U64 - BigInt(P), size: 2 * P })), 'EINVAL');
    expectErrno(set(region({ slot: 0, gpa: U64 - BigInt(P), size: P })), 'EINVAL');
  });

  it('step 10 comes before the overlap check: a wrapping request over an existing slot is EINVAL, not EEXIST', () => {
    // With a (fictional) 64-bit MAXPHYADDR a slot can sit just below 2^64, so only step 10 can refuse.
    const { set } = newVm({ maxPhysBits: 64 });
    const top = U64 - 2n * BigInt(P);
    assert.equal(set(region({ slot: 0, gpa: top, size: P })), 'create');
    expectErrno(set(region({ slot: 1, gpa: top, size: 3 * P })), 'EINVAL');
    // Without wrapping, the same overlap is EEXIST.
    expectErrno(set(region({ slot: 1, gpa: top - BigInt(P), size: 2 * P })), 'EEXIST');
  });

  it('step 11: 2^31 pages is EINVAL, 2^31 - 1 pages (KVM_MEM_MAX_NR_PAGES) is accepted', () => {
    const { vm, set } = newVm();
    expectErrno(set(region({ slot: 0, gpa: 0, size: 2 ** 31 * P, hva: 0x1000 })), 'EINVAL');
    const max = (2 ** 31 - 1) * P;
    assert.equal(set(region({ slot: 0, gpa: 0, size: max, hva: 0x1000 })), 'create');
    assert.equal(vm.spaces[0]!.get(0)?.npages, 2 ** 31 - 1);
    assert.equal(vm.memslotForGpa(max - 1)?.id, 0);
    assert.equal(vm.memslotForGpa(max), undefined);
  });
});

describe('KVM_SET_USER_MEMORY_REGION: step 12, delete', () => {
  it('deletes an existing slot; its GPAs then have no slot', () => {
    const { vm, set } = withSlot0();
    assert.equal(set(del(0)), 'delete');
    assert.equal(vm.memslotForGpa(0x10000), undefined);
    assert.equal(vm.spaces[0]!.size, 0);
  });

  it('deleting a slot that does not exist is EINVAL, and so is deleting twice', () => {
    const { set } = withSlot0();
    expectErrno(set(del(1)), 'EINVAL');
    assert.equal(set(del(0)), 'delete');
    expectErrno(set(del(0)), 'EINVAL');
  });

  it('a delete ignores gpa, hva and valid flags as long as they pass the earlier checks', () => {
    const { set } = withSlot0(LOG);
    assert.equal(set(del(0, { gpa: 0x9990000, hva: 0x5000, flags: RO })), 'delete');
  });

  it('a delete with flags 8 or gpa 1 is EINVAL (checks 4-10 still apply) and the slot survives', () => {
    const { vm, set } = withSlot0();
    expectErrno(set(del(0, { flags: 8 })), 'EINVAL');
    expectErrno(set(del(0, { gpa: 1 })), 'EINVAL');
    expectErrno(set(del(0, { hva: HVA + 1 })), 'EINVAL');
    assert.equal(vm.memslotForGpa(0x10000)?.id, 0);
  });
});

describe('KVM_SET_USER_MEMORY_REGION: step 14, modifying an existing slot', () => {
  it('an identical re-set changes nothing and returns "none"', () => {
    const { vm, req, set } = withSlot0(LOG);
    const before = vm.spaces[0]!.get(0);
    assert.equal(set(req), 'none');
    assert.equal(vm.spaces[0]!.get(0), before);
  });

  it('a different hva is EINVAL', () => {
    const { req, set } = withSlot0();
    expectErrno(set({ ...req, userspaceAddr: BigInt(HVA + P) }), 'EINVAL');
  });

  it('a different size is EINVAL (a slot cannot grow or shrink)', () => {
    const { vm, req, set } = withSlot0();
    expectErrno(set({ ...req, memorySize: BigInt(8 * P) }), 'EINVAL');
    expectErrno(set({ ...req, memorySize: BigInt(P) }), 'EINVAL');
    assert.equal(vm.spaces[0]!.get(0)?.npages, 4);
  });

  it('toggling READONLY is EINVAL in both directions', () => {
    const a = withSlot0();
    expectErrno(a.set({ ...a.req, flags: RO }), 'EINVAL');
    const b = withSlot0(RO);
    expectErrno(b.set({ ...b.req, flags: 0 }), 'EINVAL');
    assert.equal(b.vm.spaces[0]!.get(0)?.flags, RO);
  });

  it('toggling LOG_DIRTY_PAGES is a flags-only change', () => {
    const { vm, req, set } = withSlot0();
    assert.equal(set({ ...req, flags: LOG }), 'flags-only');
    assert.equal(vm.spaces[0]!.get(0)?.flags, LOG);
    assert.ok(vm.spaces[0]!.get(0)?.dirtyBitmap);
    assert.equal(set({ ...req, flags: 0 }), 'flags-only');
    assert.equal(vm.spaces[0]!.get(0)?.dirtyBitmap, undefined);
  });

  it('a new gpa with the same hva and size moves the slot', () => {
    const { vm, req, set } = withSlot0();
    assert.equal(set({ ...req, guestPhysAddr: 0x40000n }), 'move');
    assert.equal(vm.memslotForGpa(0x10000), undefined);
    assert.equal(vm.memslotForGpa(0x40000)?.id, 0);
    assert.equal(vm.memslotForGpa(0x43fff)?.id, 0);
    assert.equal(vm.memslotForGpa(0x44000), undefined);
  });

  it('a READONLY slot can be moved while keeping READONLY', () => {
    const { vm, req, set } = withSlot0(RO);
    assert.equal(set({ ...req, guestPhysAddr: 0x80000n }), 'move');
    assert.equal(vm.memslotForGpa(0x80000)?.flags, RO);
  });

  it('a move may also toggle LOG_DIRTY_PAGES', () => {
    const { req, kvm, set } = withSlot0();
    assert.equal(set({ ...req, guestPhysAddr: 0x80000n, flags: LOG }), 'move');
    assert.equal(kvm.allocator.inUse(), 2 * dirtyBitmapBytes(4));
  });
});

describe('KVM_SET_USER_MEMORY_REGION: step 15, overlaps (EEXIST)', () => {
  // Slot 0 covers gfns 0x10..0x13.
  const overlapping: Array<[string, number, number]> = [
    ['same range', 0x10000, 4],
    ['starting inside', 0x13000, 4],
    ['ending inside', 0xe000, 3],
    ['containing it', 0x8000, 32],
    ['contained in it', 0x11000, 1],
  ];
  for (const [name, gpa, pages] of overlapping) {
    it(`creating a slot ${name} another slot is EEXIST`, () => {
      const { vm, set } = withSlot0();
      expectErrno(set(region({ slot: 1, gpa, size: pages * P, hva: HVA })), 'EEXIST');
      assert.equal(vm.spaces[0]!.get(1), undefined);
    });
  }

  it('slots that only touch (end == start) do not overlap', () => {
    const { vm, set } = withSlot0();
    assert.equal(set(region({ slot: 1, gpa: 0xc000, size: 4 * P })), 'create');
    assert.equal(set(region({ slot: 2, gpa: 0x14000, size: P })), 'create');
    assert.equal(vm.memslotForGpa(0xffff)?.id, 1);
    assert.equal(vm.memslotForGpa(0x10000)?.id, 0);
    assert.equal(vm.memslotForGpa(0x14000)?.id, 2);
  });

  it('two slots may share the same hva (aliasing is allowed)', () => {
    const { set } = withSlot0();
    assert.equal(set(region({ slot: 1, gpa: 0x100000, size: 4 * P, hva: HVA })), 'create');
  });

  it('moving a slot onto another slot is EEXIST and leaves it where it was', () => {
    const { vm, req, set } = withSlot0();
    assert.equal(set(region({ slot: 1, gpa: 0x40000, size: P, hva: HVA + 0x100000 })), 'create');
    expectErrno(set({ ...req, guestPhysAddr: 0x3e000n }), 'EEXIST');
    assert.equal(vm.memslotForGpa(0x10000)?.id, 0);
  });

  it('moving a slot so that it overlaps its own old range is fine', () => {
    const { vm, req, set } = withSlot0();
    assert.equal(set({ ...req, guestPhysAddr: 0x12000n }), 'move');
    assert.equal(vm.memslotForGpa(0x11000), undefined);
    assert.equal(vm.memslotForGpa(0x12000)?.id, 0);
    assert.equal(vm.memslotForGpa(0x15fff)?.id, 0);
    assert.equal(set({ ...req, guestPhysAddr: 0x11000n }), 'move');
    assert.equal(vm.memslotForGpa(0x11000)?.baseGfn, 0x11);
  });
});

describe('KVM_SET_USER_MEMORY_REGION: the order consequences (first failing check wins)', () => {
  it('overlap + misaligned hva is EINVAL (step 7 before step 15)', () => {
    const { set } = withSlot0();
    expectErrno(set(region({ slot: 1, gpa: 0x10000, size: P, hva: HVA + 1 })), 'EINVAL');
  });

  it('overlap + hva beyond the user address space is EINVAL (step 7 before step 15)', () => {
    const { set } = withSlot0();
    expectErrno(set(region({ slot: 1, gpa: 0x10000, size: P, hva: TASK_SIZE_MAX })), 'EINVAL');
  });

  it('moving onto another slot with a changed hva is EINVAL (step 14 before step 15)', () => {
    const { req, set } = withSlot0();
    assert.equal(set(region({ slot: 1, gpa: 0x40000, size: P, hva: HVA + 0x100000 })), 'create');
    expectErrno(set({ ...req, guestPhysAddr: 0x40000n, userspaceAddr: BigInt(HVA + P) }), 'EINVAL');
  });

  it('an overlapping slot beyond the max gfn is EEXIST (step 15 before step 18)', () => {
    const { set } = newVm();
    const lastPage = 2 ** 48 - P;
    assert.equal(set(region({ slot: 0, gpa: lastPage, size: P })), 'create');
    expectErrno(set(region({ slot: 1, gpa: lastPage, size: 2 * P })), 'EEXIST');
  });

  it('an overlapping dirty-logging slot with no memory left is EEXIST, not ENOMEM', () => {
    const { set } = withSlot0(0, { allocator: new HostAllocator({ budget: 0 }) });
    expectErrno(set(region({ slot: 1, gpa: 0x10000, size: P, flags: LOG })), 'EEXIST');
  });

  it('toggling READONLY on a dirty-logging slot with no memory left is EINVAL, not ENOMEM', () => {
    const allocator = new HostAllocator();
    const { req, set } = withSlot0(LOG, { allocator });
    allocator.budget = 0;
    expectErrno(set({ ...req, flags: LOG | RO }), 'EINVAL');
  });
});

describe('KVM_SET_USER_MEMORY_REGION: step 18, the MMU max gfn (MAXPHYADDR 48 by default)', () => {
  it('a slot ending exactly at 2^48 is fine; one ending a page above is EINVAL', () => {
    const { set } = newVm();
    expectErrno(set(region({ slot: 1, gpa: 2 ** 48 - P, size: 2 * P })), 'EINVAL');
    expectErrno(set(region({ slot: 1, gpa: 2 ** 48, size: P })), 'EINVAL');
    assert.equal(set(region({ slot: 0, gpa: 2 ** 48 - 2 * P, size: 2 * P })), 'create');
  });

  it('moving a slot beyond the max gfn is EINVAL', () => {
    const { vm, req, set } = withSlot0();
    expectErrno(set({ ...req, guestPhysAddr: BigInt(2 ** 48) }), 'EINVAL');
    assert.equal(vm.memslotForGpa(0x10000)?.id, 0);
  });

  it('follows the host MAXPHYADDR: with 52 bits, 2^48 is fine and 2^52 is EINVAL', () => {
    const { set } = newVm({ maxPhysBits: 52 });
    assert.equal(set(region({ slot: 0, gpa: 2 ** 48, size: P })), 'create');
    expectErrno(set(region({ slot: 1, gpa: 2 ** 52, size: P })), 'EINVAL');
  });

  it('v5.17 has no such check (kvm_arch_prepare_memory_region gained it later): a slot past MAXPHYADDR is accepted', () => {
    const { set } = newVm({ core: KVM_CORE_5_17 });
    assert.equal(set(region({ slot: 0, gpa: 2 ** 48, size: P })), 'create');
    assert.equal(set(region({ slot: 1, gpa: 2 ** 52, size: P })), 'create');
    const current = newVm({ core: KVM_CORE_CURRENT });
    expectErrno(current.set(region({ slot: 0, gpa: 2 ** 48, size: P })), 'EINVAL');
  });

  it('a dirty-logging slot beyond the max gfn whose bitmap allocation fails is ENOMEM (the bitmap is allocated first)', {}, () => {
    const { set } = newVm({ allocator: new HostAllocator({ budget: 0 }) });
    expectErrno(set(region({ slot: 0, gpa: 2 ** 48, size: P, flags: LOG })), 'ENOMEM');
  });
});

describe('KVM_SET_USER_MEMORY_REGION: dirty bitmaps and ENOMEM', () => {
  it('a dirty-logging slot charges two bitmap halves of whole u64 words', () => {
    const { kvm, set } = newVm();
    assert.equal(set(region({ slot: 0, gpa: 0, size: P, flags: LOG })), 'create');
    assert.equal(kvm.allocator.inUse(), 2 * 8);
    assert.equal(set(region({ slot: 1, gpa: 0x100000, size: 65 * P, flags: LOG })), 'create');
    assert.equal(kvm.allocator.inUse(), 2 * 8 + 2 * 16);
    assert.equal(set(region({ slot: 2, gpa: 0x200000, size: 64 * P })), 'create');
    assert.equal(kvm.allocator.inUse(), 48, 'a slot without LOG_DIRTY_PAGES charges nothing');
    assert.deepEqual(kvm.allocator.live(), new Map([['dirty-bitmap', { count: 2, bytes: 48 }]]));
  });

  it('creating a dirty-logging slot with an allocator budget of 0 is ENOMEM and creates nothing', () => {
    const allocator = new HostAllocator({ budget: 0 });
    const { vm, set } = newVm({ allocator });
    expectErrno(set(region({ slot: 0, size: P, flags: LOG })), 'ENOMEM');
    assert.equal(vm.memslotForGpa(0), undefined);
    assert.equal(allocator.liveCount(), 0);
    assert.equal(set(region({ slot: 0, size: P })), 'create', 'no bitmap, no allocation');
  });

  it('enabling logging when the allocation fails (failNth) is ENOMEM and the slot keeps its flags', () => {
    const allocator = new HostAllocator();
    const { vm, req, set } = withSlot0(0, { allocator });
    allocator.setFaults({ failNth: 1 });
    expectErrno(set({ ...req, flags: LOG }), 'ENOMEM');
    assert.equal(vm.spaces[0]!.get(0)?.flags, 0);
    assert.equal(vm.spaces[0]!.get(0)?.dirtyBitmap, undefined);
    assert.equal(set({ ...req, flags: LOG }), 'flags-only', 'the second attempt succeeds');
  });

  it('moving a dirty-logging slot reuses its bitmap: no allocation, so it works with no memory left', () => {
    const allocator = new HostAllocator();
    const { vm, req, set } = withSlot0(LOG, { allocator });
    const bitmap = vm.spaces[0]!.get(0)?.dirtyBitmap;
    allocator.budget = 0;
    assert.equal(set({ ...req, guestPhysAddr: 0x80000n }), 'move');
    assert.equal(vm.spaces[0]!.get(0)?.dirtyBitmap, bitmap);
    assert.equal(allocator.stats.allocs, 1);
    assert.equal(set({ ...req, guestPhysAddr: 0x80000n }), 'none');
  });

  it('the bitmap is freed when the slot is deleted', () => {
    const { req, kvm, set } = withSlot0(LOG);
    assert.equal(kvm.allocator.inUse(), 16);
    assert.equal(set({ ...req, memorySize: 0n }), 'delete');
    assert.equal(kvm.allocator.inUse(), 0);
    assert.equal(kvm.allocator.liveCount(), 0);
  });

  it('the bitmap is freed when logging is disabled', () => {
    const { req, kvm, set } = withSlot0(LOG);
    assert.equal(set({ ...req, flags: 0 }), 'flags-only');
    assert.equal(kvm.allocator.inUse(), 0);
    assert.equal(kvm.allocator.stats.frees, 1);
  });

  it('vm.destroy() (a dead VM) frees every bitmap and later calls fail with EIO', () => {
    const { vm, kvm, set } = newVm();
    for (let i = 0; i < 5; i++) {
      assert.equal(
        set(region({ slot: i, gpa: i * 0x1000000, size: (i + 1) * 100 * P, flags: i % 2 ? LOG : 0 })),
        'create',
      );
    }
    // Slots 1 and 3 log dirty pages (200 and 400 pages): two bitmaps, each of two halves.
    assert.deepEqual(
      kvm.allocator.live(),
      new Map([['dirty-bitmap', { count: 2, bytes: 2 * (dirtyBitmapBytes(200) + dirtyBitmapBytes(400)) }]]),
    );
    vm.destroy();
    assert.equal(kvm.allocator.inUse(), 0);
    assert.equal(kvm.allocator.liveCount(), 0);
    expectErrno(set(region({ slot: 7, size: P })), 'EIO');
    vm.destroy(); // idempotent: no double free
    assert.equal(kvm.allocator.stats.frees, 2);
  });

  it('close(2) of the VM fd frees every bitmap; the closed fd is EBADF', () => {
    const { vmFd, kvm, set } = newVm();
    assert.equal(set(region({ slot: 0, gpa: 0, size: 64 * P, flags: LOG })), 'create');
    assert.equal(kvm.allocator.inUse(), 16);
    vmFd.close();
    assert.equal(kvm.allocator.inUse(), 0);
    expectErrno(set(region({ slot: 1, gpa: 0x100000, size: P })), 'EBADF');
    expectErrno(vmFd.getDirtyLog(0), 'EBADF');
    vmFd.close(); // a second close changes nothing
    assert.equal(kvm.allocator.stats.frees, 1);
  });
});

describe('KVM_SET_USER_MEMORY_REGION: capacity', () => {
  it('all 32764 user slots can exist at once, and each GPA finds its own slot', () => {
    const { vm, set } = newVm();
    for (let id = 0; id < KVM_USER_MEM_SLOTS; id++) {
      // Every other gfn, in a scattered order of ids, so the set must really sort.
      const gfn = ((id * 7919) % KVM_USER_MEM_SLOTS) * 2;
      assert.equal(set(region({ slot: id, gpa: gfn * P, size: P, hva: HVA + id * P })), 'create');
    }
    assert.equal(vm.spaces[0]!.size, KVM_USER_MEM_SLOTS);
    for (const id of [0, 1, 12345, KVM_USER_MEM_SLOTS - 1]) {
      const gfn = ((id * 7919) % KVM_USER_MEM_SLOTS) * 2;
      assert.equal(vm.memslotForGpa(gfn * P + 17)?.id, id);
      assert.equal(vm.memslotForGpa((gfn + 1) * P), undefined, 'the gap after each slot has no slot');
    }
    expectErrno(set(region({ slot: KVM_USER_MEM_SLOTS, size: P })), 'EINVAL');
  });
});
