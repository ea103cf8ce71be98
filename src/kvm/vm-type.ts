/**
 * How a VM type plugs into the KVM core: the seam through which src/sev adds SEV-ES without the core
 * importing it (kvm_x86_ops-style hooks). The core owns memslots, the run loop and the generic exit
 * handlers; a VM type may add per-VM state, replace exit handlers and hook guest entry.
 */
import type { Errno } from '../uapi/errno.js';
import type { KvmEncRegion, KvmSevCmd } from '../uapi/sev-cmd.js';
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
  /**
   * A nested page fault KVM would emulate (no memslot, or a write to a read-only one) on a guest
   * whose instruction it cannot emulate (SEV-ES: svm_check_emulate_instruction refuses). Returns
   * what npf_interception returns.
   */
  cannotEmulate?(gpa: number, write: boolean): number;
  /** String port I/O (IOIO with the STR bit) of a VM type with protected state: sev_es_string_io (unprotected guests: the emulator). */
  stringIo?(size: number, port: number, isIn: boolean): number;
  /** kvm_x86_ops.vcpu_deliver_sipi_vector (SEV-ES: sev_vcpu_deliver_sipi_vector). */
  deliverSipi?(vector: number): void;
  /** sev_free_vcpu and friends: the vCPU is being destroyed. */
  destroy?(): void;
}

/** Per-VM part of a VM type. */
export interface VmTypeOps {
  /**
   * has_protected_state: the VM type's guest state is protected (KVM_X86_SEV_ES_VM): read-only
   * memslots and (once the VMSA is encrypted) register ioctls are refused.
   */
  readonly protectedState: boolean;
  /** sev_es_guest(): vCPUs created now are SEV-ES vCPUs; KVM reaches their registers through the GHCB only. */
  readonly sevEs?: boolean;
  /** Called for each new vCPU. */
  createVcpu(vcpu: Vcpu): VcpuTypeOps;
  /** sev_init_vmcb: init_vmcb's part for the VM type's vCPUs (intercepts KVM must not or cannot keep). */
  initVmcb?(vcpu: Vcpu): void;
  /** sev_es_recalc_msr_intercepts: the VM type's part of svm_recalc_msr_intercepts. */
  recalcMsrIntercepts?(vcpu: Vcpu): void;
  /** KVM_ENABLE_CAP for a capability of this VM type: undefined, or the Errno (EINVAL when it does not know it). */
  enableCap?(cap: number, args: readonly bigint[]): Errno | undefined;
  /** KVM_MEMORY_ENCRYPT_OP (SEV's commands); without it the ioctl is ENOTTY. */
  memEncOp?(cmd: KvmSevCmd): Errno | KvmSevCmd;
  /** KVM_MEMORY_ENCRYPT_REG_REGION (mem_enc_register_region); without it the ioctl is ENOTTY. */
  memEncRegisterRegion?(range: KvmEncRegion): Errno | undefined;
  /** KVM_MEMORY_ENCRYPT_UNREG_REGION (mem_enc_unregister_region); without it the ioctl is ENOTTY. */
  memEncUnregisterRegion?(range: KvmEncRegion): Errno | undefined;
  /** kvm_x86_ops.vcpu_pre_run, at each KVM_RUN before entering: 1 to run, else the result (-errno). */
  vcpuPreRun?(vcpu: Vcpu): number;
  /** The VM is being destroyed. */
  destroy?(): void;
}

/** A VM type KVM_CREATE_VM accepts (KVM_X86_DEFAULT_VM, KVM_X86_SEV_VM, KVM_X86_SEV_ES_VM). */
export interface VmTypeProvider {
  readonly type: number;
  /** The per-VM state of a freshly created VM, or why KVM_CREATE_VM fails. */
  init(vm: Vm): VmTypeOps | Errno;
}
