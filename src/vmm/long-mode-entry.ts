/**
 * What a 64-bit loader sets up before the first KVM_RUN (as Firecracker or QEMU's direct kernel boot
 * do): page tables identity-mapping the low memory with 2 MiB pages, and the vCPU in long mode with
 * flat segments through KVM_SET_SREGS / KVM_SET_REGS. Works on any fd backend.
 */
import { Errno } from '../uapi/errno.js';
import type { IoctlResult, VcpuFd } from '../uapi/kvm-fd.js';
import type { KvmSegment, KvmSregs } from '../uapi/sregs.js';

/** CR0.PE | CR0.ET | CR0.PG. */
const CR0_LONG = 0x8000_0011n;
/** CR4.PAE. */
const CR4_PAE = 0x20n;
/** EFER.LME | EFER.LMA. */
const EFER_LONG = 0x500n;

/** Bytes to write into guest memory: where, and what. */
export interface MemoryWrite {
  readonly gpa: number;
  readonly bytes: Uint8Array;
}

/**
 * Page tables at `pml4` (three pages: PML4, PDPT, PD) identity-mapping the first `size` bytes
 * (a multiple of 2 MiB, at most 1 GiB) with present, writable 2 MiB pages. CR3 = `pml4`.
 */
export function identityPageTables(pml4: number, size = 2 << 20, cbit?: number): MemoryWrite[] {
  const pages = size / (2 << 20);
  if (!Number.isInteger(pages) || pages < 1 || pages > 512)
    throw new RangeError(`identity map of ${size} bytes: a multiple of 2 MiB up to 1 GiB`);
  // An SEV guest's map: the C-bit in every entry, so all of it is private.
  const c = cbit === undefined ? 0n : 1n << BigInt(cbit);
  const pml4e = new Uint8Array(8);
  const pdpte = new Uint8Array(8);
  const pd = new Uint8Array(8 * pages);
  new DataView(pml4e.buffer).setBigUint64(0, BigInt(pml4 + 0x1000) | 3n | c, true);
  new DataView(pdpte.buffer).setBigUint64(0, BigInt(pml4 + 0x2000) | 3n | c, true);
  const dv = new DataView(pd.buffer);
  for (let i = 0; i < pages; i++) dv.setBigUint64(8 * i, (BigInt(i) << 21n) | 0x83n | c, true);
  return [
    { gpa: pml4, bytes: pml4e },
    { gpa: pml4 + 0x1000, bytes: pdpte },
    { gpa: pml4 + 0x2000, bytes: pd },
  ];
}

/** Where and how the vCPU starts in long mode. */
export interface LongModeEntry {
  readonly rip: number;
  readonly rsp: number;
  /** The PML4 (identityPageTables'). */
  readonly cr3: number;
  /** Selectors of the 64-bit code and the data segments (what the guest's GDT has there). */
  readonly cs?: number;
  readonly ds?: number;
  readonly gdt?: { base: number; limit: number };
  readonly idt?: { base: number; limit: number };
  /** A loaded 64-bit TSS (for IST stacks): base and selector. */
  readonly tr?: { base: number; selector: number };
}

/** A flat segment (base 0, 4 GiB, DPL 0) at `selector`: 64-bit code (L set), or writable data. */
export function flatSegment(selector: number, code: boolean): KvmSegment {
  return {
    base: 0n,
    limit: 0xffff_ffff,
    selector,
    type: code ? 0xb : 3,
    present: 1,
    dpl: 0,
    s: 1,
    l: code ? 1 : 0,
    db: code ? 0 : 1,
    g: 1,
    avl: 0,
    unusable: 0,
  };
}

/** A flat 32-bit protected-mode segment (base 0, 4 GiB, DPL 0, D/B set) at `selector`: code or writable data. */
export function flatSegment32(selector: number, code: boolean): KvmSegment {
  return { ...flatSegment(selector, code), l: 0, db: 1 };
}

/** KVM_SET_SREGS and KVM_SET_REGS for 64-bit code at `rip` (flat segments, paging through `cr3`). */
export function setLongModeEntry(vcpu: VcpuFd, e: LongModeEntry): IoctlResult<void> {
  const s = vcpu.getSregs();
  if (s instanceof Errno) return s;
  const ds = e.ds ?? 0x10;
  const sregs: KvmSregs = {
    ...s,
    cr0: CR0_LONG,
    cr3: BigInt(e.cr3),
    cr4: CR4_PAE,
    efer: EFER_LONG,
    cs: flatSegment(e.cs ?? 0x8, true),
    ds: flatSegment(ds, false),
    es: flatSegment(ds, false),
    ss: flatSegment(ds, false),
    ...(e.gdt ? { gdt: { base: BigInt(e.gdt.base), limit: e.gdt.limit } } : {}),
    ...(e.idt ? { idt: { base: BigInt(e.idt.base), limit: e.idt.limit } } : {}),
    ...(e.tr
      ? {
          tr: {
            ...s.tr,
            base: BigInt(e.tr.base),
            limit: 0x67,
            selector: e.tr.selector,
            type: 0xb,
            present: 1,
            s: 0,
            g: 0,
            l: 0,
            db: 0,
            unusable: 0,
          },
        }
      : {}),
  };
  const set = vcpu.setSregs(sregs);
  if (set instanceof Errno) return set;
  const r = vcpu.getRegs();
  if (r instanceof Errno) return r;
  return vcpu.setRegs({ ...r, rip: BigInt(e.rip), rsp: BigInt(e.rsp), rflags: 2n });
}
