/**
 * Linear → guest-physical translation and the guest's memory accesses: the page walk (32-bit,
 * PAE, 4-level) with its permission checks and A/D updates, a TLB of page views, and the nested
 * page table below it (KVM's NPT, through GuestPhysMemory): a GPA that is not RAM ends the access
 * with a nested page fault (or #VC for an SEV-ES guest's MMIO), as SVM does.
 *
 * Values travel as u32 halves: `read` returns bits 31:0 and leaves bits 63:32 in cpu.hi.
 */
import {
  PFERR_FETCH_MASK,
  PFERR_PRESENT_MASK,
  PFERR_RSVD_MASK,
  PFERR_USER_MASK,
  PFERR_WRITE_MASK,
} from '../backend.js';
import { CR0_PG, CR4_PAE, EFER_LMA } from '../reset.js';
import type { X86Cpu } from './cpu.js';

export const PAGE_SIZE = 4096;
const TWO32 = 0x1_0000_0000;

/** CR0.WP: supervisor writes honour read-only pages. */
export const CR0_WP = 1 << 16;
/** CR4.PSE: 4 MiB pages with 32-bit paging. */
export const CR4_PSE = 1 << 4;
/** EFER.NXE: the XD bit of page-table entries is honoured. */
export const EFER_NXE = 1 << 11;

/** Access kinds, as the #PF error code's W and I/D bits say them. */
export const ACC_READ = 0;
export const ACC_WRITE = 1;
export const ACC_FETCH = 2;

const PTE_P = 1;
const PTE_W = 2;
const PTE_U = 4;
const PTE_A = 0x20;
const PTE_D = 0x40;
const PTE_PS = 0x80;

/**
 * Entries of the direct-mapped TLB: a linear page's slot is its page number modulo this
 * (compile/emit.ts writes the same index into generated code).
 */
export const TLB_SIZE = 256;

/**
 * A TLB of linear pages: the RAM page a linear page maps to now, as a view, with the rights the
 * walk granted. Flushed at VMRUN unless the nested page table's generation (GuestPhysMemory) held
 * and KVM asked for no flush (tlb_ctl), on CR3, CR0, CR4 and EFER writes, CPL changes and INVLPG.
 */
export class Tlb {
  readonly tag = new Float64Array(TLB_SIZE).fill(-1);
  readonly gpaPage = new Float64Array(TLB_SIZE);
  readonly bytes: (Uint8Array | undefined)[] = new Array(TLB_SIZE).fill(undefined);
  readonly view: (DataView | undefined)[] = new Array(TLB_SIZE).fill(undefined);
  /** The entry may be written through (the walk allowed it and the dirty bit is set). */
  readonly writable = new Uint8Array(TLB_SIZE);
  /** The entry may be executed (no XD). */
  readonly executable = new Uint8Array(TLB_SIZE);
  /** Bumped whenever a translation may have changed (what a cached block successor depends on). */
  generation = 0;
  /** The rights the entries were filled with: user (CPL 3) or supervisor accesses. */
  user = false;
  /** The paging state the entries were filled under (CR0, CR3, CR4, EFER). */
  cr0 = -1;
  cr3 = -1;
  cr4 = -1;
  efer = -1;

  flush(): void {
    this.tag.fill(-1);
    this.generation++;
  }

  /** Drop the writable entries of a guest-physical page (it now holds decoded code). */
  dropWritable(gpaPage: number): void {
    for (let i = 0; i < TLB_SIZE; i++) if (this.writable[i] && this.gpaPage[i] === gpaPage) this.tag[i] = -1;
    this.generation++;
  }

  /** INVLPG: drop the entry of one linear page. */
  flushPage(lpage: number): void {
    const i = slot(lpage);
    if (this.tag[i] === lpage) this.tag[i] = -1;
    this.generation++;
  }
}

function slot(lpage: number): number {
  return (lpage & (TLB_SIZE - 1)) >>> 0;
}

/**
 * The offset in its page of a linear address (a sign-extended integer: ToInt32 keeps its low bits
 * in two's complement, so this is right for negative ones too).
 */
export function pageOffset(la: number): number {
  return la & (PAGE_SIZE - 1);
}

/** The linear page number of a (sign-extended) linear address, exactly. */
function linearPage(la: number): number {
  return (la - (la & (PAGE_SIZE - 1))) / PAGE_SIZE;
}

/**
 * Translate a linear address: the guest-physical address, or a #PF (thrown through cpu.pageFault).
 * `user`: the access is a user-mode one (CPL 3; implicit supervisor accesses pass false).
 */
