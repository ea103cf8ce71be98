/**
 * Debug-register bits KVM uses (arch/x86/include/asm/debugreg.h and kvm_host.h of the current
 * kernel). A leaf: the exception queue (cache-regs.ts) and the DR handlers (dr.ts) share it.
 */

/** Fixed-1 and active-low DR6 bits: DR6's RESET value, and what KVM puts in the VMCB before VMRUN. */
export const DR6_ACTIVE_LOW = 0xffff0ff0n;
/** DR6 bits a MOV to DR6 can change: B0-B3, BLD (bus lock), BD, BS, BT, RTM. */
export const DR6_VOLATILE = 0x0001e80fn;
/** DR6_ACTIVE_LOW & ~DR6_VOLATILE. */
export const DR6_FIXED_1 = DR6_ACTIVE_LOW & ~DR6_VOLATILE;
/** B0-B3: which of DR0-DR3 matched. */
export const DR6_TRAP_BITS = 0xfn;
/** DR6.BLD (bit 11), active low: a bus lock was detected. */
export const DR6_BUS_LOCK = 1n << 11n;
/** DR6.BS (bit 14): single-step trap. */
export const DR6_BS = 1n << 14n;
/** DR6.RTM (bit 16), active low. */
export const DR6_RTM = 1n << 16n;

/** DR7 bits a MOV to DR7 can change. */
export const DR7_VOLATILE = 0xffff2bffn;
/** DR7 bit 10 reads as 1: DR7's RESET value. */
export const DR7_FIXED_1 = 0x400n;
