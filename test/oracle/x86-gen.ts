/**
 * Seeded random instruction sequences for the differential test (x86-differential.test.ts), in four
 * modes: 64-bit long mode, 32-bit protected mode with flat segments (without paging, and with
 * 32-bit 4 KiB, 4 MiB or PAE paging) and 16-bit real mode. A table of instruction forms is encoded
 * here as bytes, each form written once for every bitness (operand-size and address-size prefixes,
 * segment overrides, REX and RIP-relative operands only in 64-bit mode): MOV, the ALU group,
 * INC/DEC/NEG/NOT, shifts and rotates, SHLD/SHRD, LEA (32/64-bit SIB and 16-bit ModRM addressing),
 * MOVZX/MOVSX/MOVSXD, XCHG, XADD, CMPXCHG, CMPXCHG8B, BSWAP, PUSH/POP (registers, immediates,
 * memory, segment registers), PUSHA/POPA, ENTER/LEAVE, MOV to and from segment registers and
 * LES/LDS/LFS/LGS (selectors that keep every base), PUSHF and PUSH imm + POPF, LAHF/SAHF, SETcc,
 * CMOVcc, BT* (on registers, with immediates, on bit strings), BSF/BSR, IMUL, MUL/DIV with a
 * divisor made safe, CBW/CWD & co., CLC/STC/CMC/CLD/STD/CLI/STI, the string instructions with and
 * without REP (their pointers and count set first), INS/OUTS (the same, and DX the port), XLAT, forward Jcc/JMP/LOOP/JCXZ/CALL, near
 * indirect JMP/CALL and RET, far JMP/CALL/RETF (and IRET in real mode) to code segments at other
 * bases, real mode's INT n/INT3/INTO, an exception that ends the program in its handler, SGDT/SIDT/
 * SMSW/STR/SLDT, RDMSR/WRMSR of the syscall MSRs, SWAPGS, IN and OUT, and the SSE moves KVM's
 * emulator implements: MOVAPS/MOVAPD/MOVDQA, MOVUPS/MOVUPD/MOVDQU, MOVNTPS/MOVNTDQ, MOVNTI (a
 * program with SSE first loads its XMM registers from its data page); random initial registers
 * and memory; the GDT, the IVT or IDT and their handlers; the assembly of a sequence (branch
 * displacements and far pointers from what follows, RIP-relative displacements from where each
 * instruction ends) and its disassembly with iced-x86. What is not generated, and why, is in
 * x86-differential.test.ts.
 *
 * Memory operands only ever address the scratch data page ([disp], absolute or RIP-relative,
 * through DS or a segment override whose base lets the offset reach it) or the stack page
 * ([esp + disp8], in real mode with an address-size prefix; the aligned SSE forms only 16-byte
 * aligned [disp]); nothing but PUSH, POP, PUSHA/POPA, ENTER/LEAVE, CALL and INT writes RSP (iced-x86
 * checks every generated form), so a sequence reaches its HLT, or the HLT of the exception handler
 * when it faults on purpose.
 */
import iced from 'iced-x86';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

const {
  Decoder,
  DecoderOptions,
  Formatter,
  FormatterSyntax,
  InstructionInfoFactory,
  Mnemonic,
  OpAccess,
  Register,
} = iced;

/** Guest layout (RAM from 0, identity-mapped where paging is on). */
export const LAYOUT = {
  ram: 0x10000,
  code: 0x1000,
  data: 0x2000,
  stack: 0x3000,
  /** Initial RSP (linear): the middle of the stack page, so 20 pushes or pops stay inside it. */
  rsp: 0x3800,
  /** The interrupt handlers (in the IVT's page): IRET, and HLT. */
  iretHandler: 0x0f00,
  hltHandler: 0x0f10,
  /** The GDT (protected and long mode; its accessed bits are compared). */
  gdt: 0x4000,
  /** The IDT of protected and long mode (real mode's IVT is at 0). */
  idt: 0x5000,
  /** The page tables: three pages from here. */
  pml4: 0x8000,
} as const;

/** Vectors whose handler IRETs: INT3 and INTO (traps), and the INT n a program may use. */
export const IRET_VECTORS: readonly number[] = [3, 4, 0x21, 0x80];

/**
 * The interrupt tables and handlers of a mode, as writes to guest memory: the handlers (IRET of
 * the mode's size; HLT), and the IVT (real mode) or IDT (interrupt gates to CS 8) sending
 * IRET_VECTORS to the IRET and every other exception vector (0-31) to the HLT, which ends the
 * program with the exception's frame on the stack. Other vectors are not present.
 */
export function interruptTables(mode: Mode): { gpa: number; bytes: Uint8Array }[] {
  const iret = mode === 'long' ? [0x48, 0xcf] : [0xcf];
  const handlers = new Uint8Array(0x20);
  handlers.set(iret, 0);
  handlers[0x10] = 0xf4;
  const writes = [{ gpa: LAYOUT.iretHandler, bytes: handlers }];
  const target = (v: number): number =>
    IRET_VECTORS.includes(v) ? LAYOUT.iretHandler : v < 32 ? LAYOUT.hltHandler : -1;
  if (mode === 'real') {
    const ivt = new Uint8Array(0x400);
    for (let v = 0; v < 256; v++) if (target(v) >= 0) ivt.set(le(target(v), 2), 4 * v); // segment 0
    return [...writes, { gpa: 0, bytes: ivt }];
  }
  const wide = mode === 'long';
  const idt = new Uint8Array(256 * (wide ? 16 : 8));
  for (let v = 0; v < 256; v++) {
    const off = target(v);
    if (off < 0) continue;
    // An interrupt gate (type 0xE), present, DPL 0, to CS 8.
    const gate = [...le(off & 0xffff, 2), ...le(8, 2), 0, 0x8e, ...le(off >>> 16, 2)];
    idt.set(gate, v * (wide ? 16 : 8));
  }
  return [...writes, { gpa: LAYOUT.idt, bytes: idt }];
}

/** The IDT's limit in a mode (real mode: the IVT's). */
export const idtLimit = (mode: Mode): number => (mode === 'real' ? 0x3ff : mode === 'long' ? 0xfff : 0x7ff);

/** A segment descriptor's fields (the GDT's, in the layout of the hardware's 8 bytes). */
interface Descriptor {
  base: number;
  limit: number;
  type: number;
  dpl?: number;
  l?: number;
  db: number;
  g: number;
}

/** The 8 bytes of a code or data descriptor (S = 1, present). */
function descriptor(d: Descriptor): number[] {
  const lo = ((d.limit & 0xffff) | ((d.base & 0xffff) << 16)) >>> 0;
  const hi =
    (((d.base >>> 16) & 0xff) |
      (d.type << 8) |
      (1 << 12) |
      ((d.dpl ?? 0) << 13) |
      (1 << 15) |
      (((d.limit >>> 16) & 0xf) << 16) |
      ((d.l ?? 0) << 21) |
      (d.db << 22) |
      (d.g << 23) |
      (((d.base >>> 24) & 0xff) << 24)) >>>
    0;
  return [...le(lo, 4), ...le(hi, 4)];
}

/**
 * The GDT of protected and long mode: null; 0x08 the flat code segment (32-bit, or 64-bit in long
 * mode); 0x10 the flat data segment; and data segments at base 0 a program may load instead (the
 * generator's addresses hold under each): 0x18 16-bit (B = 0) with a 64 KiB limit, not accessed;
 * 0x20 expand-down above 0xfff, not accessed; 0x28 DPL 3; and 0x30 a code segment at base 0x1000
 * (not accessed) far transfers may load.
 */
export function gdt(mode: Mode): Uint8Array {
  const long = mode === 'long' ? 1 : 0;
  return Uint8Array.from([
    ...new Array(8).fill(0),
    ...descriptor({ base: 0, limit: 0xfffff, type: 0xb, l: long, db: 1 - long, g: 1 }),
    ...descriptor({ base: 0, limit: 0xfffff, type: 3, db: 1, g: 1 }),
    ...descriptor({ base: 0, limit: 0xffff, type: 2, db: 0, g: 0 }),
    ...descriptor({ base: 0, limit: 0xfff, type: 6, db: 1, g: 0 }),
    ...descriptor({ base: 0, limit: 0xfffff, type: 3, dpl: 3, db: 1, g: 1 }),
    ...descriptor({ base: 0x1000, limit: 0xfffff, type: 0xa, l: long, db: 1 - long, g: 1 }),
  ]);
}

/** The code selectors a far transfer may load, with the base its offsets are relative to. */
function codeSegments(g: Gen): [selector: number, base: number][] {
  if (g.bits === 16)
    return [
      [0, 0],
      [0x100, 0x1000],
    ];
  // 0x30's base is 0x1000, which 64-bit mode ignores.
  return [
    [0x8, 0],
    [0x30, g.bits === 64 ? 0 : 0x1000],
  ];
}

/**
 * Where a program runs: 64-bit long mode (4-level paging), 32-bit protected mode with flat
 * segments and no paging, the same with paging, or real mode.
 */
