/**
 * Helpers shared by the KVM core's tests: building memory-region requests, asserting errnos (the
 * fd interface returns them as `Errno` values), a VM with RAM at GPA 0 backed by anonymous host
 * memory, and a vCPU running a scripted guest program, all reached the way a VMM reaches them
 * (openKvm → createVm → setUserMemoryRegion → createVcpu → run). `vm` and `vcpu` (struct kvm and
 * struct kvm_vcpu) are handed out too, for tests about KVM's internals. Test-only; nothing in src
 * imports it.
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import {
  type CodeSize,
  type CpuAttachment,
  type CpuBackend,
  CR0_PE,
  CR0_PG,
  CR4_PAE,
  EFER_LMA,
  EFER_LME,
  getU64Number,
  INTERCEPT_BITS,
  SAVE_DR6,
  SAVE_RIP,
  SVM_EVTINJ_VALID,
  SVM_MSRPM_RANGES,
  SVM_MSRS_PER_RANGE,
  VMCB_EXIT_INT_INFO,
  type Vmcb,
} from '../cpu/backend.js';
import type { GuestProgram, InterruptHandler, ScriptedCpu, VcHandler } from '../cpu/scripted.js';
import { ScriptedGuests } from '../cpu/scripted-guests.js';
import type { HostAddressSpace } from '../host/address-space.js';
import { Errno, type ErrnoName, isErrno } from '../uapi/errno.js';
import type { RunFailure } from '../uapi/kvm-fd.js';
import type { UserspaceMemoryRegion } from '../uapi/memslot.js';
import { SVM_EXIT_HLT, svmExitCodeName } from '../uapi/svm.js';
import type { VcpuExit } from '../uapi/vcpu-exit.js';
import { type ModelKvmFd, type ModelVcpuFd, type ModelVmFd, openKvm } from './fd.js';
import type { Kvm, KvmOptions } from './kvm.js';
import type { MemoryRegionChange } from './memory-region.js';
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
): UserspaceMemoryRegion {
  return region({ slot, size: 0, ...extra });
}

/** Assert that an ioctl failed with exactly this errno. */
export function expectErrno(r: unknown, errno: ErrnoName, message?: string): asserts r is Errno {
  if (!isErrno(r, errno)) assert.fail(`${message ? `${message}: ` : ''}expected ${errno}, got ${inspect(r)}`);
}

/** Assert that an ioctl succeeded, and return its value. */
export function ok<T>(r: T | Errno, message?: string): T {
  if (r instanceof Errno) assert.fail(`${message ? `${message}: ` : ''}unexpected ${r.toString()}`);
  return r;
}

/** What newVm hands out: the fds a VMM holds, and the kernel objects behind them. */
export interface VmEnv {
  readonly kvmFd: ModelKvmFd;
  readonly vmFd: ModelVmFd;
  /** KVM-internal: the kernel side of /dev/kvm. */
  readonly kvm: Kvm;
  /** KVM-internal: struct kvm. */
  readonly vm: Vm;
  readonly host: HostAddressSpace;
  /**
   * KVM_SET_USER_MEMORY_REGION (`v2`: ..._REGION2) through the VM fd: the errno, or on success the
   * kvm_mr_change KVM made (observed inside the kernel; the ioctl itself returns 0).
   */
  set(req: UserspaceMemoryRegion, v2?: boolean): MemoryRegionChange | Errno;
}

/** A fresh VM (openKvm → createVm with `type`) with no memory. */
export function newVm(opts: KvmOptions = {}, type = 0): VmEnv {
  const kvmFd = openKvm(opts);
  const vmFd = ok(kvmFd.createVm(type), 'KVM_CREATE_VM');
  const vm = vmFd.vm;
  // Observe kvm_set_memory_region's kvm_mr_change, which never crosses the fd boundary.
  let last: MemoryRegionChange | undefined;
  const inner = vm.setMemoryRegion.bind(vm);
  vm.setMemoryRegion = (r, legacy) => {
    const c = inner(r, legacy);
    last = c instanceof Errno ? undefined : c;
    return c;
  };
  const set = (req: UserspaceMemoryRegion, v2 = false): MemoryRegionChange | Errno => {
    last = undefined;
    const r = v2 ? vmFd.setUserMemoryRegion2(req) : vmFd.setUserMemoryRegion(req);
    if (r instanceof Errno) return r;
    assert.ok(last !== undefined, 'KVM_SET_USER_MEMORY_REGION succeeded without a memslot change');
    return last;
  };
  return { kvmFd, vmFd, kvm: kvmFd.kvm, vm, host: kvmFd.kvm.host, set };
}

/** A VM with `pages` pages of RAM at GPA 0 (slot 0, hva HVA, anonymous, read-write). */
export function vmWithRam(pages = 16, opts: KvmOptions = {}): VmEnv {
  const env = newVm(opts);
  env.host.mapAnonymous(HVA, pages * P);
  ok(env.vmFd.setUserMemoryRegion(region({ slot: 0, gpa: 0, size: pages * P, hva: HVA })));
  return env;
}

