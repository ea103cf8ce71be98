/**
 * /dev/kvm as the VMM process opens it: capabilities, and VM creation for the VM types this KVM
 * knows. The process's address space and the kernel allocator KVM charges are given at open time.
 */
import type { CpuAttachment, CpuBackend, MemoryEncryption, Vmcb } from '../cpu/backend.js';
import { HostAddressSpace, USER_ADDR_LIMIT } from '../host/address-space.js';
import { HostAllocator } from '../host/allocator.js';
import type { HostClock } from '../host/clock.js';
import type { TraceSink } from '../trace/events.js';
import {
  KVM_CAP_DEBUGREGS,
  KVM_CAP_DESTROY_MEMORY_REGION_WORKS,
  KVM_CAP_ENABLE_CAP_VM,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_CAP_EXT_CPUID,
  KVM_CAP_GET_MSR_FEATURES,
  KVM_CAP_GET_TSC_KHZ,
  KVM_CAP_GUEST_MEMFD,
  KVM_CAP_HLT,
  KVM_CAP_IMMEDIATE_EXIT,
  KVM_CAP_IRQ_INJECT_STATUS,
  KVM_CAP_IRQ_ROUTING,
  KVM_CAP_IRQCHIP,
  KVM_CAP_JOIN_MEMORY_REGIONS_WORKS,
  KVM_CAP_MAX_VCPU_ID,
  KVM_CAP_MAX_VCPUS,
  KVM_CAP_MEMORY_FAULT_INFO,
  KVM_CAP_MP_STATE,
  KVM_CAP_MULTI_ADDRESS_SPACE,
  KVM_CAP_NR_MEMSLOTS,
  KVM_CAP_NR_VCPUS,
  KVM_CAP_READONLY_MEM,
  KVM_CAP_SET_IDENTITY_MAP_ADDR,
  KVM_CAP_SET_TSS_ADDR,
  KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO,
  KVM_CAP_SEVBOX_VMGEXIT_RESTART,
  KVM_CAP_SYNC_MMU,
  KVM_CAP_SYNC_REGS,
  KVM_CAP_USER_MEMORY,
  KVM_CAP_USER_MEMORY2,
  KVM_CAP_USER_NMI,
  KVM_CAP_VCPU_EVENTS,
  KVM_CAP_VM_COPY_ENC_CONTEXT_FROM,
  KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM,
  KVM_CAP_VM_TYPES,
  KVM_CAP_X86_MSR_FILTER,
  KVM_CAP_X86_SMM,
  KVM_CAP_X86_USER_SPACE_MSR,
  KVM_CAP_XCRS,
  KVM_CAP_XSAVE,
  KVM_CAP_XSAVE2,
  KVM_MAX_IRQ_ROUTES,
  KVM_X86_DEFAULT_VM,
} from '../uapi/caps.js';
import { KVM_X86_GRP_SYSTEM, KVM_X86_XCOMP_GUEST_SUPP } from '../uapi/device-attr.js';
import { Errno } from '../uapi/errno.js';
import { MXCSR_MASK_AMD } from '../uapi/fxsave.js';
import { KVM_USER_MEM_SLOTS } from '../uapi/memslot.js';
import type { KvmSevCmd } from '../uapi/sev-cmd.js';
import { SVM_EXIT_SHUTDOWN } from '../uapi/svm.js';
import { KVM_XSAVE_SIZE } from '../uapi/xsave.js';
import {
  type CpuidEntry,
  DEFAULT_HOST_XCR0,
  HOST_XSTATE_ALL,
  KVM_SUPPORTED_XCR0,
  supportedCpuid,
  xstateRequiredSize,
} from './cpuid.js';
import { FdTable } from './guest-memfd.js';
import { KVM_HC_MAP_GPA_RANGE } from './hypercall.js';
import { KVM_CORE_CURRENT, type KvmCoreProfile } from './profile.js';
import { kvmSyncValidFields } from './sync-regs.js';
import { type TraceCell, Vm } from './vm.js';
import type { VmTypeOps, VmTypeProvider } from './vm-type.js';

