/**
 * The userspace VMM's vocabulary: what a machine is made of, how the VMM reacts to the seed's host
 * errors, and how a run ends. Plain data, so scenario files, the CLI and tests share it.
 */

import type { HvaState } from '../host/address-space.js';
import type { AllocFaultPlan } from '../host/allocator.js';
import type { SevProfileName } from '../sev/profiles.js';
import type { VmgexitRecord } from '../trace/outcome.js';
import type { ErrnoName } from '../uapi/errno.js';

/** Guest RAM: a memslot over host memory the VMM maps. */
export interface RamRegionConfig {
  /** A name for diagnostics ("ram", "scratch", "dax"). */
  readonly name?: string;
  readonly gpa: number;
  readonly size: number;
  /**
   * anonymous (default): sparse anonymous memory. file: a shared mapping of an in-memory file
   * (`file`, created with `size` bytes, truncatable like a virtiofs DAX window). lazy: anonymous
   * memory registered with userfaultfd, every page missing until the VMM populates it.
   */
  readonly backing?: 'anonymous' | 'file' | 'lazy';
  readonly file?: string;
  readonly readonly?: boolean;
  readonly logDirty?: boolean;
  /**
   * lazy regions: the "source image" of post-copy migration, from which the populate-missing
   * resolver fills a missing page on demand: every byte `fill` (default 0), then `bytes` patches
   * at region offsets.
   */
  readonly source?: RamSourceConfig;
}

/** The source image of a lazy region (post-copy migration: the pages not yet sent). */
export interface RamSourceConfig {
  readonly fill?: number;
  readonly bytes?: { readonly offset: number; readonly hex: Uint8Array }[];
}

/** sevbox capabilities (not Linux) the VMM enables on an SEV-ES VM with KVM_ENABLE_CAP. */
export type SevboxCapabilityName = 'vmgexit-fault-info' | 'vmgexit-restart';

/**
 * A way the VMM can fix the cause of a failed KVM_RUN (src/vmm/resolvers.ts):
 * populate-missing (post-copy: fill userfault-missing pages from the region's source image),
 * extend-file (re-extend a truncated file to cover the faulting pages: virtiofs DAX),
 * remap (map fresh memory over an unmapped hva, or give a PROT_NONE page its protection back),
 * add-memslot (the VMM decides the GPA is RAM after all: a new slot of fresh anonymous memory).
 */
export type ResolverName = 'populate-missing' | 'extend-file' | 'remap' | 'add-memslot';

/** An MMIO region: no memslot, handled by a device on the VMM's MMIO bus. */
export interface MmioRegionConfig {
  readonly name?: string;
  /** register: 8-byte registers with an initial value; ram-window: bytes that read back what was written. */
  readonly kind: 'register' | 'ram-window';
  readonly gpa: number;
  readonly size: number;
  /** Initial value of every register (kind register). */
  readonly value?: bigint;
}

/** A whole machine. */
export interface MachineConfig {
  readonly ram: readonly RamRegionConfig[];
  readonly mmio?: readonly MmioRegionConfig[];
  /** A 16550-style serial port at 0x3f8 capturing guest output (default on). */
  readonly serial?: boolean;
  /** isa-debug-exit: a write of v to this port ends the run with code (v << 1) | 1 (default 0x501). */
  readonly debugExitPort?: number | false;
  readonly vcpus?: number;
  /**
   * KVM_CREATE_IRQCHIP: in-kernel local APICs (and PIC/IOAPIC). HLT and AP reset hold then wait in
   * the kernel, and the VMM wakes an AP in reset hold with a SIPI (KVM_SET_MP_STATE). Default off.
   */
  readonly irqchip?: boolean;
  /**
   * The state the VMM gives an unprotected vCPU before its first KVM_RUN: the x86 RESET state KVM
   * leaves (real mode at F000:FFF0; default), or flat 64-bit long mode with identity-mapped page
   * tables the VMM writes into a memslot of its own (as selftests and kvmtool set a guest up).
   */
  readonly boot?: 'reset' | 'long-mode';
  /**
   * The CPUs of the default model platform: `scripted` (default; `addVcpu(program)` loads a guest
   * program) or `x86`, the interpreter, which runs the machine code the VMM puts in guest RAM.
   */
  readonly cpu?: 'scripted' | 'x86';
  /**
   * SEV-ES with a GHCB version (KVM_SEV_INIT2, or KVM_SEV_ES_INIT where the kernel has no VM types);
   * `profile` is the kernel the default model platform is built as. False/absent: an unprotected VM.
   */
  readonly sev?:
    | {
        readonly profile: SevProfileName;
        readonly ghcbVersion?: 1 | 2;
        /** sevbox capabilities to enable, in order (vmgexit-restart needs vmgexit-fault-info). */
        readonly capabilities?: readonly SevboxCapabilityName[];
        /** The guest policy LAUNCH_START gives the firmware (default: SEV-ES, debugging allowed). */
        readonly policy?: number;
        /** Guest-physical ranges the launch measures and encrypts first (Vmm.measure). */
        readonly measure?: readonly { readonly gpa: number; readonly size: number }[];
      }
    | false;
  /**
   * The host allocator KVM charges: budget in bytes and injected failures (the SEV-ES launch's own
   * allocation is exempt and not counted).
   */
  readonly host?: { readonly budget?: number; readonly allocFaults?: AllocFaultPlan };
}

