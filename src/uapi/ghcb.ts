/**
 * The GHCB page layout and the GHCB MSR protocol, as Linux KVM implements them.
 * Sources: arch/x86/include/asm/svm.h (struct ghcb, GHCB_SHARED_BUF_SIZE, accessors),
 * arch/x86/include/asm/sev-common.h (GHCB_MSR_*, GHCB_ERR_*, GHCB_HV_RESP_*, GHCB_HV_FT_*, termination
 * reasons), arch/x86/kvm/svm/sev.c (GHCB_VERSION_MIN, GHCB_HV_FT_SUPPORTED, GHCB_SCRATCH_AREA_LIMIT);
 * see shared/spec/ghcb.md sections 1-4 and 7.
 */
import { u64Hi, u64Join, u64Lo } from './u64.js';

/** Size of the GHCB page. */
export const GHCB_SIZE = 4096;

/** Offset of cpl (u8). */
export const GHCB_OFF_CPL = 0x0cb;
/** Offset of xss (u64). */
export const GHCB_OFF_XSS = 0x140;
/** Offset of dr7 (u64; Linux defines no accessor). */
export const GHCB_OFF_DR7 = 0x160;
/** Offset of rip (u64). */
export const GHCB_OFF_RIP = 0x178;
/** Offset of rsp (u64). */
export const GHCB_OFF_RSP = 0x1d8;
/** Offset of rax (u64). */
export const GHCB_OFF_RAX = 0x1f8;
/** Offset of rcx (u64). */
export const GHCB_OFF_RCX = 0x308;
/** Offset of rdx (u64). */
export const GHCB_OFF_RDX = 0x310;
/** Offset of rbx (u64). */
export const GHCB_OFF_RBX = 0x318;
/** Offset of rbp (u64). */
export const GHCB_OFF_RBP = 0x328;
/** Offset of rsi (u64). */
export const GHCB_OFF_RSI = 0x330;
/** Offset of rdi (u64). */
export const GHCB_OFF_RDI = 0x338;
/** Offset of r8 (u64). */
export const GHCB_OFF_R8 = 0x340;
/** Offset of r9 (u64). */
export const GHCB_OFF_R9 = 0x348;
/** Offset of r10 (u64). */
export const GHCB_OFF_R10 = 0x350;
/** Offset of r11 (u64). */
export const GHCB_OFF_R11 = 0x358;
/** Offset of r12 (u64). */
export const GHCB_OFF_R12 = 0x360;
/** Offset of r13 (u64). */
export const GHCB_OFF_R13 = 0x368;
/** Offset of r14 (u64). */
export const GHCB_OFF_R14 = 0x370;
/** Offset of r15 (u64). */
export const GHCB_OFF_R15 = 0x378;
/** Offset of sw_exit_code (u64): the NAE event / SVM exit code. */
export const GHCB_OFF_SW_EXIT_CODE = 0x390;
/** Offset of sw_exit_info_1 (u64): event input, then the hypervisor's response code. */
export const GHCB_OFF_SW_EXIT_INFO_1 = 0x398;
/** Offset of sw_exit_info_2 (u64): event input, then response data or GHCB_ERR_*. */
export const GHCB_OFF_SW_EXIT_INFO_2 = 0x3a0;
/** Offset of sw_scratch (u64): GPA of the scratch area. */
export const GHCB_OFF_SW_SCRATCH = 0x3a8;
/** Offset of xcr0 (u64). */
export const GHCB_OFF_XCR0 = 0x3e8;
/** Offset of valid_bitmap (128 bits): bit `offset/8` says the qword at `offset` is valid. */
export const GHCB_OFF_VALID_BITMAP = 0x3f0;
/** Size of valid_bitmap in bytes. */
export const GHCB_VALID_BITMAP_SIZE = 16;
/** Offset of x87_state_gpa (u64; no accessor). */
export const GHCB_OFF_X87_STATE_GPA = 0x400;
/** sizeof(struct ghcb_save_area): the save area ends here (reserved_save follows up to 0x800). */
export const GHCB_SAVE_AREA_SIZE = 0x408;
/** Offset of shared_buffer. */
export const GHCB_OFF_SHARED_BUFFER = 0x800;
/** Size of shared_buffer (GHCB_SHARED_BUF_SIZE, 2032 bytes). */
export const GHCB_SHARED_BUF_SIZE = 0x7f0;
/** Offset of protocol_version (u16; KVM never checks it). */
export const GHCB_OFF_PROTOCOL_VERSION = 0xffa;
/** Offset of ghcb_usage (u32; KVM requires GHCB_DEFAULT_USAGE). */
export const GHCB_OFF_USAGE = 0xffc;

