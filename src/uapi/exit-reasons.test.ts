import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as exits from './exit-reasons.js';
import {
  internalErrorSuberrorName,
  KVM_EXIT_AP_RESET_HOLD,
  KVM_EXIT_HYPERCALL,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_IN,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_MEMORY_FAULT,
  KVM_EXIT_MMIO,
  KVM_EXIT_SHUTDOWN,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_EXIT_TDX,
  KVM_EXIT_UNKNOWN,
  KVM_EXIT_X86_RDMSR,
  KVM_EXIT_X86_WRMSR,
  KVM_INTERNAL_ERROR_DELIVERY_EV,
  KVM_INTERNAL_ERROR_EMULATION,
  KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES,
  KVM_INTERNAL_ERROR_SIMUL_EX,
  KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
  KVM_MEMORY_EXIT_FLAG_PRIVATE,
  KVM_MSR_EXIT_REASON_FILTER,
  KVM_MSR_EXIT_REASON_INVAL,
  KVM_MSR_EXIT_REASON_UNKNOWN,
  KVM_SYSTEM_EVENT_CRASH,
  KVM_SYSTEM_EVENT_RESET,
  KVM_SYSTEM_EVENT_SEV_TERM,
  KVM_SYSTEM_EVENT_SHUTDOWN,
  KVM_SYSTEM_EVENT_SUSPEND,
  KVM_SYSTEM_EVENT_TDX_FATAL,
  KVM_SYSTEM_EVENT_WAKEUP,
  kvmExitReasonName,
  systemEventTypeName,
} from './exit-reasons.js';

describe('exit reasons', () => {
  it('have the values of include/uapi/linux/kvm.h', () => {
    assert.equal(KVM_EXIT_UNKNOWN, 0);
    assert.equal(KVM_EXIT_IO, 2);
    assert.equal(KVM_EXIT_HYPERCALL, 3);
    assert.equal(KVM_EXIT_MMIO, 6);
    assert.equal(KVM_EXIT_SHUTDOWN, 8);
    assert.equal(KVM_EXIT_INTR, 10);
    assert.equal(KVM_EXIT_INTERNAL_ERROR, 17);
    assert.equal(KVM_EXIT_SYSTEM_EVENT, 24);
    assert.equal(KVM_EXIT_X86_RDMSR, 29);
    assert.equal(KVM_EXIT_X86_WRMSR, 30);
    assert.equal(KVM_EXIT_AP_RESET_HOLD, 32);
    assert.equal(KVM_EXIT_MEMORY_FAULT, 39);
    assert.equal(KVM_EXIT_TDX, 40);
    assert.equal(KVM_EXIT_IO_IN, 0);
    assert.equal(KVM_EXIT_IO_OUT, 1);
  });

  it('cover 0..40 exactly once, and every constant names itself', () => {
    const entries = Object.entries(exits).filter(
      ([k, v]) => /^KVM_EXIT_/.test(k) && !/^KVM_EXIT_IO_(IN|OUT)$/.test(k) && typeof v === 'number',
    );
    const values = entries.map(([, v]) => v as number).sort((a, b) => a - b);
    assert.deepEqual(
      values,
      Array.from({ length: 41 }, (_, i) => i),
    );
    for (const [name, value] of entries) assert.equal(kvmExitReasonName(value as number), name);
  });

  it('print unknown values with a #', () => {
    assert.equal(kvmExitReasonName(41), 'KVM_EXIT_#41');
    assert.equal(kvmExitReasonName(-1), 'KVM_EXIT_#-1');
    assert.equal(kvmExitReasonName(2.5), 'KVM_EXIT_#2.5');
  });
});

describe('internal errors', () => {
  it('have the kvm.h values and names', () => {
    assert.equal(KVM_INTERNAL_ERROR_EMULATION, 1);
    assert.equal(KVM_INTERNAL_ERROR_SIMUL_EX, 2);
    assert.equal(KVM_INTERNAL_ERROR_DELIVERY_EV, 3);
    assert.equal(KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON, 4);
    assert.equal(KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES, 1);
    assert.equal(internalErrorSuberrorName(4), 'KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON');
    assert.equal(internalErrorSuberrorName(0), 'KVM_INTERNAL_ERROR_#0');
    assert.equal(internalErrorSuberrorName(5), 'KVM_INTERNAL_ERROR_#5');
  });
});

describe('system events', () => {
  it('have the kvm.h values', () => {
    assert.deepEqual(
      [
        KVM_SYSTEM_EVENT_SHUTDOWN,
        KVM_SYSTEM_EVENT_RESET,
        KVM_SYSTEM_EVENT_CRASH,
        KVM_SYSTEM_EVENT_WAKEUP,
        KVM_SYSTEM_EVENT_SUSPEND,
        KVM_SYSTEM_EVENT_SEV_TERM,
        KVM_SYSTEM_EVENT_TDX_FATAL,
      ],
      [1, 2, 3, 4, 5, 6, 7],
    );
  });

  it('have names', () => {
    assert.equal(systemEventTypeName(6), 'KVM_SYSTEM_EVENT_SEV_TERM');
    assert.equal(systemEventTypeName(1), 'KVM_SYSTEM_EVENT_SHUTDOWN');
    assert.equal(systemEventTypeName(7), 'KVM_SYSTEM_EVENT_TDX_FATAL');
    assert.equal(systemEventTypeName(0), 'KVM_SYSTEM_EVENT_#0');
    assert.equal(systemEventTypeName(8), 'KVM_SYSTEM_EVENT_#8');
  });
});

describe('msr and memory-fault flags', () => {
  it('have the kvm.h values', () => {
    assert.equal(KVM_MSR_EXIT_REASON_INVAL, 1);
    assert.equal(KVM_MSR_EXIT_REASON_UNKNOWN, 2);
    assert.equal(KVM_MSR_EXIT_REASON_FILTER, 4);
    assert.equal(KVM_MEMORY_EXIT_FLAG_PRIVATE, 8n);
  });
});
