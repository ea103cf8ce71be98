/**
 * Where a GHCB request's bytes live, and how they reach the hypervisor (the memory half of Linux's
 * sev_es_ghcb_hv_call).
 *
 * When the GHCB page is RAM the guest's TLB maps (`cpu.mem.page`), a request is built directly in
 * the page and the answer read directly from it, as a kernel does with its GHCB pointer. The view
 * of the page is taken when a request starts and again after VMGEXIT: it stays good until the
 * vCPU's next exit, and nothing between those points exits.
 *
 * When it is not (the host has not mapped it yet, a GPA that is not RAM, or memory without a TLB),
 * the request is built in a staging buffer that records which bytes the guest stored; before
 * VMGEXIT those bytes go to the page with the guest's own stores, one access per run (trapping
 * stores where the page is not RAM, so the vCPU exits with NPF or raises #VC, as on hardware);
 * after it the fields the hypervisor answers in are loaded back the same way.
 */

import { NPT_OK } from '../cpu/backend.js';
import type { GuestOp, ScriptedCpu } from '../cpu/scripted.js';
import {
  GHCB_DEFAULT_USAGE,
  GHCB_OFF_CPL,
  GHCB_OFF_PROTOCOL_VERSION,
  GHCB_OFF_RAX,
  GHCB_OFF_RCX,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_VALID_BITMAP,
  GHCB_SIZE,
  GHCB_VALID_BITMAP_SIZE,
} from '../uapi/ghcb.js';
import { VMGEXIT_OP } from './ghcb-call.js';
import { GhcbCodec } from './ghcb-codec.js';
import { GuestAccess } from './guest-access.js';
import type { GhcbResult } from './result.js';

/** Where {@link GhcbTransport.exchange} starts: at the beginning, or after `send` or `receive` returned false. */
export type ExchangeFrom = 'start' | 'send-failed' | 'receive-failed';

/** End of the save area and valid bitmap: stores below it are tracked by qword. */
const SAVE_END = GHCB_OFF_VALID_BITMAP + GHCB_VALID_BITMAP_SIZE;
/**
 * What is loaded back after VMGEXIT, as [offset, length] pairs: the fields a hypervisor answers in
 * (KVM's sev_es_sync_to_ghcb: RAX; RCX, RDX, RBX; sw_exit_info_1/2) and the valid bitmap.
 */
const ANSWER: readonly number[] = [
  GHCB_OFF_RAX,
  8,
  GHCB_OFF_RCX,
  24,
  GHCB_OFF_SW_EXIT_INFO_1,
  16,
  GHCB_OFF_VALID_BITMAP,
  GHCB_VALID_BITMAP_SIZE,
];

/**
 * A request built away from the GHCB page, with the guest's stores to it recorded: whole qwords of
 * the save area and valid bitmap (a kernel's stores there are at least that wide), the byte range
 * it wrote past them (shared-buffer data), and the protocol_version/ghcb_usage tail.
 */
class StagedGhcb extends GhcbCodec {
  /** Bit q: the qword at 8q, for q < SAVE_END / 8. */
  readonly #qwords = new Uint32Array(SAVE_END / 8 / 32);
  #bufLo = GHCB_SIZE;
  #bufHi = 0;
  #header = false;
  /** The whole page: the first request, as a kernel zeroes its GHCB before use. */
  #whole = false;

  constructor() {
    super(new Uint8Array(GHCB_SIZE));
  }

  /** Start a request: nothing stored yet; `zeroed`: the page is to be zeroed first. */
  start(zeroed: boolean): void {
    this.#qwords.fill(0);
    this.#bufLo = GHCB_SIZE;
    this.#bufHi = 0;
    this.#header = false;
    this.#whole = zeroed;
    if (zeroed) this.bytes.fill(0);
  }

  override invalidate(): void {
    super.invalidate();
    this.#stored(GHCB_OFF_SW_EXIT_CODE, GHCB_OFF_SW_EXIT_CODE + 8);
    this.#stored(GHCB_OFF_VALID_BITMAP, SAVE_END);
  }

  override set(offset: number, value: bigint): void {
    super.set(offset, value);
    this.#stored(offset, offset + (offset === GHCB_OFF_CPL ? 1 : 8));
  }

  override setNumber(offset: number, value: number): void {
    super.setNumber(offset, value);
    this.#stored(offset, offset + 8);
  }

  override setCpl(cpl: number): void {
    super.setCpl(cpl);
    this.#stored(GHCB_OFF_CPL, GHCB_OFF_CPL + 1);
  }

  override setBytes(offset: number, data: Uint8Array): void {
    super.setBytes(offset, data);
    this.#stored(offset, offset + data.length);
  }

  override setValid(offset: number): void {
    super.setValid(offset);
    this.#stored(GHCB_OFF_VALID_BITMAP, SAVE_END);
  }

  override setValidBit(idx: number, on: boolean): void {
    super.setValidBit(idx, on);
    this.#stored(GHCB_OFF_VALID_BITMAP, SAVE_END);
  }

