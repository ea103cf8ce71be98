/**
 * The guest side of the GHCB protocol, for scripted SEV-ES guests: what a guest kernel (Linux
 * arch/x86/coco/sev/, OVMF's CcExitLib) does to talk to the hypervisor. Two channels:
 *
 * - the GHCB MSR protocol: write a request into the GHCB MSR, VMGEXIT, read the answer back
 *   (`msrProtocol` and the helpers built on it);
 * - the GHCB page: clear the valid bitmap, fill sw_exit_code/info and the fields the event needs
 *   (each setter also sets the field's valid bit), VMGEXIT, then check sw_exit_info_1/2
 *   (`vmgexit` and one helper per NAE event).
 *
 * The client keeps a 4 KiB shadow of the GHCB page. A request is built in the shadow; what it
 * sets reaches guest memory as a kernel's stores would: every qword set since the last request,
 * sw_exit_code/info_1/info_2, the valid bitmap, shared-buffer data and protocol_version/ghcb_usage
 * (the whole page at the first request, as a kernel zeroes its GHCB), and nothing else, so bytes
 * the request does not set keep what guest memory holds. After VMGEXIT the fields a hypervisor
 * answers in (RAX, RBX, RCX, RDX, sw_exit_info_1/2), the valid bitmap and incoming shared-buffer
 * data come back into the shadow. Both go through the page the CPU's TLB maps
 * (`cpu.mem.page`) when the memory offers one, else one `cpu.mem.write`/`read` per range. When
 * guest memory is not plain RAM at that moment (the VMM has not mapped the page yet), the client
 * falls back to trapping loads and stores, so the vCPU exits with a nested page fault and
 * retries, as on hardware.
 */

import { NPT_OK } from '../cpu/backend.js';
import type { AccessSize, GuestOp, ScriptedCpu } from '../cpu/scripted.js';
import {
  decodeGhcbMsrSevInfo,
  GHCB_DEFAULT_USAGE,
  GHCB_FIELDS,
  GHCB_MSR_AP_RESET_HOLD_REQ,
  GHCB_MSR_AP_RESET_HOLD_RESP,
  GHCB_MSR_CPUID_REQ,
  GHCB_MSR_CPUID_RESP,
  GHCB_MSR_HV_FT_REQ,
  GHCB_MSR_HV_FT_RESP,
  GHCB_MSR_INFO_MASK,
  GHCB_MSR_SEV_INFO_REQ,
  GHCB_MSR_SEV_INFO_RESP,
  GHCB_OFF_CPL,
  GHCB_OFF_PROTOCOL_VERSION,
  GHCB_OFF_RAX,
  GHCB_OFF_RBX,
  GHCB_OFF_RCX,
  GHCB_OFF_RDX,
  GHCB_OFF_RSI,
  GHCB_OFF_SHARED_BUFFER,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_SW_SCRATCH,
  GHCB_OFF_USAGE,
  GHCB_OFF_VALID_BITMAP,
  GHCB_OFF_XCR0,
  GHCB_SIZE,
  GHCB_VALID_BITMAP_SIZE,
  ghcbMsrData,
  ghcbMsrInfo,
  ghcbMsrTermReq,
} from '../uapi/ghcb.js';
import {
  encodeIoioInfo,
  SVM_EXIT_CPUID,
  SVM_EXIT_INVD,
  SVM_EXIT_IOIO,
  SVM_EXIT_MONITOR,
  SVM_EXIT_MSR,
  SVM_EXIT_MWAIT,
  SVM_EXIT_RDPMC,
  SVM_EXIT_RDTSC,
  SVM_EXIT_RDTSCP,
  SVM_EXIT_READ_DR7,
  SVM_EXIT_VMMCALL,
  SVM_EXIT_WBINVD,
  SVM_EXIT_WRITE_DR7,
  SVM_VMGEXIT_AP_HLT_LOOP,
  SVM_VMGEXIT_AP_JUMP_TABLE,
  SVM_VMGEXIT_GET_AP_JUMP_TABLE,
  SVM_VMGEXIT_HV_FEATURES,
  SVM_VMGEXIT_MMIO_READ,
  SVM_VMGEXIT_MMIO_WRITE,
  SVM_VMGEXIT_NMI_COMPLETE,
  SVM_VMGEXIT_SET_AP_JUMP_TABLE,
  SVM_VMGEXIT_TERM_REASON,
  SVM_VMGEXIT_TERM_REQUEST,
  SVM_VMGEXIT_UNSUPPORTED_EVENT,
} from '../uapi/svm.js';
import { type GhcbResult, verifyExceptionInfo } from './result.js';

/**
 * Where a request's scratch area lives: inside the GHCB shared buffer (`offset` bytes into it,
 * default 0, i.e. GHCB + 0x800, as Linux and OVMF place it), or at a guest physical address outside
 * the GHCB page (GHCB protocol v1 only, as far as KVM is concerned).
 */
export type Scratch = { readonly in: 'ghcb'; readonly offset?: number } | { readonly gpa: number };

/** Options of a {@link GhcbClient}. */
export interface GhcbClientOptions {
  /** GHCB protocol version written to protocol_version with every request (default 1). */
  readonly version?: 1 | 2;
}

/** A request whose answer carries a value in registers (RAX, and RDX/RCX where noted). */
export interface GhcbValueReply<T> {
  readonly result: GhcbResult;
  /** The value, taken from the GHCB registers as they are after the exit (0 bits when never written). */
  readonly value: T;
  /**
   * The registers the value comes from came back with their valid bits set. Linux treats a
   * missing one as ES_VMM_ERROR even when `result` is ok.
   */
  readonly regsValid: boolean;
}

/** The answer to a CPUID request. */
export interface GhcbCpuidReply {
  readonly result: GhcbResult;
  readonly eax: number;
  readonly ebx: number;
  readonly ecx: number;
  readonly edx: number;
  /** RAX, RBX, RCX and RDX all came back valid (Linux: else ES_VMM_ERROR). */
  readonly regsValid: boolean;
}

/** The answer to a request that returns data through the scratch area (MMIO read, INS). */
export interface GhcbDataReply {
  readonly result: GhcbResult;
  /** A copy of the scratch area after the exit. */
  readonly data: Uint8Array;
}

/** The answer to RDTSCP: TSC in `value` (EDX:EAX), TSC_AUX in `aux` (ECX). */
export interface GhcbRdtscpReply extends GhcbValueReply<bigint> {
  readonly aux: number;
}

/** The default scratch placement: the start of the GHCB shared buffer. */
export const SCRATCH_IN_GHCB: Scratch = Object.freeze({ in: 'ghcb' });

const VMGEXIT_OP: GuestOp = Object.freeze({ op: 'vmgexit' });
const MASK32 = 0xffff_ffffn;
const BITMAP_END = GHCB_OFF_VALID_BITMAP + GHCB_VALID_BITMAP_SIZE;
/**
 * What is read back after every VMGEXIT, as [offset, length] pairs: the fields a hypervisor answers
 * in (sev_es_sync_to_ghcb's RAX, RCX, RDX, RBX; sw_exit_info_1/2) and the valid bitmap.
 */
const ANSWER: readonly number[] = [
  GHCB_OFF_RAX,
  8,
  GHCB_OFF_RCX,
  24, // RCX, RDX, RBX
  GHCB_OFF_SW_EXIT_INFO_1,
  16, // sw_exit_info_1, sw_exit_info_2
  GHCB_OFF_VALID_BITMAP,
  GHCB_VALID_BITMAP_SIZE,
];
/** The same as 32-bit word indices, for the copy from a mapped page. */
const A_RAX = GHCB_OFF_RAX >> 2;
const A_RCX = GHCB_OFF_RCX >> 2;
const A_INFO = GHCB_OFF_SW_EXIT_INFO_1 >> 2;
const A_BITMAP = GHCB_OFF_VALID_BITMAP >> 2;
/**
 * The qwords every request writes (sw_exit_code, sw_exit_info_1/2, the two of the valid bitmap),
 * as bits of the last word of the changed-qword mask.
 */
const ALWAYS_SENT =
  (1 << ((GHCB_OFF_SW_EXIT_CODE >> 3) & 31)) |
  (1 << ((GHCB_OFF_SW_EXIT_INFO_1 >> 3) & 31)) |
  (1 << ((GHCB_OFF_SW_EXIT_INFO_2 >> 3) & 31)) |
  (1 << ((GHCB_OFF_VALID_BITMAP >> 3) & 31)) |
  (1 << (((GHCB_OFF_VALID_BITMAP + 8) >> 3) & 31));
