import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkCodec, image, ramp, U64_MAX, U64_TOP } from './test-util.js';
import {
  decodeXcrs,
  decodeXsave,
  encodeXcrs,
  encodeXsave,
  KVM_MAX_XCRS,
  KVM_XCRS_SIZE,
  KVM_XSAVE_SIZE,
  type KvmXcrs,
  kvmXsaveSize,
} from './xsave.js';

const xcrs: KvmXcrs = {
  nrXcrs: 2,
  flags: 0,
  xcrs: [
    { xcr: 0, value: 0x207n },
    { xcr: 0xffff_ffff, value: U64_MAX },
  ],
};

describe('struct kvm_xsave', () => {
  it('is the 4096-byte region, plus extra bytes for KVM_GET_XSAVE2', () => {
    assert.equal(KVM_XSAVE_SIZE, 4096);
    const region = ramp(4096);
    assert.deepEqual(encodeXsave({ region }), region);
    assert.deepEqual(decodeXsave(region), { region });
    const extra = ramp(8192 - 4096, 7);
    const big = encodeXsave({ region, extra });
    assert.equal(big.length, kvmXsaveSize(4096));
    assert.deepEqual(big.subarray(4096), extra);
    assert.deepEqual(decodeXsave(big, 8192), { region, extra });
    assert.deepEqual(decodeXsave(big), { region });
  });

  it('keeps the codec contract', () => {
    checkCodec({ value: { region: ramp(4096, 3) }, size: 4096, encode: encodeXsave, decode: decodeXsave });
  });

  it('refuses a short region, a size below 4096 and a short buffer', () => {
    assert.throws(() => encodeXsave({ region: new Uint8Array(4095) }), RangeError);
    assert.throws(() => decodeXsave(new Uint8Array(4096), 4000), RangeError);
    assert.throws(() => decodeXsave(new Uint8Array(5000), 6000), RangeError);
  });
});

describe('struct kvm_xcrs', () => {
  it('encodes to the hand-built image and decodes it back', () => {
    assert.equal(KVM_XCRS_SIZE, 392);
    assert.equal(KVM_MAX_XCRS, 16);
    const bytes = image(392, [
      [0, 'u32', 2],
      [8, 'u32', 0],
      [16, 'u64', 0x207n],
      [24, 'u32', 0xffff_ffff],
      [32, 'u64', U64_MAX],
    ]);
    assert.deepEqual(encodeXcrs(xcrs), bytes);
    assert.deepEqual(decodeXcrs(bytes), xcrs);
  });

  it('keeps the codec contract', () => {
    checkCodec({ value: { ...xcrs, flags: 5 }, size: KVM_XCRS_SIZE, encode: encodeXcrs, decode: decodeXcrs });
  });

  it('reports nr_xcrs as found and returns at most 16 entries', () => {
    const full = {
      nrXcrs: 16,
      flags: 0,
      xcrs: Array.from({ length: 16 }, (_, i) => ({ xcr: i, value: U64_TOP + BigInt(i) })),
    };
    const bytes = encodeXcrs(full);
    assert.deepEqual(decodeXcrs(bytes), full);
    new DataView(bytes.buffer).setUint32(0, 1000, true);
    const d = decodeXcrs(bytes);
    assert.equal(d.nrXcrs, 1000);
    assert.deepEqual(d.xcrs, full.xcrs, 'the 16 entries there are, no more');
    assert.throws(() => encodeXcrs({ ...full, xcrs: [...full.xcrs, { xcr: 0, value: 0n }] }), RangeError);
  });
});
