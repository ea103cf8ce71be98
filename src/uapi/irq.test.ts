import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeInterrupt,
  decodeIrqchip,
  decodeIrqLevel,
  decodeMpState,
  encodeInterrupt,
  encodeIrqchip,
  encodeIrqLevel,
  encodeMpState,
  KVM_INTERRUPT_SIZE,
  KVM_IRQ_LEVEL_SIZE,
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE,
  KVM_IRQCHIP_SIZE,
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_SIZE,
  KVM_MP_STATE_SUSPENDED,
  KVM_MP_STATE_UNINITIALIZED,
  KVM_NR_IRQCHIPS,
  kvmMpStateName,
} from './irq.js';
import { checkCodec, image, ramp, U32_MAX } from './test-util.js';

describe('struct kvm_irq_level', () => {
  it('encodes to the hand-built image; decode adds status, the signed view of irq', () => {
    assert.equal(KVM_IRQ_LEVEL_SIZE, 8);
    const bytes = image(8, [
      [0, 'u32', 11],
      [4, 'u32', 1],
    ]);
    assert.deepEqual(encodeIrqLevel({ irq: 11, level: 1 }), bytes);
    assert.deepEqual(decodeIrqLevel(bytes), { irq: 11, status: 11, level: 1 });
    // KVM_IRQ_LINE_STATUS writes a negative status (masked) over irq.
    const masked = image(8, [
      [0, 'u32', U32_MAX],
      [4, 'u32', 1],
    ]);
    assert.deepEqual(decodeIrqLevel(masked), { irq: U32_MAX, status: -1, level: 1 });
    checkCodec({
      value: { irq: U32_MAX, status: 5, level: 0 },
      decoded: { irq: U32_MAX, status: -1, level: 0 },
      size: 8,
      encode: encodeIrqLevel,
      decode: decodeIrqLevel,
    });
  });
});

describe('struct kvm_interrupt and kvm_mp_state', () => {
  it('are one u32 each', () => {
    assert.equal(KVM_INTERRUPT_SIZE, 4);
    assert.equal(KVM_MP_STATE_SIZE, 4);
    assert.deepEqual(encodeInterrupt({ irq: 0x30 }), image(4, [[0, 'u32', 0x30]]));
    assert.deepEqual(decodeMpState(image(4, [[0, 'u32', 9]])), { mpState: KVM_MP_STATE_AP_RESET_HOLD });
    checkCodec({ value: { irq: U32_MAX }, size: 4, encode: encodeInterrupt, decode: decodeInterrupt });
    checkCodec({ value: { mpState: 3 }, size: 4, encode: encodeMpState, decode: decodeMpState });
  });

  it('mp states have the header values and names', () => {
    assert.deepEqual(
      [KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_UNINITIALIZED, KVM_MP_STATE_HALTED, KVM_MP_STATE_SUSPENDED],
      [0, 1, 3, 10],
    );
    assert.equal(kvmMpStateName(9), 'KVM_MP_STATE_AP_RESET_HOLD');
    assert.equal(kvmMpStateName(11), 'KVM_MP_STATE_#11');
  });
});

describe('struct kvm_irqchip', () => {
  it('is chip_id, 4 bytes of pad, and the 512-byte union at offset 8', () => {
    assert.equal(KVM_IRQCHIP_SIZE, 520);
    assert.deepEqual(
      [KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC, KVM_NR_IRQCHIPS],
      [0, 1, 2, 3],
    );
    const chip = ramp(512, 0x40);
    const bytes = image(520, [
      [0, 'u32', KVM_IRQCHIP_IOAPIC],
      [8, 'bytes', chip],
    ]);
    assert.deepEqual(encodeIrqchip({ chipId: 2, chip }), bytes);
    assert.deepEqual(decodeIrqchip(bytes), { chipId: 2, chip });
    checkCodec({ value: { chipId: U32_MAX, chip }, size: 520, encode: encodeIrqchip, decode: decodeIrqchip });
    assert.throws(
      () => encodeIrqchip({ chipId: 0, chip: new Uint8Array(16) }),
      /kvm_irqchip\.chip is 512 bytes/,
    );
  });
});
