/**
 * Kernel profiles: every way the SEV-ES VMGEXIT path differs between the kernels sevbox models
 * (../shared/spec/vmgexit.md section 0), in one object per kernel, so the handlers carry no
 * version checks of their own.
 */
import { KVM_CORE_5_17, KVM_CORE_CURRENT, type KvmCoreProfile } from '../kvm/profile.js';

/** The profile names, oldest first. */
export type SevProfileName = 'prefix' | 'seed' | 'current';

/** What a profile decides. */
export interface SevProfile {
  readonly name: SevProfileName;
  /** One line for humans: which kernel this is. */
  readonly kernel: string;
  /** Generic KVM core behaviour of that kernel. */
  readonly core: KvmCoreProfile;
  /** GHCB_VERSION_MAX: highest GHCB protocol version a VM may be initialised with. */
  readonly ghcbVersionMax: number;
  /** Version a VM gets when userspace does not choose (KVM_SEV_ES_INIT: 1; KVM_SEV_INIT2 with 0: 2). */
  readonly ghcbVersionDefault: number;
  /**
   * current: sev_es_sync_from_ghcb snapshots the GHCB before validation and all later reads use the
   * snapshot; prefix/seed: validate the live page, then sync, and read sw_scratch live.
   */
  readonly snapshotGhcb: boolean;
  /** setupScratch when kvzalloc / kvm_read_guest fail: reflected to the guest (prefix) or -ENOMEM/-EFAULT. */
  readonly scratchHostFailure: 'reflect' | 'exit';
  /** setupScratch refuses len 0 (WARN_ON_ONCE, reflected): current only. */
  readonly scratchRejectsZeroLength: boolean;
  /** Inside the GHCB, ghcb_sa_len runs to the end of the shared buffer (current) rather than len. */
  readonly scratchLenToBufferEnd: boolean;
  /** GHCB v2+ VMs: scratch must be inside the GHCB, MMIO at most 8 bytes (current, May 2026). */
  readonly v2Restrictions: boolean;
  /** Zero-length MMIO, IOIO size field 0 and 0-byte string I/O resume the guest untouched (current). */
  readonly ignoreZeroLength: boolean;
  /**
   * vcpu->mmio_is_write is never set on the SEV-ES MMIO path: follow-up fragments of a write exit as
   * reads and completions copy run->mmio.data over the written bytes (prefix/seed).
   */
  readonly mmioDirectionQuirk: boolean;
  /** NAE events added with GHCB v2 that KVM accepts for SEV-ES: HV_FEATURES, TERM_REQUEST. */
  readonly v2Events: boolean;
  /** SNP-only NAE events from a non-SNP guest: INVALID_EVENT (unknown) or MISSING_INPUT (current). */
  readonly snpEventsFromEs: 'invalid-event' | 'missing-input';
  /** MSR protocol: AP_RESET_HOLD_REQ and HV_FT_REQ handled (current). */
  readonly msrV2Requests: boolean;
  /** MSR protocol: SNP requests (PREF_GPA, REG_GPA, PSC) from a non-SNP guest terminate it (current). */
  readonly msrSnpRequestsTerminate: boolean;
  /** Termination requests: KVM_RUN fails -EINVAL, or KVM_EXIT_SYSTEM_EVENT (SEV_TERM). */
  readonly termination: 'einval' | 'system-event';
  /** NMI_COMPLETE: through the IRET exit handler (prefix/seed) or by unmasking NMIs (current). */
  readonly nmiComplete: 'iret' | 'unmask';
  /**
   * The GHCB's XCR0: stored unchecked (v5.17), or through __kvm_set_xcr, an invalid value not applied
   * (4135a9a8ccba, 6.18).
   */
  readonly ghcbXcr0: 'unchecked' | 'checked';
  /** The GHCB's XSS is loaded into MSR_IA32_XSS when valid (b5fa221f7b08, 6.18). */
  readonly ghcbXss: boolean;
  /** A second KVM_SEV_ES_INIT on an active SEV VM: v5.17's sev_guest_init says EBUSY, 6.10+'s __sev_guest_init EINVAL. */
  readonly reinitErrno: 'EBUSY' | 'EINVAL';
  /**
   * LAUNCH_UPDATE_VMSA on a vCPU whose VMSA is already encrypted: sev_es_sync_vmsa refuses it
   * (EINVAL; 2026, backported to 6.12.83) or syncs and hands the page to the firmware again (v5.17).
   */
  readonly vmsaResyncRefused: boolean;
  /**
   * KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM from a VM that has mirrors: EBUSY in v5.17 (17d44a96f000,
   * num_mirrored_vms), moved with their references since 5.18 ("Allow SEV intra-host migration of
   * VM with mirrors", the mirror_vms list).
   */
  readonly migrateWithMirrors: boolean;
}

/** Kernels from ad5b353240c8 up to (not including) the seed commit. */
export const PREFIX: SevProfile = {
  name: 'prefix',
  kernel: 'ad5b353240c8..aa9f58415a8e^ (v5.17-rc): every scratch failure reflected to the guest',
  core: KVM_CORE_5_17,
  ghcbVersionMax: 1,
  ghcbVersionDefault: 1,
  snapshotGhcb: false,
  scratchHostFailure: 'reflect',
  scratchRejectsZeroLength: false,
  scratchLenToBufferEnd: false,
  v2Restrictions: false,
  ignoreZeroLength: false,
  mmioDirectionQuirk: true,
  v2Events: false,
  snpEventsFromEs: 'invalid-event',
  msrV2Requests: false,
  msrSnpRequestsTerminate: false,
  termination: 'einval',
  nmiComplete: 'iret',
  ghcbXcr0: 'unchecked',
  ghcbXss: false,
  reinitErrno: 'EBUSY',
  vmsaResyncRefused: false,
  migrateWithMirrors: false,
};

/** The seed commit aa9f58415a8e (v5.17): ENOMEM/EFAULT of the scratch path exit to userspace. */
export const SEED: SevProfile = {
  ...PREFIX,
  name: 'seed',
  kernel: 'aa9f58415a8e (v5.17): scratch ENOMEM/EFAULT make KVM_RUN fail',
  scratchHostFailure: 'exit',
};

/** Today's mainline, with the May 2026 scratch-area hardening. */
export const CURRENT: SevProfile = {
  name: 'current',
  kernel: 'mainline 2026 (GHCB v2, SNP host support, scratch-area hardening)',
  core: KVM_CORE_CURRENT,
  ghcbVersionMax: 2,
  ghcbVersionDefault: 2,
  snapshotGhcb: true,
  scratchHostFailure: 'exit',
  scratchRejectsZeroLength: true,
  scratchLenToBufferEnd: true,
  v2Restrictions: true,
  ignoreZeroLength: true,
  mmioDirectionQuirk: false,
  v2Events: true,
  snpEventsFromEs: 'missing-input',
  msrV2Requests: true,
  msrSnpRequestsTerminate: true,
  termination: 'system-event',
  nmiComplete: 'unmask',
  ghcbXcr0: 'checked',
  ghcbXss: true,
  reinitErrno: 'EINVAL',
  vmsaResyncRefused: true,
  migrateWithMirrors: true,
};

/** All profiles by name. */
export const SEV_PROFILES: Readonly<Record<SevProfileName, SevProfile>> = {
  prefix: PREFIX,
  seed: SEED,
  current: CURRENT,
};