/** KVM_MAX_VCPU_IDS on x86 (kvm_host.h): vCPU ids must stay below it. */
export const KVM_MAX_VCPU_IDS = 4096;
/** KVM_MAX_VCPUS (CONFIG_KVM_MAX_NR_VCPUS, 1024 by default). */
export const KVM_MAX_VCPUS = 1024;

/** The hardware: the guest CPU KVM_CREATE_VCPU finds behind a new vCPU of a VM of `vmType`. */
export type CpuFactory = (vcpuId: number, protectedState: boolean) => CpuBackend;

/** How this model's "host" is configured. */
export interface KvmOptions {
  /** The VMM process's address space (a fresh empty one by default). */
  host?: HostAddressSpace;
  /** What KVM allocations are charged to (unlimited by default). */
  allocator?: HostAllocator;
  /** Host MAXPHYADDR (kvm_mmu_max_gfn uses it): 48 by default, as on this project's AMD hosts. */
  maxPhysBits?: number;
  /** Extra VM types (src/sev registers KVM_X86_SEV_ES_VM). */
  vmTypes?: readonly VmTypeProvider[];
  /** KVM_MEMORY_ENCRYPT_OP for VMs whose type has none (src/sev: KVM_SEV_ES_INIT on a default VM). */
  memEncOp?: (vm: Vm, cmd: KvmSevCmd) => Errno | KvmSevCmd;
  /**
   * kvm_x86_ops.vm_move_enc_context_from and vm_copy_enc_context_from (SVM's sev_vm_move_enc_context_from,
   * sev_vm_copy_enc_context_from): KVM_ENABLE_CAP(KVM_CAP_VM_MOVE/COPY_ENC_CONTEXT_FROM) with the
   * source VM `src` its fd names; `cpus` builds the CPUs a moved SEV-ES context's vCPUs run on.
   * Absent: EINVAL.
   */
  vmMoveEncContextFrom?: (dst: Vm, src: Vm, cpus: CpuFactory) => Errno | undefined;
  vmCopyEncContextFrom?: (dst: Vm, src: Vm) => Errno | undefined;
  /** Generic-core behaviour of the kernel being modelled (default: today's). */
  core?: KvmCoreProfile;
  /** The guest CPUs (default: a CPU that shuts down at once, as one with no code would). */
  cpus?: CpuFactory;
  /**
   * The XCR0 bits the CPUs behind VMRUN can save (what XGETBV reads on the host once the kernel
   * enabled everything): default DEFAULT_HOST_XCR0, the EPYC host of DEFAULT_CPUID. KVM keeps
   * host XCR0 & KVM_SUPPORTED_XCR0 as kvm_caps.supported_xcr0, which bounds KVM_GET_SUPPORTED_CPUID's
   * leaf 0xD and every XCR0 a guest may set. Given, it is also every state component the host CPU
   * has (no supervisor ones): xstate_required_size counts no other.
   */
  hostXcr0?: bigint;
  /**
   * mxcsr_feature_mask: the MXCSR_MASK the host CPU's FXSAVE reports, which KVM_GET_XSAVE copies
   * out and KVM_SET_XSAVE checks MXCSR against: default MXCSR_MASK_AMD, the EPYC host of
   * DEFAULT_CPUID.
   */
  hostMxcsrMask?: number;
  /**
   * kvm_x86_ops.dev_get_attr: the vendor module's /dev/kvm attributes of groups other than 0
   * (SVM's sev_dev_get_attr, 6.10+: KVM_X86_GRP_SEV); absent, every such group is ENXIO.
   */
  devGetAttr?: (group: number, attr: number) => bigint | Errno;
  /** Receives trace events (nothing is built when absent). */
  trace?: TraceSink;
  /** The memory controller's encryption the CPUs use (absent: every access plaintext). */
  memoryEncryption?: MemoryEncryption;
  /** The host's clock, whose timers KVM lets fire at host ticks (absent: no timers). */
  clock?: HostClock;
  /**
   * The pages behind a new vCPU fd's mmap (KVM_GET_VCPU_MMAP_SIZE bytes: kvm_run, the PIO data
   * page, the coalesced MMIO ring). Default: memory of the model's own; `sevbox serve` gives a
   * memfd it shares with the client, so the client's mmap of the vCPU fd sees what KVM writes.
   */
  runArea?: (vcpuId: number) => Uint8Array;
}

