/**
 * The userspace VMM: builds a VM from a MachineConfig (RAM regions with their own hva ranges and
 * memslots, MMIO and port devices on two buses, vCPUs running scripted guests, SEV-ES or not), and
 * runs it: a round-robin exit loop over the runnable vCPUs that answers I/O, MMIO and MSR exits,
 * stops on the exits that end a run, and meets KVM_RUN failures with the run's policies. It never
 * papers over what KVM did: after a failed VMGEXIT a re-run resumes the guest exactly as KVM does.
 */
import { type GuestProgram, ScriptedCpu, type VcHandler } from '../cpu/scripted.js';
import type { HostAddressSpace } from '../host/address-space.js';
import { HostAllocator } from '../host/allocator.js';
import type { HostFile } from '../host/file-store.js';
import { Kvm } from '../kvm/kvm.js';
import { KernelOops } from '../kvm/oops.js';
import type { Vcpu } from '../kvm/vcpu.js';
import type { Vm } from '../kvm/vm.js';
import { sevEsVmType } from '../sev/sev-es-vm.js';
import type { TraceSink } from '../trace/events.js';
import { foldVmgexits } from '../trace/outcome.js';
import {
  KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO,
  KVM_CAP_SEVBOX_VMGEXIT_RESTART,
  KVM_X86_DEFAULT_VM,
  KVM_X86_SEV_ES_VM,
} from '../uapi/caps.js';
import type { ErrnoName } from '../uapi/errno.js';
import {
  KVM_MSR_EXIT_REASON_FILTER,
  KVM_MSR_EXIT_REASON_INVAL,
  KVM_MSR_EXIT_REASON_UNKNOWN,
} from '../uapi/exit-reasons.js';
import { isKvmError } from '../uapi/kvm-error.js';
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
import { isVmmError, tryCall, type VmmError, vmmError } from './errors.js';
import { GuestRam } from './memory.js';
import { decideOnError } from './policy.js';
import { resolveFault } from './resolvers.js';
import { createTraceRecorder, type TraceRecorder } from './trace-recorder.js';
import {
  DEFAULT_POLICIES,
  type MachineConfig,
  type MmioRegionConfig,
  type Policies,
  type RunResult,
  type SevboxCapabilityName,
  type StopReason,
} from './types.js';

/** The KVM capability behind each sevbox capability name. */
const SEVBOX_CAPS: Readonly<Record<SevboxCapabilityName, number>> = {
  'vmgexit-fault-info': KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO,
  'vmgexit-restart': KVM_CAP_SEVBOX_VMGEXIT_RESTART,
};

/** Options of Vmm.create. */
export interface VmmOptions {
  /** Receives every trace event (the VMM records its own copy either way). */
  readonly trace?: TraceSink;
  /**
   * Userspace MSR emulation. The VMM always asks KVM for MSR exits (KVM_CAP_X86_USER_SPACE_MSR:
   * invalid, unknown and filtered MSRs); without a handler every such access gets #GP, as in KVM.
   */
  readonly msr?: MsrHandler;
}

/** Options of one run. */
export interface RunOptions {
  /** What to do about ENOMEM / EFAULT from KVM_RUN (default: stop on both). */
  readonly policies?: Policies;
  /** KVM_RUN calls allowed in this run before it stops with 'limit' (default 10000). */
  readonly maxExits?: number;
  /** KVM_EXIT_AP_RESET_HOLD: wake the vCPU (sevDeliverSipi) and return true, or the run stops. */
  readonly onApResetHold?: (vcpu: Vcpu) => boolean;
}

/** A vCPU of the machine and the scripted CPU behind it. */
export interface VmmVcpu {
  readonly id: number;
  readonly vcpu: Vcpu;
  readonly cpu: ScriptedCpu;
  /** Its program has ended (it halts for good). */
  finished: boolean;
}

/** Default KVM_RUN budget of one run. */
export const DEFAULT_MAX_EXITS = 10_000;

