/**
 * An SEV-ES VM on the interpreter booting a 4 KiB firmware (fixtures/sev-es-*.s) from the reset
 * vector, through the fd interface as a VMM builds it: KVM_X86_SEV_ES_VM, KVM_SEV_INIT2 with GHCB
 * version 2, 64 KiB of RAM at GPA 0 and the firmware at the top of 4 GiB. Shared by
 * test/x86/sev-es.test.ts and bench/x86.bench.ts.
 */
import assert from 'node:assert/strict';
import type { X86CpuOptions } from '../../src/cpu/x86/cpu.js';
import type { ModelVcpuFd } from '../../src/kvm/fd.js';
import { ok } from '../../src/kvm/test-util.js';
import { KVM_X86_SEV_ES_VM } from '../../src/uapi/caps.js';
import { encodeSevInit, KVM_SEV_ES_INIT, KVM_SEV_INIT2 } from '../../src/uapi/sev-cmd.js';
import { modelPlatform } from '../../src/vmm/platform.js';
import { isSevLaunchError, launchSevEs } from '../../src/vmm/sev-launch.js';

/** Where the firmware sits: its last 16 bytes hold the reset vector (0xfffffff0). */
export const ROM_GPA = 0xffff_f000;
/** The guest RAM at GPA 0. */
export const RAM_SIZE = 0x10000;

/**
 * The VM with `rom` mapped and vCPU 0 at the reset vector; `ram` is the HVA of GPA 0. `x86`: how
 * the CPU runs code (interpreted or compiled; the CPU's defaults without it). `legacy`: a default
 * VM made SEV-ES with KVM_SEV_ES_INIT instead (no has_protected_state: KVM's register ioctls still
 * work on its vCPUs before they run). The VM is launched (the firmware measured and encrypted, the
 * VMSA, MEASURE, FINISH) unless `launch` is false: then call `launch()` once the vCPU is set up.
 */
export function sevEsFirmwareVm(
  rom: Uint8Array,
  x86?: X86CpuOptions,
  opts: { legacy?: boolean; launch?: boolean } = {},
) {
  const platform = modelPlatform({ profile: 'current', cpu: 'x86', ...(x86 && { x86 }) });
  const { kvm, memory } = platform;
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
  // The launch: the firmware measured and encrypted in place, the VMSA, MEASURE, FINISH.
  const launch = (): void => {
    const r = launchSevEs(vm, memory, {
      sevFd: platform.openSevDevice(),
      // The firmware, and the zeroed page at 0x2000 the firmwares store their results in (so
      // what they do not write reads as zero privately, not as zeros decrypted into noise).
      measure: [
        { hva: romHva, len: 0x1000 },
        { hva: ram + 0x2000, len: 0x1000 },
      ],
    });
    if (isSevLaunchError(r)) assert.fail(`launch: ${r.command}: ${r.errno}`);
  };
  if (opts.launch !== false) launch();
  /**
   * Guest memory at `gpa` (RAM) as the guest reads it privately: the debug view of the memory
   * controller, which knows the key (the host itself reads ciphertext there).
   */
  const readPrivate = (gpa: number, len: number): Uint8Array => {
    const frame = new Uint8Array(len);
    ok(memory.read(ram + gpa, frame));
    const asid = (vcpu as ModelVcpuFd).vcpu.vmcb.asid;
    return platform.memoryController.debugPlaintext(asid, ram + gpa, frame)!;
  };
  return { kvm, memory, ram, vcpu, platform, readPrivate, launch };
}
