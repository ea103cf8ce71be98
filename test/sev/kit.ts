/**
 * The SEV-ES acceptance kit: one way to build a machine, drive it like a VMM and read what happened,
 * so every test in test/sev reads as "this guest, these host faults, this kernel → this outcome".
 *
 *   const m = sevMachine({ profile: 'seed', guest: function* (c) { return yield* c.mmioRead(MMIO_GPA, 4) } });
 *   const r = drive(m);            // runs until the guest program ends; answers MMIO/IN with known bytes
 *   r.runs                         // what each KVM_RUN returned: an exit (kind + reason) or an errno
 *   lastOutcome(r)                 // what KVM did with the VMGEXIT (foldVmgexits over the trace)
 *   r.guest                        // what the guest program returned (e.g. its GhcbResult)
 *   finish(m)                      // close the vCPU and VM fds, then assert nothing KVM allocated is live
 *
 * A machine is built as a VMM builds one, through the fd interface (src/uapi/kvm-fd.ts): the model's
 * /dev/kvm for the profile's kernel (openKvm + sevKvmOptions), scripted guests as the hardware's CPUs,
 * an SEV-ES VM made the way this kernel offers (`createSevEsVm`: KVM_X86_SEV_ES_VM + KVM_SEV_INIT2
 * with a struct kvm_sev_init in process memory on `current`; KVM_CREATE_VM(0) + KVM_SEV_ES_INIT on
 * prefix/seed, which have no VM types), memslots with KVM_SET_USER_MEMORY_REGION, then the vCPU.
 * KVM_RUN results are values: an exit, or `{ kind: 'Failed', error, left, oops? }`.
 *
 * Every machine is registered; `leakGuard()` (call it once at the top of a test file) finishes any
 * machine a test left open, so every test checks for leaks even when it fails half-way.
 *
 * Memory layout (guest physical → host virtual):
 *
 *   slot 0  GPA 0x0000_0000 .. 0x0010_0000 (1 MiB RAM)  at RAM_HVA
 *             GHCB page at GHCB_GPA (0x1000), shared buffer GHCB+0x800 .. GHCB+0xFF0
 *             SCRATCH_GPA (0x4000): a scratch area outside the GHCB, in RAM
 *   slot 1  GPA 0x0010_0000 .. 0x0013_0000 (192 KiB)    at SPARE_HVA: the region a test may unmap,
 *           mprotect or delete
 *   nothing at NO_SLOT_GPA (0x2000_0000): "no memslot"; MMIO_GPA (0xD000_0000) is where devices live
 */
import assert from 'node:assert/strict';
import { afterEach } from 'node:test';
import { type GuestOp, type GuestProgram, observeOps, type ScriptedCpu } from '../../src/cpu/scripted.js';
import { ScriptedGuests } from '../../src/cpu/scripted-guests.js';
import { GhcbClient } from '../../src/guest/ghcb-client.js';
import type { GhcbResult } from '../../src/guest/result.js';
import { HostAddressSpace } from '../../src/host/address-space.js';
import { type AllocFaultPlan, HostAllocator } from '../../src/host/allocator.js';
import { ModelProcessMemory } from '../../src/host/process.js';
import { type ModelKvmFd, type ModelVcpuFd, type ModelVmFd, openKvm } from '../../src/kvm/fd.js';
import { openSevDevice, type SevHost } from '../../src/sev/launch.js';
import type { SevProfileName } from '../../src/sev/profiles.js';
import { sevKvmOptions } from '../../src/sev/sev-es-vm.js';
import type { TraceEvent } from '../../src/trace/events.js';
import { foldVmgexits, type VmgexitOutcome, type VmgexitRecord } from '../../src/trace/outcome.js';
import { KVM_CAP_VM_TYPES, KVM_X86_DEFAULT_VM, KVM_X86_SEV_ES_VM } from '../../src/uapi/caps.js';
import { Errno, type ErrnoName, errnoValue } from '../../src/uapi/errno.js';
import {
  GHCB_OFF_RAX,
  GHCB_OFF_RBX,
  GHCB_OFF_RCX,
  GHCB_OFF_RDX,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_SW_SCRATCH,
  GHCB_OFF_VALID_BITMAP,
} from '../../src/uapi/ghcb.js';
import type { RunFailure } from '../../src/uapi/kvm-fd.js';
import {
  encodeSevInit,
  KVM_SEV_ES_INIT,
  KVM_SEV_INIT_SIZE,
  KVM_SEV_INIT2,
  type KvmSevInit,
} from '../../src/uapi/sev-cmd.js';
import {
  SVM_EXIT_IOIO,
  SVM_IOIO_REP_MASK,
  SVM_IOIO_STR_MASK,
  SVM_VMGEXIT_MMIO_READ,
  SVM_VMGEXIT_MMIO_WRITE,
} from '../../src/uapi/svm.js';
import type { VcpuExit } from '../../src/uapi/vcpu-exit.js';
import { isSevLaunchError, launchSevEs } from '../../src/vmm/sev-launch.js';