/** ghcb_usage of a standard GHCB; KVM rejects anything else with GHCB_ERR_INVALID_USAGE. */
export const GHCB_DEFAULT_USAGE = 0;

/** One named field of the GHCB page. */
export interface GhcbField {
  /** The struct ghcb member name (Linux spelling). */
  readonly name: string;
  /** Byte offset in the page. */
  readonly offset: number;
  /** Size in bytes. */
  readonly size: number;
  /** Index in valid_bitmap (= offset / 8), for fields covered by the bitmap. */
  readonly validBit?: number;
}

/** Valid-bitmap index of the qword at `offset` (GHCB_BITMAP_IDX): bit `idx & 7` of byte 0x3f0 + (idx >> 3). */
export function ghcbBitmapIdx(offset: number): number {
  return offset >> 3;
}

/**
 * Whether the host stores a u32 least significant byte first. The GHCB's u64 fields are
 * little-endian, and both KVM's accessors (src/sev/ghcb-access.ts) and the guest's codec
 * (src/guest/ghcb-codec.ts) read and write them as the host's u32 words, so both need this; every
 * host that matters here (x86-64, arm64) is.
 */
export const HOST_LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** Throw an Error with `message` unless the host is little-endian ({@link HOST_LITTLE_ENDIAN}). */
export function assertLittleEndianHost(message: string): void {
  if (!HOST_LITTLE_ENDIAN) throw new Error(message);
}

function tracked(name: string, offset: number, size = 8): GhcbField {
  return { name, offset, size, validBit: ghcbBitmapIdx(offset) };
}

/**
 * The named GHCB fields. Fields with `validBit` are covered by valid_bitmap (Linux has accessors for
 * all of them except dr7, whose bit the GHCB spec defines but no Linux code sets or tests); the rest are
 * bookkeeping fields outside the bitmap.
 */
export const GHCB_FIELDS: readonly GhcbField[] = [
  tracked('cpl', GHCB_OFF_CPL, 1),
  tracked('xss', GHCB_OFF_XSS),
  tracked('dr7', GHCB_OFF_DR7),
  tracked('rip', GHCB_OFF_RIP),
  tracked('rsp', GHCB_OFF_RSP),
  tracked('rax', GHCB_OFF_RAX),
  tracked('rcx', GHCB_OFF_RCX),
  tracked('rdx', GHCB_OFF_RDX),
  tracked('rbx', GHCB_OFF_RBX),
  tracked('rbp', GHCB_OFF_RBP),
  tracked('rsi', GHCB_OFF_RSI),
  tracked('rdi', GHCB_OFF_RDI),
  tracked('r8', GHCB_OFF_R8),
  tracked('r9', GHCB_OFF_R9),
  tracked('r10', GHCB_OFF_R10),
  tracked('r11', GHCB_OFF_R11),
  tracked('r12', GHCB_OFF_R12),
  tracked('r13', GHCB_OFF_R13),
  tracked('r14', GHCB_OFF_R14),
  tracked('r15', GHCB_OFF_R15),
  tracked('sw_exit_code', GHCB_OFF_SW_EXIT_CODE),
  tracked('sw_exit_info_1', GHCB_OFF_SW_EXIT_INFO_1),
  tracked('sw_exit_info_2', GHCB_OFF_SW_EXIT_INFO_2),
  tracked('sw_scratch', GHCB_OFF_SW_SCRATCH),
  tracked('xcr0', GHCB_OFF_XCR0),
  { name: 'valid_bitmap', offset: GHCB_OFF_VALID_BITMAP, size: GHCB_VALID_BITMAP_SIZE },
  { name: 'x87_state_gpa', offset: GHCB_OFF_X87_STATE_GPA, size: 8 },
  { name: 'protocol_version', offset: GHCB_OFF_PROTOCOL_VERSION, size: 2 },
  { name: 'ghcb_usage', offset: GHCB_OFF_USAGE, size: 4 },
];

