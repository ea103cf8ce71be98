/**
 * What a VMM runs on: a /dev/kvm (the fd interface), the process memory it maps guest RAM into, and
 * optionally a harness's knowledge of its guests. `modelPlatform` builds sevbox's model of all
 * three for one kernel profile (scripted guest programs as the hardware's CPUs); src/hostkvm
 * provides the real /dev/kvm and process memory of this machine.
 */
import type { CpuBackend } from '../cpu/backend.js';
import { type GuestMonitor, ScriptedGuests } from '../cpu/scripted-guests.js';
import { DEFAULT_X86_VENDOR } from '../cpu/x86/alu.js';
import { X86Cpu, type X86CpuOptions } from '../cpu/x86/cpu.js';
import { mxcsrMaskOf } from '../cpu/x86/ops/sse.js';
import { X86_XCR0_SUPPORTED } from '../cpu/x86/ops/xsave.js';
import { HostAddressSpace } from '../host/address-space.js';
import { HostAllocator } from '../host/allocator.js';
import { HostClock } from '../host/clock.js';
import { ModelProcessMemory, type ProcessMemory } from '../host/process.js';
import { DEFAULT_CPUID } from '../kvm/cpuid.js';
import { ModelKvmFd, openKvm } from '../kvm/fd.js';
import type { KvmCoreProfile } from '../kvm/profile.js';
import type { SevFirmware, SevFirmwareOptions } from '../psp/firmware.js';
import { MemoryController } from '../sev/index.js';
import { newSevFirmwareHost, openSevDevice } from '../sev/launch.js';
import type { SevProfileName } from '../sev/profiles.js';
import { sevKvmOptions } from '../sev/sev-es-vm.js';
import type { TraceSink } from '../trace/events.js';
import type { KvmCpuidEntry2 } from '../uapi/cpuid.js';
import type { KvmFd } from '../uapi/kvm-fd.js';

/** A VMM's world. */
export interface Platform {
  readonly kvm: KvmFd;
  readonly memory: ProcessMemory;
  /** How the harness knows a guest program ended or why a CPU shut down (never asked of KVM). */
  readonly guests?: GuestMonitor;
  /**
   * KVM's tracepoints, as a user enables them in /sys/kernel/tracing: events go to `sink` from now
   * on (undefined: off). Absent where there are none to read.
   */
  readonly tracepoints?: (sink: TraceSink | undefined) => void;
  /** open("/dev/sev"): the fd KVM_SEV_LAUNCH_START takes (absent where the host has no SEV). */
  readonly openSevDevice?: () => number;
  /** The host's monotonic clock and timers (absent: the VMM keeps no time; its devices do not tick). */
  readonly clock?: HostClock;
}

/** The model: a KVM of one kernel profile, its process, its allocator, and scripted guests. */
export interface ModelPlatform extends Platform {
  readonly kvm: ModelKvmFd;
  readonly host: HostAddressSpace;
  readonly allocator: HostAllocator;
  /** Load a vCPU's program here before KVM_CREATE_VCPU. */
  readonly guests: ScriptedGuests;
  /** The host's SEV firmware (the PSP below KVM), for tests and debug views that play the guest owner. */
  readonly psp: SevFirmware;
  /**
   * The host's memory controller: the key slots ACTIVATE fills and the plaintext of private pages
   * the CPUs hold, written back before host software (this address space's read, write, view)
   * touches them.
   */
  readonly memoryController: MemoryController;
  /** open("/dev/sev") in the VMM's process: the fd to give KVM_SEV_LAUNCH_START as sev_fd. */
  openSevDevice(): number;
  /** KVM's tracepoints (always there in the model). */
  readonly tracepoints: (sink: TraceSink | undefined) => void;
  /**
   * A debug view inside the guest, which no tracepoint has on hardware: each #VC the model's CPUs
   * raise, as a `sevbox_debug_vc` event to `sink` (undefined: off).
   */
  readonly vcEvents: (sink: TraceSink | undefined) => void;
  /** Virtual time: the x86 CPUs' retired instructions move it, and the VMM's sleeps. */
  readonly clock: HostClock;
  /** What CPUID answers on the host itself (the EPYC the model's KVM runs on), for a client's native CPUID. */
  readonly hostCpuid: readonly KvmCpuidEntry2[];
}

