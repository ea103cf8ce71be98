/**
 * Byte-exact codecs for struct kvm_sregs (KVM_GET_SREGS / KVM_SET_SREGS) and its members struct
 * kvm_segment and struct kvm_dtable, from arch/x86/include/uapi/asm/kvm.h. Layout (little-endian,
 * x86-64):
 *
 * - kvm_segment (24 bytes): base u64 @0, limit u32 @8, selector u16 @12, then u8s type @14,
 *   present @15, dpl @16, db @17, s @18, l @19, g @20, avl @21, unusable @22, padding @23.
 * - kvm_dtable (16 bytes): base u64 @0, limit u16 @8, padding[3] u16 @10.
 * - kvm_sregs (312 bytes): segments cs @0, ds @24, es @48, fs @72, gs @96, ss @120, tr @144,
 *   ldt @168; dtables gdt @192, idt @208; u64s cr0 @224, cr2 @232, cr3 @240, cr4 @248, cr8 @256,
 *   efer @264, apic_base @272; interrupt_bitmap[4] u64 @280.
 *
 * `interruptBitmap` is a plain array of 4 bigints (bit v of word v / 64 = vector v), not a
 * BigUint64Array, so values compare with deepEqual and spread like the other fields. KVM_GET_SREGS
 * sets at most one bit: the external interrupt being injected, if any.
 *
 * Offsets are exported keyed by C member name (KVM_SEGMENT_OFFSETS, KVM_DTABLE_OFFSETS,
 * KVM_SREGS_OFFSETS); see ioctl.ts for the scheme.
 */

import { type StructReader, type StructWriter, structIn, structOut } from './struct.js';

/** Architectural interrupt line count (KVM_NR_INTERRUPTS); interrupt_bitmap has one bit each. */
export const KVM_NR_INTERRUPTS = 256;
/** u64 words in kvm_sregs.interrupt_bitmap: (KVM_NR_INTERRUPTS + 63) / 64. */
export const KVM_SREGS_INTERRUPT_BITMAP_WORDS = Math.floor((KVM_NR_INTERRUPTS + 63) / 64);

/** sizeof(struct kvm_segment). */
export const KVM_SEGMENT_SIZE = 24;
/** sizeof(struct kvm_dtable). */
export const KVM_DTABLE_SIZE = 16;
/** sizeof(struct kvm_sregs). */
export const KVM_SREGS_SIZE = 312;

/** offsetof(struct kvm_segment, <member>). */
export const KVM_SEGMENT_OFFSETS = {
  base: 0,
  limit: 8,
  selector: 12,
  type: 14,
  present: 15,
  dpl: 16,
  db: 17,
  s: 18,
  l: 19,
  g: 20,
  avl: 21,
  unusable: 22,
  padding: 23,
} as const;

/** offsetof(struct kvm_dtable, <member>). */
export const KVM_DTABLE_OFFSETS = { base: 0, limit: 8, padding: 10 } as const;

/** offsetof(struct kvm_sregs, <member>). */
export const KVM_SREGS_OFFSETS = {
  cs: 0,
  ds: 24,
  es: 48,
  fs: 72,
  gs: 96,
  ss: 120,
  tr: 144,
  ldt: 168,
  gdt: 192,
  idt: 208,
  cr0: 224,
  cr2: 232,
  cr3: 240,
  cr4: 248,
  cr8: 256,
  efer: 264,
  apic_base: 272,
  interrupt_bitmap: 280,
} as const;

/** struct kvm_segment: a segment register as KVM describes it (padding is written as 0). */
export interface KvmSegment {
  /** __u64 base. */
  base: bigint;
  /** __u32 limit: the byte-granular limit (KVM expands/compresses it per the g bit). */
  limit: number;
  /** __u16 selector. */
  selector: number;
  /** __u8 type: the 4-bit descriptor type. */
  type: number;
  /** __u8 present. */
  present: number;
  /** __u8 dpl. */
  dpl: number;
  /** __u8 db: default operation size (D/B bit). */
  db: number;
  /** __u8 s: 1 = code/data, 0 = system segment. */
  s: number;
  /** __u8 l: 64-bit code segment. */
  l: number;
  /** __u8 g: granularity. */
  g: number;
  /** __u8 avl. */
  avl: number;
  /** __u8 unusable: the segment is not usable (VMX's "unusable", SVM: not present). */
  unusable: number;
}

/** struct kvm_dtable: GDTR or IDTR (padding is written as 0). */
export interface KvmDtable {
  /** __u64 base. */
  base: bigint;
  /** __u16 limit. */
  limit: number;
}

/** struct kvm_sregs: segment, descriptor-table and control registers, EFER, APIC base, pending IRQ. */
export interface KvmSregs {
  /** struct kvm_segment cs. */
  cs: KvmSegment;
  /** struct kvm_segment ds. */
  ds: KvmSegment;
  /** struct kvm_segment es. */
  es: KvmSegment;
  /** struct kvm_segment fs. */
  fs: KvmSegment;
  /** struct kvm_segment gs. */
  gs: KvmSegment;
  /** struct kvm_segment ss. */
  ss: KvmSegment;
  /** struct kvm_segment tr. */
  tr: KvmSegment;
  /** struct kvm_segment ldt. */
  ldt: KvmSegment;
  /** struct kvm_dtable gdt. */
  gdt: KvmDtable;
  /** struct kvm_dtable idt. */
  idt: KvmDtable;
  /** __u64 cr0. */
  cr0: bigint;
  /** __u64 cr2. */
  cr2: bigint;
  /** __u64 cr3. */
  cr3: bigint;
  /** __u64 cr4. */
  cr4: bigint;
  /** __u64 cr8. */
  cr8: bigint;
  /** __u64 efer. */
  efer: bigint;
  /** __u64 apic_base: the IA32_APIC_BASE MSR value. */
  apicBase: bigint;
  /** __u64 interrupt_bitmap[4]: exactly 4 words; bit v set = external interrupt v pending. */
  interruptBitmap: bigint[];
}

