/**
 * Seeded random 64-bit instruction sequences for the differential test (x86-differential.test.ts):
 * a table of instruction forms encoded here as bytes (MOV, the ALU group, INC/DEC/NEG/NOT, shifts
 * and rotates, SHLD/SHRD, LEA, MOVZX/MOVSX/MOVSXD, XCHG, XADD, CMPXCHG, BSWAP, PUSH/POP, SETcc,
 * CMOVcc, BT*, BSF/BSR, IMUL, MUL/DIV with a divisor made safe, CBW/CWD & co., CLC/STC/CMC, forward
 * Jcc, OUT, and the SSE moves KVM's emulator implements: MOVAPS/MOVAPD/MOVDQA, MOVUPS/MOVUPD/
 * MOVDQU, MOVNTPS/MOVNTDQ, MOVNTI; a program with SSE first loads XMM0-15 from its data page),
 * random initial registers and memory, the assembly of a sequence (Jcc displacements from what follows) and its disassembly with iced-x86.
 *
 * Memory operands only ever address the scratch data page ([disp32], absolute) or the stack page
 * ([rsp + disp8]; the aligned SSE forms only 16-byte aligned [disp32]); nothing but PUSH and POP writes RSP (iced-x86 checks every generated form), so
 * a sequence cannot fault and always reaches its HLT.
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

/** Guest layout (one 2 MiB identity-mapped page over 64 KiB of RAM). */
export const LAYOUT = {
  ram: 0x10000,
  code: 0x1000,
  data: 0x2000,
  stack: 0x3000,
  /** Initial RSP: the middle of the stack page, so 20 pushes or pops stay inside it. */
  rsp: 0x3800,
  pml4: 0x8000,
} as const;

/** One generated instruction (or a short group that belongs together, like a DIV and its setup). */
export interface Item {
  bytes: number[];
  /** Where its immediate is (for the shrinker to simplify). */
  imm?: { at: number; len: number };
  /** A forward Jcc rel8 over the next `skip` items (bytes[1] is filled in by assemble). */
  skip?: number;
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
  items: Item[];
  regs: Record<GprName, bigint> & { rflags: bigint };
  data: Uint8Array;
  stack: Uint8Array;
}

const M64 = (1n << 64n) - 1n;

type Rng = ReturnType<typeof xoroshiro128plus>;

class Gen {
  constructor(readonly rng: Rng) {}
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
}

/** A ModRM r/m operand: a register, a [disp32] in the data page, or [rsp + disp8]. */
type Rm = { reg: number } | { abs: number } | { rspDisp: number } | { lea: LeaMem };
interface LeaMem {
  base: number;
  /** 0-15; 4 = none. */
  index: number;
  scale: number;
  disp: number;
  disp32: boolean;
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
  /** Emit a REX prefix even if no bit is set (8-bit SPL..DIL instead of AH..BH). */
  rex?: boolean;
  /** The operand size does not set REX.W or 66 (MOVZX's source size, say, is in the opcode). */
  noSizePrefix?: boolean;
}

/** The bytes of one ModRM instruction. */
function encode(e: Enc): Item {
  const out: number[] = [];
  if (e.size === 2 && !e.noSizePrefix) out.push(0x66);
  const w = e.size === 8 && !e.noSizePrefix ? 1 : 0;
  let modrm: number;
  const tail: number[] = [];
  let b = 0;
  let x = 0;
  const rm = e.rm;
  if ('reg' in rm) {
    modrm = 0xc0 | ((e.reg & 7) << 3) | (rm.reg & 7);
    b = rm.reg >> 3;
  } else if ('abs' in rm) {
    modrm = ((e.reg & 7) << 3) | 4;
    tail.push(0x25, ...le(rm.abs, 4));
  } else if ('rspDisp' in rm) {
    modrm = 0x40 | ((e.reg & 7) << 3) | 4;
    tail.push(0x24, ...le(rm.rspDisp, 1));
  } else {
    const m = rm.lea;
    modrm = (m.disp32 ? 0x80 : 0x40) | ((e.reg & 7) << 3) | 4;
    b = m.base >> 3;
    x = m.index >> 3;
    tail.push(
      ([1, 2, 4, 8].indexOf(m.scale) << 6) | ((m.index & 7) << 3) | (m.base & 7),
      ...le(m.disp, m.disp32 ? 4 : 1),
    );
  }
  const r = e.reg >> 3;
  if (w || r || x || b || e.rex) out.push(0x40 | (w << 3) | (r << 2) | (x << 1) | b);
  out.push(...e.op, modrm, ...tail);
  const item: Item = { bytes: out };
  if (e.imm?.length) {
    item.imm = { at: out.length, len: e.imm.length };
    out.push(...e.imm);
  }
  return item;
}

