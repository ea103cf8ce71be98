/**
 * SSE/SSE2 state and the integer and move subset compiled code uses for memcpy, memset and struct
 * copies (legacy encodings; the MMX and VEX forms stay #UD): MOVAPS/MOVAPD/MOVDQA and their unaligned
 * forms, MOVD/MOVQ, MOVSS/MOVSD moves, MOVLPS/MOVHPS/MOVLPD/MOVHPD, MOVHLPS/MOVLHPS, the bitwise
 * group, PCMPEQB/W/D, PMOVMSKB, unpacks, PSHUFD, PADD/PSUB B/W/D/Q, byte and quadword shifts, the
 * non-temporal stores, LDMXCSR/STMXCSR and FXSAVE/FXRSTOR.
 *
 * The XMM registers are the CPU's fpu state (KVM's guest FPU, used in place; cpu.xmmB/W/D view
 * it). In a record of this family r0 and r1 hold XMM register numbers where the operand is an XMM
 * register (GPR operands keep their GPR numbers; a memory operand leaves REG_NONE).
 *
 * Before anything else: CR0.EM → #UD, CR4.OSFXSR clear → #UD, CR0.TS → #NM (FXSAVE/FXRSTOR: EM or
 * TS → #NM). A 128-bit memory operand of a legacy SSE instruction must be 16-byte aligned (#GP(0)),
 * but for the explicitly unaligned moves.
 */

import iced from 'iced-x86';
import {
  FX_MXCSR,
  FX_XMM,
  loadX87,
  MXCSR_MASK_AMD,
  MXCSR_MASK_INTEL,
  storeMxcsr,
  storeX87,
} from '../../../uapi/fxsave.js';
import type { X86Vendor } from '../alu.js';
import { type Exec, type Insn, NEXT, REG_NONE } from '../insn.js';
import { ACC_WRITE, PAGE_SIZE, pageOffset, readLinear, tlbEntry, writeLinear } from '../mmu.js';
import { linearAddress, readReg, readRm1, writeReg, writeRm0 } from '../operands.js';
import { NM_VECTOR, UD_VECTOR } from '../vectors.js';
import { byMnemonic, codeBuilder } from './builder.js';

/** The CPU (named through Exec: a direct type import of cpu.ts would read as a runtime cycle to the import scan). */
type X86Cpu = Parameters<Exec>[0];

const { Code, Register } = iced;

/** CR0.EM, CR0.TS, CR4.OSFXSR. */
export const CR0_EM = 1 << 2;
export const CR0_TS = 1 << 3;
export const CR4_OSFXSR = 1 << 9;
/**
 * MXCSR bits that may be set (MXCSR_MASK as FXSAVE reports it); others are #GP(0). The interpreter
 * accepts and saves AMD's MM (bit 17) but keeps the alignment #GP of 16-byte operands.
 */
export function mxcsrMaskOf(vendor: X86Vendor): number {
  return vendor === 'amd' ? MXCSR_MASK_AMD : MXCSR_MASK_INTEL;
}

/** The SSE instruction checks: CR0.EM or CR4.OSFXSR clear → #UD, CR0.TS → #NM. */
function sseCheck(cpu: X86Cpu): void {
  const s = cpu.s;
  if (s.cr0 & CR0_EM || !(s.cr4 & CR4_OSFXSR)) cpu.raise({ vector: UD_VECTOR });
  if (s.cr0 & CR0_TS) cpu.raise({ vector: NM_VECTOR });
}

/** FXSAVE/FXRSTOR: CR0.EM or CR0.TS → #NM. */
function fxCheck(cpu: X86Cpu): void {
  if (cpu.s.cr0 & (CR0_EM | CR0_TS)) cpu.raise({ vector: NM_VECTOR });
}

/** The memory operand's linear address, #GP(0) unless 16-byte aligned when `align`. */
function memAddress(cpu: X86Cpu, i: Insn, align: boolean): number {
  const la = linearAddress(cpu, i);
  if (align && la & 15) cpu.generalProtection(0);
  return la;
}