  override setHeader(version: number, usage: number): void {
    super.setHeader(version, usage);
    this.#header = true;
  }

  /**
   * The stores of the request as [offset, length] pairs, in address order: runs of stored qwords,
   * the bytes past the valid bitmap, then the protocol_version/ghcb_usage tail (or the whole page).
   */
  stores(): number[] {
    if (this.#whole) return [0, GHCB_SIZE];
    const out: number[] = [];
    const q = this.#qwords;
    let start = -1;
    for (let i = 0; i <= SAVE_END / 8; i++) {
      const on = i < SAVE_END / 8 && (q[i >> 5]! & (1 << (i & 31))) !== 0;
      if (on && start < 0) start = i;
      if (!on && start >= 0) {
        out.push(start * 8, (i - start) * 8);
        start = -1;
      }
    }
    if (this.#bufHi > this.#bufLo) out.push(this.#bufLo, this.#bufHi - this.#bufLo);
    if (this.#header) out.push(GHCB_OFF_PROTOCOL_VERSION, GHCB_SIZE - GHCB_OFF_PROTOCOL_VERSION);
    return out;
  }

  #stored(lo: number, hi: number): void {
    const q = this.#qwords;
    for (let i = lo >> 3; i < (Math.min(hi, SAVE_END) + 7) >> 3; i++) q[i >> 5]! |= 1 << (i & 31);
    if (hi > SAVE_END) {
      this.#bufLo = Math.min(this.#bufLo, Math.max(lo, SAVE_END));
      this.#bufHi = Math.max(this.#bufHi, hi);
    }
  }
}

/** The GHCB page of one vCPU's client, and the memory path of its requests. */
export class GhcbTransport {
  /** The guest's loads and stores, with the trapping fallback. */
  readonly access: GuestAccess;
  /** protocol_version and ghcb_usage, written with every request. */
  version: number;
  usage = GHCB_DEFAULT_USAGE;
  /** The GHCB GPA as the two halves WRMSR writes to the GHCB MSR (EAX, EDX). */
  readonly gpaLo: number;
  readonly gpaHi: number;
  readonly #cpu: ScriptedCpu;
  readonly #gpa: number;
  readonly #staging = new StagedGhcb();
  /** Where the current request is built, or the last answer was read. */
  #codec: GhcbCodec = this.#staging;
  /** The codec of the last page view the TLB gave (one per view, not per request). */
  #pageCodec: GhcbCodec = this.#staging;
  /** A request has started and not been sent. */
  #building = false;
  /** No request yet: the first one zeroes the page, as a kernel zeroes its GHCB before use. */
  #fresh = true;
  /** The page view #page handed out last, under which NPT generation, and whether for writing. */
  #pageView: Uint8Array | undefined;
  #pageGen = -1;
  #pageWritable = false;
  /** The staged stores of the request being sent. */
  #stores: number[] = [];

  constructor(cpu: ScriptedCpu, ghcbGpa: number, version: number, fresh = true) {
    this.#fresh = fresh;
    this.#cpu = cpu;
    this.version = version;
    this.#gpa = ghcbGpa;
    this.gpaLo = ghcbGpa >>> 0;
    this.gpaHi = Math.floor(ghcbGpa / 0x1_0000_0000);
    this.access = new GuestAccess(cpu);
  }

  /** Register the GHCB: its GPA into the GHCB MSR (WRMSR; SEV-ES has no REG_GPA request). */
  register(): void {
    this.#cpu.setGhcbMsr(this.gpaLo, this.gpaHi);
  }

  /** The bytes of the request being built, or of the last answer. */
  get codec(): GhcbCodec {
    return this.#codec;
  }

  /**
   * Start a request as every one starts, with vc_ghcb_invalidate: in the page if the TLB maps it
   * for writing, else in the staging buffer.
   */
  begin(): GhcbCodec {
    const g = this.#open();
    g.invalidate();
    return g;
  }

  /** The request being built; when none is, a new one holding what the page holds (no invalidate). */
  building(): GhcbCodec {
    return this.#building ? this.#codec : this.#open();
  }

  #open(): GhcbCodec {
    this.access.checkIdle();
    this.#building = true;
    const g = this.#codecOf(this.#page(true));
    if (!g || this.#fresh) return this.#openSlow(g);
    this.#codec = g;
    return g;
  }

  /** #open's rarer cases: the first request (the page is zeroed), or the page is not RAM. */
  #openSlow(g: GhcbCodec | undefined): GhcbCodec {
    const fresh = this.#fresh;
    this.#fresh = false;
    if (g) {
      if (fresh) g.bytes.fill(0);
      this.#codec = g;
      return g;
    }
    this.#staging.start(fresh);
    this.#codec = this.#staging;
    return this.#staging;
  }

  /**
   * Before VMGEXIT: protocol_version and ghcb_usage into the request being built, the GHCB GPA
   * into the GHCB MSR, and a staged request's stores to the page. False when the page is not RAM
   * right now: finish with sendSlow.
   */
  send(): boolean {
    const g = this.#codec;
    this.#building = false;
    g.setHeader(this.version, this.usage);
    this.#cpu.setGhcbMsr(this.gpaLo, this.gpaHi);
    return g !== this.#staging || this.#sendStaged();
  }

  #sendStaged(): boolean {
    const stores = this.#staging.stores();
    this.#stores = stores;
    const mem = this.#cpu.mem;
    const bytes = this.#staging.bytes;
    for (let i = 0; i < stores.length; i += 2) {
      const off = stores[i]!;
      if (mem.write(this.#gpa + off, bytes.subarray(off, off + stores[i + 1]!)) !== NPT_OK) return false;
    }
    return true;
  }

  /**
   * The staged stores again, each as one access or, where the page is not RAM, trapping stores
   * (the vCPU exits with NPF until KVM can map the page). Storing again what went through is
   * harmless.
   */
  *sendSlow(): Generator<GuestOp, void, unknown> {
    const stores = this.#stores;
    const bytes = this.#staging.bytes;
    for (let i = 0; i < stores.length; i += 2) {
      const off = stores[i]!;
      yield* this.access.write(this.#gpa + off, bytes.subarray(off, off + stores[i + 1]!));
    }
    this.#cpu.setGhcbMsr(this.gpaLo, this.gpaHi);
  }

  /**
   * After VMGEXIT: the answer is read from the page if the TLB maps it; else the answer fields,
   * the valid bitmap and [inLo, inHi) (incoming scratch data) are loaded into the staging buffer.
   * False when the page is not RAM right now: finish with receiveSlow.
   */
  receive(inLo: number, inHi: number): boolean {
    const g = this.#codecOf(this.#page(false));
    if (!g) return this.#receiveStaged(inLo, inHi);
    this.#codec = g;
    return true;
  }

  #receiveStaged(inLo: number, inHi: number): boolean {
    const mem = this.#cpu.mem;
    const bytes = this.#staging.bytes;
    this.#codec = this.#staging;
    for (let i = 0; i < ANSWER.length; i += 2) {
      const off = ANSWER[i]!;
      if (mem.read(this.#gpa + off, bytes.subarray(off, off + ANSWER[i + 1]!)) !== NPT_OK) return false;
    }
    return !(inHi > inLo && mem.read(this.#gpa + inLo, bytes.subarray(inLo, inHi)) !== NPT_OK);
  }

  /** receive's loads again, each as one access or, where the page is not RAM, trapping loads. */
  *receiveSlow(inLo: number, inHi: number): Generator<GuestOp, void, unknown> {
    const bytes = this.#staging.bytes;
    for (let i = 0; i < ANSWER.length; i += 2) {
      const off = ANSWER[i]!;
      yield* this.access.read(this.#gpa + off, bytes.subarray(off, off + ANSWER[i + 1]!));
    }
    if (inHi > inLo) yield* this.access.read(this.#gpa + inLo, bytes.subarray(inLo, inHi));
  }

  /**
   * The request being built, sent and answered (the memory half of sev_es_ghcb_hv_call): send
   * (sendSlow when the page is not RAM), VMGEXIT, receive (receiveSlow likewise), then the answer
   * in sw_exit_info_1/2. [inLo, inHi): incoming scratch data in the page. `from`: the rest of an
   * exchange whose `send` ('send-failed') or `receive` ('receive-failed') has run and returned false.
   */
  *exchange(
    inLo: number,
    inHi: number,
    from: ExchangeFrom = 'start',
  ): Generator<GuestOp, GhcbResult, unknown> {
    if (from !== 'receive-failed') {
      if (from === 'send-failed' || !this.send()) yield* this.sendSlow();
      yield VMGEXIT_OP;
      if (this.receive(inLo, inHi)) return this.#codec.result();
    }
    yield* this.receiveSlow(inLo, inHi);
    return this.#codec.result();
  }

  /**
   * The GHCB page as the guest's TLB maps it for a read or a write: asked again after the nested
   * page table changed (its generation), else the view of the last request (a TLB hit).
   */
  #page(write: boolean): Uint8Array | undefined {
    const mem = this.#cpu.mem;
    const gen = mem.generation;
    if (gen !== undefined && gen === this.#pageGen && (this.#pageWritable || !write)) return this.#pageView;
    const v = mem.page?.(this.#gpa, write);
    this.#pageGen = v ? (gen ?? -1) : -1;
    this.#pageView = v;
    this.#pageWritable = write;
    return v;
  }

  /** The codec over a page view (kept while the TLB hands out the same view); undefined for none. */
  #codecOf(page: Uint8Array | undefined): GhcbCodec | undefined {
    const c = this.#pageCodec;
    return c.bytes === page ? c : this.#newCodec(page);
  }

  /** A codec for a new page view; undefined when there is none or it is not word aligned. */
  #newCodec(page: Uint8Array | undefined): GhcbCodec | undefined {
    if (page === undefined || page.byteOffset % 4 !== 0) return undefined;
    const c = new GhcbCodec(page);
    this.#pageCodec = c;
    return c;
  }
}
