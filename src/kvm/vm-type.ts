/**
 * How a VM type plugs into the KVM core: the seam through which src/sev adds SEV-ES without the core
 * importing it (kvm_x86_ops-style hooks). The core owns memslots, the run loop and the generic exit
 * handlers; a VM type may add per-VM state, replace exit handlers and hook guest entry.
 */
import type { KvmCoreProfile } from './profile.js';
import type { Vcpu } from './vcpu.js';
import type { Vm } from './vm.js';

/** An SVM exit handler: 1 = re-enter the guest, 0 = exit to userspace (kvm_run filled), < 0 = -errno. */
export type ExitHandler = (vcpu: Vcpu) => number;

/** Per-vCPU hooks of a VM type. */
export interface VcpuTypeOps {
  /** SVM exit handlers that replace or add to the core's, by exit code. */
  readonly exitHandlers?: ReadonlyMap<number, ExitHandler>;
  /** svm_prepare_switch_to_guest: runs before every VMRUN (SEV-ES unmaps the GHCB here). */
  prepareSwitchToGuest?(): void;
  /** svm_complete_emulated_msr: how a failed MSR emulation reaches the guest (#GP injection by default). */
  completeEmulatedMsr?(err: boolean): number;
  /** String port I/O (IOIO with the STR bit), which only a VM type can do: sev_es_string_io. */
  stringIo?(size: number, port: number, isIn: boolean): number;
  /** sev_free_vcpu and friends: the vCPU is being destroyed. */
  destroy?(): void;
}

/** Per-VM part of a VM type. */
export interface VmTypeOps {
  /** Guest register state is protected (SEV-ES): KVM reaches registers only through the GHCB. */
  readonly protectedState: boolean;
  /** Generic-core behaviour for this VM, when the VM type models a kernel of its own. */
  readonly core?: KvmCoreProfile;
  /** Called for each new vCPU. */
  createVcpu(vcpu: Vcpu): VcpuTypeOps;
  /** KVM_ENABLE_CAP for a capability of this VM type; throws KvmError (EINVAL when it does not know it). */
  enableCap?(cap: number, args: readonly bigint[]): void;
  /** The VM is being destroyed. */
  destroy?(): void;
}

/** A VM type KVM_CREATE_VM accepts (KVM_X86_DEFAULT_VM, KVM_X86_SEV_ES_VM, ...). */
export interface VmTypeProvider {
  readonly type: number;
  /** Set up the per-VM state for a freshly created VM; `options` come from createVm. Throws KvmError. */
  init(vm: Vm, options?: unknown): VmTypeOps;
}
