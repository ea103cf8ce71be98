/**
 * KVM's walk of the guest's own page tables, as its instruction emulator uses it
 * (arch/x86/kvm/mmu/paging_tmpl.h FNAME(walk_addr_generic) behind kvm_mmu_gva_to_gpa_read/write and
 * kvm_fetch_guest_virt; nonpaging_gva_to_gpa with paging off): a linear address to a guest physical
 * one under the guest's CR0/CR3/CR4/EFER, with KVM's permission checks (update_permission_bitmask:
 * U/S, R/W with CR0.WP, NX with EFER.NXE, SMEP, SMAP unless RFLAGS.AC) and, on success, the
 * accessed bits of every level and the dirty bit of a written leaf set in guest memory
 * (FNAME(update_accessed_dirty_bits)). A failed walk is the #PF the emulator injects: error code
 * and address (walker->fault). Guest page tables are read and written with kvm_read/write_guest.
 *
 * Reserved bits are checked as the model's CPU has them: MAXPHYADDR 52 (so none below bit 52),
 * XD without EFER.NXE, PS in a PML4E; the PDPTEs of PAE paging are read from memory (KVM uses the
 * copies it loaded at the last CR3 load, which agree unless the guest changed them since).
 */
import {
  CR0_PG,
  CR4_PAE,
  EFER_LMA,
  PFERR_FETCH_MASK,
  PFERR_PRESENT_MASK,
  PFERR_RSVD_MASK,
  PFERR_USER_MASK,
  PFERR_WRITE_MASK,
  SAVE_CR0,
  SAVE_CR3,
  SAVE_CR4,
  SAVE_EFER,
  SAVE_RFLAGS,
} from '../cpu/backend.js';
import { kvmCpl } from './cache-regs.js';
import { X86_CR0_WP, X86_CR4_PSE, X86_CR4_SMAP, X86_CR4_SMEP } from './cr.js';
import type { Vcpu } from './vcpu.js';

/** EFER.NXE. */
const EFER_NX = 1 << 11;
/** RFLAGS.AC: SMAP is off for explicit supervisor accesses. */
const X86_EFLAGS_AC = 1 << 18;

const PT_PRESENT = 1n;
const PT_WRITABLE = 2n;
const PT_USER = 4n;
const PT_ACCESSED = 0x20n;
const PT_DIRTY = 0x40n;
const PT_PAGE_SIZE = 0x80n;
const PT64_NX = 1n << 63n;
/** Physical-address bits of an entry (MAXPHYADDR 52), and bits 62:52 (ignored). */
const PT64_ADDR = 0x000f_ffff_ffff_f000n;

/** The access a walk is for: the #PF error-code bits W, U, I/D (PFERR_*). */
export type WalkAccess = number;

/** A failed walk: the #PF the emulator injects (x86_exception: PF_VECTOR, error code, CR2). */
export interface WalkFault {
  readonly errorCode: number;
  readonly address: bigint;
}

/**
 * mmu->gva_to_gpa for the emulator: the GPA of linear address `gva` for an access of kind `access`
 * (PFERR_WRITE_MASK, PFERR_FETCH_MASK; PFERR_USER_MASK is added at CPL 3, as
 * kvm_mmu_gva_to_gpa_read/write and kvm_fetch_guest_virt do), or the fault.
 */