/** Options of {@link modelPlatform}. */
export interface ModelPlatformOptions {
  /** The kernel (default `current`). */
  readonly profile?: SevProfileName;
  /** The allocator KVM charges (default: unlimited). */
  readonly allocator?: HostAllocator;
  /** Host MAXPHYADDR. */
  readonly maxPhysBits?: number;
  /**
   * KVM core facts to change from the profile's (e.g. `{ smm: false }` to match a host whose KVM
   * has one address space).
   */
  readonly core?: Partial<KvmCoreProfile>;
  /**
   * The CPUs behind VMRUN: `scripted` (default; guest programs loaded into `guests`) or `x86`, the
   * interpreter that runs machine code the VMM loads into guest RAM.
   */
  readonly cpu?: 'scripted' | 'x86';
  /** How the x86 CPUs run code (compiled hot blocks or the interpreter alone; X86CpuOptions). */
  readonly x86?: X86CpuOptions;
  /**
   * The SEV firmware's identity and seed (API version, build, the seed its keys and nonces come
   * from). Its `engine` (default AES-128-XTS) is the platform memory controller's too; its `memory`
   * replaces the controller the platform would build.
   */
  readonly psp?: SevFirmwareOptions;
  /** The pages behind each vCPU fd's mmap (KvmOptions.runArea; `sevbox serve` shares them). */
  readonly runArea?: (vcpuId: number) => Uint8Array;
}

/** Whether `p` is the model (its KVM is sevbox's, not a real /dev/kvm). */
export function isModelPlatform(p: Platform): p is ModelPlatform {
  return p.kvm instanceof ModelKvmFd;
}

/** The model platform. */
export function modelPlatform(opts: ModelPlatformOptions = {}): ModelPlatform {
  const host = new HostAddressSpace();
  const allocator = opts.allocator ?? new HostAllocator();
  const guests = new ScriptedGuests();
  const clock = new HostClock();
  // The memory controller sits between every CPU and memory; host software reaches memory through
  // the address space, which tells the controller first.
  const memoryController =
    opts.psp?.memory ?? new MemoryController(opts.psp?.engine ? { engine: opts.psp.engine } : {});
  host.observe(memoryController);
  let vcSink: TraceSink | undefined;
  const { sevHost, ...sev } = sevKvmOptions(
    opts.profile ?? 'current',
    newSevFirmwareHost({ ...opts.psp, memory: memoryController }),
  );
  const kvm = openKvm({
    ...sev,
    ...(opts.core ? { core: { ...sev.core, ...opts.core } } : {}),
    host,
    allocator,
    memoryEncryption: memoryController,
    cpus: (id, protectedState) => {
      let cpu: CpuBackend;
      if (opts.cpu === 'x86') {
        const x86 = new X86Cpu(protectedState, opts.x86);
        clock.addCounter(() => x86.instructions);
        cpu = x86;
      } else cpu = guests.cpus(id, protectedState);
      // RIP as the CPU holds it (a negative number is a canonical high address): 64 bits unsigned.
      cpu.onVc = (errorCode, rip) =>
        vcSink?.({ name: 'sevbox_debug_vc', vcpu: id, errorCode, rip: BigInt.asUintN(64, BigInt(rip)) });
      return cpu;
    },
    clock,
    // The interpreter saves x87, SSE and AVX state: KVM offers the guest no more (CPUID 0xD, XCR0).
    ...(opts.cpu === 'x86' ? { hostXcr0: BigInt(X86_XCR0_SUPPORTED) } : {}),
    // The host CPU's MXCSR_MASK, as the x86 CPUs' vendor has it.
    hostMxcsrMask: mxcsrMaskOf(opts.x86?.vendor ?? DEFAULT_X86_VENDOR),
    ...(opts.maxPhysBits !== undefined ? { maxPhysBits: opts.maxPhysBits } : {}),
    ...(opts.runArea ? { runArea: opts.runArea } : {}),
  });
  return {
    kvm,
    memory: new ModelProcessMemory(host),
    host,
    allocator,
    guests,
    psp: sevHost.firmware,
    memoryController,
    clock,
    hostCpuid: DEFAULT_CPUID,
    openSevDevice: () => openSevDevice(kvm.kvm, sevHost),
    tracepoints: (sink) => {
      kvm.kvm.trace = sink;
    },
    vcEvents: (sink) => {
      vcSink = sink;
    },
  };
}
