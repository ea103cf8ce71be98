/**
 * Byte-exact codec for struct kvm_vcpu_events (KVM_GET_VCPU_EVENTS / KVM_SET_VCPU_EVENTS), in the
 * Linux 6.12 layout of arch/x86/include/uapi/asm/kvm.h (64 bytes, little-endian, x86-64):
 *
 * - exception @0: injected u8 @0, nr u8 @1, has_error_code u8 @2, pending u8 @3, error_code u32 @4
 * - interrupt @8: injected u8 @8, nr u8 @9, soft u8 @10, shadow u8 @11
 * - nmi @12: injected u8 @12, pending u8 @13, masked u8 @14, pad u8 @15
 * - sipi_vector u32 @16, flags u32 @20
 * - smi @24: smm u8 @24, pending u8 @25, smm_inside_nmi u8 @26, latched_init u8 @27
 * - triple_fault @28: pending u8 @28
 * - reserved[26] u8 @29, exception_has_payload u8 @55, exception_payload u64 @56
 *
 * (Before triple_fault existed, reserved was 27 bytes from @28; the offsets of everything else are
 * unchanged.) KVM_SET_VCPU_EVENTS only takes nmi.pending, sipi_vector, interrupt.shadow, smi,
 * triple_fault and the exception payload when the matching KVM_VCPUEVENT_VALID_* flag is set.
 *
 * Offsets are exported keyed by C member designator (KVM_VCPU_EVENTS_OFFSETS, "exception.nr" for a
 * member of a nested struct); see ioctl.ts for the scheme.
 */

import { structIn, structOut } from './struct.js';

/** flags: nmi.pending is valid (KVM_SET_VCPU_EVENTS applies it). */
export const KVM_VCPUEVENT_VALID_NMI_PENDING = 0x00000001;
/** flags: sipi_vector is valid. */
export const KVM_VCPUEVENT_VALID_SIPI_VECTOR = 0x00000002;
/** flags: interrupt.shadow is valid. */
export const KVM_VCPUEVENT_VALID_SHADOW = 0x00000004;
/** flags: smi is valid. */
export const KVM_VCPUEVENT_VALID_SMM = 0x00000008;
/** flags: exception.pending, exception_has_payload and exception_payload are valid (KVM_CAP_EXCEPTION_PAYLOAD). */
export const KVM_VCPUEVENT_VALID_PAYLOAD = 0x00000010;
/** flags: triple_fault is valid (KVM_CAP_X86_TRIPLE_FAULT_EVENT). */
export const KVM_VCPUEVENT_VALID_TRIPLE_FAULT = 0x00000020;

/** interrupt.shadow: blocking by MOV SS / POP SS. */
export const KVM_X86_SHADOW_INT_MOV_SS = 0x01;
/** interrupt.shadow: blocking by STI. */
export const KVM_X86_SHADOW_INT_STI = 0x02;

/** sizeof(struct kvm_vcpu_events). */
export const KVM_VCPU_EVENTS_SIZE = 64;
/** Bytes of kvm_vcpu_events.reserved (6.12 layout). */
export const KVM_VCPU_EVENTS_RESERVED_BYTES = 26;

/** offsetof(struct kvm_vcpu_events, <member>), nested members as "outer.inner". */
export const KVM_VCPU_EVENTS_OFFSETS = {
  exception: 0,
  'exception.injected': 0,
  'exception.nr': 1,
  'exception.has_error_code': 2,
  'exception.pending': 3,
  'exception.error_code': 4,
  interrupt: 8,
  'interrupt.injected': 8,
  'interrupt.nr': 9,
  'interrupt.soft': 10,
  'interrupt.shadow': 11,
  nmi: 12,
  'nmi.injected': 12,
  'nmi.pending': 13,
  'nmi.masked': 14,
  'nmi.pad': 15,
  sipi_vector: 16,
  flags: 20,
  smi: 24,
  'smi.smm': 24,
  'smi.pending': 25,
  'smi.smm_inside_nmi': 26,
  'smi.latched_init': 27,
  triple_fault: 28,
  'triple_fault.pending': 28,
  reserved: 29,
  exception_has_payload: 55,
  exception_payload: 56,
} as const;

