/**
 * SEV command numbers (enum sev_cmd_id) and byte-exact codecs for struct kvm_sev_cmd (the argument
 * of KVM_MEMORY_ENCRYPT_OP on an SEV VM), struct kvm_sev_init (the data of KVM_SEV_INIT2) and struct
 * kvm_enc_region (KVM_MEMORY_ENCRYPT_REG_REGION / UNREG_REGION), from
 * arch/x86/include/uapi/asm/kvm.h (Linux 6.12; kvm_enc_region is in include/uapi/linux/kvm.h).
 * Layout (little-endian, x86-64):
 *
 * - kvm_sev_cmd (24 bytes): id u32 @0, pad0 u32 @4, data u64 @8, error u32 @16, sev_fd u32 @20.
 *   (Headers before 6.10 have no pad0 member; the 4 bytes are implicit padding, same offsets.)
 * - kvm_sev_init (48 bytes): vmsa_features u64 @0, flags u32 @8, ghcb_version u16 @12,
 *   pad1 u16 @14, pad2[8] u32 @16.
 * - kvm_enc_region (16 bytes): addr u64 @0, size u64 @8.
 *
 * KVM_MEMORY_ENCRYPT_OP itself is declared with an `unsigned long` argument (size 8 in the ioctl
 * number), not with struct kvm_sev_cmd; the argument is the userspace address of a kvm_sev_cmd.
 *
 * Offsets are exported keyed by C member name (KVM_SEV_CMD_OFFSETS, KVM_SEV_INIT_OFFSETS,
 * KVM_ENC_REGION_OFFSETS); see ioctl.ts for the scheme.
 */

import { Errno, type ErrnoName } from './errno.js';
import { structIn, structOut } from './struct.js';

// ---- enum sev_cmd_id ----

/** Guest initialization: plain SEV VM on a default VM type (legacy; KVM_SEV_INIT2 replaces it). */
export const KVM_SEV_INIT = 0;
/** Guest initialization: SEV-ES VM on a default VM type (legacy; GHCB version 1). */
export const KVM_SEV_ES_INIT = 1;
/** Launch: LAUNCH_START (struct kvm_sev_launch_start). */
export const KVM_SEV_LAUNCH_START = 2;
/** Launch: encrypt guest memory in place (struct kvm_sev_launch_update_data). */
export const KVM_SEV_LAUNCH_UPDATE_DATA = 3;
/** Launch: encrypt the VMSAs of all vCPUs (SEV-ES). */
export const KVM_SEV_LAUNCH_UPDATE_VMSA = 4;
/** Launch: inject a secret (struct kvm_sev_launch_secret). */
export const KVM_SEV_LAUNCH_SECRET = 5;
/** Launch: get the launch measurement (struct kvm_sev_launch_measure). */
export const KVM_SEV_LAUNCH_MEASURE = 6;
/** Launch: LAUNCH_FINISH; the guest can run afterwards. */
export const KVM_SEV_LAUNCH_FINISH = 7;
/** Outgoing migration: SEND_START. */
export const KVM_SEV_SEND_START = 8;
/** Outgoing migration: SEND_UPDATE_DATA. */
export const KVM_SEV_SEND_UPDATE_DATA = 9;
/** Outgoing migration: SEND_UPDATE_VMSA. */
export const KVM_SEV_SEND_UPDATE_VMSA = 10;
/** Outgoing migration: SEND_FINISH. */
export const KVM_SEV_SEND_FINISH = 11;
/** Incoming migration: RECEIVE_START. */
export const KVM_SEV_RECEIVE_START = 12;
/** Incoming migration: RECEIVE_UPDATE_DATA. */
export const KVM_SEV_RECEIVE_UPDATE_DATA = 13;
/** Incoming migration: RECEIVE_UPDATE_VMSA. */
export const KVM_SEV_RECEIVE_UPDATE_VMSA = 14;
/** Incoming migration: RECEIVE_FINISH. */
export const KVM_SEV_RECEIVE_FINISH = 15;
/** Status: GUEST_STATUS (struct kvm_sev_guest_status). */
export const KVM_SEV_GUEST_STATUS = 16;
/** Debug: decrypt guest memory (struct kvm_sev_dbg). */
export const KVM_SEV_DBG_DECRYPT = 17;
/** Debug: encrypt into guest memory (struct kvm_sev_dbg). */
export const KVM_SEV_DBG_ENCRYPT = 18;
/** Certificates: CERT_EXPORT. */
export const KVM_SEV_CERT_EXPORT = 19;
/** Attestation report (struct kvm_sev_attestation_report). */
export const KVM_SEV_GET_ATTESTATION_REPORT = 20;
/** Migration: SEND_CANCEL. */
export const KVM_SEV_SEND_CANCEL = 21;
/** Initialization for the KVM_X86_SEV_VM / KVM_X86_SEV_ES_VM / KVM_X86_SNP_VM types (struct kvm_sev_init). */
export const KVM_SEV_INIT2 = 22;
/** SNP launch: SNP_LAUNCH_START. */
export const KVM_SEV_SNP_LAUNCH_START = 100;
/** SNP launch: SNP_LAUNCH_UPDATE. */
export const KVM_SEV_SNP_LAUNCH_UPDATE = 101;
/** SNP launch: SNP_LAUNCH_FINISH. */
export const KVM_SEV_SNP_LAUNCH_FINISH = 102;
/** One past the last command in 6.12 (the enum's last member; 22 in kernels before KVM_SEV_INIT2 and SNP). */
export const KVM_SEV_NR_MAX = 103;