// ------------------------------------------------------------------------------------------ layout

/** The three kernels, oldest first. */
export const PROFILES = ['prefix', 'seed', 'current'] as const satisfies readonly SevProfileName[];
export type Profile = (typeof PROFILES)[number];

export const PAGE = 4096;
/** Slot 0: RAM at GPA 0. */
export const RAM_HVA = 0x7f00_0000_0000;
export const RAM_SIZE = 0x10_0000;
/** The GHCB page every kit guest registers. */
export const GHCB_GPA = 0x1000;
export const GHCB_HVA = RAM_HVA + GHCB_GPA;
/** The GHCB shared buffer: [SHARED_GPA, SHARED_END). */
export const SHARED_GPA = GHCB_GPA + 0x800;
export const SHARED_END = GHCB_GPA + 0xff0;
/** A scratch area outside the GHCB page, in RAM (bounce-buffer path; GHCB v1 only under current). */
export const SCRATCH_GPA = 0x4000;
/** A second scratch-sized area in RAM, for the snapshot test. */
export const SCRATCH2_GPA = 0x5000;
/** Slot 1: the spare region. */
export const SPARE_SLOT = 1;
export const SPARE_GPA = 0x10_0000;
export const SPARE_SIZE = 0x3_0000;
export const SPARE_HVA = 0x7f00_1000_0000;
/** No memslot here. */
export const NO_SLOT_GPA = 0x2000_0000;
/** Device MMIO lives here (never a memslot; KVM never touches it, it only names it in exits). */
export const MMIO_GPA = 0xd000_0000;
/** An I/O port for tests. */
export const PORT = 0x3f8;

/** Host virtual address of a guest physical address in slot 0 or slot 1. */
export function hvaOf(gpa: number): number {
  if (gpa >= 0 && gpa < RAM_SIZE) return RAM_HVA + gpa;
  if (gpa >= SPARE_GPA && gpa < SPARE_GPA + SPARE_SIZE) return SPARE_HVA + (gpa - SPARE_GPA);
  throw new RangeError(`GPA 0x${gpa.toString(16)} is in no kit memslot`);
}

// --------------------------------------------------------------------- recognisable VMM answers

/** The byte the kit's VMM answers for an MMIO read of address `addr`: 0x80 | (addr & 0x7f). */
export function mmioByte(addr: number): number {
  return 0x80 | (addr & 0x7f);
}

/** The bytes an MMIO read of `len` bytes at `addr` returns through the kit's VMM. */
export function mmioBytes(addr: number, len: number): number[] {
  return Array.from({ length: len }, (_, i) => mmioByte(addr + i));
}

/** The byte the kit's VMM answers as the n-th byte (counting from 0, across all IN exits of a drive). */
export function ioInByte(n: number): number {
  return (0x30 + n) & 0xff;
}

// ------------------------------------------------------------------------------------- machines

/** A /dev/kvm of `profile`'s kernel with SEV-ES, as modelPlatform opens it: its host, allocator and CPUs. */
export interface KvmWorld {
  readonly kvm: ModelKvmFd;
  readonly host: HostAddressSpace;
  readonly allocator: HostAllocator;
  /** The hardware's CPUs: load a vCPU's program here before KVM_CREATE_VCPU. */
  readonly guests: ScriptedGuests;
  /** Every trace event, in order. */
  readonly events: TraceEvent[];
  /** The host's SEV side (its firmware, for /dev/sev). */
  readonly sevHost: SevHost;
}

/**
 * The SEV-ES launch a VMM does once the vCPUs exist (src/vmm/sev-launch.ts): LAUNCH_START through a
 * /dev/sev fd, LAUNCH_UPDATE_VMSA, LAUNCH_MEASURE, LAUNCH_FINISH; asserting success.
 */
export function launchSevEsVm(w: Pick<KvmWorld, 'kvm' | 'host' | 'sevHost'>, vm: ModelVmFd): void {
  const r = launchSevEs(vm, new ModelProcessMemory(w.host), { sevFd: openSevDevice(w.kvm.kvm, w.sevHost) });
  if (isSevLaunchError(r)) throw new Error(`SEV-ES launch: ${r.command}: ${r.errno}`);
}

/** Open the model's /dev/kvm for `profile` (sevKvmOptions) with scripted guests and a trace log. */
export function openSevKvm(profile: Profile, allocator = new HostAllocator()): KvmWorld {
  const events: TraceEvent[] = [];
  const host = new HostAddressSpace();
  const guests = new ScriptedGuests();
  const { sevHost, ...sev } = sevKvmOptions(profile);
  const kvm = openKvm({
    ...sev,
    host,
    allocator,
    cpus: guests.cpus,
    trace: (e) => events.push(e),
  });
  return { kvm, host, allocator, guests, events, sevHost };
}

