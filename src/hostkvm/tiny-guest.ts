/**
 * The oracle's smallest machine: a VM on the real /dev/kvm with a little RAM at GPA 0 (anonymous
 * memory of a HostProcessMemory), `code` at 0x1000 and one vCPU in flat real mode there (stack top
 * 0x2000). Used by the smoke test, the bindings' tests and the exit-round-trip benchmark, so they
 * all run the same guest setup. `resetRealMode` works on any VcpuFd (the model's too).
 */
import { Errno } from '../uapi/errno.js';
import type { IoctlResult, VcpuFd } from '../uapi/kvm-fd.js';
import { entryRegs } from '../uapi/regs.js';
import { flatRealModeSregs } from '../uapi/sregs.js';
import type { HostKvmFd, HostVcpuFd, HostVmFd } from './fd.js';
import type { HostProcessMemory } from './process.js';

/** Where the code goes, and where the stack starts. */
export const TINY_GUEST_CODE = 0x1000;
/** The default RAM size (two pages at GPA 0), and the stack top. */
export const TINY_GUEST_RAM = 0x2000;

/** A tiny guest; `close()` (or `using`) closes the vCPU and the VM, then unmaps its RAM. */
export interface TinyGuest {
  readonly vm: HostVmFd;
  readonly vcpu: HostVcpuFd;
  /** The process memory the RAM lives in (owned by the guest: closed with it). */
  readonly mem: HostProcessMemory;
  /** The hva of the RAM (GPA 0, memslot 0). */
  readonly ram: number;
  readonly ramSize: number;
  close(): void;
  [Symbol.dispose](): void;
}

/** Options of {@link tinyRealModeGuest}. */
export interface TinyGuestOptions {
  /** Bytes of RAM at GPA 0 (a page multiple of at least 0x2000); default {@link TINY_GUEST_RAM}. */
  readonly ramSize?: number;
}

/**
 * Put the vCPU in real mode at `entry` with CS, DS, ES, FS, GS and SS based at 0 with selector 0
 * (flat 64 KiB, the rest of each segment as KVM_GET_SREGS gave it), RFLAGS = 2, SP = `sp` and every
 * other general-purpose register 0: the state the tiny machine-code guests start from.
 */
export function resetRealMode(vcpu: VcpuFd, entry: number, sp: number): IoctlResult<void> {
  const s = vcpu.getSregs();
  if (s instanceof Errno) return s;
  const r = vcpu.setSregs(flatRealModeSregs(s));
  if (r instanceof Errno) return r;
  return vcpu.setRegs(entryRegs(BigInt(entry), BigInt(sp)));
}

/** Build a {@link TinyGuest} running `code`, or the first errno; nothing is left behind if a step fails. */
export function tinyRealModeGuest(
  kvm: HostKvmFd,
  code: Uint8Array,
  opts: TinyGuestOptions = {},
): TinyGuest | Errno {
  const ramSize = opts.ramSize ?? TINY_GUEST_RAM;
  if (ramSize < TINY_GUEST_RAM || code.length > ramSize - TINY_GUEST_CODE)
    return new Errno('EINVAL', `tiny guest: ${code.length} bytes of code in ${ramSize} bytes of RAM`);
  const mem = kvm.processMemory();
  const ram = mem.mapAnonymous(ramSize);
  if (ram instanceof Errno) {
    mem.close();
    return ram;
  }
  const vm = kvm.createVm();
  if (vm instanceof Errno) {
    mem.close();
    return vm;
  }
  let vcpu: HostVcpuFd | undefined;
  const close = (): void => {
    vcpu?.close();
    vm.close();
    mem.close();
  };
  const fail = (e: Errno): Errno => {
    close();
    return e;
  };
  const fault = mem.write(ram + TINY_GUEST_CODE, code);
  if (fault) return fail(new Errno('EFAULT', `tiny guest: writing the code faulted (${fault.kind})`));
  const slot = vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: 0n,
    memorySize: BigInt(ramSize),
    userspaceAddr: BigInt(ram),
  });
  if (slot instanceof Errno) return fail(slot);
  const v = vm.createVcpu(0);
  if (v instanceof Errno) return fail(v);
  vcpu = v;
  const reset = resetRealMode(v, TINY_GUEST_CODE, TINY_GUEST_RAM);
  if (reset instanceof Errno) return fail(reset);
  return { vm, vcpu: v, mem, ram, ramSize, close, [Symbol.dispose]: close };
}