/** What guest() hands out: a VM env plus vCPU 0 and the scripted CPU behind it. */
export interface GuestEnv extends VmEnv {
  readonly guests: ScriptedGuests;
  readonly vcpuFd: ModelVcpuFd;
  /** KVM-internal: struct kvm_vcpu. */
  readonly vcpu: Vcpu;
  /** The guest's CPU (what the guest program sees; KVM never looks at it). */
  readonly cpu: ScriptedCpu;
}

/**
 * A VM with RAM (16 pages at GPA 0 by default) and vCPU 0 running `program` on the scripted CPU:
 * the program is loaded into a ScriptedGuests that the Kvm gets as its CPU factory, as firmware
 * would be there before KVM_CREATE_VCPU.
 */
export function guest(
  program: GuestProgram,
  opts: {
    pages?: number;
    kvm?: KvmOptions;
    interruptHandler?: InterruptHandler;
    vcHandler?: VcHandler;
    /** The code size to put the vCPU in with KVM_SET_SREGS before it runs (default: RESET's real mode). */
    mode?: CodeSize;
  } = {},
): GuestEnv {
  const guests = new ScriptedGuests();
  guests.load(0, {
    program,
    ...(opts.interruptHandler ? { interruptHandler: opts.interruptHandler } : {}),
    ...(opts.vcHandler ? { vcHandler: opts.vcHandler } : {}),
  });
  const env = vmWithRam(opts.pages ?? 16, { ...opts.kvm, cpus: guests.cpus });
  const vcpuFd = ok(env.vmFd.createVcpu(0), 'KVM_CREATE_VCPU');
  if (opts.mode !== undefined) setCodeSize(vcpuFd, opts.mode);
  return { ...env, guests, vcpuFd, vcpu: vcpuFd.vcpu, cpu: guests.cpu(0)! };
}

/**
 * KVM_GET_SREGS, then KVM_SET_SREGS with the mode switched: 16 (real mode, as at RESET), 32
 * (CR0.PE, CS.D) or 64 (long mode: CR0.PE|PG, CR4.PAE, EFER.LME|LMA, CS.L).
 */
export function setCodeSize(vcpuFd: ModelVcpuFd, mode: CodeSize): void {
  const s = ok(vcpuFd.getSregs(), 'KVM_GET_SREGS');
  const pe = BigInt(CR0_PE);
  const pg = BigInt(CR0_PG);
  const long = BigInt(EFER_LME | EFER_LMA);
  if (mode === 64) {
    s.cr0 |= pe | pg;
    s.cr4 |= BigInt(CR4_PAE);
    s.efer |= long;
    s.cs = { ...s.cs, l: 1, db: 0 };
  } else {
    s.cr0 = mode === 32 ? (s.cr0 | pe) & ~pg : s.cr0 & ~(pe | pg);
    s.efer &= ~long;
    s.cs = { ...s.cs, l: 0, db: mode === 32 ? 1 : 0 };
  }
  ok(vcpuFd.setSregs(s), 'KVM_SET_SREGS');
}

/** KVM_RUN once and assert the exit's kind; returns the exit narrowed to that kind. */
export function expectExit<K extends VcpuExit['kind']>(
  vcpuFd: ModelVcpuFd,
  kind: K,
): Extract<VcpuExit, { kind: K }> {
  const exit = vcpuFd.run();
  if (exit.kind !== kind) assert.fail(`expected a ${kind} exit, got ${inspect(exit)}`);
  return exit as Extract<VcpuExit, { kind: K }>;
}

/** KVM_RUN once and assert that it fails with `errno`; returns the failure (with what kvm_run holds). */
export function expectFailed(vcpuFd: ModelVcpuFd, errno: ErrnoName): RunFailure {
  const r = vcpuFd.run();
  if (r.kind !== 'Failed') assert.fail(`expected KVM_RUN to fail with ${errno}, got ${inspect(r)}`);
  assert.equal(r.error.errno, errno, `KVM_RUN failed with ${r.error.toString()}`);
  return r;
}

/** Read `n` bytes of host memory at `hva`, asserting that nothing faults. */
export function hostBytes(host: HostAddressSpace, hva: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  assert.equal(host.read(hva, out), undefined);
  return out;
}

/**
 * init_vmcb's intercepts from RDPMC to MWAIT, in exit-code order (interceptNames' names), which
 * sev_es_init_vmcb leaves alone: the same run in a default VM's VMCB (src/kvm/init-vmcb.test.ts)
 * and an SEV-ES vCPU's (test/sev/vmcb-intercepts.test.ts). RDTSCP is there for a guest CPUID
 * without RDTSCP, as both tests' vCPUs start.
 */