const SEGMENTS = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;
const DTABLES = ['gdt', 'idt'] as const;
const CRS = ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer'] as const;
const SEG_U8S = ['type', 'present', 'dpl', 'db', 's', 'l', 'g', 'avl', 'unusable'] as const;

function writeSegment(w: StructWriter, s: KvmSegment): void {
  const O = KVM_SEGMENT_OFFSETS;
  w.u64(O.base, 'base', s.base);
  w.u32(O.limit, 'limit', s.limit);
  w.u16(O.selector, 'selector', s.selector);
  for (const f of SEG_U8S) w.u8(O[f], f, s[f]);
}

function readSegment(r: StructReader): KvmSegment {
  const O = KVM_SEGMENT_OFFSETS;
  const s = { base: r.u64(O.base), limit: r.u32(O.limit), selector: r.u16(O.selector) } as KvmSegment;
  for (const f of SEG_U8S) s[f] = r.u8(O[f]);
  return s;
}

function writeDtable(w: StructWriter, d: KvmDtable): void {
  w.u64(KVM_DTABLE_OFFSETS.base, 'base', d.base);
  w.u16(KVM_DTABLE_OFFSETS.limit, 'limit', d.limit);
}

function readDtable(r: StructReader): KvmDtable {
  return { base: r.u64(KVM_DTABLE_OFFSETS.base), limit: r.u16(KVM_DTABLE_OFFSETS.limit) };
}

/** Encodes struct kvm_segment (24 bytes) into `dst` at offset 0 (default: a fresh buffer). */
export function encodeSegment(value: KvmSegment, dst?: Uint8Array): Uint8Array {
  const { bytes, w } = structOut(dst, KVM_SEGMENT_SIZE, 'kvm_segment');
  writeSegment(w, value);
  return bytes;
}

/** Decodes struct kvm_segment from the first 24 bytes; RangeError when fewer are given. */
export function decodeSegment(bytes: Uint8Array): KvmSegment {
  return readSegment(structIn(bytes, KVM_SEGMENT_SIZE, 'kvm_segment'));
}

/** Encodes struct kvm_dtable (16 bytes) into `dst` at offset 0 (default: a fresh buffer). */
export function encodeDtable(value: KvmDtable, dst?: Uint8Array): Uint8Array {
  const { bytes, w } = structOut(dst, KVM_DTABLE_SIZE, 'kvm_dtable');
  writeDtable(w, value);
  return bytes;
}

/** Decodes struct kvm_dtable from the first 16 bytes; RangeError when fewer are given. */
export function decodeDtable(bytes: Uint8Array): KvmDtable {
  return readDtable(structIn(bytes, KVM_DTABLE_SIZE, 'kvm_dtable'));
}

/**
 * Encodes struct kvm_sregs (312 bytes) into `dst` at offset 0 (default: a fresh buffer) and returns
 * it. RangeError when `interruptBitmap` does not have exactly 4 words or a field does not fit.
 */
export function encodeSregs(value: KvmSregs, dst?: Uint8Array): Uint8Array {
  const O = KVM_SREGS_OFFSETS;
  const { bytes, w } = structOut(dst, KVM_SREGS_SIZE, 'kvm_sregs');
  for (const s of SEGMENTS) writeSegment(w.at(O[s], s), value[s]);
  for (const d of DTABLES) writeDtable(w.at(O[d], d), value[d]);
  for (const c of CRS) w.u64(O[c], c, value[c]);
  w.u64(O.apic_base, 'apic_base', value.apicBase);
  w.u64s(O.interrupt_bitmap, 'interrupt_bitmap', value.interruptBitmap, KVM_SREGS_INTERRUPT_BITMAP_WORDS);
  return bytes;
}

/** Decodes struct kvm_sregs from the first 312 bytes; RangeError when fewer are given. */
export function decodeSregs(bytes: Uint8Array): KvmSregs {
  const O = KVM_SREGS_OFFSETS;
  const r = structIn(bytes, KVM_SREGS_SIZE, 'kvm_sregs');
  const out = {} as KvmSregs;
  for (const s of SEGMENTS) out[s] = readSegment(r.at(O[s]));
  for (const d of DTABLES) out[d] = readDtable(r.at(O[d]));
  for (const c of CRS) out[c] = r.u64(O[c]);
  out.apicBase = r.u64(O.apic_base);
  out.interruptBitmap = r.u64s(O.interrupt_bitmap, KVM_SREGS_INTERRUPT_BITMAP_WORDS);
  return out;
}

/**
 * Flat real mode: `s` with CS, DS, ES, FS, GS and SS at selector 0 and base 0 (the rest of each
 * segment, and everything else, as in `s`), so offsets are guest-physical addresses below 64 KiB.
 */
export function flatRealModeSregs(s: KvmSregs): KvmSregs {
  const flat = (seg: KvmSegment): KvmSegment => ({ ...seg, base: 0n, selector: 0 });
  return {
    ...s,
    cs: flat(s.cs),
    ds: flat(s.ds),
    es: flat(s.es),
    fs: flat(s.fs),
    gs: flat(s.gs),
    ss: flat(s.ss),
  };
}