const SEV_CMD_NAMES: ReadonlyMap<number, string> = new Map([
  [KVM_SEV_INIT, 'KVM_SEV_INIT'],
  [KVM_SEV_ES_INIT, 'KVM_SEV_ES_INIT'],
  [KVM_SEV_LAUNCH_START, 'KVM_SEV_LAUNCH_START'],
  [KVM_SEV_LAUNCH_UPDATE_DATA, 'KVM_SEV_LAUNCH_UPDATE_DATA'],
  [KVM_SEV_LAUNCH_UPDATE_VMSA, 'KVM_SEV_LAUNCH_UPDATE_VMSA'],
  [KVM_SEV_LAUNCH_SECRET, 'KVM_SEV_LAUNCH_SECRET'],
  [KVM_SEV_LAUNCH_MEASURE, 'KVM_SEV_LAUNCH_MEASURE'],
  [KVM_SEV_LAUNCH_FINISH, 'KVM_SEV_LAUNCH_FINISH'],
  [KVM_SEV_SEND_START, 'KVM_SEV_SEND_START'],
  [KVM_SEV_SEND_UPDATE_DATA, 'KVM_SEV_SEND_UPDATE_DATA'],
  [KVM_SEV_SEND_UPDATE_VMSA, 'KVM_SEV_SEND_UPDATE_VMSA'],
  [KVM_SEV_SEND_FINISH, 'KVM_SEV_SEND_FINISH'],
  [KVM_SEV_RECEIVE_START, 'KVM_SEV_RECEIVE_START'],
  [KVM_SEV_RECEIVE_UPDATE_DATA, 'KVM_SEV_RECEIVE_UPDATE_DATA'],
  [KVM_SEV_RECEIVE_UPDATE_VMSA, 'KVM_SEV_RECEIVE_UPDATE_VMSA'],
  [KVM_SEV_RECEIVE_FINISH, 'KVM_SEV_RECEIVE_FINISH'],
  [KVM_SEV_GUEST_STATUS, 'KVM_SEV_GUEST_STATUS'],
  [KVM_SEV_DBG_DECRYPT, 'KVM_SEV_DBG_DECRYPT'],
  [KVM_SEV_DBG_ENCRYPT, 'KVM_SEV_DBG_ENCRYPT'],
  [KVM_SEV_CERT_EXPORT, 'KVM_SEV_CERT_EXPORT'],
  [KVM_SEV_GET_ATTESTATION_REPORT, 'KVM_SEV_GET_ATTESTATION_REPORT'],
  [KVM_SEV_SEND_CANCEL, 'KVM_SEV_SEND_CANCEL'],
  [KVM_SEV_INIT2, 'KVM_SEV_INIT2'],
  [KVM_SEV_SNP_LAUNCH_START, 'KVM_SEV_SNP_LAUNCH_START'],
  [KVM_SEV_SNP_LAUNCH_UPDATE, 'KVM_SEV_SNP_LAUNCH_UPDATE'],
  [KVM_SEV_SNP_LAUNCH_FINISH, 'KVM_SEV_SNP_LAUNCH_FINISH'],
]);

