import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KVM_DEVICE_ATTR_SIZE } from './device-attr.js';
import * as ioctl from './ioctl.js';
import {
  _IO,
  _IOC,
  _IOC_DIR,
  _IOC_NR,
  _IOC_READ,
  _IOC_SIZE,
  _IOC_TYPE,
  _IOC_WRITE,
  _IOR,
  _IOW,
  _IOWR,
  KVM_CHECK_EXTENSION,
  KVM_CREATE_GUEST_MEMFD,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_ENABLE_CAP,
  KVM_GET_API_VERSION,
  KVM_GET_DEBUGREGS,
  KVM_GET_DEVICE_ATTR,
  KVM_GET_DIRTY_LOG,
  KVM_GET_IRQCHIP,
  KVM_GET_LAPIC,
  KVM_GET_MSRS,
  KVM_GET_NR_MMU_PAGES,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_SUPPORTED_CPUID,
  KVM_GET_TSC_KHZ,
  KVM_GET_VCPU_EVENTS,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_GET_XSAVE,
  KVM_GET_XSAVE2,
  KVM_HAS_DEVICE_ATTR,
  KVM_IOCTLS,
  KVM_MEMORY_ENCRYPT_OP,
  KVM_MEMORY_ENCRYPT_REG_REGION,
  KVM_RUN,
  KVM_SET_CPUID2,
  KVM_SET_DEBUGREGS,
  KVM_SET_IRQCHIP,
  KVM_SET_MEMORY_ATTRIBUTES,
  KVM_SET_MSRS,
  KVM_SET_NR_MMU_PAGES,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SET_TSC_KHZ,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SET_USER_MEMORY_REGION2,
  KVM_SET_VCPU_EVENTS,
  KVM_SET_XCRS,
  KVM_X86_SET_MSR_FILTER,
  KVMIO,
  kvmIoctlName,
} from './ioctl.js';
import { KVM_IRQCHIP_SIZE } from './irq.js';
import { KVM_LAPIC_STATE_SIZE } from './lapic.js';
import { KVM_MSR_FILTER_SIZE } from './msr-filter.js';
import { KVM_MSRS_SIZE } from './msrs.js';
import { KVM_SREGS_SIZE } from './sregs.js';
import { KVM_VCPU_EVENTS_SIZE } from './vcpu-events.js';
import { KVM_XCRS_SIZE } from './xsave.js';