/** Scratch for a source operand (dwords, with word and byte views). */
const SRC = new Uint32Array(4);
const SRC_W = new Uint16Array(SRC.buffer);
const SRC_B = new Uint8Array(SRC.buffer);
/** Scratch for a result built from both operands. */
const TMP_B = new Uint8Array(16);

/** Read `bytes` (4, 8, 16) at a linear address into SRC, the rest zeroed. */
function readMem(cpu: X86Cpu, la: number, bytes: number): void {
  if (bytes === 4) {
    SRC[0] = readLinear(cpu, la, 4);
    SRC[1] = 0;
  } else {
    SRC[0] = readLinear(cpu, la, 8);
    SRC[1] = cpu.hi;
  }
  if (bytes === 16) {
    SRC[2] = readLinear(cpu, la + 8, 8);
    SRC[3] = cpu.hi;
  } else {
    SRC[2] = 0;
    SRC[3] = 0;
  }
}

/** Operand 1 (XMM r1, or `bytes` of memory) into SRC. */
function loadSrc(cpu: X86Cpu, i: Insn, bytes: number, align: boolean): void {
  if (i.r1 !== REG_NONE) {
    const d = cpu.xmmD;
    const o = 4 * i.r1;
    SRC[0] = d[o]!;
    SRC[1] = d[o + 1]!;
    SRC[2] = d[o + 2]!;
    SRC[3] = d[o + 3]!;
  } else readMem(cpu, memAddress(cpu, i, align), bytes);
}

/**
 * Write dwords `n` (1, 2, 4) of XMM register `r` from dword `from` on to memory; a store that
 * crosses a page checks both pages first, so a fault stores nothing.
 */
function storeMem(cpu: X86Cpu, la: number, r: number, from: number, n: number): void {
  const d = cpu.xmmD;
  const o = 4 * r + from;
  if (n === 1) {
    writeLinear(cpu, la, 4, d[o]!, 0);
    return;
  }
  if (n === 4 && pageOffset(la) + 16 > PAGE_SIZE) {
    tlbEntry(cpu, la, ACC_WRITE);
    tlbEntry(cpu, la + 15, ACC_WRITE);
  }
  writeLinear(cpu, la, 8, d[o]!, d[o + 1]!);
  if (n === 4) writeLinear(cpu, la + 8, 8, d[o + 2]!, d[o + 3]!);
}

/** Copy SRC dwords [0, n) into XMM r0 at dword `at`, zeroing the rest when `zero`. */
function putSrc(cpu: X86Cpu, r: number, at: number, n: number, zero: boolean): void {
  const d = cpu.xmmD;
  const o = 4 * r;
  if (zero) d.fill(0, o, o + 4);
  for (let k = 0; k < n; k++) d[o + at + k] = SRC[k]!;
}

// ---- moves ----

/** XMM ← XMM/m128. */
function movLoad128(align: boolean): Exec {
  return (cpu, i) => {
    sseCheck(cpu);
    loadSrc(cpu, i, 16, align);
    putSrc(cpu, i.r0, 0, 4, false);
    return NEXT;
  };
}

/** XMM/m128 ← XMM (the non-temporal stores too: memory only). */
function movStore128(align: boolean): Exec {
  return (cpu, i) => {
    sseCheck(cpu);
    if (i.r0 === REG_NONE) storeMem(cpu, memAddress(cpu, i, align), i.r1, 0, 4);
    else cpu.xmmD.copyWithin(4 * i.r0, 4 * i.r1, 4 * i.r1 + 4);
    return NEXT;
  };
}

/**
 * MOVSS/MOVSD (`n` dwords): a register source merges into the low dwords, a memory one zeroes the
 * rest; the store form writes the low dwords to memory (or merges, register to register).
 */
function movScalarLoad(n: number): Exec {
  return (cpu, i) => {
    sseCheck(cpu);
    loadSrc(cpu, i, 4 * n, false);
    putSrc(cpu, i.r0, 0, n, i.r1 === REG_NONE);
    return NEXT;
  };
}
function movScalarStore(n: number): Exec {
  return (cpu, i) => {
    sseCheck(cpu);
    if (i.r0 === REG_NONE) storeMem(cpu, memAddress(cpu, i, false), i.r1, 0, n);
    else cpu.xmmD.copyWithin(4 * i.r0, 4 * i.r1, 4 * i.r1 + n);
    return NEXT;
  };
}

