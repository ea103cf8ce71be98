import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  APIC_EOI,
  APIC_ICR,
  APIC_ICR2,
  APIC_ID,
  APIC_IRR,
  APIC_ISR,
  APIC_LVR,
  APIC_SPIV,
  APIC_TDCR,
  APIC_TMR,
  decodeLapicState,
  encodeLapicState,
  KVM_APIC_REG_SIZE,
  KVM_LAPIC_STATE_SIZE,
  lapicReg,
  lapicVectorBit,
  setLapicReg,
} from './lapic.js';
import { checkCodec, image, ramp } from './test-util.js';

describe('struct kvm_lapic_state', () => {
  it('is the 1024-byte register page, copied both ways', () => {
    assert.equal(KVM_LAPIC_STATE_SIZE, 1024);
    assert.equal(KVM_APIC_REG_SIZE, 0x400);
    const regs = ramp(1024, 9);
    assert.deepEqual(encodeLapicState({ regs }), regs);
    const d = decodeLapicState(regs);
    assert.deepEqual(d, { regs });
    regs[0] = 0;
    assert.equal(d.regs[0], 9);
    checkCodec({
      value: { regs: ramp(1024) },
      size: 1024,
      encode: encodeLapicState,
      decode: decodeLapicState,
    });
    assert.throws(() => encodeLapicState({ regs: new Uint8Array(1023) }), RangeError);
  });

  it('has registers as little-endian u32s at the apicdef.h offsets', () => {
    const regs = image(1024, [
      [0x20, 'u32', 0x0300_0000],
      [0x30, 'u32', 0x8005_0014],
      [0xf0, 'u32', 0x1ff],
      [0x300, 'u32', 0x000c_4500],
      [0x310, 'u32', 0xff00_0000],
      [0x3e0, 'u32', 0xb],
    ]);
    assert.equal(lapicReg(regs, APIC_ID) >>> 24, 3);
    assert.equal(lapicReg(regs, APIC_LVR), 0x8005_0014);
    assert.equal(lapicReg(regs, APIC_SPIV) & 0x100, 0x100);
    assert.equal(lapicReg(regs, APIC_ICR), 0x000c_4500);
    assert.equal(lapicReg(regs, APIC_ICR2), 0xff00_0000);
    assert.equal(lapicReg(regs, APIC_TDCR), 0xb);
    setLapicReg(regs, APIC_EOI, 0xffff_ffff);
    assert.deepEqual([...regs.subarray(0xb0, 0xb4)], [0xff, 0xff, 0xff, 0xff]);
    assert.throws(() => lapicReg(regs, 0x21), RangeError);
    assert.throws(() => lapicReg(regs, 0x400), RangeError);
    assert.throws(() => setLapicReg(regs, APIC_ID, -1), RangeError);
    assert.throws(() => lapicReg(new Uint8Array(512), APIC_ID), RangeError);
  });

  it('finds vector bits in the 256-bit ISR, TMR and IRR', () => {
    const regs = new Uint8Array(1024);
    setLapicReg(regs, APIC_IRR + 0x10 * 1, 1 << 0); // vector 32
    setLapicReg(regs, APIC_ISR + 0x10 * 7, 0x8000_0000); // vector 255
    setLapicReg(regs, APIC_TMR, 1 << 5); // vector 5
    assert.ok(lapicVectorBit(regs, APIC_IRR, 32));
    assert.ok(!lapicVectorBit(regs, APIC_IRR, 33));
    assert.ok(lapicVectorBit(regs, APIC_ISR, 255));
    assert.ok(lapicVectorBit(regs, APIC_TMR, 5));
    assert.throws(() => lapicVectorBit(regs, APIC_IRR, 256), RangeError);
  });
});