/** What the VMM does when KVM_RUN fails with ENOMEM. */
export type EnomemPolicy =
  | { readonly action: 'stop' }
  /** Raise the allocator budget by `bytes` (default: double it, at least 64 KiB) and re-run, at most `maxRetries` times. */
  | { readonly action: 'raise-budget'; readonly bytes?: number; readonly maxRetries: number }
  /** Re-run without changing anything (what a naive VMM does), at most `maxRetries` times. */
  | { readonly action: 'rerun'; readonly maxRetries: number };

/** What the VMM does when KVM_RUN fails with EFAULT. */
export type EfaultPolicy =
  | { readonly action: 'stop' }
  | { readonly action: 'rerun'; readonly maxRetries: number }
  /**
   * Find the faulting GPA (KVM_EXIT_MEMORY_FAULT when the kernel reports it, else the VMM's own
   * diagnosis), try `resolvers` in order until one fixes it, and re-run; at most `maxRetries`
   * times per run, so a guest whose GPA can never be resolved cannot keep the VMM looping.
   */
  | { readonly action: 'resolve'; readonly resolvers: readonly ResolverName[]; readonly maxRetries: number };

/** The VMM's policies for the seed's errors, chosen per run. */
export interface Policies {
  readonly enomem: EnomemPolicy;
  readonly efault: EfaultPolicy;
}

/** The default: stop and report, which is what the seed commit expects of a careful VMM. */
export const DEFAULT_POLICIES: Policies = { enomem: { action: 'stop' }, efault: { action: 'stop' } };

/** Why an EFAULT happened, as far as the VMM can tell (the "userspace decides" of the seed). */
export interface FaultDiagnosis {
  readonly vcpu: number;
  /** The VMGEXIT in progress (exit code and its name), if the fault came from one. */
  readonly vmgexit?: { readonly exitCode: bigint; readonly name: string };
  /** The guest physical address that could not be accessed. */
  readonly gpa?: number;
  /** The memslot containing it, or null when there is none. */
  readonly memslot?: {
    readonly slot: number;
    readonly gpa: number;
    readonly size: number;
    readonly name?: string;
  } | null;
  readonly hva?: number;
  readonly hvaState?: HvaState;
  /**
   * Where the GPA came from: the SEV vCPU's last scratch-area fault (sevbox's window into what KVM
   * only logs), KVM_EXIT_MEMORY_FAULT (KVM_CAP_MEMORY_FAULT_INFO kernels), or nowhere.
   */
  readonly source: 'scratch' | 'memory-fault-exit' | 'none';
  /** Bytes from `gpa` the fault covers (KVM_EXIT_MEMORY_FAULT's size), when KVM said so. */
  readonly size?: number;
  /** KVM kept the request and will process the same VMGEXIT again (KVM_CAP_SEVBOX_VMGEXIT_RESTART). */
  readonly restartable?: boolean;
  /** One or two sentences for humans. */
  readonly text: string;
}

