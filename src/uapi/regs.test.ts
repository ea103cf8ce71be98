import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeRegs, encodeRegs, KVM_REGS_OFFSETS, KVM_REGS_SIZE, type KvmRegs } from './regs.js';
import { checkCodec, image, U64_MAX, U64_TOP } from './test-util.js';

const NAMES = [
  'rax',
  'rbx',
  'rcx',
  'rdx',
  'rsi',
  'rdi',
  'rsp',
  'rbp',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
  'rip',
  'rflags',
] as const;

/** Register i holds a value whose bytes name i, so a field read from a neighbour's slot shows. */
function sample(): KvmRegs {
  const r = {} as KvmRegs;
  NAMES.forEach((n, i) => {
    r[n] = BigInt(i + 1) * 0x0101_0101_0101_0101n;
  });
  r.rax = U64_MAX;
  r.rflags = U64_TOP | 2n;
  return r;
}

describe('struct kvm_regs', () => {
  it('is 144 bytes: eighteen u64s in header order', () => {
    assert.equal(KVM_REGS_SIZE, 144);
    assert.deepEqual(Object.keys(KVM_REGS_OFFSETS), [...NAMES]);
    NAMES.forEach((n, i) => {
      assert.equal(KVM_REGS_OFFSETS[n], 8 * i, n);
    });
  });

  it('encodes to the hand-built image and decodes it back', () => {
    const v = sample();
    const bytes = image(
      144,
      NAMES.map((n, i) => [8 * i, 'u64', v[n]] as const),
    );
    assert.deepEqual(encodeRegs(v), bytes);
    assert.deepEqual(decodeRegs(bytes), v);
  });

  it('reads rip from the 17th word and rflags from the 18th (offsets typed in, not taken from NAMES)', () => {
    const d = decodeRegs(
      image(144, [
        [128, 'u64', 0xffff_ffff_8100_0000n],
        [136, 'u64', U64_TOP | 2n],
      ]),
    );
    assert.equal(d.rip, 0xffff_ffff_8100_0000n);
    assert.equal(d.rflags, U64_TOP | 2n);
    assert.equal(d.r15, 0n);
  });

  it('keeps the codec contract', () => {
    checkCodec({ value: sample(), size: KVM_REGS_SIZE, encode: encodeRegs, decode: decodeRegs });
  });

  it('round-trips any u64 values', () => {
    const u64 = fc.bigInt({ min: 0n, max: U64_MAX });
    fc.assert(
      fc.property(fc.array(u64, { minLength: 18, maxLength: 18 }), (vals) => {
        const r = Object.fromEntries(NAMES.map((n, i) => [n, vals[i]!])) as unknown as KvmRegs;
        assert.deepEqual(decodeRegs(encodeRegs(r)), r);
      }),
    );
  });

  it('refuses values that are not u64', () => {
    assert.throws(() => encodeRegs({ ...sample(), rip: -1n }), /kvm_regs\.rip -1 is not a u64/);
    assert.throws(() => encodeRegs({ ...sample(), r15: 1n << 64n }), RangeError);
  });
});
