/**
 * The GHCB page as a guest reads and writes it: Linux's GHCB accessors (ghcb_set_rax,
 * ghcb_rax_is_valid, ghcb_set_sw_exit_code, vc_ghcb_invalidate...) over any 4 KiB of bytes. The
 * codec does not know where those bytes are: the guest's GHCB page itself, or a staging buffer
 * that ghcb-transport.ts moves to the page with the guest's own stores and loads.
 */

import {
  assertLittleEndianHost,
  GHCB_OFF_CPL,
  GHCB_OFF_PROTOCOL_VERSION,
  GHCB_OFF_RAX,
  GHCB_OFF_RDX,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_USAGE,
  GHCB_OFF_VALID_BITMAP,
  GHCB_SIZE,
} from '../uapi/ghcb.js';
import { type GhcbResult, verifyExceptionInfo } from './result.js';

// Fields are read and written as the host's 32-bit words: the GHCB is little-endian, and so is
// every host Node runs on that matters here (x86-64, arm64).
assertLittleEndianHost('the GHCB codec needs a little-endian host');

const TWO32 = 0x1_0000_0000;
/** Word indices of sw_exit_code, sw_exit_info_1 and sw_exit_info_2 (its two halves after it), and the valid bitmap. */
const W_EXIT = GHCB_OFF_SW_EXIT_CODE / 4;
const W_INFO_1 = GHCB_OFF_SW_EXIT_INFO_1 / 4;
const W_INFO_2 = GHCB_OFF_SW_EXIT_INFO_2 / 4;
const W_BITMAP = GHCB_OFF_VALID_BITMAP / 4;
/** The answer nearly every request gets (sw_exit_info_1 = sw_exit_info_2 = 0); results are immutable. */
const RESULT_OK_0: GhcbResult = Object.freeze({ kind: 'ok', info1: 0n, info2: 0n });

/**
 * A GHCB page's bytes with Linux's accessors. A field's valid bit is bit (offset / 8) of
 * valid_bitmap (GHCB_BITMAP_IDX), i.e. bit (offset / 8) % 32 of the bitmap's word offset / 256.
 */
export class GhcbCodec {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** The page as 32-bit words: `bytes` must be 4-byte aligned. */
  readonly words: Uint32Array;

  constructor(bytes: Uint8Array) {
    if (bytes.length !== GHCB_SIZE) throw new RangeError(`a GHCB is ${GHCB_SIZE} bytes, not ${bytes.length}`);
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, GHCB_SIZE);
    this.words = new Uint32Array(bytes.buffer, bytes.byteOffset, GHCB_SIZE / 4);
  }

  /** vc_ghcb_invalidate: sw_exit_code and the whole valid bitmap cleared. */
  invalidate(): void {
    const w = this.words;
    w[W_EXIT] = 0;
    w[W_EXIT + 1] = 0;
    w[W_BITMAP] = 0;
    w[W_BITMAP + 1] = 0;
    w[W_BITMAP + 2] = 0;
    w[W_BITMAP + 3] = 0;
  }

  /** ghcb_set_<field>: the u64 at `offset` (the u8 cpl at GHCB_OFF_CPL) and its valid bit. */
  set(offset: number, value: bigint): void {
    if (offset === GHCB_OFF_CPL) this.bytes[offset] = Number(value & 0xffn);
    else this.view.setBigUint64(offset, value, true);
    this.setValid(offset);
  }

  /** `set` for a u64 field (not cpl) and a value in [0, 2^53), without a BigInt. */
  setNumber(offset: number, value: number): void {
    const w = this.words;
    // A word store keeps the value modulo 2^32: the low half, then the high half.
    w[offset >> 2] = value;
    w[(offset >> 2) + 1] = value / TWO32;
    this.setValid(offset);
  }

  /** ghcb_set_cpl. */
  setCpl(cpl: number): void {
    this.bytes[GHCB_OFF_CPL] = cpl;
    this.setValid(GHCB_OFF_CPL);
  }

  /** ghcb_set_sw_exit_code / _info_1 / _info_2, each marked valid (values in [0, 2^53)). */
  setSwExit(code: number, info1: number, info2: number): void {
    this.setNumber(GHCB_OFF_SW_EXIT_CODE, code);
    this.setNumber(GHCB_OFF_SW_EXIT_INFO_1, info1);
    this.setNumber(GHCB_OFF_SW_EXIT_INFO_2, info2);
  }

  /** Bytes outside the save-area fields, e.g. scratch data in the shared buffer (no valid bit). */
  setBytes(offset: number, data: Uint8Array): void {
    this.bytes.set(data, offset);
  }

  /** Set the valid bit of the field at `offset`. */
  setValid(offset: number): void {
    this.words[W_BITMAP + (offset >> 8)]! |= 1 << ((offset >> 3) & 31);
  }

  /** Set or clear bit `idx` of valid_bitmap. */
  setValidBit(idx: number, on: boolean): void {
    const w = this.words;
    const i = W_BITMAP + (idx >> 5);
    w[i] = on ? w[i]! | (1 << (idx & 31)) : w[i]! & ~(1 << (idx & 31));
  }

  /** ghcb_<field>_is_valid. */
  isValid(offset: number): boolean {
    return ((this.words[W_BITMAP + (offset >> 8)]! >>> ((offset >> 3) & 31)) & 1) !== 0;
  }

  /** The u64 field at `offset` (the u8 cpl at GHCB_OFF_CPL), whatever its valid bit. */
  get(offset: number): bigint {
    if (offset === GHCB_OFF_CPL) return BigInt(this.bytes[offset]!);
    return this.view.getBigUint64(offset, true);
  }

  /** The low 32 bits of the field at `offset` (EAX of RAX...). */
  getU32(offset: number): number {
    return this.words[offset >> 2]!;
  }

  /** EDX:EAX from the low halves of RDX and RAX (RDMSR, RDTSC...). */
  getEdxEax(): bigint {
    return (BigInt(this.getU32(GHCB_OFF_RDX)) << 32n) | BigInt(this.getU32(GHCB_OFF_RAX));
  }

  /** protocol_version and ghcb_usage, which sev_es_ghcb_hv_call writes before every VMGEXIT. */
  setHeader(version: number, usage: number): void {
    this.view.setUint16(GHCB_OFF_PROTOCOL_VERSION, version, true);
    this.words[GHCB_OFF_USAGE >> 2] = usage;
  }

  /** The hypervisor's answer in sw_exit_info_1/2, classified as Linux's verify_exception_info does. */
  result(): GhcbResult {
    const w = this.words;
    // Both zero (success) is the common answer: no BigInts for it.
    return (w[W_INFO_1]! | w[W_INFO_1 + 1]! | w[W_INFO_2]! | w[W_INFO_2 + 1]!) === 0
      ? RESULT_OK_0
      : this.#verify();
  }

  #verify(): GhcbResult {
    return verifyExceptionInfo(this.get(GHCB_OFF_SW_EXIT_INFO_1), this.get(GHCB_OFF_SW_EXIT_INFO_2));
  }
}
