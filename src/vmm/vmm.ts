/**
 * The userspace VMM: builds a VM from a MachineConfig through the KVM fd interface (RAM regions
 * with their own mappings and memslots, MMIO and port devices on two buses, vCPUs, SEV-ES or not),
 * and runs it: a round-robin exit loop over the runnable vCPUs that answers I/O, MMIO and MSR exits,
 * stops on the exits that end a run, and meets KVM_RUN failures with the run's policies. It sees
 * only what a real VMM sees — fds, kvm_run, errno, its own memory and the trace stream — so it runs
 * on the model (the default platform) and on the machine's real /dev/kvm alike. It never papers
 * over what KVM did: after a failed VMGEXIT a re-run resumes the guest exactly as KVM does.
 */
import type { GuestProgram, InterruptHandler, VcHandler } from '../cpu/scripted.js';
import type { HostAllocator } from '../host/allocator.js';
import { HostAllocator as Allocator } from '../host/allocator.js';
import type { HostFile } from '../host/file-store.js';
import { PAGE_SIZE } from '../host/page.js';
import type { DebugPrivateGhcbEvent, TraceSink } from '../trace/events.js';
import { foldVmgexits } from '../trace/outcome.js';
import {
  KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO,
  KVM_CAP_SEVBOX_VMGEXIT_RESTART,
  KVM_CAP_VM_TYPES,
  KVM_CAP_X86_USER_SPACE_MSR,
  KVM_X86_DEFAULT_VM,
  KVM_X86_SEV_ES_VM,
} from '../uapi/caps.js';
import { Errno, type ErrnoName } from '../uapi/errno.js';
import {
  KVM_MSR_EXIT_REASON_FILTER,
  KVM_MSR_EXIT_REASON_INVAL,
  KVM_MSR_EXIT_REASON_UNKNOWN,
} from '../uapi/exit-reasons.js';
import { GHCB_OFF_SW_EXIT_CODE } from '../uapi/ghcb.js';
import {
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_SIPI_RECEIVED,
  KVM_MP_STATE_UNINITIALIZED,
} from '../uapi/irq.js';
import type { KvmFd, RunFailure, VcpuFd, VmFd } from '../uapi/kvm-fd.js';
import { encodeSevInit, KVM_SEV_ES_INIT, KVM_SEV_INIT_SIZE, KVM_SEV_INIT2 } from '../uapi/sev-cmd.js';
import type { VcpuExit } from '../uapi/vcpu-exit.js';
import { Bus, type BusDevice } from './bus.js';
import {
  createDebugExit,
  DEBUG_EXIT_PORT,
  DEBUG_EXIT_PORTS,
  type DebugExitDevice,
} from './devices/debug-exit.js';
import { createMmioRam } from './devices/mmio-ram.js';
import { createMmioRegisters } from './devices/mmio-register.js';
import { createSerial, SERIAL_COM1, SERIAL_PORTS, type SerialDevice } from './devices/serial.js';
import { diagnoseEfault } from './diagnosis.js';
import { handleExit, type MsrHandler } from './dispatch.js';
import { fromErrno, isVmmError, type VmmError, vmmError } from './errors.js';
import { flatSegment } from './long-mode-entry.js';
import { GuestRam } from './memory.js';
import { isModelPlatform, type ModelPlatform, modelPlatform, type Platform } from './platform.js';
import { decideOnError } from './policy.js';
import { resolveFault } from './resolvers.js';
import { isSevLaunchError, launchSevEs, type SevLaunchResult } from './sev-launch.js';
import { createTraceRecorder, type TraceRecorder } from './trace-recorder.js';
import {
  DEFAULT_POLICIES,
  type MachineConfig,
  type MmioRegionConfig,
  type Policies,
  type RunResult,
  type SevboxCapabilityName,
  type StopReason,
  type UserspaceIrqchip,
} from './types.js';

/** The KVM capability behind each sevbox capability name. */
export const SEVBOX_CAPS: Readonly<Record<SevboxCapabilityName, number>> = {
  'vmgexit-fault-info': KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO,
  'vmgexit-restart': KVM_CAP_SEVBOX_VMGEXIT_RESTART,
};

/** A host page's state as the VMM sees it (Vmm#hostPageState). */
export const HOST_PAGE_STATES = [
  'anonymous',
  'file',
  'beyond-eof',
  'missing',
  'populated',
  'unmapped',
] as const;
export type HostPageState = (typeof HOST_PAGE_STATES)[number];

/** Options of Vmm.create. */
export interface VmmOptions {
  /**
   * What to run on. Default: the model (modelPlatform) of the machine's SEV profile (`current` for an
   * unprotected VM), with the config's host allocator, on which `addVcpu(program)` loads scripted guests.
   */
  readonly platform?: Platform;
  /** Receives every trace event (the VMM records its own copy either way). */
  readonly trace?: TraceSink;
  /**
   * Userspace MSR emulation. The VMM always asks KVM for MSR exits (KVM_CAP_X86_USER_SPACE_MSR:
   * invalid, unknown and filtered MSRs); without a handler every such access gets #GP, as in KVM.
   */
  readonly msr?: MsrHandler;
  /**
   * The model's debug view inside the guest: each #VC its CPUs raise, as `sevbox_debug_vc` events
   * (ignored on a real /dev/kvm, where nothing sees them).
   */
  readonly debugVc?: TraceSink;
}

