/**
 * Byte-exact codec for struct kvm_clock_data (KVM_GET_CLOCK / KVM_SET_CLOCK on a VM fd), from
 * include/uapi/linux/kvm.h. Layout (little-endian, x86-64): clock u64 @0, flags u32 @8, pad0 u32 @12,
 * realtime u64 @16, host_tsc u64 @24, pad[4] u32 @32; 48 bytes.
 *
 * Offsets are exported keyed by C member name (KVM_CLOCK_DATA_OFFSETS); see ioctl.ts for the scheme.
 */

import { structIn, structOut } from './struct.js';

/** flags (GET): kvmclock is stable across vCPUs (master clock in use). */
export const KVM_CLOCK_TSC_STABLE = 2;
/** flags: `realtime` is valid (GET), or is to be used to advance the clock (SET). */
export const KVM_CLOCK_REALTIME = 1 << 2;
/** flags (GET): `host_tsc` is valid. */
export const KVM_CLOCK_HOST_TSC = 1 << 3;

/** sizeof(struct kvm_clock_data). */
export const KVM_CLOCK_DATA_SIZE = 48;

/** offsetof(struct kvm_clock_data, <member>). */
export const KVM_CLOCK_DATA_OFFSETS = {
  clock: 0,
  flags: 8,
  pad0: 12,
  realtime: 16,
  host_tsc: 24,
  pad: 32,
} as const;

/** struct kvm_clock_data (pad0/pad are written as 0). */
export interface KvmClockData {
  /** __u64 clock: kvmclock value in ns. */
  clock: bigint;
  /** __u32 flags: KVM_CLOCK_*. */
  flags: number;
  /** __u64 realtime: CLOCK_REALTIME in ns at the same instant. */
  realtime: bigint;
  /** __u64 host_tsc: host TSC at the same instant. */
  hostTsc: bigint;
}

/** Encodes struct kvm_clock_data (48 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeClockData(value: KvmClockData, dst?: Uint8Array): Uint8Array {
  const O = KVM_CLOCK_DATA_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_CLOCK_DATA_SIZE, 'kvm_clock_data');
  w.u64(O.clock, 'clock', value.clock);
  w.u32(O.flags, 'flags', value.flags);
  w.u64(O.realtime, 'realtime', value.realtime);
  w.u64(O.host_tsc, 'host_tsc', value.hostTsc);
  return bytes;
}

/** Decodes struct kvm_clock_data from the first 48 bytes; RangeError when fewer are given. */
export function decodeClockData(bytes: Uint8Array): KvmClockData {
  const O = KVM_CLOCK_DATA_OFFSETS;
  const r = structIn(bytes, KVM_CLOCK_DATA_SIZE, 'kvm_clock_data');
  return {
    clock: r.u64(O.clock),
    flags: r.u32(O.flags),
    realtime: r.u64(O.realtime),
    hostTsc: r.u64(O.host_tsc),
  };
}