// ---- responses in sw_exit_info_1 / sw_exit_info_2 ----

/** sw_exit_info_1: success / no action requested. */
export const GHCB_HV_RESP_NO_ACTION = 0;
/** sw_exit_info_1: the guest should raise the exception encoded (SVM_EVTINJ_*) in sw_exit_info_2. */
export const GHCB_HV_RESP_ISSUE_EXCEPTION = 1;
/** sw_exit_info_1: malformed input; sw_exit_info_2 holds a GHCB_ERR_* code. */
export const GHCB_HV_RESP_MALFORMED_INPUT = 2;

/** GHCB_ERR: SNP GHCB GPA is not the registered one. */
export const GHCB_ERR_NOT_REGISTERED = 1;
/** GHCB_ERR: ghcb_usage is not GHCB_DEFAULT_USAGE. */
export const GHCB_ERR_INVALID_USAGE = 2;
/** GHCB_ERR: the scratch area is missing, wraps, or lies badly. */
export const GHCB_ERR_INVALID_SCRATCH_AREA = 3;
/** GHCB_ERR: a required field's valid bit is clear. */
export const GHCB_ERR_MISSING_INPUT = 4;
/** GHCB_ERR: an input value is invalid. */
export const GHCB_ERR_INVALID_INPUT = 5;
/** GHCB_ERR: the exit code is not one KVM handles. */
export const GHCB_ERR_INVALID_EVENT = 6;

const GHCB_ERR_NAMES: readonly string[] = [
  '',
  'GHCB_ERR_NOT_REGISTERED',
  'GHCB_ERR_INVALID_USAGE',
  'GHCB_ERR_INVALID_SCRATCH_AREA',
  'GHCB_ERR_MISSING_INPUT',
  'GHCB_ERR_INVALID_INPUT',
  'GHCB_ERR_INVALID_EVENT',
];

/** Printable name of a GHCB_ERR_* code, or "GHCB_ERR_#<n>". */
export function ghcbErrName(n: number | bigint): string {
  const i = typeof n === 'bigint' ? (n <= 6n && n >= 0n ? Number(n) : -1) : n;
  return (Number.isInteger(i) && GHCB_ERR_NAMES[i]) || `GHCB_ERR_#${n}`;
}

/** Largest scratch area outside the GHCB page KVM accepts (16 pages, GHCB v1 VMs only). */
export const GHCB_SCRATCH_AREA_LIMIT = 16 * 4096;

/** Lowest GHCB protocol version KVM supports (GHCB_VERSION_MAX differs per kernel: see profiles). */
export const GHCB_VERSION_MIN = 1;

/** Hypervisor feature: SEV-SNP. */
export const GHCB_HV_FT_SNP = 1n << 0n;
/** Hypervisor feature: SNP AP creation NAE event. */
export const GHCB_HV_FT_SNP_AP_CREATION = 1n << 1n;
/** Hypervisor feature: SNP multi-VMPL (not offered by KVM). */
export const GHCB_HV_FT_SNP_MULTI_VMPL = 1n << 5n;
/** The features current KVM reports (sev.c). */
export const GHCB_HV_FT_SUPPORTED = GHCB_HV_FT_SNP | GHCB_HV_FT_SNP_AP_CREATION;

// ---- GHCB MSR protocol (sev-common.h); GHCBInfo = bits 11:0, GHCBData = bits 63:12 ----

