/**
 * Operand access for the handlers: registers by number and size (the register array's u32 pairs;
 * AH..BH as bits 15:8), the memory operand's linear address (segment base + base + index × scale +
 * displacement, truncated to the address size), and reads and writes of "r/m" operands. Values are
 * u32 halves: a read returns bits 31:0 and leaves bits 63:32 in cpu.hi.
 */
import type { X86Cpu } from './cpu.js';
import { type Insn, REG_AH, REG_NONE } from './insn.js';
import { readLinear, writeLinear } from './mmu.js';
import { SEG_DS, SEG_FS, SEG_GS, SEG_SS } from './state.js';

const TWO32 = 0x1_0000_0000;

/** Read register `r` at `size` bytes. */
export function readReg(cpu: X86Cpu, r: number, size: number): number {
  const regs = cpu.s.regs;
  if (size === 8) {
    cpu.hi = regs[2 * r + 1]!;
    return regs[2 * r]!;
  }
  cpu.hi = 0;
  if (size === 4) return regs[2 * r]!;
  if (size === 2) return regs[2 * r]! & 0xffff;
  if (r >= REG_AH) return (regs[2 * (r - REG_AH)]! >>> 8) & 0xff;
  return regs[2 * r]! & 0xff;
}

/**
 * Write register `r` at `size` bytes: 8- and 16-bit writes keep the other bits, a 32-bit write
 * zero-extends into the upper half (64-bit mode's rule; the interpreter applies it in every mode).
 */
export function writeReg(cpu: X86Cpu, r: number, size: number, lo: number, hi: number): void {
  const regs = cpu.s.regs;
  switch (size) {
    case 8:
      regs[2 * r] = lo;
      regs[2 * r + 1] = hi;
      return;
    case 4:
      regs[2 * r] = lo;
      regs[2 * r + 1] = 0;
      return;
    case 2:
      regs[2 * r] = ((regs[2 * r]! & 0xffff_0000) | (lo & 0xffff)) >>> 0;
      return;
    default:
      if (r >= REG_AH) {
        const k = 2 * (r - REG_AH);
        regs[k] = ((regs[k]! & 0xffff_00ff) | ((lo & 0xff) << 8)) >>> 0;
      } else regs[2 * r] = ((regs[2 * r]! & 0xffff_ff00) | (lo & 0xff)) >>> 0;
  }
}

/** A register as a signed number (64-bit: sign-extended from bit 63; exact when canonical-sized). */
function regValue(cpu: X86Cpu, r: number, asize: number): number {
  const regs = cpu.s.regs;
  const lo = regs[2 * r]!;
  if (asize === 8) return (regs[2 * r + 1]! | 0) * TWO32 + lo;
  return asize === 4 ? lo : lo & 0xffff;
}

/**
 * The effective address of the memory operand in 64-bit addressing, exactly, as u32 halves: bits
 * 31:0 returned, bits 63:32 in cpu.hi (LEA computes arithmetic with it; nothing may round).
 */
export function effectiveAddress64(cpu: X86Cpu, i: Insn): number {
  const r = cpu.s.regs;
  const d = i.ripRel ? i.mdisp + cpu.nextRip : i.mdisp;
  let lo = d >>> 0;
  let hi = Math.floor((d - lo) / TWO32) >>> 0;
  if (i.mbase !== REG_NONE) {
    const sum = lo + r[2 * i.mbase]!;
    lo = sum >>> 0;
    hi = (hi + r[2 * i.mbase + 1]! + (sum >= TWO32 ? 1 : 0)) >>> 0;
  }
  if (i.mindex !== REG_NONE) {
    const shift = i.mscale === 8 ? 3 : i.mscale === 4 ? 2 : i.mscale === 2 ? 1 : 0;
    const xl = r[2 * i.mindex]!;
    const xh = r[2 * i.mindex + 1]!;
    const sl = (xl << shift) >>> 0;
    const sh = shift ? ((xh << shift) | (xl >>> (32 - shift))) >>> 0 : xh;
    const sum = lo + sl;
    lo = sum >>> 0;
    hi = (hi + sh + (sum >= TWO32 ? 1 : 0)) >>> 0;
  }
  cpu.hi = hi;
  return lo;
}

/**
 * The effective address of the memory operand (offset within the segment), truncated to the
 * address size; a 64-bit result is the sign-extended number (exact for canonical addresses, which
 * are all that reach memory).
 */
export function effectiveAddress(cpu: X86Cpu, i: Insn): number {
  const asize = i.asize;
  if (asize === 8) {
    // Registers below 2^51 in magnitude (every address-sized value) sum exactly as numbers; only
    // larger ones, whose sum may still wrap to a canonical address, take the exact path.
    const r = cpu.s.regs;
    const b = i.mbase;
    const x = i.mindex;
    const bh = b !== REG_NONE ? r[2 * b + 1]! | 0 : 0;
    const xh = x !== REG_NONE ? r[2 * x + 1]! | 0 : 0;
    if (bh > -0x8_0000 && bh < 0x8_0000 && xh > -0x8_0000 && xh < 0x8_0000) {
      let ea = i.ripRel ? i.mdisp + cpu.nextRip : i.mdisp;
      if (b !== REG_NONE) ea += bh * TWO32 + r[2 * b]!;
      if (x !== REG_NONE) ea += (xh * TWO32 + r[2 * x]!) * i.mscale;
      return ea;
    }
    const lo = effectiveAddress64(cpu, i);
    return (cpu.hi | 0) * TWO32 + lo;
  }
  let ea = i.mdisp;
  if (i.mbase !== REG_NONE) ea += regValue(cpu, i.mbase, asize);
  if (i.mindex !== REG_NONE) ea += regValue(cpu, i.mindex, asize) * i.mscale;
  if (i.ripRel) ea += cpu.nextRip;
  return asize === 4 ? ea >>> 0 : ea & 0xffff;
}

/** The segment of a memory operand: its override, else SS for RSP/RBP-based addressing, else DS. */
export function segmentOf(i: Insn): number {
  if (i.mseg >= 0) return i.mseg;
  return i.mbase === 4 || i.mbase === 5 ? SEG_SS : SEG_DS;
}

/** The linear address of the memory operand (64-bit mode: only FS and GS have a base). */
export function linearAddress(cpu: X86Cpu, i: Insn): number {
  const ea = effectiveAddress(cpu, i);
  const s = cpu.s;
  const seg = segmentOf(i);
  if (s.codeSize === 64) return seg === SEG_FS || seg === SEG_GS ? ea + s.segBase[seg]! : ea;
  return (s.segBase[seg]! + ea) >>> 0;
}

/** Read operand 0 (r0, or the memory operand) at the instruction's size. */
export function readRm0(cpu: X86Cpu, i: Insn, size: number): number {
  return i.r0 !== REG_NONE ? readReg(cpu, i.r0, size) : readLinear(cpu, linearAddress(cpu, i), size);
}

/** Read operand 1 as the r/m one (a register in r1, else memory). */
export function readRm1(cpu: X86Cpu, i: Insn, size: number): number {
  return i.r1 !== REG_NONE ? readReg(cpu, i.r1, size) : readLinear(cpu, linearAddress(cpu, i), size);
}

/** Write operand 0 (r0, or the memory operand). */
export function writeRm0(cpu: X86Cpu, i: Insn, size: number, lo: number, hi: number): void {
  if (i.r0 !== REG_NONE) writeReg(cpu, i.r0, size, lo, hi);
  else writeLinear(cpu, linearAddress(cpu, i), size, lo, hi);
}