/** MOVQ xmm, xmm/m64 and MOVQ xmm/m64, xmm: the low quadword, zero-extended into a register. */
const movqLoad: Exec = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 8, false);
  putSrc(cpu, i.r0, 0, 2, true);
  return NEXT;
};
const movqStore: Exec = (cpu, i) => {
  sseCheck(cpu);
  if (i.r0 === REG_NONE) storeMem(cpu, memAddress(cpu, i, false), i.r1, 0, 2);
  else {
    const d = cpu.xmmD;
    const o = 4 * i.r0;
    const from = 4 * i.r1;
    d[o] = d[from]!;
    d[o + 1] = d[from + 1]!;
    d[o + 2] = 0;
    d[o + 3] = 0;
  }
  return NEXT;
};

/** MOVD/MOVQ xmm, r/m32|64: zero-extended. */
const movdToXmm: Exec = (cpu, i) => {
  sseCheck(cpu);
  const lo = readRm1(cpu, i, i.size);
  const d = cpu.xmmD;
  const o = 4 * i.r0;
  d[o] = lo;
  d[o + 1] = i.size === 8 ? cpu.hi : 0;
  d[o + 2] = 0;
  d[o + 3] = 0;
  return NEXT;
};
/** MOVD/MOVQ r/m32|64, xmm. */
const movdFromXmm: Exec = (cpu, i) => {
  sseCheck(cpu);
  const d = cpu.xmmD;
  const o = 4 * i.r1;
  writeRm0(cpu, i, i.size, d[o]!, i.size === 8 ? d[o + 1]! : 0);
  return NEXT;
};

/** MOVLPS/MOVLPD (`at` 0) and MOVHPS/MOVHPD (`at` 2): a quadword between memory and an XMM half. */
function movHalfLoad(at: number): Exec {
  return (cpu, i) => {
    sseCheck(cpu);
    readMem(cpu, memAddress(cpu, i, false), 8);
    putSrc(cpu, i.r0, at, 2, false);
    return NEXT;
  };
}
function movHalfStore(at: number): Exec {
  return (cpu, i) => {
    sseCheck(cpu);
    storeMem(cpu, memAddress(cpu, i, false), i.r1, at, 2);
    return NEXT;
  };
}

/** MOVHLPS (high quadword of the source to the low one) and MOVLHPS (low to high). */
function movHalfReg(from: number, to: number): Exec {
  return (cpu, i) => {
    sseCheck(cpu);
    const d = cpu.xmmD;
    const s = 4 * i.r1 + from;
    const t = 4 * i.r0 + to;
    const a = d[s]!;
    const b = d[s + 1]!;
    d[t] = a;
    d[t + 1] = b;
    return NEXT;
  };
}

/** MOVNTI m32/m64, r32/r64: a plain store. */
const movnti: Exec = (cpu, i) => {
  const lo = readReg(cpu, i.r1, i.size);
  writeRm0(cpu, i, i.size, lo, cpu.hi);
  return NEXT;
};

// ---- arithmetic and logic, XMM op= XMM/m128 ----

/** A dword-lane operation on the destination register's dwords (offset `o`) with SRC. */
function dwordOp(f: (d: number, s: number) => number): Exec {
  return (cpu, i) => {
    sseCheck(cpu);
    loadSrc(cpu, i, 16, true);
    const d = cpu.xmmD;
    const o = 4 * i.r0;
    for (let k = 0; k < 4; k++) d[o + k] = f(d[o + k]!, SRC[k]!);
    return NEXT;
  };
}

const pxor = dwordOp((d, s) => d ^ s);
const por = dwordOp((d, s) => d | s);
const pand = dwordOp((d, s) => d & s);
const pandn = dwordOp((d, s) => ~d & s);
const paddd = dwordOp((d, s) => d + s);
const psubd = dwordOp((d, s) => d - s);
const pcmpeqd = dwordOp((d, s) => (d === s ? 0xffff_ffff : 0));

