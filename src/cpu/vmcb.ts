/**
 * The VMCB (AMD APM vol. 2, appendix B; struct vmcb_control_area / vmcb_save_area /
 * sev_es_save_area in arch/x86/include/asm/svm.h): the one place KVM and a guest CPU exchange state.
 * KVM writes intercepts, event injection and (for unprotected guests) the save area before VMRUN;
 * the CPU writes exit_code, exit_info_1/2, exit_int_info, next_rip and the decode-assist bytes at
 * #VMEXIT, and keeps the guest's architectural state in the save area.
 *
 * Both halves are real byte layouts, so offsets can be checked against the kernel's headers and the
 * save area has the VMSA's format: for an SEV-ES guest the save area lives in the guest's encrypted
 * VMSA page, which KVM cannot read, and the control area is all KVM shares with the CPU.
 *
 * The I/O and MSR permission maps the control area points at (iopm_base_pa, msrpm_base_pa) are held
 * by the Vmcb object itself (msrpm.ts), with the queries a CPU asks before an IN/OUT or RDMSR/WRMSR.
 *
 * u64 fields are read as bigint, or as 32-bit halves (`...Lo` / `...Hi`) where a hot path wants no
 * BigInt; a GPA (below 2^52) also reads as an exact number.
 */

import type { KvmFpu } from '../uapi/fpu.js';
import { SVM_EXIT_ERR, SVM_EXIT_IOIO, SVM_EXIT_MSR } from '../uapi/svm.js';
import { IOPM_SIZE, iopmTest, MSRPM_SIZE, msrpmTest } from './msrpm.js';
import {
  VCPU_REGS_R8,
  VCPU_REGS_RAX,
  VCPU_REGS_RBP,
  VCPU_REGS_RBX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDI,
  VCPU_REGS_RDX,
  VCPU_REGS_RSI,
  VCPU_REGS_RSP,
} from './regs.js';

/** Bytes of the control area; the save area starts here in a plain VMCB. */
export const VMCB_CONTROL_SIZE = 0x400;
/** Bytes of a save area page (the VMSA of an SEV-ES guest is one page). */
export const VMCB_SAVE_SIZE = 0x1000;

// struct vmcb_control_area offsets.
/** Intercept vectors, one u32 word each: CR (0x00), DR (0x04), exceptions (0x08), misc (0x0c, 0x10, 0x14). */
export const VMCB_INTERCEPTS = 0x000;
/** Number of u32 intercept words. */
export const VMCB_INTERCEPT_WORDS = 6;
/** Where hardware finds the I/O permission map; the model keeps the map in Vmcb.iopm instead. */
export const VMCB_IOPM_BASE_PA = 0x040;
/** Where hardware finds the MSR permission map; the model keeps the map in Vmcb.msrpm instead. */
export const VMCB_MSRPM_BASE_PA = 0x048;
export const VMCB_TSC_OFFSET = 0x050;
export const VMCB_ASID = 0x058;
export const VMCB_TLB_CTL = 0x05c;
/** tlb_ctl: what VMRUN flushes first (KVM's TLB_CONTROL_*): nothing, or this guest's TLB entries. */
export const TLB_CONTROL_DO_NOTHING = 0;
export const TLB_CONTROL_FLUSH_ASID = 3;
export const VMCB_INT_CTL = 0x060;
export const VMCB_INT_VECTOR = 0x064;
export const VMCB_INT_STATE = 0x068;
export const VMCB_EXIT_CODE = 0x070;
export const VMCB_EXIT_CODE_HI = 0x074;
export const VMCB_EXIT_INFO_1 = 0x078;
export const VMCB_EXIT_INFO_2 = 0x080;
export const VMCB_EXIT_INT_INFO = 0x088;
export const VMCB_EXIT_INT_INFO_ERR = 0x08c;
export const VMCB_NESTED_CTL = 0x090;
/** nested_ctl (VMCB 0x90) bits: nested paging, SEV (memory encryption under the VMCB's ASID), SEV-ES. */
export const SVM_NESTED_CTL_NP_ENABLE = 1;
export const SVM_NESTED_CTL_SEV_ENABLE = 2;
export const SVM_NESTED_CTL_SEV_ES_ENABLE = 4;
/** The GHCB MSR of an SEV-ES guest (MSR_AMD64_SEV_ES_GHCB), kept by hardware in the VMCB. */
export const VMCB_GHCB_GPA = 0x0a0;
export const VMCB_EVENT_INJ = 0x0a8;
export const VMCB_EVENT_INJ_ERR = 0x0ac;
export const VMCB_NESTED_CR3 = 0x0b0;
export const VMCB_NEXT_RIP = 0x0c8;
/** Decode assist: how many instruction bytes follow (0-15). */
export const VMCB_INSN_LEN = 0x0d0;
export const VMCB_INSN_BYTES = 0x0d1;
/** Most instruction bytes decode assist provides. */
export const VMCB_INSN_BYTES_MAX = 15;
export const VMCB_VMSA_PA = 0x108;

