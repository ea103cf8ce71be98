/**
 * The SEV firmware's vocabulary as KVM's userspace sees it: the status codes KVM_MEMORY_ENCRYPT_OP
 * passes back in kvm_sev_cmd.error (the typedef enum sev_ret_code, include/uapi/linux/psp-sev.h), the guest
 * states KVM_SEV_GUEST_STATUS reports, and the guest policy bits LAUNCH_START takes (AMD's SEV API,
 * #55766, chapter 3; the names are sev-tool's). docs/sev-launch-rules.md has where each comes from.
 */

// ---- enum sev_ret_code ----

/** Linux-only: the firmware was not called (platform-init paths; never a launch command's error). */
export const SEV_RET_NO_FW_CALL = -1;
export const SEV_RET_SUCCESS = 0;
export const SEV_RET_INVALID_PLATFORM_STATE = 0x01;
/** The command is not allowed in the guest's state (e.g. LAUNCH_FINISH before LAUNCH_MEASURE). */
export const SEV_RET_INVALID_GUEST_STATE = 0x02;
/** Spelled so in the header. */
export const SEV_RET_INAVLID_CONFIG = 0x03;
/** A length the command cannot take (LAUNCH_MEASURE's buffer under 48 bytes: the query). */
export const SEV_RET_INVALID_LEN = 0x04;
export const SEV_RET_ALREADY_OWNED = 0x05;
export const SEV_RET_INVALID_CERTIFICATE = 0x06;
/** The guest policy forbids it (DBG_DECRYPT/ENCRYPT with NODBG). */
export const SEV_RET_POLICY_FAILURE = 0x07;
/** The guest is not activated (no ASID bound). */
export const SEV_RET_INACTIVE = 0x08;
export const SEV_RET_INVALID_ADDRESS = 0x09;
export const SEV_RET_BAD_SIGNATURE = 0x0a;
export const SEV_RET_BAD_MEASUREMENT = 0x0b;
export const SEV_RET_ASID_OWNED = 0x0c;
export const SEV_RET_INVALID_ASID = 0x0d;
export const SEV_RET_WBINVD_REQUIRED = 0x0e;
export const SEV_RET_DFFLUSH_REQUIRED = 0x0f;
/** No guest has that handle. */
export const SEV_RET_INVALID_GUEST = 0x10;
export const SEV_RET_INVALID_COMMAND = 0x11;
export const SEV_RET_ACTIVE = 0x12;
export const SEV_RET_HWSEV_RET_PLATFORM = 0x13;
export const SEV_RET_HWSEV_RET_UNSAFE = 0x14;
export const SEV_RET_UNSUPPORTED = 0x15;
export const SEV_RET_INVALID_PARAM = 0x16;
export const SEV_RET_RESOURCE_LIMIT = 0x17;
export const SEV_RET_SECURE_DATA_INVALID = 0x18;

const SEV_RET_NAMES: readonly string[] = [
  'SUCCESS',
  'INVALID_PLATFORM_STATE',
  'INVALID_GUEST_STATE',
  'INAVLID_CONFIG',
  'INVALID_LEN',
  'ALREADY_OWNED',
  'INVALID_CERTIFICATE',
  'POLICY_FAILURE',
  'INACTIVE',
  'INVALID_ADDRESS',
  'BAD_SIGNATURE',
  'BAD_MEASUREMENT',
  'ASID_OWNED',
  'INVALID_ASID',
  'WBINVD_REQUIRED',
  'DFFLUSH_REQUIRED',
  'INVALID_GUEST',
  'INVALID_COMMAND',
  'ACTIVE',
  'HWSEV_RET_PLATFORM',
  'HWSEV_RET_UNSAFE',
  'UNSUPPORTED',
  'INVALID_PARAM',
  'RESOURCE_LIMIT',
  'SECURE_DATA_INVALID',
];

/** "SEV_RET_POLICY_FAILURE", or "SEV_RET_#<n>" for a code the header does not name. */
export function sevRetName(code: number): string {
  if (code === SEV_RET_NO_FW_CALL) return 'SEV_RET_NO_FW_CALL';
  const name = SEV_RET_NAMES[code];
  return `SEV_RET_${name ?? `#${code}`}`;
}

// ---- guest states (GSTATE; what KVM_SEV_GUEST_STATUS's state holds) ----

/** No guest context (before LAUNCH_START). */
export const SEV_GSTATE_UNINIT = 0;
/** Launching: LAUNCH_UPDATE_DATA / _VMSA allowed, LAUNCH_MEASURE ends it. */
export const SEV_GSTATE_LUPDATE = 1;
/** Measured: LAUNCH_SECRET allowed, LAUNCH_FINISH ends it. */
export const SEV_GSTATE_LSECRET = 2;
/** Launched. */
export const SEV_GSTATE_RUNNING = 3;
/** Sending (outgoing migration). */
export const SEV_GSTATE_SUPDATE = 4;
/** Receiving (incoming migration). */
export const SEV_GSTATE_RUPDATE = 5;
/** Sent (newer API versions). */
export const SEV_GSTATE_SENT = 6;

// ---- guest policy (a u32; LAUNCH_START) ----

/** Debugging (DBG_DECRYPT/ENCRYPT) is disallowed. */
export const SEV_POLICY_NODBG = 1 << 0;
/** Sharing keys with another guest is disallowed. */
export const SEV_POLICY_NOKS = 1 << 1;
/** The guest is SEV-ES. */
export const SEV_POLICY_ES = 1 << 2;
/** Sending the guest to another platform is disallowed. */
export const SEV_POLICY_NOSEND = 1 << 3;
/** The guest may be sent only within its domain. */
export const SEV_POLICY_DOMAIN = 1 << 4;
/** The guest may be sent only to SEV-capable platforms. */
export const SEV_POLICY_SEV = 1 << 5;
/** Bits 16-23 / 24-31: the lowest firmware API major / minor version the guest accepts. */
export const SEV_POLICY_API_MAJOR_SHIFT = 16;
export const SEV_POLICY_API_MINOR_SHIFT = 24;