const paddb: Exec = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 16, true);
  const b = cpu.xmmB;
  const o = 16 * i.r0;
  for (let k = 0; k < 16; k++) b[o + k] = b[o + k]! + SRC_B[k]!;
  return NEXT;
};
const psubb: Exec = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 16, true);
  const b = cpu.xmmB;
  const o = 16 * i.r0;
  for (let k = 0; k < 16; k++) b[o + k] = b[o + k]! - SRC_B[k]!;
  return NEXT;
};
const pcmpeqb: Exec = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 16, true);
  const b = cpu.xmmB;
  const o = 16 * i.r0;
  for (let k = 0; k < 16; k++) b[o + k] = b[o + k] === SRC_B[k] ? 0xff : 0;
  return NEXT;
};
const paddw: Exec = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 16, true);
  const w = cpu.xmmW;
  const o = 8 * i.r0;
  for (let k = 0; k < 8; k++) w[o + k] = w[o + k]! + SRC_W[k]!;
  return NEXT;
};
const psubw: Exec = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 16, true);
  const w = cpu.xmmW;
  const o = 8 * i.r0;
  for (let k = 0; k < 8; k++) w[o + k] = w[o + k]! - SRC_W[k]!;
  return NEXT;
};
const pcmpeqw: Exec = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 16, true);
  const w = cpu.xmmW;
  const o = 8 * i.r0;
  for (let k = 0; k < 8; k++) w[o + k] = w[o + k] === SRC_W[k] ? 0xffff : 0;
  return NEXT;
};

/** PADDQ/PSUBQ: two quadword lanes as dword halves with the carry or borrow. */
function quadAddSub(sub: boolean): Exec {
  return (cpu, i) => {
    sseCheck(cpu);
    loadSrc(cpu, i, 16, true);
    const d = cpu.xmmD;
    const o = 4 * i.r0;
    for (let q = 0; q < 4; q += 2) {
      const a = d[o + q]!;
      const s = SRC[q]!;
      if (sub) {
        d[o + q] = a - s;
        d[o + q + 1] = d[o + q + 1]! - SRC[q + 1]! - (a < s ? 1 : 0);
      } else {
        const lo = a + s;
        d[o + q] = lo;
        d[o + q + 1] = d[o + q + 1]! + SRC[q + 1]! + (lo > 0xffff_ffff ? 1 : 0);
      }
    }
    return NEXT;
  };
}

/** PUNPCKL/H BW/WD/DQ/QDQ: interleave elements of `w` bytes from the low (or high) halves. */
function unpack(w: number, high: boolean): Exec {
  const n = 8 / w;
  const base = high ? 8 : 0;
  return (cpu, i) => {
    sseCheck(cpu);
    loadSrc(cpu, i, 16, true);
    const b = cpu.xmmB;
    const o = 16 * i.r0;
    for (let j = 0; j < n; j++)
      for (let k = 0; k < w; k++) {
        TMP_B[2 * j * w + k] = b[o + base + j * w + k]!;
        TMP_B[(2 * j + 1) * w + k] = SRC_B[base + j * w + k]!;
      }
    b.set(TMP_B, o);
    return NEXT;
  };
}

/** PSHUFD xmm, xmm/m128, imm8. */
const pshufd: Exec = (cpu, i) => {
  sseCheck(cpu);
  loadSrc(cpu, i, 16, true);
  const d = cpu.xmmD;
  const o = 4 * i.r0;
  for (let k = 0; k < 4; k++) d[o + k] = SRC[(i.immLo >>> (2 * k)) & 3]!;
  return NEXT;
};

/** PMOVMSKB r32/r64, xmm: the bytes' sign bits, zero-extended. */
const pmovmskb: Exec = (cpu, i) => {
  sseCheck(cpu);
  const b = cpu.xmmB;
  const o = 16 * i.r1;
  let m = 0;
  for (let k = 0; k < 16; k++) m |= (b[o + k]! >>> 7) << k;
  writeReg(cpu, i.r0, 4, m, 0);
  return NEXT;
};