/** Low 12 bits of the GHCB MSR: non-zero = MSR-protocol request, zero = GHCB GPA. */
export const GHCB_MSR_INFO_MASK = 0xfff;
/** Bit position where GHCBData starts. */
export const GHCB_DATA_LOW = 12;
/** SEV information response: [63:48] max, [47:32] min version, [31:24] C-bit. */
export const GHCB_MSR_SEV_INFO_RESP = 0x001;
/** SEV information request. */
export const GHCB_MSR_SEV_INFO_REQ = 0x002;
/** CPUID request: [63:32] function, [31:30] register. */
export const GHCB_MSR_CPUID_REQ = 0x004;
/** CPUID response: [63:32] value. */
export const GHCB_MSR_CPUID_RESP = 0x005;
/** AP reset hold request. */
export const GHCB_MSR_AP_RESET_HOLD_REQ = 0x006;
/** AP reset hold response: [63:12] 0 = not woken by SIPI. */
export const GHCB_MSR_AP_RESET_HOLD_RESP = 0x007;
/** Preferred GHCB GPA request (SNP). */
export const GHCB_MSR_PREF_GPA_REQ = 0x010;
/** Preferred GHCB GPA response: [63:12] GFN or GHCB_MSR_PREF_GPA_NONE. */
export const GHCB_MSR_PREF_GPA_RESP = 0x011;
/** Register GHCB GPA request (SNP): [63:12] GFN. */
export const GHCB_MSR_REG_GPA_REQ = 0x012;
/** Register GHCB GPA response: [63:12] GFN registered. */
export const GHCB_MSR_REG_GPA_RESP = 0x013;
/** Page state change request (SNP): [55:52] op, [51:12] GFN. */
export const GHCB_MSR_PSC_REQ = 0x014;
/** Page state change response: [63:32] error (0 = ok). */
export const GHCB_MSR_PSC_RESP = 0x015;
/** Run-at-VMPL request (KVM does not handle it). */
export const GHCB_MSR_VMPL_REQ = 0x016;
/** Run-at-VMPL response. */
export const GHCB_MSR_VMPL_RESP = 0x017;
/** Hypervisor feature request. */
export const GHCB_MSR_HV_FT_REQ = 0x080;
/** Hypervisor feature response: [63:12] GHCB_HV_FT_* bitmap. */
export const GHCB_MSR_HV_FT_RESP = 0x081;
/** Termination request: [15:12] reason set, [23:16] reason code. */
export const GHCB_MSR_TERM_REQ = 0x100;
/** PREF_GPA_RESP data meaning "no preference" (52 bits set). */
export const GHCB_MSR_PREF_GPA_NONE = 0xfffffffffffffn;
/** KVM's generic PSC error response: bit 63 | GHCB_MSR_PSC_RESP. */
export const GHCB_MSR_PSC_RESP_ERROR = (1n << 63n) | BigInt(GHCB_MSR_PSC_RESP);

/** CPUID register selector: EAX. */
export const GHCB_CPUID_REQ_EAX = 0;
/** CPUID register selector: EBX. */
export const GHCB_CPUID_REQ_EBX = 1;
/** CPUID register selector: ECX. */
export const GHCB_CPUID_REQ_ECX = 2;
/** CPUID register selector: EDX. */
export const GHCB_CPUID_REQ_EDX = 3;

/** PSC operation: make the page private. */
export const SNP_PAGE_STATE_PRIVATE = 1;
/** PSC operation: make the page shared. */
export const SNP_PAGE_STATE_SHARED = 2;

const MASK_52 = (1n << 52n) - 1n;
const MASK_40 = (1n << 40n) - 1n;
const MASK_32 = 0xffffffffn;

/** GHCB_MSR_INFO(v): the request/response code, bits 11:0. */
export function ghcbMsrInfo(v: bigint): number {
  return u64Lo(v) & 0xfff;
}

/** GHCB_DATA(v): GHCBData, bits 63:12 shifted down. */
export function ghcbMsrData(v: bigint): bigint {
  return (v & 0xffffffffffffffffn) >> 12n;
}

/**
 * The C-bit position of the model's platform (AMD's usual one on Milan and Genoa): what CPUID
 * 0x8000001F EBX[5:0] and the GHCB SEV_INFO response report, and where the memory controller and
 * the CPUs look for it in page-table entries.
 */