export function translate(cpu: X86Cpu, la: number, acc: number, user: boolean): number {
  const s = cpu.s;
  // Paging off: the linear address is the physical one (32 bits: only long mode has more), and
  // with SEV every access is private.
  if (!(s.cr0 & CR0_PG)) {
    cpu.leafPrivate = true;
    return la >>> 0;
  }
  if (s.efer & EFER_LMA) return walk64(cpu, la, acc, user);
  if (s.cr4 & CR4_PAE) return walkPae(cpu, la >>> 0, acc, user);
  return walk32(cpu, la >>> 0, acc, user);
}

/** The #PF error code of an access. */
function pfErr(acc: number, user: boolean, present: boolean, rsvd: boolean): number {
  let e = 0;
  if (present) e |= PFERR_PRESENT_MASK;
  if (acc === ACC_WRITE) e |= PFERR_WRITE_MASK;
  if (user) e |= PFERR_USER_MASK;
  if (rsvd) e |= PFERR_RSVD_MASK | PFERR_PRESENT_MASK;
  if (acc === ACC_FETCH) e |= PFERR_FETCH_MASK;
  return e;
}

/** Read a page-table entry (u64 as halves into cpu.pteLo/pteHi) at a GPA; false if it is not RAM. */
function readPte(cpu: X86Cpu, gpa: number, size: 4 | 8): void {
  // Page-table walks are private accesses under SEV (the C-bit of the entries above is ignored).
  const page = cpu.privatePage(gpa, false);
  const off = gpa % PAGE_SIZE;
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  cpu.pteLo = dv.getUint32(off, true);
  cpu.pteHi = size === 8 ? dv.getUint32(off + 4, true) : 0;
}

/** Set bits in the low word of the entry at `gpa` (A and D updates). */
function setPteBits(cpu: X86Cpu, gpa: number, bits: number): void {
  const page = cpu.privatePage(gpa, true);
  const off = gpa % PAGE_SIZE;
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  dv.setUint32(off, (dv.getUint32(off, true) | bits) >>> 0, true);
}

/**
 * The checks common to every level's leaf: the rights collected on the way (`rw`, `us` all levels
 * allow; `nx` any level forbids), then A (every level, done by the caller) and D on the leaf.
 */
function checkRights(
  cpu: X86Cpu,
  la: number,
  acc: number,
  user: boolean,
  rw: boolean,
  us: boolean,
  nx: boolean,
): void {
  const s = cpu.s;
  if (user && !us) cpu.pageFault(la, pfErr(acc, user, true, false));
  if (acc === ACC_WRITE && !rw && (user || s.cr0 & CR0_WP)) cpu.pageFault(la, pfErr(acc, user, true, false));
  if (acc === ACC_FETCH && nx && s.efer & EFER_NXE) cpu.pageFault(la, pfErr(acc, user, true, false));
}

/** Long-mode 4-level walk (CR4.LA57 is not modelled). */
function walk64(cpu: X86Cpu, la: number, acc: number, user: boolean): number {
  // Canonical: bits 63:47 all equal, i.e. the sign-extended value within ±2^47.
  if (la >= 2 ** 47 || la < -(2 ** 47)) cpu.generalProtection(0);
  const a = la < 0 ? la + 2 ** 48 : la;
  return walkLevels(cpu, la, a, acc, user, cpu.s.cr3 - (cpu.s.cr3 % PAGE_SIZE), 4);
}

/** PAE paging: the PDPTE (present, no A/D, no rights), then the PDE and PTE levels. */
function walkPae(cpu: X86Cpu, la: number, acc: number, user: boolean): number {
  const pdpta = (cpu.s.cr3 & 0xffff_ffe0) >>> 0;
  readPte(cpu, pdpta + (la >>> 30) * 8, 8);
  if (!(cpu.pteLo & PTE_P)) cpu.pageFault(la, pfErr(acc, user, false, false));
  const pd = (cpu.pteHi & ~cpu.cbitHi & 0xfffff) * TWO32 + ((cpu.pteLo & 0xffff_f000) >>> 0);
  return walkLevels(cpu, la, la, acc, user, pd, 2);
}

/**
 * The 8-byte-entry levels of a walk, from `top` down to the page table: present and reserved-bit
 * checks, the rights all levels grant, A on every level walked, D on a written leaf; a PS entry
 * ends the walk with a large page (not at level 4, where PS is reserved). `a`: the address bits
 * the indices come from (the 48-bit form of a canonical address).
 */
