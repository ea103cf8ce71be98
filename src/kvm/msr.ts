/**
 * MSR emulation: the MSR filter (KVM_X86_SET_MSR_FILTER), the in-kernel MSRs sevbox models, and
 * the KVM_MSR_RET_* outcomes that decide between #GP and an exit to userspace.
 */
import {
  KVM_MSR_EXIT_REASON_FILTER,
  KVM_MSR_EXIT_REASON_INVAL,
  KVM_MSR_EXIT_REASON_UNKNOWN,
} from '../uapi/exit-reasons.js';

/** KVM_MSR_FILTER_READ / _WRITE range flags. */
export const KVM_MSR_FILTER_READ = 1;
export const KVM_MSR_FILTER_WRITE = 2;

/** One range of KVM_X86_SET_MSR_FILTER: bit i of `bitmap` set = MSR base+i allowed. */
export interface MsrFilterRange {
  readonly flags: number;
  readonly base: number;
  readonly nmsrs: number;
  readonly bitmap: Uint8Array;
}

/** KVM_X86_SET_MSR_FILTER: MSRs in no range get the default action. */
export interface MsrFilter {
  readonly defaultAllow: boolean;
  readonly ranges: readonly MsrFilterRange[];
}

/** kvm_msr_allowed: the first range covering the MSR for this access decides. */
export function kvmMsrAllowed(filter: MsrFilter | undefined, index: number, access: number): boolean {
  if (!filter) return true;
  for (const r of filter.ranges) {
    if (!(r.flags & access)) continue;
    if (index >= r.base && index < r.base + r.nmsrs) {
      const bit = index - r.base;
      return ((r.bitmap[bit >>> 3] ?? 0) & (1 << (bit & 7))) !== 0;
    }
  }
  return filter.defaultAllow;
}

/** KVM_MSR_RET_*: why an MSR access failed inside KVM. */
export const KVM_MSR_RET_OK = 0;
export const KVM_MSR_RET_INVALID = 1;
export const KVM_MSR_RET_UNSUPPORTED = 2;
export const KVM_MSR_RET_FILTERED = 3;

/** kvm_msr_reason: the KVM_MSR_EXIT_REASON_* userspace sees for a KVM_MSR_RET_*. */
export function kvmMsrReason(ret: number): number {
  if (ret === KVM_MSR_RET_UNSUPPORTED) return KVM_MSR_EXIT_REASON_UNKNOWN;
  if (ret === KVM_MSR_RET_FILTERED) return KVM_MSR_EXIT_REASON_FILTER;
  return KVM_MSR_EXIT_REASON_INVAL;
}

/** MSRs KVM emulates in the kernel for sevbox guests, with their reset values. */
const IN_KERNEL_MSRS: ReadonlyMap<number, bigint> = new Map([
  [0x10, 0n], // MSR_IA32_TSC
  [0x1b, 0xfee00900n], // MSR_IA32_APICBASE: BSP, xAPIC enabled
  [0x277, 0x0007040600070406n], // MSR_IA32_CR_PAT
  [0xda0, 0n], // MSR_IA32_XSS
  [0xc0000080, 0n], // MSR_EFER
  [0xc0000081, 0n], // MSR_STAR
  [0xc0000082, 0n], // MSR_LSTAR
  [0xc0000100, 0n], // MSR_FS_BASE
  [0xc0000101, 0n], // MSR_GS_BASE
  [0xc0000102, 0n], // MSR_KERNEL_GS_BASE
]);

/** A vCPU's in-kernel MSR values. Unknown indices are KVM_MSR_RET_UNSUPPORTED. */
export class MsrStore {
  readonly #values = new Map(IN_KERNEL_MSRS);

  get(index: number): bigint | undefined {
    return this.#values.get(index);
  }

  /** KVM_MSR_RET_OK, or UNSUPPORTED for an MSR KVM does not emulate. */
  set(index: number, value: bigint): number {
    if (!this.#values.has(index)) return KVM_MSR_RET_UNSUPPORTED;
    this.#values.set(index, BigInt.asUintN(64, value));
    return KVM_MSR_RET_OK;
  }
}