const hex = (n: number): string => `0x${n.toString(16)}`;

/** A running machine. */
export class Vmm {
  readonly config: MachineConfig;
  readonly kvm: Kvm;
  readonly vm: Vm;
  readonly allocator: HostAllocator;
  readonly host: HostAddressSpace;
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

  private constructor(config: MachineConfig, opts: VmmOptions) {
    this.config = config;
    this.#recorder = createTraceRecorder(opts.trace);
    this.#msr = opts.msr;
    this.allocator = new HostAllocator({
      ...(config.host?.budget !== undefined ? { budget: config.host.budget } : {}),
      ...(config.host?.allocFaults ? { faults: config.host.allocFaults } : {}),
    });
    this.kvm = new Kvm({ vmTypes: [sevEsVmType], allocator: this.allocator, trace: this.#recorder.sink });
    this.host = this.kvm.host;
    this.ram = new GuestRam(this.host);
    const sev = config.sev;
    this.vm = sev
      ? this.kvm.createVm(KVM_X86_SEV_ES_VM, { profile: sev.profile, ghcbVersion: sev.ghcbVersion ?? 0 })
      : this.kvm.createVm(KVM_X86_DEFAULT_VM);
    // sevbox capabilities (not Linux), in the order listed: KVM refuses restart before fault-info.
    for (const c of sev ? (sev.capabilities ?? []) : []) {
      try {
        this.vm.enableCap(SEVBOX_CAPS[c]);
      } catch (e) {
        this.vm.destroy();
        throw e;
      }
    }
    this.vm.userSpaceMsrMask =
      KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER;
    this.serial = config.serial === false ? undefined : createSerial();
    const port = config.debugExitPort ?? DEBUG_EXIT_PORT;
    this.debugExit = port === false ? undefined : createDebugExit();
  }

  /**
   * Build the machine: the VM (SEV-ES with the profile and GHCB version, or unprotected), RAM
   * regions, MMIO devices, serial and debug-exit ports. A VmmError (with KVM's or the host's errno)
   * when any part is refused; nothing is left allocated then.
   */
  static create(config: MachineConfig, opts: VmmOptions = {}): Vmm | VmmError {
    const vmm = tryCall('KVM_CREATE_VM', () => new Vmm(config, opts));
    if (isVmmError(vmm)) return vmm;
    const err = vmm.#build();
    if (err) {
      vmm.destroy();
      return err;
    }
    return vmm;
  }

  #build(): VmmError | undefined {
    const { config } = this;
    for (const [i, r] of config.ram.entries()) {
      const err = this.ram.add(this.vm, i, r);
      if (err) return err;
    }
    for (const [i, m] of (config.mmio ?? []).entries()) {
      const err = this.#addMmio(m, m.name ?? `mmio${i}`);
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
   * Add a vCPU running `program` (a ScriptedCpu with protected state when the VM is SEV-ES).
   * EINVAL beyond the machine's `vcpus` count; KVM's errno from KVM_CREATE_VCPU.
   */
  addVcpu(program: GuestProgram, opts: { vcHandler?: VcHandler } = {}): VmmVcpu | VmmError {
    const id = this.vcpus.length;
    if (this.config.vcpus !== undefined && id >= this.config.vcpus) {
      return vmmError('EINVAL', `the machine has ${this.config.vcpus} vCPU(s)`);
    }
    const cpu = new ScriptedCpu(program, { protectedState: Boolean(this.config.sev) });
    if (opts.vcHandler) cpu.vcHandler = opts.vcHandler;
    const vcpu = tryCall('KVM_CREATE_VCPU', () => this.vm.createVcpu(id, cpu));
    if (isVmmError(vcpu)) return vcpu;
    const v: VmmVcpu = { id, vcpu, cpu, finished: false };
    this.vcpus.push(v);
    return v;
  }

  /** The hva the VMM mapped behind `gpa`, or undefined when it is not RAM. */
  gpaToHva(gpa: number): number | undefined {
    return this.ram.gpaToHva(gpa);
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
   * Run the machine until it stops: round-robin over the vCPUs whose programs have not ended, one
   * KVM_RUN each in turn; a vCPU whose KVM_RUN failed and is retried runs again next.
   */
  run(opts: RunOptions = {}): RunResult {
    const policies = opts.policies ?? DEFAULT_POLICIES;
    const maxExits = opts.maxExits ?? DEFAULT_MAX_EXITS;
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
      onApResetHold: opts.onApResetHold,
    };
    let exits = 0;
    let calls = 0;
    const finish = (stop: StopReason): RunResult => ({
      stop,
      exits,
      serial: this.serial?.text(serialStart) ?? '',
      vmgexits: foldVmgexits(recorder.events),
      retried,
    });
    for (;;) {
      const v = this.#nextRunnable();
      if (!v) return finish({ kind: 'guest-done' });
      if (calls >= maxExits) return finish({ kind: 'limit', exits });
      calls++;
      const mark = recorder.mark();
      let exit: ReturnType<Vcpu['run']>;
      try {
        exit = v.vcpu.run();
      } catch (e) {
        if (e instanceof KernelOops) return finish({ kind: 'kernel-oops', vcpu: v.id, message: e.oops });
        if (!isKvmError(e)) throw e;
        const diagnosis = e.code === 'EFAULT' ? diagnoseEfault(v.vcpu, this.ram, recorder, mark) : undefined;
        const n = retries.get(e.code) ?? 0;
        const efault = policies.efault;
        if (e.code === 'EFAULT' && efault.action === 'resolve') {
          const res =
            n >= efault.maxRetries
              ? {
                  ok: false as const,
                  text: `gave up after ${n} resolved re-run(s) (maxRetries ${efault.maxRetries})`,
                }
              : resolveFault(
                  { vm: this.vm, ram: this.ram, mmio: this.config.mmio ?? [] },
                  v.vcpu,
                  efault.resolvers,
                  diagnosis,
                );
          if (!res.ok) {
            return finish({
              kind: 'kvm-error',
              vcpu: v.id,
              errno: e.code,
              ...(diagnosis ? { diagnosis } : {}),
              unresolved: res.text,
            });
          }
          retries.set(e.code, n + 1);
          retried.push({
            vcpu: v.id,
            errno: e.code,
            ...(diagnosis ? { diagnosis } : {}),
            resolved: res.text,
          });
          continue;
        }
        if (decideOnError(e.code, policies, n, this.allocator).action === 'stop') {
          return finish({
            kind: 'kvm-error',
            vcpu: v.id,
            errno: e.code,
            ...(diagnosis ? { diagnosis } : {}),
          });
        }
        retries.set(e.code, n + 1);
        retried.push({ vcpu: v.id, errno: e.code, ...(diagnosis ? { diagnosis } : {}) });
        continue; // the same vCPU runs again: #cursor still points at it
      }
      exits++;
      const outcome = handleExit(exit, v.vcpu, v.cpu, ctx);
      this.#cursor = (this.vcpus.indexOf(v) + 1) % this.vcpus.length;
      if (outcome.kind === 'finished') v.finished = true;
      else if (outcome.kind === 'stop') return finish(outcome.stop);
    }
  }

  /** The first vCPU at or after the cursor whose program has not ended (the cursor moves to it). */
  #nextRunnable(): VmmVcpu | undefined {
    const n = this.vcpus.length;
    for (let k = 0; k < n; k++) {
      const i = (this.#cursor + k) % n;
      if (!this.vcpus[i]!.finished) {
        this.#cursor = i;
        return this.vcpus[i];
      }
    }
    return undefined;
  }

  /** Close the VM (KVM frees what it holds: bounce buffers, dirty bitmaps) and unmap guest RAM. */
  destroy(): void {
    this.vm.destroy();
    this.ram.destroy();
  }
}
