/**
 * The GHCB page of a VMGEXIT as the explorer shows it: every named field of struct ghcb
 * (src/uapi/ghcb.ts GHCB_FIELDS) with its offset, its value in hex and its valid bit, what changed
 * since another snapshot, and where sw_scratch points relative to the page's shared buffer.
 * Pure functions over bytes: the panel renders them, tests can call them.
 */

import {
  GHCB_FIELDS,
  GHCB_OFF_SHARED_BUFFER,
  GHCB_OFF_SW_SCRATCH,
  GHCB_OFF_VALID_BITMAP,
  GHCB_SHARED_BUF_SIZE,
  GHCB_SIZE,
  type GhcbField,
} from '../src/uapi/ghcb.js';

/** One decoded field. */
export interface FieldView {
  readonly field: GhcbField;
  /** Little-endian value. */
  readonly value: bigint;
  /** `0x` and 2 hex digits per byte. */
  readonly hex: string;
  /** The field's valid bit, or undefined for a field outside valid_bitmap. */
  readonly valid: boolean | undefined;
}

/**
 * The 4096 bytes of a base64 snapshot. A shorter snapshot is the page with its trailing zero
 * bytes left out (the rest reads as zero); a longer one is cut.
 */
export function ghcbBytes(base64: string): Uint8Array {
  const bin = atob(base64);
  const out = new Uint8Array(GHCB_SIZE);
  const n = Math.min(bin.length, GHCB_SIZE);
  for (let i = 0; i < n; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The little-endian unsigned value of `size` bytes at `offset`. */
export function readLe(bytes: Uint8Array, offset: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[offset + i] ?? 0);
  return v;
}

/** Bit `idx` of valid_bitmap. */
export function validBit(bytes: Uint8Array, idx: number): boolean {
  return (((bytes[GHCB_OFF_VALID_BITMAP + (idx >> 3)] ?? 0) >> (idx & 7)) & 1) === 1;
}

/** `0x` + `digits` hex digits (at least). */
export function hex(v: bigint | number, digits = 1): string {
  return `0x${v.toString(16).padStart(digits, '0')}`;
}

/** Every named field of the page, in GHCB_FIELDS order. */
export function decodeGhcb(bytes: Uint8Array): FieldView[] {
  return GHCB_FIELDS.map((field) => {
    const value = readLe(bytes, field.offset, field.size);
    return {
      field,
      value,
      hex: hex(value, field.size * 2),
      valid: field.validBit === undefined ? undefined : validBit(bytes, field.validBit),
    };
  });
}

/** Names of the fields whose value or valid bit differ between two decodings of GHCB_FIELDS. */
export function changedFields(now: readonly FieldView[], before: readonly FieldView[]): Set<string> {
  const out = new Set<string>();
  now.forEach((f, k) => {
    const b = before[k];
    if (!b || b.value !== f.value || b.valid !== f.valid) out.add(f.field.name);
  });
  return out;
}

/** Set bits of valid_bitmap that name no field of GHCB_FIELDS (reserved qwords). */
export function strayValidBits(bytes: Uint8Array): number[] {
  const named = new Set(GHCB_FIELDS.flatMap((f) => (f.validBit === undefined ? [] : [f.validBit])));
  const out: number[] = [];
  for (let idx = 0; idx < 128; idx++) if (validBit(bytes, idx) && !named.has(idx)) out.push(idx);
  return out;
}

/** Where a scratch area lies, seen from the GHCB page. */
export type ScratchPlace =
  /** Wholly inside the page's shared buffer (0x800..0xff0): KVM works on the page itself. */
  | 'shared-buffer'
  /** In the GHCB page but not wholly in its shared buffer: KVM rejects it. */
  | 'ghcb-page'
  /** Elsewhere in guest memory: KVM copies it through a bounce buffer (or fails to). */
  | 'outside'
  /** sw_scratch is 0. */
  | 'none';

/** The scratch area of a VMGEXIT relative to its GHCB page. */
export interface ScratchView {
  readonly gpa: bigint;
  /** Its length when known (the scratch event's `len`, else undefined). */
  readonly len: bigint | undefined;
  /** sw_scratch's valid bit. */
  readonly valid: boolean;
  readonly place: ScratchPlace;
  /** Offset from the GHCB page's start (negative below it). */
  readonly offset: bigint;
}

/** The shared buffer's range as offsets in the page: [begin, end). */
export const SHARED_BUFFER: readonly [number, number] = [
  GHCB_OFF_SHARED_BUFFER,
  GHCB_OFF_SHARED_BUFFER + GHCB_SHARED_BUF_SIZE,
];

/** Where sw_scratch (of `bytes`, the page at `ghcbGpa`) points, for `len` bytes if known. */
export function scratchView(bytes: Uint8Array, ghcbGpa: bigint, len: bigint | undefined): ScratchView {
  const gpa = readLe(bytes, GHCB_OFF_SW_SCRATCH, 8);
  const valid = validBit(bytes, GHCB_OFF_SW_SCRATCH >> 3);
  const offset = gpa - ghcbGpa;
  const end = offset + (len ?? 1n);
  const place: ScratchPlace =
    gpa === 0n
      ? 'none'
      : offset >= 0n && offset < BigInt(GHCB_SIZE)
        ? offset >= BigInt(SHARED_BUFFER[0]) && end <= BigInt(SHARED_BUFFER[1])
          ? 'shared-buffer'
          : 'ghcb-page'
        : 'outside';
  return { gpa, len, valid, place, offset };
}

/** A hex string of the trace's `detail` maps ("0x9000", "9000", "36864") as a bigint, or undefined. */
export function parseNum(s: string | undefined): bigint | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  try {
    if (/^0x[0-9a-f]+$/i.test(t)) return BigInt(t);
    if (/^[0-9]+$/.test(t)) return BigInt(t);
    if (/^[0-9a-f]+$/i.test(t)) return BigInt(`0x${t}`);
  } catch {
    return undefined;
  }
  return undefined;
}