/**
 * KVM_MEMORY_ENCRYPT_OP(KVM_SEV_INIT2) with a struct kvm_sev_init the VMM writes into its own memory
 * (KVM copies it from there), as the VMM does: undefined on success, else the errno.
 */
export function sevInit2(
  vm: ModelVmFd,
  host: HostAddressSpace,
  init: Partial<KvmSevInit> = {},
): Errno | undefined {
  const memory = new ModelProcessMemory(host);
  const page = memory.mapAnonymous(PAGE);
  if (page instanceof Errno) throw new Error(`mmap: ${page}`);
  const data: KvmSevInit = { vmsaFeatures: 0n, flags: 0, ghcbVersion: 0, ...init };
  memory.write(page, encodeSevInit(data).subarray(0, KVM_SEV_INIT_SIZE));
  const r = vm.memoryEncryptOp({ id: KVM_SEV_INIT2, data: BigInt(page), error: 0, sevFd: 0 });
  memory.unmap(page, PAGE);
  if (r instanceof Errno) return r;
  assert.equal(r.error, 0, 'KVM_SEV_INIT2 succeeded with a firmware error');
  return undefined;
}

/** KVM_MEMORY_ENCRYPT_OP(KVM_SEV_ES_INIT) (no data): undefined or the errno. */
export function sevEsInit(vm: ModelVmFd): Errno | undefined {
  const r = vm.memoryEncryptOp({ id: KVM_SEV_ES_INIT, data: 0n, error: 0, sevFd: 0 });
  return r instanceof Errno ? r : undefined;
}

/**
 * An SEV-ES VM the way src/vmm/vmm.ts createVm() makes one: KVM_X86_SEV_ES_VM + KVM_SEV_INIT2
 * (ghcb_version) when KVM_CAP_VM_TYPES offers the type, else KVM_CREATE_VM(0) + KVM_SEV_ES_INIT
 * (GHCB version 1 only: asking for another is the harness's mistake and throws). `legacy` takes the
 * second path even where the first exists (a VMM that predates KVM_SEV_INIT2).
 */
export function createSevEsVm(w: Pick<KvmWorld, 'kvm' | 'host'>, ghcbVersion = 1, legacy = false): ModelVmFd {
  const typed = !legacy && (w.kvm.checkExtension(KVM_CAP_VM_TYPES) & (1 << KVM_X86_SEV_ES_VM)) !== 0;
  const vm = w.kvm.createVm(typed ? KVM_X86_SEV_ES_VM : KVM_X86_DEFAULT_VM);
  if (vm instanceof Errno) throw new Error(`KVM_CREATE_VM: ${vm}`);
  if (!typed && ghcbVersion !== 1) {
    vm.close();
    throw new Error(`this KVM's SEV-ES VMs (KVM_SEV_ES_INIT) speak GHCB version 1 only, not ${ghcbVersion}`);
  }
  const r = typed ? sevInit2(vm, w.host, { ghcbVersion }) : sevEsInit(vm);
  if (r) {
    vm.close();
    throw new Error(`${typed ? 'KVM_SEV_INIT2' : 'KVM_SEV_ES_INIT'}: ${r}`);
  }
  return vm;
}

/** KVM_SET_USER_MEMORY_REGION, asserting success. */
export function addSlot(
  vm: ModelVmFd,
  slot: number,
  gpa: number,
  size: number,
  hva: number,
  flags = 0,
): void {
  const r = vm.setUserMemoryRegion({
    slot,
    flags,
    guestPhysAddr: BigInt(gpa),
    memorySize: BigInt(size),
    userspaceAddr: BigInt(hva),
  });
  assert.equal(r, undefined, `KVM_SET_USER_MEMORY_REGION slot ${slot}: ${r}`);
}

/** KVM_ENABLE_CAP on the VM fd with args[0] = `arg0`, asserting success. */
export function enableCap(vm: ModelVmFd, cap: number, arg0 = 0n): void {
  const r = vm.enableCap({ cap, flags: 0, args: [arg0, 0n, 0n, 0n] });
  assert.equal(r, undefined, `KVM_ENABLE_CAP ${cap}: ${r}`);
}

/** What a kit guest is: a program on top of a registered GHCB client. */
export type GuestFn<T> = (client: GhcbClient, cpu: ScriptedCpu) => Generator<GuestOp, T, unknown>;

