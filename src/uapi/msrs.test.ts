import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeMsrList,
  decodeMsrs,
  encodeMsrList,
  encodeMsrs,
  KVM_MSR_ENTRY_SIZE,
  KVM_MSR_LIST_SIZE,
  KVM_MSRS_SIZE,
  type KvmMsrs,
  kvmMsrListSize,
  kvmMsrsSize,
} from './msrs.js';
import { checkCodec, image, U32_MAX, U64_MAX, U64_TOP } from './test-util.js';

const msrs: KvmMsrs = {
  nmsrs: 3,
  entries: [
    { index: 0xc000_0080, data: 0xd01n },
    { index: U32_MAX, data: U64_MAX },
    { index: 0x10, data: U64_TOP },
  ],
};

describe('struct kvm_msrs', () => {
  it('is an 8-byte header and 16-byte entries', () => {
    assert.equal(KVM_MSRS_SIZE, 8);
    assert.equal(KVM_MSR_ENTRY_SIZE, 16);
    assert.equal(kvmMsrsSize(0), 8);
    assert.equal(kvmMsrsSize(3), 56);
  });

  it('encodes to the hand-built image and decodes it back', () => {
    const bytes = image(56, [
      [0, 'u32', 3],
      [8, 'u32', 0xc000_0080],
      [16, 'u64', 0xd01n],
      [24, 'u32', U32_MAX],
      [32, 'u64', U64_MAX],
      [40, 'u32', 0x10],
      [48, 'u64', U64_TOP],
    ]);
    assert.deepEqual(encodeMsrs(msrs), bytes);
    assert.deepEqual(decodeMsrs(bytes), msrs);
  });

  it('keeps the codec contract (the header is the minimum to decode)', () => {
    checkCodec({ value: msrs, size: 56, encode: encodeMsrs, decode: decodeMsrs, minDecode: KVM_MSRS_SIZE });
  });

  it('makes room for nmsrs entries when fewer are given (a KVM_GET_MSRS request)', () => {
    const req = encodeMsrs({ nmsrs: 2, entries: [{ index: 0x1b, data: 0n }] });
    assert.deepEqual(
      req,
      image(kvmMsrsSize(2), [
        [0, 'u32', 2],
        [8, 'u32', 0x1b],
      ]),
    );
    assert.deepEqual(decodeMsrs(req), {
      nmsrs: 2,
      entries: [
        { index: 0x1b, data: 0n },
        { index: 0, data: 0n },
      ],
    });
  });

  it('decodes only the entries that fit, and still reports nmsrs', () => {
    const bytes = encodeMsrs(msrs);
    assert.deepEqual(decodeMsrs(bytes.subarray(0, 8 + 16 + 15)), { nmsrs: 3, entries: [msrs.entries[0]] });
    assert.deepEqual(decodeMsrs(bytes.subarray(0, 8)), { nmsrs: 3, entries: [] });
    const huge = image(8 + 16, [
      [0, 'u32', U32_MAX],
      [8, 'u32', 0xc000_0080],
      [16, 'u64', 5n],
    ]);
    assert.deepEqual(decodeMsrs(huge), { nmsrs: U32_MAX, entries: [{ index: 0xc000_0080, data: 5n }] });
  });

  it('refuses fields that do not fit', () => {
    assert.throws(() => encodeMsrs({ nmsrs: 1, entries: [{ index: -1, data: 0n }] }), /entries\[0\]\.index/);
    assert.throws(() => encodeMsrs({ nmsrs: 1, entries: [{ index: 0, data: U64_MAX + 1n }] }), RangeError);
  });
});

describe('struct kvm_msr_list', () => {
  it('encodes to the hand-built image and decodes it back', () => {
    assert.equal(KVM_MSR_LIST_SIZE, 4);
    assert.equal(kvmMsrListSize(3), 16);
    const v = { nmsrs: 3, indices: [0x174, 0xc000_0080, U32_MAX] };
    const bytes = image(16, [
      [0, 'u32', 3],
      [4, 'u32', 0x174],
      [8, 'u32', 0xc000_0080],
      [12, 'u32', U32_MAX],
    ]);
    assert.deepEqual(encodeMsrList(v), bytes);
    assert.deepEqual(decodeMsrList(bytes), v);
    checkCodec({ value: v, size: 16, encode: encodeMsrList, decode: decodeMsrList, minDecode: 4 });
  });

  it('asks with room and no indices; decodes what fits', () => {
    const req = encodeMsrList({ nmsrs: 64, indices: [] });
    assert.deepEqual(req, image(4 + 64 * 4, [[0, 'u32', 64]]), 'nmsrs 64, then room of zeros');
    assert.deepEqual(decodeMsrList(image(10, [[0, 'u32', 100]])), { nmsrs: 100, indices: [0] });
  });
});