/** Printable name of an SEV command id, or "KVM_SEV_#<n>". */
export function kvmSevCmdName(id: number): string {
  return SEV_CMD_NAMES.get(id) ?? `KVM_SEV_#${id}`;
}

// ---- structs ----

/** sizeof(struct kvm_sev_cmd). */
export const KVM_SEV_CMD_SIZE = 24;
/** sizeof(struct kvm_sev_init). */
export const KVM_SEV_INIT_SIZE = 48;
/** sizeof(struct kvm_enc_region). */
export const KVM_ENC_REGION_SIZE = 16;

/** offsetof(struct kvm_sev_cmd, <member>). */
export const KVM_SEV_CMD_OFFSETS = { id: 0, pad0: 4, data: 8, error: 16, sev_fd: 20 } as const;
/** offsetof(struct kvm_sev_init, <member>). */
export const KVM_SEV_INIT_OFFSETS = {
  vmsa_features: 0,
  flags: 8,
  ghcb_version: 12,
  pad1: 14,
  pad2: 16,
} as const;
/** offsetof(struct kvm_enc_region, <member>). */
export const KVM_ENC_REGION_OFFSETS = { addr: 0, size: 8 } as const;

/** struct kvm_sev_cmd (pad0 is written as 0). */
export interface KvmSevCmd {
  /** __u32 id: the command, one of KVM_SEV_*. */
  id: number;
  /** __u64 data: userspace address of the command's struct (0 for commands without one). */
  data: bigint;
  /** __u32 error: out, the SEV firmware status code when the command failed in firmware. */
  error: number;
  /** __u32 sev_fd: an open /dev/sev file descriptor, proving access to the SEV device. */
  sevFd: number;
}

/**
 * A failed KVM_MEMORY_ENCRYPT_OP after which KVM copied struct kvm_sev_cmd back (sev_mem_enc_ioctl
 * does after every command it knows): `cmd.error` is the firmware status when a firmware command
 * failed (with EIO), else whatever the caller passed in. An Errno like any other failure.
 */
export class SevCmdErrno extends Errno {
  constructor(
    errno: ErrnoName,
    readonly cmd: KvmSevCmd,
    detail?: string,
  ) {
    super(errno, detail);
  }
}

/** struct kvm_sev_init: KVM_SEV_INIT2's data (pad1/pad2 are written as 0). */
export interface KvmSevInit {
  /** __u64 vmsa_features: SEV_FEATURES for the VMSA; must be within KVM_X86_SEV_VMSA_FEATURES. */
  vmsaFeatures: bigint;
  /** __u32 flags: none defined, must be 0. */
  flags: number;
  /** __u16 ghcb_version: GHCB protocol version for SEV-ES/SNP (0 = KVM's default, 2); must be 0 for SEV. */
  ghcbVersion: number;
}

/** struct kvm_enc_region: a userspace range holding guest memory, pinned for an SEV VM. */
export interface KvmEncRegion {
  /** __u64 addr: userspace address. */
  addr: bigint;
  /** __u64 size: bytes. */
  size: bigint;
}

/** Encodes struct kvm_sev_cmd (24 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeSevCmd(value: KvmSevCmd, dst?: Uint8Array): Uint8Array {
  const O = KVM_SEV_CMD_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_SEV_CMD_SIZE, 'kvm_sev_cmd');
  w.u32(O.id, 'id', value.id);
  w.u64(O.data, 'data', value.data);
  w.u32(O.error, 'error', value.error);
  w.u32(O.sev_fd, 'sev_fd', value.sevFd);
  return bytes;
}

/** Decodes struct kvm_sev_cmd from the first 24 bytes; RangeError when fewer are given. */
export function decodeSevCmd(bytes: Uint8Array): KvmSevCmd {
  const O = KVM_SEV_CMD_OFFSETS;
  const r = structIn(bytes, KVM_SEV_CMD_SIZE, 'kvm_sev_cmd');
  return { id: r.u32(O.id), data: r.u64(O.data), error: r.u32(O.error), sevFd: r.u32(O.sev_fd) };
}