export const DEFAULT_CBIT = 51;

/** GHCB_MSR_SEV_INFO(max, min, cbit): the SEV_INFO response value. */
export function ghcbMsrSevInfo(max: number, min: number, cbit: number): bigint {
  return (
    (BigInt(max & 0xffff) << 48n) |
    (BigInt(min & 0xffff) << 32n) |
    (BigInt(cbit & 0xff) << 24n) |
    BigInt(GHCB_MSR_SEV_INFO_RESP)
  );
}

/** GHCB_MSR_PROTO_MAX / _MIN and the C-bit of a SEV_INFO response. */
export function decodeGhcbMsrSevInfo(v: bigint): { max: number; min: number; cbit: number } {
  return {
    max: Number((v >> 48n) & 0xffffn),
    min: Number((v >> 32n) & 0xffffn),
    cbit: Number((v >> 24n) & 0xffn),
  };
}

/** GHCB_CPUID_REQ(fn, reg): the CPUID request value. */
export function ghcbMsrCpuidReq(fn: number, reg: 0 | 1 | 2 | 3): bigint {
  return u64Join(((reg & 0x3) << 30) | GHCB_MSR_CPUID_REQ, fn);
}

/** The function ([63:32]) and register ([31:30]) of a CPUID request. */
export function decodeGhcbMsrCpuidReq(v: bigint): { fn: number; reg: 0 | 1 | 2 | 3 } {
  return { fn: Number((v >> 32n) & MASK_32), reg: Number((v >> 30n) & 3n) as 0 | 1 | 2 | 3 };
}

/**
 * The CPUID response KVM writes: the request with [63:32] := value and [11:0] := CPUID_RESP
 * (bits 31:12, including the register selector, keep the request's value).
 */
export function ghcbMsrCpuidResp(request: bigint, value: number): bigint {
  const keep = request & 0xfffff000n;
  return (BigInt(value >>> 0) << 32n) | keep | BigInt(GHCB_MSR_CPUID_RESP);
}

/** The value ([63:32]) of a CPUID response. */
export function ghcbMsrCpuidRespValue(v: bigint): number {
  return u64Hi(v);
}

/** GHCB_SEV_TERM_REASON(set, code): the TERM_REQ data bits, [15:12] set, [23:16] code (info bits 0). */
export function ghcbSevTermReason(reasonSet: number, reasonCode: number): bigint {
  return (BigInt(reasonSet & 0xf) << 12n) | (BigInt(reasonCode & 0xff) << 16n);
}

/** The full TERM_REQ MSR value: GHCB_MSR_TERM_REQ | GHCB_SEV_TERM_REASON(set, code). */
export function ghcbMsrTermReq(reasonSet: number, reasonCode: number): bigint {
  return ghcbSevTermReason(reasonSet, reasonCode) | BigInt(GHCB_MSR_TERM_REQ);
}

/** The reason set ([15:12]) and code ([23:16]) of a TERM_REQ value. */
export function decodeGhcbMsrTermReq(v: bigint): { reasonSet: number; reasonCode: number } {
  return { reasonSet: Number((v >> 12n) & 0xfn), reasonCode: Number((v >> 16n) & 0xffn) };
}

/** GHCB_MSR_PSC_REQ_GFN(gfn, op): a page state change request. */
export function ghcbMsrPscReq(gfn: bigint, op: number): bigint {
  return (BigInt(op & 0xf) << 52n) | ((gfn & MASK_40) << 12n) | BigInt(GHCB_MSR_PSC_REQ);
}

/** GHCB_MSR_PSC_REQ_TO_GFN / _TO_OP: the GFN ([51:12]) and operation ([55:52]) of a PSC request. */
export function decodeGhcbMsrPscReq(v: bigint): { gfn: bigint; op: number } {
  return { gfn: (v >> 12n) & MASK_40, op: Number((v >> 52n) & 0xfn) };
}

/** A PSC response with error code `error` in [63:32] (0 = success). */
export function ghcbMsrPscResp(error: number): bigint {
  return (BigInt(error >>> 0) << 32n) | BigInt(GHCB_MSR_PSC_RESP);
}

