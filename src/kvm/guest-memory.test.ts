/**
 * Guest memory as KVM reaches it from the host side (kvm_read_guest / kvm_write_guest through
 * vm.readGuest / vm.writeGuest): memslot → hva → host address space, with EFAULT faults that say
 * where (the first GPA that failed) and why; and the dirty log those writes feed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NPT_FAULT, NPT_MMIO, NPT_OK } from '../cpu/backend.js';
import { PROT_NONE, PROT_READ } from '../host/address-space.js';
import { HostFile } from '../host/file-store.js';
import { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY } from '../uapi/memslot.js';
import type { KvmOptions } from './kvm.js';
import { KVM_CORE_CURRENT } from './profile.js';
import { del, expectErrno, HVA, hostBytes, newVm, ok, P, region } from './test-util.js';
import { GuestPageCache } from './vm.js';

const LOG = KVM_MEM_LOG_DIRTY_PAGES;

function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (seed + i * 13) & 0xff;
  return out;
}

/** A VM whose slot 0 maps `pages` pages at GPA `gpa` to anonymous memory at HVA. */
function oneSlot(pages: number, gpa = 0x100000, flags = 0, opts: KvmOptions = {}) {
  const env = newVm(opts);
  env.host.mapAnonymous(HVA, pages * P);
  ok(env.vmFd.setUserMemoryRegion(region({ slot: 0, gpa, size: pages * P, hva: HVA, flags })));
  return { ...env, gpa };
}

describe('vm.readGuest / vm.writeGuest: the happy path', () => {
  it('a write lands in the host memory behind the slot and reads back, across page boundaries', () => {
    const { vm, host, gpa } = oneSlot(4);
    const data = pattern(2 * P + 100);
    assert.equal(vm.writeGuest(gpa + P - 50, data), undefined);
    assert.deepEqual(hostBytes(host, HVA + P - 50, data.length), data);
    const back = new Uint8Array(data.length);
    assert.equal(vm.readGuest(gpa + P - 50, back), undefined);
    assert.deepEqual(back, data);
  });

  it('an access spanning two adjacent slots goes to each slot’s own hva', () => {
    const { vm, vmFd, host } = newVm();
    const hvaB = HVA + 0x10_0000;
    host.mapAnonymous(HVA, 2 * P);
    host.mapAnonymous(hvaB, 2 * P);
    ok(vmFd.setUserMemoryRegion(region({ slot: 0, gpa: 0, size: 2 * P, hva: HVA })));
    ok(vmFd.setUserMemoryRegion(region({ slot: 1, gpa: 2 * P, size: 2 * P, hva: hvaB })));
    const data = pattern(16);
    assert.equal(vm.writeGuest(2 * P - 8, data), undefined);
    assert.deepEqual(hostBytes(host, HVA + 2 * P - 8, 8), data.subarray(0, 8));
    assert.deepEqual(hostBytes(host, hvaB, 8), data.subarray(8));
    const back = new Uint8Array(16);
    assert.equal(vm.readGuest(2 * P - 8, back), undefined);
    assert.deepEqual(back, data);
  });

  it('a READONLY slot can be read', () => {
    const { vm, host, gpa } = oneSlot(1, 0x100000, KVM_MEM_READONLY);
    host.write(HVA + 10, Uint8Array.of(1, 2, 3));
    const back = new Uint8Array(3);
    assert.equal(vm.readGuest(gpa + 10, back), undefined);
    assert.deepEqual(back, Uint8Array.of(1, 2, 3));
  });
});

