/**
 * Behaviour of the generic KVM core that changed between kernel versions or differs by build
 * configuration. SEV-specific differences live in src/sev's profiles, which name one of these for
 * the core.
 */
export interface KvmCoreProfile {
  readonly name: string;
  /** vcpu_run() presets kvm_run.exit_reason = KVM_EXIT_UNKNOWN on every KVM_RUN (a 2023 change). */
  readonly presetExitReasonUnknown: boolean;
  /** The page-fault path fills KVM_EXIT_MEMORY_FAULT before returning -EFAULT (KVM_CAP_MEMORY_FAULT_INFO, 6.8+). */
  readonly memoryFaultInfo: boolean;
  /**
   * KVM_MEM_READONLY is accepted for VMs with protected state (SEV-ES): yes in v5.17, no since
   * kvm_arch_has_readonly_mem() became !has_protected_state (66155de93bcf, 6.11).
   */
  readonly readonlyMemForProtectedVms: boolean;
  /** guest_memfd exists (KVM_CAP_GUEST_MEMFD, 6.8+) and unprotected VMs may bind it to memslots (6.18). */
  readonly guestMemfd: boolean;
  /** CPUID 0xD.1 EBX counts the XSS features too (9622e116d0d2, 6.18). */
  readonly xssInXsaveSize: boolean;
  /** KVM_CREATE_VM takes VM types other than 0 (KVM_CAP_VM_TYPES, 6.10); v5.17 refuses any type with EINVAL. */
  readonly vmTypes: boolean;
  /**
   * kvm_arch_prepare_memory_region refuses slots beyond the host's MAXPHYADDR (86931ff7207b, v5.18;
   * the seed's v5.17 tree has no such check).
   */
  readonly maxGfnCheck: boolean;
  /**
   * CONFIG_KVM_SMM: two memslot address spaces (v5.17: always, KVM_ADDRESS_SPACE_NUM 2; current:
   * with SMM and no private memory, kvm_arch_nr_memslot_as_ids), else one.
   */
  readonly smm: boolean;
  /**
   * KVM_CAP_X86_USER_SPACE_MSR rejects unknown reason bits and KVM_X86_SET_MSR_FILTER unknown flags
   * (6.0); v5.17 stores whatever it is given.
   */
  readonly msrExitFlagChecks: boolean;
  /**
   * Register ioctls on a vCPU of a protected-state VM type whose VMSA is encrypted fail with EINVAL
   * (6.10, has_protected_state); v5.17 returns 0 and KVM's stale copies (FPU/XSAVE: zeros).
   */
  readonly protectedStateIoctlsEinval: boolean;
  /**
   * complete_hypercall_exit keeps 64 bits of userspace's result for protected state
   * (is_64_bit_hypercall, 6.13); v5.17 asks is_64_bit_mode, which for an SEV-ES vCPU reads the stale
   * VMCB and truncates to 32 bits.
   */
  readonly hypercallRetByProtectedState: boolean;
  /** RDPMC ignores index bits 31:30 on AMD (bit 31: a 32-bit read), as before 6.10. */
  readonly rdpmcIgnoresHighBits: boolean;
}

/** Today's mainline, as distributions build it (CONFIG_KVM_SMM=y). */
export const KVM_CORE_CURRENT: KvmCoreProfile = {
  name: 'current',
  presetExitReasonUnknown: true,
  memoryFaultInfo: true,
  readonlyMemForProtectedVms: false,
  guestMemfd: true,
  xssInXsaveSize: true,
  vmTypes: true,
  maxGfnCheck: true,
  smm: true,
  msrExitFlagChecks: true,
  protectedStateIoctlsEinval: true,
  hypercallRetByProtectedState: true,
  rdpmcIgnoresHighBits: false,
};

/** The v5.17 kernel of the seed commit: no exit_reason preset, no memory-fault exits, no VM types. */
export const KVM_CORE_5_17: KvmCoreProfile = {
  name: '5.17',
  presetExitReasonUnknown: false,
  memoryFaultInfo: false,
  readonlyMemForProtectedVms: true,
  guestMemfd: false,
  xssInXsaveSize: false,
  vmTypes: false,
  maxGfnCheck: false,
  smm: true,
  msrExitFlagChecks: false,
  protectedStateIoctlsEinval: false,
  hypercallRetByProtectedState: false,
  rdpmcIgnoresHighBits: true,
};
