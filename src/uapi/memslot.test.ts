import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SysError } from './kvm-error.js';
import {
  decodeUserspaceMemoryRegion,
  decodeUserspaceMemoryRegion2,
  encodeUserspaceMemoryRegion,
  encodeUserspaceMemoryRegion2,
  KVM_INTERNAL_MEM_SLOTS,
  KVM_MEM_GUEST_MEMFD,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_MAX_NR_PAGES,
  KVM_MEM_READONLY,
  KVM_MEM_SLOTS_NUM,
  KVM_USER_MEM_SLOTS,
  KVM_USERSPACE_MEMORY_REGION_SIZE,
  KVM_USERSPACE_MEMORY_REGION2_SIZE,
  slotAsId,
  slotId,
  type UserspaceMemoryRegion,
} from './memslot.js';

const MAX_U64 = 0xffff_ffff_ffff_ffffn;

const sample: UserspaceMemoryRegion = {
  slot: 0x0001_0005,
  flags: KVM_MEM_GUEST_MEMFD,
  guestPhysAddr: 0xffff_ffff_ffff_f000n,
  memorySize: 0x1_0000_0000n,
  userspaceAddr: 0x7f12_3456_7000n,
  guestMemfdOffset: MAX_U64 - 1n,
  guestMemfd: 0xffff_fffe,
};

function isEfault(e: unknown): boolean {
  return e instanceof SysError && e.code === 'EFAULT' && e.errno === 14;
}

const u64 = fc.bigInt({ min: 0n, max: MAX_U64 });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
// fc.record builds null-prototype objects; tests spread them into plain ones before deepEqual.
const region = fc.record({ slot: u32, flags: u32, guestPhysAddr: u64, memorySize: u64, userspaceAddr: u64 });

describe('memslot constants', () => {
  it('have the Linux values', () => {
    assert.equal(KVM_MEM_LOG_DIRTY_PAGES, 1);
    assert.equal(KVM_MEM_READONLY, 2);
    assert.equal(KVM_MEM_GUEST_MEMFD, 4);
    assert.equal(KVM_USER_MEM_SLOTS, 32764);
    assert.equal(KVM_MEM_SLOTS_NUM, 32767);
    assert.equal(KVM_INTERNAL_MEM_SLOTS, 3);
    assert.equal(KVM_MEM_SLOTS_NUM - KVM_INTERNAL_MEM_SLOTS, KVM_USER_MEM_SLOTS);
    assert.equal(KVM_MEM_MAX_NR_PAGES, 2147483647);
    assert.equal(KVM_USERSPACE_MEMORY_REGION_SIZE, 32);
    assert.equal(KVM_USERSPACE_MEMORY_REGION2_SIZE, 160);
  });

  it('split slot into id and address space', () => {
    assert.equal(slotId(0x0001_0005), 5);
    assert.equal(slotAsId(0x0001_0005), 1);
    assert.equal(slotId(0xffff_ffff), 0xffff);
    assert.equal(slotAsId(0xffff_ffff), 0xffff);
    assert.equal(slotAsId(0x7ffb), 0);
  });
});