describe('vm.readGuest / vm.writeGuest: EFAULT with the exact first bad GPA and its cause', () => {
  it('no slot: the first GPA past the slot’s end, and the bytes before it are written', () => {
    const { vm, host, gpa } = oneSlot(2);
    const end = gpa + 2 * P;
    const f = vm.writeGuest(end - 4, pattern(8));
    assert.deepEqual(
      { errno: f?.errno, cause: f?.cause, gpa: f?.gpa, slot: f?.slot },
      {
        errno: 'EFAULT',
        cause: 'no-slot',
        gpa: end,
        slot: undefined,
      },
    );
    assert.deepEqual(hostBytes(host, HVA + 2 * P - 4, 4), pattern(8).subarray(0, 4));
    const r = vm.readGuest(end - 4, new Uint8Array(8));
    assert.equal(r?.cause, 'no-slot');
    assert.equal(r?.gpa, end);
  });

  it('no slot at all: the fault is at the GPA asked for', () => {
    const { vm } = newVm();
    const f = vm.readGuest(0xfee0_0010, new Uint8Array(4));
    assert.equal(f?.errno, 'EFAULT');
    assert.equal(f?.cause, 'no-slot');
    assert.equal(f?.gpa, 0xfee0_0010);
  });

  it('a hole between two slots faults at the hole’s first byte', () => {
    const { vm, vmFd, host } = newVm();
    host.mapAnonymous(HVA, 8 * P);
    ok(vmFd.setUserMemoryRegion(region({ slot: 0, gpa: 0, size: P, hva: HVA })));
    ok(vmFd.setUserMemoryRegion(region({ slot: 1, gpa: 2 * P, size: P, hva: HVA + 2 * P })));
    const f = vm.readGuest(100, new Uint8Array(3 * P));
    assert.equal(f?.cause, 'no-slot');
    assert.equal(f?.gpa, P);
  });

  it('unmapped hva: cause "unmapped" at the first unmapped page, with its slot and hva', () => {
    const { vm, host, gpa } = oneSlot(3);
    host.unmap(HVA + 2 * P, P);
    const f = vm.readGuest(gpa + 100, new Uint8Array(3 * P - 100));
    assert.equal(f?.errno, 'EFAULT');
    assert.equal(f?.cause, 'unmapped');
    assert.equal(f?.gpa, gpa + 2 * P);
    assert.equal(f?.hva, HVA + 2 * P);
    assert.equal(f?.slot?.id, 0);
    const w = vm.writeGuest(gpa + 2 * P + 8, new Uint8Array(4));
    assert.equal(w?.cause, 'unmapped');
    assert.equal(w?.gpa, gpa + 2 * P + 8, 'an access starting inside the bad page faults at its start');
  });

  it('PROT_NONE hva: cause "protection" for reads and writes', () => {
    const { vm, host, gpa } = oneSlot(2);
    host.protect(HVA + P, P, PROT_NONE);
    const r = vm.readGuest(gpa, new Uint8Array(2 * P));
    assert.equal(r?.cause, 'protection');
    assert.equal(r?.gpa, gpa + P);
    const w = vm.writeGuest(gpa + P + 1, new Uint8Array(1));
    assert.equal(w?.cause, 'protection');
    assert.equal(w?.gpa, gpa + P + 1);
  });

  it('PROT_READ hva: reads work, writes fault with "protection"', () => {
    const { vm, host, gpa } = oneSlot(1);
    host.protect(HVA, P, PROT_READ);
    assert.equal(vm.readGuest(gpa, new Uint8Array(8)), undefined);
    const w = vm.writeGuest(gpa + 8, new Uint8Array(8));
    assert.equal(w?.cause, 'protection');
    assert.equal(w?.gpa, gpa + 8);
  });

  it('userfault-registered hva not yet populated: cause "missing" until the VMM populates it', () => {
    const { vm, vmFd, host } = newVm();
    const gpa = 0x200000;
    host.mapMissing(HVA, 3 * P);
    ok(vmFd.setUserMemoryRegion(region({ slot: 0, gpa, size: 3 * P, hva: HVA })));
    host.populate(HVA, pattern(P));
    const r = vm.readGuest(gpa + P - 4, new Uint8Array(8));
    assert.equal(r?.cause, 'missing');
    assert.equal(r?.gpa, gpa + P);
    const w = vm.writeGuest(gpa + 2 * P, new Uint8Array(1));
    assert.equal(w?.cause, 'missing');
    assert.equal(w?.gpa, gpa + 2 * P);
    host.populateZero(HVA + P, 2 * P);
    const back = new Uint8Array(8);
    assert.equal(vm.readGuest(gpa + P - 4, back), undefined);
    assert.deepEqual(back.subarray(0, 4), pattern(P).subarray(P - 4));
  });

  it('file-backed hva after the file is truncated: cause "beyond-eof" from the first page past EOF', () => {
    const { vm, vmFd, host } = newVm();
    const file = new HostFile('dax', 3 * P);
    const gpa = 0x300000;
    host.mapFile(HVA, 3 * P, file, 0);
    ok(vmFd.setUserMemoryRegion(region({ slot: 0, gpa, size: 3 * P, hva: HVA })));
    assert.equal(vm.writeGuest(gpa, pattern(3 * P)), undefined);
    file.truncate(P + 100); // the second page is partly inside the file, the third wholly beyond
    const r = vm.readGuest(gpa + 10, new Uint8Array(3 * P - 10));
    assert.equal(r?.cause, 'beyond-eof');
    assert.equal(r?.gpa, gpa + 2 * P);
    const w = vm.writeGuest(gpa + 2 * P + 5, new Uint8Array(1));
    assert.equal(w?.cause, 'beyond-eof');
    assert.equal(w?.gpa, gpa + 2 * P + 5);
    const okBytes = new Uint8Array(100);
    assert.equal(vm.readGuest(gpa + P, okBytes), undefined);
    assert.deepEqual(okBytes, pattern(3 * P).subarray(P, P + 100));
  });

  it('a write to a READONLY slot faults with "readonly" and leaves host memory untouched', () => {
    const { vm, host, gpa } = oneSlot(1, 0x100000, KVM_MEM_READONLY);
    const f = vm.writeGuest(gpa + 16, Uint8Array.of(9, 9));
    assert.equal(f?.errno, 'EFAULT');
    assert.equal(f?.cause, 'readonly');
    assert.equal(f?.gpa, gpa + 16);
    assert.equal(f?.slot?.id, 0);
    assert.deepEqual(hostBytes(host, HVA + 16, 2), new Uint8Array(2));
  });

  it('a write running from a normal slot into a READONLY one faults at the READONLY slot’s start', () => {
    const { vm, vmFd, host } = newVm();
    host.mapAnonymous(HVA, 2 * P);
    ok(vmFd.setUserMemoryRegion(region({ slot: 0, gpa: 0, size: P, hva: HVA })));
    ok(vmFd.setUserMemoryRegion(region({ slot: 1, gpa: P, size: P, hva: HVA + P, flags: KVM_MEM_READONLY })));
    const f = vm.writeGuest(P - 2, pattern(4));
    assert.equal(f?.cause, 'readonly');
    assert.equal(f?.gpa, P);
    assert.deepEqual(hostBytes(host, HVA + P - 2, 4), Uint8Array.of(...pattern(4).subarray(0, 2), 0, 0));
  });
});