// struct vmcb_save_area (= the start of struct sev_es_save_area), offsets in the save area.
/** struct vmcb_seg: selector u16 @0, attrib u16 @2, limit u32 @4, base u64 @8. */
export const VMCB_SEG_SIZE = 16;
export const SAVE_ES = 0x000;
export const SAVE_CS = 0x010;
export const SAVE_SS = 0x020;
export const SAVE_DS = 0x030;
export const SAVE_FS = 0x040;
export const SAVE_GS = 0x050;
export const SAVE_GDTR = 0x060;
export const SAVE_LDTR = 0x070;
export const SAVE_IDTR = 0x080;
export const SAVE_TR = 0x090;
export const SAVE_CPL = 0x0cb;
export const SAVE_EFER = 0x0d0;
export const SAVE_CR4 = 0x148;
export const SAVE_CR3 = 0x150;
export const SAVE_CR0 = 0x158;
export const SAVE_DR7 = 0x160;
export const SAVE_DR6 = 0x168;
export const SAVE_RFLAGS = 0x170;
export const SAVE_RIP = 0x178;
export const SAVE_RSP = 0x1d8;
export const SAVE_RAX = 0x1f8;
export const SAVE_STAR = 0x200;
export const SAVE_LSTAR = 0x208;
export const SAVE_CSTAR = 0x210;
export const SAVE_SFMASK = 0x218;
export const SAVE_KERNEL_GS_BASE = 0x220;
export const SAVE_SYSENTER_CS = 0x228;
export const SAVE_SYSENTER_ESP = 0x230;
export const SAVE_SYSENTER_EIP = 0x238;
export const SAVE_CR2 = 0x240;
export const SAVE_G_PAT = 0x268;
export const SAVE_DBGCTL = 0x270;
/** sev_es_save_area only: the GPRs hardware saves for an SEV-ES guest (RAX and RSP are above). */
export const SAVE_RCX = 0x308;
export const SAVE_RDX = 0x310;
export const SAVE_RBX = 0x318;
export const SAVE_RBP = 0x328;
export const SAVE_RSI = 0x330;
export const SAVE_RDI = 0x338;
export const SAVE_R8 = 0x340;
export const SAVE_XCR0 = 0x3e8;
/**
 * sev_es_save_area's floating-point area (arch/x86/include/asm/svm.h), which VMRUN of an SEV-ES
 * guest loads and #VMEXIT saves: FDP, MXCSR, the abridged tag word, FSW, FCW, FOP, FDS, FCS, FIP,
 * the x87 registers (bytes 0-7 of ST(i) at 8 i, bytes 8-9 at 64 + 2 i), XMM0-15 and YMM_Hi128 0-15.
 */