/** protocol_version (u16) and ghcb_usage (u32), written with every request. */
const W_USAGE = GHCB_OFF_USAGE >> 2;
/** Linux's GHCB save-area field names (with a valid bit) to offsets. */
const FIELD_OFFSETS: ReadonlyMap<string, number> = new Map(
  GHCB_FIELDS.filter((f) => f.validBit !== undefined).map((f) => [f.name, f.offset]),
);
/** 32-bit word indices of sw_exit_code and of the valid bitmap in the page. */
const W_EXIT = GHCB_OFF_SW_EXIT_CODE >> 2;
const W_BITMAP = GHCB_OFF_VALID_BITMAP >> 2;
// ALWAYS_SENT's qwords lie in the mask's last word (offset >> 8 = word), the bitmap ends the save
// area's mask, and the tail is two bytes of version and a word of usage.
if (
  GHCB_OFF_SW_EXIT_CODE >> 8 !== 3 ||
  GHCB_OFF_SW_EXIT_INFO_2 >> 8 !== 3 ||
  GHCB_OFF_VALID_BITMAP >> 8 !== 3 ||
  BITMAP_END !== 0x400 ||
  GHCB_OFF_USAGE !== GHCB_OFF_PROTOCOL_VERSION + 2 ||
  GHCB_OFF_USAGE % 4 !== 0
) {
  throw new Error('unexpected GHCB layout');
}
/** A field's byte in the valid bitmap, and its bit there. */
const bitmapByte = (offset: number): number => GHCB_OFF_VALID_BITMAP + (offset >> 6);
const bitmapBit = (offset: number): number => 1 << ((offset >> 3) & 7);
/** sw_exit_code/info_1/info_2's valid bits (one byte); RAX's; RCX, RDX and RBX's (one byte). */
const EXIT_BITS_BYTE = bitmapByte(GHCB_OFF_SW_EXIT_CODE);
const EXIT_BITS_MASK =
  bitmapBit(GHCB_OFF_SW_EXIT_CODE) | bitmapBit(GHCB_OFF_SW_EXIT_INFO_1) | bitmapBit(GHCB_OFF_SW_EXIT_INFO_2);
const RAX_BIT_BYTE = bitmapByte(GHCB_OFF_RAX);
const RAX_BIT_MASK = bitmapBit(GHCB_OFF_RAX);
const RCX_RDX_RBX_BITS_BYTE = bitmapByte(GHCB_OFF_RCX);
const RCX_RDX_RBX_BITS_MASK = bitmapBit(GHCB_OFF_RCX) | bitmapBit(GHCB_OFF_RDX) | bitmapBit(GHCB_OFF_RBX);
if (
  bitmapByte(GHCB_OFF_SW_EXIT_INFO_1) !== EXIT_BITS_BYTE ||
  bitmapByte(GHCB_OFF_SW_EXIT_INFO_2) !== EXIT_BITS_BYTE ||
  bitmapByte(GHCB_OFF_RDX) !== RCX_RDX_RBX_BITS_BYTE ||
  bitmapByte(GHCB_OFF_RBX) !== RCX_RDX_RBX_BITS_BYTE
) {
  throw new Error('unexpected GHCB valid-bitmap layout');
}
/** The step of an exchange suspended at its VMGEXIT, shared: iterator results are only read. */
const VMGEXIT_STEP: IteratorYieldResult<GuestOp> = Object.freeze({ value: VMGEXIT_OP, done: false });
/** Operand masks by I/O size. */
const SIZE_MASK: readonly number[] = [0, 0xff, 0xffff, 0, 0xffff_ffff];
/** The common answer (sw_exit_info_1 = sw_exit_info_2 = 0), shared: results are immutable. */
const RESULT_OK_0: GhcbResult = Object.freeze({ kind: 'ok', info1: 0n, info2: 0n });

function checkSaveAreaOffset(offset: number): void {
  if (offset === GHCB_OFF_CPL) return;
  if (!Number.isInteger(offset) || offset < 0 || offset >= GHCB_OFF_VALID_BITMAP || offset % 8 !== 0) {
    throw new RangeError(`0x${offset.toString(16)} is not a GHCB save-area field with a valid bit`);
  }
}

/**
 * The guest's GHCB client for one vCPU: the GHCB at `ghcbGpa` (a shared, unencrypted page), the
 * vCPU's GHCB MSR, and a shadow of the page. Every request method is a generator to run inside a
 * guest program with `yield*`. One request at a time: re-entering the client from a #VC raised
 * by its own trapping memory access throws, as a nested #VC would need Linux's backup GHCB, which
 * is not modelled.
 */
export class GhcbClient {
  /** Guest physical address of the GHCB page (page aligned). */
  readonly ghcbGpa: number;
  /** The vCPU this client runs on. */
  readonly cpu: ScriptedCpu;
  /** The GHCB GPA as the two halves WRMSR writes (EAX, EDX). */
  readonly #gpaLo: number;
  readonly #gpaHi: number;
  readonly #shadow = new Uint8Array(GHCB_SIZE);
  readonly #view = new DataView(this.#shadow.buffer);
  readonly #words = new Uint32Array(this.#shadow.buffer);
  /**
   * What changed in the shadow since the last write to the page: the qwords of [0, BITMAP_END) as
   * a 128-bit mask (bit q: bytes 8q..8q+7), the bytes [#bufLo, #bufHi) past the valid bitmap (the
   * shared buffer), or the whole page (the first request).
   */
  readonly #dirty = new Uint32Array(4);
  #bufLo = GHCB_SIZE;
  #bufHi = BITMAP_END;
  #whole = true;
  #version: number;
  #usage = GHCB_DEFAULT_USAGE;
  #busy = false;
  /** The page the guest TLB gave last, and its words (one view per page, not per request). */
  #page: Uint8Array | undefined;
  #pageWords: Uint32Array = new Uint32Array(0);
  /** The [offset, length] pairs of a request #send could not write in one go, for #sendSlow. */
  #pending: number[] = [];
  /** What the current request reads back besides ANSWER: [#inLo, #inHi) of the GHCB, #extLen bytes at #saGpa. */
  #inLo = 0;
  #inHi = 0;
  #extLen = 0;
  /** Where the scratch data of the current request is: a buffer and an offset into it. */
  #dataBuf: Uint8Array = this.#shadow;
  #dataOff = 0;
  /** GPA of the current request's scratch area when it is outside the GHCB. */
  #saGpa = 0;
  #tmp = new Uint8Array(64);
  /** The last OUT's port and size, and their exit_info_1. */
  #outPort = Number.NaN;
  #outSize = 0;
  #outInfo = 0;
  readonly #qword = new Uint8Array(8);
  readonly #qwordView = new DataView(this.#qword.buffer);

  /**
   * A client for the GHCB at `ghcbGpa`. The shadow starts zeroed and the whole page is written at
   * the first request, as a guest kernel zeroes its GHCB pages before use.
   */
  constructor(cpu: ScriptedCpu, ghcbGpa: number, opts: GhcbClientOptions = {}) {
    if (!Number.isSafeInteger(ghcbGpa) || ghcbGpa < 0 || ghcbGpa % GHCB_SIZE !== 0) {
      throw new RangeError(`GHCB GPA ${ghcbGpa} is not a page-aligned guest physical address`);
    }
    this.cpu = cpu;
    this.ghcbGpa = ghcbGpa;
    this.#gpaLo = ghcbGpa >>> 0;
    this.#gpaHi = Math.floor(ghcbGpa / 0x1_0000_0000);
    this.#version = opts.version ?? 1;
  }

  /**
   * True while the client is in a trapping access to guest memory (its fallback when the GHCB or
   * an outside scratch area is not RAM right now). A #VC raised there must not re-enter the client.
   */
  get busy(): boolean {
    return this.#busy;
  }

  // ---------------------------------------------------------------- GHCB MSR protocol