/** How to build a machine. */
export interface MachineOptions<T> {
  profile: Profile;
  /** GHCB protocol version of the VM (KVM_SEV_INIT2's ghcb_version). Default 1, valid everywhere. */
  ghcbVersion?: number;
  /** KVM_CREATE_VM(0) + KVM_SEV_ES_INIT even where KVM offers KVM_X86_SEV_ES_VM (a legacy SEV-ES VM). */
  legacyInit?: boolean;
  /** Bytes KVM may allocate at once (default unlimited). */
  budget?: number;
  /** Allocation faults to inject (failNth counts from the first allocation after setup). */
  allocFaults?: AllocFaultPlan;
  /** KVM_CREATE_IRQCHIP before the vCPU (in-kernel local APIC: HLT and AP reset hold wait in KVM). */
  irqchip?: boolean;
  /**
   * The VMM's setup after memory is in place and before the vCPU is created (unmap, mprotect, more
   * memslots, KVM_ENABLE_CAP...): the process's address space, the VM fd and the allocator KVM charges.
   */
  host?: (host: HostAddressSpace, vm: ModelVmFd, allocator: HostAllocator) => void;
  /** The guest program. The client is registered (GHCB MSR = GHCB_GPA) before it starts. */
  guest: GuestFn<T>;
  /**
   * More vCPUs (1, 2, ...) and their programs, created with vCPU 0 before the launch (an SEV-ES
   * vCPU created after LAUNCH_UPDATE_VMSA never gets a VMSA and cannot run).
   */
  aps?: readonly GuestProgram[];
}

/** A built machine. */
export interface Machine<T = unknown> {
  readonly profile: Profile;
  /** The system fd. */
  readonly kvm: ModelKvmFd;
  /** The VM fd. */
  readonly vm: ModelVmFd;
  /** vCPU 0's fd. */
  readonly vcpu: ModelVcpuFd;
  /** The fds of MachineOptions.aps's vCPUs (1, 2, ...). */
  readonly aps: readonly ModelVcpuFd[];
  /** vCPU 0's CPU (the hardware; a harness may look, KVM and the VMM never do). */
  readonly cpu: ScriptedCpu;
  /** The hardware's CPUs: load a program here before creating another vCPU. */
  readonly guests: ScriptedGuests;
  /** The VMM process's address space (guest RAM is mapped here). */
  readonly host: HostAddressSpace;
  readonly client: GhcbClient;
  readonly allocator: HostAllocator;
  /** Every trace event, in order. */
  readonly events: TraceEvent[];
  /** VMGEXIT instructions the guest has executed so far. */
  vmgexits: number;
  /** What the guest program returned, once it has. */
  guestResult: T | undefined;
  /** The guest program returned. */
  guestReturned: boolean;
  /** Bytes answered to IN exits so far (for ioInByte). */
  inBytes: number;
  /** finish() was called. */
  finished: boolean;
}

const open = new Set<Machine>();

/**
 * Build an SEV-ES VM with the kit's memory layout and one vCPU running `guest`. Nothing runs yet.
 */
export function sevMachine<T>(opts: MachineOptions<T>): Machine<T> {
  const allocator = new HostAllocator();
  const w = openSevKvm(opts.profile, allocator);
  const { kvm, host, guests, events } = w;
  const vm = createSevEsVm(w, opts.ghcbVersion ?? 1, opts.legacyInit ?? false);
  host.mapAnonymous(RAM_HVA, RAM_SIZE);
  addSlot(vm, 0, 0, RAM_SIZE, RAM_HVA);
  host.mapAnonymous(SPARE_HVA, SPARE_SIZE);
  addSlot(vm, SPARE_SLOT, SPARE_GPA, SPARE_SIZE, SPARE_HVA);
  if (opts.irqchip) assert.equal(vm.createIrqchip(), undefined, 'KVM_CREATE_IRQCHIP');
  opts.host?.(host, vm, allocator);
  let client: GhcbClient | undefined;
  const m = {
    profile: opts.profile,
    kvm,
    vm,
    guests,
    host,
    allocator,
    events,
    vmgexits: 0,
    guestResult: undefined,
    guestReturned: false,
    inBytes: 0,
    finished: false,
  } as unknown as Machine<T> & { cpu: ScriptedCpu; client: GhcbClient; vcpu: ModelVcpuFd };
  guests.load(0, {
    *program(cpu) {
      client!.register();
      const result = yield* observeOps(opts.guest(client!, cpu), (op) => {
        if (op.op === 'vmgexit') m.vmgexits++;
      });
      m.guestResult = result;
      m.guestReturned = true;
    },
  });
  const vcpu = vm.createVcpu(0);
  if (vcpu instanceof Errno) throw new Error(`KVM_CREATE_VCPU: ${vcpu}`);
  const aps: ModelVcpuFd[] = [];
  for (const [i, program] of (opts.aps ?? []).entries()) {
    guests.load(i + 1, { program });
    const ap = vm.createVcpu(i + 1);
    if (ap instanceof Errno) throw new Error(`KVM_CREATE_VCPU ${i + 1}: ${ap}`);
    aps.push(ap);
  }
  launchSevEsVm(w, vm);
  // Fault plans count from here (after the launch's LAUNCH_MEASURE buffer), so failNth: 1 is the
  // first allocation a VMGEXIT makes.
  if (opts.allocFaults) allocator.setFaults(opts.allocFaults);
  if (opts.budget !== undefined) allocator.budget = opts.budget;
  // So do the allocation statistics the tests read.
  allocator.resetStats();
  const cpu = guests.cpu(0)!;
  assert.equal(cpu.protectedState, true, 'the vCPU of an SEV-ES VM runs on an SEV-ES CPU');
  client = new GhcbClient(cpu, GHCB_GPA, { version: opts.ghcbVersion === 2 ? 2 : 1 });
  m.vcpu = vcpu;
  (m as { aps: readonly ModelVcpuFd[] }).aps = aps;
  m.cpu = cpu;
  m.client = client;
  open.add(m as Machine);
  return m;
}