function walkLevels(
  cpu: X86Cpu,
  la: number,
  a: number,
  acc: number,
  user: boolean,
  top: number,
  levels: number,
): number {
  const nxe = (cpu.s.efer & EFER_NXE) !== 0;
  let table = top;
  let rw = true;
  let us = true;
  let nx = false;
  for (let level = levels; level >= 1; level--) {
    const shift = 12 + 9 * (level - 1);
    const ptea = table + (Math.floor(a / 2 ** shift) % 512) * 8;
    readPte(cpu, ptea, 8);
    const lo = cpu.pteLo;
    const hi = cpu.pteHi;
    if (!(lo & PTE_P)) cpu.pageFault(la, pfErr(acc, user, false, false));
    // Reserved: physical-address bits above MAXPHYADDR (52 here) and XD without NXE.
    if ((hi & 0x7ff00000) !== 0 || (!nxe && hi & 0x8000_0000))
      cpu.pageFault(la, pfErr(acc, user, true, true));
    rw &&= (lo & PTE_W) !== 0;
    us &&= (lo & PTE_U) !== 0;
    nx ||= (hi & 0x8000_0000) !== 0;
    // With SEV the C-bit is no address bit: it marks the page private (read at the leaf).
    const base = (hi & ~cpu.cbitHi & 0xfffff) * TWO32 + ((lo & 0xffff_f000) >>> 0);
    if (lo & PTE_PS && level === 4) cpu.pageFault(la, pfErr(acc, user, true, true));
    if (level > 1 && !(lo & PTE_PS)) {
      if (!(lo & PTE_A)) setPteBits(cpu, ptea, PTE_A);
      table = base;
      continue;
    }
    checkRights(cpu, la, acc, user, rw, us, nx);
    const dirty = acc === ACC_WRITE ? PTE_D : 0;
    if ((lo & (PTE_A | dirty)) !== (PTE_A | dirty)) setPteBits(cpu, ptea, PTE_A | dirty);
    cpu.leafPrivate = (hi & cpu.cbitHi) !== 0;
    const pageSize = 2 ** shift;
    // A large page's base has its low bits (PAT bit and reserved) cleared.
    return base - (base % pageSize) + (a % pageSize);
  }
  throw new Error('unreachable');
}

/** 32-bit paging with 4 KiB pages, and 4 MiB pages under CR4.PSE. */
function walk32(cpu: X86Cpu, la: number, acc: number, user: boolean): number {
  const pdea = ((cpu.s.cr3 & 0xffff_f000) >>> 0) + (la >>> 22) * 4;
  readPte(cpu, pdea, 4);
  const pde = cpu.pteLo;
  if (!(pde & PTE_P)) cpu.pageFault(la, pfErr(acc, user, false, false));
  if (pde & PTE_PS && cpu.s.cr4 & CR4_PSE) {
    checkRights(cpu, la, acc, user, (pde & PTE_W) !== 0, (pde & PTE_U) !== 0, false);
    const dirty = acc === ACC_WRITE ? PTE_D : 0;
    if ((pde & (PTE_A | dirty)) !== (PTE_A | dirty)) setPteBits(cpu, pdea, PTE_A | dirty);
    // 32-bit entries have no C-bit: the model takes such accesses as private.
    cpu.leafPrivate = true;
    return ((pde & 0xffc0_0000) >>> 0) + (la & 0x3f_ffff);
  }
  if (!(pde & PTE_A)) setPteBits(cpu, pdea, PTE_A);
  const ptea = ((pde & 0xffff_f000) >>> 0) + ((la >>> 12) & 1023) * 4;
  readPte(cpu, ptea, 4);
  const pte = cpu.pteLo;
  if (!(pte & PTE_P)) cpu.pageFault(la, pfErr(acc, user, false, false));
  checkRights(cpu, la, acc, user, (pde & pte & PTE_W) !== 0, (pde & pte & PTE_U) !== 0, false);
  const dirty = acc === ACC_WRITE ? PTE_D : 0;
  if ((pte & (PTE_A | dirty)) !== (PTE_A | dirty)) setPteBits(cpu, ptea, PTE_A | dirty);
  cpu.leafPrivate = true;
  return ((pte & 0xffff_f000) >>> 0) + (la & 0xfff);
}

/**
 * The TLB entry of a linear address for an access, filling it on a miss (walk, then the nested
 * page table). Returns the entry index.
 */
