/**
 * The general-purpose register array (KVM's vcpu->arch.regs, indexed by VCPU_REGS_*). Each 64-bit
 * register is two u32 words, low then high, so handlers that only need 32 bits (CPUID, port I/O,
 * the GHCB's halves) never touch BigInt. One representation: no other typed view aliases it.
 */

/** KVM's VCPU_REGS_* indices (arch/x86/include/asm/kvm_host.h): the x86 register encoding. */
export const VCPU_REGS_RAX = 0;
export const VCPU_REGS_RCX = 1;
export const VCPU_REGS_RDX = 2;
export const VCPU_REGS_RBX = 3;
export const VCPU_REGS_RSP = 4;
export const VCPU_REGS_RBP = 5;
export const VCPU_REGS_RSI = 6;
export const VCPU_REGS_RDI = 7;
export const VCPU_REGS_R8 = 8;
/**
 * KVM's cached RIP. An unprotected guest's RIP is the save area's (KVM reads and writes it there);
 * for a protected one this slot is all KVM has: 0xfff0 from RESET, zeroed with the rest of the
 * array when a VMGEXIT is synced from the GHCB, and what KVM_GET_REGS reports where it may.
 */
export const VCPU_REGS_RIP = 16;
export const NR_VCPU_REGS = 17;

/** NR_VCPU_REGS registers as 2 × NR_VCPU_REGS u32 words: register r is words 2r (bits 31:0) and 2r+1. */
export type Gprs = Uint32Array;

/** A zeroed register array. */
export function newGprs(): Gprs {
  return new Uint32Array(2 * NR_VCPU_REGS);
}

/** Register r as a u64. */
export function gpr(regs: Gprs, r: number): bigint {
  return (BigInt(regs[2 * r + 1]!) << 32n) | BigInt(regs[2 * r]!);
}

/** Set register r (the value is truncated to 64 bits). */
export function setGpr(regs: Gprs, r: number, v: bigint): void {
  regs[2 * r] = Number(v & 0xffff_ffffn);
  regs[2 * r + 1] = Number((v >> 32n) & 0xffff_ffffn);
}

/** Bits 31:0 of register r. */
export function gpr32(regs: Gprs, r: number): number {
  return regs[2 * r]!;
}

/** Write a 32-bit result, zero-extended into the 64-bit register (as a 32-bit operation does in long mode). */
export function setGpr32(regs: Gprs, r: number, v: number): void {
  regs[2 * r] = v;
  regs[2 * r + 1] = 0;
}

/** Zero the whole array (the kernel's memset of vcpu->arch.regs). */
export function clearGprs(r: Gprs): void {
  r[0] = 0;
  r[1] = 0;
  r[2] = 0;
  r[3] = 0;
  r[4] = 0;
  r[5] = 0;
  r[6] = 0;
  r[7] = 0;
  r[8] = 0;
  r[9] = 0;
  r[10] = 0;
  r[11] = 0;
  r[12] = 0;
  r[13] = 0;
  r[14] = 0;
  r[15] = 0;
  r[16] = 0;
  r[17] = 0;
  r[18] = 0;
  r[19] = 0;
  r[20] = 0;
  r[21] = 0;
  r[22] = 0;
  r[23] = 0;
  r[24] = 0;
  r[25] = 0;
  r[26] = 0;
  r[27] = 0;
  r[28] = 0;
  r[29] = 0;
  r[30] = 0;
  r[31] = 0;
  r[32] = 0;
  r[33] = 0;
}