const SIZES = [1, 2, 4, 8] as const;
const NO8 = [2, 4, 8] as const;

function immFor(g: Gen, len: number): number[] {
  const v = g.int(3) === 0 ? BigInt(g.int(8)) : g.value();
  return le(v, len);
}

/** A register (any, incl. RSP as a source) or a memory operand of the data or stack page. */
function rm(g: Gen, size: number, memOk = true): Rm {
  const k = g.int(memOk ? 5 : 3);
  if (k < 3) return { reg: g.int(16) };
  if (k === 3) return { abs: LAYOUT.data + g.int(0x1000 - size + 1) };
  return { rspDisp: g.int(256) - 128 };
}

const rex = (g: Gen, size: number): boolean => size === 1 && g.int(2) === 0;

type Form = (g: Gen) => Item;

const alu = (op: number): Form[] => [
  (g) => {
    const s = g.pick(SIZES);
    return encode({
      size: s,
      op: [(op << 3) | (s === 1 ? 0 : 1)],
      reg: g.int(16),
      rm: rm(g, s),
      rex: rex(g, s),
    });
  },
  (g) => {
    const s = g.pick(SIZES);
    return encode({
      size: s,
      op: [(op << 3) | (s === 1 ? 2 : 3)],
      reg: g.int(16),
      rm: rm(g, s),
      rex: rex(g, s),
    });
  },
  (g) => {
    const s = g.pick(SIZES);
    if (s === 1)
      return encode({ size: s, op: [0x80], reg: op, rm: rm(g, s), imm: immFor(g, 1), rex: rex(g, s) });
    if (g.int(2)) return encode({ size: s, op: [0x83], reg: op, rm: rm(g, s), imm: immFor(g, 1) });
    return encode({ size: s, op: [0x81], reg: op, rm: rm(g, s), imm: immFor(g, s === 2 ? 2 : 4) });
  },
  (g) => {
    // AL/AX/EAX/RAX, imm
    const s = g.pick(SIZES);
    const pre = s === 2 ? [0x66] : s === 8 ? [0x48] : [];
    const len = s === 1 ? 1 : s === 2 ? 2 : 4;
    const bytes = [...pre, (op << 3) | (s === 1 ? 4 : 5)];
    const at = bytes.length;
    return { bytes: [...bytes, ...immFor(g, len)], imm: { at, len } };
  },
];

const unaryF6 =
  (ext: number): Form =>
  (g) => {
    const s = g.pick(SIZES);
    return encode({ size: s, op: [s === 1 ? 0xf6 : 0xf7], reg: ext, rm: rm(g, s), rex: rex(g, s) });
  };

const shift = (ext: number): Form[] => [
  (g) => {
    const s = g.pick(SIZES);
    return encode({ size: s, op: [s === 1 ? 0xd0 : 0xd1], reg: ext, rm: rm(g, s), rex: rex(g, s) });
  },
  (g) => {
    const s = g.pick(SIZES);
    const count = g.pick([0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, g.int(256)]);
    return encode({
      size: s,
      op: [s === 1 ? 0xc0 : 0xc1],
      reg: ext,
      rm: rm(g, s),
      imm: [count],
      rex: rex(g, s),
    });
  },
  (g) => {
    const s = g.pick(SIZES);
    return encode({ size: s, op: [s === 1 ? 0xd2 : 0xd3], reg: ext, rm: rm(g, s), rex: rex(g, s) });
  },
];

const cc = (g: Gen): number => g.int(16);

