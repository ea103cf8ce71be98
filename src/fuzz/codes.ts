/**
 * The numbers the oracle speaks in, written down from ../shared/spec/vmgexit.md (sections 0, 1 and
 * 4) rather than taken from the model, so the oracle and the model disagree when either is wrong.
 */

/** Exit codes of the validation table (spec section 1), by name. */
export const EXIT = {
  READ_DR7: 0x27,
  WRITE_DR7: 0x37,
  RDTSC: 0x6e,
  RDPMC: 0x6f,
  CPUID: 0x72,
  INVD: 0x76,
  IOIO: 0x7b,
  MSR: 0x7c,
  VMMCALL: 0x81,
  RDTSCP: 0x87,
  WBINVD: 0x89,
  MONITOR: 0x8a,
  MWAIT: 0x8b,
  MMIO_READ: 0x8000_0001,
  MMIO_WRITE: 0x8000_0002,
  NMI_COMPLETE: 0x8000_0003,
  AP_HLT_LOOP: 0x8000_0004,
  AP_JUMP_TABLE: 0x8000_0005,
  PSC: 0x8000_0010,
  GUEST_REQUEST: 0x8000_0011,
  EXT_GUEST_REQUEST: 0x8000_0012,
  AP_CREATION: 0x8000_0013,
  HV_FEATURES: 0x8000_fffd,
  TERM_REQUEST: 0x8000_fffe,
  UNSUPPORTED_EVENT: 0x8000_ffff,
} as const;

/** GHCB_ERR_* (spec section 0). */
export const ERR = {
  NOT_REGISTERED: 1,
  INVALID_USAGE: 2,
  INVALID_SCRATCH_AREA: 3,
  MISSING_INPUT: 4,
  INVALID_INPUT: 5,
  INVALID_EVENT: 6,
} as const;

/** GHCB MSR protocol requests (GHCBInfo). */
export const MSR_REQ = {
  SEV_INFO: 0x002,
  CPUID: 0x004,
  AP_RESET_HOLD: 0x006,
  PREF_GPA: 0x010,
  REG_GPA: 0x012,
  PSC: 0x014,
  HV_FT: 0x080,
  TERM: 0x100,
} as const;

/** KVM exit reasons the outcomes name. */
export const REASON = {
  IO: 2,
  HYPERCALL: 3,
  MMIO: 6,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24,
  X86_RDMSR: 29,
  X86_WRMSR: 30,
  AP_RESET_HOLD: 32,
} as const;

/** Errnos of KVM_RUN failures. */
export const ERRNO = { ENOMEM: 12, EFAULT: 14, EINVAL: 22 } as const;

/** GHCB layout facts (spec section 0). */
export const SHARED_BEGIN = 0x800;
export const SHARED_END = 0xff0;
export const SCRATCH_LIMIT = 0x1_0000;
export const INT_MAX = 0x7fff_ffff;
export const PIO_PAGE = 4096;