/** The VMM's side of a userspace irqchip in its run loop (Vmm#interruptDelivery). */
interface InterruptDelivery {
  /**
   * Before KVM_RUN of the boot CPU: catch up, inject or ask for the window, arm the host timer.
   * KVM_INTERRUPT's error if it refused the vector.
   */
  beforeRun(fd: VcpuFd): Errno | undefined;
  /** The boot CPU halted: sleep until the next timer edge; false if no timer will wake it. */
  sleep(): boolean;
  /** KVM_RUN failed with EINTR: whether the VMM's own timer caused it (the next beforeRun handles it). */
  timerFired(): boolean;
}

/** Options of one run. */
export interface RunOptions {
  /** What to do about ENOMEM / EFAULT from KVM_RUN (default: stop on both). */
  readonly policies?: Policies;
  /** KVM_RUN calls allowed in this run before it stops with 'limit' (default 10000). */
  readonly maxKvmRuns?: number;
  /**
   * An AP in reset hold (SEV-ES): 'sipi' wakes it with KVM_SET_MP_STATE(SIPI_RECEIVED), as the BSP's
   * INIT-SIPI would (needs the in-kernel irqchip); 'stop' (default) ends the run.
   */
  readonly apResetHold?: 'sipi' | 'stop';
  /**
   * A vCPU whose guest has not finished halted (KVM_EXIT_HLT, or with an in-kernel APIC a wait in
   * the kernel): the harness acts between KVM_RUNs here. True: it wants the guest to go on (a vCPU
   * waiting in the kernel is made runnable with KVM_SET_MP_STATE).
   */
  readonly onHalt?: (vcpu: number) => boolean;
  /** Every exit to userspace, after the VMM handled it and before the next KVM_RUN. */
  readonly onExit?: (vcpu: number, exit: VcpuExit) => void;
  /**
   * Every KVM_RUN as it returned, before the VMM looked at it: the exit, or the failure with the
   * kvm_run KVM left behind (a harness records kvm_run's fields here, before the VMM answers a read).
   */
  readonly onKvmRun?: (vcpu: number, r: VcpuExit | RunFailure) => void;
  /** A failed KVM_RUN, before the policies decide what to do about it (where a harness acts). */
  readonly onRunFailure?: (vcpu: number, failure: RunFailure) => void;
  /**
   * Which vCPU runs next, among the runnable ones (ids, in the VMM's round-robin order); undefined
   * leaves the round robin's choice. A harness's chosen interleaving.
   */
  readonly pickVcpu?: (runnable: readonly number[]) => number | undefined;
}

/** A vCPU of the machine. */
export interface VmmVcpu {
  readonly id: number;
  readonly fd: VcpuFd;
  /** Its guest program has ended (it halts for good). */
  finished: boolean;
  /**
   * Its guest is machine code in guest RAM, not a scripted program: a HLT ends it unless onHalt
   * wakes it (the VMM has no interrupt to send), whether it exits to userspace or, with an
   * in-kernel APIC, waits in the kernel.
   */
  readonly machineCode: boolean;
}

/** Where the VMM puts the page tables of a long-mode boot: above any guest RAM a machine describes. */
const BOOT_PAGE_TABLES_GPA = 0xff_ffe0_0000;
/** The memslot of those page tables: the last id a VMM may use. */
const BOOT_PAGE_TABLES_SLOT = 32763;

/** Default KVM_RUN budget of one run. */
export const DEFAULT_MAX_KVM_RUNS = 10_000;

const hex = (n: number): string => `0x${n.toString(16)}`;

/** A running machine. */
export class Vmm {
  readonly config: MachineConfig;
  readonly platform: Platform;
  readonly kvm: KvmFd;
  readonly vm: VmFd;
  readonly ram: GuestRam;
  /** Port I/O bus (unclaimed reads: 0xff). */
  readonly pio = new Bus('pio');
  /** MMIO bus (unclaimed reads: 0). */
  readonly mmio = new Bus('mmio');
  readonly serial: SerialDevice | undefined;
  readonly debugExit: DebugExitDevice | undefined;
  /** MMIO devices by region name. */
  readonly mmioDevices = new Map<string, BusDevice>();
  readonly vcpus: VmmVcpu[] = [];
  readonly #recorder: TraceRecorder;
  readonly #msr: MsrHandler | undefined;
  #cursor = 0;
  /** The interrupt controller the VMM emulates (attachIrqchip), if any. */
  #irqchip: UserspaceIrqchip | undefined;
  #delivery: InterruptDelivery | undefined;
  /** Ranges the launch measures (measure()). */
  readonly #measured: { gpa: number; size: number }[] = [];
  #launch: SevLaunchResult | undefined;

  private constructor(
    config: MachineConfig,
    platform: Platform,
    vm: VmFd,
    recorder: TraceRecorder,
    msr?: MsrHandler,
  ) {
    this.config = config;
    this.platform = platform;
    this.kvm = platform.kvm;
    this.vm = vm;
    this.#recorder = recorder;
    this.#msr = msr;
    this.ram = new GuestRam(platform.memory);
    this.serial = config.serial === false ? undefined : createSerial();
    const port = config.debugExitPort ?? DEBUG_EXIT_PORT;
    this.debugExit = port === false ? undefined : createDebugExit();
  }

