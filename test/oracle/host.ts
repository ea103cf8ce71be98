/**
 * Shared by the oracle suites: the machine's /dev/kvm if it is usable (opens, speaks API 12, runs
 * a `hlt` guest under the watchdog), else the one-line reason every suite skips with; and the
 * host CPU's vendor, whose undefined flags the instructions run through /dev/kvm have.
 */
import { readFileSync } from 'node:fs';
import type { X86Vendor } from '../../src/cpu/x86/alu.js';
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

/** Either the host CPU's vendor, or why the suites that compare undefined flags skip. */
export type HostVendor = { vendor: X86Vendor; skip: false } | { vendor: undefined; skip: string };

/**
 * The vendor of the CPU this process runs on (/proc/cpuinfo's vendor_id): the one whose ALU
 * (src/cpu/x86/alu.ts) the model must run to compute the undefined flags the host computes.
 */
export function hostVendor(): HostVendor {
  let cpuinfo: string;
  try {
    cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  } catch (e) {
    return { vendor: undefined, skip: `no host CPU vendor (/proc/cpuinfo: ${(e as Error).message})` };
  }
  const id = /^vendor_id\s*:\s*(\S+)/m.exec(cpuinfo)?.[1];
  if (id === 'AuthenticAMD') return { vendor: 'amd', skip: false };
  if (id === 'GenuineIntel') return { vendor: 'intel', skip: false };
  return {
    vendor: undefined,
    skip: `host CPU vendor ${id ?? 'unknown'}: the ALU models AMD's and Intel's only`,
  };
}
