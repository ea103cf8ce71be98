/**
 * The x86 RESET state of a vCPU's save area and the mode its code runs in: what kvm_vcpu_reset and
 * init_vmcb (arch/x86/kvm/x86.c, svm.c) leave before userspace sets registers: real mode at
 * F000:FFF0 with CS base FFFF0000, every data segment a 64 KiB read/write data segment at 0 (init_seg), GDTR and
 * IDTR limit FFFF, CR0 = 60000010 (CD, NW, ET), RFLAGS = 2, DR6 = FFFF0FF0, DR7 = 400, PAT = the
 * power-on value, EFER = 0 (KVM sets EFER.SVME in the VMCB for hardware only; the guest sees 0).
 */
import type { KvmFpu } from '../uapi/fpu.js';
import {
  SAVE_CR0,
  SAVE_CS,
  SAVE_DR6,
  SAVE_DR7,
  SAVE_DS,
  SAVE_EFER,
  SAVE_ES,
  SAVE_FS,
  SAVE_G_PAT,
  SAVE_GDTR,
  SAVE_GS,
  SAVE_IDTR,
  SAVE_LDTR,
  SAVE_RFLAGS,
  SAVE_RIP,
  SAVE_SS,
  SAVE_TR,
  SVM_SELECTOR_DB_MASK,
  SVM_SELECTOR_L_MASK,
  SVM_SELECTOR_P_MASK,
  SVM_SELECTOR_S_MASK,
  setSaveSegment,
  setSaveU64,
} from './vmcb.js';

/** EFER.LMA: long mode is active. */
export const EFER_LMA = 1 << 10;
/** EFER.LME: long mode is enabled. */
export const EFER_LME = 1 << 8;
/** EFER.SVME: SVM is enabled (a guest's own, for nested SVM). */
export const EFER_SVME = 1 << 12;
/** CR0.PE: protected mode. */
export const CR0_PE = 1;
/** CR0.PG: paging. */
export const CR0_PG = 0x8000_0000;
/** CR4.PAE. */
export const CR4_PAE = 1 << 5;
/** RFLAGS.IF: maskable interrupts enabled. */
export const RFLAGS_IF = 1 << 9;
/** The power-on value of IA32_PAT. */
export const PAT_RESET = 0x0007_0406_0007_0406n;

/** Write the RESET state into a save area (vmcb_save_area / VMSA layout). */
export function writeResetState(save: DataView): void {
  new Uint8Array(save.buffer, save.byteOffset, save.byteLength).fill(0);
  // init_seg: read/write data segment (type 2), S = 1, present.
  const data = 0x2 | SVM_SELECTOR_S_MASK | SVM_SELECTOR_P_MASK;
  for (const off of [SAVE_ES, SAVE_SS, SAVE_DS, SAVE_FS, SAVE_GS]) {
    setSaveSegment(save, off, { selector: 0, attrib: data, limit: 0xffff, base: 0n });
  }
  // CS: execute/read code (type 0xa), S = 1, present.
  setSaveSegment(save, SAVE_CS, {
    selector: 0xf000,
    attrib: 0xa | SVM_SELECTOR_S_MASK | SVM_SELECTOR_P_MASK,
    limit: 0xffff,
    base: 0xffff_0000n,
  });
  setSaveSegment(save, SAVE_GDTR, { selector: 0, attrib: 0, limit: 0xffff, base: 0n });
  setSaveSegment(save, SAVE_IDTR, { selector: 0, attrib: 0, limit: 0xffff, base: 0n });
  // LDTR: LDT type (2), present; TR: 16-bit busy TSS (3), present.
  setSaveSegment(save, SAVE_LDTR, {
    selector: 0,
    attrib: 0x2 | SVM_SELECTOR_P_MASK,
    limit: 0xffff,
    base: 0n,
  });
  setSaveSegment(save, SAVE_TR, { selector: 0, attrib: 0x3 | SVM_SELECTOR_P_MASK, limit: 0xffff, base: 0n });
  setSaveU64(save, SAVE_CR0, 0x6000_0010n);
  setSaveU64(save, SAVE_RFLAGS, 2n);
  setSaveU64(save, SAVE_RIP, 0xfff0n);
  setSaveU64(save, SAVE_DR6, 0xffff_0ff0n);
  setSaveU64(save, SAVE_DR7, 0x400n);
  setSaveU64(save, SAVE_G_PAT, PAT_RESET);
  setSaveU64(save, SAVE_EFER, 0n);
}

/** Code size of the current mode: 64 (long mode, CS.L), 32 (CS.D in protected mode) or 16. */
export type CodeSize = 16 | 32 | 64;

/** The code size the CPU decodes instructions in, from EFER.LMA, CR0.PE and CS's L/D bits. */
export function codeSize(save: DataView): CodeSize {
  const cr0 = save.getUint32(SAVE_CR0, true);
  const cs = save.getUint16(SAVE_CS + 2, true);
  if (save.getUint32(SAVE_EFER, true) & EFER_LMA && cs & SVM_SELECTOR_L_MASK) return 64;
  if (cr0 & CR0_PE && cs & SVM_SELECTOR_DB_MASK) return 32;
  return 16;
}

/**
 * XSAVE's initial configuration of the x87 component (SDM 13.6), which XRSTOR loads for a
 * component whose XSTATE_BV bit is clear: FCW 037F, FSW 0, every register empty and zero, FOP, FIP
 * and FDP 0. (FNINIT differs: it keeps the data registers.)
 */
export function initX87State(
  f: Pick<KvmFpu, 'fpr' | 'fcw' | 'fsw' | 'ftwx' | 'lastOpcode' | 'lastIp' | 'lastDp'>,
): void {
  f.fcw = 0x37f;
  f.fsw = 0;
  f.ftwx = 0;
  f.lastOpcode = 0;
  f.lastIp = 0n;
  f.lastDp = 0n;
  f.fpr.fill(0);
}

/** The x87/SSE state at RESET (fx_init): FCW 037F, MXCSR 1F80, everything else 0. */
export function resetFpu(): KvmFpu {
  return {
    fpr: new Uint8Array(128),
    fcw: 0x37f,
    fsw: 0,
    ftwx: 0,
    lastOpcode: 0,
    lastIp: 0n,
    lastDp: 0n,
    xmm: new Uint8Array(256),
    mxcsr: 0x1f80,
  };
}