  /**
   * One GHCB MSR protocol exchange: write `request` into the GHCB MSR, VMGEXIT, read the response,
   * then put the GHCB GPA back into the MSR (as Linux does before using the GHCB page again).
   * Returns the raw response.
   */
  *msrProtocol(request: bigint): Generator<GuestOp, bigint, unknown> {
    const cpu = this.cpu;
    cpu.ghcbMsr = BigInt.asUintN(64, request);
    yield VMGEXIT_OP;
    const response = cpu.ghcbMsr;
    cpu.setGhcbMsr(this.#gpaLo, this.#gpaHi);
    return response;
  }

  /**
   * SEV_INFO_REQ (Linux's sev_es_negotiate_protocol): the hypervisor's max/min GHCB protocol
   * versions and the C-bit position; undefined when the answer is not SEV_INFO_RESP.
   */
  *sevInfo(): Generator<
    GuestOp,
    { max: number; min: number; cbit: number; raw: bigint } | undefined,
    unknown
  > {
    const raw = yield* this.msrProtocol(BigInt(GHCB_MSR_SEV_INFO_REQ));
    if (ghcbMsrInfo(raw) !== GHCB_MSR_SEV_INFO_RESP) return undefined;
    return { ...decodeGhcbMsrSevInfo(raw), raw };
  }

  /**
   * CPUID_REQ for one register of leaf `fn` (subleaf 0; the MSR protocol has none): the value, or
   * undefined when the response code is not CPUID_RESP (Linux's __sev_cpuid_hv: -EIO).
   */
  cpuidMsr(fn: number, reg: 0 | 1 | 2 | 3): Generator<GuestOp, number | undefined, unknown> {
    // GHCBInfo with the register in [31:30], the function in [63:32] (ghcbMsrCpuidReq, as halves).
    const reqLo = (((reg & 3) << 30) | GHCB_MSR_CPUID_REQ) >>> 0;
    return new CpuidMsrExchange(this.cpu, reqLo, fn >>> 0, this.#gpaLo, this.#gpaHi);
  }

  /**
   * A whole CPUID leaf through the MSR protocol, four requests EAX, EBX, ECX, EDX (Linux's
   * __sev_cpuid_hv_msr); undefined as soon as one answer is not CPUID_RESP.
   */
  *cpuidLeafMsr(
    fn: number,
  ): Generator<GuestOp, { eax: number; ebx: number; ecx: number; edx: number } | undefined, unknown> {
    const eax = yield* this.cpuidMsr(fn, 0);
    if (eax === undefined) return undefined;
    const ebx = yield* this.cpuidMsr(fn, 1);
    if (ebx === undefined) return undefined;
    const ecx = yield* this.cpuidMsr(fn, 2);
    if (ecx === undefined) return undefined;
    const edx = yield* this.cpuidMsr(fn, 3);
    if (edx === undefined) return undefined;
    return { eax, ebx, ecx, edx };
  }

  /** HV_FT_REQ: the GHCB_HV_FT_* bitmap ([63:12]), or undefined when the answer is not HV_FT_RESP. */
  *hvFeaturesMsr(): Generator<GuestOp, bigint | undefined, unknown> {
    const raw = yield* this.msrProtocol(BigInt(GHCB_MSR_HV_FT_REQ));
    if (ghcbMsrInfo(raw) !== GHCB_MSR_HV_FT_RESP) return undefined;
    return ghcbMsrData(raw);
  }

  /**
   * AP_RESET_HOLD_REQ: park until a SIPI. Returns the response's [63:12] (0 = not woken by a SIPI,
   * non-zero = woken), or undefined when the answer is not AP_RESET_HOLD_RESP.
   */
  *apResetHoldMsr(): Generator<GuestOp, bigint | undefined, unknown> {
    const raw = yield* this.msrProtocol(BigInt(GHCB_MSR_AP_RESET_HOLD_REQ));
    if (ghcbMsrInfo(raw) !== GHCB_MSR_AP_RESET_HOLD_RESP) return undefined;
    return ghcbMsrData(raw);
  }

  /**
   * TERM_REQ with `reasonSet` in [15:12] and `reasonCode` in [23:16] (Linux's sev_es_terminate).
   * A real guest halts forever after the VMGEXIT; this returns the raw MSR value seen after it so
   * a test can tell the hypervisor let the VM run on.
   */
  *terminateMsr(reasonSet: number, reasonCode: number): Generator<GuestOp, bigint, unknown> {
    return yield* this.msrProtocol(ghcbMsrTermReq(reasonSet, reasonCode));
  }

  /** Register the GHCB: write its GPA into the GHCB MSR (SEV-ES; no REG_GPA request, that is SNP). */
  register(): void {
    this.cpu.setGhcbMsr(this.#gpaLo, this.#gpaHi);
  }

  // ---------------------------------------------------------------- GHCB page: building requests

  /**
   * Linux's vc_ghcb_invalidate: clear sw_exit_code, sw_exit_info_1/2 and the whole valid bitmap in
   * the shadow before building a request. Every request helper starts with it.
   */
  invalidate(): void {
    if (this.#busy) throw new Error('GHCB client re-entered during a trapping access (nested #VC)');
    // Zeroes are the same in either byte order: plain 32-bit stores.
    const z = this.#words;
    z[W_EXIT] = 0;
    z[W_EXIT + 1] = 0;
    z[W_EXIT + 2] = 0;
    z[W_EXIT + 3] = 0;
    z[W_EXIT + 4] = 0;
    z[W_EXIT + 5] = 0;
    z[W_BITMAP] = 0;
    z[W_BITMAP + 1] = 0;
    z[W_BITMAP + 2] = 0;
    z[W_BITMAP + 3] = 0;
  }

  /**
   * Write a save-area field in the shadow and set its valid bit (offset / 8), like Linux's
   * ghcb_set_*: a u64 at any 8-aligned offset below the valid bitmap, or the 1-byte cpl at 0xCB.
   */
  setField(offset: number, value: bigint): void {
    checkSaveAreaOffset(offset);
    this.#set(offset, value);
  }

  /**
   * A save-area field as the shadow holds it: after an exit, RAX, RBX, RCX, RDX, sw_exit_info_1/2
   * and the valid bitmap as the hypervisor left them (what a guest reads back); any other field as
   * the client last wrote or read it (readRaw reads the page itself).
   */
  getField(offset: number): bigint {
    checkSaveAreaOffset(offset);
    if (offset === GHCB_OFF_CPL) return BigInt(this.#shadow[GHCB_OFF_CPL]!);
    return this.#view.getBigUint64(offset, true);
  }

  /** Whether the valid bit of the field at `offset` is set in the shadow (Linux's ghcb_*_is_valid). */
  isValid(offset: number): boolean {
    checkSaveAreaOffset(offset);
    return this.#isValid(offset);
  }

  /** Set or clear valid-bitmap bit `idx` (0..127) in the shadow, for hostile requests. */
  setValidBit(idx: number, on: boolean): void {
    if (!Number.isInteger(idx) || idx < 0 || idx >= GHCB_VALID_BITMAP_SIZE * 8) {
      throw new RangeError(`valid bit ${idx} out of range`);
    }
    const at = GHCB_OFF_VALID_BITMAP + (idx >> 3);
    const s = this.#shadow;
    s[at] = on ? s[at]! | (1 << (idx & 7)) : s[at]! & ~(1 << (idx & 7));
  }

  /** The ghcb_usage written with every request from now on (default 0, the only value KVM accepts). */
  setUsage(usage: number): void {
    this.#usage = usage >>> 0;
  }

  /** The protocol_version written with every request from now on (default: the client's version). */
  setProtocolVersion(version: number): void {
    this.#version = version & 0xffff;
  }

  /**
   * Write `bytes` at `offset` of the GHCB page now (shadow and guest memory), e.g. to put
   * garbage where the protocol does not expect it. A later request may overwrite it.
   */
  *writeRaw(offset: number, bytes: Uint8Array): Generator<GuestOp, void, unknown> {
    this.#checkPageRange(offset, bytes.length);
    this.#shadow.set(bytes, offset);
    yield* this.#writeGuest(this.ghcbGpa + offset, this.#shadow.subarray(offset, offset + bytes.length));
  }

  /** Read `len` bytes at `offset` of the GHCB page from guest memory now (also refreshing the shadow). */
  *readRaw(offset: number, len: number): Generator<GuestOp, Uint8Array, unknown> {
    this.#checkPageRange(offset, len);
    const dst = this.#shadow.subarray(offset, offset + len);
    yield* this.#readGuest(this.ghcbGpa + offset, dst);
    return dst.slice();
  }

  // ---------------------------------------------------------------- GHCB page: issuing requests

  /**
   * Issue a NAE request (Linux's sev_es_ghcb_hv_call): invalidate, set sw_exit_code/info1/info2
   * and `fields` (by Linux field name or by offset, each marked valid), write the page with usage
   * and protocol_version, VMGEXIT, read back sw_exit_info_1/2 and return the answer. Register
   * values the hypervisor wrote back (rax, rbx, rcx, rdx) are available afterwards via
   * getField/isValid.
   */
  *vmgexit(
    exitCode: bigint | number,
    info1: bigint,
    info2: bigint,
    fields?: Readonly<Record<string, bigint>> | readonly (readonly [offset: number, value: bigint])[],
  ): Generator<GuestOp, GhcbResult, unknown> {
    this.invalidate();
    if (fields) {
      if (Array.isArray(fields)) {
        for (const [offset, value] of fields as readonly (readonly [number, bigint])[]) {
          this.setField(offset, value);
        }
      } else {
        for (const [name, value] of Object.entries(fields as Readonly<Record<string, bigint>>)) {
          const offset = FIELD_OFFSETS.get(name);
          if (offset === undefined) throw new RangeError(`unknown GHCB field ${name}`);
          this.#set(offset, value);
        }
      }
    }
    if (typeof exitCode === 'number' && exitCode >= 0) this.#setN(GHCB_OFF_SW_EXIT_CODE, exitCode);
    else this.#set(GHCB_OFF_SW_EXIT_CODE, BigInt(exitCode));
    this.#set(GHCB_OFF_SW_EXIT_INFO_1, info1);
    this.#set(GHCB_OFF_SW_EXIT_INFO_2, info2);
    return yield* this.#exchange();
  }

  /**
   * VMGEXIT with the GHCB page exactly as the shadow holds it (plus usage and protocol_version):
   * no invalidate, no sw_exit_* set. For hostile requests built with invalidate/setField/
   * setValidBit. Returns the answer, read back like `vmgexit`.
   */
  *vmgexitRaw(): Generator<GuestOp, GhcbResult, unknown> {
    return yield* this.#exchange();
  }

  // ---------------------------------------------------------------- NAE events

  /**
   * CPUID (SVM_EXIT_CPUID): RAX = fn, RCX = index; XCR0 only for leaf 0xD (KVM needs it there; OVMF
   * sends it only there). Returns EAX..EDX from the GHCB registers.
   */
  cpuid(fn: number, index = 0, xcr0 = 1n): Generator<GuestOp, GhcbCpuidReply, unknown> {
    return new NaeExchange<GhcbCpuidReply>(this.#drive, NAE_CPUID, fn, index, 0, xcr0);
  }

  #buildCpuid(fn: number, index: number, xcr0: bigint): void {
    this.invalidate();
    this.#setN(GHCB_OFF_RAX, fn >>> 0);
    this.#setN(GHCB_OFF_RCX, index >>> 0);
    if (fn >>> 0 === 0xd) this.#set(GHCB_OFF_XCR0, xcr0);
    this.#setExitN(SVM_EXIT_CPUID, 0, 0);
  }

  #cpuidReply(result: GhcbResult): GhcbCpuidReply {
    return {
      result,
      eax: this.#u32(GHCB_OFF_RAX),
      ebx: this.#u32(GHCB_OFF_RBX),
      ecx: this.#u32(GHCB_OFF_RCX),
      edx: this.#u32(GHCB_OFF_RDX),
      // RAX's valid bit, and RCX/RDX/RBX's in one byte.
      regsValid:
        (this.#shadow[RAX_BIT_BYTE]! & RAX_BIT_MASK) !== 0 &&
        (this.#shadow[RCX_RDX_RBX_BITS_BYTE]! & RCX_RDX_RBX_BITS_MASK) === RCX_RDX_RBX_BITS_MASK,
    };
  }

  /** OUT (SVM_EXIT_IOIO): exit_info_1 from encodeIoioInfo, RAX = value (low `size` bytes). */
  ioOut(port: number, size: 1 | 2 | 4, value: number): Generator<GuestOp, GhcbResult, unknown> {
    return new NaeExchange<GhcbResult>(this.#drive, NAE_IO_OUT, port, size, value, 0n);
  }

  /**
   * The requests served by NaeExchange (cpuid, ioOut): build (at the first `next`, as a generator
   * would), send, VMGEXIT, receive, answer. When the page is not RAM, the rest of the request
   * continues in a generator with the trapping fallbacks, exactly as the generator methods do.
   */
  readonly #drive = (x: NaeExchange<unknown>): IteratorResult<GuestOp, unknown> => {
    if (x.phase === 0) {
      // Done unless it gets to the VMGEXIT: a request that throws while being built is over.
      x.phase = 2;
      if (x.kind === NAE_CPUID) {
        this.#buildCpuid(x.a, x.b, x.big);
      } else {
        // exit_info_1 of the last OUT is kept: a guest writing one port encodes it once.
        if (x.a !== this.#outPort || x.b !== this.#outSize) {
          this.#outInfo = encodeIoioInfo({ port: x.a, size: x.b as 1 | 2 | 4, in: false });
          this.#outPort = x.a;
          this.#outSize = x.b;
        }
        const info1 = this.#outInfo;
        this.invalidate();
        this.#setN(GHCB_OFF_RAX, (x.c & SIZE_MASK[x.b]!) >>> 0);
        this.#setExitN(SVM_EXIT_IOIO, info1, 0);
      }
      if (!this.#send()) return x.continueWith(this.#sendAndExchange(x.kind));
      x.phase = 1;
      return VMGEXIT_STEP;
    }
    if (x.phase !== 1) return { value: undefined, done: true };
    x.phase = 2;
    const result = this.#receive(0, 0);
    if (result === undefined) return x.continueWith(this.#receiveAndAnswer(x.kind));
    return { value: this.#answer(x.kind, result), done: true };
  };

  /** What an NaeExchange returns for its kind. */
  #answer(kind: number, result: GhcbResult): unknown {
    return kind === NAE_CPUID ? this.#cpuidReply(result) : result;
  }

  /** An NaeExchange whose page write did not go through: trapping stores, then the rest. */
  *#sendAndExchange(kind: number): Generator<GuestOp, unknown, unknown> {
    yield* this.#sendSlow();
    yield VMGEXIT_OP;
    const result = this.#receive(0, 0) ?? (yield* this.#receiveSlow(0, 0));
    return this.#answer(kind, result);
  }

  /** An NaeExchange whose page read did not go through: trapping loads, then the answer. */
  *#receiveAndAnswer(kind: number): Generator<GuestOp, unknown, unknown> {
    return this.#answer(kind, yield* this.#receiveSlow(0, 0));
  }

  /** IN (SVM_EXIT_IOIO): no RAX sent (KVM needs none); the value is RAX's low `size` bytes. */
  *ioIn(port: number, size: 1 | 2 | 4): Generator<GuestOp, GhcbValueReply<number>, unknown> {
    const info1 = encodeIoioInfo({ port, size, in: true });
    this.invalidate();
    this.#setExitN(SVM_EXIT_IOIO, info1, 0);
    const result = yield* this.#exchange();
    return {
      result,
      value: (this.#view.getUint32(GHCB_OFF_RAX, true) & SIZE_MASK[size]!) >>> 0,
      regsValid: this.#isValid(GHCB_OFF_RAX),
    };
  }

  /**
   * OUTS (SVM_EXIT_IOIO with STR, and REP unless there is one element): exit_info_2 = element
   * count, sw_scratch = the scratch area holding `data`.
   */
  *ioOutString(
    port: number,
    size: 1 | 2 | 4,
    data: Uint8Array,
    scratch: Scratch = SCRATCH_IN_GHCB,
  ): Generator<GuestOp, GhcbResult, unknown> {
    const count = elementCount(data.length, size);
    const info1 = encodeIoioInfo({ port, size, in: false, string: true, rep: count !== 1 });
    this.invalidate();
    if (!this.#scratchOut(scratch, data)) yield* this.#writeSlow(this.#saGpa, data);
    this.#scratchRequest(SVM_EXIT_IOIO, info1, count, false, data.length);
    return yield* this.#scratchExchange();
  }

  /**
   * INS (SVM_EXIT_IOIO with STR and TYPE IN, and REP unless count is 1): exit_info_2 = count,
   * sw_scratch = the scratch area; returns a copy of the `count * size` bytes found there afterwards.
   */
  *ioInString(
    port: number,
    size: 1 | 2 | 4,
    count: number,
    scratch: Scratch = SCRATCH_IN_GHCB,
  ): Generator<GuestOp, GhcbDataReply, unknown> {
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`bad element count ${count}`);
    const info1 = encodeIoioInfo({ port, size, in: true, string: true, rep: count !== 1 });
    const len = count * size;
    this.invalidate();
    this.#scratchIn(scratch, len);
    this.#scratchRequest(SVM_EXIT_IOIO, info1, count, true, len);
    const result = yield* this.#scratchExchange();
    return { result, data: this.#dataBuf.slice(this.#dataOff, this.#dataOff + len) };
  }

  /**
   * MMIO read (SVM_VMGEXIT_MMIO_READ): exit_info_1 = gpa, exit_info_2 = len, sw_scratch = the
   * scratch area; returns a copy of the `len` bytes found there afterwards.
   */
  *mmioRead(
    gpa: number,
    len: number,
    scratch: Scratch = SCRATCH_IN_GHCB,
  ): Generator<GuestOp, GhcbDataReply, unknown> {
    const result = yield* this.mmioReadInPlace(gpa, len, scratch);
    return { result, data: this.#dataBuf.slice(this.#dataOff, this.#dataOff + len) };
  }

  /** MMIO write (SVM_VMGEXIT_MMIO_WRITE): exit_info_1 = gpa, exit_info_2 = data length, data in scratch. */
  *mmioWrite(
    gpa: number,
    data: Uint8Array,
    scratch: Scratch = SCRATCH_IN_GHCB,
  ): Generator<GuestOp, GhcbResult, unknown> {
    this.invalidate();
    if (!this.#scratchOut(scratch, data)) yield* this.#writeSlow(this.#saGpa, data);
    this.#scratchRequest(SVM_VMGEXIT_MMIO_WRITE, gpa, data.length, false, data.length);
    return yield* this.#exchange();
  }

  /** RDMSR (SVM_EXIT_MSR, exit_info_1 = 0): RCX = index; the value is EDX:EAX. */
  *rdmsr(index: number): Generator<GuestOp, GhcbValueReply<bigint>, unknown> {
    this.invalidate();
    this.#setN(GHCB_OFF_RCX, index >>> 0);
    this.#setExitN(SVM_EXIT_MSR, 0, 0);
    const result = yield* this.#exchange();
    return this.#edxEax(result);
  }

  /** WRMSR (SVM_EXIT_MSR, exit_info_1 = 1): RCX = index, RAX = low and RDX = high 32 bits of value. */
  *wrmsr(index: number, value: bigint): Generator<GuestOp, GhcbResult, unknown> {
    this.invalidate();
    this.#setN(GHCB_OFF_RCX, index >>> 0);
    this.#set(GHCB_OFF_RAX, value & MASK32);
    this.#set(GHCB_OFF_RDX, (value >> 32n) & MASK32);
    this.#setExitN(SVM_EXIT_MSR, 1, 0);
    return yield* this.#exchange();
  }

  /** RDTSC (SVM_EXIT_RDTSC, no inputs): the value is EDX:EAX. */
  *rdtsc(): Generator<GuestOp, GhcbValueReply<bigint>, unknown> {
    this.invalidate();
    this.#setExitN(SVM_EXIT_RDTSC, 0, 0);
    if (!this.#send()) yield* this.#sendSlow();
    yield VMGEXIT_OP;
    return this.#edxEax(this.#receive(0, 0) ?? (yield* this.#receiveSlow(0, 0)));
  }

  /** RDTSCP (SVM_EXIT_RDTSCP, no inputs): EDX:EAX and TSC_AUX in ECX. */
  *rdtscp(): Generator<GuestOp, GhcbRdtscpReply, unknown> {
    this.invalidate();
    this.#setExitN(SVM_EXIT_RDTSCP, 0, 0);
    if (!this.#send()) yield* this.#sendSlow();
    yield VMGEXIT_OP;
    const r = this.#edxEax(this.#receive(0, 0) ?? (yield* this.#receiveSlow(0, 0)));
    return { ...r, aux: this.#u32(GHCB_OFF_RCX), regsValid: r.regsValid && this.#isValid(GHCB_OFF_RCX) };
  }

  /** RDPMC (SVM_EXIT_RDPMC): RCX = counter; the value is EDX:EAX. */
  *rdpmc(counter: number): Generator<GuestOp, GhcbValueReply<bigint>, unknown> {
    this.invalidate();
    this.#setN(GHCB_OFF_RCX, counter >>> 0);
    this.#setExitN(SVM_EXIT_RDPMC, 0, 0);
    if (!this.#send()) yield* this.#sendSlow();
    yield VMGEXIT_OP;
    return this.#edxEax(this.#receive(0, 0) ?? (yield* this.#receiveSlow(0, 0)));
  }

  /**
   * VMMCALL (SVM_EXIT_VMMCALL): RAX = nr, cpl; RBX, RCX, RDX, RSI = args[0..3] (0 when absent; all
   * four are always sent, as Linux's kvm_sev_es_hcall_prepare does). The value is RAX.
   */
  *vmmcall(
    nr: bigint,
    args: readonly bigint[] = [],
    cpl = 0,
  ): Generator<GuestOp, GhcbValueReply<bigint>, unknown> {
    this.invalidate();
    this.#set(GHCB_OFF_RAX, nr);
    this.#setN(GHCB_OFF_CPL, cpl & 0xff);
    this.#set(GHCB_OFF_RBX, args[0] ?? 0n);
    this.#set(GHCB_OFF_RCX, args[1] ?? 0n);
    this.#set(GHCB_OFF_RDX, args[2] ?? 0n);
    this.#set(GHCB_OFF_RSI, args[3] ?? 0n);
    this.#setExitN(SVM_EXIT_VMMCALL, 0, 0);
    const result = yield* this.#exchange();
    return {
      result,
      value: this.#view.getBigUint64(GHCB_OFF_RAX, true),
      regsValid: this.#isValid(GHCB_OFF_RAX),
    };
  }

  /** INVD (SVM_EXIT_INVD, no inputs). */
  *invd(): Generator<GuestOp, GhcbResult, unknown> {
    this.invalidate();
    this.#setExitN(SVM_EXIT_INVD, 0, 0);
    return yield* this.#exchange();
  }

  /** WBINVD (SVM_EXIT_WBINVD, no inputs). */
  *wbinvd(): Generator<GuestOp, GhcbResult, unknown> {
    this.invalidate();
    this.#setExitN(SVM_EXIT_WBINVD, 0, 0);
    return yield* this.#exchange();
  }

  /** MONITOR (SVM_EXIT_MONITOR): RAX (linear = physical address), RCX, RDX. */
  *monitor(rax: bigint, rcx: bigint, rdx: bigint): Generator<GuestOp, GhcbResult, unknown> {
    this.invalidate();
    this.#set(GHCB_OFF_RAX, rax);
    this.#set(GHCB_OFF_RCX, rcx);
    this.#set(GHCB_OFF_RDX, rdx);
    this.#setExitN(SVM_EXIT_MONITOR, 0, 0);
    return yield* this.#exchange();
  }

  /** MWAIT (SVM_EXIT_MWAIT): RAX (hints), RCX (extensions). */
  *mwait(rax: bigint, rcx: bigint): Generator<GuestOp, GhcbResult, unknown> {
    this.invalidate();
    this.#set(GHCB_OFF_RAX, rax);
    this.#set(GHCB_OFF_RCX, rcx);
    this.#setExitN(SVM_EXIT_MWAIT, 0, 0);
    return yield* this.#exchange();
  }

  /** Read DR7 (SVM_EXIT_READ_DR7, no inputs): the value is RAX. */
  *readDr7(): Generator<GuestOp, GhcbValueReply<bigint>, unknown> {
    this.invalidate();
    this.#setExitN(SVM_EXIT_READ_DR7, 0, 0);
    const result = yield* this.#exchange();
    return {
      result,
      value: this.#view.getBigUint64(GHCB_OFF_RAX, true),
      regsValid: this.#isValid(GHCB_OFF_RAX),
    };
  }

  /** Write DR7 (SVM_EXIT_WRITE_DR7): RAX = value (Linux's vc_handle_dr7_write). */
  *writeDr7(value: bigint): Generator<GuestOp, GhcbResult, unknown> {
    this.invalidate();
    this.#set(GHCB_OFF_RAX, value);
    this.#setExitN(SVM_EXIT_WRITE_DR7, 0, 0);
    return yield* this.#exchange();
  }

  /** NMI_COMPLETE (Linux's sev_es_nmi_complete). */
  *nmiComplete(): Generator<GuestOp, GhcbResult, unknown> {
    this.invalidate();
    this.#setExitN(SVM_VMGEXIT_NMI_COMPLETE, 0, 0);
    return yield* this.#exchange();
  }

  /**
   * One round of AP_HLT_LOOP (Linux's sev_es_ap_hlt_loop loops on it): `woken` when
   * sw_exit_info_2 came back valid and non-zero (a SIPI arrived).
   */
  *apHltLoop(): Generator<GuestOp, { result: GhcbResult; woken: boolean }, unknown> {
    const result = yield* this.vmgexit(SVM_VMGEXIT_AP_HLT_LOOP, 0n, 0n);
    return { result, woken: this.#isValid(GHCB_OFF_SW_EXIT_INFO_2) && result.info2 !== 0n };
  }

  /** AP_JUMP_TABLE SET (exit_info_1 = 0): store `gpa` (exit_info_2) as the AP jump table. */
  *apJumpTableSet(gpa: bigint | number): Generator<GuestOp, GhcbResult, unknown> {
    return yield* this.vmgexit(SVM_VMGEXIT_AP_JUMP_TABLE, BigInt(SVM_VMGEXIT_SET_AP_JUMP_TABLE), BigInt(gpa));
  }

  /**
   * AP_JUMP_TABLE GET (exit_info_1 = 1, Linux's get_jump_table_addr): the table address from
   * sw_exit_info_2, or 0 when sw_exit_info_1/2 did not both come back valid.
   */
  *apJumpTableGet(): Generator<GuestOp, { result: GhcbResult; value: bigint }, unknown> {
    const result = yield* this.vmgexit(SVM_VMGEXIT_AP_JUMP_TABLE, BigInt(SVM_VMGEXIT_GET_AP_JUMP_TABLE), 0n);
    const valid = this.#isValid(GHCB_OFF_SW_EXIT_INFO_1) && this.#isValid(GHCB_OFF_SW_EXIT_INFO_2);
    return { result, value: valid ? result.info2 : 0n };
  }

  /** HV_FEATURES (GHCB v2 NAE event): the GHCB_HV_FT_* bitmap from sw_exit_info_2. */
  *hvFeatures(): Generator<GuestOp, { result: GhcbResult; features: bigint }, unknown> {
    const result = yield* this.vmgexit(SVM_VMGEXIT_HV_FEATURES, 0n, 0n);
    return { result, features: result.info2 };
  }

  /** TERM_REQUEST (GHCB v2 NAE event): exit_info_1 = SVM_VMGEXIT_TERM_REASON(set, code). */
  *termRequest(reasonSet: number, reasonCode: number): Generator<GuestOp, GhcbResult, unknown> {
    return yield* this.vmgexit(SVM_VMGEXIT_TERM_REQUEST, SVM_VMGEXIT_TERM_REASON(reasonSet, reasonCode), 0n);
  }

  /**
   * UNSUPPORTED_EVENT: the guest met an event it cannot handle (OVMF passes the #VC error code,
   * i.e. the exit code that raised it, in exit_info_1).
   */
  *unsupportedEvent(info1 = 0n, info2 = 0n): Generator<GuestOp, GhcbResult, unknown> {
    return yield* this.vmgexit(SVM_VMGEXIT_UNSUPPORTED_EVENT, info1, info2);
  }

  // ---------------------------------------------------------------- for the #VC handler

  /**
   * MMIO read without copying the data out: the result, with the `len` bytes left at
   * `scratchData()` until the next request. For the #VC handler's hot path.
   */
  *mmioReadInPlace(
    gpa: number,
    len: number,
    scratch: Scratch = SCRATCH_IN_GHCB,
  ): Generator<GuestOp, GhcbResult, unknown> {
    if (!Number.isSafeInteger(len) || len < 0) throw new RangeError(`bad MMIO length ${len}`);
    this.invalidate();
    this.#scratchIn(scratch, len);
    this.#scratchRequest(SVM_VMGEXIT_MMIO_READ, gpa, len, true, len);
    return yield* this.#scratchExchange();
  }

  /** Where the last request's scratch data is: a buffer and an offset into it (valid until the next request). */
  scratchData(): { buf: Uint8Array; offset: number } {
    return { buf: this.#dataBuf, offset: this.#dataOff };
  }

  // ---------------------------------------------------------------- internals

  #set(offset: number, value: bigint): void {
    if (offset === GHCB_OFF_CPL) this.#shadow[offset] = Number(value & 0xffn);
    else this.#view.setBigUint64(offset, value, true);
    const idx = offset >> 3;
    this.#shadow[GHCB_OFF_VALID_BITMAP + (idx >> 3)]! |= 1 << (idx & 7);
    this.#dirty[idx >> 5]! |= 1 << (idx & 31);
  }

  /** #set for a number in [0, 2^53): no BigInt on the hot path. */
  #setN(offset: number, value: number): void {
    if (offset === GHCB_OFF_CPL) {
      this.#shadow[offset] = value;
    } else {
      const v = this.#view;
      v.setUint32(offset, value >>> 0, true);
      v.setUint32(offset + 4, value > 0xffff_ffff ? Math.floor(value / 0x1_0000_0000) >>> 0 : 0, true);
    }
    const idx = offset >> 3;
    this.#shadow[GHCB_OFF_VALID_BITMAP + (idx >> 3)]! |= 1 << (idx & 7);
    this.#dirty[idx >> 5]! |= 1 << (idx & 31);
  }

  #isValid(offset: number): boolean {
    const idx = offset >> 3;
    return (this.#shadow[GHCB_OFF_VALID_BITMAP + (idx >> 3)]! & (1 << (idx & 7))) !== 0;
  }

  #u32(offset: number): number {
    return this.#view.getUint32(offset, true);
  }

  #edxEax(result: GhcbResult): GhcbValueReply<bigint> {
    const v = this.#view;
    return {
      result,
      value: (BigInt(v.getUint32(GHCB_OFF_RDX, true)) << 32n) | BigInt(v.getUint32(GHCB_OFF_RAX, true)),
      regsValid: this.#isValid(GHCB_OFF_RAX) && this.#isValid(GHCB_OFF_RDX),
    };
  }

  #checkPageRange(offset: number, len: number): void {
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(len) ||
      offset < 0 ||
      len < 0 ||
      offset + len > GHCB_SIZE
    ) {
      throw new RangeError(`[${offset}, +${len}) is not inside the GHCB page`);
    }
  }

  /**
   * Put outgoing scratch data in place (the shadow, or guest memory at an outside GPA) and set
   * sw_scratch. False when the outside area is not RAM right now: write it with #writeSlow.
   */
  #scratchOut(scratch: Scratch, data: Uint8Array): boolean {
    if ('gpa' in scratch) {
      this.#setN(GHCB_OFF_SW_SCRATCH, scratch.gpa);
      this.#saGpa = scratch.gpa;
      this.#dataBuf = data;
      this.#dataOff = 0;
      return this.cpu.mem.write(scratch.gpa, data) === NPT_OK;
    }
    const off = this.#ghcbScratchOffset(scratch, data.length);
    this.#shadow.set(data, off);
    this.#changed(off, off + data.length);
    return true;
  }

  /** Prepare an incoming scratch area of `len` bytes and set sw_scratch. */
  #scratchIn(scratch: Scratch, len: number): void {
    if ('gpa' in scratch) {
      this.#setN(GHCB_OFF_SW_SCRATCH, scratch.gpa);
      this.#saGpa = scratch.gpa;
      if (this.#tmp.length < len) this.#tmp = new Uint8Array(Math.max(len, this.#tmp.length * 2));
      this.#dataBuf = this.#tmp;
      this.#dataOff = 0;
      return;
    }
    this.#ghcbScratchOffset(scratch, len);
  }

  /** Page offset of a scratch area in the GHCB; sets sw_scratch and the data location. */
  #ghcbScratchOffset(scratch: { readonly offset?: number }, len: number): number {
    const off = GHCB_OFF_SHARED_BUFFER + (scratch.offset ?? 0);
    this.#checkPageRange(off, len);
    this.#setN(GHCB_OFF_SW_SCRATCH, this.ghcbGpa + off);
    this.#dataBuf = this.#shadow;
    this.#dataOff = off;
    return off;
  }

  /**
   * Set sw_exit_* for a request with a scratch area and decide what to read back after the exit
   * besides the answer fields: the scratch area when incoming data lands in the GHCB
   * ([#inLo, #inHi)), or #extLen bytes at #saGpa when it is outside.
   */
  #scratchRequest(code: number, info1: number, info2: number, incoming: boolean, len: number): void {
    this.#setExitN(code, info1, info2);
    this.#inLo = 0;
    this.#inHi = 0;
    this.#extLen = 0;
    if (!incoming) return;
    if (this.#dataBuf !== this.#shadow) {
      this.#extLen = len;
    } else {
      this.#inLo = this.#dataOff;
      this.#inHi = this.#dataOff + len;
    }
  }

  /** The request built by #scratchRequest: send, VMGEXIT, read back, and the outside scratch data. */
  *#scratchExchange(): Generator<GuestOp, GhcbResult, unknown> {
    if (!this.#send()) yield* this.#sendSlow();
    yield VMGEXIT_OP;
    const result =
      this.#receive(this.#inLo, this.#inHi) ?? (yield* this.#receiveSlow(this.#inLo, this.#inHi));
    // As a guest kernel does, look at data outside the GHCB only when the hypervisor said success.
    if (this.#extLen > 0 && result.kind === 'ok') {
      yield* this.#readGuest(this.#saGpa, this.#dataBuf.subarray(0, this.#extLen));
    } else if (this.#extLen > 0) {
      this.#dataBuf.fill(0, 0, this.#extLen);
    }
    return result;
  }

  /** sw_exit_code/info1/info2 from numbers (all below 2^53), each marked valid. */
  #setExitN(code: number, info1: number, info2: number): void {
    // #setN three times, written out: the three valid bits share one bitmap byte.
    const v = this.#view;
    v.setUint32(GHCB_OFF_SW_EXIT_CODE, code >>> 0, true);
    v.setUint32(
      GHCB_OFF_SW_EXIT_CODE + 4,
      code > 0xffff_ffff ? Math.floor(code / 0x1_0000_0000) >>> 0 : 0,
      true,
    );
    v.setUint32(GHCB_OFF_SW_EXIT_INFO_1, info1 >>> 0, true);
    v.setUint32(
      GHCB_OFF_SW_EXIT_INFO_1 + 4,
      info1 > 0xffff_ffff ? Math.floor(info1 / 0x1_0000_0000) >>> 0 : 0,
      true,
    );
    v.setUint32(GHCB_OFF_SW_EXIT_INFO_2, info2 >>> 0, true);
    v.setUint32(
      GHCB_OFF_SW_EXIT_INFO_2 + 4,
      info2 > 0xffff_ffff ? Math.floor(info2 / 0x1_0000_0000) >>> 0 : 0,
      true,
    );
    const s = this.#shadow;
    s[EXIT_BITS_BYTE] = s[EXIT_BITS_BYTE]! | EXIT_BITS_MASK;
  }

  /** Mark shadow bytes [lo, hi) changed: whole qwords below the valid bitmap's end, bytes past it. */
  #changed(lo: number, hi: number): void {
    const d = this.#dirty;
    for (let q = lo >> 3; q < (Math.min(hi, BITMAP_END) + 7) >> 3; q++) d[q >> 5]! |= 1 << (q & 31);
    if (hi > BITMAP_END) {
      if (this.#bufLo > Math.max(lo, BITMAP_END)) this.#bufLo = Math.max(lo, BITMAP_END);
      if (this.#bufHi < hi) this.#bufHi = hi;
    }
  }

  /**
   * Before VMGEXIT, as Linux's sev_es_ghcb_hv_call: protocol_version and ghcb_usage into the
   * shadow, then to the page what the request changed (every qword set since the last request,
   * sw_exit_code/info_1/info_2 and the valid bitmap always, shared-buffer data) and the
   * version/usage tail, and the GHCB GPA into the GHCB MSR. Stores go straight into the page when
   * the TLB maps it; else one write per run of changed bytes. Bytes the request does not set are
   * left as they are in guest memory. False when the page is not RAM right now: finish with
   * #sendSlow.
   */
  #send(): boolean {
    const v = this.#view;
    v.setUint16(GHCB_OFF_PROTOCOL_VERSION, this.#version, true);
    v.setUint32(GHCB_OFF_USAGE, this.#usage, true);
    const d = this.#dirty;
    const cpu = this.cpu;
    cpu.setGhcbMsr(this.#gpaLo, this.#gpaHi);
    const page = cpu.mem.page?.(this.ghcbGpa, true);
    const pw = page && this.#wordsOf(page);
    if (!page || !pw) {
      this.#pending = this.#sendRanges();
      return this.#writeRanges(this.#pending);
    }
    const sw = this.#words;
    if (this.#whole) {
      this.#whole = false;
      page.set(this.#shadow);
      d.fill(0);
    } else {
      // sw_exit_code/info_1/info_2 and the valid bitmap, which every request sends; then the rest.
      pw[W_EXIT] = sw[W_EXIT]!;
      pw[W_EXIT + 1] = sw[W_EXIT + 1]!;
      pw[W_EXIT + 2] = sw[W_EXIT + 2]!;
      pw[W_EXIT + 3] = sw[W_EXIT + 3]!;
      pw[W_EXIT + 4] = sw[W_EXIT + 4]!;
      pw[W_EXIT + 5] = sw[W_EXIT + 5]!;
      pw[W_BITMAP] = sw[W_BITMAP]!;
      pw[W_BITMAP + 1] = sw[W_BITMAP + 1]!;
      pw[W_BITMAP + 2] = sw[W_BITMAP + 2]!;
      pw[W_BITMAP + 3] = sw[W_BITMAP + 3]!;
      d[3]! &= ~ALWAYS_SENT;
      for (let k = 0; k < 4; k++) {
        let m = d[k]!;
        if (m === 0) continue;
        d[k] = 0;
        // Qword 32k + b is words 64k + 2b and 64k + 2b + 1.
        while (m !== 0) {
          const b = 31 - Math.clz32(m);
          m ^= 1 << b;
          const w = (k << 6) + 2 * b;
          pw[w] = sw[w]!;
          pw[w + 1] = sw[w + 1]!;
        }
      }
      if (this.#bufHi > this.#bufLo) page.set(this.#shadow.subarray(this.#bufLo, this.#bufHi), this.#bufLo);
      page[GHCB_OFF_PROTOCOL_VERSION] = this.#shadow[GHCB_OFF_PROTOCOL_VERSION]!;
      page[GHCB_OFF_PROTOCOL_VERSION + 1] = this.#shadow[GHCB_OFF_PROTOCOL_VERSION + 1]!;
      pw[W_USAGE] = sw[W_USAGE]!;
    }
    this.#bufLo = GHCB_SIZE;
    this.#bufHi = BITMAP_END;
    return true;
  }

  /** The words of a page the TLB gave (cached per page); undefined if it is not word aligned. */
  #wordsOf(page: Uint8Array): Uint32Array | undefined {
    if (page !== this.#page) {
      if (page.byteOffset % 4 !== 0 || page.length !== GHCB_SIZE) return undefined;
      this.#page = page;
      this.#pageWords = new Uint32Array(page.buffer, page.byteOffset, GHCB_SIZE >> 2);
    }
    return this.#pageWords;
  }

  /** What #send writes, as [offset, length] pairs (runs of changed qwords merged), marked clean. */
  #sendRanges(): number[] {
    const out: number[] = [];
    if (this.#whole) {
      this.#whole = false;
      out.push(0, GHCB_SIZE);
    } else {
      const d = this.#dirty;
      d[3]! |= ALWAYS_SENT;
      let start = -1;
      for (let q = 0; q <= BITMAP_END >> 3; q++) {
        const on = q < BITMAP_END >> 3 && (d[q >> 5]! & (1 << (q & 31))) !== 0;
        if (on && start < 0) start = q;
        if (!on && start >= 0) {
          out.push(start << 3, (q - start) << 3);
          start = -1;
        }
      }
      if (this.#bufHi > this.#bufLo) out.push(this.#bufLo, this.#bufHi - this.#bufLo);
      out.push(GHCB_OFF_PROTOCOL_VERSION, GHCB_SIZE - GHCB_OFF_PROTOCOL_VERSION);
    }
    this.#dirty.fill(0);
    this.#bufLo = GHCB_SIZE;
    this.#bufHi = BITMAP_END;
    return out;
  }

  /** Write [offset, length] ranges of the shadow to the page, one access each; false at the first that did not complete. */
  #writeRanges(ranges: readonly number[]): boolean {
    const mem = this.cpu.mem;
    for (let i = 0; i < ranges.length; i += 2) {
      const off = ranges[i]!;
      if (mem.write(this.ghcbGpa + off, this.#shadow.subarray(off, off + ranges[i + 1]!)) !== NPT_OK)
        return false;
    }
    return true;
  }

  /** One request as built: send it, VMGEXIT, read the answer back. */
  *#exchange(): Generator<GuestOp, GhcbResult, unknown> {
    if (!this.#send()) yield* this.#sendSlow();
    yield VMGEXIT_OP;
    return this.#receive(0, 0) ?? (yield* this.#receiveSlow(0, 0));
  }

  /**
   * #send's ranges again, each as one write or, where the page is not RAM, trapping stores (the
   * vCPU exits with NPF until KVM can map the page). Rewriting a range that went through is harmless.
   */
  *#sendSlow(): Generator<GuestOp, void, unknown> {
    const ranges = this.#pending;
    for (let i = 0; i < ranges.length; i += 2) {
      const off = ranges[i]!;
      yield* this.#writeGuest(this.ghcbGpa + off, this.#shadow.subarray(off, off + ranges[i + 1]!));
    }
    this.cpu.setGhcbMsr(this.#gpaLo, this.#gpaHi);
  }

  /**
   * After VMGEXIT: read the answer fields and the valid bitmap (ANSWER), and [inLo, inHi) of the page
   * when incoming scratch data lands there, back into the shadow, and classify sw_exit_info_1/2.
   * Loads go straight to the page when the TLB maps it; else one read per range. Undefined when
   * the page is not RAM right now: use #receiveSlow.
   */
  #receive(inLo: number, inHi: number): GhcbResult | undefined {
    const mem = this.cpu.mem;
    const page = mem.page?.(this.ghcbGpa, false);
    const pw = page && this.#wordsOf(page);
    if (page && pw) {
      const sw = this.#words;
      sw[A_RAX] = pw[A_RAX]!;
      sw[A_RAX + 1] = pw[A_RAX + 1]!;
      sw[A_RCX] = pw[A_RCX]!;
      sw[A_RCX + 1] = pw[A_RCX + 1]!;
      sw[A_RCX + 2] = pw[A_RCX + 2]!;
      sw[A_RCX + 3] = pw[A_RCX + 3]!;
      sw[A_RCX + 4] = pw[A_RCX + 4]!;
      sw[A_RCX + 5] = pw[A_RCX + 5]!;
      sw[A_INFO] = pw[A_INFO]!;
      sw[A_INFO + 1] = pw[A_INFO + 1]!;
      sw[A_INFO + 2] = pw[A_INFO + 2]!;
      sw[A_INFO + 3] = pw[A_INFO + 3]!;
      sw[A_BITMAP] = pw[A_BITMAP]!;
      sw[A_BITMAP + 1] = pw[A_BITMAP + 1]!;
      sw[A_BITMAP + 2] = pw[A_BITMAP + 2]!;
      sw[A_BITMAP + 3] = pw[A_BITMAP + 3]!;
      if (inHi > inLo) this.#shadow.set(page.subarray(inLo, inHi), inLo);
      return this.#classify();
    }
    const s = this.#shadow;
    for (let i = 0; i < ANSWER.length; i += 2) {
      const off = ANSWER[i]!;
      if (mem.read(this.ghcbGpa + off, s.subarray(off, off + ANSWER[i + 1]!)) !== NPT_OK) return undefined;
    }
    if (inHi > inLo && mem.read(this.ghcbGpa + inLo, s.subarray(inLo, inHi)) !== NPT_OK) return undefined;
    return this.#classify();
  }

  /** #receive's ranges, each as one read or, where the page is not RAM, trapping loads. */
  *#receiveSlow(inLo: number, inHi: number): Generator<GuestOp, GhcbResult, unknown> {
    const s = this.#shadow;
    for (let i = 0; i < ANSWER.length; i += 2) {
      const off = ANSWER[i]!;
      yield* this.#readGuest(this.ghcbGpa + off, s.subarray(off, off + ANSWER[i + 1]!));
    }
    if (inHi > inLo) yield* this.#readGuest(this.ghcbGpa + inLo, s.subarray(inLo, inHi));
    return this.#classify();
  }

  #classify(): GhcbResult {
    const v = this.#view;
    if (
      (v.getUint32(GHCB_OFF_SW_EXIT_INFO_1, true) |
        v.getUint32(GHCB_OFF_SW_EXIT_INFO_1 + 4, true) |
        v.getUint32(GHCB_OFF_SW_EXIT_INFO_2, true) |
        v.getUint32(GHCB_OFF_SW_EXIT_INFO_2 + 4, true)) ===
      0
    ) {
      return RESULT_OK_0;
    }
    return verifyExceptionInfo(
      v.getBigUint64(GHCB_OFF_SW_EXIT_INFO_1, true),
      v.getBigUint64(GHCB_OFF_SW_EXIT_INFO_2, true),
    );
  }

  /** Write guest memory: one NPT access when it is RAM, else trapping stores. */
  *#writeGuest(gpa: number, src: Uint8Array): Generator<GuestOp, void, unknown> {
    if (this.cpu.mem.write(gpa, src) !== NPT_OK) yield* this.#writeSlow(gpa, src);
  }

  /** Read guest memory: one NPT access when it is RAM, else trapping loads. */
  *#readGuest(gpa: number, dst: Uint8Array): Generator<GuestOp, void, unknown> {
    if (this.cpu.mem.read(gpa, dst) !== NPT_OK) yield* this.#readSlow(gpa, dst);
  }

  /**
   * The slow path of a write: a trapping store of the first (up to 8-byte) piece, which exits to
   * KVM until the page is there (or raises #VC for MMIO), then the rest in one go if it is RAM now.
   */
  *#writeSlow(gpa: number, src: Uint8Array): Generator<GuestOp, void, unknown> {
    yield* this.#trapping(this.#writePieces(gpa, src));
  }

  /**
   * Run trapping accesses with the client marked busy: a #VC raised by one of them must not re-enter
   * the client (Linux would need its backup GHCB, which is not modelled).
   */
  *#trapping(accesses: Generator<GuestOp, void, unknown>): Generator<GuestOp, void, unknown> {
    if (this.#busy) throw new Error('GHCB client re-entered during a trapping access (nested #VC)');
    this.#busy = true;
    try {
      yield* accesses;
    } finally {
      this.#busy = false;
    }
  }

  *#writePieces(gpa: number, src: Uint8Array): Generator<GuestOp, void, unknown> {
    let off = 0;
    while (off < src.length) {
      const n = pieceSize(src.length - off);
      const q = this.#qword;
      q.fill(0);
      q.set(src.subarray(off, off + n));
      yield* this.cpu.store(gpa + off, n, this.#qwordView.getBigUint64(0, true));
      off += n;
      if (off < src.length && this.cpu.mem.write(gpa + off, src.subarray(off)) === NPT_OK) return;
    }
  }

  /** The slow path of a read: trapping loads piece by piece until the rest is RAM again. */
  *#readSlow(gpa: number, dst: Uint8Array): Generator<GuestOp, void, unknown> {
    yield* this.#trapping(this.#readPieces(gpa, dst));
  }

  *#readPieces(gpa: number, dst: Uint8Array): Generator<GuestOp, void, unknown> {
    let off = 0;
    while (off < dst.length) {
      const n = pieceSize(dst.length - off);
      const value = yield* this.cpu.load(gpa + off, n);
      this.#qwordView.setBigUint64(0, value, true);
      dst.set(this.#qword.subarray(0, n), off);
      off += n;
      if (off < dst.length && this.cpu.mem.read(gpa + off, dst.subarray(off)) === NPT_OK) return;
    }
  }
}

/** NaeExchange kinds. */
const NAE_CPUID = 0;
const NAE_IO_OUT = 1;

/**
 * A NAE request (cpuid, ioOut) as a plain iterator instead of a generator: the client's `drive`
 * builds it at the first `next`, sends it and yields VMGEXIT, then reads the answer back. A
 * generator costs an allocation and a resumption more per request. When guest memory is not RAM,
 * the rest runs in a generator (`continueWith`), to which `next`/`return`/`throw` then go.
 */
class NaeExchange<R> implements Generator<GuestOp, R, unknown> {
  /** 0: not started; 1: suspended at the VMGEXIT; 2: done (or handed to `rest`). */
  phase = 0;
  #rest: Generator<GuestOp, unknown, unknown> | undefined;

  constructor(
    readonly drive: (x: NaeExchange<unknown>) => IteratorResult<GuestOp, unknown>,
    readonly kind: number,
    readonly a: number,
    readonly b: number,
    readonly c: number,
    readonly big: bigint,
  ) {}

  /** Hand the rest of the request to `rest` and run it to its first yield. */
  continueWith(rest: Generator<GuestOp, unknown, unknown>): IteratorResult<GuestOp, unknown> {
    this.phase = 2;
    this.#rest = rest;
    return rest.next();
  }

  next(value?: unknown): IteratorResult<GuestOp, R> {
    const rest = this.#rest;
    const r = rest ? rest.next(value) : this.drive(this as NaeExchange<unknown>);
    return r as IteratorResult<GuestOp, R>;
  }

  return(value: R): IteratorResult<GuestOp, R> {
    const rest = this.#rest;
    if (rest) return rest.return(value) as IteratorResult<GuestOp, R>;
    this.phase = 2;
    return { value, done: true };
  }

  throw(e: unknown): IteratorResult<GuestOp, R> {
    const rest = this.#rest;
    if (rest) return rest.throw(e) as IteratorResult<GuestOp, R>;
    this.phase = 2;
    throw e;
  }

  [Symbol.iterator](): Generator<GuestOp, R, unknown> {
    return this;
  }
}

/**
 * `cpuidMsr` as a plain iterator instead of a generator (same protocol, same laziness: nothing
 * happens before the first `next`): write the request into the GHCB MSR, VMGEXIT, read the
 * response, put the GHCB GPA back. A generator costs an allocation and a resumption more per
 * request, a noticeable part of an exit that never leaves the MSR.
 */
class CpuidMsrExchange implements Generator<GuestOp, number | undefined, unknown> {
  /** 0: not started; 1: suspended at the VMGEXIT; 2: done. */
  #phase = 0;

  constructor(
    readonly cpu: ScriptedCpu,
    readonly requestLo: number,
    readonly requestHi: number,
    readonly ghcbGpaLo: number,
    readonly ghcbGpaHi: number,
  ) {}

  next(): IteratorResult<GuestOp, number | undefined> {
    if (this.#phase === 0) {
      this.#phase = 1;
      this.cpu.setGhcbMsr(this.requestLo, this.requestHi);
      return VMGEXIT_STEP;
    }
    if (this.#phase !== 1) return { value: undefined, done: true };
    this.#phase = 2;
    const cpu = this.cpu;
    // GHCB_MSR_INFO and, for CPUID_RESP, the value in [63:32].
    const value = (cpu.ghcbMsrLo & GHCB_MSR_INFO_MASK) === GHCB_MSR_CPUID_RESP ? cpu.ghcbMsrHi : undefined;
    cpu.setGhcbMsr(this.ghcbGpaLo, this.ghcbGpaHi);
    return { value, done: true };
  }

  return(value: number | undefined): IteratorResult<GuestOp, number | undefined> {
    this.#phase = 2;
    return { value, done: true };
  }

  throw(e: unknown): IteratorResult<GuestOp, number | undefined> {
    this.#phase = 2;
    throw e;
  }

  [Symbol.iterator](): Generator<GuestOp, number | undefined, unknown> {
    return this;
  }
}

function elementCount(bytes: number, size: 1 | 2 | 4): number {
  if (bytes % size !== 0)
    throw new RangeError(`${bytes} bytes is not a whole number of ${size}-byte elements`);
  return bytes / size;
}

function pieceSize(remaining: number): AccessSize {
  return remaining >= 8 ? 8 : remaining >= 4 ? 4 : remaining >= 2 ? 2 : 1;
}
