import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeDtable,
  decodeSegment,
  decodeSregs,
  encodeDtable,
  encodeSegment,
  encodeSregs,
  KVM_DTABLE_SIZE,
  KVM_NR_INTERRUPTS,
  KVM_SEGMENT_SIZE,
  KVM_SREGS_INTERRUPT_BITMAP_WORDS,
  KVM_SREGS_OFFSETS,
  KVM_SREGS_SIZE,
  type KvmDtable,
  type KvmSegment,
  type KvmSregs,
} from './sregs.js';
import { checkCodec, image, type Put, U32_MAX, U64_MAX, U64_TOP } from './test-util.js';

function seg(i: number): KvmSegment {
  return {
    base: BigInt(i) * 0x1000n + 0xffff_0000_0000_0000n,
    limit: i === 0 ? U32_MAX : 0xfffff - i,
    selector: 8 * i,
    type: (i + 3) & 15,
    present: 1,
    dpl: i & 3,
    db: i & 1,
    s: 1,
    l: (i + 1) & 1,
    g: 1,
    avl: i & 1,
    unusable: i === 7 ? 1 : 0,
  };
}

/** The bytes of kvm_segment `s` at `at`, offsets typed in from the header. */
function segPuts(at: number, s: KvmSegment): Put[] {
  return [
    [at + 0, 'u64', s.base],
    [at + 8, 'u32', s.limit],
    [at + 12, 'u16', s.selector],
    [at + 14, 'u8', s.type],
    [at + 15, 'u8', s.present],
    [at + 16, 'u8', s.dpl],
    [at + 17, 'u8', s.db],
    [at + 18, 'u8', s.s],
    [at + 19, 'u8', s.l],
    [at + 20, 'u8', s.g],
    [at + 21, 'u8', s.avl],
    [at + 22, 'u8', s.unusable],
  ];
}

const gdt: KvmDtable = { base: U64_MAX, limit: 0xffff };
const idt: KvmDtable = { base: 0xffff_8000_0000_1000n, limit: 0xfff };

function sample(): KvmSregs {
  return {
    cs: seg(0),
    ds: seg(1),
    es: seg(2),
    fs: seg(3),
    gs: seg(4),
    ss: seg(5),
    tr: seg(6),
    ldt: seg(7),
    gdt,
    idt,
    cr0: 0x8005_0033n,
    cr2: U64_TOP,
    cr3: 0x1234_5000n,
    cr4: 0x3406f0n,
    cr8: 15n,
    efer: 0xd01n,
    apicBase: 0xfee0_0900n,
    interruptBitmap: [0n, 1n << 63n, 0n, U64_MAX],
  };
}

describe('struct kvm_segment and kvm_dtable', () => {
  it('encode to the hand-built images and decode them back', () => {
    const s = seg(3);
    const bytes = image(24, segPuts(0, s));
    assert.deepEqual(encodeSegment(s), bytes);
    assert.deepEqual(decodeSegment(bytes), s);
    const d = image(16, [
      [0, 'u64', gdt.base],
      [8, 'u16', gdt.limit],
    ]);
    assert.deepEqual(encodeDtable(gdt), d);
    assert.deepEqual(decodeDtable(d), gdt);
  });

  it('write padding as zero and ignore it on decode', () => {
    const bytes = encodeSegment(seg(1));
    assert.equal(bytes[23], 0);
    bytes[23] = 0xff;
    assert.deepEqual(decodeSegment(bytes), seg(1));
    const d = encodeDtable(idt);
    assert.deepEqual([...d.subarray(10)], [0, 0, 0, 0, 0, 0]);
  });

  it('keep the codec contract', () => {
    checkCodec({ value: seg(5), size: KVM_SEGMENT_SIZE, encode: encodeSegment, decode: decodeSegment });
    checkCodec({ value: idt, size: KVM_DTABLE_SIZE, encode: encodeDtable, decode: decodeDtable });
  });

  it('refuse fields that do not fit', () => {
    assert.throws(() => encodeSegment({ ...seg(0), type: 256 }), /kvm_segment\.type 256 is not a u8/);
    assert.throws(() => encodeSegment({ ...seg(0), selector: 0x10000 }), RangeError);
    assert.throws(() => encodeDtable({ base: 0n, limit: -1 }), RangeError);
  });
});

describe('struct kvm_sregs', () => {
  it('is 312 bytes with 256 interrupt bits in 4 words', () => {
    assert.equal(KVM_SREGS_SIZE, 312);
    assert.equal(KVM_NR_INTERRUPTS, 256);
    assert.equal(KVM_SREGS_INTERRUPT_BITMAP_WORDS, 4);
    assert.equal(KVM_SREGS_OFFSETS.interrupt_bitmap + 32, KVM_SREGS_SIZE);
  });

  it('encodes to the hand-built image and decodes it back', () => {
    const v = sample();
    const segs = [v.cs, v.ds, v.es, v.fs, v.gs, v.ss, v.tr, v.ldt];
    const bytes = image(312, [
      ...segs.flatMap((s, i) => segPuts(24 * i, s)),
      [192, 'u64', gdt.base],
      [200, 'u16', gdt.limit],
      [208, 'u64', idt.base],
      [216, 'u16', idt.limit],
      [224, 'u64', v.cr0],
      [232, 'u64', v.cr2],
      [240, 'u64', v.cr3],
      [248, 'u64', v.cr4],
      [256, 'u64', v.cr8],
      [264, 'u64', v.efer],
      [272, 'u64', v.apicBase],
      [280, 'u64', 0n],
      [288, 'u64', 1n << 63n],
      [296, 'u64', 0n],
      [304, 'u64', U64_MAX],
    ]);
    assert.deepEqual(encodeSregs(v), bytes);
    assert.deepEqual(decodeSregs(bytes), v);
  });

  it('keeps the codec contract', () => {
    checkCodec({ value: sample(), size: KVM_SREGS_SIZE, encode: encodeSregs, decode: decodeSregs });
  });

  it('wants exactly 4 interrupt-bitmap words and names the bad field', () => {
    assert.throws(
      () => encodeSregs({ ...sample(), interruptBitmap: [0n, 0n, 0n] }),
      /interrupt_bitmap needs 4/,
    );
    assert.throws(() => encodeSregs({ ...sample(), interruptBitmap: [0n, 0n, 0n, 0n, 0n] }), RangeError);
    assert.throws(
      () => encodeSregs({ ...sample(), tr: { ...seg(6), dpl: 300 } }),
      /kvm_sregs\.tr\.dpl 300 is not a u8/,
    );
    assert.throws(() => encodeSregs({ ...sample(), efer: -1n }), /kvm_sregs\.efer/);
  });
});
