/**
 * A small machine for the fidelity tests: the VMM on the model platform (so KVM is reached through
 * the fd interface exactly as a VMM would), one vCPU running a scripted program, and direct access
 * to that vCPU's fd for tests that answer exits themselves.
 */
import assert from 'node:assert/strict';
import type { GuestProgram, ScriptedCpu } from '../../src/cpu/scripted.js';
import { isErrno } from '../../src/uapi/errno.js';
import type { VcpuFd } from '../../src/uapi/kvm-fd.js';
import { isVmmError } from '../../src/vmm/errors.js';
import type { MachineConfig } from '../../src/vmm/types.js';
import { Vmm, type VmmOptions } from '../../src/vmm/vmm.js';

/** The SEV tests' GHCB page. */
export const GHCB_GPA = 0x1000;

/** A built machine with its one vCPU. */
export interface Machine {
  readonly vmm: Vmm;
  readonly vcpu: VcpuFd;
  readonly cpu: ScriptedCpu;
}

/** Build `config` with one vCPU running `program`, or fail the test. */
export function machine(config: MachineConfig, program: GuestProgram, opts: VmmOptions = {}): Machine {
  const vmm = Vmm.create({ serial: false, debugExitPort: false, ...config }, opts);
  if (isVmmError(vmm)) assert.fail(`Vmm.create: ${vmm.errno}: ${vmm.message}`);
  const v = vmm.addVcpu(program);
  if (isVmmError(v)) assert.fail(`addVcpu: ${v.errno}: ${v.message}`);
  const cpu = vmm.model?.guests.cpu(v.id);
  assert.ok(cpu);
  // The tests drive KVM_RUN themselves: launch an SEV-ES guest as run() would first.
  const launched = vmm.launchGuest();
  if (isVmmError(launched)) assert.fail(`launch: ${launched.errno}: ${launched.message}`);
  return { vmm, vcpu: v.fd, cpu };
}

/** 64 KiB of RAM at 0, unprotected, booted as the test asks. */
export function plain(
  boot: 'reset' | 'long-mode' = 'long-mode',
  extra: Partial<MachineConfig> = {},
): MachineConfig {
  return { ram: [{ name: 'ram', gpa: 0, size: 0x10000 }], boot, ...extra };
}

/** 64 KiB of RAM at 0, SEV-ES under `profile` (GHCB v1). */
export function sevEs(
  profile: 'prefix' | 'seed' | 'current',
  extra: Partial<MachineConfig> = {},
): MachineConfig {
  return { ram: [{ name: 'ram', gpa: 0, size: 0x10000 }], sev: { profile, ghcbVersion: 1 }, ...extra };
}

/** Run the VMM until the guest program ends; assert it did. */
export function runToEnd(m: Machine): void {
  const r = m.vmm.run({ maxKvmRuns: 100 });
  assert.equal(
    r.stop.kind,
    'guest-done',
    `stop: ${JSON.stringify(r.stop, (_k, v) => (typeof v === 'bigint' ? `${v}` : v))}`,
  );
}

/** Assert `r` is not an Errno, and return it. */
export function ok<T>(r: T): Exclude<T, import('../../src/uapi/errno.js').Errno> {
  assert.ok(!isErrno(r), `unexpected ${String(r)}`);
  return r as Exclude<T, import('../../src/uapi/errno.js').Errno>;
}
