/**
 * Byte-exact codecs for the interrupt structs a VMM passes: struct kvm_irq_level (KVM_IRQ_LINE,
 * KVM_IRQ_LINE_STATUS), struct kvm_interrupt (KVM_INTERRUPT), struct kvm_mp_state
 * (KVM_GET/SET_MP_STATE) and struct kvm_irqchip (KVM_GET/SET_IRQCHIP), from include/uapi/linux/kvm.h
 * and arch/x86/include/uapi/asm/kvm.h. Layout (little-endian, x86-64):
 *
 * - kvm_irq_level (8 bytes): irq u32 @0 (a union with __s32 status, KVM_IRQ_LINE_STATUS's
 *   output), level u32 @4.
 * - kvm_interrupt (4 bytes): irq u32 @0.
 * - kvm_mp_state (4 bytes): mp_state u32 @0.
 * - kvm_irqchip (520 bytes): chip_id u32 @0, pad u32 @4, chip @8 (a 512-byte union of
 *   struct kvm_pic_state / struct kvm_ioapic_state / char dummy[512]; 8-aligned because the
 *   IOAPIC state holds u64s). Kept as raw bytes here.
 *
 * Offsets are exported keyed by C member name (KVM_IRQ_LEVEL_OFFSETS, KVM_INTERRUPT_OFFSETS,
 * KVM_MP_STATE_OFFSETS, KVM_IRQCHIP_OFFSETS); see ioctl.ts for the scheme.
 */

import { structIn, structOut } from './struct.js';

// ---- struct kvm_mp_state values ----

/** The vCPU runs. */
export const KVM_MP_STATE_RUNNABLE = 0;
/** x86 AP waiting for INIT. */
export const KVM_MP_STATE_UNINITIALIZED = 1;
/** x86: INIT received, waiting for SIPI. */
export const KVM_MP_STATE_INIT_RECEIVED = 2;
/** HLT executed. */
export const KVM_MP_STATE_HALTED = 3;
/** x86: SIPI received. */
export const KVM_MP_STATE_SIPI_RECEIVED = 4;
/** s390/arm64/riscv: stopped. */
export const KVM_MP_STATE_STOPPED = 5;
/** s390: check-stop. */
export const KVM_MP_STATE_CHECK_STOP = 6;
/** s390: operating. */
export const KVM_MP_STATE_OPERATING = 7;
/** s390: load state. */
export const KVM_MP_STATE_LOAD = 8;
/** x86 SEV-ES: AP reset hold (the AP executed the AP-reset-hold VMGEXIT and waits for a SIPI). */
export const KVM_MP_STATE_AP_RESET_HOLD = 9;
/** arm64: suspended, waiting for a wakeup event (KVM_CAP_ARM_SYSTEM_SUSPEND). */
export const KVM_MP_STATE_SUSPENDED = 10;

const MP_STATE_NAMES: readonly string[] = [
  'KVM_MP_STATE_RUNNABLE',
  'KVM_MP_STATE_UNINITIALIZED',
  'KVM_MP_STATE_INIT_RECEIVED',
  'KVM_MP_STATE_HALTED',
  'KVM_MP_STATE_SIPI_RECEIVED',
  'KVM_MP_STATE_STOPPED',
  'KVM_MP_STATE_CHECK_STOP',
  'KVM_MP_STATE_OPERATING',
  'KVM_MP_STATE_LOAD',
  'KVM_MP_STATE_AP_RESET_HOLD',
  'KVM_MP_STATE_SUSPENDED',
];

/** Printable name of an mp_state, or "KVM_MP_STATE_#<n>". */
export function kvmMpStateName(n: number): string {
  return (Number.isInteger(n) && MP_STATE_NAMES[n]) || `KVM_MP_STATE_#${n}`;
}

// ---- kvm_irqchip chip ids ----

/** kvm_irqchip.chip_id: the master 8259 PIC. */
export const KVM_IRQCHIP_PIC_MASTER = 0;
/** kvm_irqchip.chip_id: the slave 8259 PIC. */
export const KVM_IRQCHIP_PIC_SLAVE = 1;
/** kvm_irqchip.chip_id: the IOAPIC. */
export const KVM_IRQCHIP_IOAPIC = 2;
/** Number of in-kernel irqchips on x86. */
export const KVM_NR_IRQCHIPS = 3;

// ---- structs ----

/** sizeof(struct kvm_irq_level). */
export const KVM_IRQ_LEVEL_SIZE = 8;
/** sizeof(struct kvm_interrupt). */
export const KVM_INTERRUPT_SIZE = 4;
/** sizeof(struct kvm_mp_state). */
export const KVM_MP_STATE_SIZE = 4;
/** sizeof(struct kvm_irqchip). */
export const KVM_IRQCHIP_SIZE = 520;
/** Bytes of the kvm_irqchip.chip union. */
export const KVM_IRQCHIP_CHIP_BYTES = 512;

/** offsetof(struct kvm_irq_level, <member>); irq and status share their bytes. */
export const KVM_IRQ_LEVEL_OFFSETS = { irq: 0, status: 0, level: 4 } as const;
/** offsetof(struct kvm_interrupt, <member>). */
export const KVM_INTERRUPT_OFFSETS = { irq: 0 } as const;
/** offsetof(struct kvm_mp_state, <member>). */
export const KVM_MP_STATE_OFFSETS = { mp_state: 0 } as const;
/** offsetof(struct kvm_irqchip, <member>). */
export const KVM_IRQCHIP_OFFSETS = { chip_id: 0, pad: 4, chip: 8 } as const;