export const INIT_VMCB_COMMON_INTERCEPTS: readonly string[] = [
  'SVM_EXIT_RDPMC',
  'SVM_EXIT_CPUID',
  'SVM_EXIT_RSM',
  'SVM_EXIT_INVD',
  'SVM_EXIT_PAUSE',
  'SVM_EXIT_HLT',
  'SVM_EXIT_INVLPGA',
  'SVM_EXIT_IOIO',
  'SVM_EXIT_MSR',
  'SVM_EXIT_TASK_SWITCH',
  'SVM_EXIT_SHUTDOWN',
  'SVM_EXIT_VMRUN',
  'SVM_EXIT_VMMCALL',
  'SVM_EXIT_VMLOAD',
  'SVM_EXIT_VMSAVE',
  'SVM_EXIT_STGI',
  'SVM_EXIT_CLGI',
  'SVM_EXIT_SKINIT',
  'SVM_EXIT_RDTSCP',
  'SVM_EXIT_WBINVD',
  'SVM_EXIT_MONITOR',
  'SVM_EXIT_MWAIT',
];

/** The intercept bits set in `vmcb` (bit n = exit code n), as exit-code names in bit order. */
export function interceptNames(vmcb: Vmcb): string[] {
  const out: string[] = [];
  for (let bit = 0; bit < INTERCEPT_BITS; bit++) if (vmcb.isIntercept(bit)) out.push(svmExitCodeName(bit));
  return out;
}

/** Every MSR of the permission map's three ranges whose read (or write) runs without a #VMEXIT. */
export function passedThrough(vmcb: Vmcb, write: boolean): number[] {
  const out: number[] = [];
  for (const base of SVM_MSRPM_RANGES)
    for (let msr = base; msr < base + SVM_MSRS_PER_RANGE; msr++)
      if (!vmcb.msrIntercepted(msr, write)) out.push(msr);
  return out;
}

/** One #VMEXIT as an SVM CPU reports it, for a HardwareExits CPU to replay. */
export interface HwExit {
  readonly code: number;
  readonly info1?: bigint;
  readonly info2?: bigint;
  /**
   * The intercepted instruction's length: next_rip = RIP + len, as the CPU saves it for an
   * instruction intercept. Omitted: next_rip 0 (an exception, an interrupt, a trap).
   */
  readonly len?: number;
  /** exit_int_info (an event the exit interrupted). */
  readonly intInfo?: number;
  /** What the guest did natively before this exit (writes to the save area, registers, DR0-DR3). */
  readonly before?: (hw: CpuAttachment) => void;
}

/**
 * A CPU that replays scripted #VMEXITs, in order, the way SVM hardware reports them (exit_code,
 * exit_info_1/2, next_rip, exit_int_info), taking a valid event_inj at each VMRUN as delivered;
 * after the script, HLT (one byte) forever. `entries` records what each VMRUN found: the event it
 * delivered (0: none) and the save area's DR6.
 */
export class HardwareExits implements CpuBackend {
  hw!: CpuAttachment;
  readonly entries: { eventInj: number; eventInjErr: number; dr6: bigint }[] = [];
  readonly #exits: HwExit[];

  constructor(
    exits: readonly HwExit[],
    readonly protectedState = false,
  ) {
    this.#exits = [...exits];
  }

  attach(hw: CpuAttachment): void {
    this.hw = hw;
  }

  vmrun(): void {
    const vmcb = this.hw.vmcb;
    const inj = vmcb.eventInj;
    this.entries.push({
      eventInj: inj,
      eventInjErr: vmcb.eventInjErr,
      dr6: vmcb.save.getBigUint64(SAVE_DR6, true),
    });
    if (inj & SVM_EVTINJ_VALID) vmcb.eventInj = 0;
    const e = this.#exits.shift() ?? { code: SVM_EXIT_HLT, len: 1 };
    e.before?.(this.hw);
    const i1 = e.info1 ?? 0n;
    const i2 = e.info2 ?? 0n;
    vmcb.setExit(
      e.code,
      Number(i1 & 0xffff_ffffn),
      Number(i1 >> 32n),
      Number(i2 & 0xffff_ffffn),
      Number(i2 >> 32n),
    );
    const rip = this.protectedState ? 0 : getU64Number(vmcb.save, SAVE_RIP);
    vmcb.nextRip = e.len === undefined ? 0n : BigInt(rip + e.len);
    vmcb.control.setUint32(VMCB_EXIT_INT_INFO, e.intInfo ?? 0, true);
  }
}

/** A default VM with RAM (16 pages at GPA 0) whose vCPU 0 is a HardwareExits CPU replaying `exits`. */
export function hardwareExitsVm(
  exits: readonly HwExit[],
  opts: { mode?: CodeSize; kvm?: KvmOptions; irqchip?: boolean } = {},
): VmEnv & { vcpuFd: ModelVcpuFd; vcpu: Vcpu; cpu: HardwareExits } {
  const cpu = new HardwareExits(exits);
  const env = vmWithRam(16, { ...opts.kvm, cpus: () => cpu });
  if (opts.irqchip) ok(env.vmFd.createIrqchip(), 'KVM_CREATE_IRQCHIP');
  const vcpuFd = ok(env.vmFd.createVcpu(0), 'KVM_CREATE_VCPU');
  if (opts.mode !== undefined) setCodeSize(vcpuFd, opts.mode);
  return { ...env, vcpuFd, vcpu: vcpuFd.vcpu, cpu };
}
