/**
 * Byte-exact codec for struct kvm_guest_debug (KVM_SET_GUEST_DEBUG), from include/uapi/linux/kvm.h
 * with the x86 struct kvm_guest_debug_arch of arch/x86/include/uapi/asm/kvm.h. Layout (little-endian,
 * x86-64): control u32 @0, pad u32 @4, arch @8 (debugreg[8] u64); 72 bytes.
 *
 * Offsets are exported keyed by C member designator (KVM_GUEST_DEBUG_OFFSETS); see ioctl.ts for the
 * scheme.
 */

import { structIn, structOut } from './struct.js';

/** control: debugging is enabled. */
export const KVM_GUESTDBG_ENABLE = 0x00000001;
/** control: single-step the guest (exit after each instruction). */
export const KVM_GUESTDBG_SINGLESTEP = 0x00000002;
/** control (x86): INT3 exits to userspace. */
export const KVM_GUESTDBG_USE_SW_BP = 0x00010000;
/** control (x86): arch.debugreg holds hardware breakpoints to use. */
export const KVM_GUESTDBG_USE_HW_BP = 0x00020000;
/** control (x86): inject #DB into the guest. */
export const KVM_GUESTDBG_INJECT_DB = 0x00040000;
/** control (x86): inject #BP into the guest. */
export const KVM_GUESTDBG_INJECT_BP = 0x00080000;
/** control (x86): block interrupts while single-stepping. */
export const KVM_GUESTDBG_BLOCKIRQ = 0x00100000;

/** sizeof(struct kvm_guest_debug). */
export const KVM_GUEST_DEBUG_SIZE = 72;

/** offsetof(struct kvm_guest_debug, <member>). */
export const KVM_GUEST_DEBUG_OFFSETS = { control: 0, pad: 4, arch: 8, 'arch.debugreg': 8 } as const;

/** struct kvm_guest_debug (pad is written as 0). */
export interface KvmGuestDebug {
  /** __u32 control: KVM_GUESTDBG_*. */
  control: number;
  /** __u64 arch.debugreg[8]: DR0-DR7 for KVM_GUESTDBG_USE_HW_BP, exactly 8 entries. */
  debugreg: bigint[];
}

/** Encodes struct kvm_guest_debug (72 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeGuestDebug(value: KvmGuestDebug, dst?: Uint8Array): Uint8Array {
  const O = KVM_GUEST_DEBUG_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_GUEST_DEBUG_SIZE, 'kvm_guest_debug');
  w.u32(O.control, 'control', value.control);
  w.u64s(O['arch.debugreg'], 'arch.debugreg', value.debugreg, 8);
  return bytes;
}

/** Decodes struct kvm_guest_debug from the first 72 bytes; RangeError when fewer are given. */
export function decodeGuestDebug(bytes: Uint8Array): KvmGuestDebug {
  const O = KVM_GUEST_DEBUG_OFFSETS;
  const r = structIn(bytes, KVM_GUEST_DEBUG_SIZE, 'kvm_guest_debug');
  return { control: r.u32(O.control), debugreg: r.u64s(O['arch.debugreg'], 8) };
}