  /** The model platform the VMM built for itself (undefined when it was given another). */
  get model(): ModelPlatform | undefined {
    return isModelPlatform(this.platform) ? this.platform : undefined;
  }

  /** The kernel allocator KVM charges, where the VMM can act on it (the model); else undefined. */
  get allocator(): HostAllocator | undefined {
    return this.model?.allocator;
  }

  /**
   * Build the machine: the VM (SEV-ES initialised with the GHCB version, or unprotected), RAM
   * regions, MMIO devices, serial and debug-exit ports. A VmmError (with KVM's or the host's errno)
   * when any part is refused; nothing is left allocated then.
   */
  static create(config: MachineConfig, opts: VmmOptions = {}): Vmm | VmmError {
    const recorder = createTraceRecorder(opts.trace);
    const platform =
      opts.platform ??
      modelPlatform({
        profile: config.sev ? config.sev.profile : 'current',
        ...(config.cpu ? { cpu: config.cpu } : {}),
        allocator: new Allocator({
          ...(config.host?.budget !== undefined ? { budget: config.host.budget } : {}),
          ...(config.host?.allocFaults ? { faults: config.host.allocFaults } : {}),
        }),
      });
    platform.tracepoints?.(recorder.sink);
    if (opts.debugVc && isModelPlatform(platform)) platform.vcEvents(opts.debugVc);
    const vm = createVm(platform, config);
    if (isVmmError(vm)) return vm;
    const vmm = new Vmm(config, platform, vm, recorder, opts.msr);
    const err = vmm.#build();
    if (err) {
      vmm.destroy();
      return err;
    }
    return vmm;
  }