/** Bits set in a dirty bitmap, as page numbers. */
function dirtyPages(bitmap: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < bitmap.length * 8; i++) if (bitmap[i >>> 3]! & (1 << (i & 7))) out.push(i);
  return out;
}

describe('dirty logging (KVM_GET_DIRTY_LOG / KVM_CLEAR_DIRTY_LOG)', () => {
  it('writeGuest marks exactly the pages written; getDirtyLog returns them and then clears', () => {
    const { vm, vmFd, gpa } = oneSlot(130, 0x100000, LOG);
    vm.writeGuest(gpa + 3 * P + 100, new Uint8Array(1));
    vm.writeGuest(gpa + 63 * P + P - 1, new Uint8Array(2)); // pages 63 and 64
    vm.writeGuest(gpa + 129 * P, new Uint8Array(P)); // the last page, exactly
    vm.readGuest(gpa + 10 * P, new Uint8Array(P)); // reads dirty nothing
    const log = ok(vmFd.getDirtyLog(0));
    assert.equal(log.length, 24, 'three u64 words for 130 pages');
    assert.deepEqual(dirtyPages(log), [3, 63, 64, 129]);
    assert.deepEqual(dirtyPages(ok(vmFd.getDirtyLog(0))), [], 'the log was cleared by the first read');
    vm.writeGuest(gpa, new Uint8Array(1));
    assert.deepEqual(dirtyPages(ok(vmFd.getDirtyLog(0))), [0]);
  });

  it('a write that faults part-way marks only the pages actually written', () => {
    const { vm, vmFd, host, gpa } = oneSlot(4, 0x100000, LOG);
    host.unmap(HVA + 2 * P, P);
    const f = vm.writeGuest(gpa + P, new Uint8Array(3 * P));
    assert.equal(f?.gpa, gpa + 2 * P);
    assert.deepEqual(dirtyPages(ok(vmFd.getDirtyLog(0))), [1]);
  });

  it('a failed write to a READONLY logging slot marks nothing', () => {
    const { vm, vmFd, gpa } = oneSlot(2, 0x100000, LOG | KVM_MEM_READONLY);
    assert.equal(vm.writeGuest(gpa, new Uint8Array(4))?.cause, 'readonly');
    assert.deepEqual(dirtyPages(ok(vmFd.getDirtyLog(0))), []);
  });

  it('clearDirtyLog clears only the bits given in the mask', () => {
    const { vm, vmFd, gpa } = oneSlot(130, 0x100000, LOG);
    for (const page of [1, 2, 5, 64, 65, 129]) vm.writeGuest(gpa + page * P, new Uint8Array(1));
    // Pages 64..129: clear 64 (bit 0) and 129 (bit 65).
    const mask = new Uint8Array(16);
    mask[0] = 0b1;
    mask[8] = 0b10;
    ok(vmFd.clearDirtyLog({ slot: 0, firstPage: 64, numPages: 66, bitmap: mask }));
    assert.deepEqual(dirtyPages(ok(vmFd.getDirtyLog(0))), [1, 2, 5, 65]);
  });

  it('clearDirtyLog: first_page not a multiple of 64, or a range past the slot, is EINVAL', () => {
    const { vmFd } = oneSlot(130, 0x100000, LOG);
    expectErrno(
      vmFd.clearDirtyLog({ slot: 0, firstPage: 1, numPages: 1, bitmap: new Uint8Array(8) }),
      'EINVAL',
    );
    expectErrno(
      vmFd.clearDirtyLog({ slot: 0, firstPage: 128, numPages: 3, bitmap: new Uint8Array(8) }),
      'EINVAL',
    );
    expectErrno(
      vmFd.clearDirtyLog({ slot: 0, firstPage: 192, numPages: 1, bitmap: new Uint8Array(8) }),
      'EINVAL',
    );
  });

  it('a slot without LOG_DIRTY_PAGES, or no slot at all, is ENOENT', () => {
    const { vmFd } = oneSlot(4);
    expectErrno(vmFd.getDirtyLog(0), 'ENOENT');
    expectErrno(vmFd.getDirtyLog(5), 'ENOENT');
    expectErrno(
      vmFd.clearDirtyLog({ slot: 0, firstPage: 0, numPages: 4, bitmap: new Uint8Array(8) }),
      'ENOENT',
    );
  });

  it('a slot id beyond the user slots or in address space 1 is EINVAL without SMM', () => {
    const { vmFd } = oneSlot(4, 0x100000, LOG, { core: { ...KVM_CORE_CURRENT, smm: false } });
    expectErrno(vmFd.getDirtyLog(32764), 'EINVAL');
    expectErrno(vmFd.getDirtyLog(1 << 16), 'EINVAL');
  });

  it('with SMM (two address spaces), slot 0 of address space 1 has no log (ENOENT); address space 2 is EINVAL', () => {
    const { vmFd } = oneSlot(4, 0x100000, LOG);
    expectErrno(vmFd.getDirtyLog(32764), 'EINVAL');
    expectErrno(vmFd.getDirtyLog(1 << 16), 'ENOENT');
    expectErrno(vmFd.getDirtyLog(2 << 16), 'EINVAL');
  });

  it('logging enabled later starts clean; disabling it makes the log ENOENT', () => {
    const { vm, vmFd, gpa } = oneSlot(4);
    const req = region({ slot: 0, gpa, size: 4 * P, hva: HVA });
    vm.writeGuest(gpa, new Uint8Array(1));
    ok(vmFd.setUserMemoryRegion({ ...req, flags: LOG }));
    assert.deepEqual(dirtyPages(ok(vmFd.getDirtyLog(0))), []);
    vm.writeGuest(gpa + P, new Uint8Array(1));
    ok(vmFd.setUserMemoryRegion({ ...req, flags: 0 }));
    expectErrno(vmFd.getDirtyLog(0), 'ENOENT');
  });

  it('clearDirtyLog checks first_page alignment before looking the slot up (EINVAL, not ENOENT)', {}, () => {
    const { vmFd } = oneSlot(4);
    expectErrno(
      vmFd.clearDirtyLog({ slot: 0, firstPage: 1, numPages: 1, bitmap: new Uint8Array(8) }),
      'EINVAL',
    );
  });

  it('clearDirtyLog: num_pages not a multiple of 64 that stops short of the slot end is EINVAL', {}, () => {
    const { vmFd } = oneSlot(130, 0x100000, LOG);
    expectErrno(
      vmFd.clearDirtyLog({ slot: 0, firstPage: 0, numPages: 3, bitmap: new Uint8Array(8) }),
      'EINVAL',
    );
  });
});