export type Mode = 'long' | 'protected' | 'paged' | 'real';
export const MODES: readonly Mode[] = ['long', 'protected', 'paged', 'real'];

export type Bits = 16 | 32 | 64;
export const BITS: Record<Mode, Bits> = { long: 64, protected: 32, paged: 32, real: 16 };

/** 32-bit paging: 4 KiB pages, one 4 MiB page (CR4.PSE), or PAE with 4 KiB pages. */
export type Paging = '4k' | '4m' | 'pae';

/** A segment register: its selector and base (protected and long mode: flat, base 0). */
export interface Seg {
  selector: number;
  base: number;
}
export const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'] as const;
export type SegName = (typeof SEG_NAMES)[number];
/** The segment override prefixes, in SEG_NAMES order. */
const SEG_PREFIX: Record<SegName, number> = { es: 0x26, cs: 0x2e, ss: 0x36, ds: 0x3e, fs: 0x64, gs: 0x65 };

/**
 * The segments of real mode: CS = 0 (code at IP 0x1000), and the data segments at different bases
 * so that an offset means something else through each (DS and ES reach the data page from 0x100,
 * FS from 0x1000, GS from 0x2000, SS the stack page from 0).
 */
export const REAL_SEGMENTS: Record<SegName, Seg> = {
  es: { selector: 0x1f0, base: 0x1f00 },
  cs: { selector: 0, base: 0 },
  ss: { selector: 0x300, base: 0x3000 },
  ds: { selector: 0x1f0, base: 0x1f00 },
  fs: { selector: 0x100, base: 0x1000 },
  gs: { selector: 0, base: 0 },
};
/** The flat segments of protected and long mode (selector 8 the code, 0x10 the data). */
export const FLAT_SEGMENTS: Record<SegName, Seg> = {
  es: { selector: 0x10, base: 0 },
  cs: { selector: 0x8, base: 0 },
  ss: { selector: 0x10, base: 0 },
  ds: { selector: 0x10, base: 0 },
  fs: { selector: 0x10, base: 0 },
  gs: { selector: 0x10, base: 0 },
};

export const segmentsOf = (mode: Mode): Record<SegName, Seg> =>
  mode === 'real' ? REAL_SEGMENTS : FLAT_SEGMENTS;

/** One generated instruction (or a short group that belongs together, like a DIV and its setup). */
export interface Item {
  bytes: number[];
  /** Where its immediate is (for the shrinker to simplify). */
  imm?: { at: number; len: number };
  /**
   * A forward branch over the next `skip` items: its displacement is its last `rel` bytes (1 when
   * absent), filled in by assemble; or, with `abs`, the target's offset in a code segment at
   * `base`, `len` bytes at `at` (a far pointer or the immediate that stores or pushes one).
   */
  skip?: number;
  rel?: number;
  abs?: { at: number; len: number; base: number };
  /**
   * RIP-relative memory operands (64-bit mode): a disp32 at `at` of the instruction that ends at
   * `end`, filled in by assemble to reach offset `target`.
   */
  ripRel?: { at: number; end: number; target: number }[];
}

export const GPR_NAMES = [
  'rax',
  'rcx',
  'rdx',
  'rbx',
  'rsp',
  'rbp',
  'rsi',
  'rdi',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
] as const;
export type GprName = (typeof GPR_NAMES)[number];

/** A whole test case: the items, the registers at entry (RSP and RIP fixed), and the data and stack pages. */
export interface Program {
  seed: number;
  mode: Mode;
  /** Mode 'paged' only: the page-table format. */
  paging?: Paging;
  items: Item[];
  regs: Record<GprName, bigint> & { rflags: bigint };
  data: Uint8Array;
  stack: Uint8Array;
}

/** The initial RSP of a mode (real mode: SP relative to SS's base). */
export const entryRsp = (mode: Mode): number => LAYOUT.rsp - segmentsOf(mode).ss.base;

const M64 = (1n << 64n) - 1n;

type Rng = ReturnType<typeof xoroshiro128plus>;

