/**
 * The interpreter's architectural state between VMRUN and #VMEXIT: what SVM loads from the save
 * area (the VMCB's, or the VMSA for an SEV-ES guest) at VMRUN and stores back at #VMEXIT. The
 * general-purpose registers stay in the register array (vcpu->arch.regs, or the VMSA's copy); the
 * rest is held in plain fields here while the guest runs, so no instruction touches the DataView.
 *
 * Addresses are numbers: a linear address or RIP is the 64-bit value sign-extended from bit 63,
 * which is exact for every canonical address (|a| < 2^47); a non-canonical one faults before use.
 */
import type { Gprs } from '../regs.js';
import { EFER_LMA } from '../reset.js';
import {
  getS64Number,
  getU64Number,
  SAVE_CPL,
  SAVE_CR0,
  SAVE_CR2,
  SAVE_CR3,
  SAVE_CR4,
  SAVE_DR6,
  SAVE_DR7,
  SAVE_EFER,
  SAVE_ES,
  SAVE_GDTR,
  SAVE_IDTR,
  SAVE_LDTR,
  SAVE_RFLAGS,
  SAVE_RIP,
  SAVE_TR,
  SVM_SELECTOR_DB_MASK,
  SVM_SELECTOR_L_MASK,
  setS64Number,
} from '../vmcb.js';

/** Segment registers in the save area's (and the instruction encoding's) order. */
export const SEG_ES = 0;
export const SEG_CS = 1;
export const SEG_SS = 2;
export const SEG_DS = 3;
export const SEG_FS = 4;
export const SEG_GS = 5;

const TWO32 = 0x1_0000_0000;

/** Bits 63:32 of a sign-extended 64-bit number (an address, RIP), as a u32. */
export function hi32(v: number): number {
  return Math.floor((v - (v >>> 0)) / TWO32) >>> 0;
}

/** One vCPU's state as the interpreter runs it. */
export class X86State {
  /** The register array (RAX..R15 as u32 pairs; see src/cpu/regs.ts). */
  regs: Gprs;
  rip = 0;
  /** RFLAGS as a u32 (bits 63:32 are reserved, always 0). */
  rflags = 2;
  cpl = 0;
  cr0 = 0;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  efer = 0;
  dr6 = 0;
  dr7 = 0;
  /** ES, CS, SS, DS, FS, GS: selector, hidden base, limit, attributes (the save area's packed form). */
  readonly segSel = new Uint16Array(6);
  readonly segBase = new Float64Array(6);
  readonly segLimit = new Uint32Array(6);
  readonly segAttr = new Uint16Array(6);
  gdtrBase = 0;
  gdtrLimit = 0;
  idtrBase = 0;
  idtrLimit = 0;
  ldtrSel = 0;
  ldtrBase = 0;
  ldtrLimit = 0;
  ldtrAttr = 0;
  trSel = 0;
  trBase = 0;
  trLimit = 0;
  trAttr = 0;

  constructor(regs: Gprs) {
    this.regs = regs;
  }

  /** The code size the CS descriptor and EFER.LMA select: 16, 32 or 64. */
  get codeSize(): 16 | 32 | 64 {
    const attr = this.segAttr[SEG_CS]!;
    if (this.efer & EFER_LMA && attr & SVM_SELECTOR_L_MASK) return 64;
    return attr & SVM_SELECTOR_DB_MASK ? 32 : 16;
  }

  /** VMRUN: load everything but the GPRs from a save area. */
  load(save: DataView): void {
    this.rip = getS64Number(save, SAVE_RIP);
    this.rflags = save.getUint32(SAVE_RFLAGS, true);
    this.cpl = save.getUint8(SAVE_CPL);
    this.cr0 = save.getUint32(SAVE_CR0, true);
    this.cr2 = getS64Number(save, SAVE_CR2);
    this.cr3 = getU64Number(save, SAVE_CR3);
    this.cr4 = save.getUint32(SAVE_CR4, true);
    this.efer = save.getUint32(SAVE_EFER, true);
    this.dr6 = save.getUint32(SAVE_DR6, true);
    this.dr7 = save.getUint32(SAVE_DR7, true);
    for (let s = 0; s < 6; s++) {
      const off = SAVE_ES + 16 * s;
      this.segSel[s] = save.getUint16(off, true);
      this.segAttr[s] = save.getUint16(off + 2, true);
      this.segLimit[s] = save.getUint32(off + 4, true);
      this.segBase[s] = getS64Number(save, off + 8);
    }
    this.gdtrLimit = save.getUint32(SAVE_GDTR + 4, true);
    this.gdtrBase = getS64Number(save, SAVE_GDTR + 8);
    this.idtrLimit = save.getUint32(SAVE_IDTR + 4, true);
    this.idtrBase = getS64Number(save, SAVE_IDTR + 8);
    this.ldtrSel = save.getUint16(SAVE_LDTR, true);
    this.ldtrAttr = save.getUint16(SAVE_LDTR + 2, true);
    this.ldtrLimit = save.getUint32(SAVE_LDTR + 4, true);
    this.ldtrBase = getS64Number(save, SAVE_LDTR + 8);
    this.trSel = save.getUint16(SAVE_TR, true);
    this.trAttr = save.getUint16(SAVE_TR + 2, true);
    this.trLimit = save.getUint32(SAVE_TR + 4, true);
    this.trBase = getS64Number(save, SAVE_TR + 8);
  }

  /** #VMEXIT: store everything but the GPRs into a save area. */
  store(save: DataView): void {
    setS64Number(save, SAVE_RIP, this.rip);
    save.setUint32(SAVE_RFLAGS, this.rflags >>> 0, true);
    save.setUint32(SAVE_RFLAGS + 4, 0, true);
    save.setUint8(SAVE_CPL, this.cpl);
    save.setUint32(SAVE_CR0, this.cr0 >>> 0, true);
    setS64Number(save, SAVE_CR2, this.cr2);
    setS64Number(save, SAVE_CR3, this.cr3);
    save.setUint32(SAVE_CR4, this.cr4 >>> 0, true);
    save.setUint32(SAVE_EFER, this.efer >>> 0, true);
    save.setUint32(SAVE_DR6, this.dr6 >>> 0, true);
    save.setUint32(SAVE_DR7, this.dr7 >>> 0, true);
    for (let s = 0; s < 6; s++) {
      const off = SAVE_ES + 16 * s;
      save.setUint16(off, this.segSel[s]!, true);
      save.setUint16(off + 2, this.segAttr[s]!, true);
      save.setUint32(off + 4, this.segLimit[s]!, true);
      setS64Number(save, off + 8, this.segBase[s]!);
    }
    save.setUint32(SAVE_GDTR + 4, this.gdtrLimit >>> 0, true);
    setS64Number(save, SAVE_GDTR + 8, this.gdtrBase);
    save.setUint32(SAVE_IDTR + 4, this.idtrLimit >>> 0, true);
    setS64Number(save, SAVE_IDTR + 8, this.idtrBase);
    save.setUint16(SAVE_LDTR, this.ldtrSel, true);
    save.setUint16(SAVE_LDTR + 2, this.ldtrAttr, true);
    save.setUint32(SAVE_LDTR + 4, this.ldtrLimit >>> 0, true);
    setS64Number(save, SAVE_LDTR + 8, this.ldtrBase);
    save.setUint16(SAVE_TR, this.trSel, true);
    save.setUint16(SAVE_TR + 2, this.trAttr, true);
    save.setUint32(SAVE_TR + 4, this.trLimit >>> 0, true);
    setS64Number(save, SAVE_TR + 8, this.trBase);
  }
}
