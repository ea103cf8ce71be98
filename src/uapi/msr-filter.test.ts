import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeMsrFilter,
  encodeMsrFilter,
  KVM_MSR_FILTER_DEFAULT_ALLOW,
  KVM_MSR_FILTER_DEFAULT_DENY,
  KVM_MSR_FILTER_MAX_BITMAP_SIZE,
  KVM_MSR_FILTER_MAX_RANGES,
  KVM_MSR_FILTER_RANGE_SIZE,
  KVM_MSR_FILTER_RANGE_VALID_MASK,
  KVM_MSR_FILTER_READ,
  KVM_MSR_FILTER_SIZE,
  KVM_MSR_FILTER_VALID_MASK,
  KVM_MSR_FILTER_WRITE,
  type KvmMsrFilterRange,
} from './msr-filter.js';
import { checkCodec, image, U32_MAX, U64_MAX, U64_TOP } from './test-util.js';

const EMPTY: KvmMsrFilterRange = { flags: 0, nmsrs: 0, base: 0, bitmap: 0n };

const ranges: KvmMsrFilterRange[] = [
  { flags: KVM_MSR_FILTER_READ, nmsrs: 0x2000, base: 0xc000_0000, bitmap: U64_TOP | 0x1000n },
  { flags: KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE, nmsrs: U32_MAX, base: U32_MAX, bitmap: U64_MAX },
];

describe('struct kvm_msr_filter', () => {
  it('has the header constants', () => {
    assert.deepEqual([KVM_MSR_FILTER_READ, KVM_MSR_FILTER_WRITE, KVM_MSR_FILTER_RANGE_VALID_MASK], [1, 2, 3]);
    assert.deepEqual(
      [KVM_MSR_FILTER_DEFAULT_ALLOW, KVM_MSR_FILTER_DEFAULT_DENY, KVM_MSR_FILTER_VALID_MASK],
      [0, 1, 1],
    );
    assert.equal(KVM_MSR_FILTER_MAX_RANGES, 16);
    assert.equal(KVM_MSR_FILTER_MAX_BITMAP_SIZE, 0x600);
    assert.equal(KVM_MSR_FILTER_RANGE_SIZE, 24);
    assert.equal(KVM_MSR_FILTER_SIZE, 8 + 16 * 24);
  });

  it('encodes to the hand-built image (bitmap pointer at 16 of each range) and decodes it back', () => {
    const bytes = image(392, [
      [0, 'u32', 1],
      [8, 'u32', 1],
      [12, 'u32', 0x2000],
      [16, 'u32', 0xc000_0000],
      [24, 'u64', U64_TOP | 0x1000n],
      [32, 'u32', 3],
      [36, 'u32', U32_MAX],
      [40, 'u32', U32_MAX],
      [48, 'u64', U64_MAX],
    ]);
    const filter = { flags: KVM_MSR_FILTER_DEFAULT_DENY, ranges };
    assert.deepEqual(encodeMsrFilter(filter), bytes);
    assert.deepEqual(decodeMsrFilter(bytes), { flags: 1, ranges: [...ranges, ...Array(14).fill(EMPTY)] });
  });

  it('keeps the codec contract; the implicit padding is zero', () => {
    const full = Array.from({ length: 16 }, (_, i) => ({
      flags: 3,
      nmsrs: i,
      base: i * 100,
      bitmap: BigInt(i),
    }));
    checkCodec({
      value: { flags: 0, ranges: full },
      size: 392,
      encode: encodeMsrFilter,
      decode: decodeMsrFilter,
    });
    const bytes = encodeMsrFilter({ flags: U32_MAX, ranges: full });
    for (let i = 0; i < 16; i++) assert.equal(new DataView(bytes.buffer).getUint32(8 + 24 * i + 12, true), 0);
    assert.deepEqual([...bytes.subarray(4, 8)], [0, 0, 0, 0]);
  });

  it('refuses more than 16 ranges and fields that do not fit', () => {
    assert.throws(() => encodeMsrFilter({ flags: 0, ranges: Array(17).fill(EMPTY) }), RangeError);
    assert.throws(
      () => encodeMsrFilter({ flags: 0, ranges: [{ ...EMPTY, bitmap: -1n }] }),
      /kvm_msr_filter\.ranges\[0\]\.bitmap/,
    );
  });
});