/** DIV/IDIV with a divisor register (not RAX/RDX/RSP) made safe: no #DE. */
function divide(g: Gen, signed: boolean): Item {
  const s = g.pick(SIZES);
  const d = g.pick([1, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  const parts: Item[] = [];
  const r = (reg: number): Rm => ({ reg });
  if (!signed) {
    // The high half 0 (AH for 8 bits), the divisor odd.
    if (s === 1) parts.push(encode({ size: 4, op: [0x0f, 0xb6], reg: 0, rm: r(0), noSizePrefix: true }));
    else parts.push(encode({ size: 4, op: [0x31], reg: 2, rm: r(2) })); // xor edx, edx
    parts.push(encode({ size: s, op: [s === 1 ? 0x80 : 0x83], reg: 1, rm: r(d), imm: [1], rex: true }));
  } else {
    // The dividend sign-extended from the low half, the divisor in 2..127: the quotient fits.
    parts.push(
      s === 1 ? { bytes: [0x66, 0x98] } : { bytes: [...(s === 2 ? [0x66] : s === 8 ? [0x48] : []), 0x99] },
    );
    parts.push(encode({ size: s, op: [s === 1 ? 0x80 : 0x83], reg: 4, rm: r(d), imm: [0x7f], rex: true }));
    parts.push(encode({ size: s, op: [s === 1 ? 0x80 : 0x83], reg: 1, rm: r(d), imm: [2], rex: true }));
  }
  parts.push(encode({ size: s, op: [s === 1 ? 0xf6 : 0xf7], reg: signed ? 7 : 6, rm: r(d), rex: true }));
  return { bytes: parts.flatMap((p) => p.bytes) };
}

function out(g: Gen): Item {
  const s = g.pick([1, 2, 4]);
  const pre = s === 2 ? [0x66] : [];
  if (g.int(2)) return { bytes: [...pre, s === 1 ? 0xe6 : 0xe7, g.int(256)] };
  return { bytes: [...pre, s === 1 ? 0xee : 0xef] };
}

/** An XMM r/m operand: a register, or a [disp32] in the data page (16-byte aligned when `aligned`). */
function xmmRm(g: Gen, aligned: boolean, memOnly = false): Rm {
  if (!memOnly && g.int(2)) return { reg: g.int(16) };
  return { abs: LAYOUT.data + (aligned ? 16 * g.int(256) : g.int(0x1000 - 16 + 1)) };
}

/**
 * An SSE move: the mandatory prefix (before any REX), 0F op, XMM reg and r/m. Only the moves KVM's
 * instruction emulator implements (emulate.c's Sse | Mov entries), since the machine's /dev/kvm may
 * run the guest through it: its PXOR, MOVD/MOVQ, MOVSS/MOVSD, LDMXCSR… are emulation failures.
 */
function sseMove(prefix: number[], op: number, aligned: boolean, memOnly = false): Form {
  return (g) => {
    const it = encode({ size: 4, op: [0x0f, op], reg: g.int(16), rm: xmmRm(g, aligned, memOnly) });
    it.bytes.unshift(...prefix);
    return it;
  };
}

/** MOVUPS xmmK, [data + 16 K]: the program's XMM registers from its random data page. */
export function xmmInit(k: number): Item {
  return encode({ size: 4, op: [0x0f, 0x10], reg: k, rm: { abs: LAYOUT.data + 16 * k } });
}

const FORMS: [weight: number, Form][] = [
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
  ).map(([pre, op, al]): [number, Form] => [1, sseMove([...pre], op, al)]),
  [1, sseMove([], 0x2b, true, true)],
  [1, sseMove([0x66], 0xe7, true, true)],
  [
    1,
    (g) => {
      const s = g.pick([4, 8] as const);
      return encode({
        size: s,
        op: [0x0f, 0xc3],
        reg: g.int(16),
        rm: { abs: LAYOUT.data + g.int(0x1000 - s + 1) },
      });
    },
  ],
  // MOV
  ...[
    (g: Gen) => {
      const s = g.pick(SIZES);
      return encode({ size: s, op: [s === 1 ? 0x88 : 0x89], reg: g.int(16), rm: rm(g, s), rex: rex(g, s) });
    },
    (g: Gen) => {
      const s = g.pick(SIZES);
      return encode({ size: s, op: [s === 1 ? 0x8a : 0x8b], reg: g.int(16), rm: rm(g, s), rex: rex(g, s) });
    },
    (g: Gen) => {
      const s = g.pick(SIZES);
      const len = s === 1 ? 1 : s === 2 ? 2 : 4;
      return encode({
        size: s,
        op: [s === 1 ? 0xc6 : 0xc7],
        reg: 0,
        rm: rm(g, s),
        imm: immFor(g, len),
        rex: rex(g, s),
      });
    },
    (g: Gen): Item => {
      // B0+r / B8+r (imm64 with REX.W)
      const s = g.pick(SIZES);
      const reg = g.int(16);
      const pre = s === 2 ? [0x66] : [];
      const rx = (s === 8 ? 8 : 0) | (reg >> 3);
      const len = s === 8 ? 8 : s;
      const bytes = [...pre, ...(rx || rex(g, s) ? [0x40 | rx] : []), (s === 1 ? 0xb0 : 0xb8) + (reg & 7)];
      const at = bytes.length;
      return { bytes: [...bytes, ...le(g.value(), len)], imm: { at, len } };
    },
  ].map((f): [number, Form] => [3, f]),
  ...[0, 1, 2, 3, 4, 5, 6, 7].flatMap((op) => alu(op).map((f): [number, Form] => [1, f])),
  // TEST
  [
    2,
    (g) => {
      const s = g.pick(SIZES);
      return encode({ size: s, op: [s === 1 ? 0x84 : 0x85], reg: g.int(16), rm: rm(g, s), rex: rex(g, s) });
    },
  ],
  [
    1,
    (g) => {
      const s = g.pick(SIZES);
      return encode({
        size: s,
        op: [s === 1 ? 0xf6 : 0xf7],
        reg: 0,
        rm: rm(g, s),
        imm: immFor(g, s === 1 ? 1 : s === 2 ? 2 : 4),
        rex: rex(g, s),
      });
    },
  ],
  // INC DEC
  ...[0, 1].map((ext): [number, Form] => [
    2,
    (g) => {
      const s = g.pick(SIZES);
      return encode({ size: s, op: [s === 1 ? 0xfe : 0xff], reg: ext, rm: rm(g, s), rex: rex(g, s) });
    },
  ]),
  // NOT NEG MUL IMUL (one operand)
  ...[2, 3, 4, 5].map((ext): [number, Form] => [2, unaryF6(ext)]),
  // Shifts and rotates
  ...[0, 1, 2, 3, 4, 5, 7].flatMap((ext) => shift(ext).map((f): [number, Form] => [1, f])),
  // LEA
  [
    3,
    (g) => {
      const s = g.pick(NO8);
      const disp32 = g.int(2) === 0;
      const lea: LeaMem = {
        base: g.int(16),
        index: g.int(16),
        scale: g.pick([1, 2, 4, 8]),
        disp: disp32 ? g.u32() : g.int(256),
        disp32,
      };
      return encode({ size: s, op: [0x8d], reg: g.int(16), rm: { lea } });
    },
  ],
  // MOVZX MOVSX MOVSXD
  ...[0xb6, 0xb7, 0xbe, 0xbf].map((op): [number, Form] => [
    1,
    (g) => {
      const s = g.pick(NO8);
      const src = op & 1 ? 2 : 1;
      return encode({ size: s, op: [0x0f, op], reg: g.int(16), rm: rm(g, src), rex: rex(g, src) });
    },
  ]),
  [1, (g) => encode({ size: 8, op: [0x63], reg: g.int(16), rm: rm(g, 4) })],
  // XCHG
  [
    2,
    (g) => {
      const s = g.pick(SIZES);
      return encode({ size: s, op: [s === 1 ? 0x86 : 0x87], reg: g.int(16), rm: rm(g, s), rex: rex(g, s) });
    },
  ],
  // PUSH / POP
  [
    2,
    (g): Item => {
      const reg = g.int(16);
      return { bytes: [...(g.int(8) === 0 ? [0x66] : []), ...(reg >> 3 ? [0x41] : []), 0x50 + (reg & 7)] };
    },
  ],
  [
    2,
    (g): Item => {
      const reg = g.int(16);
      return { bytes: [...(g.int(8) === 0 ? [0x66] : []), ...(reg >> 3 ? [0x41] : []), 0x58 + (reg & 7)] };
    },
  ],
  [
    1,
    (g) =>
      g.int(2)
        ? { bytes: [0x6a, g.int(256)], imm: { at: 1, len: 1 } }
        : { bytes: [0x68, ...immFor(g, 4)], imm: { at: 1, len: 4 } },
  ],
  [
    1,
    (g) =>
      encode({
        size: 4,
        op: [0xff],
        reg: 6,
        rm: g.int(2) ? { abs: LAYOUT.data + g.int(0xff9) } : { rspDisp: g.int(256) - 128 },
        noSizePrefix: true,
      }),
  ],
  [
    1,
    (g) =>
      encode({
        size: 4,
        op: [0x8f],
        reg: 0,
        rm: g.int(2) ? { abs: LAYOUT.data + g.int(0xff9) } : { rspDisp: g.int(256) - 128 },
        noSizePrefix: true,
      }),
  ],
  // SETcc CMOVcc
  [2, (g) => encode({ size: 1, op: [0x0f, 0x90 + cc(g)], reg: 0, rm: rm(g, 1), rex: rex(g, 1) })],
  [
    2,
    (g) => {
      const s = g.pick(NO8);
      return encode({ size: s, op: [0x0f, 0x40 + cc(g)], reg: g.int(16), rm: rm(g, s) });
    },
  ],
  // BT BTS BTR BTC: register offsets on registers, immediate offsets anywhere
  [
    2,
    (g) =>
      encode({
        size: g.pick(NO8),
        op: [0x0f, g.pick([0xa3, 0xab, 0xb3, 0xbb])],
        reg: g.int(16),
        rm: { reg: g.int(16) },
      }),
  ],
  [
    2,
    (g) => {
      const s = g.pick(NO8);
      return encode({ size: s, op: [0x0f, 0xba], reg: 4 + g.int(4), rm: rm(g, s), imm: [g.int(256)] });
    },
  ],
  // IMUL r, r/m (and with an immediate)
  [
    2,
    (g) => {
      const s = g.pick(NO8);
      return encode({ size: s, op: [0x0f, 0xaf], reg: g.int(16), rm: rm(g, s) });
    },
  ],
  [
    1,
    (g) => {
      const s = g.pick(NO8);
      if (g.int(2)) return encode({ size: s, op: [0x6b], reg: g.int(16), rm: rm(g, s), imm: immFor(g, 1) });
      return encode({ size: s, op: [0x69], reg: g.int(16), rm: rm(g, s), imm: immFor(g, s === 2 ? 2 : 4) });
    },
  ],
  // SHLD SHRD (imm8, CL), BSF BSR, XADD CMPXCHG, BSWAP
  [
    2,
    (g) => {
      const s = g.pick(NO8);
      const op = g.pick([0xa4, 0xa5, 0xac, 0xad]);
      const imm = op & 1 ? [] : [g.int(256)];
      return encode({ size: s, op: [0x0f, op], reg: g.int(16), rm: rm(g, s), imm });
    },
  ],
  [1, (g) => encode({ size: g.pick(NO8), op: [0x0f, g.pick([0xbc, 0xbd])], reg: g.int(16), rm: rm(g, 8) })],
  [
    2,
    (g) => {
      const s = g.pick(SIZES);
      const op = g.pick([0xc0, 0xb0]) | (s === 1 ? 0 : 1);
      return encode({ size: s, op: [0x0f, op], reg: g.int(16), rm: rm(g, s), rex: rex(g, s) });
    },
  ],
  [
    1,
    (g): Item => {
      const reg = g.int(16);
      const rx = (g.int(2) ? 8 : 0) | (reg >> 3);
      return { bytes: [...(rx ? [0x40 | rx] : []), 0x0f, 0xc8 + (reg & 7)] };
    },
  ],
  // DIV IDIV
  [1, (g) => divide(g, false)],
  [1, (g) => divide(g, true)],
  // CBW/CWDE/CDQE, CWD/CDQ/CQO, CLC STC CMC
  [1, (g) => ({ bytes: [...g.pick([[0x66], [], [0x48]]), g.pick([0x98, 0x99])] })],
  [1, (g) => ({ bytes: [g.pick([0xf8, 0xf9, 0xf5])] })],
  // Forward Jcc over the next 1-3 items
  [3, (g) => ({ bytes: [0x70 + cc(g), 0], skip: 1 + g.int(3) })],
  // OUT in the middle
  [1, out],
];

const TOTAL = FORMS.reduce((a, [w]) => a + w, 0);

const info = new InstructionInfoFactory();

/** One instruction's bytes are a single valid instruction that writes RSP only as PUSH/POP do. */
function acceptable(bytes: number[]): boolean {
  const d = new Decoder(64, Uint8Array.from(bytes), DecoderOptions.None);
  const ins = d.decode();
  try {
    if (ins.isInvalid || ins.length !== bytes.length) return false;
    const m = ins.mnemonic;
    if (m === Mnemonic.Push || m === Mnemonic.Pop)
      return !(m === Mnemonic.Pop && [Register.RSP, Register.SP].includes(ins.op0Register));
    for (const u of info.info(ins).usedRegisters()) {
      const reg = u.register as number;
      const wr =
        u.access === OpAccess.Write || u.access === OpAccess.ReadWrite || u.access === OpAccess.CondWrite;
      if (wr && [Register.RSP, Register.ESP, Register.SP, Register.SPL].includes(reg)) return false;
    }
    return true;
  } finally {
    ins.free();
    d.free();
  }
}

/** Split an item's bytes into instructions (a DIV group is several). */
function instructionLengths(bytes: number[]): number[] {
  const d = new Decoder(64, Uint8Array.from(bytes), DecoderOptions.None);
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
  for (;;) {
    let k = g.int(TOTAL);
    let form = FORMS[0]![1];
    for (const [w, f] of FORMS) {
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
    for (const len of instructionLengths(it.bytes)) {
      ok &&= acceptable(it.bytes.slice(at, at + len));
      at += len;
    }
    if (ok && at === it.bytes.length) return it;
  }
}

/** The program of `seed`: 5-20 items, the last an OUT, random registers and pages. */
export function generate(seed: number): Program {
  const g = new Gen(xoroshiro128plus(seed));
  const n = 4 + g.int(16);
  const items = Array.from({ length: n }, () => item(g));
  // XMM0-15 from the data page first, when the program uses SSE (the shrinker may drop them).
  if (items.some((it) => isSse(it.bytes))) items.unshift(...Array.from({ length: 16 }, (_, k) => xmmInit(k)));
  items.push(out(g));
  const regs = Object.fromEntries(GPR_NAMES.map((r) => [r, g.value()])) as Program['regs'];
  regs.rsp = BigInt(LAYOUT.rsp);
  // Status flags and DF at random (not TF or IF).
  regs.rflags = BigInt((g.int(0x1000) & 0xcd5) | 2);
  return { seed, items, regs, data: g.bytes(0x1000), stack: g.bytes(0x1000) };
}

/** Whether an item is an SSE move (0F 10/11/28/29/2B/6F/7F/E7 after prefixes and REX). */
function isSse(bytes: number[]): boolean {
  let at = 0;
  while ([0x66, 0xf3].includes(bytes[at]!) || (bytes[at]! & 0xf0) === 0x40) at++;
  return bytes[at] === 0x0f && [0x10, 0x11, 0x28, 0x29, 0x2b, 0x6f, 0x7f, 0xe7].includes(bytes[at + 1]!);
}

/** The code: the items, each Jcc's displacement over the items it skips, and a HLT. */
export function assemble(items: readonly Item[]): Uint8Array {
  const out: number[] = [];
  items.forEach((it, i) => {
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
    out.push(it.bytes[0]!, rel);
  });
  out.push(0xf4);
  return Uint8Array.from(out);
}

/** NASM-style disassembly of assembled code at LAYOUT.code, one instruction a line. */
export function disassemble(code: Uint8Array): string[] {
  const d = new Decoder(64, code, DecoderOptions.None);
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