const defaultVmOps: VmTypeOps = { protectedState: false, createVcpu: () => ({}) };

/** An open /dev/kvm (the kernel side; the fd the VMM holds is fd.ts's KvmFd). */
export class Kvm {
  readonly host: HostAddressSpace;
  readonly allocator: HostAllocator;
  readonly maxPhysBits: number;
  readonly core: KvmCoreProfile;
  readonly cpus: CpuFactory;
  readonly memEncOp: KvmOptions['memEncOp'];
  readonly vmMoveEncContextFrom: KvmOptions['vmMoveEncContextFrom'];
  readonly vmCopyEncContextFrom: KvmOptions['vmCopyEncContextFrom'];
  readonly memoryEncryption: MemoryEncryption | undefined;
  readonly clock: HostClock | undefined;
  readonly runArea: KvmOptions['runArea'];
  readonly #devGetAttr: KvmOptions['devGetAttr'];
  /** kvm_caps.supported_xcr0: the host's XCR0 & KVM_SUPPORTED_XCR0. */
  readonly supportedXcr0: bigint;
  /** The state components the host CPU has (its CPUID 0xD sub-leaves): hostXcr0 if given, else all. */
  readonly hostXstate: bigint;
  /** KvmOptions.hostMxcsrMask. */
  readonly mxcsrFeatureMask: number;
  /** What KVM_GET_SUPPORTED_CPUID reports (and a new vCPU's table until KVM_SET_CPUID2). */
  readonly supportedCpuid: readonly CpuidEntry[];
  /** The VMM process's file descriptors (guest_memfd files). */
  readonly fds = new FdTable();
  /** The trace sink, shared with every VM of this Kvm (see trace). */
  readonly #tracer: TraceCell = { sink: undefined };
  readonly #types = new Map<number, VmTypeProvider>();

  constructor(opts: KvmOptions = {}) {
    this.host = opts.host ?? new HostAddressSpace();
    this.allocator = opts.allocator ?? new HostAllocator();
    this.maxPhysBits = opts.maxPhysBits ?? 48;
    this.core = opts.core ?? KVM_CORE_CURRENT;
    this.cpus = opts.cpus ?? ((_id, protectedState) => new HaltedCpu(protectedState));
    this.memEncOp = opts.memEncOp;
    this.vmMoveEncContextFrom = opts.vmMoveEncContextFrom;
    this.vmCopyEncContextFrom = opts.vmCopyEncContextFrom;
    this.memoryEncryption = opts.memoryEncryption;
    this.clock = opts.clock;
    this.runArea = opts.runArea;
    this.#devGetAttr = opts.devGetAttr;
    this.supportedXcr0 = (opts.hostXcr0 ?? DEFAULT_HOST_XCR0) & KVM_SUPPORTED_XCR0;
    this.hostXstate = opts.hostXcr0 ?? HOST_XSTATE_ALL;
    this.mxcsrFeatureMask = opts.hostMxcsrMask ?? MXCSR_MASK_AMD;
    this.supportedCpuid = supportedCpuid(this.supportedXcr0);
    this.#tracer.sink = opts.trace;
    this.#types.set(KVM_X86_DEFAULT_VM, { type: KVM_X86_DEFAULT_VM, init: () => defaultVmOps });
    for (const t of opts.vmTypes ?? []) this.#types.set(t.type, t);
  }
  /**
   * __kvm_x86_dev_get_attr (x86.c; KVM_GET/HAS_DEVICE_ATTR on /dev/kvm, since 5.17): group 0's
   * KVM_X86_XCOMP_GUEST_SUPP is kvm_caps.supported_xcr0; another group goes to the vendor module
   * (kvm_x86_ops.dev_get_attr), or is ENXIO without one; an unknown attribute is ENXIO.
   */
  devGetAttr(group: number, attr: number): bigint | Errno {
    if (group !== KVM_X86_GRP_SYSTEM) {
      return this.#devGetAttr?.(group, attr) ?? new Errno('ENXIO', `device attribute group ${group}`);
    }
    if (attr === KVM_X86_XCOMP_GUEST_SUPP) return this.supportedXcr0;
    return new Errno('ENXIO', `device attribute ${group}/${attr}`);
  }