  #build(): VmmError | undefined {
    const { config, vm } = this;
    // The VMM handles MSRs KVM does not know, refuses or filters (KVM_CAP_X86_USER_SPACE_MSR).
    const mask = KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER;
    const e = vm.enableCap({ cap: KVM_CAP_X86_USER_SPACE_MSR, flags: 0, args: [BigInt(mask), 0n, 0n, 0n] });
    if (e) return fromErrno('KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR)', e);
    // sevbox capabilities (not Linux), in the order listed: KVM refuses restart before fault-info.
    for (const c of config.sev ? (config.sev.capabilities ?? []) : []) {
      const r = vm.enableCap({ cap: SEVBOX_CAPS[c], flags: 0, args: [0n, 0n, 0n, 0n] });
      if (r) return fromErrno(`KVM_ENABLE_CAP(${c})`, r);
    }
    if (config.irqchip) {
      const r = vm.createIrqchip();
      if (r) return fromErrno('KVM_CREATE_IRQCHIP', r);
    }
    for (const [i, r] of config.ram.entries()) {
      const err = this.ram.add(vm, i, r);
      if (err) return err;
    }
    for (const [i, m] of (config.mmio ?? []).entries()) {
      const err = this.#addMmio(m, m.name ?? `mmio${i}`);
      if (err) return err;
    }
    for (const { gpa, size } of config.sev ? (config.sev.measure ?? []) : []) {
      const err = this.measure(gpa, size);
      if (err) return err;
    }
    if (this.serial) {
      const err = this.pio.register(SERIAL_COM1, SERIAL_PORTS, this.serial);
      if (err) return err;
    }
    if (this.debugExit) {
      const port = typeof config.debugExitPort === 'number' ? config.debugExitPort : DEBUG_EXIT_PORT;
      return this.pio.register(port, DEBUG_EXIT_PORTS, this.debugExit);
    }
    return undefined;
  }

  #addMmio(m: MmioRegionConfig, name: string): VmmError | undefined {
    const ram = this.ram.regions.find((r) => m.gpa < r.gpa + r.size && r.gpa < m.gpa + m.size);
    if (ram)
      return vmmError('EEXIST', `MMIO region '${name}' at ${hex(m.gpa)} overlaps RAM region '${ram.name}'`);
    if (this.mmioDevices.has(name)) return vmmError('EEXIST', `MMIO region name '${name}' used twice`);
    const device =
      m.kind === 'register' ? createMmioRegisters(name, m.size, m.value ?? 0n) : createMmioRam(name, m.size);
    const err = this.mmio.register(m.gpa, m.size, device);
    if (!err) this.mmioDevices.set(name, device);
    return err;
  }

  /** Files backing file regions, by name. */
  get files(): ReadonlyMap<string, HostFile> {
    return this.ram.files;
  }

  /**
   * KVM_CREATE_VCPU for the next vCPU id. On the model platform `program` is the scripted guest its
   * CPU runs; on another platform the guest is whatever the VMM put in memory. EINVAL beyond the
   * machine's `vcpus` count; KVM's errno from KVM_CREATE_VCPU.
   */
  addVcpu(
    program?: GuestProgram,
    opts: {
      vcHandler?: VcHandler;
      interruptHandler?: InterruptHandler;
      /**
       * With an in-kernel APIC an AP is created UNINITIALIZED, waiting for the guest's INIT and
       * SIPI ('init-sipi'); by default ('now') the VMM makes it runnable (KVM_SET_MP_STATE), as for
       * a vCPU whose program should simply run.
       */
      start?: 'now' | 'init-sipi';
    } = {},
  ): VmmVcpu | VmmError {
    const id = this.vcpus.length;
    if (this.config.vcpus !== undefined && id >= this.config.vcpus) {
      return vmmError('EINVAL', `the machine has ${this.config.vcpus} vCPU(s)`);
    }
    if (program) {
      const guests = this.model?.guests;
      if (!guests) return vmmError('EINVAL', 'a scripted guest program needs the model platform');
      const { vcHandler, interruptHandler } = opts;
      guests.load(id, {
        program,
        ...(vcHandler ? { vcHandler } : {}),
        ...(interruptHandler ? { interruptHandler } : {}),
      });
    }
    const fd = this.vm.createVcpu(id);
    if (fd instanceof Errno) return fromErrno('KVM_CREATE_VCPU', fd);
    if (opts.start !== 'init-sipi' && fd.getMpState() === KVM_MP_STATE_UNINITIALIZED) {
      const r = fd.setMpState(KVM_MP_STATE_RUNNABLE);
      if (r) {
        fd.close();
        return fromErrno('KVM_SET_MP_STATE', r);
      }
    }
    if (this.config.boot === 'long-mode' && !this.config.sev) {
      const err = this.#bootLongMode(fd);
      if (err) {
        fd.close();
        return err;
      }
    }
    const v: VmmVcpu = { id, fd, finished: false, machineCode: program === undefined };
    this.vcpus.push(v);
    return v;
  }

  /**
   * Flat 64-bit long mode: identity-mapped 1 GiB pages for the low 512 GiB (a PML4 and a PDPT the
   * VMM writes once into its own memslot at BOOT_PAGE_TABLES_GPA), CS.L, EFER.LME|LMA, CR0.PG|PE,
   * CR4.PAE, then KVM_SET_SREGS.
   */
  #bootLongMode(fd: VcpuFd): VmmError | undefined {
    if (!this.#pageTables) {
      const err = this.ram.add(this.vm, BOOT_PAGE_TABLES_SLOT, {
        name: 'boot-page-tables',
        gpa: BOOT_PAGE_TABLES_GPA,
        size: 0x2000,
      });
      if (err) return err;
      const pt = new Uint8Array(0x2000);
      const dv = new DataView(pt.buffer);
      // PML4[0] → the PDPT (present, writable); PDPT[i] → 1 GiB page i (present, writable, PS).
      dv.setBigUint64(0, BigInt(BOOT_PAGE_TABLES_GPA + 0x1000) | 0x3n, true);
      for (let i = 0; i < 512; i++) dv.setBigUint64(0x1000 + 8 * i, (BigInt(i) << 30n) | 0x83n, true);
      const w = this.ram.write(BOOT_PAGE_TABLES_GPA, pt);
      if (w) return w;
      this.#pageTables = true;
    }
    const s = fd.getSregs();
    if (s instanceof Errno) return fromErrno('KVM_GET_SREGS', s);
    const code = flatSegment(0x8, true);
    const data = flatSegment(0x10, false);
    const r = fd.setSregs({
      ...s,
      cs: code,
      ds: data,
      es: data,
      fs: data,
      gs: data,
      ss: data,
      tr: { ...s.tr, type: 0xb },
      cr0: 0x8005_0033n, // PG | WP | NE | ET | MP | PE
      cr3: BigInt(BOOT_PAGE_TABLES_GPA),
      cr4: 0x620n, // OSXMMEXCPT | OSFXSR | PAE
      efer: 0x500n, // LMA | LME
    });
    return r ? fromErrno('KVM_SET_SREGS', r) : undefined;
  }

  #pageTables = false;

  /** The hva the VMM mapped behind `gpa`, or undefined when it is not RAM. */
  gpaToHva(gpa: number): number | undefined {
    return this.ram.gpaToHva(gpa);
  }

  /**
   * The state of the host page behind a guest page, as the VMM knows its own process: `anonymous`,
   * `file`, `beyond-eof` (a file page past its end), `missing` / `populated` (a lazy page before
   * and after userfaultfd filled it), `unmapped`; undefined for a GPA in no RAM region.
   */
  hostPageState(gpa: number): HostPageState | undefined {
    const hva = this.gpaToHva(gpa);
    if (hva === undefined) return undefined;
    const d = this.ram.memory.describe(hva);
    switch (d.state) {
      case 'missing':
        return d.populated ? 'populated' : 'missing';
      case 'file':
        return d.beyondEof ? 'beyond-eof' : 'file';
      default:
        return d.state;
    }
  }

  /** Host side: munmap the pages behind [gpa, gpa + size) (page aligned, inside one RAM region). */
  unmapGpa(gpa: number, size: number): VmmError | undefined {
    return this.ram.unmap(gpa, size);
  }

  /** Host side: ftruncate the file `name` that backs a RAM region. */
  truncateFile(name: string, size: number): VmmError | undefined {
    return this.ram.truncateFile(name, size);
  }

  /** Host side: resolve userfaults: copy `data` (zero-padded to pages) into a lazy region at `gpa`. */
  populate(gpa: number, data: Uint8Array): VmmError | undefined {
    return this.ram.populate(gpa, data);
  }

  /** Read guest RAM through the VMM's own mappings (shared pages such as the GHCB). */
  readGpa(gpa: number, dst: Uint8Array): VmmError | undefined {
    return this.ram.read(gpa, dst);
  }

  /**
   * The debug view of guest RAM: the bytes as the guest reads them through a private (C-bit)
   * mapping, decrypted with the key only the model knows (no real host can do this; the firmware's
   * DBG_DECRYPT is the real thing, for guests whose policy allows it). EINVAL on a machine that is
   * not a launched SEV-ES guest of the model platform.
   */
  readGpaPrivate(gpa: number, dst: Uint8Array): VmmError | undefined {
    const debug = this.#debugKey();
    if (!debug) return vmmError('EINVAL', 'the debug view needs a launched SEV-ES guest of the model');
    const { controller, asid } = debug;
    // Whole 16-byte blocks of each page (the engine's unit), then the bytes asked for.
    for (let at = 0; at < dst.length; ) {
      const a = gpa + at;
      const page = a - (a % PAGE_SIZE);
      const n = Math.min(dst.length - at, page + PAGE_SIZE - a);
      const frame = new Uint8Array(PAGE_SIZE);
      const err = this.ram.read(page, frame);
      if (err) return err;
      const plain = controller.debugPlaintext(asid, this.gpaToHva(page)!, frame);
      if (!plain) return vmmError('EINVAL', `no key is loaded for ASID ${asid}`);
      dst.set(plain.subarray(a - page, a - page + n), at);
      at += n;
    }
    return undefined;
  }

  /**
   * The debug view of a GHCB a VMGEXIT named, when the guest reached that page privately (it left
   * its GHCB private): the exit code and infos as the guest wrote them, which KVM read as ciphertext.
   * Undefined otherwise (a shared GHCB, an unprotected or unlaunched machine, not the model).
   */
  debugPrivateGhcb(vcpu: number, ghcbGpa: number): DebugPrivateGhcbEvent | undefined {
    if (!this.debugPagePrivate(ghcbGpa)) return undefined;
    const fields = new Uint8Array(24);
    if (this.readGpaPrivate(ghcbGpa + GHCB_OFF_SW_EXIT_CODE, fields)) return undefined;
    const dv = new DataView(fields.buffer);
    return {
      name: 'sevbox_debug_private_ghcb',
      vcpu,
      ghcbGpa,
      exitCode: dv.getBigUint64(0, true),
      info1: dv.getBigUint64(8, true),
      info2: dv.getBigUint64(16, true),
    };
  }

  /**
   * The debug view of a guest page's encryption: true if a CPU of the guest reached it privately
   * (C-bit set) since its key was loaded, false if only shared; undefined where there is no such
   * view (an unprotected or unlaunched machine, not the model, a GPA without RAM).
   */
  debugPagePrivate(gpa: number): boolean | undefined {
    const debug = this.#debugKey();
    const hva = this.gpaToHva(gpa);
    if (!debug || hva === undefined) return undefined;
    return debug.controller.usedPrivately(debug.asid, hva);
  }

  /** What the debug views decrypt with: the model's memory controller and the guest's ASID, once launched. */
  #debugKey(): { controller: ModelPlatform['memoryController']; asid: number } | undefined {
    const model = this.model;
    const launch = this.#launch;
    if (!model || !launch) return undefined;
    return { controller: model.memoryController, asid: model.psp.guestStatus(launch.handle).asid };
  }

  /** Write guest RAM through the VMM's own mappings. */
  writeGpa(gpa: number, src: Uint8Array): VmmError | undefined {
    return this.ram.write(gpa, src);
  }

  /**
   * Run the machine until it stops: round-robin over the vCPUs whose programs have not ended, one
   * KVM_RUN each in turn; a vCPU whose KVM_RUN failed and is retried runs again next.
   */
  /**
   * Record a guest-physical range the SEV-ES launch measures and encrypts (LAUNCH_UPDATE_DATA), as
   * a VMM does for the firmware it loads: page-rounded, in the order given.
   */
  measure(gpa: number, size: number): VmmError | undefined {
    const start = gpa - (gpa % PAGE_SIZE);
    const end = Math.ceil((gpa + size) / PAGE_SIZE) * PAGE_SIZE;
    for (let at = start; at < end; at += PAGE_SIZE)
      if (this.gpaToHva(at) === undefined)
        return vmmError('EINVAL', `measure: ${hex(at)} is not in a RAM region`);
    this.#measured.push({ gpa: start, size: end - start });
    return undefined;
  }

  /** The SEV-ES launch's result once it ran (undefined before, and for an unprotected machine). */
  get launch(): SevLaunchResult | undefined {
    return this.#launch;
  }

  /**
   * The SEV-ES launch (QEMU's order): LAUNCH_START with the machine's policy, LAUNCH_UPDATE_DATA of
   * every measured range, LAUNCH_UPDATE_VMSA of every vCPU's state as the VMM set it,
   * LAUNCH_MEASURE, LAUNCH_FINISH. run() does it before the first KVM_RUN; call it earlier to read
   * the measurement. Nothing for an unprotected machine or a second call.
   */
  launchGuest(): SevLaunchResult | VmmError | undefined {
    const sev = this.config.sev;
    if (!sev || this.#launch) return this.#launch;
    const open = this.platform.openSevDevice;
    if (!open) return vmmError('ENODEV', 'this platform has no /dev/sev to launch an SEV-ES guest with');
    const measure: { hva: number; len: number }[] = [];
    // Each page once: LAUNCH_UPDATE_DATA encrypts in place, so a page two ranges share (two ELF
    // segments in one page) measured twice would be encrypted twice: garbage to the guest.
    const seen = new Set<number>();
    for (const { gpa, size } of this.#measured) {
      // Host-contiguous runs page by page (regions may sit anywhere in the VMM's space).
      for (let at = gpa; at < gpa + size; at += PAGE_SIZE) {
        if (seen.has(at)) continue;
        seen.add(at);
        const hva = this.gpaToHva(at)!;
        const last = measure[measure.length - 1];
        if (last && last.hva + last.len === hva) last.len += PAGE_SIZE;
        else measure.push({ hva, len: PAGE_SIZE });
      }
    }
    const r = launchSevEs(this.vm, this.platform.memory, {
      sevFd: open(),
      measure,
      ...(sev.policy !== undefined ? { policy: sev.policy } : {}),
    });
    if (isSevLaunchError(r)) return fromErrno(`KVM_MEMORY_ENCRYPT_OP(${r.command})`, r.errno);
    this.#launch = r;
    return r;
  }

  run(opts: RunOptions = {}): RunResult {
    const policies = opts.policies ?? DEFAULT_POLICIES;
    const maxKvmRuns = opts.maxKvmRuns ?? DEFAULT_MAX_KVM_RUNS;
    const recorder = this.#recorder;
    recorder.startRun();
    const serialStart = this.serial?.output().length ?? 0;
    const retried: RunResult['retried'][number][] = [];
    const retries = new Map<ErrnoName, number>();
    const ctx = {
      pio: this.pio,
      mmio: this.mmio,
      debugExit: this.debugExit,
      ram: this.ram,
      msr: this.#msr,
      guests: this.platform.guests,
    };
    let exits = 0;
    let kvmRuns = 0;
    /** vCPUs that came back from a wait in the kernel with nothing to wake them, since the last progress. */
    const waiting = new Set<number>();
    const finish = (stop: StopReason): RunResult => ({
      stop,
      exits,
      kvmRuns,
      serial: this.serial?.text(serialStart) ?? '',
      vmgexits: foldVmgexits(recorder.events),
      retried,
    });
    // The launch's own allocation (LAUNCH_MEASURE's buffer) is no part of what config.host limits.
    const allocator = this.allocator;
    const launched = allocator ? allocator.unconstrained(() => this.launchGuest()) : this.launchGuest();
    if (isVmmError(launched))
      return finish({ kind: 'launch-failed', errno: launched.errno, message: launched.message });
    // One per VMM: its host timer stays armed between runs.
    this.#delivery ??= this.#interruptDelivery();
    const interrupts = this.#delivery;
    for (;;) {
      const v = this.#nextRunnable(opts.pickVcpu);
      if (!v) return finish({ kind: 'guest-done' });
      if (kvmRuns >= maxKvmRuns) return finish({ kind: 'limit', kvmRuns });
      kvmRuns++;
      const mark = recorder.mark();
      const refused = v.id === 0 ? interrupts?.beforeRun(v.fd) : undefined;
      if (refused) return finish({ kind: 'kvm-error', vcpu: v.id, errno: refused.errno });
      const exit = v.fd.run();
      opts.onKvmRun?.(v.id, exit);
      // vCPU ids are their places in this.vcpus.
      this.#cursor = (v.id + 1) % this.vcpus.length;
      if (exit.kind !== 'Failed') {
        waiting.clear();
        exits++;
        // The window the VMM asked for: the next KVM_RUN injects.
        const outcome: ReturnType<typeof handleExit> =
          exit.kind === 'IrqWindowOpen' && interrupts ? { kind: 'continue' } : handleExit(exit, v.id, ctx);
        opts.onExit?.(v.id, exit);
        if (outcome.kind === 'finished') v.finished = true;
        else if (outcome.kind === 'stop') return finish(outcome.stop);
        else if (exit.kind === 'Hlt' && v.id === 0 && interrupts?.sleep()) continue;
        else if (exit.kind === 'Hlt' && !opts.onHalt?.(v.id) && v.machineCode) v.finished = true;
        continue;
      }
      if (exit.oops !== undefined) return finish({ kind: 'kernel-oops', vcpu: v.id, message: exit.oops });
      opts.onRunFailure?.(v.id, exit);
      const errno = exit.error.errno;
      if (errno === 'EAGAIN') {
        // An UNINITIALIZED AP took its INIT/SIPI (kvm_arch_vcpu_ioctl_run): it runs again next.
        waiting.clear();
        this.#cursor = v.id;
        continue;
      }
      if (errno === 'EINTR' && v.id === 0 && interrupts?.timerFired()) {
        this.#cursor = v.id;
        continue;
      }
      if (errno === 'EINTR' && v.fd.runArea.immediateExit) {
        // Userspace's own kick (a harness set immediate_exit to act between runs): it has acted;
        // clear it and run the vCPU again, as a VMM does after the work it kicked the vCPU for.
        v.fd.runArea.immediateExit = 0;
        this.#cursor = v.id;
        continue;
      }
      if (errno === 'EINTR') {
        const wait = this.#afterInKernelWait(v, opts, waiting);
        if (wait === 'again') {
          this.#cursor = v.id; // it runs again next
          continue;
        }
        if (wait === 'next') continue;
        if (wait !== undefined) return finish(wait);
      }
      const diagnosis =
        errno === 'EFAULT' ? diagnoseEfault(v.id, exit.left, this.ram, recorder, mark) : undefined;
      const n = retries.get(errno) ?? 0;
      const efault = policies.efault;
      this.#cursor = v.id; // a retried vCPU runs again next
      if (errno === 'EFAULT' && efault.action === 'resolve') {
        const res =
          n >= efault.maxRetries
            ? {
                ok: false as const,
                text: `gave up after ${n} resolved re-run(s) (maxRetries ${efault.maxRetries})`,
              }
            : resolveFault(
                { vm: this.vm, ram: this.ram, mmio: this.config.mmio ?? [] },
                exit.left,
                efault.resolvers,
                diagnosis,
              );
        if (!res.ok) {
          return finish({
            kind: 'kvm-error',
            vcpu: v.id,
            errno,
            ...(diagnosis ? { diagnosis } : {}),
            unresolved: res.text,
          });
        }
        retries.set(errno, n + 1);
        retried.push({ vcpu: v.id, errno, ...(diagnosis ? { diagnosis } : {}), resolved: res.text });
        continue;
      }
      if (decideOnError(errno, policies, n, this.allocator).action === 'stop') {
        return finish({ kind: 'kvm-error', vcpu: v.id, errno, ...(diagnosis ? { diagnosis } : {}) });
      }
      retries.set(errno, n + 1);
      retried.push({ vcpu: v.id, errno, ...(diagnosis ? { diagnosis } : {}) });
    }
  }

  /**
   * KVM_RUN failed with EINTR: if the vCPU waits in the kernel for something the model cannot sleep
   * for (HLT or AP reset hold with an in-kernel APIC, an AP waiting for INIT/SIPI), what the VMM does
   * about it: run it again ('again'), go on with the next vCPU ('next'), or stop. undefined when the
   * vCPU does not wait (the policies decide).
   */
  #afterInKernelWait(
    v: VmmVcpu,
    opts: RunOptions,
    waiting: Set<number>,
  ): StopReason | 'again' | 'next' | undefined {
    switch (v.fd.getMpState()) {
      case KVM_MP_STATE_AP_RESET_HOLD: {
        if (opts.apResetHold !== 'sipi') return { kind: 'ap-reset-hold', vcpu: v.id };
        const r = v.fd.setMpState(KVM_MP_STATE_SIPI_RECEIVED);
        if (r) return { kind: 'kvm-error', vcpu: v.id, errno: r.errno };
        waiting.clear();
        return 'again';
      }
      case KVM_MP_STATE_HALTED:
        if (this.platform.guests?.finished(v.id)) {
          v.finished = true;
          break;
        }
        if (opts.onHalt?.(v.id)) {
          const r = v.fd.setMpState(KVM_MP_STATE_RUNNABLE);
          if (r) return { kind: 'kvm-error', vcpu: v.id, errno: r.errno };
          waiting.clear();
          return 'next';
        }
        // Machine code that halts with nothing the VMM will send is done, as at a HLT exit.
        if (v.machineCode) v.finished = true;
        else waiting.add(v.id);
        break;
      case KVM_MP_STATE_UNINITIALIZED:
      case KVM_MP_STATE_INIT_RECEIVED:
        waiting.add(v.id); // an AP waiting for the guest's INIT/SIPI
        break;
      default:
        return undefined;
    }
    // Every vCPU still running waits for an event none of them will raise. (All finished: the loop
    // ends with guest-done.)
    const idle =
      this.vcpus.every((x) => x.finished || waiting.has(x.id)) && this.vcpus.some((x) => !x.finished);
    return idle ? { kind: 'idle' } : 'next';
  }

  /**
   * Connect an interrupt controller the VMM emulates (the PC's 8259 and 8254: createPcInterrupts)
   * to the boot CPU; its timers run on the platform's clock. EINVAL with an in-kernel irqchip, or
   * on a platform with no clock.
   */
  attachIrqchip(chip: UserspaceIrqchip): VmmError | undefined {
    if (this.config.irqchip) return vmmError('EINVAL', 'a userspace irqchip on a VM with an in-kernel one');
    if (!this.platform.clock) return vmmError('EINVAL', 'a userspace irqchip needs the platform clock');
    this.#irqchip = chip;
    return undefined;
  }

  /**
   * QEMU's kvm_arch_pre_run / post-run for a userspace PIC: before KVM_RUN, the timers catch up, a
   * pending vector is injected if the last exit said the vCPU can take one (else the interrupt
   * window is requested), and the host timer is armed for the next edge (its "signal" sets
   * immediate_exit, so KVM_RUN returns EINTR at the next host tick). A HLT sleeps until that edge.
   */
  #interruptDelivery(): InterruptDelivery | undefined {
    const chip = this.#irqchip;
    const clock = this.platform.clock;
    if (!chip || !clock) return undefined;
    /** The host timer went off and its immediate_exit is still set. */
    let fired = false;
    /** The deadline the host timer is armed for (undefined: not armed). */
    let armed: number | undefined;
    let boot: VcpuFd | undefined;
    const alarm = (): void => {
      armed = undefined;
      fired = true;
      if (boot) boot.runArea.immediateExit = 1;
    };
    return {
      beforeRun(fd) {
        boot = fd;
        const run = fd.runArea;
        // The timer's "signal" has been taken: the devices catch up now.
        if (fired) {
          fired = false;
          run.immediateExit = 0;
        }
        chip.sync(clock.now());
        if (chip.pending() && run.readyForInterruptInjection && run.ifFlag) {
          const r = fd.interrupt(chip.acknowledge());
          if (r instanceof Errno) return r;
        }
        run.requestInterruptWindow = chip.pending() ? 1 : 0;
        const deadline = chip.nextDeadline();
        if (deadline !== armed) {
          clock.disarm(alarm);
          armed = deadline;
          if (deadline !== undefined) clock.arm(deadline, alarm);
        }
        return undefined;
      },
      sleep() {
        const deadline = chip.nextDeadline();
        if (deadline === undefined) return false;
        clock.sleepUntil(deadline);
        return true;
      },
      timerFired: () => fired,
    };
  }

  /** The first vCPU at or after the cursor whose program has not ended (the cursor moves to it). */
  #nextRunnable(pick?: RunOptions['pickVcpu']): VmmVcpu | undefined {
    const n = this.vcpus.length;
    // The list of runnable vCPUs is built only for a harness that picks (this runs every KVM_RUN).
    const runnable: number[] | undefined = pick ? [] : undefined;
    let first: number | undefined;
    for (let k = 0; k < n; k++) {
      const i = (this.#cursor + k) % n;
      if (this.vcpus[i]!.finished) continue;
      first ??= i;
      if (!runnable) break;
      runnable.push(i);
    }
    if (first === undefined) return undefined;
    let i = first;
    if (pick && runnable) {
      const chosen = pick(runnable);
      if (chosen !== undefined && runnable.includes(chosen)) i = chosen;
    }
    this.#cursor = i;
    return this.vcpus[i];
  }

  /** Close the vCPU and VM fds (KVM frees what it holds: bounce buffers, dirty bitmaps) and unmap guest RAM. */
  destroy(): void {
    for (const v of this.vcpus) v.fd.close();
    this.vm.close();
    this.ram.destroy();
    this.platform.tracepoints?.(undefined);
    if (isModelPlatform(this.platform)) this.platform.vcEvents(undefined);
  }
}

