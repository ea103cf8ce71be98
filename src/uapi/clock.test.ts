import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeClockData,
  encodeClockData,
  KVM_CLOCK_DATA_SIZE,
  KVM_CLOCK_HOST_TSC,
  KVM_CLOCK_REALTIME,
  KVM_CLOCK_TSC_STABLE,
} from './clock.js';
import { checkCodec, image, U64_MAX, U64_TOP } from './test-util.js';

describe('struct kvm_clock_data', () => {
  it('encodes to the hand-built image (pads zero) and decodes it back', () => {
    assert.equal(KVM_CLOCK_DATA_SIZE, 48);
    assert.deepEqual([KVM_CLOCK_TSC_STABLE, KVM_CLOCK_REALTIME, KVM_CLOCK_HOST_TSC], [2, 4, 8]);
    const v = { clock: U64_MAX, flags: 14, realtime: U64_TOP, hostTsc: 0x1234_5678_9abcn };
    const bytes = image(48, [
      [0, 'u64', U64_MAX],
      [8, 'u32', 14],
      [16, 'u64', U64_TOP],
      [24, 'u64', 0x1234_5678_9abcn],
    ]);
    assert.deepEqual(encodeClockData(v), bytes);
    assert.deepEqual(decodeClockData(bytes), v);
    checkCodec({ value: v, size: 48, encode: encodeClockData, decode: decodeClockData });
  });
});
