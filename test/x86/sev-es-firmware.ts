/**
 * An SEV-ES VM on the interpreter booting a 4 KiB firmware (fixtures/sev-es-*.s) from the reset
 * vector, through the fd interface as a VMM builds it: KVM_X86_SEV_ES_VM, KVM_SEV_INIT2 with GHCB
 * version 2, 64 KiB of RAM at GPA 0 and the firmware at the top of 4 GiB. Shared by
 * test/x86/sev-es.test.ts and bench/x86.bench.ts.
 */
import assert from 'node:assert/strict';
import type { X86CpuOptions } from '../../src/cpu/x86/cpu.js';
import { ok } from '../../src/kvm/test-util.js';
import { KVM_X86_SEV_ES_VM } from '../../src/uapi/caps.js';
import { encodeSevInit, KVM_SEV_ES_INIT, KVM_SEV_INIT2 } from '../../src/uapi/sev-cmd.js';
import { modelPlatform } from '../../src/vmm/platform.js';

/** Where the firmware sits: its last 16 bytes hold the reset vector (0xfffffff0). */
export const ROM_GPA = 0xffff_f000;
/** The guest RAM at GPA 0. */
export const RAM_SIZE = 0x10000;

/**
 * The VM with `rom` mapped and vCPU 0 at the reset vector; `ram` is the HVA of GPA 0. `x86`: how
 * the CPU runs code (interpreted or compiled; the CPU's defaults without it). `legacy`: a default
 * VM made SEV-ES with KVM_SEV_ES_INIT instead (no has_protected_state: KVM's register ioctls still
 * work on its vCPUs before they run).
 */
export function sevEsFirmwareVm(rom: Uint8Array, x86?: X86CpuOptions, opts: { legacy?: boolean } = {}) {
  const { kvm, memory } = modelPlatform({ profile: 'current', cpu: 'x86', ...(x86 && { x86 }) });
  const vm = ok(kvm.createVm(opts.legacy ? 0 : KVM_X86_SEV_ES_VM));
  if (opts.legacy) ok(vm.memoryEncryptOp({ id: KVM_SEV_ES_INIT, data: 0n, error: 0, sevFd: 0 }));
  else {
    const init = ok(memory.mapAnonymous(0x1000));
    ok(memory.write(init, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 2 })));
    ok(vm.memoryEncryptOp({ id: KVM_SEV_INIT2, data: BigInt(init), error: 0, sevFd: 0 }));
  }
  const ram = ok(memory.mapAnonymous(RAM_SIZE));
  const romHva = ok(memory.mapAnonymous(0x1000));
  ok(memory.write(romHva, rom));
  const region = (slot: number, gpa: number, size: number, hva: number) =>
    vm.setUserMemoryRegion({
      slot,
      flags: 0,
      guestPhysAddr: BigInt(gpa),
      memorySize: BigInt(size),
      userspaceAddr: BigInt(hva),
    });
  assert.equal(region(0, 0, RAM_SIZE, ram), undefined);
  assert.equal(region(1, ROM_GPA, 0x1000, romHva), undefined);
  const vcpu = ok(vm.createVcpu(0));
  return { kvm, memory, ram, vcpu };
}