/** Encodes struct kvm_sev_init (48 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeSevInit(value: KvmSevInit, dst?: Uint8Array): Uint8Array {
  const O = KVM_SEV_INIT_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_SEV_INIT_SIZE, 'kvm_sev_init');
  w.u64(O.vmsa_features, 'vmsa_features', value.vmsaFeatures);
  w.u32(O.flags, 'flags', value.flags);
  w.u16(O.ghcb_version, 'ghcb_version', value.ghcbVersion);
  return bytes;
}

/** Decodes struct kvm_sev_init from the first 48 bytes; RangeError when fewer are given. */
export function decodeSevInit(bytes: Uint8Array): KvmSevInit {
  const O = KVM_SEV_INIT_OFFSETS;
  const r = structIn(bytes, KVM_SEV_INIT_SIZE, 'kvm_sev_init');
  return { vmsaFeatures: r.u64(O.vmsa_features), flags: r.u32(O.flags), ghcbVersion: r.u16(O.ghcb_version) };
}

/** Encodes struct kvm_enc_region (16 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns it. */
export function encodeEncRegion(value: KvmEncRegion, dst?: Uint8Array): Uint8Array {
  const { bytes, w } = structOut(dst, KVM_ENC_REGION_SIZE, 'kvm_enc_region');
  w.u64(KVM_ENC_REGION_OFFSETS.addr, 'addr', value.addr);
  w.u64(KVM_ENC_REGION_OFFSETS.size, 'size', value.size);
  return bytes;
}

/** Decodes struct kvm_enc_region from the first 16 bytes; RangeError when fewer are given. */
export function decodeEncRegion(bytes: Uint8Array): KvmEncRegion {
  const r = structIn(bytes, KVM_ENC_REGION_SIZE, 'kvm_enc_region');
  return { addr: r.u64(KVM_ENC_REGION_OFFSETS.addr), size: r.u64(KVM_ENC_REGION_OFFSETS.size) };
}

// ---- the launch, status and debug commands' data (arch/x86/include/uapi/asm/kvm.h) ----

/** sizeof(struct kvm_sev_launch_start). */
export const KVM_SEV_LAUNCH_START_SIZE = 40;
/** sizeof(struct kvm_sev_launch_update_data). */
export const KVM_SEV_LAUNCH_UPDATE_DATA_SIZE = 16;
/** sizeof(struct kvm_sev_launch_secret). */
export const KVM_SEV_LAUNCH_SECRET_SIZE = 48;
/** sizeof(struct kvm_sev_launch_measure). */
export const KVM_SEV_LAUNCH_MEASURE_SIZE = 16;
/** sizeof(struct kvm_sev_guest_status). */
export const KVM_SEV_GUEST_STATUS_SIZE = 12;
/** sizeof(struct kvm_sev_dbg). */
export const KVM_SEV_DBG_SIZE = 24;

/** offsetof(struct kvm_sev_launch_start, <member>). */
export const KVM_SEV_LAUNCH_START_OFFSETS = {
  handle: 0,
  policy: 4,
  dh_uaddr: 8,
  dh_len: 16,
  pad0: 20,
  session_uaddr: 24,
  session_len: 32,
  pad1: 36,
} as const;
/** offsetof(struct kvm_sev_launch_update_data, <member>). */
export const KVM_SEV_LAUNCH_UPDATE_DATA_OFFSETS = { uaddr: 0, len: 8, pad0: 12 } as const;
/** offsetof(struct kvm_sev_launch_secret, <member>). */
export const KVM_SEV_LAUNCH_SECRET_OFFSETS = {
  hdr_uaddr: 0,
  hdr_len: 8,
  pad0: 12,
  guest_uaddr: 16,
  guest_len: 24,
  pad1: 28,
  trans_uaddr: 32,
  trans_len: 40,
  pad2: 44,
} as const;
/** offsetof(struct kvm_sev_launch_measure, <member>). */
export const KVM_SEV_LAUNCH_MEASURE_OFFSETS = { uaddr: 0, len: 8, pad0: 12 } as const;
/** offsetof(struct kvm_sev_guest_status, <member>). */
export const KVM_SEV_GUEST_STATUS_OFFSETS = { handle: 0, policy: 4, state: 8 } as const;
/** offsetof(struct kvm_sev_dbg, <member>). */
export const KVM_SEV_DBG_OFFSETS = { src_uaddr: 0, dst_uaddr: 8, len: 16, pad0: 20 } as const;