export function tlbEntry(cpu: X86Cpu, la: number, acc: number): number {
  const tlb = cpu.tlb;
  // Entries hold the rights of the privilege they were walked at: a change between user and
  // supervisor starts over (what the walk would check again).
  const user = cpu.s.cpl === 3;
  if (user !== tlb.user) {
    tlb.flush();
    tlb.user = user;
  }
  const lpage = linearPage(la);
  const i = slot(lpage);
  if (
    tlb.tag[i] === lpage &&
    (acc !== ACC_WRITE || tlb.writable[i]) &&
    (acc !== ACC_FETCH || tlb.executable[i])
  )
    return i;
  const gpa = translate(cpu, la, acc, user);
  const gpaPage = gpa - (gpa % PAGE_SIZE);
  // The exact GPA: a nested page fault reports the access's own address. Under SEV the entry
  // holds the view the leaf's C-bit chose (instruction bytes are read private by the decoder).
  const page = cpu.leafPrivate
    ? cpu.privatePage(gpa, acc === ACC_WRITE)
    : cpu.physPage(gpa, acc === ACC_WRITE);
  tlb.tag[i] = lpage;
  tlb.gpaPage[i] = gpaPage;
  tlb.bytes[i] = page;
  tlb.view[i] = new DataView(page.buffer, page.byteOffset, page.byteLength);
  // Writes through a cached entry must not bypass what a walk would do: only after a write fill
  // (D set, rights checked) and never on a page holding decoded code (the write must invalidate it).
  tlb.writable[i] = acc === ACC_WRITE && !cpu.blocks.hasCode(gpaPage) ? 1 : 0;
  tlb.executable[i] = acc === ACC_FETCH ? 1 : 0;
  return i;
}

/** Read `size` bytes (1, 2, 4, 8) at a linear address: bits 31:0 returned, bits 63:32 in cpu.hi. */
export function readLinear(cpu: X86Cpu, la: number, size: number): number {
  const off = pageOffset(la);
  if (off + size > PAGE_SIZE) return readSplit(cpu, la, size);
  const i = tlbEntry(cpu, la, ACC_READ);
  const v = cpu.tlb.view[i]!;
  switch (size) {
    case 1:
      cpu.hi = 0;
      return v.getUint8(off);
    case 2:
      cpu.hi = 0;
      return v.getUint16(off, true);
    case 4:
      cpu.hi = 0;
      return v.getUint32(off, true);
    default:
      cpu.hi = v.getUint32(off + 4, true);
      return v.getUint32(off, true);
  }
}

/** An access that crosses into the next page: byte by byte, each through the TLB. */
function readSplit(cpu: X86Cpu, la: number, size: number): number {
  let lo = 0;
  let hi = 0;
  for (let k = 0; k < size; k++) {
    const a = la + k;
    const i = tlbEntry(cpu, a, ACC_READ);
    const b = cpu.tlb.bytes[i]![pageOffset(a)]!;
    if (k < 4) lo |= b << (8 * k);
    else hi |= b << (8 * (k - 4));
  }
  cpu.hi = hi >>> 0;
  return lo >>> 0;
}

/** Write `size` bytes at a linear address (value as halves). */
export function writeLinear(cpu: X86Cpu, la: number, size: number, lo: number, hi: number): void {
  const off = pageOffset(la);
  if (off + size > PAGE_SIZE) {
    // Check both pages before storing anything: a fault on the second leaves the first untouched.
    tlbEntry(cpu, la, ACC_WRITE);
    tlbEntry(cpu, la + size - 1, ACC_WRITE);
    for (let k = 0; k < size; k++) {
      const a = la + k;
      const i = tlbEntry(cpu, a, ACC_WRITE);
      const b = k < 4 ? lo >>> (8 * k) : hi >>> (8 * (k - 4));
      writeByte(cpu, i, pageOffset(a), b & 0xff);
    }
    return;
  }
  const i = tlbEntry(cpu, la, ACC_WRITE);
  if (!cpu.tlb.writable[i]) cpu.blocks.invalidatePage(cpu.tlb.gpaPage[i]!);
  const v = cpu.tlb.view[i]!;
  switch (size) {
    case 1:
      v.setUint8(off, lo);
      return;
    case 2:
      v.setUint16(off, lo, true);
      return;
    case 4:
      v.setUint32(off, lo >>> 0, true);
      return;
    default:
      v.setUint32(off, lo >>> 0, true);
      v.setUint32(off + 4, hi >>> 0, true);
  }
}

function writeByte(cpu: X86Cpu, i: number, off: number, b: number): void {
  if (!cpu.tlb.writable[i]) cpu.blocks.invalidatePage(cpu.tlb.gpaPage[i]!);
  cpu.tlb.bytes[i]![off] = b;
}

/** The guest-physical address of a linear one for an access (walk and rights, no NPT). */
export function physicalAddress(cpu: X86Cpu, la: number, acc: number): number {
  return translate(cpu, la, acc, cpu.s.cpl === 3);
}
