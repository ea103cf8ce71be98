import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeDebugregs, encodeDebugregs, KVM_DEBUGREGS_SIZE, type KvmDebugregs } from './debugregs.js';
import { checkCodec, image, U64_MAX, U64_TOP } from './test-util.js';

const regs: KvmDebugregs = { db: [1n, 2n, U64_TOP, U64_MAX], dr6: 0xffff0ff0n, dr7: 0x400n, flags: 7n };

describe('struct kvm_debugregs', () => {
  it('encodes to the hand-built image and decodes it back', () => {
    assert.equal(KVM_DEBUGREGS_SIZE, 128);
    const bytes = image(128, [
      [0, 'u64', 1n],
      [8, 'u64', 2n],
      [16, 'u64', U64_TOP],
      [24, 'u64', U64_MAX],
      [32, 'u64', 0xffff0ff0n],
      [40, 'u64', 0x400n],
      [48, 'u64', 7n],
    ]);
    assert.deepEqual(encodeDebugregs(regs), bytes);
    assert.deepEqual(decodeDebugregs(bytes), regs);
  });

  it('keeps the codec contract; reserved is zero and ignored', () => {
    checkCodec({ value: regs, size: 128, encode: encodeDebugregs, decode: decodeDebugregs });
    const bytes = encodeDebugregs(regs);
    assert.ok(bytes.subarray(56).every((b) => b === 0));
    bytes.fill(0x5a, 56);
    assert.deepEqual(decodeDebugregs(bytes), regs);
  });

  it('wants exactly 4 db registers', () => {
    assert.throws(() => encodeDebugregs({ ...regs, db: [0n, 0n, 0n] }), /kvm_debugregs\.db needs 4/);
    assert.throws(() => encodeDebugregs({ ...regs, db: [0n, 0n, 0n, -1n] }), /db\[3\]/);
  });
});
