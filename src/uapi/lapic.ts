/**
 * Byte-exact codec for struct kvm_lapic_state (KVM_GET_LAPIC / KVM_SET_LAPIC), from
 * arch/x86/include/uapi/asm/kvm.h, and the local APIC register offsets KVM reads in it (the xAPIC
 * MMIO page layout of arch/x86/include/asm/apicdef.h, which is not uapi). Layout: regs[1024] @0;
 * 1024 bytes. Every register is a little-endian u32 at a 16-byte aligned offset; the 256-bit ISR,
 * TMR and IRR are eight such words at stride 0x10 (vector v in word v / 32, bit v % 32).
 *
 * In xAPIC mode APIC_ID holds the id in bits 31:24. In x2APIC mode KVM's format depends on
 * KVM_CAP_X2APIC_API (with KVM_X2APIC_API_USE_32BIT_IDS the full 32-bit id, else bits 31:24), and
 * ICR is one 64-bit value split over APIC_ICR (low) and APIC_ICR2 (high).
 *
 * Offsets are exported keyed by C member name (KVM_LAPIC_STATE_OFFSETS); see ioctl.ts for the scheme.
 */

import { structIn, structOut, structView } from './struct.js';

/** Bytes of kvm_lapic_state.regs (KVM_APIC_REG_SIZE). */
export const KVM_APIC_REG_SIZE = 0x400;
/** sizeof(struct kvm_lapic_state). */
export const KVM_LAPIC_STATE_SIZE = 1024;
/** offsetof(struct kvm_lapic_state, <member>). */
export const KVM_LAPIC_STATE_OFFSETS = { regs: 0 } as const;

/** Local APIC ID. */
export const APIC_ID = 0x20;
/** Version (bits 7:0) and max LVT entry (bits 23:16). */
export const APIC_LVR = 0x30;
/** Task priority. */
export const APIC_TASKPRI = 0x80;
/** End of interrupt (write-only). */
export const APIC_EOI = 0xb0;
/** Logical destination. */
export const APIC_LDR = 0xd0;
/** Destination format (xAPIC only). */
export const APIC_DFR = 0xe0;
/** Spurious interrupt vector; bit 8 enables the APIC in software. */
export const APIC_SPIV = 0xf0;
/** In-service register, 8 words of 32 bits at stride 0x10. */
export const APIC_ISR = 0x100;
/** Trigger mode register, 8 words at stride 0x10. */
export const APIC_TMR = 0x180;
/** Interrupt request register, 8 words at stride 0x10. */
export const APIC_IRR = 0x200;
/** Error status. */
export const APIC_ESR = 0x280;
/** Interrupt command, low 32 bits. */
export const APIC_ICR = 0x300;
/** Interrupt command, high 32 bits (destination in xAPIC mode). */
export const APIC_ICR2 = 0x310;
/** LVT timer. */
export const APIC_LVTT = 0x320;
/** LVT LINT0. */
export const APIC_LVT0 = 0x350;
/** LVT LINT1. */
export const APIC_LVT1 = 0x360;
/** LVT error. */
export const APIC_LVTERR = 0x370;
/** Timer initial count. */
export const APIC_TMICT = 0x380;
/** Timer current count. */
export const APIC_TMCCT = 0x390;
/** Timer divide configuration. */
export const APIC_TDCR = 0x3e0;

/** struct kvm_lapic_state: the APIC register page. */
export interface KvmLapicState {
  /** char regs[1024]: exactly 1024 bytes; registers are u32 at the APIC_* offsets. */
  regs: Uint8Array;
}

/**
 * Encodes struct kvm_lapic_state (1024 bytes) into `dst` at offset 0 (default: a fresh buffer) and
 * returns it. RangeError when `regs` is not 1024 bytes.
 */
export function encodeLapicState(value: KvmLapicState, dst?: Uint8Array): Uint8Array {
  const { bytes, w } = structOut(dst, KVM_LAPIC_STATE_SIZE, 'kvm_lapic_state');
  w.bytes(KVM_LAPIC_STATE_OFFSETS.regs, 'regs', value.regs, KVM_APIC_REG_SIZE);
  return bytes;
}

/** Decodes struct kvm_lapic_state from the first 1024 bytes (copied); RangeError when fewer are given. */
export function decodeLapicState(bytes: Uint8Array): KvmLapicState {
  return {
    regs: structIn(bytes, KVM_LAPIC_STATE_SIZE, 'kvm_lapic_state').bytes(
      KVM_LAPIC_STATE_OFFSETS.regs,
      KVM_APIC_REG_SIZE,
    ),
  };
}

function regOffset(reg: number): number {
  if (!Number.isInteger(reg) || reg < 0 || reg > KVM_APIC_REG_SIZE - 4 || reg % 16 !== 0) {
    throw new RangeError(`APIC register offset 0x${reg.toString(16)} is not a register`);
  }
  return reg;
}

/** The u32 APIC register at offset `reg` (an APIC_* constant) of a regs page. */
export function lapicReg(regs: Uint8Array, reg: number): number {
  return structView(regs, KVM_APIC_REG_SIZE, 'kvm_lapic_state').getUint32(regOffset(reg), true);
}

/** Sets the u32 APIC register at offset `reg` of a regs page. */
export function setLapicReg(regs: Uint8Array, reg: number, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`APIC register value ${value} is not a u32`);
  }
  structView(regs, KVM_APIC_REG_SIZE, 'kvm_lapic_state').setUint32(regOffset(reg), value, true);
}

/** Bit `vector` of a 256-bit APIC register (APIC_ISR, APIC_TMR or APIC_IRR). */
export function lapicVectorBit(regs: Uint8Array, base: number, vector: number): boolean {
  if (!Number.isInteger(vector) || vector < 0 || vector > 255) throw new RangeError(`vector ${vector}`);
  return ((lapicReg(regs, base + 0x10 * (vector >>> 5)) >>> (vector & 31)) & 1) === 1;
}
