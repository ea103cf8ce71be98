import type { X86Vendor } from '../../src/cpu/x86/alu.js';
import { type HostKvmFd, hostCpuVendor, openHostKvm, smokeTestHostKvm } from '../../src/hostkvm/index.js';

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

/** Either the host CPU's vendor, or why the suites that compare undefined flags skip. */
export type HostVendor = { vendor: X86Vendor; skip: false } | { vendor: undefined; skip: string };

/** The host CPU's vendor (src/hostkvm/cpu-vendor.ts), whose ALU the model must run to compute the host's undefined flags. */
export function hostVendor(): HostVendor {
  const h = hostCpuVendor();
  return h.vendor ? { vendor: h.vendor, skip: false } : { vendor: undefined, skip: h.why };
}
