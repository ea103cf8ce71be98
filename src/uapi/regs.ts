/**
 * Byte-exact codec for struct kvm_regs (KVM_GET_REGS / KVM_SET_REGS), from
 * arch/x86/include/uapi/asm/kvm.h. Layout (little-endian, x86-64): eighteen u64s in the order rax,
 * rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8..r15, rip, rflags at offsets 0, 8, ..., 136; 144 bytes.
 *
 * Offsets are exported as KVM_REGS_OFFSETS, keyed by the C member name (the scheme every codec in
 * src/uapi follows; see ioctl.ts), and the codec reads and writes through that table.
 */

import { structIn, structOut } from './struct.js';

/** sizeof(struct kvm_regs). */
export const KVM_REGS_SIZE = 144;

/** offsetof(struct kvm_regs, <member>) for every member. */
export const KVM_REGS_OFFSETS = {
  rax: 0,
  rbx: 8,
  rcx: 16,
  rdx: 24,
  rsi: 32,
  rdi: 40,
  rsp: 48,
  rbp: 56,
  r8: 64,
  r9: 72,
  r10: 80,
  r11: 88,
  r12: 96,
  r13: 104,
  r14: 112,
  r15: 120,
  rip: 128,
  rflags: 136,
} as const;

/** struct kvm_regs: the general-purpose registers, RIP and RFLAGS. */
export interface KvmRegs {
  /** __u64 rax. */
  rax: bigint;
  /** __u64 rbx. */
  rbx: bigint;
  /** __u64 rcx. */
  rcx: bigint;
  /** __u64 rdx. */
  rdx: bigint;
  /** __u64 rsi. */
  rsi: bigint;
  /** __u64 rdi. */
  rdi: bigint;
  /** __u64 rsp. */
  rsp: bigint;
  /** __u64 rbp. */
  rbp: bigint;
  /** __u64 r8. */
  r8: bigint;
  /** __u64 r9. */
  r9: bigint;
  /** __u64 r10. */
  r10: bigint;
  /** __u64 r11. */
  r11: bigint;
  /** __u64 r12. */
  r12: bigint;
  /** __u64 r13. */
  r13: bigint;
  /** __u64 r14. */
  r14: bigint;
  /** __u64 r15. */
  r15: bigint;
  /** __u64 rip. */
  rip: bigint;
  /** __u64 rflags. */
  rflags: bigint;
}

const REGS = Object.keys(KVM_REGS_OFFSETS) as (keyof KvmRegs)[];

/** Encodes struct kvm_regs (144 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeRegs(value: KvmRegs, dst?: Uint8Array): Uint8Array {
  const { bytes, w } = structOut(dst, KVM_REGS_SIZE, 'kvm_regs');
  for (const r of REGS) w.u64(KVM_REGS_OFFSETS[r], r, value[r]);
  return bytes;
}

/** Decodes struct kvm_regs from the first 144 bytes; RangeError when fewer are given. */
export function decodeRegs(bytes: Uint8Array): KvmRegs {
  const r = structIn(bytes, KVM_REGS_SIZE, 'kvm_regs');
  const out = {} as KvmRegs;
  for (const k of REGS) out[k] = r.u64(KVM_REGS_OFFSETS[k]);
  return out;
}

/**
 * The general-purpose registers of a vCPU about to enter machine code: RIP and RSP as given,
 * RFLAGS = 2 (the reserved bit 1), every other register 0.
 */
export function entryRegs(rip: bigint, rsp: bigint): KvmRegs {
  return {
    rax: 0n,
    rbx: 0n,
    rcx: 0n,
    rdx: 0n,
    rsi: 0n,
    rdi: 0n,
    rsp,
    rbp: 0n,
    r8: 0n,
    r9: 0n,
    r10: 0n,
    r11: 0n,
    r12: 0n,
    r13: 0n,
    r14: 0n,
    r15: 0n,
    rip,
    rflags: 2n,
  };
}