/** PSLLDQ/PSRLDQ xmm, imm8: a byte shift of the whole register (a count above 15 clears it). */
function byteShift(left: boolean): Exec {
  return (cpu, i) => {
    sseCheck(cpu);
    const b = cpu.xmmB;
    const o = 16 * i.r0;
    const n = Math.min(i.immLo & 0xff, 16);
    TMP_B.fill(0);
    for (let k = 0; k < 16 - n; k++) {
      if (left) TMP_B[k + n] = b[o + k]!;
      else TMP_B[k] = b[o + k + n]!;
    }
    b.set(TMP_B, o);
    return NEXT;
  };
}

/** Shift both quadwords of XMM r by `n` bits (a count above 63 clears them). */
function shiftQuads(cpu: X86Cpu, r: number, n: number, left: boolean): void {
  const d = cpu.xmmD;
  const o = 4 * r;
  for (let q = 0; q < 4; q += 2) {
    const lo = d[o + q]!;
    const hi = d[o + q + 1]!;
    let nlo = 0;
    let nhi = 0;
    if (n === 0) {
      nlo = lo;
      nhi = hi;
    } else if (n < 32) {
      if (left) {
        nlo = lo << n;
        nhi = (hi << n) | (lo >>> (32 - n));
      } else {
        nlo = (lo >>> n) | (hi << (32 - n));
        nhi = hi >>> n;
      }
    } else if (n < 64) {
      if (left) nhi = lo << (n - 32);
      else nlo = hi >>> (n - 32);
    }
    d[o + q] = nlo;
    d[o + q + 1] = nhi;
  }
}

/** PSLLQ/PSRLQ xmm, imm8. */
function quadShiftImm(left: boolean): Exec {
  return (cpu, i) => {
    sseCheck(cpu);
    shiftQuads(cpu, i.r0, i.immLo & 0xff, left);
    return NEXT;
  };
}
/** PSLLQ/PSRLQ xmm, xmm/m128: the count is the source's low quadword. */
function quadShiftReg(left: boolean): Exec {
  return (cpu, i) => {
    sseCheck(cpu);
    loadSrc(cpu, i, 16, true);
    shiftQuads(cpu, i.r0, SRC[1] !== 0 || SRC[0]! > 64 ? 64 : SRC[0]!, left);
    return NEXT;
  };
}

// ---- MXCSR, FXSAVE/FXRSTOR ----

const ldmxcsr: Exec = (cpu, i) => {
  sseCheck(cpu);
  const v = readLinear(cpu, memAddress(cpu, i, false), 4);
  if (v & ~cpu.mxcsrMask) cpu.generalProtection(0);
  cpu.fpu.mxcsr = v;
  return NEXT;
};
const stmxcsr: Exec = (cpu, i) => {
  sseCheck(cpu);
  writeLinear(cpu, memAddress(cpu, i, false), 4, cpu.fpu.mxcsr, 0);
  return NEXT;
};

/** The bytes of the XMM registers the mode has (XMM0-15 in 64-bit mode, XMM0-7 outside it). */
export function xmmBytes(cpu: X86Cpu): number {
  return 16 * (cpu.s.codeSize === 64 ? 16 : 8);
}

/** Every page of [la, la + n) writable first (a fault then stores nothing). */
export function probeWrite(cpu: X86Cpu, la: number, n: number): void {
  for (let off = 0; off < n; off += PAGE_SIZE - pageOffset(la + off)) tlbEntry(cpu, la + off, ACC_WRITE);
  tlbEntry(cpu, la + n - 1, ACC_WRITE);
}

/** Store [from, to) of an image (8-byte multiples) at `la` + from. */
export function writeImage(cpu: X86Cpu, la: number, v: DataView, from: number, to: number): void {
  for (let off = from; off < to; off += 8)
    writeLinear(cpu, la + off, 8, v.getUint32(off, true), v.getUint32(off + 4, true));
}

/** Read [from, to) of an image (8-byte multiples) from `la` + from. */
export function readImage(cpu: X86Cpu, la: number, v: DataView, from: number, to: number): void {
  for (let off = from; off < to; off += 8) {
    v.setUint32(off, readLinear(cpu, la + off, 8), true);
    v.setUint32(off + 4, cpu.hi, true);
  }
}

