/**
 * Helpers shared by the KVM core's tests: building memory-region requests, asserting errnos, and
 * a VM with RAM at GPA 0 backed by anonymous host memory. Test-only; nothing in src imports it.
 */
import assert from 'node:assert/strict';
import { type GuestProgram, ScriptedCpu } from '../cpu/scripted.js';
import type { HostAddressSpace } from '../host/address-space.js';
import type { ErrnoName } from '../uapi/errno.js';
import { KvmError } from '../uapi/kvm-error.js';
import type { UserspaceMemoryRegion } from '../uapi/memslot.js';
import { Kvm, type KvmOptions } from './kvm.js';
import type { Vcpu } from './vcpu.js';
import type { Vm } from './vm.js';

/** Page size. */
export const P = 4096;
/** Where test RAM lives in the VMM's address space (an mmap-like address). */
export const HVA = 0x7f00_0000_0000;

/** A KVM_SET_USER_MEMORY_REGION request; numbers or bigints for the u64 fields. */
export function region(r: {
  slot: number;
  gpa?: number | bigint;
  size: number | bigint;
  hva?: number | bigint;
  flags?: number;
}): UserspaceMemoryRegion {
  return {
    slot: r.slot,
    flags: r.flags ?? 0,
    guestPhysAddr: BigInt(r.gpa ?? 0),
    memorySize: BigInt(r.size),
    userspaceAddr: BigInt(r.hva ?? HVA),
  };
}

/** A delete request (memory_size 0) for `slot`. */
export function del(
  slot: number,
  extra: { gpa?: number | bigint; hva?: number | bigint; flags?: number } = {},
) {
  return region({ slot, size: 0, ...extra });
}

/** assert.throws matcher: a KvmError with exactly this errno name. */
export function kvmErrno(code: ErrnoName): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof KvmError, `expected KvmError ${code}, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  };
}

/** Assert that `fn` throws KvmError `code`. */
export function throwsErrno(fn: () => unknown, code: ErrnoName): void {
  assert.throws(fn, kvmErrno(code));
}

/** A fresh VM with no memory. */
export function newVm(opts: KvmOptions = {}): { kvm: Kvm; vm: Vm; host: HostAddressSpace } {
  const kvm = new Kvm(opts);
  return { kvm, vm: kvm.createVm(), host: kvm.host };
}

/** A VM with `pages` pages of RAM at GPA 0 (slot 0, hva HVA, anonymous, read-write). */
export function vmWithRam(pages = 16, opts: KvmOptions = {}) {
  const env = newVm(opts);
  env.host.mapAnonymous(HVA, pages * P);
  env.vm.setUserMemoryRegion(region({ slot: 0, gpa: 0, size: pages * P, hva: HVA }));
  return env;
}

/** A VM with RAM and one vCPU running `program` on the scripted CPU. */
export function guest(
  program: GuestProgram,
  opts: { pages?: number; kvm?: KvmOptions } = {},
): { kvm: Kvm; vm: Vm; host: HostAddressSpace; cpu: ScriptedCpu; vcpu: Vcpu } {
  const env = vmWithRam(opts.pages ?? 16, opts.kvm);
  const cpu = new ScriptedCpu(program);
  const vcpu = env.vm.createVcpu(0, cpu);
  return { ...env, cpu, vcpu };
}

/** Read `n` bytes of host memory at `hva`, asserting that nothing faults. */
export function hostBytes(host: HostAddressSpace, hva: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  assert.equal(host.read(hva, out), undefined);
  return out;
}
