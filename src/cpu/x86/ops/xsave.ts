/**
 * The XSAVE feature set as this CPU has it: XGETBV, XSETBV, and the standard forms of XSAVE and
 * XRSTOR (XSAVE64/XRSTOR64 too) over state components 0 (x87), 1 (SSE) and 2 (AVX: YMM_Hi128, the
 * upper halves of YMM0-15, 256 bytes at offset 576), the ones it has. XCR0 allows bits 0-2, and the
 * platform gives KVM that as the host's XCR0 (kvm_caps.supported_xcr0, hence CPUID 0xD.0 EDX:EAX = 7
 * with an 832-byte area and sub-leaf 2 = 256 bytes at 576). The AVX *instructions* are not
 * modelled (VEX-encoded code stays #UD), so KVM's CPUID never sets leaf 1 ECX.AVX: state component
 * 2 exists only for XSAVE/XRSTOR and the VMSA to carry (KVM lets XCR0.YMM be set from CPUID 0xD.0
 * alone, __kvm_set_xcr's guest_supported_xcr0; a guest OS that follows the AVX bit never sets it).
 * The instructions CPUID 0xD.1 would announce (XSAVEOPT, XSAVEC, XGETBV with ECX = 1,
 * XSAVES/XRSTORS) are not there: it reports none of them, and they stay #UD.
 *
 * Sources: Intel SDM vol. 1 ch. 13 (13.4 the XSAVE area, 13.6 the initial configurations, 13.7
 * "Operation of XSAVE", 13.8.1 "Standard Form of XRSTOR") and vol. 2's XGETBV, XSETBV, XSAVE and
 * XRSTOR, read in public copies (AMD's APM was not at hand; its XSAVE chapter describes the same
 * instructions). Instruction intercepts come after the simple exceptions (#UD, #GP for the CPL),
 * the order RDMSR/WRMSR follow here too (APM vol. 2 15.9). For SEV-ES: Linux's sev_es_init_vmcb
 * (svm_clr_intercept(svm, INTERCEPT_XSETBV)), sev_es_sync_vmsa (save->xcr0 = vcpu->arch.xcr0),
 * sev_es_prepare_guest_switch ("XCR0 is restored on VMEXIT": the hardware switches it) and the
 * guest's vc_handle_cpuid (ghcb_set_xcr0(ghcb, xgetbv(XCR_XFEATURE_ENABLED_MASK)) when CR4.OSXSAVE
 * is set, else 1).
 *
 * - Every instruction: CR4.OSXSAVE clear → #UD. XSAVE/XRSTOR: CR0.TS → #NM (CR0.EM does not
 *   matter); the area not 64-byte aligned → #GP(0); RFBM = XCR0 & EDX:EAX.
 * - XGETBV: EDX:EAX = XCR[ECX] at any CPL; ECX = 0 only (ECX = 1, XINUSE, needs CPUID.(0Dh,1):EAX[2],
 *   which this CPU lacks) else #GP(0). SVM has no XGETBV intercept: never an exit, never a #VC.
 * - XSETBV: #GP(0) at CPL > 0; then the intercept KVM sets for every unprotected guest (SVM_EXIT_XSETBV,
 *   next_rip = the next instruction; kvm_emulate_xsetbv writes vcpu->arch.xcr0, which the CPU loads at
 *   the next VMRUN). sev_es_init_vmcb clears it ("Can't intercept XSETBV, HV can't modify XCR0
 *   directly"), so an SEV-ES guest's XSETBV runs in the CPU: XCR0 := EDX:EAX, #GP(0) for ECX ≠ 0, a
 *   bit this CPU lacks, bit 0 clear or AVX without SSE. KVM learns that XCR0 only from the GHCB,
 *   where the guest's #VC handler puts XGETBV's value with a CPUID request.
 * - XSAVE reads XSTATE_BV, writes the components RFBM selects (x87: bytes 0-23 and the registers
 *   at 32-159; SSE: XMM0-15, XMM0-7 outside 64-bit mode, at 160; AVX: the upper halves of YMM0-15,
 *   YMM0-7 outside 64-bit mode, at 576; MXCSR and MXCSR_MASK at 24-31 when RFBM[1] or RFBM[2]),
 *   and XSTATE_BV[i] := XINUSE[i] for i in RFBM, the other bits kept.
 *   This CPU has no init optimization: XINUSE is all ones (SDM 13.6 allows it: XINUSE[i] = 0 only
 *   promises the initial configuration, a 1 promises nothing). It writes nothing else of the header
 *   (not XCOMP_BV) and nothing of bytes 416-511. FOP, FIP and FDP are always stored, as on an AMD
 *   CPU with CPUID 0x80000008 EBX.XSaveErPtr (older ones store them only with an exception pending,
 *   Linux's X86_BUG_FXSAVE_LEAK).
 * - XRSTOR (standard form): #GP(0) when bytes 8-23 of the header are not all 0 (XCOMP_BV[63] = 1 is
 *   the compacted form, which needs XSAVEC), when XSTATE_BV sets a bit XCR0 clears, or when the MXCSR
 *   it would load has reserved bits set; then for i in RFBM: XSTATE_BV[i] ? load component i : set it
 *   to its initial configuration (x87: FCW 037Fh, FSW 0, FTW empty, FOP/FIP/FDP 0, registers 0;
 *   SSE: the XMM registers 0; AVX: YMM_Hi128 0). MXCSR is loaded from the area whenever RFBM[1] or RFBM[2] is set,
 *   whatever XSTATE_BV says (13.8.1).
 *
 * Everything is read and checked before anything changes, and every page written is checked
 * before the first store, so a faulting instruction has done nothing.
 */
