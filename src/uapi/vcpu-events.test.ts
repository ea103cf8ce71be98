import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkCodec, image, U32_MAX, U64_MAX, U64_TOP } from './test-util.js';
import {
  decodeVcpuEvents,
  encodeVcpuEvents,
  KVM_VCPU_EVENTS_OFFSETS,
  KVM_VCPU_EVENTS_RESERVED_BYTES,
  KVM_VCPU_EVENTS_SIZE,
  KVM_VCPUEVENT_VALID_NMI_PENDING,
  KVM_VCPUEVENT_VALID_PAYLOAD,
  KVM_VCPUEVENT_VALID_SHADOW,
  KVM_VCPUEVENT_VALID_SIPI_VECTOR,
  KVM_VCPUEVENT_VALID_SMM,
  KVM_VCPUEVENT_VALID_TRIPLE_FAULT,
  KVM_X86_SHADOW_INT_MOV_SS,
  KVM_X86_SHADOW_INT_STI,
  type KvmVcpuEvents,
} from './vcpu-events.js';

/** Every u8 field has a distinct value, so a swapped offset shows. */
const events: KvmVcpuEvents = {
  exception: { injected: 1, nr: 14, hasErrorCode: 1, pending: 2, errorCode: U32_MAX },
  interrupt: { injected: 3, nr: 0x20, soft: 4, shadow: KVM_X86_SHADOW_INT_STI },
  nmi: { injected: 5, pending: 6, masked: 7 },
  sipiVector: 0x9a,
  flags: 0x3f,
  smi: { smm: 8, pending: 9, smmInsideNmi: 10, latchedInit: 11 },
  tripleFault: { pending: 12 },
  exceptionHasPayload: 13,
  exceptionPayload: U64_TOP | 0xdeadn,
};

describe('struct kvm_vcpu_events', () => {
  it('has the 6.12 flag values and size', () => {
    assert.deepEqual(
      [
        KVM_VCPUEVENT_VALID_NMI_PENDING,
        KVM_VCPUEVENT_VALID_SIPI_VECTOR,
        KVM_VCPUEVENT_VALID_SHADOW,
        KVM_VCPUEVENT_VALID_SMM,
        KVM_VCPUEVENT_VALID_PAYLOAD,
        KVM_VCPUEVENT_VALID_TRIPLE_FAULT,
      ],
      [1, 2, 4, 8, 0x10, 0x20],
    );
    assert.deepEqual([KVM_X86_SHADOW_INT_MOV_SS, KVM_X86_SHADOW_INT_STI], [1, 2]);
    assert.equal(KVM_VCPU_EVENTS_SIZE, 64);
    assert.equal(KVM_VCPU_EVENTS_OFFSETS.reserved + KVM_VCPU_EVENTS_RESERVED_BYTES, 55);
  });

  it('encodes to the hand-built image and decodes it back', () => {
    const bytes = image(64, [
      [0, 'u8', 1],
      [1, 'u8', 14],
      [2, 'u8', 1],
      [3, 'u8', 2],
      [4, 'u32', U32_MAX],
      [8, 'u8', 3],
      [9, 'u8', 0x20],
      [10, 'u8', 4],
      [11, 'u8', 2],
      [12, 'u8', 5],
      [13, 'u8', 6],
      [14, 'u8', 7],
      [16, 'u32', 0x9a],
      [20, 'u32', 0x3f],
      [24, 'u8', 8],
      [25, 'u8', 9],
      [26, 'u8', 10],
      [27, 'u8', 11],
      [28, 'u8', 12],
      [55, 'u8', 13],
      [56, 'u64', U64_TOP | 0xdeadn],
    ]);
    assert.deepEqual(encodeVcpuEvents(events), bytes);
    assert.deepEqual(decodeVcpuEvents(bytes), events);
  });

  it('keeps the codec contract; nmi.pad and reserved are zero and ignored', () => {
    checkCodec({ value: events, size: 64, encode: encodeVcpuEvents, decode: decodeVcpuEvents });
    const bytes = encodeVcpuEvents({ ...events, exceptionPayload: U64_MAX });
    assert.equal(bytes[15], 0);
    assert.ok(bytes.subarray(29, 55).every((b) => b === 0));
    bytes.fill(0xff, 29, 55);
    bytes[15] = 0xff;
    assert.deepEqual(decodeVcpuEvents(bytes), { ...events, exceptionPayload: U64_MAX });
  });

  it('refuses fields that do not fit and names them', () => {
    assert.throws(
      () => encodeVcpuEvents({ ...events, smi: { ...events.smi, latchedInit: 256 } }),
      /kvm_vcpu_events\.smi\.latched_init 256/,
    );
    assert.throws(() => encodeVcpuEvents({ ...events, exceptionPayload: -1n }), RangeError);
  });
});
