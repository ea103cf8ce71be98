import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEnableCap, encodeEnableCap, KVM_ENABLE_CAP_SIZE, type KvmEnableCap } from './enable-cap.js';
import { checkCodec, image, U32_MAX, U64_MAX, U64_TOP } from './test-util.js';

const cap: KvmEnableCap = { cap: 188, flags: U32_MAX, args: [7n, U64_MAX, 0n, U64_TOP] };

describe('struct kvm_enable_cap', () => {
  it('encodes to the hand-built image and decodes it back', () => {
    assert.equal(KVM_ENABLE_CAP_SIZE, 104);
    const bytes = image(104, [
      [0, 'u32', 188],
      [4, 'u32', U32_MAX],
      [8, 'u64', 7n],
      [16, 'u64', U64_MAX],
      [32, 'u64', U64_TOP],
    ]);
    assert.deepEqual(encodeEnableCap(cap), bytes);
    assert.deepEqual(decodeEnableCap(bytes), cap);
  });

  it('keeps the codec contract; pad is zero and ignored', () => {
    checkCodec({ value: cap, size: 104, encode: encodeEnableCap, decode: decodeEnableCap });
    const bytes = encodeEnableCap(cap);
    assert.ok(bytes.subarray(40).every((b) => b === 0));
    bytes.fill(1, 40);
    assert.deepEqual(decodeEnableCap(bytes), cap);
  });

  it('wants exactly 4 args', () => {
    assert.throws(() => encodeEnableCap({ cap: 1, flags: 0, args: [1n] }), /kvm_enable_cap\.args needs 4/);
    assert.throws(() => encodeEnableCap({ ...cap, cap: -1 }), RangeError);
  });
});
