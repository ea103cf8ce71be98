import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeCreateGuestMemfd,
  decodeMemoryAttributes,
  encodeCreateGuestMemfd,
  encodeMemoryAttributes,
  KVM_CREATE_GUEST_MEMFD_SIZE,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  KVM_MEMORY_ATTRIBUTES_SIZE,
} from './guest-memfd.js';
import { checkCodec, image, U64_MAX, U64_TOP } from './test-util.js';

describe('struct kvm_create_guest_memfd', () => {
  it('encodes to the hand-built image (reserved zero) and decodes it back', () => {
    assert.equal(KVM_CREATE_GUEST_MEMFD_SIZE, 64);
    const v = { size: 0x4000_0000n, flags: U64_TOP };
    const bytes = image(64, [
      [0, 'u64', 0x4000_0000n],
      [8, 'u64', U64_TOP],
    ]);
    assert.deepEqual(encodeCreateGuestMemfd(v), bytes);
    assert.deepEqual(decodeCreateGuestMemfd(bytes), v);
    checkCodec({ value: v, size: 64, encode: encodeCreateGuestMemfd, decode: decodeCreateGuestMemfd });
  });
});

describe('struct kvm_memory_attributes', () => {
  it('encodes to the hand-built image and decodes it back', () => {
    assert.equal(KVM_MEMORY_ATTRIBUTES_SIZE, 32);
    assert.equal(KVM_MEMORY_ATTRIBUTE_PRIVATE, 8);
    const v = { address: 0x1_0000_0000n, size: U64_MAX, attributes: 8n, flags: U64_TOP };
    const bytes = image(32, [
      [0, 'u64', 0x1_0000_0000n],
      [8, 'u64', U64_MAX],
      [16, 'u64', 8n],
      [24, 'u64', U64_TOP],
    ]);
    assert.deepEqual(encodeMemoryAttributes(v), bytes);
    assert.deepEqual(decodeMemoryAttributes(bytes), v);
    checkCodec({ value: v, size: 32, encode: encodeMemoryAttributes, decode: decodeMemoryAttributes });
  });
});
