import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  _IO,
  _IOC,
  _IOC_DIR,
  _IOC_NR,
  _IOC_SIZE,
  _IOC_TYPE,
  _IOR,
  _IOW,
  _IOWR,
  KVM_CHECK_EXTENSION,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_ENABLE_CAP,
  KVM_GET_API_VERSION,
  KVM_GET_DIRTY_LOG,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_RUN,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SET_USER_MEMORY_REGION2,
  kvmIoctlName,
} from './ioctl.js';

describe('ioctl numbers', () => {
  // Spec table, kvm-uapi.md section 5 (hex typed in by hand, not computed).
  const spec: [string, number, number][] = [
    ['KVM_GET_API_VERSION', KVM_GET_API_VERSION, 0xae00],
    ['KVM_CREATE_VM', KVM_CREATE_VM, 0xae01],
    ['KVM_CHECK_EXTENSION', KVM_CHECK_EXTENSION, 0xae03],
    ['KVM_GET_VCPU_MMAP_SIZE', KVM_GET_VCPU_MMAP_SIZE, 0xae04],
    ['KVM_CREATE_VCPU', KVM_CREATE_VCPU, 0xae41],
    ['KVM_GET_DIRTY_LOG', KVM_GET_DIRTY_LOG, 0x4010ae42],
    ['KVM_SET_USER_MEMORY_REGION', KVM_SET_USER_MEMORY_REGION, 0x4020ae46],
    ['KVM_SET_USER_MEMORY_REGION2', KVM_SET_USER_MEMORY_REGION2, 0x40a0ae49],
    ['KVM_RUN', KVM_RUN, 0xae80],
    ['KVM_GET_REGS', KVM_GET_REGS, 0x8090ae81],
    ['KVM_SET_REGS', KVM_SET_REGS, 0x4090ae82],
    ['KVM_GET_SREGS', KVM_GET_SREGS, 0x8138ae83],
    ['KVM_SET_SREGS', KVM_SET_SREGS, 0x4138ae84],
    ['KVM_ENABLE_CAP', KVM_ENABLE_CAP, 0x4068aea3],
  ];

  for (const [name, value, hex] of spec) {
    it(`${name} = 0x${hex.toString(16)}`, () => {
      assert.equal(value, hex);
      assert.equal(kvmIoctlName(value), name);
    });
  }

  it('are distinct', () => {
    assert.equal(new Set(spec.map(([, v]) => v)).size, spec.length);
  });

  it('decode back into their fields', () => {
    assert.equal(_IOC_DIR(KVM_GET_SREGS), 2);
    assert.equal(_IOC_TYPE(KVM_GET_SREGS), 0xae);
    assert.equal(_IOC_NR(KVM_GET_SREGS), 0x83);
    assert.equal(_IOC_SIZE(KVM_GET_SREGS), 312);
    assert.equal(_IOC_DIR(KVM_SET_USER_MEMORY_REGION2), 1);
    assert.equal(_IOC_SIZE(KVM_SET_USER_MEMORY_REGION2), 160);
    assert.equal(_IOC_DIR(KVM_RUN), 0);
  });

  it('encode like asm-generic/ioctl.h', () => {
    assert.equal(_IOWR(0xae, 0x05, 8), 0xc008ae05);
    assert.equal(_IOC(3, 0xff, 0xff, 0x3fff), 0xffffffff);
    assert.equal(_IOR(0xae, 0, 0), 0x8000ae00);
    assert.equal(_IOW(0xae, 0, 0), 0x4000ae00);
    assert.equal(_IO(0xae, 0xff), 0xaeff);
    assert.throws(() => _IOW(0xae, 0x42, 0x4000), RangeError);
    assert.throws(() => _IO(0x100, 0), RangeError);
    assert.throws(() => _IO(0xae, -1), RangeError);
  });

  it('print unknown requests in hex', () => {
    assert.equal(kvmIoctlName(0xc008ae05), 'ioctl 0xc008ae05');
  });
});