/**
 * FXSAVE m512 (and FXSAVE64: the 64-bit FPU IP and DP; the legacy form stores their low 32 bits
 * and a zero selector): FCW, FSW, the abridged tag word, FOP, FIP, FDP, MXCSR, MXCSR_MASK, the x87
 * registers as stored bytes (16 each), XMM0-15 (XMM0-7 outside 64-bit mode). Bytes 416-511 are
 * left alone.
 */
function fxsave(wide: boolean): Exec {
  return (cpu, i) => {
    fxCheck(cpu);
    const la = memAddress(cpu, i, true);
    const n = FX_XMM + xmmBytes(cpu);
    const area = new Uint8Array(n);
    const v = new DataView(area.buffer);
    storeX87(cpu.fpu, v, wide);
    storeMxcsr(cpu.fpu.mxcsr, cpu.mxcsrMask, v);
    area.set(cpu.xmmB.subarray(0, n - FX_XMM), FX_XMM);
    // Every page first: a fault stores nothing.
    probeWrite(cpu, la, n);
    writeImage(cpu, la, v, 0, n);
    return NEXT;
  };
}

/** FXRSTOR m512 (FXRSTOR64): the state FXSAVE stores; MXCSR reserved bits set → #GP(0), nothing loaded. */
function fxrstor(wide: boolean): Exec {
  return (cpu, i) => {
    fxCheck(cpu);
    const la = memAddress(cpu, i, true);
    const n = FX_XMM + xmmBytes(cpu);
    const area = new Uint8Array(n);
    const v = new DataView(area.buffer);
    readImage(cpu, la, v, 0, n);
    const mxcsr = v.getUint32(FX_MXCSR, true);
    if (mxcsr & ~cpu.mxcsrMask) cpu.generalProtection(0);
    loadX87(cpu.fpu, v, wide);
    cpu.fpu.mxcsr = mxcsr;
    cpu.xmmB.set(area.subarray(FX_XMM, n));
    return NEXT;
  };
}

// ---- the builder ----