/**
 * Close the vCPU and VM fds and assert that KVM holds no allocation any more (bounce buffers, dirty
 * bitmaps): both the bytes charged and the number of live allocations (a 0-byte bounce buffer counts too).
 */
export function finish(m: Machine<unknown>): void {
  if (m.finished) return;
  m.finished = true;
  open.delete(m);
  m.vcpu.close();
  m.vm.close();
  const live = [...m.allocator.live()].map(([tag, v]) => `${tag}: ${v.count} (${v.bytes} B)`).join(', ');
  assert.equal(m.allocator.inUse(), 0, `leak after closing the VM: ${live}`);
  assert.equal(m.allocator.liveCount(), 0, `leak after closing the VM: ${live}`);
}

/** Call once per test file: after every test, finish (close + leak check) every machine left open. */
export function leakGuard(): void {
  afterEach(() => {
    const left = [...open];
    for (const m of left) finish(m);
  });
}

// ---------------------------------------------------------------------------------------- driver

/** What one KVM_RUN returned. */
export type RunRecord =
  | {
      readonly exit: VcpuExit['kind'];
      /** kvm_run.exit_reason. */
      readonly reason: number;
      readonly addr?: number;
      readonly len?: number;
      readonly port?: number;
      readonly size?: number;
      readonly count?: number;
      /** For writes / OUTs: the bytes userspace was handed. */
      readonly data?: readonly number[];
      readonly type?: number;
      readonly suberror?: number;
      readonly words?: readonly bigint[];
    }
  | {
      readonly errno: ErrnoName;
      /** Set when the host kernel crashed (the run result's `oops`). */
      readonly oops?: string;
      /** kvm_run.exit_reason as KVM_RUN left it. */
      readonly staleReason: number;
    };

/** What a drive did. */
export interface DriveReport<T> {
  readonly runs: RunRecord[];
  /** What the guest program returned (undefined if it did not return). */
  readonly guest: T | undefined;
  readonly guestReturned: boolean;
  readonly cpuState: ScriptedCpu['state'];
  /** The guest crashed (an exception nobody caught). */
  readonly crash: unknown;
  /** One record per VMGEXIT KVM saw (ignored ones leave none), from foldVmgexits. */
  readonly outcomes: VmgexitRecord[];
  /** VMGEXIT instructions executed by the guest. */
  readonly vmgexits: number;
  /** maxRuns was reached before the guest finished or a stop. */
  readonly truncated: boolean;
}

/** How to drive. */
export interface DriveOptions {
  /** KVM_RUN calls at most (default 100). */
  maxRuns?: number;
  /**
   * Called for each exit, after the kit has answered MMIO reads / INs with its bytes (so a test may
   * overwrite them). Return 'stop' to stop driving, 'continue' to keep going after an exit the kit
   * would stop at (InternalError, SystemEvent, Shutdown, FailEntry, Unknown).
   */
  onExit?: (exit: VcpuExit, m: Machine<unknown>, run: number) => 'stop' | 'continue' | undefined;
  /** Called when KVM_RUN fails. Default: re-run after EFAULT, ENOMEM and EINTR; stop otherwise. */
  onError?: (failure: RunFailure, m: Machine<unknown>, run: number) => 'rerun' | 'stop';
}

const STOP_KINDS: ReadonlySet<VcpuExit['kind']> = new Set([
  'InternalError',
  'SystemEvent',
  'Shutdown',
  'FailEntry',
  'Unknown',
]);