describe('the nested page table caches translations, and drops them when memslots or host mappings change', () => {
  /** A VM with 4 pages of RAM at GPA 0 and its vCPU's nested page table. */
  function withNpt() {
    const env = oneSlot(4, 0);
    const vcpuFd = ok(env.vmFd.createVcpu(0));
    return { ...env, npt: vcpuFd.vcpu.npt };
  }
  const byte = (n: number) => Uint8Array.of(n);

  it('munmap: the next access faults "unmapped"; a new mapping at the same hva reads as zeros', () => {
    const { npt, host } = withNpt();
    assert.equal(npt.write(P + 8, byte(7)), NPT_OK);
    host.unmap(HVA + P, P);
    const b = new Uint8Array(1);
    assert.equal(npt.read(P + 8, b), NPT_FAULT);
    assert.equal(npt.lastFault?.cause, 'unmapped');
    assert.equal(npt.lastFault?.hva, HVA + P + 8);
    host.mapAnonymous(HVA + P, P);
    assert.equal(npt.read(P + 8, b), NPT_OK);
    assert.deepEqual(b, byte(0));
    assert.equal(npt.write(P + 8, byte(9)), NPT_OK);
    assert.deepEqual(hostBytes(host, HVA + P + 8, 1), byte(9));
  });

  it('mprotect: a page cached for writing faults "protection" on the next write, reads still work', () => {
    const { npt, host } = withNpt();
    assert.equal(npt.write(0, byte(5)), NPT_OK);
    host.protect(HVA, P, PROT_READ);
    assert.equal(npt.write(0, byte(6)), NPT_FAULT);
    assert.equal(npt.lastFault?.cause, 'protection');
    const b = new Uint8Array(1);
    assert.equal(npt.read(0, b), NPT_OK);
    assert.deepEqual(b, byte(5));
    host.protect(HVA, P, PROT_NONE);
    assert.equal(npt.read(0, b), NPT_FAULT);
  });

  it('a page cached for reading is resolved again for a write (and a read-only mapping faults it)', () => {
    const { npt, host } = withNpt();
    const one = new Uint8Array(1);
    assert.equal(npt.read(P, one), NPT_OK);
    assert.equal(npt.write(P, byte(8)), NPT_OK);
    assert.deepEqual(hostBytes(host, HVA + P, 1), byte(8));
    host.protect(HVA + 2 * P, P, PROT_READ);
    const b = new Uint8Array(8);
    assert.equal(npt.read(2 * P, b), NPT_OK);
    assert.equal(npt.write(2 * P, byte(1)), NPT_FAULT);
    assert.equal(npt.lastFault?.cause, 'protection');
  });

  it('ftruncate of a mapped file: pages past EOF fault "beyond-eof", and come back as zeros', () => {
    const { vmFd, host } = newVm();
    const file = new HostFile('ram', 2 * P);
    host.mapFile(HVA, 2 * P, file, 0);
    ok(vmFd.setUserMemoryRegion(region({ slot: 0, gpa: 0, size: 2 * P, hva: HVA })));
    const n = ok(vmFd.createVcpu(0)).vcpu.npt;
    assert.equal(n.write(P + 1, byte(3)), NPT_OK);
    file.truncate(P);
    const b = new Uint8Array(1);
    assert.equal(n.read(P + 1, b), NPT_FAULT);
    assert.equal(n.lastFault?.cause, 'beyond-eof');
    file.truncate(2 * P);
    assert.equal(n.read(P + 1, b), NPT_OK);
    assert.deepEqual(b, byte(0));
  });

  it('a userfault page populated after a fault is RAM on the next access', () => {
    const { vmFd, host } = newVm();
    host.mapMissing(HVA, P);
    ok(vmFd.setUserMemoryRegion(region({ slot: 0, gpa: 0, size: P, hva: HVA })));
    const n = ok(vmFd.createVcpu(0)).vcpu.npt;
    const b = new Uint8Array(1);
    assert.equal(n.read(5, b), NPT_FAULT);
    assert.equal(n.lastFault?.cause, 'missing');
    host.populate(HVA, new Uint8Array(P).fill(4));
    assert.equal(n.read(5, b), NPT_OK);
    assert.deepEqual(b, byte(4));
  });

  it('the CPU reaches memory as hardware does: host observers never hear of it; spa() is the host address', () => {
    const { npt, host, vmFd } = withNpt();
    host.mapAnonymous(HVA + 0x10_0000, P);
    ok(vmFd.setUserMemoryRegion(region({ slot: 1, gpa: 0x4000_0000, size: P, hva: HVA + 0x10_0000 })));
    const calls: number[] = [];
    host.observe({ beforeHostAccess: (hva) => calls.push(hva) });
    assert.equal(npt.write(P + 8, byte(7)), NPT_OK);
    assert.equal(npt.write(P - 2, Uint8Array.of(1, 2, 3, 4)), NPT_OK); // across pages
    const b = new Uint8Array(4);
    assert.equal(npt.read(P - 2, b), NPT_OK);
    assert.ok(npt.page(2 * P, true));
    assert.deepEqual(calls, []);
    assert.equal(npt.spa(2 * P + 0x123), HVA + 2 * P + 0x123, 'the page page() just mapped');
    assert.ok(npt.page(0x4000_0010, false));
    assert.equal(npt.spa(0x4000_0010), HVA + 0x10_0000 + 0x10);
    assert.equal(npt.spa(3 * P), HVA + 3 * P, 'outside the TLB: the memslot says');
    assert.throws(() => npt.spa(0x2000_0000), RangeError);
    // KVM's own accesses (kvm_read_guest) are host software.
    assert.equal(vmFd.vm.readGuest(P, b), undefined);
    assert.deepEqual(calls, [HVA + P]);
  });

  it('page() is the TLB: a view aliasing host memory, dirty on a write mapping, undefined where an access would not complete', () => {
    const { npt, host, vmFd } = withNpt();
    ok(vmFd.setUserMemoryRegion(region({ slot: 0, gpa: 0, size: 4 * P, hva: HVA, flags: LOG })));
    host.mapAnonymous(HVA + 4 * P, P);
    ok(
      vmFd.setUserMemoryRegion(
        region({ slot: 1, gpa: 4 * P, size: P, hva: HVA + 4 * P, flags: KVM_MEM_READONLY }),
      ),
    );
    const w = npt.page(P + 123, true);
    assert.ok(w);
    assert.equal(w.length, P);
    w[8] = 0x5a; // a guest store lands in the host page at once
    assert.deepEqual(hostBytes(host, HVA + P + 8, 1), byte(0x5a));
    assert.deepEqual(dirtyPages(ok(vmFd.getDirtyLog(0))), [1], 'a write mapping marks its page dirty');
    assert.ok(npt.page(0, false));
    assert.deepEqual(dirtyPages(ok(vmFd.getDirtyLog(0))), [], 'a read mapping does not');
    // A read-only slot maps for reading only; no slot, negative or unsafe GPAs map nothing.
    assert.ok(npt.page(4 * P, false));
    assert.equal(npt.page(4 * P, true), undefined);
    assert.equal(npt.page(8 * P, false), undefined);
    assert.equal(npt.page(-1, false), undefined);
    assert.equal(npt.page(2 ** 53, false), undefined);
    // A host page gone: nothing, with the fault the access would report.
    host.unmap(HVA + P, P);
    assert.equal(npt.page(P, false), undefined);
    assert.equal(npt.lastFault?.gpa, P);
    assert.equal(npt.lastFault?.cause, 'unmapped');
    // Mapped again: a fresh view of the new memory, not the stale one.
    host.mapAnonymous(HVA + P, P);
    const again = npt.page(P, false);
    assert.ok(again);
    assert.equal(again[8], 0);
  });

  it('deleting, moving or re-flagging a memslot takes effect on the next access', () => {
    const { npt, vmFd } = withNpt();
    const b = new Uint8Array(1);
    assert.equal(npt.write(P, byte(1)), NPT_OK);
    ok(vmFd.setUserMemoryRegion(region({ slot: 0, gpa: 0x10_0000, size: 4 * P, hva: HVA })));
    assert.equal(npt.read(P, b), NPT_MMIO);
    assert.equal(npt.read(0x10_0000 + P, b), NPT_OK);
    assert.deepEqual(b, byte(1));
    ok(vmFd.setUserMemoryRegion(region({ slot: 0, gpa: 0x10_0000, size: 4 * P, hva: HVA, flags: LOG })));
    assert.equal(npt.write(0x10_0000 + 3 * P, byte(2)), NPT_OK);
    assert.deepEqual(dirtyPages(ok(vmFd.getDirtyLog(0))), [3]);
    ok(vmFd.setUserMemoryRegion(del(0)));
    assert.equal(npt.read(0x10_0000 + P, b), NPT_MMIO);
  });
});

