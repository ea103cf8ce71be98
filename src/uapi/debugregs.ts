/**
 * Byte-exact codec for struct kvm_debugregs (KVM_GET_DEBUGREGS / KVM_SET_DEBUGREGS), from
 * arch/x86/include/uapi/asm/kvm.h. Layout (little-endian, x86-64): db[4] u64 @0, dr6 u64 @32,
 * dr7 u64 @40, flags u64 @48, reserved[9] u64 @56; 128 bytes.
 *
 * Offsets are exported keyed by C member name (KVM_DEBUGREGS_OFFSETS); see ioctl.ts for the scheme.
 */

import { structIn, structOut } from './struct.js';

/** sizeof(struct kvm_debugregs). */
export const KVM_DEBUGREGS_SIZE = 128;

/** offsetof(struct kvm_debugregs, <member>). */
export const KVM_DEBUGREGS_OFFSETS = { db: 0, dr6: 32, dr7: 40, flags: 48, reserved: 56 } as const;

/** struct kvm_debugregs: the debug registers (reserved is written as 0). */
export interface KvmDebugregs {
  /** __u64 db[4]: DR0-DR3, exactly 4 entries. */
  db: bigint[];
  /** __u64 dr6. */
  dr6: bigint;
  /** __u64 dr7. */
  dr7: bigint;
  /** __u64 flags: none defined; KVM_SET_DEBUGREGS refuses anything but 0 with EINVAL. */
  flags: bigint;
}

/** Encodes struct kvm_debugregs (128 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeDebugregs(value: KvmDebugregs, dst?: Uint8Array): Uint8Array {
  const O = KVM_DEBUGREGS_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_DEBUGREGS_SIZE, 'kvm_debugregs');
  w.u64s(O.db, 'db', value.db, 4);
  w.u64(O.dr6, 'dr6', value.dr6);
  w.u64(O.dr7, 'dr7', value.dr7);
  w.u64(O.flags, 'flags', value.flags);
  return bytes;
}

/** Decodes struct kvm_debugregs from the first 128 bytes; RangeError when fewer are given. */
export function decodeDebugregs(bytes: Uint8Array): KvmDebugregs {
  const O = KVM_DEBUGREGS_OFFSETS;
  const r = structIn(bytes, KVM_DEBUGREGS_SIZE, 'kvm_debugregs');
  return { db: r.u64s(O.db, 4), dr6: r.u64(O.dr6), dr7: r.u64(O.dr7), flags: r.u64(O.flags) };
}