export const SAVE_X87_DP = 0x400;
export const SAVE_MXCSR = 0x408;
export const SAVE_X87_FTW = 0x40c;
export const SAVE_X87_FSW = 0x40e;
export const SAVE_X87_FCW = 0x410;
export const SAVE_X87_FOP = 0x412;
export const SAVE_X87_DS = 0x414;
export const SAVE_X87_CS = 0x416;
export const SAVE_X87_RIP = 0x418;
export const SAVE_FPREG_X87 = 0x420;
export const SAVE_FPREG_XMM = 0x470;
export const SAVE_FPREG_YMM = 0x570;

/** Segment attribute bits (vmcb_seg.attrib: the descriptor's type..G bits packed into 12 bits). */
export const SVM_SELECTOR_TYPE_MASK = 0xf;
export const SVM_SELECTOR_S_MASK = 1 << 4;
export const SVM_SELECTOR_DPL_SHIFT = 5;
export const SVM_SELECTOR_P_MASK = 1 << 7;
export const SVM_SELECTOR_AVL_MASK = 1 << 8;
export const SVM_SELECTOR_L_MASK = 1 << 9;
export const SVM_SELECTOR_DB_MASK = 1 << 10;
export const SVM_SELECTOR_G_MASK = 1 << 11;

/** int_ctl: a virtual interrupt is pending (V_IRQ), the VINTR exit KVM uses as interrupt window. */
export const V_IRQ_MASK = 1 << 8;
/** int_ctl: the guest's RFLAGS.IF masks virtual interrupts (KVM always sets it). */
export const V_INTR_MASKING_MASK = 1 << 24;
/** int_state: the guest is in an interrupt shadow (after STI or MOV SS). */
export const SVM_INTERRUPT_SHADOW_MASK = 1;
/** int_state: the guest's RFLAGS.IF, written at #VMEXIT (what KVM reads for an SEV-ES guest, whose RFLAGS it cannot). */
export const SVM_GUEST_INTERRUPT_MASK = 2;

// event_inj / exit_int_info fields are SVM facts (arch/x86/include/asm/svm.h, in src/uapi/svm.ts).
export {
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_TYPE_INTR,
  SVM_EVTINJ_TYPE_MASK,
  SVM_EVTINJ_TYPE_NMI,
  SVM_EVTINJ_TYPE_SHIFT,
  SVM_EVTINJ_TYPE_SOFT,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VALID_ERR,
  SVM_EVTINJ_VEC_MASK,
} from '../uapi/svm.js';

/** A segment register as the save area holds it (vmcb_seg). */
export interface VmcbSegment {
  selector: number;
  /** The packed attribute bits (SVM_SELECTOR_*). */
  attrib: number;
  limit: number;
  base: bigint;
}

const TWO32 = 0x1_0000_0000;

/**
 * A 64-bit field holding an address (RIP, next_rip, a GPA) as a number: exact below 2^53, which
 * every address the model produces is. Two 32-bit accesses, no BigInt.
 */
export function getU64Number(view: DataView, off: number): number {
  return view.getUint32(off, true) + view.getUint32(off + 4, true) * TWO32;
}

/** Store a non-negative integer below 2^53 in a 64-bit field (see {@link getU64Number}). */
export function setU64Number(view: DataView, off: number, v: number): void {
  const lo = v >>> 0; // ToUint32 is exact modulo 2^32 for any integer below 2^53
  view.setUint32(off, lo, true);
  view.setUint32(off + 4, v < TWO32 ? 0 : (v - lo) / TWO32, true);
}

/** A 64-bit field as a sign-extended number: exact for a canonical address, the top of the address space too. */
export function getS64Number(view: DataView, off: number): number {
  return view.getInt32(off + 4, true) * TWO32 + view.getUint32(off, true);
}

/** Store a sign-extended number (a canonical address, {@link getS64Number}'s) in a 64-bit field. */
export function setS64Number(view: DataView, off: number, v: number): void {
  view.setUint32(off, v >>> 0, true);
  view.setUint32(off + 4, Math.floor(v / TWO32) >>> 0, true);
}

/**
 * One vCPU's VMCB: the control area KVM and the CPU share and, for an unprotected guest, the save
 * area. For an SEV-ES guest the CPU keeps its save area (the VMSA) to itself and `save` is unused.
 */