describe('struct kvm_userspace_memory_region', () => {
  it('puts each field at its spec offset, little-endian', () => {
    const b = encodeUserspaceMemoryRegion(sample);
    assert.equal(b.length, 32);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    assert.equal(dv.getUint32(0, true), 0x0001_0005);
    assert.equal(dv.getUint32(4, true), 4);
    assert.equal(dv.getBigUint64(8, true), 0xffff_ffff_ffff_f000n);
    assert.equal(dv.getBigUint64(16, true), 0x1_0000_0000n);
    assert.equal(dv.getBigUint64(24, true), 0x7f12_3456_7000n);
    assert.deepEqual([...b.subarray(0, 4)], [0x05, 0x00, 0x01, 0x00]);
    assert.deepEqual([...b.subarray(8, 16)], [0x00, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  });

  it('round-trips values near 2^64 exactly', () => {
    const r = {
      slot: 0xffff_ffff,
      flags: 0xffff_ffff,
      guestPhysAddr: MAX_U64,
      memorySize: MAX_U64 - 1n,
      userspaceAddr: 1n << 63n,
    };
    assert.deepEqual(decodeUserspaceMemoryRegion(encodeUserspaceMemoryRegion(r)), r);
  });

  it('round-trips any value', () => {
    fc.assert(
      fc.property(region, (r) =>
        assert.deepEqual(decodeUserspaceMemoryRegion(encodeUserspaceMemoryRegion(r)), { ...r }),
      ),
    );
  });

  it('leaves out the v2 fields', () => {
    const d = decodeUserspaceMemoryRegion(encodeUserspaceMemoryRegion(sample));
    assert.equal(d.guestMemfd, undefined);
    assert.equal(d.guestMemfdOffset, undefined);
  });

  it('reads only the first 32 bytes of a longer buffer, at its byte offset', () => {
    const big = new Uint8Array(64).fill(0xaa);
    encodeUserspaceMemoryRegion(sample, big.subarray(8));
    assert.equal(big[7], 0xaa);
    assert.equal(big[40], 0xaa);
    assert.equal(big[8], 0x05);
    const d = decodeUserspaceMemoryRegion(big.subarray(8));
    assert.equal(d.userspaceAddr, sample.userspaceAddr);
  });

  it('fails with EFAULT on a short buffer', () => {
    assert.throws(() => decodeUserspaceMemoryRegion(new Uint8Array(31)), isEfault);
    assert.throws(() => decodeUserspaceMemoryRegion(new Uint8Array(0)), isEfault);
    assert.throws(() => encodeUserspaceMemoryRegion(sample, new Uint8Array(31)), isEfault);
  });

  it('refuses values that do not fit their C type', () => {
    assert.throws(() => encodeUserspaceMemoryRegion({ ...sample, guestPhysAddr: 1n << 64n }), RangeError);
    assert.throws(() => encodeUserspaceMemoryRegion({ ...sample, memorySize: -1n }), RangeError);
    assert.throws(() => encodeUserspaceMemoryRegion({ ...sample, slot: -1 }), RangeError);
    assert.throws(() => encodeUserspaceMemoryRegion({ ...sample, flags: 2 ** 32 }), RangeError);
  });
});

describe('struct kvm_userspace_memory_region2', () => {
  it('puts the v2 fields at their spec offsets and zeroes the padding', () => {
    const b = new Uint8Array(160).fill(0xcc);
    encodeUserspaceMemoryRegion2(sample, b);
    const dv = new DataView(b.buffer);
    assert.equal(dv.getUint32(0, true), 0x0001_0005);
    assert.equal(dv.getBigUint64(24, true), 0x7f12_3456_7000n);
    assert.equal(dv.getBigUint64(32, true), MAX_U64 - 1n);
    assert.equal(dv.getUint32(40, true), 0xffff_fffe);
    assert.ok(b.subarray(44, 160).every((x) => x === 0));
  });

  it('has the v1 struct as its first 32 bytes', () => {
    const v1 = encodeUserspaceMemoryRegion(sample);
    const v2 = encodeUserspaceMemoryRegion2(sample);
    assert.deepEqual(v2.subarray(0, 32), v1);
  });

  it('round-trips, with missing v2 fields as 0', () => {
    assert.deepEqual(decodeUserspaceMemoryRegion2(encodeUserspaceMemoryRegion2(sample)), sample);
    const { guestMemfd: _fd, guestMemfdOffset: _off, ...v1only } = sample;
    assert.deepEqual(decodeUserspaceMemoryRegion2(encodeUserspaceMemoryRegion2(v1only)), {
      ...v1only,
      guestMemfdOffset: 0n,
      guestMemfd: 0,
    });
    fc.assert(
      fc.property(region, u64, u32, (r, guestMemfdOffset, guestMemfd) => {
        const full = { ...r, guestMemfdOffset, guestMemfd };
        assert.deepEqual(decodeUserspaceMemoryRegion2(encodeUserspaceMemoryRegion2(full)), full);
      }),
    );
  });

  it('ignores non-zero padding when decoding', () => {
    const b = encodeUserspaceMemoryRegion2(sample);
    b.fill(0x5a, 44, 160);
    assert.deepEqual(decodeUserspaceMemoryRegion2(b), sample);
  });

  it('fails with EFAULT on a short buffer', () => {
    assert.throws(() => decodeUserspaceMemoryRegion2(new Uint8Array(159)), isEfault);
    assert.throws(() => decodeUserspaceMemoryRegion2(new Uint8Array(32)), isEfault);
    assert.throws(() => encodeUserspaceMemoryRegion2(sample, new Uint8Array(159)), isEfault);
  });
});