/** GHCB_MSR_PSC_RESP_VAL(v): the error code of a PSC response, bits 63:32. */
export function ghcbMsrPscRespVal(v: bigint): number {
  return Number((v >> 32n) & MASK_32);
}

/** GHCB_MSR_REG_GPA_REQ_VAL(gfn): a GHCB GPA registration request. */
export function ghcbMsrRegGpaReq(gfn: bigint): bigint {
  return ((gfn & MASK_52) << 12n) | BigInt(GHCB_MSR_REG_GPA_REQ);
}

/** A GHCB GPA registration response for `gfn`. */
export function ghcbMsrRegGpaResp(gfn: bigint): bigint {
  return ((gfn & MASK_52) << 12n) | BigInt(GHCB_MSR_REG_GPA_RESP);
}

/** GHCB_MSR_REG_GPA_RESP_VAL(v) (also the GFN of a request): bits 63:12. */
export function ghcbMsrRegGpaVal(v: bigint): bigint {
  return (v >> 12n) & MASK_52;
}

/** A preferred-GPA response carrying `gfn` (GHCB_MSR_PREF_GPA_NONE for none). */
export function ghcbMsrPrefGpaResp(gfn: bigint): bigint {
  return ((gfn & MASK_52) << 12n) | BigInt(GHCB_MSR_PREF_GPA_RESP);
}

/** A hypervisor feature response carrying `features` (GHCB_HV_FT_*) in [63:12]. */
export function ghcbMsrHvFtResp(features: bigint): bigint {
  return ((features & MASK_52) << 12n) | BigInt(GHCB_MSR_HV_FT_RESP);
}

/** GHCB_MSR_HV_FT_RESP_VAL(v): the feature bitmap of a hypervisor feature response. */
export function ghcbMsrHvFtRespVal(v: bigint): bigint {
  return (v >> 12n) & MASK_52;
}

/** An AP reset hold response with `result` in [63:12] (0 = not woken by SIPI, 1 = SIPI). */
export function ghcbMsrApResetHoldResp(result: bigint): bigint {
  return ((result & MASK_52) << 12n) | BigInt(GHCB_MSR_AP_RESET_HOLD_RESP);
}

const MSR_CODE_NAMES: ReadonlyMap<number, string> = new Map([
  [GHCB_MSR_SEV_INFO_RESP, 'GHCB_MSR_SEV_INFO_RESP'],
  [GHCB_MSR_SEV_INFO_REQ, 'GHCB_MSR_SEV_INFO_REQ'],
  [GHCB_MSR_CPUID_REQ, 'GHCB_MSR_CPUID_REQ'],
  [GHCB_MSR_CPUID_RESP, 'GHCB_MSR_CPUID_RESP'],
  [GHCB_MSR_AP_RESET_HOLD_REQ, 'GHCB_MSR_AP_RESET_HOLD_REQ'],
  [GHCB_MSR_AP_RESET_HOLD_RESP, 'GHCB_MSR_AP_RESET_HOLD_RESP'],
  [GHCB_MSR_PREF_GPA_REQ, 'GHCB_MSR_PREF_GPA_REQ'],
  [GHCB_MSR_PREF_GPA_RESP, 'GHCB_MSR_PREF_GPA_RESP'],
  [GHCB_MSR_REG_GPA_REQ, 'GHCB_MSR_REG_GPA_REQ'],
  [GHCB_MSR_REG_GPA_RESP, 'GHCB_MSR_REG_GPA_RESP'],
  [GHCB_MSR_PSC_REQ, 'GHCB_MSR_PSC_REQ'],
  [GHCB_MSR_PSC_RESP, 'GHCB_MSR_PSC_RESP'],
  [GHCB_MSR_VMPL_REQ, 'GHCB_MSR_VMPL_REQ'],
  [GHCB_MSR_VMPL_RESP, 'GHCB_MSR_VMPL_RESP'],
  [GHCB_MSR_HV_FT_REQ, 'GHCB_MSR_HV_FT_REQ'],
  [GHCB_MSR_HV_FT_RESP, 'GHCB_MSR_HV_FT_RESP'],
  [GHCB_MSR_TERM_REQ, 'GHCB_MSR_TERM_REQ'],
]);

