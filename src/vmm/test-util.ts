/**
 * Helpers for the VMM's tests: create a machine or fail the test, and the SEV-ES machine most
 * tests use (64 KiB of RAM at 0 named 'ram', the GHCB at 0x1000, an MMIO register at 0xd0000000).
 * Test-only; nothing in src imports it.
 */
import assert from 'node:assert/strict';
import type { GuestProgram, ScriptedCpu } from '../cpu/scripted.js';
import { GhcbClient } from '../guest/ghcb-client.js';
import type { GhcbResult } from '../guest/result.js';
import type { HostAddressSpace } from '../host/address-space.js';
import type { HostAllocator } from '../host/allocator.js';
import { ModelVmFd } from '../kvm/fd.js';
import type { Vm } from '../kvm/vm.js';
import { GHCB_OFF_SW_SCRATCH } from '../uapi/ghcb.js';
import { SVM_VMGEXIT_MMIO_READ } from '../uapi/svm.js';
import { isVmmError } from './errors.js';
import type { MachineConfig, StopReason } from './types.js';
import { Vmm, type VmmOptions, type VmmVcpu } from './vmm.js';

/** Where the SEV tests' GHCB lives. */
export const GHCB_GPA = 0x1000;
/** The MMIO register the SEV tests read. */
export const DEVICE_GPA = 0xd000_0000;
/** The value that register holds. */
export const DEVICE_VALUE = 0xdeadbeefn;

/** Vmm.create, asserting success. */
export function mustCreate(config: MachineConfig, opts?: VmmOptions): Vmm {
  const vmm = Vmm.create(config, opts);
  if (isVmmError(vmm)) assert.fail(`Vmm.create: ${vmm.errno}: ${vmm.message}`);
  return vmm;
}

/** vmm.addVcpu, asserting success; with the scripted CPU the model built, for the guest's notes. */
export function mustAddVcpu(vmm: Vmm, program: GuestProgram): VmmVcpu & { readonly cpu: ScriptedCpu } {
  const v = vmm.addVcpu(program);
  if (isVmmError(v)) assert.fail(`addVcpu: ${v.errno}: ${v.message}`);
  const cpu = vmm.model?.guests.cpu(v.id);
  assert.ok(cpu, 'the model platform built a scripted CPU');
  return Object.assign(v, { cpu });
}

/** KVM's own struct kvm behind a VMM's VM fd on the model platform (to check what KVM holds). */
export function kvmVmOf(vmm: Vmm): Vm {
  assert.ok(vmm.vm instanceof ModelVmFd, 'a model VM fd');
  return vmm.vm.vm;
}

/** The model process's address space of a VMM on the model platform. */
export function hostOf(vmm: Vmm): HostAddressSpace {
  const m = vmm.model;
  assert.ok(m, 'a model platform');
  return m.host;
}

/** The kernel allocator of a VMM on the model platform. */
export function allocatorOf(vmm: Vmm): HostAllocator {
  assert.ok(vmm.allocator, 'a model platform has an allocator');
  return vmm.allocator;
}

/** An SEV-ES machine: 'ram' at 0 (64 KiB), extra RAM regions, the MMIO register at DEVICE_GPA. */
export function sevMachine(
  profile: 'prefix' | 'seed' | 'current',
  extra: Partial<MachineConfig> = {},
  ghcbVersion: 1 | 2 = 1,
): MachineConfig {
  return {
    ram: [{ name: 'ram', gpa: 0, size: 0x10000 }, ...(extra.ram ?? [])],
    mmio: [{ name: 'dev', kind: 'register', gpa: DEVICE_GPA, size: 8, value: DEVICE_VALUE }],
    sev: { profile, ghcbVersion },
    ...(extra.host ? { host: extra.host } : {}),
  };
}

/** What an SEV guest saw for one MMIO read: the GHCB result, and the scratch bytes (LE) if readable. */
export interface ReadSeen {
  readonly result: GhcbResult['kind'];
  readonly value: bigint | undefined;
}

/**
 * A guest that registers its GHCB and does `count` 4-byte MMIO reads of DEVICE_GPA with the
 * scratch area at `scratchGpa`, as the seed demo's guest: the data is looked at only on success,
 * straight from guest memory. Results go to cpu.notes.reads.
 */
export function mmioReader(scratchGpa: number, count = 1): GuestProgram {
  return function* (cpu) {
    const g = new GhcbClient(cpu, GHCB_GPA);
    g.register();
    const reads: ReadSeen[] = [];
    cpu.notes.reads = reads;
    for (let i = 0; i < count; i++) {
      const r = yield* g.vmgexit(SVM_VMGEXIT_MMIO_READ, BigInt(DEVICE_GPA), 4n, [
        [GHCB_OFF_SW_SCRATCH, BigInt(scratchGpa)],
      ]);
      let value: bigint | undefined;
      if (r.kind === 'ok') {
        const d = new Uint8Array(4);
        if (cpu.mem.read(scratchGpa, d) === 0) value = BigInt(new DataView(d.buffer).getUint32(0, true));
      }
      reads.push({ result: r.kind, value });
    }
  };
}

/** Assert the stop's kind and return it narrowed. */
export function expectStop<K extends StopReason['kind']>(
  stop: StopReason,
  kind: K,
): Extract<StopReason, { kind: K }> {
  assert.equal(
    stop.kind,
    kind,
    `expected stop ${kind}, got ${JSON.stringify(stop, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`,
  );
  return stop as Extract<StopReason, { kind: K }>;
}