import iced from 'iced-x86';
import {
  FX_MXCSR,
  FX_ST,
  FX_XMM,
  loadX87,
  storeMxcsr,
  storeX87,
  XSAVE_HEADER,
  XSAVE_YMM,
} from '../../../uapi/fxsave.js';
import { SVM_EXIT_XSETBV } from '../../../uapi/svm.js';
import { initX87State } from '../../reset.js';
import { type Exec, NEXT } from '../insn.js';
import { readLinear } from '../mmu.js';
import { linearAddress, readReg, writeReg } from '../operands.js';
import { realMode } from '../segments.js';
import { NM_VECTOR, UD_VECTOR } from '../vectors.js';
import type { Builder } from './builder.js';
import { CR0_TS, probeWrite, readImage, writeImage, xmmBytes } from './sse.js';

/** The CPU (named through Exec, as sse.ts does, to keep cpu.ts out of the runtime imports). */
type X86Cpu = Parameters<Exec>[0];

const { Code, Mnemonic } = iced;

/** CR4.OSXSAVE. */
export const CR4_OSXSAVE = 1 << 18;
/** XCR0 bits: x87 state, SSE state, AVX state. */
export const XFEATURE_FP = 1;
export const XFEATURE_SSE = 2;
export const XFEATURE_YMM = 4;
/** The state components this CPU has (what XCR0 may enable): x87, SSE and AVX. */
export const X86_XCR0_SUPPORTED = XFEATURE_FP | XFEATURE_SSE | XFEATURE_YMM;
/** XINUSE: no init optimization, every component counts as in use. */
const XINUSE = 0xffff_ffff;

/** The standard-form XSAVE area's size: the legacy region, the 64-byte header, YMM_Hi128. */
export const XSAVE_AREA_SIZE = 832;

/** CR4.OSXSAVE clear → #UD. */
function osxsave(cpu: X86Cpu): void {
  if (!(cpu.s.cr4 & CR4_OSXSAVE)) cpu.raise({ vector: UD_VECTOR });
}