describe('GuestPageCache (gfn_to_pfn_cache): a guest page kept mapped across exits', () => {
  it('hands out the same mapping while nothing changes, and a fresh one (or none) after a change', () => {
    const { vm, host } = oneSlot(4, 0);
    const cache = new GuestPageCache(vm);
    const a = cache.map(1);
    assert.ok(a);
    assert.equal(cache.map(1), a);
    a.page[0] = 0x5a;
    assert.deepEqual(hostBytes(host, HVA + P, 1), Uint8Array.of(0x5a));
    host.unmap(HVA + P, P);
    assert.equal(cache.map(1), undefined);
    host.mapAnonymous(HVA + P, P);
    const b = cache.map(1);
    assert.ok(b && b !== a);
    assert.equal(b.page[0], 0);
    b.page[0] = 1;
    assert.deepEqual(hostBytes(host, HVA + P, 1), Uint8Array.of(1));
    host.protect(HVA + P, P, PROT_READ);
    assert.equal(cache.map(1), undefined, 'kvm_vcpu_map needs a writable page');
  });

  it('a memslot change drops it: a moved slot no longer maps the old gfn', () => {
    const { vm, vmFd } = oneSlot(4, 0);
    const cache = new GuestPageCache(vm);
    assert.ok(cache.map(2));
    ok(vmFd.setUserMemoryRegion(region({ slot: 0, gpa: 0x10_0000, size: 4 * P, hva: HVA })));
    assert.equal(cache.map(2), undefined);
    assert.equal(cache.map(0x100 + 2)?.gfn, 0x102);
  });
});