function recordExit(exit: VcpuExit): RunRecord {
  switch (exit.kind) {
    case 'MmioRead':
      return { exit: exit.kind, reason: exit.reason, addr: exit.addr, len: exit.data.length };
    case 'MmioWrite':
      return {
        exit: exit.kind,
        reason: exit.reason,
        addr: exit.addr,
        len: exit.data.length,
        data: [...exit.data],
      };
    case 'IoIn':
      return { exit: exit.kind, reason: exit.reason, port: exit.port, size: exit.size, count: exit.count };
    case 'IoOut':
      return {
        exit: exit.kind,
        reason: exit.reason,
        port: exit.port,
        size: exit.size,
        count: exit.count,
        data: [...exit.data],
      };
    case 'SystemEvent':
      return { exit: exit.kind, reason: exit.reason, type: exit.type, words: [...exit.data] };
    case 'InternalError':
      return { exit: exit.kind, reason: exit.reason, suberror: exit.suberror, words: [...exit.data] };
    default:
      return { exit: exit.kind, reason: exit.reason };
  }
}

/** The kit's VMM answer: recognisable bytes for MMIO reads and INs. */
function answer(exit: VcpuExit, m: Machine<unknown>): void {
  if (exit.kind === 'MmioRead') {
    for (let i = 0; i < exit.data.length; i++) exit.data[i] = mmioByte(exit.addr + i);
  } else if (exit.kind === 'IoIn') {
    for (let i = 0; i < exit.data.length; i++) exit.data[i] = ioInByte(m.inBytes + i);
    m.inBytes += exit.data.length;
  }
}

/** KVM_RUN, expecting it to fail with `errno`: the failure (what kvm_run was left holding). */
export function runFails(vcpu: ModelVcpuFd, errno: ErrnoName): RunFailure {
  const r = vcpu.run();
  if (r.kind !== 'Failed') assert.fail(`expected KVM_RUN to fail ${errno}, got a ${r.kind} exit`);
  assert.equal(r.error.errno, errno, `KVM_RUN failed ${r.error} instead of ${errno}`);
  return r;
}

/** KVM_RUN, expecting an exit of `kind`. */
export function runExits<K extends VcpuExit['kind']>(
  vcpu: ModelVcpuFd,
  kind: K,
): Extract<VcpuExit, { kind: K }> {
  const r = vcpu.run();
  if (r.kind === 'Failed') assert.fail(`expected a ${kind} exit, KVM_RUN failed ${r.error}`);
  assert.equal(r.kind, kind, `expected a ${kind} exit, got ${r.kind}`);
  return r as Extract<VcpuExit, { kind: K }>;
}

/**
 * Run the vCPU like a VMM until the guest program ends (or a stop, or maxRuns), answering MMIO reads
 * and INs with the kit's bytes, and recording what every KVM_RUN returned.
 */
export function drive<T>(m: Machine<T>, opts: DriveOptions = {}): DriveReport<T> {
  const maxRuns = opts.maxRuns ?? 100;
  const runs: RunRecord[] = [];
  let truncated = true;
  const ended = (): boolean => m.cpu.state === 'done' || m.cpu.state === 'shutdown';
  for (let n = 0; n < maxRuns; n++) {
    if (ended()) {
      truncated = false;
      break;
    }
    const r = m.vcpu.run();
    if (r.kind === 'Failed') {
      const errno = r.error.errno;
      runs.push({
        errno,
        ...(r.oops !== undefined ? { oops: r.oops } : {}),
        staleReason: r.left.reason,
      });
      const policy =
        opts.onError?.(r, m as Machine<unknown>, n) ??
        (errno === 'EFAULT' || errno === 'ENOMEM' || errno === 'EINTR' ? 'rerun' : 'stop');
      if (policy === 'stop') {
        truncated = false;
        break;
      }
      continue;
    }
    runs.push(recordExit(r));
    answer(r, m as Machine<unknown>);
    const said = opts.onExit?.(r, m as Machine<unknown>, n);
    if (said === 'stop' || (said !== 'continue' && STOP_KINDS.has(r.kind))) {
      truncated = false;
      break;
    }
  }
  if (ended()) truncated = false;
  return {
    runs,
    guest: m.guestResult,
    guestReturned: m.guestReturned,
    cpuState: m.cpu.state,
    crash: m.cpu.crash,
    outcomes: foldVmgexits(m.events),
    vmgexits: m.vmgexits,
    truncated,
  };
}

/** Build, drive, finish (close + leak check): the usual life of a table row. */
export function runScenario<T>(opts: MachineOptions<T> & DriveOptions): DriveReport<T> & { m: Machine<T> } {
  const m = sevMachine(opts);
  const r = drive(m, opts);
  finish(m as Machine<unknown>);
  return { ...r, m };
}

// ------------------------------------------------------------------------------------- outcomes