/** struct kvm_sev_launch_start: LAUNCH_START's data (pads written as 0). */
export interface KvmSevLaunchStart {
  /** __u32 handle: in, 0 for a new guest context (else one to share keys with); out, the guest's. */
  handle: number;
  /** __u32 policy: the guest policy (SEV_POLICY_* in psp-sev.ts). */
  policy: number;
  /** __u64 dh_uaddr / __u32 dh_len: the guest owner's Diffie-Hellman certificate (0: none). */
  dhUaddr: bigint;
  dhLen: number;
  /** __u64 session_uaddr / __u32 session_len: the session parameters (0: none). */
  sessionUaddr: bigint;
  sessionLen: number;
}

/**
 * LAUNCH_START for a new guest context (handle 0) under `policy`, without the guest owner's
 * Diffie-Hellman certificate or session (what QEMU sends with no session file); `o` changes fields.
 */
export function newContextLaunchStart(policy: number, o: Partial<KvmSevLaunchStart> = {}): KvmSevLaunchStart {
  return { handle: 0, policy, dhUaddr: 0n, dhLen: 0, sessionUaddr: 0n, sessionLen: 0, ...o };
}

/** struct kvm_sev_launch_update_data, and struct kvm_sev_launch_measure (the same shape). */
export interface KvmSevUaddrLen {
  /** __u64 uaddr: userspace address. */
  uaddr: bigint;
  /** __u32 len: bytes (LAUNCH_MEASURE: in, the buffer's size; out, the blob's). */
  len: number;
}

/** struct kvm_sev_launch_secret (pads written as 0). */
export interface KvmSevLaunchSecret {
  hdrUaddr: bigint;
  hdrLen: number;
  guestUaddr: bigint;
  guestLen: number;
  transUaddr: bigint;
  transLen: number;
}

/** struct kvm_sev_guest_status: GUEST_STATUS's answer. */
export interface KvmSevGuestStatus {
  handle: number;
  policy: number;
  /** __u32 state: the firmware's guest state (SEV_GSTATE_* in psp-sev.ts). */
  state: number;
}

/** struct kvm_sev_dbg: DBG_DECRYPT / DBG_ENCRYPT's data (pad0 written as 0). */
export interface KvmSevDbg {
  srcUaddr: bigint;
  dstUaddr: bigint;
  len: number;
}

/** Encodes struct kvm_sev_launch_start (40 bytes). */
export function encodeSevLaunchStart(value: KvmSevLaunchStart, dst?: Uint8Array): Uint8Array {
  const O = KVM_SEV_LAUNCH_START_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_SEV_LAUNCH_START_SIZE, 'kvm_sev_launch_start');
  w.u32(O.handle, 'handle', value.handle);
  w.u32(O.policy, 'policy', value.policy);
  w.u64(O.dh_uaddr, 'dh_uaddr', value.dhUaddr);
  w.u32(O.dh_len, 'dh_len', value.dhLen);
  w.u64(O.session_uaddr, 'session_uaddr', value.sessionUaddr);
  w.u32(O.session_len, 'session_len', value.sessionLen);
  return bytes;
}

/** Decodes struct kvm_sev_launch_start; RangeError when fewer than 40 bytes are given. */
export function decodeSevLaunchStart(bytes: Uint8Array): KvmSevLaunchStart {
  const O = KVM_SEV_LAUNCH_START_OFFSETS;
  const r = structIn(bytes, KVM_SEV_LAUNCH_START_SIZE, 'kvm_sev_launch_start');
  return {
    handle: r.u32(O.handle),
    policy: r.u32(O.policy),
    dhUaddr: r.u64(O.dh_uaddr),
    dhLen: r.u32(O.dh_len),
    sessionUaddr: r.u64(O.session_uaddr),
    sessionLen: r.u32(O.session_len),
  };
}

/** Encodes struct kvm_sev_launch_update_data or kvm_sev_launch_measure (16 bytes). */
export function encodeSevUaddrLen(value: KvmSevUaddrLen, dst?: Uint8Array): Uint8Array {
  const O = KVM_SEV_LAUNCH_UPDATE_DATA_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_SEV_LAUNCH_UPDATE_DATA_SIZE, 'kvm_sev_launch_update_data');
  w.u64(O.uaddr, 'uaddr', value.uaddr);
  w.u32(O.len, 'len', value.len);
  return bytes;
}