class Gen {
  readonly bits: Bits;
  readonly segs: Record<SegName, Seg>;
  /** GPRs (and XMM registers) the mode has. */
  readonly nreg: number;
  /** Operand sizes: all, and without 8 bits. */
  readonly sizes: readonly (1 | 2 | 4 | 8)[];
  readonly no8: readonly (2 | 4 | 8)[];
  /** A segment load earlier in the program may have made the stack 16-bit (SS = 0x18). */
  ss16 = false;
  /** A far transfer earlier in the program may have moved CS to a base other than 0. */
  csMoved = false;
  constructor(
    readonly rng: Rng,
    readonly mode: Mode,
  ) {
    this.bits = BITS[mode];
    this.segs = segmentsOf(mode);
    this.nreg = this.bits === 64 ? 16 : 8;
    this.sizes = this.bits === 64 ? [1, 2, 4, 8] : [1, 2, 4];
    this.no8 = this.bits === 64 ? [2, 4, 8] : [2, 4];
  }
  int(n: number): number {
    return uniformInt(this.rng, 0, n - 1);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  u32(): number {
    return uniformInt(this.rng, 0, 0xffff_ffff);
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
  reg(): number {
    return this.int(this.nreg);
  }
  /** Random, small, or an edge value around a size's sign and carry boundaries. */
  value(): bigint {
    const EDGE = [0n, 1n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0xffffn, 0x7fff_ffffn, 0x8000_0000n];
    const EDGE2 = [0xffff_ffffn, 1n << 32n, (1n << 63n) - 1n, 1n << 63n, M64];
    switch (this.int(5)) {
      case 0:
        return this.pick([...EDGE, ...EDGE2]);
      case 1:
        return BigInt(this.int(256));
      case 2:
        return BigInt(this.u32());
      case 3:
        return (this.u64() & ~0xffffn) | this.pick(EDGE);
      default:
        return this.u64();
    }
  }
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }
  /** The address size of a memory operand: the mode's, or (one in five) the other one through 67h. */
  asize(): Bits {
    if (this.int(5)) return this.bits;
    return this.bits === 32 ? 16 : 32;
  }
}

/** The 67h prefix when `asize` is not the mode's. */
const adsize = (g: Gen, asize: Bits): number[] => (asize === g.bits ? [] : [0x67]);
/** The 66h prefix when `size` (2 or 4 bytes; 1 and 8 take none) is not the mode's default. */
const opsize = (g: Gen, size: number): number[] => ((g.bits === 16 ? size === 4 : size === 2) ? [0x66] : []);
/** An immediate's width for an operand size (8 bytes take a sign-extended imm32). */
const immLen = (size: number): number => (size === 1 ? 1 : size === 2 ? 2 : 4);
/** REX.W when `size` is 8. */
const rexW = (size: number): number[] => (size === 8 ? [0x48] : []);

/**
 * A segment for an operand at linear `la` whose default segment is `dflt`: the default, or (one
 * in four) an override of any segment whose base lets a small offset reach `la`.
 */
function segmentFor(g: Gen, la: number, dflt: SegName): { prefix: number[]; base: number } {
  const base = g.segs[dflt].base;
  if (g.int(4)) return { prefix: [], base };
  const ok = SEG_NAMES.filter((s) => s !== 'cs' && la - g.segs[s].base >= 0 && la - g.segs[s].base < 0xf000);
  const s = g.pick(ok);
  return { prefix: [SEG_PREFIX[s]], base: g.segs[s].base };
}

/**
 * A ModRM r/m operand: a register, an absolute linear address in the data page ([disp] through DS
 * or an override), [esp + disp8] on the stack page, or an address for LEA (32/64-bit SIB form, or
 * 16-bit ModRM form: rm 0-7 = [bx+si] … [bx], mod 0-2).
 */
type Rm = { reg: number } | { abs: number } | { rspDisp: number } | { lea: LeaMem } | { lea16: Lea16 };
interface LeaMem {
  base: number;
  /** 0-15; 4 = none. */
  index: number;
  scale: number;
  disp: number;
  disp32: boolean;
}
interface Lea16 {
  mod: number;
  rm: number;
  disp: number;
}

function le(v: number | bigint, len: number): number[] {
  const b = BigInt.asUintN(64, BigInt(v));
  return Array.from({ length: len }, (_, k) => Number((b >> BigInt(8 * k)) & 0xffn));
}

interface Enc {
  size: 1 | 2 | 4 | 8;
  op: number[];
  /** The ModRM reg field: a register (0-15) or an opcode extension (0-7). */
  reg: number;
  rm: Rm;
  imm?: number[];
  /** Emit a REX prefix even if no bit is set (8-bit SPL..DIL instead of AH..BH; 64-bit mode only). */
  rex?: boolean;
  /** The operand size does not set REX.W or 66 (MOVZX's source size, say, is in the opcode). */
  noSizePrefix?: boolean;
}

/** The prefixes, ModRM and what follows it of a memory or register operand; REX.X and REX.B. */
function modrm(
  g: Gen,
  reg: number,
  rm: Rm,
): { pre: number[]; modrm: number; tail: number[]; x: number; b: number; rip?: number } {
  const r = (reg & 7) << 3;
  if ('reg' in rm) return { pre: [], modrm: 0xc0 | r | (rm.reg & 7), tail: [], x: 0, b: rm.reg >> 3 };
  if ('abs' in rm) {
    const asize = g.asize();
    const seg = segmentFor(g, rm.abs, 'ds');
    const off = rm.abs - seg.base;
    const pre = [...seg.prefix, ...adsize(g, asize)];
    if (asize === 16) return { pre, modrm: r | 6, tail: le(off, 2), x: 0, b: 0 };
    // [rip + disp32] (or EIP with 67h) one in four in 64-bit mode, its displacement from assemble.
    if (g.bits === 64 && g.int(4) === 0) return { pre, modrm: r | 5, tail: le(0, 4), x: 0, b: 0, rip: off };
    // [disp32]: the SIB form (64-bit mode's only one: ModRM 05 is RIP-relative there) or ModRM 05.
    if (g.bits === 64 || g.int(2)) return { pre, modrm: r | 4, tail: [0x25, ...le(off, 4)], x: 0, b: 0 };
    return { pre, modrm: r | 5, tail: le(off, 4), x: 0, b: 0 };
  }
  if ('rspDisp' in rm) {
    // [esp + disp8] (real mode: a 32-bit address; 16-bit addressing has no SP base).
    const asize: Bits = g.bits === 16 ? 32 : g.bits === 64 && g.int(8) === 0 ? 32 : g.bits;
    const seg = segmentFor(g, LAYOUT.rsp + rm.rspDisp, 'ss');
    const sameBase = seg.base === g.segs.ss.base;
    const pre = [...(sameBase ? seg.prefix : []), ...adsize(g, asize)];
    return { pre, modrm: 0x40 | r | 4, tail: [0x24, ...le(rm.rspDisp, 1)], x: 0, b: 0 };
  }
  if ('lea16' in rm) {
    const m = rm.lea16;
    const dlen = m.mod === 1 ? 1 : m.mod === 2 || m.rm === 6 ? 2 : 0;
    return {
      pre: adsize(g, 16),
      modrm: (m.mod << 6) | r | m.rm,
      tail: le(m.disp, dlen),
      x: 0,
      b: 0,
    };
  }
  const m = rm.lea;
  return {
    pre: [],
    modrm: (m.disp32 ? 0x80 : 0x40) | r | 4,
    tail: [
      ([1, 2, 4, 8].indexOf(m.scale) << 6) | ((m.index & 7) << 3) | (m.base & 7),
      ...le(m.disp, m.disp32 ? 4 : 1),
    ],
    x: m.index >> 3,
    b: m.base >> 3,
  };
}

/** The bytes of one ModRM instruction. */
function encode(g: Gen, e: Enc): Item {
  const m = modrm(g, e.reg, e.rm);
  const out: number[] = [...m.pre];
  if (!e.noSizePrefix) out.push(...opsize(g, e.size));
  const w = e.size === 8 && !e.noSizePrefix ? 1 : 0;
  const r = e.reg >> 3;
  if (w || r || m.x || m.b || (e.rex && g.bits === 64))
    out.push(0x40 | (w << 3) | (r << 2) | (m.x << 1) | m.b);
  out.push(...e.op, m.modrm, ...m.tail);
  const item: Item = { bytes: out };
  const disp = out.length - 4;
  if (e.imm?.length) {
    item.imm = { at: out.length, len: e.imm.length };
    out.push(...e.imm);
  }
  if (m.rip !== undefined) item.ripRel = [{ at: disp, end: out.length, target: m.rip }];
  return item;
}

/** Prefix bytes before an item (its immediate, RIP-relative and far-pointer positions move along). */
function prefixed(pre: number[], it: Item): Item {
  const n = pre.length;
  const out: Item = { ...it, bytes: [...pre, ...it.bytes] };
  if (it.imm) out.imm = { ...it.imm, at: it.imm.at + n };
  if (it.abs) out.abs = { ...it.abs, at: it.abs.at + n };
  if (it.ripRel) out.ripRel = it.ripRel.map((r) => ({ ...r, at: r.at + n, end: r.end + n }));
  return out;
}

/** Instructions (items, or plain bytes) as one item: RIP-relative operands kept, immediates not. */
function concat(...parts: (Item | number[])[]): Item {
  const bytes: number[] = [];
  const ripRel: NonNullable<Item['ripRel']> = [];
  for (const p of parts) {
    const it = Array.isArray(p) ? { bytes: p } : p;
    for (const r of it.ripRel ?? [])
      ripRel.push({ ...r, at: r.at + bytes.length, end: r.end + bytes.length });
    bytes.push(...it.bytes);
  }
  return ripRel.length ? { bytes, ripRel } : { bytes };
}

function immFor(g: Gen, len: number): number[] {
  const v = g.int(3) === 0 ? BigInt(g.int(8)) : g.value();
  return le(v, len);
}

/** A data-page address with room for `size` bytes. */
const dataAddr = (g: Gen, size: number): number => LAYOUT.data + g.int(0x1000 - size + 1);

/** A register (any, incl. RSP as a source) or a memory operand of the data or stack page. */
function rm(g: Gen, size: number, memOk = true): Rm {
  const k = g.int(memOk ? 5 : 3);
  if (k < 3) return { reg: g.reg() };
  if (k === 3) return { abs: dataAddr(g, size) };
  return { rspDisp: g.int(256) - 128 };
}

const rex = (g: Gen, size: number): boolean => size === 1 && g.int(2) === 0;

/** MOV r, imm of `size` (2 or 4; 4 zero-extends in 64-bit mode) into register `reg` (0-7). */
const movImm = (g: Gen, reg: number, size: number, v: number): number[] => [
  ...opsize(g, size),
  0xb8 + reg,
  ...le(v, size),
];

type Form = (g: Gen) => Item;

const alu = (op: number): Form[] => [
  (g) => {
    const s = g.pick(g.sizes);
    return encode(g, {
      size: s,
      op: [(op << 3) | (s === 1 ? 0 : 1)],
      reg: g.reg(),
      rm: rm(g, s),
      rex: rex(g, s),
    });
  },
  (g) => {
    const s = g.pick(g.sizes);
    return encode(g, {
      size: s,
      op: [(op << 3) | (s === 1 ? 2 : 3)],
      reg: g.reg(),
      rm: rm(g, s),
      rex: rex(g, s),
    });
  },
  (g) => {
    const s = g.pick(g.sizes);
    if (s === 1)
      return encode(g, { size: s, op: [0x80], reg: op, rm: rm(g, s), imm: immFor(g, 1), rex: rex(g, s) });
    if (g.int(2)) return encode(g, { size: s, op: [0x83], reg: op, rm: rm(g, s), imm: immFor(g, 1) });
    return encode(g, { size: s, op: [0x81], reg: op, rm: rm(g, s), imm: immFor(g, immLen(s)) });
  },
  (g) => {
    // AL/AX/EAX/RAX, imm
    const s = g.pick(g.sizes);
    const len = immLen(s);
    const bytes = [...opsize(g, s), ...rexW(s), (op << 3) | (s === 1 ? 4 : 5)];
    const at = bytes.length;
    return { bytes: [...bytes, ...immFor(g, len)], imm: { at, len } };
  },
];

const unaryF6 =
  (ext: number): Form =>
  (g) => {
    const s = g.pick(g.sizes);
    return encode(g, { size: s, op: [s === 1 ? 0xf6 : 0xf7], reg: ext, rm: rm(g, s), rex: rex(g, s) });
  };

const shift = (ext: number): Form[] => [
  (g) => {
    const s = g.pick(g.sizes);
    return encode(g, { size: s, op: [s === 1 ? 0xd0 : 0xd1], reg: ext, rm: rm(g, s), rex: rex(g, s) });
  },
  (g) => {
    const s = g.pick(g.sizes);
    const count = g.pick([0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, g.int(256)]);
    return encode(g, {
      size: s,
      op: [s === 1 ? 0xc0 : 0xc1],
      reg: ext,
      rm: rm(g, s),
      imm: [count],
      rex: rex(g, s),
    });
  },
  (g) => {
    const s = g.pick(g.sizes);
    return encode(g, { size: s, op: [s === 1 ? 0xd2 : 0xd3], reg: ext, rm: rm(g, s), rex: rex(g, s) });
  },
];

const cc = (g: Gen): number => g.int(16);

/** DIV/IDIV with a divisor register (not RAX/RDX/RSP, nor AH) made safe: no #DE. */
function divide(g: Gen, signed: boolean): Item {
  const s = g.pick(g.sizes);
  const d = g.pick(g.bits === 64 ? [1, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] : [1, 3, 5, 6, 7]);
  const parts: Item[] = [];
  const r = (reg: number): Rm => ({ reg });
  if (!signed) {
    // The high half 0 (AH for 8 bits), the divisor odd.
    if (s === 1) parts.push(encode(g, { size: 4, op: [0x0f, 0xb6], reg: 0, rm: r(0), noSizePrefix: true }));
    else parts.push(encode(g, { size: 4, op: [0x31], reg: 2, rm: r(2) })); // xor edx, edx
    parts.push(encode(g, { size: s, op: [s === 1 ? 0x80 : 0x83], reg: 1, rm: r(d), imm: [1], rex: true }));
  } else {
    // The dividend sign-extended from the low half, the divisor in 2..127: the quotient fits.
    parts.push({ bytes: s === 1 ? [...opsize(g, 2), 0x98] : [...opsize(g, s), ...rexW(s), 0x99] });
    parts.push(encode(g, { size: s, op: [s === 1 ? 0x80 : 0x83], reg: 4, rm: r(d), imm: [0x7f], rex: true }));
    parts.push(encode(g, { size: s, op: [s === 1 ? 0x80 : 0x83], reg: 1, rm: r(d), imm: [2], rex: true }));
  }
  parts.push(encode(g, { size: s, op: [s === 1 ? 0xf6 : 0xf7], reg: signed ? 7 : 6, rm: r(d), rex: true }));
  return { bytes: parts.flatMap((p) => p.bytes) };
}

function out(g: Gen): Item {
  const s = g.pick([1, 2, 4]);
  const pre = opsize(g, s);
  if (g.int(2)) return { bytes: [...pre, s === 1 ? 0xe6 : 0xe7, g.int(256)] };
  return { bytes: [...pre, s === 1 ? 0xee : 0xef] };
}

function inPort(g: Gen): Item {
  const s = g.pick([1, 2, 4]);
  const pre = opsize(g, s);
  if (g.int(2)) return { bytes: [...pre, s === 1 ? 0xe4 : 0xe5, g.int(256)] };
  return { bytes: [...pre, s === 1 ? 0xec : 0xed] };
}

/** An XMM r/m operand: a register, or a [disp] in the data page (16-byte aligned when `aligned`). */
function xmmRm(g: Gen, aligned: boolean, memOnly = false): Rm {
  if (!memOnly && g.int(2)) return { reg: g.reg() };
  return { abs: LAYOUT.data + (aligned ? 16 * g.int(256) : g.int(0x1000 - 16 + 1)) };
}

/**
 * An SSE move: the mandatory prefix, 0F op, XMM reg and r/m. Only the moves KVM's instruction
 * emulator implements (emulate.c's Sse | Mov entries), since the machine's /dev/kvm may run the
 * guest through it: its PXOR, MOVD/MOVQ, MOVSS/MOVSD, LDMXCSR… are emulation failures.
 */
function sseMove(prefix: number[], op: number, aligned: boolean, memOnly = false): Form {
  return (g) => {
    const it = encode(g, {
      size: 4,
      op: [0x0f, op],
      reg: g.reg(),
      rm: xmmRm(g, aligned, memOnly),
      noSizePrefix: true,
    });
    return prefixed(prefix, it);
  };
}

/** MOVUPS xmmK, [data + 16 K]: the program's XMM registers from its random data page. */
export function xmmInit(mode: Mode, k: number): Item {
  const base = segmentsOf(mode).ds.base;
  const off = LAYOUT.data + 16 * k - base;
  const r = (k & 7) << 3;
  const mem = BITS[mode] === 16 ? [r | 6, ...le(off, 2)] : [r | 4, 0x25, ...le(off, 4)];
  return { bytes: [...(k >> 3 ? [0x44] : []), 0x0f, 0x10, ...mem] };
}

/**
 * A string instruction (MOVS, CMPS, STOS, LODS, SCAS; byte to qword; without a prefix, with REP,
 * or REPE/REPNE where they mean something) after the setup of what it uses: RSI and RDI (or SI and
 * DI, for a 16-bit address size) at a data-page address through the source's segment (DS or an
 * override) and ES, RCX (CX) the count. INS/OUTS are stringIo's.
 */
function stringOp(g: Gen): Item {
  const asize = g.asize();
  const ptr = asize === 16 ? 2 : 4;
  const op = g.pick([0xa4, 0xa6, 0xaa, 0xac, 0xae]);
  const s = g.pick(g.sizes);
  const setup: number[] = [];
  const seg = segmentFor(g, LAYOUT.data + 0x100, 'ds');
  const usesSrc = [0xa4, 0xa6, 0xac].includes(op);
  const usesDst = [0xa4, 0xa6, 0xaa, 0xae].includes(op);
  // 16 elements of up to 8 bytes either way from the start stay inside the page.
  if (usesSrc) setup.push(...movImm(g, 6, ptr, LAYOUT.data + 0x100 + g.int(0xe00) - seg.base));
  if (usesDst) setup.push(...movImm(g, 7, ptr, LAYOUT.data + 0x100 + g.int(0xe00) - g.segs.es.base));
  const rep = g.pick(op === 0xa6 || op === 0xae ? [[], [0xf3], [0xf2]] : [[], [0xf3]]);
  if (rep.length || g.int(4) === 0) setup.push(...movImm(g, 1, asize === 16 ? 2 : 4, g.int(17)));
  const bytes = [
    ...setup,
    ...(usesSrc ? seg.prefix : []),
    ...rep,
    ...adsize(g, asize),
    ...(s === 1 ? [] : opsize(g, s)),
    ...rexW(s),
    op + (s === 1 ? 0 : 1),
  ];
  return { bytes };
}

/**
 * INS or OUTS (byte, word or dword; no prefix, REP or REPNE, which repeats them too) after the
 * setup of what it uses: DX the port, RSI (SI) at a data-page address through DS or an override
 * (OUTS), RDI (DI) through ES (INS), RCX (CX) a count of 0-8. KVM emulates them (io_interception →
 * kvm_emulate_instruction): one KVM_EXIT_IO per OUTS element, and INS reads ahead up to the end of
 * the page (a byte count of what is left of it from RDI, below RDI with DF set), so an INS buffer
 * starts near either end of the data page one time in four, its elements crossing into the stack
 * page or the end of the code page.
 */
function stringIo(g: Gen): Item {
  const asize = g.asize();
  const ptr = asize === 16 ? 2 : 4;
  const isIn = g.int(2) === 0;
  const s = g.pick([1, 2, 4] as const);
  const setup: number[] = [...movImm(g, 2, 2, g.int(0x10000))];
  const seg = segmentFor(g, LAYOUT.data + 0x100, 'ds');
  if (isIn) {
    const at = g.int(4)
      ? LAYOUT.data + 0x100 + g.int(0xe00)
      : g.int(2)
        ? LAYOUT.data + 0x1000 - g.int(40)
        : LAYOUT.data + g.int(40);
    setup.push(...movImm(g, 7, ptr, at - g.segs.es.base));
  } else setup.push(...movImm(g, 6, ptr, LAYOUT.data + 0x100 + g.int(0xe00) - seg.base));
  const rep = g.pick([[], [0xf3], [0xf3], [0xf2]]);
  if (rep.length || g.int(4) === 0) setup.push(...movImm(g, 1, ptr, g.int(9)));
  const bytes = [
    ...setup,
    ...(isIn ? [] : seg.prefix),
    ...rep,
    ...adsize(g, asize),
    ...(s === 1 ? [] : opsize(g, s)),
    (isIn ? 0x6c : 0x6e) + (s === 1 ? 0 : 1),
  ];
  return { bytes };
}

/** XLAT after RBX (BX) is set to a table in the data page. */
function xlat(g: Gen): Item {
  const asize = g.asize();
  const seg = segmentFor(g, LAYOUT.data, 'ds');
  const bx = LAYOUT.data + g.int(0xf00) - seg.base;
  return { bytes: [...movImm(g, 3, asize === 16 ? 2 : 4, bx), ...seg.prefix, ...adsize(g, asize), 0xd7] };
}

/** Selectors a program may load into a data segment register (real mode: the one it has). */
function selectorsFor(g: Gen, seg: SegName): number[] {
  if (g.bits === 16) return [g.segs[seg].selector];
  return seg === 'ss' ? [0x10, 0x18] : [0x10, 0x18, 0x20, 0x28, 0x2b];
}

/** The ModRM reg field of a segment register (MOV Sreg). */
const SREG: Record<SegName, number> = { es: 0, cs: 1, ss: 2, ds: 3, fs: 4, gs: 5 };

/**
 * A segment register load that keeps every base (real mode: the selector it has; protected and
 * long mode: a base-0 descriptor of the GDT): MOV Sreg, r16 or m16; PUSH imm + POP Sreg; or
 * LES/LDS/LFS/LGS from a far pointer the program stores first.
 */
function segLoad(g: Gen): Item {
  const seg = g.pick(
    g.bits === 64 ? (['es', 'ss', 'ds', 'fs', 'gs'] as const) : (['es', 'ss', 'ds', 'fs', 'gs'] as const),
  );
  const sel = g.pick(selectorsFor(g, seg));
  const d = dataAddr(g, 10);
  const pops: Record<SegName, number[]> = {
    es: [0x07],
    cs: [],
    ss: [0x17],
    ds: [0x1f],
    fs: [0x0f, 0xa1],
    gs: [0x0f, 0xa9],
  };
  const lxs: Partial<Record<SegName, number[]>> =
    g.bits === 64
      ? { fs: [0x0f, 0xb4], gs: [0x0f, 0xb5] }
      : { es: [0xc4], ds: [0xc5], fs: [0x0f, 0xb4], gs: [0x0f, 0xb5] };
  if (seg === 'ss' && sel === 0x18 && g.bits === 32) g.ss16 = true;
  const k = g.int(4);
  if (k === 0) {
    // mov r16, sel; mov sreg, r16 (or r32: the same)
    const r = g.pick([0, 1, 2, 3, 5, 6, 7]);
    const mov = movImm(g, r, 2, sel);
    return concat(mov, encode(g, { size: g.pick(g.no8), op: [0x8e], reg: SREG[seg], rm: { reg: r } }));
  }
  if (k === 1 || (k === 2 && g.bits === 64 && pops[seg]!.length === 1) || (k === 3 && !lxs[seg])) {
    const store = encode(g, { size: 2, op: [0xc7], reg: 0, rm: { abs: d }, imm: le(sel, 2) });
    return concat(
      store,
      encode(g, { size: 2, op: [0x8e], reg: SREG[seg], rm: { abs: d }, noSizePrefix: true }),
    );
  }
  if (k === 2) {
    // push sel; pop sreg, at the mode's stack size or the other one (66h on both)
    const o = g.int(4) ? [] : [0x66];
    const len = (g.bits === 16) === (o.length === 0) ? 2 : 4;
    return { bytes: [...o, 0x68, ...le(sel, len), ...o, ...pops[seg]!] };
  }
  // lxs r, m16:16/32/64 from [d]: the offset, then the selector
  const size = g.pick(g.no8);
  const r = g.pick([0, 1, 2, 3, 5, 6, 7]);
  const parts = [
    encode(g, { size, op: [0xc7], reg: 0, rm: { abs: d }, imm: immFor(g, immLen(size)) }),
    encode(g, { size: 2, op: [0xc7], reg: 0, rm: { abs: d + size }, imm: le(sel, 2) }),
    encode(g, { size, op: lxs[seg]!, reg: r, rm: { abs: d } }),
  ];
  return concat(...parts);
}

/** MOV rBP, rSP (the stack pointer's width): the frame LEAVE restores. */
const movBpSp = (g: Gen): number[] => [...(g.bits === 64 ? [0x48] : []), 0x89, 0xe5];

/**
 * ENTER imm16, 0 and LEAVE after RBP = RSP: ENTER at the mode's operand size only, and not once the
 * stack may be 16-bit in 32-bit code (KVM's em_enter pushes RBP at the stack's size, not the
 * operand size: with 66h, or a 16-bit SS under 32-bit code, its ENTER and LEAVE disagree, which
 * hardware's do not); no nesting level (em_enter refuses one: KVM_EXIT_INTERNAL_ERROR). LEAVE
 * sometimes at the other operand size.
 */
function enterLeave(g: Gen): Item {
  const enter = g.ss16 || g.int(4) === 0 ? [] : [0xc8, ...le(g.int(64), 2), 0];
  return { bytes: [...movBpSp(g), ...enter, ...(g.int(4) ? [] : [0x66]), 0xc9] };
}

/**
 * A far transfer to the start of an item 1-3 ahead, through a code selector of the mode (real
 * mode: CS 0 or 0x100; protected mode: 8 or 0x30 at base 0x1000, 64-bit mode: 8 or 0x30): JMP or
 * CALL ptr16:16/32 (not in 64-bit mode), JMP or CALL m16:16/32/64 after storing the pointer, RETF
 * after pushing the pointer, and in real mode IRET after pushing FLAGS and the pointer.
 */
function farTransfer(g: Gen): Item {
  const [sel, base] = g.pick(codeSegments(g));
  if (base) g.csMoved = true;
  const skip = 1 + g.int(3);
  const kinds =
    g.bits === 64 ? ['mem', 'retf'] : g.bits === 16 ? ['ptr', 'mem', 'retf', 'iret'] : ['ptr', 'mem', 'retf'];
  const kind = g.pick(kinds);
  // The operand size: the mode's, or (one in four) 66h's; REX.W for m16:64 and RETFQ (64-bit
  // mode's pushes are 8 bytes: its RETF pops 8 or, with 66h, 2).
  const o = g.int(4) ? [] : [0x66];
  const wide = kind === 'retf' || g.int(2) ? 8 : 4;
  const size = g.bits === 64 ? (o.length ? 2 : wide) : (g.bits === 16) === (o.length === 0) ? 2 : 4;
  const w = size === 8 ? [0x48] : [];
  if (kind === 'ptr') {
    const bytes = [...o, g.pick([0xea, 0x9a]), ...le(0, size), ...le(sel, 2)];
    return { bytes, skip, abs: { at: o.length + 1, len: size, base } };
  }
  if (kind === 'mem') {
    const d = dataAddr(g, 10);
    const off = encode(g, {
      size: size === 8 ? 8 : size === 2 ? 2 : 4,
      op: [0xc7],
      reg: 0,
      rm: { abs: d },
      imm: le(0, immLen(size)),
    });
    const seg = encode(g, { size: 2, op: [0xc7], reg: 0, rm: { abs: d + size }, imm: le(sel, 2) });
    const at = off.imm!.at;
    const jmp = encode(g, { size, op: [0xff], reg: g.pick([3, 5]), rm: { abs: d } });
    return { ...concat(off, seg, jmp), skip, abs: { at, len: immLen(size), base } };
  }
  // RETF (or IRET) after pushing [FLAGS,] the selector and the offset at the operand size.
  const push = (v: number): number[] =>
    size === 2
      ? [...(g.bits === 16 ? [] : [0x66]), 0x68, ...le(v, 2)]
      : [...(g.bits === 16 ? [0x66] : []), 0x68, ...le(v, 4)];
  const flags = kind === 'iret' ? [...o, 0x9c] : [];
  const pre = [...flags, ...push(sel), ...push(0)];
  return {
    bytes: [...pre, ...(size === 8 ? w : o), kind === 'iret' ? 0xcf : 0xcb],
    skip,
    abs: { at: pre.length - immLen(size === 8 ? 4 : size), len: size === 8 ? 4 : size, base },
  };
}

/**
 * A near indirect transfer or RET to the start of an item 1-3 ahead, its offset from CS's base
 * (so not once CS may have moved: a Jcc instead): JMP/CALL r after MOV r, offset; JMP/CALL m after
 * storing it; RET (or RET imm16, releasing stack bytes too) after pushing it.
 */
function nearIndirect(g: Gen): Item {
  const skip = 1 + g.int(3);
  if (g.csMoved) return { bytes: [0x70 + cc(g), 0], skip };
  const size = g.bits === 64 ? 8 : g.bits === 32 ? 4 : 2;
  const len = size === 2 ? 2 : 4;
  const ext = g.pick([2, 4]);
  const k = g.int(3);
  if (k === 0) {
    const r = g.pick([0, 1, 2, 3, 5, 6, 7]);
    const mov = [0xb8 + r, ...le(0, len)];
    return {
      bytes: [
        ...mov,
        ...encode(g, { size: 4, op: [0xff], reg: ext, rm: { reg: r }, noSizePrefix: true }).bytes,
      ],
      skip,
      abs: { at: 1, len, base: 0 },
    };
  }
  if (k === 1) {
    const d = dataAddr(g, 8);
    const store = encode(g, { size, op: [0xc7], reg: 0, rm: { abs: d }, imm: le(0, len) });
    const jmp = encode(g, { size: 4, op: [0xff], reg: ext, rm: { abs: d }, noSizePrefix: true });
    return { ...concat(store, jmp), skip, abs: { at: store.imm!.at, len, base: 0 } };
  }
  const release = g.int(2) ? [0xc3] : [0xc2, ...le(2 * g.int(32), 2)];
  return { bytes: [0x68, ...le(0, len), ...release], skip, abs: { at: 1, len, base: 0 } };
}

/**
 * Stores of system registers: SGDT/SIDT m, SMSW r/m, and outside real mode STR/SLDT r/m (the TR
 * and LDTR selectors the entry state gives).
 */
function systemStore(g: Gen): Item {
  const k = g.int(g.bits === 16 ? 3 : 5);
  if (k < 2)
    return encode(g, { size: 4, op: [0x0f, 0x01], reg: k, rm: { abs: dataAddr(g, 10) }, noSizePrefix: true });
  const m = rm(g, 2);
  const size = 'reg' in m ? g.pick(g.no8) : 2;
  if (k === 2) return encode(g, { size, op: [0x0f, 0x01], reg: 4, rm: m });
  return encode(g, { size, op: [0x0f, 0x00], reg: k - 3, rm: m });
}

/**
 * MSRs a program may write and read back (the VMM zeroes them at entry): SYSENTER_CS, STAR, LSTAR,
 * CSTAR, SFMASK, KERNEL_GS_BASE, any value (a non-canonical address is #GP on both). Not
 * SYSENTER_ESP/EIP: what they keep above bit 31 is the vendor's (KVM on AMD keeps nothing for a
 * guest that is not Intel-compatible; this /dev/kvm sign-extends from bit 56).
 */
export const MSRS = [0x174, 0xc000_0081, 0xc000_0082, 0xc000_0083, 0xc000_0084, 0xc000_0102];

/**
 * WRMSR of a random value, or RDMSR, of one of MSRS. Not an address canonical with 57 bits but not
 * with 48: this /dev/kvm checks the host's 57 (max_host_virt_addr_bits), the model's CPU has 48.
 */
function msr(g: Gen): Item {
  const set = (r: number, v: number): number[] => [...opsize(g, 4), 0xb8 + r, ...le(v, 4)];
  const lo = g.u32();
  let hi = g.pick([0, 0xffff_ffff, 0xffff_8000, 0x7fff, 0x1234_5678, g.u32()]);
  const top = hi >>> 24;
  if ((top === 0 && hi >= 0x8000) || (top === 0xff && hi < 0xffff_8000)) hi = 0x1234_5678;
  const write = g.int(2) ? [...set(0, lo), ...set(2, hi), 0x0f, 0x30] : [];
  return { bytes: [...set(1, g.pick(MSRS)), ...write, 0x0f, 0x32] };
}

/** BT/BTS/BTR/BTC m, r on the bit string: the register a signed offset of ±0x3000 bits. */
function bitString(g: Gen): Item {
  const s = g.pick(g.no8);
  const r = g.pick([1, 3, 5, 6, 7]);
  const off = g.int(0x6000) - 0x3000;
  const mov = encode(g, { size: s, op: [0xc7], reg: 0, rm: { reg: r }, imm: le(off, immLen(s)) });
  const op = encode(g, {
    size: s,
    op: [0x0f, g.pick([0xa3, 0xab, 0xb3, 0xbb])],
    reg: r,
    rm: { abs: LAYOUT.data + 0x800 },
  });
  return concat(mov, op);
}

/**
 * Real mode's software interrupts: INT 21h (its IVT entry an IRET), INT3 and INTO (traps, to an
 * IRET), or INT n to an exception vector (to the HLT that ends the program). Not INT n ≥ 80h: KVM's
 * emulator sign-extends the vector (em_int's SrcImmByte) and reads the IVT below 0; the guest
 * never exits (the watchdog ends the run). Not in protected or long mode: the emulator has no
 * protected-mode INT n, INT3, INTO or IRET (KVM_EXIT_INTERNAL_ERROR).
 */
function softInt(g: Gen): Item {
  switch (g.int(5)) {
    case 0:
      return { bytes: [0xcc] };
    case 1:
      return { bytes: [0xce] };
    case 2:
      return { bytes: [0xcd, g.int(32)] };
    default:
      return { bytes: [0xcd, 0x21] };
  }
}

/**
 * An exception that ends the program in the HLT handler, its frame on the stack: #DE (DIV by a
 * zeroed register), #UD (UD2), #GP (a selector beyond the GDT), #PF in 64-bit mode (a read above
 * the identity map). Not a segment limit violation: the interpreter checks no limits (a real-mode
 * word at offset FFFFh is #GP on /dev/kvm, a read past the segment on the model). No UD2 once CS
 * may have a base other than 0: /dev/kvm's #UD path then fails (KVM_EXIT_INTERNAL_ERROR).
 */
function fault(g: Gen): Item {
  const k = g.int(4);
  if (k === 0 || ((g.bits === 16 || k === 1) && g.csMoved)) {
    const s = g.pick(g.sizes);
    const r = g.pick(s === 1 ? [1, 3] : [1, 3, 5, 6, 7]);
    return {
      bytes: [
        ...encode(g, { size: 4, op: [0x31], reg: r, rm: { reg: r } }).bytes,
        ...encode(g, { size: s, op: [s === 1 ? 0xf6 : 0xf7], reg: 6, rm: { reg: r } }).bytes,
      ],
    };
  }
  if (g.bits === 16 || k === 1) return { bytes: [0x0f, 0x0b] };
  if (k === 2 || g.bits !== 64) {
    const mov = movImm(g, 0, 2, 0x38 + 8 * g.int(4));
    return { bytes: [...mov, 0x8e, 0xd8] }; // mov ds, ax
  }
  return { bytes: [0x8b, 0x04, 0x25, ...le(0x4000_0000 + g.int(0x1000) * 8, 4)] }; // mov eax, [1 GiB + …]
}

/**
 * The flags POPF may load at CPL 0 without trapping: status, DF, IOPL, NT, AC, VIF, VIP, ID. Not AC
 * outside real mode: /dev/kvm clears it when it delivers an exception in protected or long mode
 * (hardware does not; real mode's delivery clears it on both).
 */
const popfMask = (g: Gen): number => (g.bits === 16 ? 0x3c_7cd5 : 0x38_7cd5);

type Entry = [weight: number, Form, modes?: readonly Bits[]];

const FORMS: Entry[] = [
  // SSE moves: MOVAPS/MOVAPD/MOVDQA, MOVUPS/MOVUPD/MOVDQU (loads and stores), MOVNTPS/MOVNTDQ, MOVNTI
  ...(
    [
      [[], 0x28, true],
      [[], 0x29, true],
      [[0x66], 0x28, true],
      [[0x66], 0x29, true],
      [[0x66], 0x6f, true],
      [[0x66], 0x7f, true],
      [[], 0x10, false],
      [[], 0x11, false],
      [[0x66], 0x10, false],
      [[0x66], 0x11, false],
      [[0xf3], 0x6f, false],
      [[0xf3], 0x7f, false],
    ] as const
  ).map(([pre, op, al]): Entry => [1, sseMove([...pre], op, al)]),
  [1, sseMove([], 0x2b, true, true)],
  [1, sseMove([0x66], 0xe7, true, true)],
  [
    1,
    (g) => {
      const s = g.bits === 64 ? g.pick([4, 8] as const) : 4;
      return encode(g, {
        size: s,
        op: [0x0f, 0xc3],
        reg: g.reg(),
        rm: { abs: dataAddr(g, s) },
        noSizePrefix: s === 4,
      });
    },
  ],
  // MOV
  ...[
    (g: Gen) => {
      const s = g.pick(g.sizes);
      return encode(g, { size: s, op: [s === 1 ? 0x88 : 0x89], reg: g.reg(), rm: rm(g, s), rex: rex(g, s) });
    },
    (g: Gen) => {
      const s = g.pick(g.sizes);
      return encode(g, { size: s, op: [s === 1 ? 0x8a : 0x8b], reg: g.reg(), rm: rm(g, s), rex: rex(g, s) });
    },
    (g: Gen) => {
      const s = g.pick(g.sizes);
      return encode(g, {
        size: s,
        op: [s === 1 ? 0xc6 : 0xc7],
        reg: 0,
        rm: rm(g, s),
        imm: immFor(g, immLen(s)),
        rex: rex(g, s),
      });
    },
    (g: Gen): Item => {
      // B0+r / B8+r (imm64 with REX.W)
      const s = g.pick(g.sizes);
      const reg = g.reg();
      const rx = (s === 8 ? 8 : 0) | (reg >> 3);
      const len = s;
      const bytes = [
        ...opsize(g, s),
        ...(rx || (g.bits === 64 && rex(g, s)) ? [0x40 | rx] : []),
        (s === 1 ? 0xb0 : 0xb8) + (reg & 7),
      ];
      const at = bytes.length;
      return { bytes: [...bytes, ...le(g.value(), len)], imm: { at, len } };
    },
  ].map((f): Entry => [3, f]),
  ...[0, 1, 2, 3, 4, 5, 6, 7].flatMap((op) => alu(op).map((f): Entry => [1, f])),
  // TEST
  [
    2,
    (g) => {
      const s = g.pick(g.sizes);
      return encode(g, { size: s, op: [s === 1 ? 0x84 : 0x85], reg: g.reg(), rm: rm(g, s), rex: rex(g, s) });
    },
  ],
  [
    1,
    (g) => {
      const s = g.pick(g.sizes);
      return encode(g, {
        size: s,
        op: [s === 1 ? 0xf6 : 0xf7],
        reg: 0,
        rm: rm(g, s),
        imm: immFor(g, immLen(s)),
        rex: rex(g, s),
      });
    },
  ],
  // INC DEC
  ...[0, 1].map(
    (ext): Entry => [
      2,
      (g) => {
        const s = g.pick(g.sizes);
        return encode(g, { size: s, op: [s === 1 ? 0xfe : 0xff], reg: ext, rm: rm(g, s), rex: rex(g, s) });
      },
    ],
  ),
  // INC/DEC r16/r32 (40+r, 48+r: REX in 64-bit mode)
  [1, (g) => ({ bytes: [...opsize(g, g.pick(g.no8)), g.pick([0x40, 0x48]) + g.reg()] }), [16, 32]],
  // NOT NEG MUL IMUL (one operand)
  ...[2, 3, 4, 5].map((ext): Entry => [2, unaryF6(ext)]),
  // Shifts and rotates
  ...[0, 1, 2, 3, 4, 5, 7].flatMap((ext) => shift(ext).map((f): Entry => [1, f])),
  // LEA: SIB forms (32/64-bit addresses) and ModRM forms (16-bit addresses)
  [
    3,
    (g) => {
      const s = g.pick(g.no8);
      const asize = g.asize();
      if (asize === 16) {
        const mod = g.int(3);
        const lea16: Lea16 = { mod, rm: g.int(8), disp: mod === 1 ? g.int(256) : g.int(0x10000) };
        return encode(g, { size: s, op: [0x8d], reg: g.reg(), rm: { lea16 } });
      }
      const disp32 = g.int(2) === 0;
      const lea: LeaMem = {
        base: g.reg(),
        index: g.reg(),
        scale: g.pick([1, 2, 4, 8]),
        disp: disp32 ? g.u32() : g.int(256),
        disp32,
      };
      const it = encode(g, { size: s, op: [0x8d], reg: g.reg(), rm: { lea } });
      if (asize !== g.bits) {
        it.bytes.unshift(0x67);
        if (it.imm) it.imm.at++;
      }
      return it;
    },
  ],
  // MOVZX MOVSX MOVSXD
  ...[0xb6, 0xb7, 0xbe, 0xbf].map(
    (op): Entry => [
      1,
      (g) => {
        const s = g.pick(g.no8);
        const src = op & 1 ? 2 : 1;
        return encode(g, { size: s, op: [0x0f, op], reg: g.reg(), rm: rm(g, src), rex: rex(g, src) });
      },
    ],
  ),
  [1, (g) => encode(g, { size: 8, op: [0x63], reg: g.reg(), rm: rm(g, 4) }), [64]],
  // XCHG
  [
    2,
    (g) => {
      const s = g.pick(g.sizes);
      return encode(g, { size: s, op: [s === 1 ? 0x86 : 0x87], reg: g.reg(), rm: rm(g, s), rex: rex(g, s) });
    },
  ],
  // PUSH / POP r (the other operand size through 66h, one in eight)
  ...[0x50, 0x58].map(
    (op): Entry => [
      2,
      (g): Item => {
        const reg = g.reg();
        const o16 = g.int(8) === 0 ? [0x66] : [];
        return { bytes: [...o16, ...(reg >> 3 ? [0x41] : []), op + (reg & 7)] };
      },
    ],
  ),
  // PUSH imm8/imm16/imm32
  [
    1,
    (g) => {
      const o16 = g.int(8) === 0 ? [0x66] : [];
      if (g.int(2)) return { bytes: [...o16, 0x6a, g.int(256)], imm: { at: o16.length + 1, len: 1 } };
      const len = (g.bits === 16) === (o16.length === 0) ? 2 : 4;
      return { bytes: [...o16, 0x68, ...immFor(g, len)], imm: { at: o16.length + 1, len } };
    },
  ],
  // PUSH r/m, POP r/m
  ...[
    [0xff, 6],
    [0x8f, 0],
  ].map(
    ([op, ext]): Entry => [
      1,
      (g) => {
        const it = encode(g, {
          size: 4,
          op: [op!],
          reg: ext!,
          rm: g.int(2) ? { abs: dataAddr(g, 8) } : { rspDisp: g.int(256) - 128 },
          noSizePrefix: true,
        });
        return g.int(8) === 0 ? prefixed([0x66], it) : it;
      },
    ],
  ),
  // PUSH ES/CS/SS/DS (not in 64-bit mode), PUSH FS/GS
  [1, (g) => ({ bytes: [...(g.int(4) ? [] : [0x66]), g.pick([0x06, 0x0e, 0x16, 0x1e])] }), [16, 32]],
  [1, (g) => ({ bytes: [...(g.int(4) ? [] : [0x66]), 0x0f, g.pick([0xa0, 0xa8])] })],
  // MOV r/m, Sreg
  [
    1,
    (g) => {
      const m = rm(g, 2);
      const s = 'reg' in m ? g.pick(g.no8) : 2;
      return encode(g, { size: s, op: [0x8c], reg: g.int(6), rm: m });
    },
  ],
  // Segment register loads that keep every base
  [2, segLoad],
  // ENTER/LEAVE, PUSHA/POPA
  [1, enterLeave],
  [1, (g) => ({ bytes: [...(g.int(4) ? [] : [0x66]), g.pick([0x60, 0x61])] }), [16, 32]],
  // Far JMP/CALL/RETF/IRET; real mode's INT n, INT3, INTO; an exception
  [2, farTransfer],
  [1, softInt, [16]],
  [1, fault],
  // PUSHF; PUSH imm + POPF (the flags POPF may set without a trap); LAHF, SAHF
  [1, (g) => ({ bytes: [...(g.int(4) ? [] : [0x66]), 0x9c] })],
  [
    1,
    (g): Item => {
      const o16 = g.int(4) ? [] : [0x66];
      const len = (g.bits === 16) === (o16.length === 0) ? 2 : 4;
      const flags = (g.u32() & popfMask(g)) | 2;
      return { bytes: [...o16, 0x68, ...le(flags, len), ...o16, 0x9d] };
    },
  ],
  [1, (g) => ({ bytes: [g.pick([0x9e, 0x9f])] })],
  // SETcc CMOVcc
  [2, (g) => encode(g, { size: 1, op: [0x0f, 0x90 + cc(g)], reg: 0, rm: rm(g, 1), rex: rex(g, 1) })],
  [
    2,
    (g) => {
      const s = g.pick(g.no8);
      return encode(g, { size: s, op: [0x0f, 0x40 + cc(g)], reg: g.reg(), rm: rm(g, s) });
    },
  ],
  // BT BTS BTR BTC: register offsets on registers, immediate offsets anywhere
  [
    2,
    (g) =>
      encode(g, {
        size: g.pick(g.no8),
        op: [0x0f, g.pick([0xa3, 0xab, 0xb3, 0xbb])],
        reg: g.reg(),
        rm: { reg: g.reg() },
      }),
  ],
  [
    2,
    (g) => {
      const s = g.pick(g.no8);
      return encode(g, { size: s, op: [0x0f, 0xba], reg: 4 + g.int(4), rm: rm(g, s), imm: [g.int(256)] });
    },
  ],
  // IMUL r, r/m (and with an immediate)
  [
    2,
    (g) => {
      const s = g.pick(g.no8);
      return encode(g, { size: s, op: [0x0f, 0xaf], reg: g.reg(), rm: rm(g, s) });
    },
  ],
  [
    1,
    (g) => {
      const s = g.pick(g.no8);
      if (g.int(2)) return encode(g, { size: s, op: [0x6b], reg: g.reg(), rm: rm(g, s), imm: immFor(g, 1) });
      return encode(g, { size: s, op: [0x69], reg: g.reg(), rm: rm(g, s), imm: immFor(g, immLen(s)) });
    },
  ],
  // SHLD SHRD (imm8, CL), BSF BSR, XADD CMPXCHG, BSWAP
  [
    2,
    (g) => {
      const s = g.pick(g.no8);
      const op = g.pick([0xa4, 0xa5, 0xac, 0xad]);
      const imm = op & 1 ? [] : [g.int(256)];
      return encode(g, { size: s, op: [0x0f, op], reg: g.reg(), rm: rm(g, s), imm });
    },
  ],
  [
    1,
    (g) => encode(g, { size: g.pick(g.no8), op: [0x0f, g.pick([0xbc, 0xbd])], reg: g.reg(), rm: rm(g, 8) }),
  ],
  [
    2,
    (g) => {
      const s = g.pick(g.sizes);
      const op = g.pick([0xc0, 0xb0]) | (s === 1 ? 0 : 1);
      return encode(g, { size: s, op: [0x0f, op], reg: g.reg(), rm: rm(g, s), rex: rex(g, s) });
    },
  ],
  [
    1,
    (g): Item => {
      const reg = g.reg();
      if (g.bits !== 64) return { bytes: [...opsize(g, 4), 0x0f, 0xc8 + reg] };
      const rx = (g.int(2) ? 8 : 0) | (reg >> 3);
      return { bytes: [...(rx ? [0x40 | rx] : []), 0x0f, 0xc8 + (reg & 7)] };
    },
  ],
  // CMPXCHG8B m64 (not CMPXCHG16B: KVM's emulator fails it, KVM_EXIT_INTERNAL_ERROR)
  [
    1,
    (g) => encode(g, { size: 4, op: [0x0f, 0xc7], reg: 1, rm: { abs: dataAddr(g, 8) }, noSizePrefix: true }),
  ],
  // DIV IDIV
  [1, (g) => divide(g, false)],
  [1, (g) => divide(g, true)],
  // CBW/CWDE/CDQE, CWD/CDQ/CQO, CLC STC CMC CLD STD
  [
    1,
    (g) => {
      const s = g.pick(g.no8);
      return { bytes: [...opsize(g, s), ...rexW(s), g.pick([0x98, 0x99])] };
    },
  ],
  [1, (g) => ({ bytes: [g.pick([0xf8, 0xf9, 0xf5, 0xfc, 0xfd, 0xfa, 0xfb])] })],
  // String instructions, XLAT
  [3, stringOp],
  [2, stringIo],
  [1, xlat],
  // Near indirect JMP/CALL, RET; XCHG rAX, r; bit strings; system stores; MSRs; SWAPGS
  [2, nearIndirect],
  [
    1,
    (g) => ({
      bytes: [
        ...opsize(g, g.pick(g.no8)),
        ...(g.bits === 64 ? [g.pick([0x40, 0x41, 0x48, 0x49])] : []),
        0x90 + g.int(8),
      ],
    }),
  ],
  [1, bitString],
  [1, systemStore],
  [1, msr],
  [1, () => ({ bytes: [0x0f, 0x01, 0xf8] }), [64]],
  // Forward Jcc, JMP, LOOP/LOOPE/LOOPNE/JCXZ (CX or ECX by the address size), CALL over 1-3 items
  [3, (g) => ({ bytes: [0x70 + cc(g), 0], skip: 1 + g.int(3) })],
  [1, (g) => ({ bytes: [0xeb, 0], skip: 1 + g.int(3) })],
  [1, (g) => ({ bytes: [...adsize(g, g.asize()), 0xe0 + g.int(4), 0], skip: 1 + g.int(3) })],
  [
    1,
    (g) => {
      const o = g.bits !== 64 && g.int(4) === 0 ? [0x66] : [];
      const rel = (g.bits === 16) === (o.length === 0) ? 2 : 4;
      return { bytes: [...o, 0xe8, ...le(0, rel)], skip: 1 + g.int(3), rel };
    },
  ],
  // IN and OUT in the middle
  [1, out],
  [1, inPort],
];

const FORMS_OF = new Map<Bits, { forms: Entry[]; total: number }>(
  ([16, 32, 64] as const).map((bits) => {
    const forms = FORMS.filter(([, , modes]) => !modes || modes.includes(bits));
    return [bits, { forms, total: forms.reduce((a, [w]) => a + w, 0) }];
  }),
);

const info = new InstructionInfoFactory();
const STACK_POINTER: readonly number[] = [Register.RSP, Register.ESP, Register.SP, Register.SPL];

/** Instructions that write RSP as they should (POP RSP aside). */
const STACK_OPS: readonly number[] = [
  Mnemonic.Enter,
  Mnemonic.Leave,
  Mnemonic.Pusha,
  Mnemonic.Pushad,
  Mnemonic.Popa,
  Mnemonic.Popad,
  Mnemonic.Int,
  Mnemonic.Int3,
  Mnemonic.Into,
  Mnemonic.Push,
  Mnemonic.Pop,
  Mnemonic.Pushf,
  Mnemonic.Pushfd,
  Mnemonic.Pushfq,
  Mnemonic.Popf,
  Mnemonic.Popfd,
  Mnemonic.Popfq,
];

/** One instruction's bytes are a single valid instruction that writes RSP only as PUSH and POP do. */
function acceptable(bytes: number[], bits: Bits): boolean {
  const d = new Decoder(bits, Uint8Array.from(bytes), DecoderOptions.None);
  const ins = d.decode();
  try {
    if (ins.isInvalid || ins.length !== bytes.length) return false;
    const m = ins.mnemonic;
    if (m === Mnemonic.Pop && STACK_POINTER.includes(ins.op0Register)) return false;
    if (STACK_OPS.includes(m)) return true;
    for (const u of info.info(ins).usedRegisters()) {
      const wr =
        u.access === OpAccess.Write || u.access === OpAccess.ReadWrite || u.access === OpAccess.CondWrite;
      if (wr && STACK_POINTER.includes(u.register as number)) return false;
    }
    return true;
  } finally {
    ins.free();
    d.free();
  }
}

/** Split an item's bytes into instructions (a DIV group is several). */
function instructionLengths(bytes: number[], bits: Bits): number[] {
  const d = new Decoder(bits, Uint8Array.from(bytes), DecoderOptions.None);
  const out: number[] = [];
  while (d.canDecode) {
    const ins = d.decode();
    out.push(ins.length);
    ins.free();
  }
  d.free();
  return out;
}

function item(g: Gen): Item {
  const { forms, total } = FORMS_OF.get(g.bits)!;
  for (;;) {
    let k = g.int(total);
    let form = forms[0]![1];
    for (const [w, f] of forms) {
      if (k < w) {
        form = f;
        break;
      }
      k -= w;
    }
    const it = form(g);
    if (it.skip !== undefined) return it;
    let at = 0;
    let ok = true;
    for (const len of instructionLengths(it.bytes, g.bits)) {
      ok &&= acceptable(it.bytes.slice(at, at + len), g.bits);
      at += len;
    }
    if (ok && at === it.bytes.length) return it;
  }
}

/** The program of `seed` in `mode`: 5-20 items, the last an OUT, random registers and pages. */
export function generate(seed: number, mode: Mode = 'long'): Program {
  const g = new Gen(xoroshiro128plus(seed), mode);
  const n = 4 + g.int(16);
  const items = Array.from({ length: n }, () => item(g));
  // XMM registers from the data page first, when the program uses SSE (the shrinker may drop them).
  if (items.some((it) => isSse(it.bytes, g.bits)))
    items.unshift(...Array.from({ length: g.nreg }, (_, k) => xmmInit(mode, k)));
  items.push(out(g));
  const regs = Object.fromEntries(
    GPR_NAMES.map((r, k) => [r, k < g.nreg ? (g.bits === 64 ? g.value() : g.value() & 0xffff_ffffn) : 0n]),
  ) as Program['regs'];
  regs.rsp = BigInt(entryRsp(mode));
  // Status flags and DF at random (not TF or IF).
  regs.rflags = BigInt((g.int(0x1000) & 0xcd5) | 2);
  const p: Program = { seed, mode, items, regs, data: g.bytes(0x1000), stack: g.bytes(0x1000) };
  if (mode === 'paged') p.paging = (['4k', '4m', 'pae'] as const)[seed % 3];
  return p;
}

const SSE_OPS: readonly number[] = [
  Mnemonic.Movaps,
  Mnemonic.Movapd,
  Mnemonic.Movdqa,
  Mnemonic.Movups,
  Mnemonic.Movupd,
  Mnemonic.Movdqu,
  Mnemonic.Movntps,
  Mnemonic.Movntdq,
];

/** Whether an item has an SSE move. */
function isSse(bytes: number[], bits: Bits): boolean {
  const d = new Decoder(bits, Uint8Array.from(bytes), DecoderOptions.None);
  let sse = false;
  while (d.canDecode) {
    const ins = d.decode();
    sse ||= SSE_OPS.includes(ins.mnemonic);
    ins.free();
  }
  d.free();
  return sse;
}

/** The code: the items, each forward branch's displacement over the items it skips, and a HLT. */
export function assemble(items: readonly Item[]): Uint8Array {
  const out: number[] = [];
  items.forEach((it, i) => {
    const start = out.length;
    place(out, items, i);
    // RIP-relative displacements from the end of their instruction.
    for (const r of it.ripRel ?? []) {
      const disp = le(r.target - (LAYOUT.code + start + r.end), 4);
      for (let k = 0; k < 4; k++) out[start + r.at + k] = disp[k]!;
    }
  });
  out.push(0xf4);
  return Uint8Array.from(out);
}

/** Item i's bytes onto `out`: a forward branch with its displacement or target filled in. */
function place(out: number[], items: readonly Item[], i: number): void {
  const it = items[i]!;
  if (it.skip === undefined) {
    out.push(...it.bytes);
    return;
  }
  // Over whole items only (fewer than `skip` if they would not fit a rel8).
  let rel = 0;
  for (const next of items.slice(i + 1, i + 1 + it.skip)) {
    if (rel + next.bytes.length > 127) break;
    rel += next.bytes.length;
  }
  if (it.abs) {
    const { at, len, base } = it.abs;
    const target = LAYOUT.code + out.length + it.bytes.length + rel - base;
    out.push(...it.bytes.slice(0, at), ...le(target, len), ...it.bytes.slice(at + len));
    return;
  }
  const len = it.rel ?? 1;
  out.push(...it.bytes.slice(0, it.bytes.length - len), ...le(rel, len));
}

/** NASM-style disassembly of assembled code at LAYOUT.code, one instruction a line. */
export function disassemble(code: Uint8Array, bits: Bits = 64): string[] {
  const d = new Decoder(bits, code, DecoderOptions.None);
  d.ip = BigInt(LAYOUT.code);
  const f = new Formatter(FormatterSyntax.Nasm);
  const lines: string[] = [];
  while (d.canDecode) {
    const ins = d.decode();
    const at = Number(ins.ip) - LAYOUT.code;
    const hex = Buffer.from(code.subarray(at, at + ins.length)).toString('hex');
    lines.push(`${ins.ip.toString(16)}: ${hex.padEnd(30)} ${f.format(ins)}`);
    ins.free();
  }
  f.free();
  d.free();
  return lines;
}