/** What a row expects KVM to have done with the VMGEXIT under test. */
export type Expected =
  | { readonly kind: 'handled' }
  | { readonly kind: 'ignored' }
  | { readonly kind: 'reflected'; readonly error: number }
  | { readonly kind: 'userspace'; readonly reasons: readonly number[] }
  | { readonly kind: 'error'; readonly errno: ErrnoName; readonly reasons: readonly number[] }
  | { readonly kind: 'oops' };

export const handled = (): Expected => ({ kind: 'handled' });
export const ignored = (): Expected => ({ kind: 'ignored' });
export const reflected = (error: number): Expected => ({ kind: 'reflected', error });
export const userspace = (...reasons: number[]): Expected => ({ kind: 'userspace', reasons });
export const fails = (errno: ErrnoName, ...reasons: number[]): Expected => ({
  kind: 'error',
  errno,
  reasons,
});
export const oops = (): Expected => ({ kind: 'oops' });

/**
 * The outcome of the guest's last VMGEXIT, in the kit's terms. A KVM_RUN that oopsed the host is
 * 'oops' (the trace has no event for it); a VMGEXIT that left no trace record is 'ignored'.
 */
export function lastOutcome(r: DriveReport<unknown>): Expected | VmgexitOutcome {
  const crashed = r.runs.find((x) => 'oops' in x && x.oops);
  if (crashed) return { kind: 'oops' };
  const rec = r.outcomes[r.outcomes.length - 1];
  if (!rec) return { kind: 'ignored' };
  return rec.outcome;
}

/** Assert the guest's last VMGEXIT had the expected outcome (exact reflected code, exit reasons, errno). */
export function assertOutcome(r: DriveReport<unknown>, want: Expected): void {
  const got = lastOutcome(r);
  switch (want.kind) {
    case 'ignored':
      assert.equal(r.outcomes.length, 0, `expected KVM to ignore the VMGEXIT, got ${fmt(got)}`);
      assert.ok(r.vmgexits > 0, 'the guest executed no VMGEXIT at all');
      return;
    case 'reflected':
      assert.equal(got.kind, 'reflected', `expected reflect error ${want.error}, got ${fmt(got)}`);
      assert.equal((got as { error: number }).error, want.error, `reflected error code, got ${fmt(got)}`);
      return;
    case 'userspace':
      assert.deepEqual(got, { kind: 'userspace', reasons: want.reasons });
      return;
    case 'error':
      assert.equal(got.kind, 'error', `expected KVM_RUN to fail ${want.errno}, got ${fmt(got)}`);
      assert.deepEqual(got, { kind: 'error', errno: errnoValue(want.errno), reasons: want.reasons });
      return;
    default:
      assert.deepEqual(got, want);
  }
}

function fmt(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));
}

/** Assert the guest's GhcbResult: ok (sw_exit_info_1 = 0), or reflected with exactly this GHCB_ERR_*. */
export function assertGuestSaw(
  result: GhcbResult | undefined,
  want: { ok: true; info2?: bigint } | { reflected: number } | { exception: number; info2: bigint },
): void {
  assert.ok(result, 'the guest got no answer (it did not resume after the VMGEXIT)');
  if ('ok' in want) {
    assert.equal(result.kind, 'ok', `guest saw ${fmt(result)}`);
    assert.equal(result.info1, 0n);
    if (want.info2 !== undefined) assert.equal(result.info2, want.info2);
  } else if ('reflected' in want) {
    assert.equal(result.kind, 'reflected', `guest saw ${fmt(result)}`);
    assert.equal(result.info1, 2n);
    assert.equal(result.info2, BigInt(want.reflected));
  } else {
    assert.equal(result.kind, 'exception', `guest saw ${fmt(result)}`);
    assert.equal(result.info1, 1n);
    assert.equal(result.info2, want.info2);
    assert.equal((result as { vector: number }).vector, want.exception);
  }
}

// ----------------------------------------------------------------------------- looking at memory

/** Read guest memory the way the VMM can: through its own host mapping. */
export function hostRead(m: Machine<unknown>, gpa: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  const f = m.host.read(hvaOf(gpa), out);
  assert.equal(f, undefined, `host read of GPA 0x${gpa.toString(16)} faulted`);
  return out;
}

/** Write guest memory through the VMM's host mapping. */
export function hostWrite(m: Machine<unknown>, gpa: number, bytes: Uint8Array): void {
  const f = m.host.write(hvaOf(gpa), bytes);
  assert.equal(f, undefined, `host write of GPA 0x${gpa.toString(16)} faulted`);
}

/** The GHCB page as it is in memory now (read through the host). */
export function ghcbNow(m: Machine<unknown>): {
  u64(off: number): bigint;
  info1: bigint;
  info2: bigint;
  /** Set valid-bitmap bit indices, ascending. */
  validBits: number[];
  bytes: Uint8Array;
} {
  const bytes = hostRead(m, GHCB_GPA, PAGE);
  return { ...decodeGhcb(bytes), bytes };
}