/** XSAVE/XRSTOR: #UD, #NM, and the 64-byte-aligned area's linear address (#GP(0) otherwise). */
function xsaveArea(cpu: X86Cpu, i: Parameters<Exec>[1]): number {
  osxsave(cpu);
  if (cpu.s.cr0 & CR0_TS) cpu.raise({ vector: NM_VECTOR });
  const la = linearAddress(cpu, i);
  if (la & 63) cpu.generalProtection(0);
  return la;
}

/** XGETBV: EDX:EAX = XCR0 (ECX = 0); any other XCR is #GP(0). */
const xgetbv: Exec = (cpu) => {
  osxsave(cpu);
  if (readReg(cpu, 1, 4) !== 0) cpu.generalProtection(0);
  writeReg(cpu, 0, 4, cpu.xcr0, 0);
  writeReg(cpu, 2, 4, 0, 0);
  return NEXT;
};

/** XSETBV: intercepted (KVM emulates it), or done here (an SEV-ES guest's). */
const xsetbv: Exec = (cpu) => {
  osxsave(cpu);
  if (!realMode(cpu) && cpu.s.cpl !== 0) cpu.generalProtection(0);
  if (cpu.vmcb.isIntercept(SVM_EXIT_XSETBV)) return cpu.intercept(SVM_EXIT_XSETBV, 0, 0, 0, 0, cpu.nextRip);
  const lo = readReg(cpu, 0, 4);
  if (
    readReg(cpu, 1, 4) !== 0 ||
    readReg(cpu, 2, 4) !== 0 ||
    lo & ~X86_XCR0_SUPPORTED ||
    !(lo & XFEATURE_FP) ||
    (lo & (XFEATURE_SSE | XFEATURE_YMM)) === XFEATURE_YMM
  )
    cpu.generalProtection(0);
  cpu.xcr0 = lo;
  return NEXT;
};

/** The byte ranges [from, to) of the area a component occupies (8-byte multiples). */
const X87_RANGES: readonly (readonly [number, number])[] = [
  [0, FX_MXCSR],
  [FX_ST, FX_XMM],
];
const MXCSR_RANGE = [FX_MXCSR, FX_ST] as const;

/** XSAVE m (XSAVE64 when `wide`: the 64-bit FPU IP and DP, as FXSAVE64). */
function xsave(wide: boolean): Exec {
  return (cpu, i) => {
    const la = xsaveArea(cpu, i);
    const rfbm = cpu.xcr0 & readReg(cpu, 0, 4);
    // XSTATE_BV is read, then written back with the bits of RFBM set to XINUSE's.
    const bvLo = readLinear(cpu, la + XSAVE_HEADER, 8);
    const bvHi = cpu.hi;
    const area = new Uint8Array(XSAVE_AREA_SIZE);
    const v = new DataView(area.buffer);
    const ranges: (readonly [number, number])[] = [];
    if (rfbm & XFEATURE_FP) {
      storeX87(cpu.fpu, v, wide);
      ranges.push(...X87_RANGES);
    }
    if (rfbm & (XFEATURE_SSE | XFEATURE_YMM)) {
      storeMxcsr(cpu.fpu.mxcsr, cpu.mxcsrMask, v);
      ranges.push(MXCSR_RANGE);
    }
    if (rfbm & XFEATURE_SSE) {
      const n = xmmBytes(cpu);
      area.set(cpu.xmmB.subarray(0, n), FX_XMM);
      ranges.push([FX_XMM, FX_XMM + n]);
    }
    if (rfbm & XFEATURE_YMM) {
      // As many upper halves as the mode has XMM registers (YMM8-15 only in 64-bit mode).
      const n = xmmBytes(cpu);
      area.set(cpu.ymmHi.subarray(0, n), XSAVE_YMM);
      ranges.push([XSAVE_YMM, XSAVE_YMM + n]);
    }
    v.setUint32(XSAVE_HEADER, ((bvLo & ~rfbm) | (XINUSE & rfbm)) >>> 0, true);
    v.setUint32(XSAVE_HEADER + 4, bvHi, true);
    ranges.push([XSAVE_HEADER, XSAVE_HEADER + 8]);
    for (const [from, to] of ranges) probeWrite(cpu, la + from, to - from);
    for (const [from, to] of ranges) writeImage(cpu, la, v, from, to);
    return NEXT;
  };
}