export function kvmGvaToGpa(vcpu: Vcpu, gva: bigint, access: WalkAccess): number | WalkFault {
  const save = vcpu.vmcb.save;
  const cr0 = save.getUint32(SAVE_CR0, true);
  if (!(cr0 & CR0_PG)) return Number(BigInt.asUintN(52, gva)); // nonpaging_gva_to_gpa
  const acc = access | (kvmCpl(vcpu) === 3 ? PFERR_USER_MASK : 0);
  const cr4 = save.getUint32(SAVE_CR4, true);
  const efer = save.getUint32(SAVE_EFER, true);
  const cr3 = save.getBigUint64(SAVE_CR3, true);
  const nxe = (efer & EFER_NX) !== 0;
  const walk = new Walk(vcpu, gva, acc);
  if (efer & EFER_LMA) return walk.levels(cr3 & PT64_ADDR, 4, BigInt.asUintN(48, gva), nxe, cr0, cr4);
  if (cr4 & CR4_PAE) {
    const la = BigInt.asUintN(32, gva);
    // The PDPTE has no accessed bit KVM sets (it is a cached PDPTR, not a level of the walk).
    const pdpte = walk.read((cr3 & 0xffff_ffe0n) + (la >> 30n) * 8n, 8, false);
    if (pdpte === undefined || !(pdpte & PT_PRESENT)) return walk.fault(0);
    return walk.levels(pdpte & PT64_ADDR, 2, la, nxe, cr0, cr4);
  }
  return walk.legacy(cr3 & 0xffff_f000n, BigInt.asUintN(32, gva), cr0, cr4);
}

/** One walk in progress: the entries it passed (to set their accessed bits once it succeeds). */
class Walk {
  readonly #vcpu: Vcpu;
  readonly #gva: bigint;
  readonly #acc: number;
  /** Entries walked: where, their size, their value. */
  readonly #ptes: { gpa: bigint; size: 4 | 8; value: bigint }[] = [];

  constructor(vcpu: Vcpu, gva: bigint, acc: number) {
    this.#vcpu = vcpu;
    this.#gva = gva;
    this.#acc = acc;
  }