/** Decode the parts of a GHCB page tests look at. */
export function decodeGhcb(bytes: Uint8Array): {
  u64(off: number): bigint;
  info1: bigint;
  info2: bigint;
  validBits: number[];
} {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const validBits: number[] = [];
  for (let i = 0; i < 128; i++) {
    if (bytes[GHCB_OFF_VALID_BITMAP + (i >> 3)]! & (1 << (i & 7))) validBits.push(i);
  }
  return {
    u64: (off) => v.getBigUint64(off, true),
    info1: v.getBigUint64(GHCB_OFF_SW_EXIT_INFO_1, true),
    info2: v.getBigUint64(GHCB_OFF_SW_EXIT_INFO_2, true),
    validBits,
  };
}

/** Valid-bitmap indices of GHCB fields (offset / 8), ascending. */
export function bitsOf(...offsets: number[]): number[] {
  return offsets.map((o) => o >> 3).sort((a, b) => a - b);
}

/** What every answered VMGEXIT leaves valid: sw_exit_info_1/2 (the result) and RAX..RDX (sync_to_ghcb). */
export const RESULT_BITS = bitsOf(
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_RAX,
  GHCB_OFF_RBX,
  GHCB_OFF_RCX,
  GHCB_OFF_RDX,
);

/** The exits of a drive (errnos left out), as [kind, addr-or-port, len-or-count]. */
export function exitsOf(r: DriveReport<unknown>): RunRecord[] {
  return r.runs.filter((x) => 'exit' in x);
}

/** Read the valid bitmap of the GHCB from inside the guest (what the guest itself sees). */
export function* guestValidBits(c: GhcbClient): Generator<GuestOp, number[], unknown> {
  const raw = yield* c.readRaw(GHCB_OFF_VALID_BITMAP, 16);
  const out: number[] = [];
  for (let i = 0; i < 128; i++) if (raw[i >> 3]! & (1 << (i & 7))) out.push(i);
  return out;
}

// ------------------------------------------------------------------------------- guest requests

/** A little-endian u64 as 8 bytes. */
export function le64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return b;
}

/**
 * A hand-built GHCB request, for inputs a well-behaved guest never sends: `fields` are set (value +
 * valid bit), then sw_exit_code/info_1/info_2, then the valid bits of `drop` are cleared again.
 * Sent with VMGEXIT; returns what the guest read back in sw_exit_info_1/2.
 */
export function* request(
  c: GhcbClient,
  code: bigint | number,
  info1: bigint | number,
  info2: bigint | number,
  fields: readonly (readonly [offset: number, value: bigint])[] = [],
  drop: readonly number[] = [],
): Generator<GuestOp, GhcbResult, unknown> {
  c.invalidate();
  for (const [off, v] of fields) c.setField(off, v);
  c.setField(GHCB_OFF_SW_EXIT_CODE, BigInt(code));
  c.setField(GHCB_OFF_SW_EXIT_INFO_1, BigInt(info1));
  c.setField(GHCB_OFF_SW_EXIT_INFO_2, BigInt(info2));
  for (const off of drop) c.setValidBit(off >> 3, false);
  return yield* c.vmgexitRaw();
}

/** An MMIO read/write request naming `scratch` as sw_scratch, with no data read back by the guest. */
export function* rawMmio(
  c: GhcbClient,
  dir: 'read' | 'write',
  gpa: number,
  len: bigint | number,
  scratch: bigint | number,
): Generator<GuestOp, GhcbResult, unknown> {
  const code = dir === 'read' ? SVM_VMGEXIT_MMIO_READ : SVM_VMGEXIT_MMIO_WRITE;
  return yield* request(c, code, BigInt(gpa), BigInt(len), [[GHCB_OFF_SW_SCRATCH, BigInt(scratch)]]);
}

/** A string I/O request (OUTS/INS) with a raw exit_info_1 `size` field (0-7) and element count. */
export function* rawStringIo(
  c: GhcbClient,
  dir: 'in' | 'out',
  sizeField: number,
  count: bigint | number,
  scratch: bigint | number,
  port = PORT,
): Generator<GuestOp, GhcbResult, unknown> {
  const info1 =
    (port << 16) | (sizeField << 4) | SVM_IOIO_REP_MASK | SVM_IOIO_STR_MASK | (dir === 'in' ? 1 : 0);
  return yield* request(c, SVM_EXIT_IOIO, BigInt(info1 >>> 0), BigInt(count), [
    [GHCB_OFF_SW_SCRATCH, BigInt(scratch)],
  ]);
}

/** A guest that does nothing (for tests that only look at the VM before it runs). */
export function* idleGuest(): Generator<GuestOp, undefined, unknown> {
  yield* [] as GuestOp[];
  return undefined;
}