/** XRSTOR m (XRSTOR64 when `wide`), the standard form. */
function xrstor(wide: boolean): Exec {
  return (cpu, i) => {
    const la = xsaveArea(cpu, i);
    const xcr0 = cpu.xcr0;
    const rfbm = xcr0 & readReg(cpu, 0, 4);
    const area = new Uint8Array(XSAVE_AREA_SIZE);
    const v = new DataView(area.buffer);
    // The header: XSTATE_BV, then XCOMP_BV and the next 8 bytes, which the standard form needs 0.
    readImage(cpu, la, v, XSAVE_HEADER, XSAVE_HEADER + 24);
    for (let off = XSAVE_HEADER + 8; off < XSAVE_HEADER + 24; off += 4)
      if (v.getUint32(off, true) !== 0) cpu.generalProtection(0);
    const bv = v.getUint32(XSAVE_HEADER, true);
    if (bv & ~xcr0 || v.getUint32(XSAVE_HEADER + 4, true) !== 0) cpu.generalProtection(0);
    const x87 = rfbm & XFEATURE_FP;
    const sse = rfbm & XFEATURE_SSE;
    const ymm = rfbm & XFEATURE_YMM;
    const mxcsr = rfbm & (XFEATURE_SSE | XFEATURE_YMM);
    const n = xmmBytes(cpu);
    if (x87 && bv & XFEATURE_FP) for (const [from, to] of X87_RANGES) readImage(cpu, la, v, from, to);
    if (mxcsr) readImage(cpu, la, v, MXCSR_RANGE[0], MXCSR_RANGE[1]);
    if (sse && bv & XFEATURE_SSE) readImage(cpu, la, v, FX_XMM, FX_XMM + n);
    if (ymm && bv & XFEATURE_YMM) readImage(cpu, la, v, XSAVE_YMM, XSAVE_YMM + n);
    const newMxcsr = v.getUint32(FX_MXCSR, true);
    if (mxcsr && newMxcsr & ~cpu.mxcsrMask) cpu.generalProtection(0);
    if (x87) {
      if (bv & XFEATURE_FP) loadX87(cpu.fpu, v, wide);
      else initX87State(cpu.fpu);
    }
    if (mxcsr) cpu.fpu.mxcsr = newMxcsr;
    if (sse) {
      if (bv & XFEATURE_SSE) cpu.xmmB.set(area.subarray(FX_XMM, FX_XMM + n));
      else cpu.xmmB.fill(0, 0, n);
    }
    if (ymm) {
      if (bv & XFEATURE_YMM) cpu.ymmHi.set(area.subarray(XSAVE_YMM, XSAVE_YMM + n));
      else cpu.ymmHi.fill(0, 0, n);
    }
    return NEXT;
  };
}

const BY_CODE = new Map<number, Exec>([
  [Code.Xsave_mem, xsave(false)],
  [Code.Xsave64_mem, xsave(true)],
  [Code.Xrstor_mem, xrstor(false)],
  [Code.Xrstor64_mem, xrstor(true)],
]);

const byCode: Builder = (ins) => BY_CODE.get(ins.code);

export const XSAVE_BUILDERS: [number, Builder][] = [
  [Mnemonic.Xgetbv, () => xgetbv],
  [Mnemonic.Xsetbv, () => xsetbv],
  [Mnemonic.Xsave, byCode],
  [Mnemonic.Xsave64, byCode],
  [Mnemonic.Xrstor, byCode],
  [Mnemonic.Xrstor64, byCode],
];
