import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeFpu, encodeFpu, KVM_FPU_SIZE, type KvmFpu } from './fpu.js';
import { checkCodec, image, ramp, U64_MAX, U64_TOP } from './test-util.js';

const fpu: KvmFpu = {
  fpr: ramp(128, 1),
  fcw: 0x37f,
  fsw: 0xffff,
  ftwx: 0x81,
  lastOpcode: 0x7ff,
  lastIp: U64_MAX,
  lastDp: U64_TOP,
  xmm: ramp(256, 0x80),
  mxcsr: 0x1f80,
};

describe('struct kvm_fpu', () => {
  it('encodes to the hand-built image and decodes it back', () => {
    assert.equal(KVM_FPU_SIZE, 416);
    const bytes = image(416, [
      [0, 'bytes', fpu.fpr],
      [128, 'u16', 0x37f],
      [130, 'u16', 0xffff],
      [132, 'u8', 0x81],
      [134, 'u16', 0x7ff],
      [136, 'u64', U64_MAX],
      [144, 'u64', U64_TOP],
      [152, 'bytes', fpu.xmm],
      [408, 'u32', 0x1f80],
    ]);
    assert.deepEqual(encodeFpu(fpu), bytes);
    assert.deepEqual(decodeFpu(bytes), fpu);
  });

  it('keeps the codec contract, and decoded arrays are copies', () => {
    checkCodec({ value: fpu, size: KVM_FPU_SIZE, encode: encodeFpu, decode: decodeFpu });
    const bytes = encodeFpu(fpu);
    const d = decodeFpu(bytes);
    bytes[0] = 0xff;
    bytes[152] = 0xff;
    assert.equal(d.fpr[0], 1);
    assert.equal(d.xmm[0], 0x80);
  });

  it('wants whole register files', () => {
    assert.throws(() => encodeFpu({ ...fpu, fpr: new Uint8Array(127) }), /kvm_fpu\.fpr is 128 bytes/);
    assert.throws(() => encodeFpu({ ...fpu, xmm: new Uint8Array(512) }), RangeError);
    assert.throws(() => encodeFpu({ ...fpu, ftwx: 256 }), RangeError);
  });
});