export class Vmcb {
  readonly control: DataView;
  readonly save: DataView;
  /** The 15 decode-assist bytes, aliasing the control area. */
  readonly insnBytes: Uint8Array;
  /**
   * The I/O permission map (msrpm.ts). Hardware reads it at iopm_base_pa, a host physical address;
   * the model has no host physical memory, so the map lives here and iopm_base_pa stays 0. A fresh
   * VMCB's map is all clear; KVM fills it (init_vmcb).
   */
  readonly iopm = new Uint8Array(IOPM_SIZE);
  /** The MSR permission map (msrpm.ts), read by hardware at msrpm_base_pa; here for the same reason. */
  readonly msrpm = new Uint8Array(MSRPM_SIZE);

  constructor() {
    const control = new Uint8Array(VMCB_CONTROL_SIZE);
    this.control = new DataView(control.buffer);
    this.save = new DataView(new ArrayBuffer(VMCB_SAVE_SIZE));
    this.insnBytes = control.subarray(VMCB_INSN_BYTES, VMCB_INSN_BYTES + VMCB_INSN_BYTES_MAX);
  }

  // Intercepts: bit n of the vector is the intercept of SVM exit code n (0x00-0xbf), as KVM's
  // INTERCEPT_* enum (intercepts.ts) numbers them.

  /** vmcb_is_intercept. */
  isIntercept(exitCode: number): boolean {
    return (
      (this.control.getUint32(VMCB_INTERCEPTS + 4 * (exitCode >>> 5), true) & (1 << (exitCode & 31))) !== 0
    );
  }
  /** vmcb_set_intercept / vmcb_clr_intercept. */
  setIntercept(exitCode: number, on: boolean): void {
    const off = VMCB_INTERCEPTS + 4 * (exitCode >>> 5);
    const w = this.control.getUint32(off, true);
    const bit = 1 << (exitCode & 31);
    this.control.setUint32(off, on ? (w | bit) >>> 0 : (w & ~bit) >>> 0, true);
  }

  /**
   * Does RDMSR (`write` false) or WRMSR of MSR `index` #VMEXIT with SVM_EXIT_MSR? Only when the
   * VMCB intercepts MSR_PROT and the MSR permission map intercepts the access (an MSR outside the
   * map's three ranges always is). What the CPU asks before it runs the instruction itself.
   */
  msrIntercepted(index: number, write: boolean): boolean {
    return this.isIntercept(SVM_EXIT_MSR) && msrpmTest(this.msrpm, index, write);
  }

  /**
   * Does an IN/OUT/INS/OUTS of `size` bytes (1, 2 or 4) at `port` #VMEXIT with SVM_EXIT_IOIO? Only
   * when the VMCB intercepts IOIO_PROT and the I/O permission map has a bit set for any byte of it.
   */
  ioIntercepted(port: number, size: number): boolean {
    return this.isIntercept(SVM_EXIT_IOIO) && iopmTest(this.iopm, port, size);
  }

  // #VMEXIT fields, written by the CPU.