/** How a run of the machine ended. */
export type StopReason =
  /** Every vCPU's guest program finished. */
  | { readonly kind: 'guest-done' }
  | { readonly kind: 'debug-exit'; readonly vcpu: number; readonly code: number }
  | { readonly kind: 'shutdown'; readonly vcpu: number; readonly crash?: string }
  /** KVM_EXIT_SYSTEM_EVENT SEV_TERM (current) with the guest's reason, decoded. */
  | {
      readonly kind: 'sev-termination';
      readonly vcpu: number;
      readonly reasonSet: number;
      readonly reasonCode: number;
      readonly description: string;
      /** 'msr': GHCB MSR protocol TERM_REQ; 'ghcb': NAE TERM_REQUEST through the GHCB page. */
      readonly protocol: 'msr' | 'ghcb';
      /** False when the reason could not be recovered (reasonSet/reasonCode are then what the GHCB held). */
      readonly reasonKnown: boolean;
      readonly ghcbGpa?: number;
    }
  /** Another KVM_EXIT_SYSTEM_EVENT (shutdown, reset, crash...). */
  | {
      readonly kind: 'system-event';
      readonly vcpu: number;
      readonly type: number;
      readonly name: string;
      readonly data: readonly bigint[];
    }
  /** KVM_EXIT_AP_RESET_HOLD (no in-kernel APIC), or an AP in reset hold the run's policy does not wake. */
  | { readonly kind: 'ap-reset-hold'; readonly vcpu: number }
  /** Every vCPU still running waits in the kernel (HLT with an in-kernel APIC) for an event nothing will send. */
  | { readonly kind: 'idle' }
  /** An exit the VMM has no handler for (hypercall, fail-entry, unknown...). */
  | { readonly kind: 'unhandled-exit'; readonly vcpu: number; readonly reason: number; readonly name: string }
  | {
      readonly kind: 'internal-error';
      readonly vcpu: number;
      readonly suberror: number;
      readonly data: readonly bigint[];
    }
  /** KVM_RUN failed and the policy said stop (or retries ran out). */
  | {
      readonly kind: 'kvm-error';
      readonly vcpu: number;
      readonly errno: ErrnoName;
      readonly diagnosis?: FaultDiagnosis;
      /** Policy resolve: why the VMM gave up (no resolver could fix it, or retries ran out). */
      readonly unresolved?: string;
    }
  /** The host kernel crashed handling the guest (e.g. the seed kernel's size-0 string I/O). */
  | { readonly kind: 'kernel-oops'; readonly vcpu: number; readonly message: string }
  /** The run's budget of KVM_RUN calls ran out. */
  | { readonly kind: 'limit'; readonly kvmRuns: number }
  /** The SEV-ES launch before the first KVM_RUN failed: its errno, and the message naming the command. */
  | { readonly kind: 'launch-failed'; readonly errno: ErrnoName; readonly message: string };

/** The result of `Vmm.run()`. */
export interface RunResult {
  readonly stop: StopReason;
  /** Exits to userspace handled. */
  readonly exits: number;
  /** KVM_RUN calls made. */
  readonly kvmRuns: number;
  /** What the guest wrote to the serial port during this run. */
  readonly serial: string;
  /** One record per VMGEXIT of this run, folded from the trace the VMM records itself. */
  readonly vmgexits: readonly VmgexitRecord[];
  /** KVM_RUN failures the policies retried, in order. */
  readonly retried: readonly {
    readonly vcpu: number;
    readonly errno: ErrnoName;
    /** For EFAULT: what the VMM found before re-running. */
    readonly diagnosis?: FaultDiagnosis;
    /** Policy resolve: what the resolver did. */
    readonly resolved?: string;
  }[];
}

/**
 * An interrupt controller the VMM emulates itself (no KVM_CREATE_IRQCHIP): the 8259's INT line to
 * the boot CPU and the timers that raise its inputs, on the VMM's clock (Platform.clock).
 */
export interface UserspaceIrqchip {
  /** Catch up with the clock (ns): the timers whose periods ended raise their lines. */
  sync(now: number): void;
  /** Whether an interrupt waits for the CPU. */
  pending(): boolean;
  /** The INTA cycle: the vector to inject (the controller marks it in service). */
  acknowledge(): number;
  /** When (ns) a timer next raises a line; undefined if none will. */
  nextDeadline(): number | undefined;
}