/** Printable name of an MSR-protocol code (GHCBInfo), or "GHCB_MSR_#0x<hex>". */
export function ghcbMsrInfoName(info: number): string {
  return MSR_CODE_NAMES.get(info) ?? `GHCB_MSR_#0x${info.toString(16)}`;
}

// ---- termination reasons (sev-common.h) ----

/** Reason set 0: general (GHCB spec). */
export const SEV_TERM_SET_GEN = 0;
/** Set 0: general termination request. */
export const GHCB_SEV_ES_GEN_REQ = 0;
/** Set 0: GHCB protocol version not supported. */
export const GHCB_SEV_ES_PROT_UNSUPPORTED = 1;
/** Set 0: SNP not supported. */
export const GHCB_SNP_UNSUPPORTED = 2;

/** Reason set 1: Linux-specific. */
export const SEV_TERM_SET_LINUX = 1;
/** Set 1: GHCB GPA registration failure. */
export const GHCB_TERM_REGISTER = 0;
/** Set 1: page state change failure. */
export const GHCB_TERM_PSC = 1;
/** Set 1: PVALIDATE failure. */
export const GHCB_TERM_PVALIDATE = 2;
/** Set 1: SNP guest is not running at VMPL0. */
export const GHCB_TERM_NOT_VMPL0 = 3;
/** Set 1: CPUID validation failure. */
export const GHCB_TERM_CPUID = 4;
/** Set 1: CPUID failure during hypervisor fallback. */
export const GHCB_TERM_CPUID_HV = 5;
/** Set 1: secrets page failure. */
export const GHCB_TERM_SECRETS_PAGE = 6;
/** Set 1: SVSM not advertised in the secrets page. */
export const GHCB_TERM_NO_SVSM = 7;
/** Set 1: SVSM present but VMPL is 0. */
export const GHCB_TERM_SVSM_VMPL0 = 8;
/** Set 1: SVSM present but the CAA is not page aligned. */
export const GHCB_TERM_SVSM_CAA = 9;
/** Set 1: Secure TSC initialisation failed. */
export const GHCB_TERM_SECURE_TSC = 10;
/** Set 1: SVSM present but the CA could not be remapped. */
export const GHCB_TERM_SVSM_CA_REMAP_FAIL = 11;

const TERM_SET_GEN_NAMES: readonly string[] = [
  'GHCB_SEV_ES_GEN_REQ',
  'GHCB_SEV_ES_PROT_UNSUPPORTED',
  'GHCB_SNP_UNSUPPORTED',
];

const TERM_SET_LINUX_NAMES: readonly string[] = [
  'GHCB_TERM_REGISTER',
  'GHCB_TERM_PSC',
  'GHCB_TERM_PVALIDATE',
  'GHCB_TERM_NOT_VMPL0',
  'GHCB_TERM_CPUID',
  'GHCB_TERM_CPUID_HV',
  'GHCB_TERM_SECRETS_PAGE',
  'GHCB_TERM_NO_SVSM',
  'GHCB_TERM_SVSM_VMPL0',
  'GHCB_TERM_SVSM_CAA',
  'GHCB_TERM_SECURE_TSC',
  'GHCB_TERM_SVSM_CA_REMAP_FAIL',
];

/** Printable name of a termination reason, e.g. "GHCB_TERM_PSC", or "SEV_TERM_<set>_#<code>" when unknown. */
export function sevTermReasonName(reasonSet: number, reasonCode: number): string {
  const table =
    reasonSet === SEV_TERM_SET_GEN
      ? TERM_SET_GEN_NAMES
      : reasonSet === SEV_TERM_SET_LINUX
        ? TERM_SET_LINUX_NAMES
        : undefined;
  return (Number.isInteger(reasonCode) && table?.[reasonCode]) || `SEV_TERM_${reasonSet}_#${reasonCode}`;
}
