import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkCodec, image, U64_MAX, U64_TOP } from './test-util.js';
import { decodeTranslation, encodeTranslation, KVM_TRANSLATION_SIZE } from './translate.js';

describe('struct kvm_translation', () => {
  it('encodes to the hand-built image (pad zero) and decodes it back', () => {
    assert.equal(KVM_TRANSLATION_SIZE, 24);
    const v = { linearAddress: U64_TOP, physicalAddress: U64_MAX, valid: 1, writeable: 2, usermode: 255 };
    const bytes = image(24, [
      [0, 'u64', U64_TOP],
      [8, 'u64', U64_MAX],
      [16, 'u8', 1],
      [17, 'u8', 2],
      [18, 'u8', 255],
    ]);
    assert.deepEqual(encodeTranslation(v), bytes);
    assert.deepEqual(decodeTranslation(bytes), v);
    checkCodec({ value: v, size: 24, encode: encodeTranslation, decode: decodeTranslation });
    assert.throws(() => encodeTranslation({ ...v, valid: 256 }), RangeError);
  });
});
