/**
 * Segment registers as the interpreter loads them: real-mode (base = selector × 16) and
 * protected-mode descriptors read from the GDT or LDT, converted to the save area's packed
 * attribute form (type, S, DPL, P, AVL, L, D/B, G in 12 bits), and the stack pushes and pops that
 * every mode's far transfers share. Privilege and type checks are those far transfers, IRET and
 * interrupt delivery need; the loads raise #GP/#NP/#SS with the selector's error code.
 */
import { CR0_PE } from '../reset.js';
import { SVM_SELECTOR_P_MASK, SVM_SELECTOR_S_MASK } from '../vmcb.js';
import type { X86Cpu } from './cpu.js';
import { readLinear, writeLinear } from './mmu.js';
import { hi32, SEG_CS, SEG_SS } from './state.js';
import { GP_VECTOR, NP_VECTOR, SS_VECTOR } from './vectors.js';

/** A descriptor as the save area packs it. */
export interface Descriptor {
  base: number;
  limit: number;
  attr: number;
}

/** Whether the CPU is in real mode (CR0.PE clear). */
export function realMode(cpu: X86Cpu): boolean {
  return (cpu.s.cr0 & CR0_PE) === 0;
}

/**
 * The descriptor a selector names (GDT, or LDT when TI is set), read with supervisor rights;
 * #GP(selector) when it lies beyond the table's limit. Returns the raw halves in cpu.pteLo/pteHi
 * (the low and high dwords) as well, for callers that need the gate fields.
 */
export function readDescriptor(cpu: X86Cpu, sel: number): Descriptor {
  const s = cpu.s;
  const index = sel & 0xfff8;
  const ldt = (sel & 4) !== 0;
  const base = ldt ? s.ldtrBase : s.gdtrBase;
  const limit = ldt ? s.ldtrLimit : s.gdtrLimit;
  if (index + 7 > limit) cpu.raise({ vector: GP_VECTOR, errorCode: sel & 0xfffc });
  const saved = s.cpl;
  // Descriptor-table reads are supervisor accesses whatever the CPL.
  s.cpl = 0;
  let lo: number;
  let hi: number;
  try {
    lo = readLinear(cpu, base + index, 4);
    hi = readLinear(cpu, base + index + 4, 4);
  } finally {
    s.cpl = saved;
  }
  cpu.pteLo = lo;
  cpu.pteHi = hi;
  return unpack(lo, hi);
}

/** The packed form of a descriptor's two dwords. */
export function unpack(lo: number, hi: number): Descriptor {
  const attr = ((hi >>> 8) & 0xff) | (((hi >>> 20) & 0xf) << 8);
  let limit = (lo & 0xffff) | (hi & 0xf_0000);
  if (hi & 0x80_0000) limit = ((limit << 12) | 0xfff) >>> 0;
  const base = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff00_0000)) >>> 0;
  return { base, limit, attr };
}

/**
 * Load a segment register with a descriptor already checked (or a null one). A code or data
 * descriptor is cached with its accessed bit set, as the load sets it in the table (setAccessed).
 */
export function setSegment(cpu: X86Cpu, seg: number, sel: number, d: Descriptor): void {
  const s = cpu.s;
  s.segSel[seg] = sel;
  s.segBase[seg] = d.base;
  s.segLimit[seg] = d.limit;
  s.segAttr[seg] = d.attr & SVM_SELECTOR_S_MASK ? d.attr | 1 : d.attr;
}

/** Real mode (and virtual-8086): base = selector × 16, limit and attributes as they were. */
export function loadRealSegment(cpu: X86Cpu, seg: number, sel: number): void {
  const s = cpu.s;
  s.segSel[seg] = sel;
  s.segBase[seg] = sel * 16;
  // A real-mode CS load makes the segment a present, writable code/data segment as far as
  // checks go; its hidden attributes otherwise keep what protected mode left (the "unreal" trick).
  if (seg === SEG_CS)
    s.segAttr[seg] = (s.segAttr[seg]! & ~0x600) | SVM_SELECTOR_P_MASK | SVM_SELECTOR_S_MASK | 0xb;
}

/**
 * MOV/POP to a data segment register or SS in protected mode: a null selector (not for SS
 * outside 64-bit mode) leaves the segment unusable; otherwise the descriptor must be a present
 * data or readable code segment (writable data for SS, with RPL = DPL = CPL).
 */