/** struct kvm_vcpu_events: pending and injected events (reserved and nmi.pad are written as 0). */
export interface KvmVcpuEvents {
  /** The exception being injected or pending. */
  exception: {
    /** __u8 exception.injected. */
    injected: number;
    /** __u8 exception.nr: the vector. */
    nr: number;
    /** __u8 exception.has_error_code. */
    hasErrorCode: number;
    /** __u8 exception.pending (with KVM_CAP_EXCEPTION_PAYLOAD; otherwise folded into injected). */
    pending: number;
    /** __u32 exception.error_code. */
    errorCode: number;
  };
  /** The external or soft interrupt being injected, and the interrupt shadow. */
  interrupt: {
    /** __u8 interrupt.injected. */
    injected: number;
    /** __u8 interrupt.nr: the vector. */
    nr: number;
    /** __u8 interrupt.soft: a software interrupt (INTn). */
    soft: number;
    /** __u8 interrupt.shadow: KVM_X86_SHADOW_INT_*. */
    shadow: number;
  };
  /** NMI state. */
  nmi: {
    /** __u8 nmi.injected. */
    injected: number;
    /** __u8 nmi.pending. */
    pending: number;
    /** __u8 nmi.masked. */
    masked: number;
  };
  /** __u32 sipi_vector. */
  sipiVector: number;
  /** __u32 flags: KVM_VCPUEVENT_VALID_*. */
  flags: number;
  /** SMM state. */
  smi: {
    /** __u8 smi.smm: the vCPU is in SMM. */
    smm: number;
    /** __u8 smi.pending. */
    pending: number;
    /** __u8 smi.smm_inside_nmi. */
    smmInsideNmi: number;
    /** __u8 smi.latched_init. */
    latchedInit: number;
  };
  /** Triple-fault state. */
  tripleFault: {
    /** __u8 triple_fault.pending. */
    pending: number;
  };
  /** __u8 exception_has_payload. */
  exceptionHasPayload: number;
  /** __u64 exception_payload: CR2 for #PF, DR6 bits for #DB. */
  exceptionPayload: bigint;
}

/** Encodes struct kvm_vcpu_events (64 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeVcpuEvents(value: KvmVcpuEvents, dst?: Uint8Array): Uint8Array {
  const O = KVM_VCPU_EVENTS_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_VCPU_EVENTS_SIZE, 'kvm_vcpu_events');
  const { exception: ex, interrupt: irq, nmi, smi } = value;
  w.u8(O['exception.injected'], 'exception.injected', ex.injected);
  w.u8(O['exception.nr'], 'exception.nr', ex.nr);
  w.u8(O['exception.has_error_code'], 'exception.has_error_code', ex.hasErrorCode);
  w.u8(O['exception.pending'], 'exception.pending', ex.pending);
  w.u32(O['exception.error_code'], 'exception.error_code', ex.errorCode);
  w.u8(O['interrupt.injected'], 'interrupt.injected', irq.injected);
  w.u8(O['interrupt.nr'], 'interrupt.nr', irq.nr);
  w.u8(O['interrupt.soft'], 'interrupt.soft', irq.soft);
  w.u8(O['interrupt.shadow'], 'interrupt.shadow', irq.shadow);
  w.u8(O['nmi.injected'], 'nmi.injected', nmi.injected);
  w.u8(O['nmi.pending'], 'nmi.pending', nmi.pending);
  w.u8(O['nmi.masked'], 'nmi.masked', nmi.masked);
  w.u32(O.sipi_vector, 'sipi_vector', value.sipiVector);
  w.u32(O.flags, 'flags', value.flags);
  w.u8(O['smi.smm'], 'smi.smm', smi.smm);
  w.u8(O['smi.pending'], 'smi.pending', smi.pending);
  w.u8(O['smi.smm_inside_nmi'], 'smi.smm_inside_nmi', smi.smmInsideNmi);
  w.u8(O['smi.latched_init'], 'smi.latched_init', smi.latchedInit);
  w.u8(O['triple_fault.pending'], 'triple_fault.pending', value.tripleFault.pending);
  w.u8(O.exception_has_payload, 'exception_has_payload', value.exceptionHasPayload);
  w.u64(O.exception_payload, 'exception_payload', value.exceptionPayload);
  return bytes;
}

/** Decodes struct kvm_vcpu_events from the first 64 bytes; RangeError when fewer are given. */
export function decodeVcpuEvents(bytes: Uint8Array): KvmVcpuEvents {
  const O = KVM_VCPU_EVENTS_OFFSETS;
  const r = structIn(bytes, KVM_VCPU_EVENTS_SIZE, 'kvm_vcpu_events');
  return {
    exception: {
      injected: r.u8(O['exception.injected']),
      nr: r.u8(O['exception.nr']),
      hasErrorCode: r.u8(O['exception.has_error_code']),
      pending: r.u8(O['exception.pending']),
      errorCode: r.u32(O['exception.error_code']),
    },
    interrupt: {
      injected: r.u8(O['interrupt.injected']),
      nr: r.u8(O['interrupt.nr']),
      soft: r.u8(O['interrupt.soft']),
      shadow: r.u8(O['interrupt.shadow']),
    },
    nmi: {
      injected: r.u8(O['nmi.injected']),
      pending: r.u8(O['nmi.pending']),
      masked: r.u8(O['nmi.masked']),
    },
    sipiVector: r.u32(O.sipi_vector),
    flags: r.u32(O.flags),
    smi: {
      smm: r.u8(O['smi.smm']),
      pending: r.u8(O['smi.pending']),
      smmInsideNmi: r.u8(O['smi.smm_inside_nmi']),
      latchedInit: r.u8(O['smi.latched_init']),
    },
    tripleFault: { pending: r.u8(O['triple_fault.pending']) },
    exceptionHasPayload: r.u8(O.exception_has_payload),
    exceptionPayload: r.u64(O.exception_payload),
  };
}