/**
 * KVM_CREATE_VM for the machine: unprotected, or SEV-ES through the path this KVM offers:
 * KVM_X86_SEV_ES_VM + KVM_SEV_INIT2 (ghcb_version) when KVM_CAP_VM_TYPES has it, else a default VM
 * + KVM_SEV_ES_INIT (GHCB version 1 only).
 */
function createVm(platform: Platform, config: MachineConfig): VmFd | VmmError {
  const kvm = platform.kvm;
  const sev = config.sev;
  const types = kvm.checkExtension(KVM_CAP_VM_TYPES);
  const sevEsType = sev && types & (1 << KVM_X86_SEV_ES_VM);
  const vm = kvm.createVm(sevEsType ? KVM_X86_SEV_ES_VM : KVM_X86_DEFAULT_VM);
  if (vm instanceof Errno) return fromErrno('KVM_CREATE_VM', vm);
  if (!sev) return vm;
  const fail = (what: string, e: Errno): VmmError => {
    vm.close();
    return fromErrno(what, e);
  };
  if (!sevEsType) {
    if ((sev.ghcbVersion ?? 1) !== 1)
      return fail(
        'KVM_SEV_ES_INIT',
        new Errno('EINVAL', `this KVM's SEV-ES VMs speak GHCB version 1 only, not ${sev.ghcbVersion}`),
      );
    const r = vm.memoryEncryptOp({ id: KVM_SEV_ES_INIT, data: 0n, error: 0, sevFd: 0 });
    return r instanceof Errno ? fail('KVM_MEMORY_ENCRYPT_OP(KVM_SEV_ES_INIT)', r) : vm;
  }
  // struct kvm_sev_init lives in the VMM's memory, where KVM copies it from.
  const page = platform.memory.mapAnonymous(4096);
  if (page instanceof Errno) return fail('mmap', page);
  platform.memory.write(
    page,
    encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: sev.ghcbVersion ?? 0 }).subarray(
      0,
      KVM_SEV_INIT_SIZE,
    ),
  );
  const r = vm.memoryEncryptOp({ id: KVM_SEV_INIT2, data: BigInt(page), error: 0, sevFd: 0 });
  platform.memory.unmap(page, 4096);
  return r instanceof Errno ? fail('KVM_MEMORY_ENCRYPT_OP(KVM_SEV_INIT2)', r) : vm;
}