  get exitCode(): number {
    return this.control.getUint32(VMCB_EXIT_CODE, true);
  }
  set exitCode(v: number) {
    this.control.setUint32(VMCB_EXIT_CODE, v >>> 0, true);
  }
  get exitCodeHi(): number {
    return this.control.getUint32(VMCB_EXIT_CODE_HI, true);
  }
  set exitCodeHi(v: number) {
    this.control.setUint32(VMCB_EXIT_CODE_HI, v >>> 0, true);
  }
  get exitInfo1Lo(): number {
    return this.control.getUint32(VMCB_EXIT_INFO_1, true);
  }
  get exitInfo1Hi(): number {
    return this.control.getUint32(VMCB_EXIT_INFO_1 + 4, true);
  }
  get exitInfo2Lo(): number {
    return this.control.getUint32(VMCB_EXIT_INFO_2, true);
  }
  get exitInfo2Hi(): number {
    return this.control.getUint32(VMCB_EXIT_INFO_2 + 4, true);
  }
  get exitInfo1(): bigint {
    return this.control.getBigUint64(VMCB_EXIT_INFO_1, true);
  }
  get exitInfo2(): bigint {
    return this.control.getBigUint64(VMCB_EXIT_INFO_2, true);
  }
  /** exit_info_2 as a guest physical address (NPF): exact, since a GPA is below 2^52. */
  get exitInfo2Gpa(): number {
    return getU64Number(this.control, VMCB_EXIT_INFO_2);
  }
  /** Write exit_code (exit_code_hi: `codeHi`, 0 unless given) and both infos as 32-bit halves. */
  setExit(
    code: number,
    info1Lo: number,
    info1Hi: number,
    info2Lo: number,
    info2Hi: number,
    codeHi = 0,
  ): void {
    const c = this.control;
    c.setUint32(VMCB_EXIT_CODE, code >>> 0, true);
    c.setUint32(VMCB_EXIT_CODE_HI, codeHi >>> 0, true);
    c.setUint32(VMCB_EXIT_INFO_1, info1Lo >>> 0, true);
    c.setUint32(VMCB_EXIT_INFO_1 + 4, info1Hi >>> 0, true);
    c.setUint32(VMCB_EXIT_INFO_2, info2Lo >>> 0, true);
    c.setUint32(VMCB_EXIT_INFO_2 + 4, info2Hi >>> 0, true);
  }
  /** VMRUN failed (VMEXIT_INVALID): exit_code SVM_EXIT_ERR, all 64 bits set; nothing ran. */
  setVmrunFailure(): void {
    this.setExit(SVM_EXIT_ERR, 0, 0, 0, 0, SVM_EXIT_ERR);
  }
  /** The last VMRUN failed (exit_code SVM_EXIT_ERR). */
  get vmrunFailed(): boolean {
    return this.exitCode === SVM_EXIT_ERR >>> 0 && this.exitCodeHi === SVM_EXIT_ERR >>> 0;
  }
  get nextRip(): bigint {
    return this.control.getBigUint64(VMCB_NEXT_RIP, true);
  }
  set nextRip(v: bigint) {
    this.control.setBigUint64(VMCB_NEXT_RIP, BigInt.asUintN(64, v), true);
  }
  get insnLen(): number {
    return this.control.getUint8(VMCB_INSN_LEN);
  }
  set insnLen(v: number) {
    this.control.setUint8(VMCB_INSN_LEN, v);
  }

  // Fields KVM writes for the next VMRUN.