/** Handlers by iced-x86 Code (legacy encodings only). */
const BY_CODE = new Map<number, Exec>([
  [Code.Movaps_xmm_xmmm128, movLoad128(true)],
  [Code.Movapd_xmm_xmmm128, movLoad128(true)],
  [Code.Movdqa_xmm_xmmm128, movLoad128(true)],
  [Code.Movaps_xmmm128_xmm, movStore128(true)],
  [Code.Movapd_xmmm128_xmm, movStore128(true)],
  [Code.Movdqa_xmmm128_xmm, movStore128(true)],
  [Code.Movups_xmm_xmmm128, movLoad128(false)],
  [Code.Movupd_xmm_xmmm128, movLoad128(false)],
  [Code.Movdqu_xmm_xmmm128, movLoad128(false)],
  [Code.Movups_xmmm128_xmm, movStore128(false)],
  [Code.Movupd_xmmm128_xmm, movStore128(false)],
  [Code.Movdqu_xmmm128_xmm, movStore128(false)],
  [Code.Movntps_m128_xmm, movStore128(true)],
  [Code.Movntpd_m128_xmm, movStore128(true)],
  [Code.Movntdq_m128_xmm, movStore128(true)],
  [Code.Movss_xmm_xmmm32, movScalarLoad(1)],
  [Code.Movsd_xmm_xmmm64, movScalarLoad(2)],
  [Code.Movss_xmmm32_xmm, movScalarStore(1)],
  [Code.Movsd_xmmm64_xmm, movScalarStore(2)],
  [Code.Movq_xmm_xmmm64, movqLoad],
  [Code.Movq_xmmm64_xmm, movqStore],
  [Code.Movd_xmm_rm32, movdToXmm],
  [Code.Movq_xmm_rm64, movdToXmm],
  [Code.Movd_rm32_xmm, movdFromXmm],
  [Code.Movq_rm64_xmm, movdFromXmm],
  [Code.Movlps_xmm_m64, movHalfLoad(0)],
  [Code.Movlpd_xmm_m64, movHalfLoad(0)],
  [Code.Movhps_xmm_m64, movHalfLoad(2)],
  [Code.Movhpd_xmm_m64, movHalfLoad(2)],
  [Code.Movlps_m64_xmm, movHalfStore(0)],
  [Code.Movlpd_m64_xmm, movHalfStore(0)],
  [Code.Movhps_m64_xmm, movHalfStore(2)],
  [Code.Movhpd_m64_xmm, movHalfStore(2)],
  [Code.Movhlps_xmm_xmm, movHalfReg(2, 0)],
  [Code.Movlhps_xmm_xmm, movHalfReg(0, 2)],
  [Code.Movnti_m32_r32, movnti],
  [Code.Movnti_m64_r64, movnti],
  [Code.Pxor_xmm_xmmm128, pxor],
  [Code.Xorps_xmm_xmmm128, pxor],
  [Code.Xorpd_xmm_xmmm128, pxor],
  [Code.Por_xmm_xmmm128, por],
  [Code.Orps_xmm_xmmm128, por],
  [Code.Orpd_xmm_xmmm128, por],
  [Code.Pand_xmm_xmmm128, pand],
  [Code.Andps_xmm_xmmm128, pand],
  [Code.Andpd_xmm_xmmm128, pand],
  [Code.Pandn_xmm_xmmm128, pandn],
  [Code.Andnps_xmm_xmmm128, pandn],
  [Code.Andnpd_xmm_xmmm128, pandn],
  [Code.Pcmpeqb_xmm_xmmm128, pcmpeqb],
  [Code.Pcmpeqw_xmm_xmmm128, pcmpeqw],
  [Code.Pcmpeqd_xmm_xmmm128, pcmpeqd],
  [Code.Paddb_xmm_xmmm128, paddb],
  [Code.Paddw_xmm_xmmm128, paddw],
  [Code.Paddd_xmm_xmmm128, paddd],
  [Code.Paddq_xmm_xmmm128, quadAddSub(false)],
  [Code.Psubb_xmm_xmmm128, psubb],
  [Code.Psubw_xmm_xmmm128, psubw],
  [Code.Psubd_xmm_xmmm128, psubd],
  [Code.Psubq_xmm_xmmm128, quadAddSub(true)],
  [Code.Punpcklbw_xmm_xmmm128, unpack(1, false)],
  [Code.Punpcklwd_xmm_xmmm128, unpack(2, false)],
  [Code.Punpckldq_xmm_xmmm128, unpack(4, false)],
  [Code.Punpcklqdq_xmm_xmmm128, unpack(8, false)],
  [Code.Punpckhbw_xmm_xmmm128, unpack(1, true)],
  [Code.Punpckhwd_xmm_xmmm128, unpack(2, true)],
  [Code.Punpckhdq_xmm_xmmm128, unpack(4, true)],
  [Code.Punpckhqdq_xmm_xmmm128, unpack(8, true)],
  [Code.Pshufd_xmm_xmmm128_imm8, pshufd],
  [Code.Pmovmskb_r32_xmm, pmovmskb],
  [Code.Pmovmskb_r64_xmm, pmovmskb],
  [Code.Pslldq_xmm_imm8, byteShift(true)],
  [Code.Psrldq_xmm_imm8, byteShift(false)],
  [Code.Psllq_xmm_imm8, quadShiftImm(true)],
  [Code.Psrlq_xmm_imm8, quadShiftImm(false)],
  [Code.Psllq_xmm_xmmm128, quadShiftReg(true)],
  [Code.Psrlq_xmm_xmmm128, quadShiftReg(false)],
  [Code.Ldmxcsr_m32, ldmxcsr],
  [Code.Stmxcsr_m32, stmxcsr],
  [Code.Fxsave_m512byte, fxsave(false)],
  [Code.Fxsave64_m512byte, fxsave(true)],
  [Code.Fxrstor_m512byte, fxrstor(false)],
  [Code.Fxrstor64_m512byte, fxrstor(true)],
]);

/** The form's handler, with XMM operands' register numbers in r0/r1. */
export const SSE_BUILDERS = byMnemonic(BY_CODE, codeBuilder(BY_CODE, Register.XMM0, 16));