/** struct kvm_irq_level. */
export interface KvmIrqLevel {
  /** __u32 irq: the GSI (PIC 0-15, IOAPIC 0-23 on x86). */
  irq: number;
  /**
   * __s32 status: the same 4 bytes as irq, read signed; KVM_IRQ_LINE_STATUS's result (> 0 delivered,
   * 0 coalesced, < 0 masked/error). Filled by decode, ignored by encode.
   */
  status?: number;
  /** __u32 level: 1 assert, 0 deassert. */
  level: number;
}

/** struct kvm_interrupt. */
export interface KvmInterrupt {
  /** __u32 irq: the vector to inject (userspace irqchip only). */
  irq: number;
}

/** struct kvm_mp_state. */
export interface KvmMpState {
  /** __u32 mp_state: KVM_MP_STATE_*. */
  mpState: number;
}

/** struct kvm_irqchip (pad is written as 0). */
export interface KvmIrqchip {
  /** __u32 chip_id: KVM_IRQCHIP_*. */
  chipId: number;
  /** union chip: exactly 512 raw bytes (kvm_pic_state or kvm_ioapic_state at its start). */
  chip: Uint8Array;
}

/** Encodes struct kvm_irq_level (8 bytes) into `dst` at offset 0 (default: a fresh buffer); `status` is ignored. */
export function encodeIrqLevel(value: KvmIrqLevel, dst?: Uint8Array): Uint8Array {
  const { bytes, w } = structOut(dst, KVM_IRQ_LEVEL_SIZE, 'kvm_irq_level');
  w.u32(KVM_IRQ_LEVEL_OFFSETS.irq, 'irq', value.irq);
  w.u32(KVM_IRQ_LEVEL_OFFSETS.level, 'level', value.level);
  return bytes;
}

/** Decodes struct kvm_irq_level (irq and its signed alias status) from the first 8 bytes; RangeError when fewer. */
export function decodeIrqLevel(bytes: Uint8Array): KvmIrqLevel {
  const r = structIn(bytes, KVM_IRQ_LEVEL_SIZE, 'kvm_irq_level');
  return {
    irq: r.u32(KVM_IRQ_LEVEL_OFFSETS.irq),
    status: r.s32(KVM_IRQ_LEVEL_OFFSETS.status),
    level: r.u32(KVM_IRQ_LEVEL_OFFSETS.level),
  };
}

/** Encodes struct kvm_interrupt (4 bytes) into `dst` at offset 0 (default: a fresh buffer). */
export function encodeInterrupt(value: KvmInterrupt, dst?: Uint8Array): Uint8Array {
  const { bytes, w } = structOut(dst, KVM_INTERRUPT_SIZE, 'kvm_interrupt');
  w.u32(KVM_INTERRUPT_OFFSETS.irq, 'irq', value.irq);
  return bytes;
}

/** Decodes struct kvm_interrupt from the first 4 bytes; RangeError when fewer are given. */
export function decodeInterrupt(bytes: Uint8Array): KvmInterrupt {
  return { irq: structIn(bytes, KVM_INTERRUPT_SIZE, 'kvm_interrupt').u32(KVM_INTERRUPT_OFFSETS.irq) };
}

/** Encodes struct kvm_mp_state (4 bytes) into `dst` at offset 0 (default: a fresh buffer). */
export function encodeMpState(value: KvmMpState, dst?: Uint8Array): Uint8Array {
  const { bytes, w } = structOut(dst, KVM_MP_STATE_SIZE, 'kvm_mp_state');
  w.u32(KVM_MP_STATE_OFFSETS.mp_state, 'mp_state', value.mpState);
  return bytes;
}

/** Decodes struct kvm_mp_state from the first 4 bytes; RangeError when fewer are given. */
export function decodeMpState(bytes: Uint8Array): KvmMpState {
  return { mpState: structIn(bytes, KVM_MP_STATE_SIZE, 'kvm_mp_state').u32(KVM_MP_STATE_OFFSETS.mp_state) };
}

/**
 * Encodes struct kvm_irqchip (520 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns
 * it. RangeError when `chip` is not 512 bytes.
 */
export function encodeIrqchip(value: KvmIrqchip, dst?: Uint8Array): Uint8Array {
  const { bytes, w } = structOut(dst, KVM_IRQCHIP_SIZE, 'kvm_irqchip');
  w.u32(KVM_IRQCHIP_OFFSETS.chip_id, 'chip_id', value.chipId);
  w.bytes(KVM_IRQCHIP_OFFSETS.chip, 'chip', value.chip, KVM_IRQCHIP_CHIP_BYTES);
  return bytes;
}

/** Decodes struct kvm_irqchip from the first 520 bytes (chip copied); RangeError when fewer are given. */
export function decodeIrqchip(bytes: Uint8Array): KvmIrqchip {
  const r = structIn(bytes, KVM_IRQCHIP_SIZE, 'kvm_irqchip');
  return {
    chipId: r.u32(KVM_IRQCHIP_OFFSETS.chip_id),
    chip: r.bytes(KVM_IRQCHIP_OFFSETS.chip, KVM_IRQCHIP_CHIP_BYTES),
  };
}