  get eventInj(): number {
    return this.control.getUint32(VMCB_EVENT_INJ, true);
  }
  set eventInj(v: number) {
    this.control.setUint32(VMCB_EVENT_INJ, v >>> 0, true);
  }
  get eventInjErr(): number {
    return this.control.getUint32(VMCB_EVENT_INJ_ERR, true);
  }
  set eventInjErr(v: number) {
    this.control.setUint32(VMCB_EVENT_INJ_ERR, v >>> 0, true);
  }
  get intCtl(): number {
    return this.control.getUint32(VMCB_INT_CTL, true);
  }
  set intCtl(v: number) {
    this.control.setUint32(VMCB_INT_CTL, v >>> 0, true);
  }
  /** tlb_ctl (a byte): the TLB flush the next VMRUN does (TLB_CONTROL_*). */
  get tlbCtl(): number {
    return this.control.getUint8(VMCB_TLB_CTL);
  }
  set tlbCtl(v: number) {
    this.control.setUint8(VMCB_TLB_CTL, v);
  }
  get intState(): number {
    return this.control.getUint32(VMCB_INT_STATE, true);
  }
  set intState(v: number) {
    this.control.setUint32(VMCB_INT_STATE, v >>> 0, true);
  }
  /** The guest's ASID: its TLB tag and, with SEV, the memory controller's key slot. */
  get asid(): number {
    return this.control.getUint32(VMCB_ASID, true);
  }
  set asid(v: number) {
    this.control.setUint32(VMCB_ASID, v >>> 0, true);
  }
  /** nested_ctl: SVM_NESTED_CTL_* (nested paging, SEV, SEV-ES). */
  get nestedCtl(): number {
    return this.control.getUint32(VMCB_NESTED_CTL, true);
  }
  set nestedCtl(v: number) {
    this.control.setUint32(VMCB_NESTED_CTL, v >>> 0, true);
  }
  /** vmsa_pa (SEV-ES): the system physical address of the guest's VMSA page. */
  get vmsaPa(): number {
    return getU64Number(this.control, VMCB_VMSA_PA);
  }
  set vmsaPa(v: number) {
    setU64Number(this.control, VMCB_VMSA_PA, v);
  }
  /** The GHCB MSR (SEV-ES): hardware reads and writes it here, not in the save area. */
  get ghcbGpa(): bigint {
    return this.control.getBigUint64(VMCB_GHCB_GPA, true);
  }
  set ghcbGpa(v: bigint) {
    this.control.setBigUint64(VMCB_GHCB_GPA, BigInt.asUintN(64, v), true);
  }
  /** Bits 31:0 and 63:32 of the GHCB MSR: the protocol's GHCBInfo and CPUID value fit in a number. */
  get ghcbGpaLo(): number {
    return this.control.getUint32(VMCB_GHCB_GPA, true);
  }
  get ghcbGpaHi(): number {
    return this.control.getUint32(VMCB_GHCB_GPA + 4, true);
  }
  /** Write the GHCB MSR as two 32-bit halves. */
  setGhcbGpa(lo: number, hi: number): void {
    this.control.setUint32(VMCB_GHCB_GPA, lo >>> 0, true);
    this.control.setUint32(VMCB_GHCB_GPA + 4, hi >>> 0, true);
  }
}

// Save-area accessors on any save-area view (the VMCB's, or a backend's private VMSA).

/** A u64 of a save area. */
export function saveU64(save: DataView, off: number): bigint {
  return save.getBigUint64(off, true);
}

/** Store a u64 in a save area. */
export function setSaveU64(save: DataView, off: number, v: bigint): void {
  save.setBigUint64(off, BigInt.asUintN(64, v), true);
}

/** A segment of a save area. */
export function saveSegment(save: DataView, off: number): VmcbSegment {
  return {
    selector: save.getUint16(off, true),
    attrib: save.getUint16(off + 2, true),
    limit: save.getUint32(off + 4, true),
    base: save.getBigUint64(off + 8, true),
  };
}

/** Store a segment in a save area. */
export function setSaveSegment(save: DataView, off: number, s: VmcbSegment): void {
  save.setUint16(off, s.selector & 0xffff, true);
  save.setUint16(off + 2, s.attrib & 0xfff, true);
  save.setUint32(off + 4, s.limit >>> 0, true);
  save.setBigUint64(off + 8, BigInt.asUintN(64, s.base), true);
}

// sev_es_save_area's GPR and floating-point fields: KVM writes them (sev_es_sync_vmsa), an SEV-ES
// guest's VMRUN loads them.

/**
 * The floating-point state VMRUN loads from an SEV-ES guest's VMSA (sev_es_save_area's x87_dp to
 * fpreg_ymm, the fields sev_es_sync_vmsa fills), into `fpu` and `ymmHi` in place. x87_ds and x87_cs
 * are not kept: the model's FPU pointers are 64-bit offsets with no selector (as FXSAVE64 stores them).
 */