describe('ioctl numbers', () => {
  // Spec table, kvm-uapi.md section 5 (hex typed in by hand, not computed).
  const spec: [string, number, number][] = [
    ['KVM_GET_API_VERSION', KVM_GET_API_VERSION, 0xae00],
    ['KVM_CREATE_VM', KVM_CREATE_VM, 0xae01],
    ['KVM_CHECK_EXTENSION', KVM_CHECK_EXTENSION, 0xae03],
    ['KVM_GET_VCPU_MMAP_SIZE', KVM_GET_VCPU_MMAP_SIZE, 0xae04],
    ['KVM_CREATE_VCPU', KVM_CREATE_VCPU, 0xae41],
    ['KVM_GET_DIRTY_LOG', KVM_GET_DIRTY_LOG, 0x4010ae42],
    ['KVM_SET_NR_MMU_PAGES', KVM_SET_NR_MMU_PAGES, 0xae44],
    ['KVM_GET_NR_MMU_PAGES', KVM_GET_NR_MMU_PAGES, 0xae45],
    ['KVM_GET_DEBUGREGS', KVM_GET_DEBUGREGS, 0x8080aea1],
    ['KVM_GET_XSAVE2', KVM_GET_XSAVE2, 0x9000aecf],
    ['KVM_SET_USER_MEMORY_REGION', KVM_SET_USER_MEMORY_REGION, 0x4020ae46],
    ['KVM_SET_USER_MEMORY_REGION2', KVM_SET_USER_MEMORY_REGION2, 0x40a0ae49],
    ['KVM_RUN', KVM_RUN, 0xae80],
    ['KVM_GET_REGS', KVM_GET_REGS, 0x8090ae81],
    ['KVM_SET_REGS', KVM_SET_REGS, 0x4090ae82],
    ['KVM_GET_SREGS', KVM_GET_SREGS, 0x8138ae83],
    ['KVM_SET_SREGS', KVM_SET_SREGS, 0x4138ae84],
    ['KVM_ENABLE_CAP', KVM_ENABLE_CAP, 0x4068aea3],
    // Well-known values beyond the spec table (hex by hand; layout.test.ts checks all against C).
    ['KVM_GET_SUPPORTED_CPUID', KVM_GET_SUPPORTED_CPUID, 0xc008ae05],
    ['KVM_SET_CPUID2', KVM_SET_CPUID2, 0x4008ae90],
    ['KVM_GET_MSRS', KVM_GET_MSRS, 0xc008ae88],
    ['KVM_SET_MSRS', KVM_SET_MSRS, 0x4008ae89],
    ['KVM_GET_LAPIC', KVM_GET_LAPIC, 0x8400ae8e],
    ['KVM_GET_XSAVE', KVM_GET_XSAVE, 0x9000aea4],
    ['KVM_GET_VCPU_EVENTS', KVM_GET_VCPU_EVENTS, 0x8040ae9f],
    ['KVM_SET_IRQCHIP', KVM_SET_IRQCHIP, 0x8208ae63],
    ['KVM_MEMORY_ENCRYPT_OP', KVM_MEMORY_ENCRYPT_OP, 0xc008aeba],
    ['KVM_X86_SET_MSR_FILTER', KVM_X86_SET_MSR_FILTER, 0x4188aec6],
    ['KVM_SET_MEMORY_ATTRIBUTES', KVM_SET_MEMORY_ATTRIBUTES, 0x4020aed2],
    ['KVM_CREATE_GUEST_MEMFD', KVM_CREATE_GUEST_MEMFD, 0xc040aed4],
    ['KVM_GET_TSC_KHZ', KVM_GET_TSC_KHZ, 0xaea3],
  ];

  for (const [name, value, hex] of spec) {
    it(`${name} = 0x${hex.toString(16)}`, () => {
      assert.equal(value, hex);
      assert.equal(kvmIoctlName(value), name);
    });
  }

  it('are distinct', () => {
    assert.equal(new Set(spec.map(([, v]) => v)).size, spec.length);
    const all = Object.values(KVM_IOCTLS);
    assert.equal(new Set(all).size, all.length);
  });

  it('KVM_IOCTLS lists every exported KVM_* number under its own name, and names them all', () => {
    const exported = Object.entries(ioctl).filter(
      ([name, v]) => /^KVM_[A-Z0-9_]+$/.test(name) && name !== 'KVM_IOCTLS' && typeof v === 'number',
    );
    assert.deepEqual(new Map(exported), new Map(Object.entries(KVM_IOCTLS)));
    for (const [name, cmd] of Object.entries(KVM_IOCTLS)) {
      assert.equal(_IOC_TYPE(cmd), KVMIO, name);
      assert.equal(kvmIoctlName(cmd), name);
    }
  });

  it('carry the struct sizes of their arguments', () => {
    const sized: [number, number][] = [
      [KVM_GET_SREGS, KVM_SREGS_SIZE],
      [KVM_SET_VCPU_EVENTS, KVM_VCPU_EVENTS_SIZE],
      [KVM_SET_XCRS, KVM_XCRS_SIZE],
      [KVM_GET_LAPIC, KVM_LAPIC_STATE_SIZE],
      [KVM_GET_MSRS, KVM_MSRS_SIZE],
      [KVM_GET_IRQCHIP, KVM_IRQCHIP_SIZE],
      [KVM_X86_SET_MSR_FILTER, KVM_MSR_FILTER_SIZE],
      [KVM_HAS_DEVICE_ATTR, KVM_DEVICE_ATTR_SIZE],
    ];
    for (const [cmd, size] of sized) assert.equal(_IOC_SIZE(cmd), size, kvmIoctlName(cmd));
  });

  it('keep the header quirks: directions and sizes as declared, not as used', () => {
    assert.equal(_IOC_DIR(KVM_SET_IRQCHIP), _IOC_READ);
    assert.equal(_IOC_DIR(KVM_GET_DEVICE_ATTR), _IOC_WRITE);
    assert.equal(_IOC_DIR(KVM_MEMORY_ENCRYPT_REG_REGION), _IOC_READ);
    assert.equal(_IOC_SIZE(KVM_MEMORY_ENCRYPT_OP), 8);
    assert.equal(_IOC_NR(KVM_SET_TSC_KHZ), _IOC_NR(KVM_SET_DEBUGREGS));
    assert.notEqual(KVM_SET_TSC_KHZ, KVM_SET_DEBUGREGS);
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
    // KVM_CREATE_PIT2 (_IOW 0x77, struct kvm_pit_config) is a real ioctl sevbox does not list.
    assert.equal(kvmIoctlName(0x4040ae77), 'ioctl 0x4040ae77');
  });
});
