/**
 * The guest side of the GHCB protocol, for scripted SEV-ES guests: what a guest kernel (Linux
 * arch/x86/coco/sev/, OVMF's CcExitLib) does to talk to the hypervisor. Two channels:
 *
 * - the GHCB MSR protocol: write a request into the GHCB MSR, VMGEXIT, read the answer back
 *   (`msrProtocol` and the helpers built on it; ghcb-msr-protocol.ts);
 * - the GHCB page: invalidate, fill sw_exit_code/info and the fields the event needs (each setter
 *   also sets the field's valid bit), VMGEXIT, then check sw_exit_info_1/2 (`vmgexit` and one
 *   helper per NAE event, as Linux's vc_handle_* do).
 *
 * The fields are read and written by ghcb-codec.ts; ghcb-transport.ts decides where those bytes
 * are (the guest's GHCB page itself when it is RAM, else a staging buffer moved with the guest's
 * own, possibly trapping, stores and loads) and hands the page to the hypervisor. CPUID and OUT,
 * the requests a guest makes most, are plain iterators (ghcb-call.ts) rather than generators.
 */

import type { GuestOp, ScriptedCpu } from '../cpu/scripted.js';
import {
  decodeGhcbMsrSevInfo,
  GHCB_FIELDS,
  GHCB_MSR_AP_RESET_HOLD_REQ,
  GHCB_MSR_AP_RESET_HOLD_RESP,
  GHCB_MSR_HV_FT_REQ,
  GHCB_MSR_HV_FT_RESP,
  GHCB_MSR_SEV_INFO_REQ,
  GHCB_MSR_SEV_INFO_RESP,
  GHCB_OFF_CPL,
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
import { GhcbCall } from './ghcb-call.js';
import type { GhcbCodec } from './ghcb-codec.js';
import { CpuidMsrExchange, msrExchange } from './ghcb-msr-protocol.js';
import { GhcbTransport } from './ghcb-transport.js';
import type { GhcbResult } from './result.js';

/**
 * Where a request's scratch area lives: inside the GHCB shared buffer (`offset` bytes into it,
 * default 0, i.e. GHCB + 0x800, as Linux and OVMF place it), or at a guest physical address outside
 * the GHCB page (GHCB protocol v1 only, as far as KVM is concerned): any u64, as a bigint, which
 * goes into sw_scratch as it is. The guest moves the data there with its own stores and loads only
 * where they reach (below {@link GUEST_PHYS_REACH}); a scratch area beyond is named, not touched,
 * and KVM answers it as it would any guest's (hostile) choice.
 */
export type Scratch = { readonly in: 'ghcb'; readonly offset?: number } | { readonly gpa: bigint };

/**
 * The guest physical addresses the guest's own loads and stores reach (`cpu.mem` takes numbers;
 * no x86 MAXPHYADDR goes beyond 52 bits anyway).
 */
export const GUEST_PHYS_REACH = 2n ** 53n;

/** Options of a {@link GhcbClient}. */
export interface GhcbClientOptions {
  /** GHCB protocol version written to protocol_version with every request (default 1). */
  readonly version?: 1 | 2;
  /**
   * The page is already in use (a second client on the GHCB of a vCPU that has one, as Linux's
   * nested #VC path borrows it): the first request does not zero it (default true: it does).
   */
  readonly fresh?: boolean;
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

const MASK32 = 0xffff_ffffn;
/** Linux's GHCB save-area field names (with a valid bit) to offsets. */
const FIELD_OFFSETS: ReadonlyMap<string, number> = new Map(
  GHCB_FIELDS.filter((f) => f.validBit !== undefined).map((f) => [f.name, f.offset]),
);
/** Operand masks by I/O size. */
const SIZE_MASK: readonly number[] = [0, 0xff, 0xffff, 0, 0xffff_ffff];
const NO_DATA = new Uint8Array(0);

type Fields = Readonly<Record<string, bigint>> | readonly (readonly [offset: number, value: bigint])[];

function checkSaveAreaOffset(offset: number): void {
  if (offset === GHCB_OFF_CPL) return;
  if (!Number.isInteger(offset) || offset < 0 || offset >= GHCB_OFF_VALID_BITMAP || offset % 8 !== 0) {
    throw new RangeError(`0x${offset.toString(16)} is not a GHCB save-area field with a valid bit`);
  }
}

function checkPageRange(offset: number, len: number): void {
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

/** Page offset of a scratch area of `len` bytes in the GHCB shared buffer (checked to fit). */
function ghcbScratchOffset(scratch: { readonly offset?: number }, len: number): number {
  const off = GHCB_OFF_SHARED_BUFFER + (scratch.offset ?? 0);
  checkPageRange(off, len);
  return off;
}

/** `vmgexit`'s fields as [offset, value] pairs, checked before any of them is written. */
function fieldList(fields: Fields): readonly (readonly [number, bigint])[] {
  if (Array.isArray(fields)) {
    const list = fields as readonly (readonly [number, bigint])[];
    for (const [offset] of list) checkSaveAreaOffset(offset);
    return list;
  }
  return Object.entries(fields as Readonly<Record<string, bigint>>).map(([name, value]) => {
    const offset = FIELD_OFFSETS.get(name);
    if (offset === undefined) throw new RangeError(`unknown GHCB field ${name}`);
    return [offset, value] as const;
  });
}

const U64_LIMIT = 1n << 64n;

/**
 * An outside scratch area's GPA (checked to be a u64), and where the guest's own accesses reach it:
 * its start as a number when all `len` bytes lie below GUEST_PHYS_REACH, else undefined.
 */
function outsideScratch(scratch: { readonly gpa: bigint }, len: number): { gpa: bigint; at?: number } {
  const gpa = scratch.gpa;
  if (typeof gpa !== 'bigint' || gpa < 0n || gpa >= U64_LIMIT) {
    throw new RangeError(`scratch GPA ${String(gpa)} is not a u64 (a bigint in [0, 2^64))`);
  }
  return gpa + BigInt(len) <= GUEST_PHYS_REACH ? { gpa, at: Number(gpa) } : { gpa };
}

function elementCount(bytes: number, size: 1 | 2 | 4): number {
  if (bytes % size !== 0)
    throw new RangeError(`${bytes} bytes is not a whole number of ${size}-byte elements`);
  return bytes / size;
}

/**
 * The guest's GHCB client for one vCPU: the GHCB at `ghcbGpa` (a shared, unencrypted page) and the
 * vCPU's GHCB MSR. Every request method is a generator to run inside a guest program with
 * `yield*`. One request at a time: re-entering the client from a #VC raised by its own trapping
 * memory access throws; a #VC handler with a backup (VcHandlerOptions.backup) serves such a nested
 * #VC through a second client on the same page instead, as Linux's backup GHCB does.
 */
export class GhcbClient {
  /** Guest physical address of the GHCB page (page aligned). */
  readonly ghcbGpa: number;
  /** The vCPU this client runs on. */
  readonly cpu: ScriptedCpu;
  readonly #tx: GhcbTransport;
  /** Where the last request's scratch data is: a buffer and an offset into it. */
  #dataBuf: Uint8Array = NO_DATA;
  #dataOff = 0;
  /** Incoming scratch data from outside the GHCB lands here. */
  #outside = new Uint8Array(64);

  /**
   * A client for the GHCB at `ghcbGpa`. Its first request zeroes the page, as a guest kernel
   * zeroes its GHCB pages before use.
   */
  constructor(cpu: ScriptedCpu, ghcbGpa: number, opts: GhcbClientOptions = {}) {
    if (!Number.isSafeInteger(ghcbGpa) || ghcbGpa < 0 || ghcbGpa % GHCB_SIZE !== 0) {
      throw new RangeError(`GHCB GPA ${ghcbGpa} is not a page-aligned guest physical address`);
    }
    this.cpu = cpu;
    this.ghcbGpa = ghcbGpa;
    this.#tx = new GhcbTransport(cpu, ghcbGpa, opts.version ?? 1, opts.fresh ?? true);
  }

  /**
   * True while the client is in a trapping access to guest memory (its fallback when the GHCB or
   * an outside scratch area is not RAM right now). A #VC raised there must not re-enter the client.
   */
  get busy(): boolean {
    return this.#tx.access.busy;
  }

  // ---------------------------------------------------------------- GHCB MSR protocol

  /**
   * One GHCB MSR protocol exchange: write `request` into the GHCB MSR, VMGEXIT, read the response,
   * then put the GHCB GPA back into the MSR (as Linux does before using the GHCB page again).
   * Returns the raw response.
   */
  msrProtocol(request: bigint): Generator<GuestOp, bigint, unknown> {
    const tx = this.#tx;
    return msrExchange(this.cpu, request, tx.gpaLo, tx.gpaHi);
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
    const tx = this.#tx;
    return new CpuidMsrExchange(this.cpu, fn, reg, tx.gpaLo, tx.gpaHi);
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
    this.#tx.register();
  }

  // ---------------------------------------------------------------- GHCB page: building requests

  /** Start a request with Linux's vc_ghcb_invalidate: clear sw_exit_code and the valid bitmap. */
  invalidate(): void {
    this.#tx.begin();
  }

  /**
   * Write a save-area field of the request and set its valid bit (offset / 8), like Linux's
   * ghcb_set_*: a u64 at any 8-aligned offset below the valid bitmap, or the 1-byte cpl at 0xCB.
   */
  setField(offset: number, value: bigint): void {
    checkSaveAreaOffset(offset);
    this.#tx.building().set(offset, value);
  }

  /**
   * A save-area field as the guest reads it now: after an exit, as the hypervisor left it in the
   * page (when the page was not RAM, RAX, RBX, RCX, RDX, sw_exit_info_1/2 and the valid bitmap as
   * loaded back, any other field as the client last staged it).
   */
  getField(offset: number): bigint {
    checkSaveAreaOffset(offset);
    return this.#tx.codec.get(offset);
  }

  /** Whether the valid bit of the field at `offset` is set (Linux's ghcb_*_is_valid). */
  isValid(offset: number): boolean {
    checkSaveAreaOffset(offset);
    return this.#tx.codec.isValid(offset);
  }

  /** Set or clear valid-bitmap bit `idx` (0..127) of the request, for hostile requests. */
  setValidBit(idx: number, on: boolean): void {
    if (!Number.isInteger(idx) || idx < 0 || idx >= GHCB_VALID_BITMAP_SIZE * 8) {
      throw new RangeError(`valid bit ${idx} out of range`);
    }
    this.#tx.building().setValidBit(idx, on);
  }

  /** The ghcb_usage written with every request from now on (default 0, the only value KVM accepts). */
  setUsage(usage: number): void {
    this.#tx.usage = usage >>> 0;
  }

  /** The protocol_version written with every request from now on (default: the client's version). */
  setProtocolVersion(version: number): void {
    this.#tx.version = version & 0xffff;
  }

  /**
   * Write `bytes` at `offset` of the GHCB page now, e.g. to put garbage where the protocol does not
   * expect it. A later request may overwrite it (the first one zeroes the page).
   */
  *writeRaw(offset: number, bytes: Uint8Array): Generator<GuestOp, void, unknown> {
    checkPageRange(offset, bytes.length);
    yield* this.#tx.access.write(this.ghcbGpa + offset, bytes);
  }

  /** Read `len` bytes at `offset` of the GHCB page from guest memory now. */
  *readRaw(offset: number, len: number): Generator<GuestOp, Uint8Array, unknown> {
    checkPageRange(offset, len);
    const dst = new Uint8Array(len);
    yield* this.#tx.access.read(this.ghcbGpa + offset, dst);
    return dst;
  }

  // ---------------------------------------------------------------- GHCB page: issuing requests

  /**
   * Issue a NAE request (Linux's sev_es_ghcb_hv_call): invalidate, set sw_exit_code/info1/info2
   * and `fields` (by Linux field name or by offset, each marked valid), write usage and
   * protocol_version, VMGEXIT, read back sw_exit_info_1/2 and return the answer. Register values
   * the hypervisor wrote back (rax, rbx, rcx, rdx) are available afterwards via getField/isValid.
   */
  *vmgexit(
    exitCode: bigint | number,
    info1: bigint,
    info2: bigint,
    fields?: Fields,
  ): Generator<GuestOp, GhcbResult, unknown> {
    const list = fields && fieldList(fields);
    const g = this.#tx.begin();
    if (list) for (const [offset, value] of list) g.set(offset, value);
    if (typeof exitCode === 'number' && exitCode >= 0) g.setNumber(GHCB_OFF_SW_EXIT_CODE, exitCode);
    else g.set(GHCB_OFF_SW_EXIT_CODE, BigInt(exitCode));
    g.set(GHCB_OFF_SW_EXIT_INFO_1, info1);
    g.set(GHCB_OFF_SW_EXIT_INFO_2, info2);
    return yield* this.#tx.exchange(0, 0);
  }

  /**
   * VMGEXIT with the request as built with invalidate/setField/setValidBit (or the page as it is,
   * when nothing was built), plus usage and protocol_version: no invalidate, no sw_exit_* set. For
   * hostile requests. Returns the answer, read back like `vmgexit`.
   */
  *vmgexitRaw(): Generator<GuestOp, GhcbResult, unknown> {
    this.#tx.building();
    return yield* this.#tx.exchange(0, 0);
  }

  // ---------------------------------------------------------------- NAE events

  /**
   * CPUID (SVM_EXIT_CPUID): RAX = fn, RCX = index; XCR0 only for leaf 0xD (KVM needs it there; OVMF
   * sends it only there). Returns EAX..EDX from the GHCB registers.
   */
  cpuid(fn: number, index = 0, xcr0 = 1n): Generator<GuestOp, GhcbCpuidReply, unknown> {
    return new CpuidCall(this.#tx, fn, index, xcr0);
  }

  /** OUT (SVM_EXIT_IOIO): exit_info_1 from encodeIoioInfo, RAX = value (low `size` bytes). */
  ioOut(port: number, size: 1 | 2 | 4, value: number): Generator<GuestOp, GhcbResult, unknown> {
    return new IoOutCall(this.#tx, port, size, value);
  }

  /** IN (SVM_EXIT_IOIO): no RAX sent (KVM needs none); the value is RAX's low `size` bytes. */
  *ioIn(port: number, size: 1 | 2 | 4): Generator<GuestOp, GhcbValueReply<number>, unknown> {
    const info1 = encodeIoioInfo({ port, size, in: true });
    this.#tx.begin();
    const result = yield* this.#hvCall(SVM_EXIT_IOIO, info1, 0);
    const r = this.#tx.codec;
    return {
      result,
      value: (r.getU32(GHCB_OFF_RAX) & SIZE_MASK[size]!) >>> 0,
      regsValid: r.isValid(GHCB_OFF_RAX),
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
    return yield* this.#scratchOut(SVM_EXIT_IOIO, info1, count, data, scratch);
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
    const result = yield* this.#scratchIn(SVM_EXIT_IOIO, info1, count, len, scratch);
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
    return yield* this.#scratchOut(SVM_VMGEXIT_MMIO_WRITE, gpa, data.length, data, scratch);
  }

  /** RDMSR (SVM_EXIT_MSR, exit_info_1 = 0): RCX = index; the value is EDX:EAX. */
  *rdmsr(index: number): Generator<GuestOp, GhcbValueReply<bigint>, unknown> {
    const g = this.#tx.begin();
    g.setNumber(GHCB_OFF_RCX, index >>> 0);
    return this.#edxEax(yield* this.#hvCall(SVM_EXIT_MSR, 0, 0));
  }

  /** WRMSR (SVM_EXIT_MSR, exit_info_1 = 1): RCX = index, RAX = low and RDX = high 32 bits of value. */
  *wrmsr(index: number, value: bigint): Generator<GuestOp, GhcbResult, unknown> {
    const g = this.#tx.begin();
    g.setNumber(GHCB_OFF_RCX, index >>> 0);
    g.set(GHCB_OFF_RAX, value & MASK32);
    g.set(GHCB_OFF_RDX, (value >> 32n) & MASK32);
    return yield* this.#hvCall(SVM_EXIT_MSR, 1, 0);
  }

  /** RDTSC (SVM_EXIT_RDTSC, no inputs): the value is EDX:EAX. */
  *rdtsc(): Generator<GuestOp, GhcbValueReply<bigint>, unknown> {
    return this.#edxEax(yield* this.#noInputs(SVM_EXIT_RDTSC));
  }

  /** RDTSCP (SVM_EXIT_RDTSCP, no inputs): EDX:EAX and TSC_AUX in ECX. */
  *rdtscp(): Generator<GuestOp, GhcbRdtscpReply, unknown> {
    const r = this.#edxEax(yield* this.#noInputs(SVM_EXIT_RDTSCP));
    const g = this.#tx.codec;
    return { ...r, aux: g.getU32(GHCB_OFF_RCX), regsValid: r.regsValid && g.isValid(GHCB_OFF_RCX) };
  }

  /** RDPMC (SVM_EXIT_RDPMC): RCX = counter; the value is EDX:EAX. */
  *rdpmc(counter: number): Generator<GuestOp, GhcbValueReply<bigint>, unknown> {
    const g = this.#tx.begin();
    g.setNumber(GHCB_OFF_RCX, counter >>> 0);
    return this.#edxEax(yield* this.#hvCall(SVM_EXIT_RDPMC, 0, 0));
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
    const g = this.#tx.begin();
    g.set(GHCB_OFF_RAX, nr);
    g.setCpl(cpl & 0xff);
    g.set(GHCB_OFF_RBX, args[0] ?? 0n);
    g.set(GHCB_OFF_RCX, args[1] ?? 0n);
    g.set(GHCB_OFF_RDX, args[2] ?? 0n);
    g.set(GHCB_OFF_RSI, args[3] ?? 0n);
    return this.#rax(yield* this.#hvCall(SVM_EXIT_VMMCALL, 0, 0));
  }

  /** INVD (SVM_EXIT_INVD, no inputs). */
  invd(): Generator<GuestOp, GhcbResult, unknown> {
    return this.#noInputs(SVM_EXIT_INVD);
  }

  /** WBINVD (SVM_EXIT_WBINVD, no inputs). */
  wbinvd(): Generator<GuestOp, GhcbResult, unknown> {
    return this.#noInputs(SVM_EXIT_WBINVD);
  }

  /** MONITOR (SVM_EXIT_MONITOR): RAX (linear = physical address), RCX, RDX. */
  *monitor(rax: bigint, rcx: bigint, rdx: bigint): Generator<GuestOp, GhcbResult, unknown> {
    const g = this.#tx.begin();
    g.set(GHCB_OFF_RAX, rax);
    g.set(GHCB_OFF_RCX, rcx);
    g.set(GHCB_OFF_RDX, rdx);
    return yield* this.#hvCall(SVM_EXIT_MONITOR, 0, 0);
  }

  /** MWAIT (SVM_EXIT_MWAIT): RAX (hints), RCX (extensions). */
  *mwait(rax: bigint, rcx: bigint): Generator<GuestOp, GhcbResult, unknown> {
    const g = this.#tx.begin();
    g.set(GHCB_OFF_RAX, rax);
    g.set(GHCB_OFF_RCX, rcx);
    return yield* this.#hvCall(SVM_EXIT_MWAIT, 0, 0);
  }

  /** Read DR7 (SVM_EXIT_READ_DR7, no inputs): the value is RAX. */
  *readDr7(): Generator<GuestOp, GhcbValueReply<bigint>, unknown> {
    return this.#rax(yield* this.#noInputs(SVM_EXIT_READ_DR7));
  }

  /** Write DR7 (SVM_EXIT_WRITE_DR7): RAX = value (Linux's vc_handle_dr7_write). */
  *writeDr7(value: bigint): Generator<GuestOp, GhcbResult, unknown> {
    const g = this.#tx.begin();
    g.set(GHCB_OFF_RAX, value);
    return yield* this.#hvCall(SVM_EXIT_WRITE_DR7, 0, 0);
  }

  /** NMI_COMPLETE (Linux's sev_es_nmi_complete). */
  nmiComplete(): Generator<GuestOp, GhcbResult, unknown> {
    return this.#noInputs(SVM_VMGEXIT_NMI_COMPLETE);
  }

  /**
   * One round of AP_HLT_LOOP (Linux's sev_es_ap_hlt_loop loops on it): `woken` when
   * sw_exit_info_2 came back valid and non-zero (a SIPI arrived).
   */
  *apHltLoop(): Generator<GuestOp, { result: GhcbResult; woken: boolean }, unknown> {
    const result = yield* this.vmgexit(SVM_VMGEXIT_AP_HLT_LOOP, 0n, 0n);
    return { result, woken: this.#tx.codec.isValid(GHCB_OFF_SW_EXIT_INFO_2) && result.info2 !== 0n };
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
    const g = this.#tx.codec;
    const valid = g.isValid(GHCB_OFF_SW_EXIT_INFO_1) && g.isValid(GHCB_OFF_SW_EXIT_INFO_2);
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
    return yield* this.#scratchIn(SVM_VMGEXIT_MMIO_READ, gpa, len, len, scratch);
  }

  /**
   * Where the last request's scratch data is: a buffer and an offset into it, good until the next
   * request or exit (it may be the GHCB page itself).
   */
  scratchData(): { buf: Uint8Array; offset: number } {
    return { buf: this.#dataBuf, offset: this.#dataOff };
  }

  // ---------------------------------------------------------------- internals

  /**
   * Linux's sev_es_ghcb_hv_call for the request being built: sw_exit_code and sw_exit_info_1/2,
   * then the exchange (protocol_version and ghcb_usage, the GHCB GPA into the GHCB MSR, VMGEXIT,
   * the answer in sw_exit_info_1/2 as verify_exception_info classifies it; GhcbTransport.exchange).
   * [inLo, inHi): incoming scratch data in the page.
   */
  #hvCall(
    code: number,
    info1: number,
    info2: number,
    inLo = 0,
    inHi = 0,
  ): Generator<GuestOp, GhcbResult, unknown> {
    const tx = this.#tx;
    tx.codec.setSwExit(code, info1, info2);
    return tx.exchange(inLo, inHi);
  }

  /** A request with nothing but its exit code. */
  *#noInputs(code: number): Generator<GuestOp, GhcbResult, unknown> {
    this.#tx.begin();
    return yield* this.#hvCall(code, 0, 0);
  }

  /** The answer in RAX. */
  #rax(result: GhcbResult): GhcbValueReply<bigint> {
    const g = this.#tx.codec;
    return { result, value: g.get(GHCB_OFF_RAX), regsValid: g.isValid(GHCB_OFF_RAX) };
  }

  /** The answer in EDX:EAX. */
  #edxEax(result: GhcbResult): GhcbValueReply<bigint> {
    const g = this.#tx.codec;
    return {
      result,
      value: g.getEdxEax(),
      regsValid: g.isValid(GHCB_OFF_RAX) && g.isValid(GHCB_OFF_RDX),
    };
  }

  /** A request whose scratch area carries `data` to the hypervisor (OUTS, MMIO write). */
  *#scratchOut(
    code: number,
    info1: number,
    info2: number,
    data: Uint8Array,
    scratch: Scratch,
  ): Generator<GuestOp, GhcbResult, unknown> {
    let g: GhcbCodec;
    if ('gpa' in scratch) {
      const { gpa, at } = outsideScratch(scratch, data.length);
      // Stored before the request starts: these stores may exit (NPF), and a request's view of
      // the GHCB page lasts only until the next exit.
      this.#tx.access.checkIdle();
      if (at !== undefined) yield* this.#tx.access.write(at, data);
      g = this.#tx.begin();
      g.set(GHCB_OFF_SW_SCRATCH, gpa);
      this.#dataBuf = data;
      this.#dataOff = 0;
    } else {
      const off = ghcbScratchOffset(scratch, data.length);
      g = this.#tx.begin();
      g.setBytes(off, data);
      g.setNumber(GHCB_OFF_SW_SCRATCH, this.ghcbGpa + off);
      this.#dataBuf = g.bytes;
      this.#dataOff = off;
    }
    return yield* this.#hvCall(code, info1, info2);
  }

  /**
   * A request whose answer comes back in its scratch area (INS, MMIO read): `len` bytes left at
   * scratchData(). Data outside the GHCB is looked at only on success, as a guest kernel does (and
   * only where the guest's loads reach; zeros otherwise).
   */
  *#scratchIn(
    code: number,
    info1: number,
    info2: number,
    len: number,
    scratch: Scratch,
  ): Generator<GuestOp, GhcbResult, unknown> {
    if ('gpa' in scratch) {
      const { gpa, at } = outsideScratch(scratch, len);
      this.#tx.begin().set(GHCB_OFF_SW_SCRATCH, gpa);
      const result = yield* this.#hvCall(code, info1, info2);
      if (this.#outside.length < len) this.#outside = new Uint8Array(Math.max(len, this.#outside.length * 2));
      const dst = this.#outside.subarray(0, len);
      if (len > 0 && result.kind === 'ok' && at !== undefined) yield* this.#tx.access.read(at, dst);
      else dst.fill(0);
      this.#dataBuf = this.#outside;
      this.#dataOff = 0;
      return result;
    }
    const off = ghcbScratchOffset(scratch, len);
    this.#tx.begin().setNumber(GHCB_OFF_SW_SCRATCH, this.ghcbGpa + off);
    const result = yield* this.#hvCall(code, info1, info2, off, off + len);
    this.#dataBuf = this.#tx.codec.bytes;
    this.#dataOff = off;
    return result;
  }
}

/** CPUID: RAX = fn, RCX = index, XCR0 for leaf 0xD; the reply is EAX..EDX (GhcbClient.cpuid). */
class CpuidCall extends GhcbCall<GhcbCpuidReply> {
  constructor(
    tx: GhcbTransport,
    readonly fn: number,
    readonly index: number,
    readonly xcr0: bigint,
  ) {
    super(tx);
  }

  protected build(g: GhcbCodec): void {
    const fn = this.fn >>> 0;
    g.setNumber(GHCB_OFF_RAX, fn);
    g.setNumber(GHCB_OFF_RCX, this.index >>> 0);
    if (fn === 0xd) g.set(GHCB_OFF_XCR0, this.xcr0);
    g.setSwExit(SVM_EXIT_CPUID, 0, 0);
  }

  protected answer(g: GhcbCodec, result: GhcbResult): GhcbCpuidReply {
    return {
      result,
      eax: g.getU32(GHCB_OFF_RAX),
      ebx: g.getU32(GHCB_OFF_RBX),
      ecx: g.getU32(GHCB_OFF_RCX),
      edx: g.getU32(GHCB_OFF_RDX),
      regsValid:
        g.isValid(GHCB_OFF_RAX) &&
        g.isValid(GHCB_OFF_RBX) &&
        g.isValid(GHCB_OFF_RCX) &&
        g.isValid(GHCB_OFF_RDX),
    };
  }
}

/** OUT: exit_info_1 from encodeIoioInfo, RAX = the value's low `size` bytes (GhcbClient.ioOut). */
class IoOutCall extends GhcbCall<GhcbResult> {
  constructor(
    tx: GhcbTransport,
    readonly port: number,
    readonly size: 1 | 2 | 4,
    readonly value: number,
  ) {
    super(tx);
  }

  protected build(g: GhcbCodec): void {
    const info1 = encodeIoioInfo({ port: this.port, size: this.size, in: false });
    g.setNumber(GHCB_OFF_RAX, (this.value & SIZE_MASK[this.size]!) >>> 0);
    g.setSwExit(SVM_EXIT_IOIO, info1, 0);
  }

  protected answer(_g: GhcbCodec, result: GhcbResult): GhcbResult {
    return result;
  }
}