export function loadVmsaFpu(save: DataView, fpu: KvmFpu, ymmHi: Uint8Array): void {
  const page = new Uint8Array(save.buffer, save.byteOffset, save.byteLength);
  fpu.lastDp = save.getBigUint64(SAVE_X87_DP, true);
  fpu.mxcsr = save.getUint32(SAVE_MXCSR, true);
  // x87_ftw holds FXSAVE's abridged tag word (one bit per register, in its low byte).
  fpu.ftwx = save.getUint8(SAVE_X87_FTW);
  fpu.fsw = save.getUint16(SAVE_X87_FSW, true);
  fpu.fcw = save.getUint16(SAVE_X87_FCW, true);
  fpu.lastOpcode = save.getUint16(SAVE_X87_FOP, true);
  fpu.lastIp = save.getBigUint64(SAVE_X87_RIP, true);
  // fpreg_x87: bytes 0-7 of each 10-byte register at 8 i, bytes 8-9 at 64 + 2 i.
  for (let i = 0; i < 8; i++) {
    fpu.fpr.set(page.subarray(SAVE_FPREG_X87 + i * 8, SAVE_FPREG_X87 + i * 8 + 8), i * 16);
    fpu.fpr.set(page.subarray(SAVE_FPREG_X87 + 64 + i * 2, SAVE_FPREG_X87 + 66 + i * 2), i * 16 + 8);
    fpu.fpr.fill(0, i * 16 + 10, i * 16 + 16);
  }
  fpu.xmm.set(page.subarray(SAVE_FPREG_XMM, SAVE_FPREG_XMM + 256));
  ymmHi.set(page.subarray(SAVE_FPREG_YMM, SAVE_FPREG_YMM + 256));
}

/**
 * The floating-point state KVM writes into an SEV-ES guest's VMSA (sev_es_sync_vmsa, from
 * vcpu->arch.guest_fpu's xsave): FDP, MXCSR, the abridged tag word, FSW, FCW, FOP, FIP (FDS and FCS
 * 0), the registers, XMM0-15 and YMM_Hi128 (zeros when the component is in its initial
 * configuration: the same bytes). loadVmsaFpu's inverse.
 */
export function storeVmsaFpu(save: DataView, fpu: KvmFpu, ymmHi: Uint8Array): void {
  const page = new Uint8Array(save.buffer, save.byteOffset, save.byteLength);
  save.setBigUint64(SAVE_X87_DP, fpu.lastDp, true);
  save.setUint32(SAVE_MXCSR, fpu.mxcsr, true);
  save.setUint16(SAVE_X87_FTW, fpu.ftwx, true);
  save.setUint16(SAVE_X87_FSW, fpu.fsw, true);
  save.setUint16(SAVE_X87_FCW, fpu.fcw, true);
  save.setUint16(SAVE_X87_FOP, fpu.lastOpcode, true);
  save.setUint16(SAVE_X87_DS, 0, true);
  save.setUint16(SAVE_X87_CS, 0, true);
  save.setBigUint64(SAVE_X87_RIP, fpu.lastIp, true);
  for (let i = 0; i < 8; i++) {
    page.set(fpu.fpr.subarray(i * 16, i * 16 + 8), SAVE_FPREG_X87 + i * 8);
    page.set(fpu.fpr.subarray(i * 16 + 8, i * 16 + 10), SAVE_FPREG_X87 + 64 + i * 2);
  }
  page.set(fpu.xmm.subarray(0, 256), SAVE_FPREG_XMM);
  page.set(ymmHi, SAVE_FPREG_YMM);
}

/**
 * Where sev_es_save_area keeps each GPR: [KVM's register index, VMSA offset]. RIP is not among
 * them: it is in the VMCB save area's layout, loaded and synced with the rest of it.
 */
export const VMSA_GPRS: readonly (readonly [number, number])[] = [
  [VCPU_REGS_RAX, SAVE_RAX],
  [VCPU_REGS_RCX, SAVE_RCX],
  [VCPU_REGS_RDX, SAVE_RDX],
  [VCPU_REGS_RBX, SAVE_RBX],
  [VCPU_REGS_RSP, SAVE_RSP],
  [VCPU_REGS_RBP, SAVE_RBP],
  [VCPU_REGS_RSI, SAVE_RSI],
  [VCPU_REGS_RDI, SAVE_RDI],
  ...Array.from({ length: 8 }, (_, i) => [VCPU_REGS_R8 + i, SAVE_R8 + 8 * i] as const),
];
