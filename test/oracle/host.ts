/**
 * Shared by the oracle suites: the machine's /dev/kvm if it is usable (opens, speaks API 12, runs
 * a `hlt` guest under the watchdog), else the one-line reason every suite skips with.
 */
import { type HostKvmFd, openHostKvm, smokeTestHostKvm } from '../../src/hostkvm/index.js';

/** The device the oracle uses: /dev/kvm, or SEVBOX_KVM_DEVICE (e.g. a missing path, to see the skip). */
export const KVM_DEVICE = process.env['SEVBOX_KVM_DEVICE'] || '/dev/kvm';

/** Either the open host KVM, or why the oracle suites skip. */
export type OracleHost = { kvm: HostKvmFd; skip: false } | { kvm: undefined; skip: string };

let cached: OracleHost | undefined;

/** Open /dev/kvm once per test file and check it can run a guest. */
export function oracleHost(): OracleHost {
  if (cached) return cached;
  const opened = openHostKvm(KVM_DEVICE);
  if (!opened.ok) {
    cached = { kvm: undefined, skip: `no usable ${KVM_DEVICE} (${opened.reason})` };
    return cached;
  }
  const smoke = smokeTestHostKvm(opened.kvm);
  if (!smoke.ok) {
    opened.kvm.close();
    cached = { kvm: undefined, skip: `${KVM_DEVICE} cannot run a guest (${smoke.reason})` };
    return cached;
  }
  cached = { kvm: opened.kvm, skip: false };
  return cached;
}
