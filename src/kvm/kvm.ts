/**
 * /dev/kvm as the VMM process opens it: capabilities, and VM creation for the VM types this KVM
 * knows. The process's address space and the kernel allocator KVM charges are given at open time.
 */
import { HostAddressSpace, USER_ADDR_LIMIT } from '../host/address-space.js';
import { HostAllocator } from '../host/allocator.js';
import type { TraceSink } from '../trace/events.js';
import {
  KVM_API_VERSION,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_CAP_GUEST_MEMFD,
  KVM_CAP_IMMEDIATE_EXIT,
  KVM_CAP_MEMORY_FAULT_INFO,
  KVM_CAP_NR_MEMSLOTS,
  KVM_CAP_READONLY_MEM,
  KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO,
  KVM_CAP_SEVBOX_VMGEXIT_RESTART,
  KVM_CAP_SYNC_MMU,
  KVM_CAP_USER_MEMORY,
  KVM_CAP_USER_MEMORY2,
  KVM_CAP_VM_TYPES,
  KVM_CAP_X86_MSR_FILTER,
  KVM_CAP_X86_SMM,
  KVM_CAP_X86_USER_SPACE_MSR,
  KVM_X86_DEFAULT_VM,
} from '../uapi/caps.js';
import { KvmError } from '../uapi/kvm-error.js';
import { KVM_VCPU_MMAP_SIZE } from '../uapi/kvm-run.js';
import { KVM_USER_MEM_SLOTS } from '../uapi/memslot.js';
import { FdTable } from './guest-memfd.js';
import { KVM_CORE_CURRENT, type KvmCoreProfile } from './profile.js';
import { Vm } from './vm.js';
import type { VmTypeOps, VmTypeProvider } from './vm-type.js';

/** KVM_MAX_VCPU_IDS on x86 (kvm_host.h): vCPU ids must stay below it. */
export const KVM_MAX_VCPU_IDS = 4096;

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
  /** Generic-core behaviour of the kernel being modelled (default: today's). */
  core?: KvmCoreProfile;
  /** Receives trace events (nothing is built when absent). */
  trace?: TraceSink;
}

const defaultVmOps: VmTypeOps = { protectedState: false, createVcpu: () => ({}) };

/** An open /dev/kvm. */
export class Kvm {
  readonly host: HostAddressSpace;
  readonly allocator: HostAllocator;
  readonly maxPhysBits: number;
  readonly core: KvmCoreProfile;
  /** The VMM process's file descriptors (guest_memfd files). */
  readonly fds = new FdTable();
  /** Trace sink for every VM created from now on; may be set or cleared at any time. */
  trace: TraceSink | undefined;
  readonly #types = new Map<number, VmTypeProvider>();

  constructor(opts: KvmOptions = {}) {
    this.host = opts.host ?? new HostAddressSpace();
    this.allocator = opts.allocator ?? new HostAllocator();
    this.maxPhysBits = opts.maxPhysBits ?? 48;
    this.core = opts.core ?? KVM_CORE_CURRENT;
    this.trace = opts.trace;
    this.#types.set(KVM_X86_DEFAULT_VM, { type: KVM_X86_DEFAULT_VM, init: () => defaultVmOps });
    for (const t of opts.vmTypes ?? []) this.#types.set(t.type, t);
  }

  /** KVM_GET_API_VERSION. */
  getApiVersion(): number {
    return KVM_API_VERSION;
  }

  /** KVM_GET_VCPU_MMAP_SIZE. */
  getVcpuMmapSize(): number {
    return KVM_VCPU_MMAP_SIZE;
  }

  /** KVM_CHECK_EXTENSION: 0 for anything sevbox does not model. */
  checkExtension(cap: number): number {
    switch (cap) {
      case KVM_CAP_USER_MEMORY:
      case KVM_CAP_SYNC_MMU:
      case KVM_CAP_READONLY_MEM:
      case KVM_CAP_IMMEDIATE_EXIT:
      case KVM_CAP_X86_USER_SPACE_MSR:
      case KVM_CAP_X86_MSR_FILTER:
      case KVM_CAP_USER_MEMORY2:
        return 1;
      // sevbox extensions (not Linux): enabled per SEV-ES VM with Vm.enableCap.
      case KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO:
      case KVM_CAP_SEVBOX_VMGEXIT_RESTART:
        return 1;
      case KVM_CAP_MEMORY_FAULT_INFO:
        return this.core.memoryFaultInfo ? 1 : 0;
      case KVM_CAP_GUEST_MEMFD:
        return this.core.guestMemfd ? 1 : 0;
      case KVM_CAP_NR_MEMSLOTS:
        return KVM_USER_MEM_SLOTS;
      case KVM_CAP_EXIT_HYPERCALL:
        return 1 << 12; // KVM_HC_MAP_GPA_RANGE
      case KVM_CAP_VM_TYPES: {
        let mask = 0;
        for (const t of this.#types.keys()) mask |= 1 << t;
        return mask;
      }
      case KVM_CAP_X86_SMM:
        return 0;
      default:
        return 0;
    }
  }

  /**
   * KVM_CREATE_VM: EINVAL for a VM type this KVM does not support. `options` go to the VM type
   * (for SEV-ES: the kernel profile and GHCB version, which real KVM takes via KVM_SEV_INIT2).
   */
  createVm(type: number = KVM_X86_DEFAULT_VM, options?: unknown): Vm {
    const provider = this.#types.get(type);
    if (!provider) throw new KvmError('EINVAL', `VM type ${type} not supported`);
    return new Vm(
      type,
      {
        host: this.host,
        allocator: this.allocator,
        maxGfn: 2 ** (this.maxPhysBits - 12) - 1,
        userAddrLimit: USER_ADDR_LIMIT,
        addressSpaces: 1,
        maxVcpuId: KVM_MAX_VCPU_IDS,
        core: this.core,
        trace: () => this.trace,
        fds: this.fds,
      },
      (vm) => provider.init(vm, options),
    );
  }
}
