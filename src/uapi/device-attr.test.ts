import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeDeviceAttr,
  encodeDeviceAttr,
  KVM_DEVICE_ATTR_SIZE,
  KVM_X86_GRP_SEV,
  KVM_X86_GRP_SYSTEM,
  KVM_X86_SEV_VMSA_FEATURES,
  KVM_X86_XCOMP_GUEST_SUPP,
} from './device-attr.js';
import { checkCodec, image, U32_MAX, U64_MAX, U64_TOP } from './test-util.js';

describe('struct kvm_device_attr', () => {
  it('encodes to the hand-built image and decodes it back', () => {
    assert.equal(KVM_DEVICE_ATTR_SIZE, 24);
    assert.deepEqual(
      [KVM_X86_GRP_SYSTEM, KVM_X86_XCOMP_GUEST_SUPP, KVM_X86_GRP_SEV, KVM_X86_SEV_VMSA_FEATURES],
      [0, 0, 1, 0],
    );
    const v = { flags: U32_MAX, group: KVM_X86_GRP_SEV, attr: U64_TOP, addr: U64_MAX };
    const bytes = image(24, [
      [0, 'u32', U32_MAX],
      [4, 'u32', 1],
      [8, 'u64', U64_TOP],
      [16, 'u64', U64_MAX],
    ]);
    assert.deepEqual(encodeDeviceAttr(v), bytes);
    assert.deepEqual(decodeDeviceAttr(bytes), v);
    checkCodec({ value: v, size: 24, encode: encodeDeviceAttr, decode: decodeDeviceAttr });
    assert.throws(() => encodeDeviceAttr({ ...v, group: 2 ** 32 }), /kvm_device_attr\.group/);
  });
});
