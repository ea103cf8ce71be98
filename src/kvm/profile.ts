/**
 * Behaviour of the generic KVM core that changed between kernel versions. SEV-specific differences
 * live in src/sev's profiles, which name one of these for the core.
 */
export interface KvmCoreProfile {
  readonly name: string;
  /** vcpu_run() presets kvm_run.exit_reason = KVM_EXIT_UNKNOWN on every KVM_RUN (a 2023 change). */
  readonly presetExitReasonUnknown: boolean;
  /** The page-fault path fills KVM_EXIT_MEMORY_FAULT before returning -EFAULT (KVM_CAP_MEMORY_FAULT_INFO, 6.8+). */
  readonly memoryFaultInfo: boolean;
  /**
   * KVM_MEM_READONLY is accepted for VMs with protected state (SEV-ES): yes in v5.17, no since
   * kvm_arch_has_readonly_mem() became !has_protected_state (6.10).
   */
  readonly readonlyMemForProtectedVms: boolean;
  /** guest_memfd exists (KVM_CAP_GUEST_MEMFD, 6.8+) and unprotected VMs may bind it to memslots (6.18). */
  readonly guestMemfd: boolean;
}

/** Today's mainline. */
export const KVM_CORE_CURRENT: KvmCoreProfile = {
  name: 'current',
  presetExitReasonUnknown: true,
  memoryFaultInfo: true,
  readonlyMemForProtectedVms: false,
  guestMemfd: true,
};

/** The v5.17 kernel of the seed commit: no exit_reason preset, no memory-fault exits. */
export const KVM_CORE_5_17: KvmCoreProfile = {
  name: '5.17',
  presetExitReasonUnknown: false,
  memoryFaultInfo: false,
  readonlyMemForProtectedVms: true,
  guestMemfd: false,
};