  /** Trace sink of every VM of this Kvm; may be set or cleared at any time. */
  get trace(): TraceSink | undefined {
    return this.#tracer.sink;
  }
  set trace(sink: TraceSink | undefined) {
    this.#tracer.sink = sink;
  }

  /** Memslot address spaces of a VM (kvm_arch_nr_memslot_as_ids): 2 with SMM, else 1. */
  addressSpaces(): number {
    return this.core.smm ? 2 : 1;
  }

  /**
   * KVM_CHECK_EXTENSION on the system fd (`vm` undefined) or a VM fd (answers for that VM): 0 for
   * anything sevbox does not model.
   */
  checkExtension(cap: number, vm?: Vm): number {
    const core = this.core;
    switch (cap) {
      case KVM_CAP_IRQCHIP:
      case KVM_CAP_HLT:
      case KVM_CAP_USER_MEMORY:
      case KVM_CAP_SET_TSS_ADDR:
      case KVM_CAP_MP_STATE:
      case KVM_CAP_SYNC_MMU:
      case KVM_CAP_USER_NMI:
      case KVM_CAP_IRQ_INJECT_STATUS:
      case KVM_CAP_SET_IDENTITY_MAP_ADDR:
      case KVM_CAP_VCPU_EVENTS:
      case KVM_CAP_XCRS:
      case KVM_CAP_XSAVE:
      case KVM_CAP_DEBUGREGS:
      case KVM_CAP_GET_TSC_KHZ:
      case KVM_CAP_ENABLE_CAP_VM:
      case KVM_CAP_IMMEDIATE_EXIT:
      case KVM_CAP_GET_MSR_FEATURES:
      case KVM_CAP_X86_USER_SPACE_MSR:
      case KVM_CAP_X86_MSR_FILTER:
      case KVM_CAP_USER_MEMORY2:
      case KVM_CAP_EXT_CPUID:
      case KVM_CAP_DESTROY_MEMORY_REGION_WORKS:
      case KVM_CAP_JOIN_MEMORY_REGIONS_WORKS:
      // x86.c lists both unconditionally (MOVE since 5.16-rc3's "expose" fix, so v5.17 has both);
      // KVM_ENABLE_CAP is EINVAL without the vendor op.
      case KVM_CAP_VM_COPY_ENC_CONTEXT_FROM:
      case KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM:
        return 1;
      case KVM_CAP_IRQ_ROUTING:
        // CONFIG_HAVE_KVM_IRQ_ROUTING is always there on x86 (the model has no KVM_SET_GSI_ROUTING yet).
        return KVM_MAX_IRQ_ROUTES;
      case KVM_CAP_READONLY_MEM:
        // kvm_arch_has_readonly_mem(): not for a VM with protected state (6.11+).
        return vm?.typeOps.protectedState && !core.readonlyMemForProtectedVms ? 0 : 1;
      case KVM_CAP_XSAVE2:
        // xstate_required_size of the filtered XCR0, at least sizeof(struct kvm_xsave): the model's
        // hosts have no state component past 4096 bytes (no AMX).
        return Math.max(KVM_XSAVE_SIZE, xstateRequiredSize(this.supportedXcr0, false, this.hostXstate));
      case KVM_CAP_SYNC_REGS:
        return kvmSyncValidFields(vm, core);
      // sevbox extensions (not Linux): enabled per SEV-ES VM with KVM_ENABLE_CAP.
      case KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO:
      case KVM_CAP_SEVBOX_VMGEXIT_RESTART:
        return 1;
      case KVM_CAP_MEMORY_FAULT_INFO:
        return core.memoryFaultInfo ? 1 : 0;
      case KVM_CAP_GUEST_MEMFD:
        return core.guestMemfd ? 1 : 0;
      case KVM_CAP_NR_MEMSLOTS:
        return KVM_USER_MEM_SLOTS;
      case KVM_CAP_NR_VCPUS:
      case KVM_CAP_MAX_VCPUS:
        return KVM_MAX_VCPUS;
      case KVM_CAP_MAX_VCPU_ID:
        return KVM_MAX_VCPU_IDS;
      case KVM_CAP_MULTI_ADDRESS_SPACE: {
        const n = this.addressSpaces();
        return n > 1 ? n : 0;
      }
      case KVM_CAP_EXIT_HYPERCALL:
        return 1 << KVM_HC_MAP_GPA_RANGE;
      case KVM_CAP_VM_TYPES: {
        if (!core.vmTypes) return 0;
        let mask = 0;
        for (const t of this.#types.keys()) mask |= 1 << t;
        return mask;
      }
      case KVM_CAP_X86_SMM:
        // svm_has_emulated_msr(MSR_IA32_SMBASE): never for an SEV-ES VM.
        return core.smm && !vm?.typeOps.protectedState ? 1 : 0;
      default:
        return 0;
    }
  }

  /** KVM_CREATE_VM: EINVAL for a VM type this KVM does not support. */
  createVm(type: number = KVM_X86_DEFAULT_VM): Vm | Errno {
    const provider = this.#types.get(type);
    if (!provider || (type !== KVM_X86_DEFAULT_VM && !this.core.vmTypes)) {
      return new Errno('EINVAL', `VM type ${type} not supported`);
    }
    const vm = new Vm(
      type,
      {
        host: this.host,
        allocator: this.allocator,
        maxPhysBits: this.maxPhysBits,
        maxGfn: this.core.maxGfnCheck ? 2 ** (this.maxPhysBits - 12) - 1 : Number.MAX_SAFE_INTEGER,
        userAddrLimit: USER_ADDR_LIMIT,
        addressSpaces: this.addressSpaces(),
        maxVcpuId: KVM_MAX_VCPU_IDS,
        core: this.core,
        supportedXcr0: this.supportedXcr0,
        hostXstate: this.hostXstate,
        mxcsrFeatureMask: this.mxcsrFeatureMask,
        supportedCpuid: this.supportedCpuid,
        tracer: this.#tracer,
        fds: this.fds,
        memoryEncryption: this.memoryEncryption,
        clock: this.clock,
        runArea: this.runArea,
      },
      defaultVmOps,
    );
    const ops = provider.init(vm);
    if (ops instanceof Errno) return ops;
    vm.typeOps = ops;
    return vm;
  }
}

/** What KVM_CREATE_VCPU finds when no CPU factory was given: a CPU without code, which shuts down. */
class HaltedCpu implements CpuBackend {
  constructor(readonly protectedState: boolean) {}
  #vmcb: Vmcb | undefined;
  attach(hw: CpuAttachment): void {
    this.#vmcb = hw.vmcb;
  }
  vmrun(): void {
    this.#vmcb!.setExit(SVM_EXIT_SHUTDOWN, 0, 0, 0, 0);
  }
}
