/**
 * The oracle's smallest machine: a VM on the real /dev/kvm with two pages of RAM at GPA 0, `code`
 * at 0x1000 and one vCPU in flat real mode there (stack top 0x2000). Used by the smoke test, the
 * bindings' tests and the exit-round-trip benchmark, so they all run the same guest setup.
 */
import type { HostKvm, HostVcpu, HostVm } from './kvm.js';
import type { HostMapping } from './mapping.js';

/** Where the code goes, and where the stack starts (the end of the RAM). */
export const TINY_GUEST_CODE = 0x1000;
export const TINY_GUEST_RAM = 0x2000;

/** A tiny guest; `close()` (or `using`) destroys the VM and unmaps its RAM. */
export interface TinyGuest {
  readonly vm: HostVm;
  readonly ram: HostMapping;
  readonly vcpu: HostVcpu;
  close(): void;
  [Symbol.dispose](): void;
}

/** Build a {@link TinyGuest} running `code`; nothing is left behind if a step fails. */
export function tinyRealModeGuest(kvm: HostKvm, code: Uint8Array): TinyGuest {
  const vm = kvm.createVm();
  const ram = kvm.mapAnonymous(TINY_GUEST_RAM);
  const close = (): void => {
    vm.destroy();
    ram.close();
  };
  try {
    ram.bytes.set(code, TINY_GUEST_CODE);
    vm.setUserMemoryRegion({
      slot: 0,
      flags: 0,
      guestPhysAddr: 0n,
      memorySize: BigInt(TINY_GUEST_RAM),
      userspaceAddr: ram.hva,
    });
    const vcpu = vm.createVcpu(0);
    vcpu.resetRealMode(TINY_GUEST_CODE, TINY_GUEST_RAM);
    return { vm, ram, vcpu, close, [Symbol.dispose]: close };
  } catch (e) {
    close();
    throw e;
  }
}
