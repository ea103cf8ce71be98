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
  KVM_API_VERSION,
  KVM_CAP_DIRTY_LOG_RING,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_CAP_GUEST_MEMFD,
  KVM_CAP_IMMEDIATE_EXIT,
  KVM_CAP_MEMORY_ATTRIBUTES,
  KVM_CAP_MEMORY_FAULT_INFO,
  KVM_CAP_NR_MEMSLOTS,
  KVM_CAP_READONLY_MEM,
  KVM_CAP_SYNC_MMU,
  KVM_CAP_USER_MEMORY,
  KVM_CAP_USER_MEMORY2,
  KVM_CAP_VM_TYPES,
  KVM_CAP_X86_SMM,
  KVM_CAP_X86_USER_SPACE_MSR,
  KVM_CHECK_EXTENSION,
  KVM_COALESCED_MMIO_PAGE_OFFSET,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_DIRTY_LOG_PAGE_OFFSET,
  KVM_ENABLE_CAP,
  KVM_GET_API_VERSION,
  KVM_GET_DIRTY_LOG,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_PIO_PAGE_OFFSET,
  KVM_RUN,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SET_USER_MEMORY_REGION2,
  KVM_X86_DEFAULT_VM,
  KVM_X86_SEV_ES_VM,
  KVM_X86_SEV_VM,
  KVM_X86_SNP_VM,
  KVM_X86_SW_PROTECTED_VM,
  KVM_X86_TDX_VM,
  kvmCapName,
  kvmIoctlName,
  kvmVmTypeName,
} from './caps.js';

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

describe('capabilities', () => {
  it('have the kvm.h values', () => {
    assert.equal(KVM_API_VERSION, 12);
    assert.equal(KVM_CAP_USER_MEMORY, 3);
    assert.equal(KVM_CAP_NR_MEMSLOTS, 10);
    assert.equal(KVM_CAP_SYNC_MMU, 16);
    assert.equal(KVM_CAP_READONLY_MEM, 81);
    assert.equal(KVM_CAP_X86_SMM, 117);
    assert.equal(KVM_CAP_IMMEDIATE_EXIT, 136);
    assert.equal(KVM_CAP_X86_USER_SPACE_MSR, 188);
    assert.equal(KVM_CAP_DIRTY_LOG_RING, 192);
    assert.equal(KVM_CAP_EXIT_HYPERCALL, 201);
    assert.equal(KVM_CAP_USER_MEMORY2, 231);
    assert.equal(KVM_CAP_MEMORY_FAULT_INFO, 232);
    assert.equal(KVM_CAP_MEMORY_ATTRIBUTES, 233);
    assert.equal(KVM_CAP_GUEST_MEMFD, 234);
    assert.equal(KVM_CAP_VM_TYPES, 235);
  });

  it('have names', () => {
    assert.equal(kvmCapName(232), 'KVM_CAP_MEMORY_FAULT_INFO');
    assert.equal(kvmCapName(117), 'KVM_CAP_X86_SMM');
    assert.equal(kvmCapName(999), 'KVM_CAP_#999');
  });
});

describe('VM types and mmap offsets', () => {
  it('have the asm/kvm.h values', () => {
    assert.deepEqual(
      [
        KVM_X86_DEFAULT_VM,
        KVM_X86_SW_PROTECTED_VM,
        KVM_X86_SEV_VM,
        KVM_X86_SEV_ES_VM,
        KVM_X86_SNP_VM,
        KVM_X86_TDX_VM,
      ],
      [0, 1, 2, 3, 4, 5],
    );
    assert.equal(kvmVmTypeName(3), 'KVM_X86_SEV_ES_VM');
    assert.equal(kvmVmTypeName(6), 'KVM_X86_VM_#6');
    assert.equal(KVM_PIO_PAGE_OFFSET, 1);
    assert.equal(KVM_COALESCED_MMIO_PAGE_OFFSET, 2);
    assert.equal(KVM_DIRTY_LOG_PAGE_OFFSET, 64);
  });
});
