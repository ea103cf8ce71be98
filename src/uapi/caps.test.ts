import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
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
  KVM_COALESCED_MMIO_PAGE_OFFSET,
  KVM_DIRTY_LOG_PAGE_OFFSET,
  KVM_PIO_PAGE_OFFSET,
  KVM_X86_DEFAULT_VM,
  KVM_X86_SEV_ES_VM,
  KVM_X86_SEV_VM,
  KVM_X86_SNP_VM,
  KVM_X86_SW_PROTECTED_VM,
  KVM_X86_TDX_VM,
  kvmCapName,
  kvmVmTypeName,
} from './caps.js';

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
