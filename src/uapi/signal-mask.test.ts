import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeSignalMask,
  encodeSignalMask,
  KVM_SIGNAL_MASK_SIZE,
  KVM_SIGSET_BYTES,
  kvmSignalMaskSize,
} from './signal-mask.js';
import { checkCodec, image } from './test-util.js';

describe('struct kvm_signal_mask', () => {
  it('is len and the sigset bytes after it', () => {
    assert.equal(KVM_SIGNAL_MASK_SIZE, 4);
    assert.equal(KVM_SIGSET_BYTES, 8);
    assert.equal(kvmSignalMaskSize(8), 12);
    const sigset = Uint8Array.of(0x00, 0x40, 0, 0, 0, 0, 0, 0x80); // SIGUSR2 (15) and signal 64
    const bytes = image(12, [
      [0, 'u32', 8],
      [4, 'bytes', sigset],
    ]);
    assert.deepEqual(encodeSignalMask({ len: 8, sigset }), bytes);
    assert.deepEqual(decodeSignalMask(bytes), { len: 8, sigset });
    checkCodec({
      value: { len: 8, sigset },
      size: 12,
      encode: encodeSignalMask,
      decode: decodeSignalMask,
      minDecode: 4,
    });
  });

  it('decodes what fits and reports len', () => {
    assert.deepEqual(decodeSignalMask(image(6, [[0, 'u32', 8]])), { len: 8, sigset: new Uint8Array(2) });
    // Encoding with fewer sigset bytes than len still makes the whole struct: len, then zeros.
    assert.deepEqual(encodeSignalMask({ len: 8, sigset: new Uint8Array(0) }), image(12, [[0, 'u32', 8]]));
  });
});
