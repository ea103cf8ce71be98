/**
 * The vendor of the CPU this process runs on (/proc/cpuinfo's vendor_id): where the model must
 * compute what the host's CPU computes (the architecturally undefined flags, MXCSR_MASK), it runs
 * that vendor's x86 CPU (src/cpu/x86, X86CpuOptions.vendor).
 */
import { readFileSync } from 'node:fs';

/** The vendors the x86 interpreter models. */
export type HostCpuVendor = 'amd' | 'intel';

/** The host CPU's vendor, or why it is not one the interpreter models. */
export function hostCpuVendor(): { vendor: HostCpuVendor } | { vendor: undefined; why: string } {
  let cpuinfo: string;
  try {
    cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  } catch (e) {
    return { vendor: undefined, why: `no host CPU vendor (/proc/cpuinfo: ${(e as Error).message})` };
  }
  const id = /^vendor_id\s*:\s*(\S+)/m.exec(cpuinfo)?.[1];
  if (id === 'AuthenticAMD') return { vendor: 'amd' };
  if (id === 'GenuineIntel') return { vendor: 'intel' };
  return {
    vendor: undefined,
    why: `host CPU vendor ${id ?? 'unknown'}: the interpreter models AMD's and Intel's only`,
  };
}