export function loadDataSegment(cpu: X86Cpu, seg: number, sel: number): void {
  const s = cpu.s;
  if ((sel & 0xfffc) === 0) {
    if (seg === SEG_SS && (s.codeSize !== 64 || (sel & 3) !== s.cpl))
      cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
    setSegment(cpu, seg, sel, { base: 0, limit: 0, attr: 0 });
    return;
  }
  const d = readDescriptor(cpu, sel);
  const type = d.attr & 0xf;
  const code = (type & 8) !== 0;
  const dpl = (d.attr >>> 5) & 3;
  const err = sel & 0xfffc;
  if (!(d.attr & SVM_SELECTOR_S_MASK)) cpu.raise({ vector: GP_VECTOR, errorCode: err });
  if (seg === SEG_SS) {
    if (code || !(type & 2) || (sel & 3) !== s.cpl || dpl !== s.cpl)
      cpu.raise({ vector: GP_VECTOR, errorCode: err });
    if (!(d.attr & SVM_SELECTOR_P_MASK)) cpu.raise({ vector: SS_VECTOR, errorCode: err });
  } else {
    if (code && !(type & 2)) cpu.raise({ vector: GP_VECTOR, errorCode: err });
    if (!(d.attr & SVM_SELECTOR_P_MASK)) cpu.raise({ vector: NP_VECTOR, errorCode: err });
  }
  setAccessed(cpu, sel);
  setSegment(cpu, seg, sel, d);
}

/** Set the descriptor's accessed bit (type bit 0) in the table, as the CPU does on a load. */
export function setAccessed(cpu: X86Cpu, sel: number): void {
  const s = cpu.s;
  const base = sel & 4 ? s.ldtrBase : s.gdtrBase;
  const at = base + (sel & 0xfff8) + 5;
  const saved = s.cpl;
  s.cpl = 0;
  try {
    const b = readLinear(cpu, at, 1);
    if (!(b & 1)) writeLinear(cpu, at, 1, b | 1, 0);
  } finally {
    s.cpl = saved;
  }
}

/** The stack pointer width of the current stack: 8 in 64-bit mode, else SS.B's 4 or 2. */
export function stackWidth(cpu: X86Cpu): number {
  const s = cpu.s;
  if (s.codeSize === 64) return 8;
  return s.segAttr[SEG_SS]! & 0x400 ? 4 : 2;
}

/** RSP as a number (sign-extended in 64-bit mode; zero-extended 32/16-bit stacks use the low bits). */
export function getRsp(cpu: X86Cpu): number {
  const r = cpu.s.regs;
  return (r[9]! | 0) * 0x1_0000_0000 + r[8]!;
}

/** Store RSP, as wide as the stack is (a 16-bit stack changes SP only). */
export function setRsp(cpu: X86Cpu, v: number, width: number): void {
  const r = cpu.s.regs;
  if (width === 2) r[8] = ((r[8]! & 0xffff_0000) | (v & 0xffff)) >>> 0;
  else if (width === 4) {
    r[8] = v >>> 0;
    r[9] = 0;
  } else {
    const lo = v >>> 0;
    r[8] = lo;
    r[9] = hi32(v);
  }
}

/** Push `size` bytes (value as halves) on SS:RSP, of which the low `written` are stored. */
export function push(cpu: X86Cpu, size: number, lo: number, hi: number, written = size): void {
  const s = cpu.s;
  const width = stackWidth(cpu);
  const rsp = getRsp(cpu);
  const sp =
    width === 8 ? rsp - size : width === 4 ? ((rsp >>> 0) - size) >>> 0 : ((rsp & 0xffff) - size) & 0xffff;
  const la = width === 8 ? sp : s.segBase[SEG_SS]! + sp;
  writeLinear(cpu, la, written, lo, hi);
  setRsp(cpu, sp, width);
}

/** Pop `size` bytes from SS:RSP: bits 31:0 returned, bits 63:32 in cpu.hi. */
export function pop(cpu: X86Cpu, size: number): number {
  const s = cpu.s;
  const width = stackWidth(cpu);
  const rsp = getRsp(cpu);
  const sp = width === 8 ? rsp : width === 4 ? rsp >>> 0 : rsp & 0xffff;
  const la = width === 8 ? sp : s.segBase[SEG_SS]! + sp;
  const lo = readLinear(cpu, la, size);
  const hi = cpu.hi;
  const next = width === 8 ? sp + size : width === 4 ? (sp + size) >>> 0 : (sp + size) & 0xffff;
  setRsp(cpu, next, width);
  cpu.hi = hi;
  return lo;
}