/** Decodes struct kvm_sev_launch_update_data or kvm_sev_launch_measure; RangeError under 16 bytes. */
export function decodeSevUaddrLen(bytes: Uint8Array): KvmSevUaddrLen {
  const O = KVM_SEV_LAUNCH_UPDATE_DATA_OFFSETS;
  const r = structIn(bytes, KVM_SEV_LAUNCH_UPDATE_DATA_SIZE, 'kvm_sev_launch_update_data');
  return { uaddr: r.u64(O.uaddr), len: r.u32(O.len) };
}

/** Encodes struct kvm_sev_launch_secret (48 bytes). */
export function encodeSevLaunchSecret(value: KvmSevLaunchSecret, dst?: Uint8Array): Uint8Array {
  const O = KVM_SEV_LAUNCH_SECRET_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_SEV_LAUNCH_SECRET_SIZE, 'kvm_sev_launch_secret');
  w.u64(O.hdr_uaddr, 'hdr_uaddr', value.hdrUaddr);
  w.u32(O.hdr_len, 'hdr_len', value.hdrLen);
  w.u64(O.guest_uaddr, 'guest_uaddr', value.guestUaddr);
  w.u32(O.guest_len, 'guest_len', value.guestLen);
  w.u64(O.trans_uaddr, 'trans_uaddr', value.transUaddr);
  w.u32(O.trans_len, 'trans_len', value.transLen);
  return bytes;
}

/** Decodes struct kvm_sev_launch_secret; RangeError when fewer than 48 bytes are given. */
export function decodeSevLaunchSecret(bytes: Uint8Array): KvmSevLaunchSecret {
  const O = KVM_SEV_LAUNCH_SECRET_OFFSETS;
  const r = structIn(bytes, KVM_SEV_LAUNCH_SECRET_SIZE, 'kvm_sev_launch_secret');
  return {
    hdrUaddr: r.u64(O.hdr_uaddr),
    hdrLen: r.u32(O.hdr_len),
    guestUaddr: r.u64(O.guest_uaddr),
    guestLen: r.u32(O.guest_len),
    transUaddr: r.u64(O.trans_uaddr),
    transLen: r.u32(O.trans_len),
  };
}

/** Encodes struct kvm_sev_guest_status (12 bytes). */
export function encodeSevGuestStatus(value: KvmSevGuestStatus, dst?: Uint8Array): Uint8Array {
  const O = KVM_SEV_GUEST_STATUS_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_SEV_GUEST_STATUS_SIZE, 'kvm_sev_guest_status');
  w.u32(O.handle, 'handle', value.handle);
  w.u32(O.policy, 'policy', value.policy);
  w.u32(O.state, 'state', value.state);
  return bytes;
}

/** Decodes struct kvm_sev_guest_status; RangeError when fewer than 12 bytes are given. */
export function decodeSevGuestStatus(bytes: Uint8Array): KvmSevGuestStatus {
  const O = KVM_SEV_GUEST_STATUS_OFFSETS;
  const r = structIn(bytes, KVM_SEV_GUEST_STATUS_SIZE, 'kvm_sev_guest_status');
  return { handle: r.u32(O.handle), policy: r.u32(O.policy), state: r.u32(O.state) };
}

/** Encodes struct kvm_sev_dbg (24 bytes). */
export function encodeSevDbg(value: KvmSevDbg, dst?: Uint8Array): Uint8Array {
  const O = KVM_SEV_DBG_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_SEV_DBG_SIZE, 'kvm_sev_dbg');
  w.u64(O.src_uaddr, 'src_uaddr', value.srcUaddr);
  w.u64(O.dst_uaddr, 'dst_uaddr', value.dstUaddr);
  w.u32(O.len, 'len', value.len);
  return bytes;
}

/** Decodes struct kvm_sev_dbg; RangeError when fewer than 24 bytes are given. */
export function decodeSevDbg(bytes: Uint8Array): KvmSevDbg {
  const O = KVM_SEV_DBG_OFFSETS;
  const r = structIn(bytes, KVM_SEV_DBG_SIZE, 'kvm_sev_dbg');
  return { srcUaddr: r.u64(O.src_uaddr), dstUaddr: r.u64(O.dst_uaddr), len: r.u32(O.len) };
}