  /**
   * An entry of `size` bytes at `gpa` (kvm_read_guest of the table), remembered for its accessed
   * bit unless `record` is false (a PDPTE); undefined when not RAM.
   */
  read(gpa: bigint, size: 4 | 8, record = true): bigint | undefined {
    const b = new Uint8Array(size);
    if (this.#vcpu.vm.readGuest(Number(gpa), b)) return undefined;
    const dv = new DataView(b.buffer);
    const value = size === 8 ? dv.getBigUint64(0, true) : BigInt(dv.getUint32(0, true));
    if (record) this.#ptes.push({ gpa, size, value });
    return value;
  }

  /**
   * The walk's error path: errcode (0 not present, PRESENT a permission fault, PRESENT | RSVD a
   * reserved bit) with the access' W and U bits, and I/D for a fetch when NX or SMEP is on.
   */
  fault(errcode: number): WalkFault {
    const save = this.#vcpu.vmcb.save;
    const acc = this.#acc;
    let e = errcode | (acc & (PFERR_WRITE_MASK | PFERR_USER_MASK));
    const nxOrSmep =
      (save.getUint32(SAVE_EFER, true) & EFER_NX) !== 0 ||
      (save.getUint32(SAVE_CR4, true) & X86_CR4_SMEP) !== 0;
    if (acc & PFERR_FETCH_MASK && nxOrSmep) e |= PFERR_FETCH_MASK;
    return { errorCode: e, address: this.#gva };
  }

  /**
   * permission_fault: the rights every level granted (`w`, `u`, `nx`) against the access. True
   * when the access may not be made.
   */
  #denied(w: boolean, u: boolean, nx: boolean, cr0: number, cr4: number, nxe: boolean): boolean {
    const acc = this.#acc;
    const user = (acc & PFERR_USER_MASK) !== 0;
    const write = (acc & PFERR_WRITE_MASK) !== 0;
    const fetch = (acc & PFERR_FETCH_MASK) !== 0;
    if (user && !u) return true;
    if (write && !w && (user || cr0 & X86_CR0_WP)) return true;
    if (fetch && nx && nxe) return true;
    if (!user && u) {
      if (fetch && cr4 & X86_CR4_SMEP) return true;
      const ac = (this.#vcpu.vmcb.save.getUint32(SAVE_RFLAGS, true) & X86_EFLAGS_AC) !== 0;
      if (!fetch && cr4 & X86_CR4_SMAP && !ac) return true;
    }
    return false;
  }

  /**
   * update_accessed_dirty_bits: A on every entry walked, D on the leaf for a write, written back
   * where they were not set.
   */
  #setAccessedDirty(): void {
    const ptes = this.#ptes;
    const write = (this.#acc & PFERR_WRITE_MASK) !== 0;
    for (let k = 0; k < ptes.length; k++) {
      const p = ptes[k]!;
      const want = PT_ACCESSED | (write && k === ptes.length - 1 ? PT_DIRTY : 0n);
      if ((p.value & want) === want) continue;
      const v = p.value | want;
      const b = new Uint8Array(p.size);
      const dv = new DataView(b.buffer);
      if (p.size === 8) dv.setBigUint64(0, v, true);
      else dv.setUint32(0, Number(v), true);
      this.#vcpu.vm.writeGuest(Number(p.gpa), b);
    }
  }

  /**
   * The 8-byte levels from `table` (`levels` of them: 4 in long mode, 2 under PAE's PDPTE), index
   * bits from `a`: present, reserved bits, rights, a PS entry ending the walk with a large page.
   */
  levels(top: bigint, levels: number, a: bigint, nxe: boolean, cr0: number, cr4: number): number | WalkFault {
    let table = top;
    let w = true;
    let u = true;
    let nx = false;
    for (let level = levels; level >= 1; level--) {
      const shift = BigInt(12 + 9 * (level - 1));
      const pte = this.read(table + ((a >> shift) & 511n) * 8n, 8);
      if (pte === undefined || !(pte & PT_PRESENT)) return this.fault(0);
      if ((!nxe && pte & PT64_NX) || (level === 4 && pte & PT_PAGE_SIZE))
        return this.fault(PFERR_PRESENT_MASK | PFERR_RSVD_MASK);
      w &&= (pte & PT_WRITABLE) !== 0n;
      u &&= (pte & PT_USER) !== 0n;
      nx ||= (pte & PT64_NX) !== 0n;
      const base = pte & PT64_ADDR;
      if (level > 1 && !(pte & PT_PAGE_SIZE)) {
        table = base;
        continue;
      }
      if (this.#denied(w, u, nx, cr0, cr4, nxe)) return this.fault(PFERR_PRESENT_MASK);
      this.#setAccessedDirty();
      const pageMask = (1n << shift) - 1n;
      return Number((base & ~pageMask) | (a & pageMask));
    }
    throw new Error('unreachable');
  }

  /** 32-bit paging: the PDE (a 4 MiB page under CR4.PSE), then the PTE. */
  legacy(pd: bigint, la: bigint, cr0: number, cr4: number): number | WalkFault {
    const pde = this.read(pd + (la >> 22n) * 4n, 4);
    if (pde === undefined || !(pde & PT_PRESENT)) return this.fault(0);
    if (pde & PT_PAGE_SIZE && cr4 & X86_CR4_PSE) {
      if (this.#denied((pde & PT_WRITABLE) !== 0n, (pde & PT_USER) !== 0n, false, cr0, cr4, false))
        return this.fault(PFERR_PRESENT_MASK);
      this.#setAccessedDirty();
      return Number((pde & 0xffc0_0000n) | (la & 0x3f_ffffn));
    }
    const pte = this.read((pde & 0xffff_f000n) + ((la >> 12n) & 1023n) * 4n, 4);
    if (pte === undefined || !(pte & PT_PRESENT)) return this.fault(0);
    const w = (pde & pte & PT_WRITABLE) !== 0n;
    const u = (pde & pte & PT_USER) !== 0n;
    if (this.#denied(w, u, false, cr0, cr4, false)) return this.fault(PFERR_PRESENT_MASK);
    this.#setAccessedDirty();
    return Number((pte & 0xffff_f000n) | (la & 0xfffn));
  }
}

/** Whether a walk result is a fault. */
export function isWalkFault(r: number | WalkFault): r is WalkFault {
  return typeof r !== 'number';
}
