/**
 * The interpreter's ALU (src/cpu/x86/alu.ts) against the machine's /dev/kvm: each instruction,
 * at each operand size, runs in a 64-bit guest on random and edge-case operands (and shift
 * counts) with random input flags, and the registers and the whole RFLAGS after it must be what
 * the ALU computes, the architecturally undefined flags included. The model runs the ALU of the
 * host CPU's vendor (host.ts hostVendor: /proc/cpuinfo's vendor_id; alu.ts has AMD's and Intel's):
 * this is where each vendor's choices were measured, and what keeps them true.
 * SEVBOX_ALU_ORACLE_CASES sets the cases per instruction and size (default 120; 4000 were run
 * when the choices were made, on each vendor's machine). Where KVM cannot run a guest, or the
 * host's vendor is neither, the suite skips with one line.
 *
 * What the Intel host (an Intel Xeon) does with the undefined flags (all sizes):
 * - AND OR XOR TEST: AF = 0.
 * - MUL, IMUL (all forms): SF and PF from the low half, ZF = 0, AF = 0.
 * - DIV, IDIV: every flag unchanged.
 * - SHL/SHR/SAR, count > 1: OF as for a count of 1 from the original operand (SHL MSB ^ bit n-2,
 *   SHR MSB, SAR 0); AF = 0 for any nonzero count; 8/16-bit SHL/SHR by the size or more: CF is
 *   the last bit out of a wide shifter (0 past the operand), SAR: the sign.
 * - ROL/ROR/RCL/RCR, count > 1: OF as for 1 from the original operand (ROL MSB ^ bit n-2, ROR MSB
 *   ^ LSB, RCL MSB ^ bit n-2, RCR MSB ^ CF-in); 8/16-bit RCL/RCR by a multiple of size + 1 change
 *   nothing.
 * - SHLD/SHRD: OF as for 1 (SHLD MSB(a) ^ bit n-2 of a, SHRD MSB(a) ^ LSB(b)), AF = 0; 16-bit
 *   counts 17..31 shift through a:b:a (SHLD) / b:a:b (SHRD) as 48 bits, CF the last bit out.
 * - BT BTS BTR BTC: OF SF AF PF (and ZF) unchanged.
 * - BSF/BSR: CF OF SF AF = 0, PF from the index; source 0: ZF = PF = 1, the destination (all 64
 *   bits, for a 32-bit one too) unchanged.
 *
 * What the AMD host (an AMD EPYC, family 25 model 17, Zen 4) does with them (all sizes):
 * - AND OR XOR TEST: AF = 0, as Intel.
 * - MUL, IMUL (all forms): SF ZF AF PF unchanged.
 * - DIV, IDIV: CF and OF unchanged, SF = ZF = PF = 0, AF = 1.
 * - SHL/SHR/SAR, count > 1: OF as for a count of 1 from the result (SHL MSB ^ CF, SHR MSB ^ bit
 *   n-2, so 0, SAR 0); AF = 1 for any nonzero count; 8/16-bit SHL/SHR/SAR by the size or more:
 *   CF as Intel.
 * - ROL/ROR/RCL/RCR, count > 1: OF as for 1 from the result (ROL and RCL MSB ^ CF, ROR and RCR
 *   MSB ^ bit n-2); 8/16-bit RCL/RCR by a nonzero multiple of size + 1: result and CF unchanged,
 *   OF set as for any count (from the unchanged result).
 * - SHLD/SHRD: OF as for 1 from the result (SHLD MSB ^ CF, SHRD MSB ^ bit n-2), AF = 1; 16-bit
 *   counts 17..31 shift through a:b:b (SHLD) / b:b:a (SHRD): the result is b rotated by count -
 *   16, CF = 0, and SHLD's OF = 0 (from 16 on SHLD's CF and OF are SHL's of a: by 16, OF = CF).
 * - BT BTS BTR BTC, BSF/BSR: as Intel.
 *
 * On both machines /dev/kvm is KVM's PVM flavour, which runs the guest through KVM's
 * instruction emulator; the emulator executes these ALU instructions on the host CPU (its
 * `fastop` stubs, with the guest's flags loaded), so the flags compared are the CPU's own.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type Alu, aluFor } from '../../src/cpu/x86/alu.js';
import { Flags, readRflags, writeRflags } from '../../src/cpu/x86/flags.js';
import { hostVendor, oracleHost } from './host.js';
import { type LongModeGuest, longModeGuest, type StepRegs } from './long-mode.js';

const host = oracleHost();
const cpu = hostVendor();

/** Cases per instruction and size. */
const CASES = Number(process.env.SEVBOX_ALU_ORACLE_CASES) || 120;

const M64 = (1n << 64n) - 1n;
const mask = (size: number): bigint => (1n << BigInt(size * 8)) - 1n;
const lo = (v: bigint): number => Number(v & 0xffff_ffffn);
const hi = (v: bigint): number => Number((v >> 32n) & 0xffff_ffffn);
const join = (l: number, h: number): bigint => (BigInt(h >>> 0) << 32n) | BigInt(l >>> 0);

/** Write an operation's result into a 64-bit register as the CPU does (32-bit: zero-extended). */
function merge(reg: bigint, size: number, v: bigint): bigint {
  if (size >= 4) return v & mask(size);
  return (reg & ~mask(size) & M64) | (v & mask(size));
}

/** A deterministic generator (xorshift64*), so a failure replays. */
class Rng {
  #s = 0x9e37_79b9_7f4a_7c15n;
  next64(): bigint {
    let x = this.#s;
    x ^= x >> 12n;
    x ^= (x << 25n) & M64;
    x ^= x >> 27n;
    this.#s = x;
    return (x * 0x2545_f491_4f6c_dd1dn) & M64;
  }
  int(n: number): number {
    return Number(this.next64() % BigInt(n));
  }
  /** Operands: random, small, or edge values around the sign and carry boundaries of each size. */
  operand(): bigint {
    const EDGE = [0n, 1n, 2n, 0xfn, 0x10n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0xffffn, 0x7fff_ffffn];
    const EDGE2 = [0x8000_0000n, 0xffff_ffffn, 0x1_0000_0000n, 0x7fff_ffff_ffff_ffffn, 1n << 63n, M64];
    switch (this.int(6)) {
      case 0:
        return [...EDGE, ...EDGE2][this.int(EDGE.length + EDGE2.length)]!;
      case 1:
        return this.next64() & 0xffn;
      case 2:
        return this.next64() & 0xffff_ffffn;
      case 3:
        // An edge value with random upper bits: edges of the small sizes with garbage above.
        return (this.next64() & ~0xffffn & M64) | EDGE[this.int(EDGE.length)]!;
      default:
        return this.next64();
    }
  }
  /** Input RFLAGS: random status flags and DF (not TF or IF, which would disturb the guest). */
  rflags(): bigint {
    return BigInt((this.int(0x1000) & 0xcd5) | 2);
  }
}

const PREFIX: Record<number, number[]> = { 1: [], 2: [0x66], 4: [], 8: [0x48] };
/** Encoding of `op r/m, reg` style instructions whose 8-bit form is the opcode below the others. */
const wide = (size: number, op8: number, modrm: number): number[] => [
  ...PREFIX[size]!,
  size === 1 ? op8 : op8 + 1,
  modrm,
];
/** Encoding of 0F-escape instructions (no 8-bit form). */
const esc = (size: number, op: number, modrm: number): number[] => [...PREFIX[size]!, 0x0f, op, modrm];

/** One instruction at one size: its bytes, the inputs it wants, and what the ALU says it does. */
interface Case {
  name: string;
  sizes: number[];
  code(size: number): number[];
  /** RCX: a shift or bit count; RDX: the high half of a dividend. */
  inputs?(rng: Rng, size: number, r: StepRegs): void;
  /** The expected registers after the instruction (RFLAGS from f), or undefined for #DE. */
  model(f: Flags, size: number, r: StepRegs): StepRegs | undefined;
}

type Bin = (f: Flags, size: number, aLo: number, aHi: number, bLo: number, bHi: number) => void;
type Un = (f: Flags, size: number, aLo: number, aHi: number) => void;
type Sh = (f: Flags, size: number, aLo: number, aHi: number, count: number) => void;

const ALL = [1, 2, 4, 8];
const NO8 = [2, 4, 8];

function binary(name: string, op8: number, fn: Bin, writes = true): Case {
  return {
    name,
    sizes: ALL,
    code: (s) => wide(s, op8, 0xd8), // op rax, rbx
    model(f, s, r) {
      fn(f, s, lo(r.rax), hi(r.rax), lo(r.rbx), hi(r.rbx));
      return writes ? { ...r, rax: merge(r.rax, s, join(f.resLo, f.resHi)) } : r;
    },
  };
}

function unary(name: string, op8: number, reg: number, fn: Un): Case {
  return {
    name,
    sizes: ALL,
    code: (s) => wide(s, op8, 0xc0 | (reg << 3)),
    model(f, s, r) {
      fn(f, s, lo(r.rax), hi(r.rax));
      return { ...r, rax: merge(r.rax, s, join(f.resLo, f.resHi)) };
    },
  };
}

const countInputs = (rng: Rng, _s: number, r: StepRegs): void => {
  // Counts around 0, 1 and each size (and their masked aliases), or anything in CL.
  const pick = [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65];
  r.rcx = BigInt(rng.int(2) ? pick[rng.int(pick.length)]! : rng.int(256)) | (rng.next64() & ~0xffn & M64);
};

function shift(name: string, reg: number, fn: Sh): Case {
  return {
    name,
    sizes: ALL,
    code: (s) => wide(s, 0xd2, 0xc0 | (reg << 3)), // op rax, cl
    inputs: countInputs,
    model(f, s, r) {
      fn(f, s, lo(r.rax), hi(r.rax), Number(r.rcx & 0xffn));
      return { ...r, rax: merge(r.rax, s, join(f.resLo, f.resHi)) };
    },
  };
}

function double(name: string, op: number, fn: Alu['shld']): Case {
  return {
    name,
    sizes: NO8,
    code: (s) => esc(s, op, 0xd8), // op rax, rbx, cl
    inputs: countInputs,
    model(f, s, r) {
      fn(f, s, lo(r.rax), hi(r.rax), lo(r.rbx), hi(r.rbx), Number(r.rcx & 0xffn));
      return { ...r, rax: merge(r.rax, s, join(f.resLo, f.resHi)) };
    },
  };
}

function bitTest(name: string, op: number, fn: Alu['bt'], writes = true): Case {
  return {
    name,
    sizes: NO8,
    code: (s) => esc(s, op, 0xc8), // op rax, rcx
    inputs: (rng, _s, r) => {
      r.rcx = rng.int(2) ? BigInt(rng.int(64)) : rng.next64();
    },
    model(f, s, r) {
      fn(f, s, lo(r.rax), hi(r.rax), Number(r.rcx & 0xffn));
      return writes ? { ...r, rax: merge(r.rax, s, join(f.resLo, f.resHi)) } : r;
    },
  };
}

function scan(name: string, op: number, fn: Alu['bsf']): Case {
  return {
    name,
    sizes: NO8,
    code: (s) => esc(s, op, 0xc3), // op rax, rbx
    inputs: (rng, s, r) => {
      if (rng.int(4) === 0) r.rbx &= ~mask(s) & M64; // a zero source (garbage above it)
    },
    model(f, s, r) {
      const wrote = fn(f, s, lo(r.rbx), hi(r.rbx));
      return wrote ? { ...r, rax: merge(r.rax, s, join(f.resLo, f.resHi)) } : r;
    },
  };
}

/** MUL/IMUL one-operand: the double-width product in AH:AL, DX:AX, EDX:EAX or RDX:RAX. */
function mulOne(name: string, reg: number, fn: Bin): Case {
  return {
    name,
    sizes: ALL,
    code: (s) => wide(s, 0xf6, 0xc0 | (reg << 3) | 3), // op rbx
    model(f, s, r) {
      fn(f, s, lo(r.rax), hi(r.rax), lo(r.rbx), hi(r.rbx));
      const low = join(f.resLo, f.resHi);
      const high = join(f.hiLo, f.hiHi);
      if (s === 1) return { ...r, rax: merge(r.rax, 2, (high << 8n) | low) };
      return { ...r, rax: merge(r.rax, s, low), rdx: merge(r.rdx, s, high) };
    },
  };
}

/** DIV/IDIV: the dividend AH:AL, DX:AX, EDX:EAX or RDX:RAX by RBX's low part; #DE ends the guest. */
function divide(name: string, reg: number, fn: Alu['div']): Case {
  return {
    name,
    sizes: ALL,
    code: (s) => wide(s, 0xf6, 0xc0 | (reg << 3) | 3),
    inputs: (rng, s, r) => {
      // Mostly dividends whose quotient fits: the high part below the divisor (or a sign extension).
      const k = rng.int(4);
      const d = r.rbx & mask(s);
      const high = k === 0 ? r.rdx : k === 1 || d === 0n ? 0n : k === 2 ? rng.next64() % d : M64;
      if (s === 1) r.rax = (r.rax & ~0xff00n & M64) | ((high & 0xffn) << 8n);
      else r.rdx = (r.rdx & ~mask(s) & M64) | (high & mask(s));
    },
    model(f, s, r) {
      const hiPart = s === 1 ? (r.rax >> 8n) & 0xffn : r.rdx;
      if (!fn(f, s, lo(r.rax), hi(r.rax), lo(hiPart), hi(hiPart), lo(r.rbx), hi(r.rbx))) return undefined;
      const q = join(f.resLo, f.resHi);
      const rem = join(f.hiLo, f.hiHi);
      if (s === 1) return { ...r, rax: merge(r.rax, 2, (rem << 8n) | q) };
      return { ...r, rax: merge(r.rax, s, q), rdx: merge(r.rdx, s, rem) };
    },
  };
}

/** Every instruction form, computed by the ALU `alu`. */
const casesOf = (alu: Alu): Case[] => [
  binary('add', 0x00, alu.add),
  binary('or', 0x08, alu.or),
  binary('adc', 0x10, alu.adc),
  binary('sbb', 0x18, alu.sbb),
  binary('and', 0x20, alu.and),
  binary('sub', 0x28, alu.sub),
  binary('xor', 0x30, alu.xor),
  binary('cmp', 0x38, alu.cmp, false),
  binary('test', 0x84, alu.test, false),
  unary('inc', 0xfe, 0, alu.inc),
  unary('dec', 0xfe, 1, alu.dec),
  unary('not', 0xf6, 2, alu.not),
  unary('neg', 0xf6, 3, alu.neg),
  shift('rol', 0, alu.rol),
  shift('ror', 1, alu.ror),
  shift('rcl', 2, alu.rcl),
  shift('rcr', 3, alu.rcr),
  shift('shl', 4, alu.shl),
  shift('shr', 5, alu.shr),
  shift('sar', 7, alu.sar),
  double('shld', 0xa5, alu.shld),
  double('shrd', 0xad, alu.shrd),
  bitTest('bt', 0xa3, alu.bt, false),
  bitTest('bts', 0xab, alu.bts),
  bitTest('btr', 0xb3, alu.btr),
  bitTest('btc', 0xbb, alu.btc),
  scan('bsf', 0xbc, alu.bsf),
  scan('bsr', 0xbd, alu.bsr),
  mulOne('mul', 4, alu.mul),
  mulOne('imul', 5, alu.imul1),
  {
    name: 'imul r, r/m, imm8',
    sizes: NO8,
    code: (s) => [...PREFIX[s]!, 0x6b, 0xc3, 0x9c], // imul rax, rbx, -100
    model(f, s, r) {
      alu.imul2(f, s, lo(r.rbx), hi(r.rbx), -100, -1);
      return { ...r, rax: merge(r.rax, s, join(f.resLo, f.resHi)) };
    },
  },
  {
    name: 'imul r, r/m',
    sizes: NO8,
    code: (s) => esc(s, 0xaf, 0xc3), // imul rax, rbx
    model(f, s, r) {
      alu.imul2(f, s, lo(r.rax), hi(r.rax), lo(r.rbx), hi(r.rbx));
      return { ...r, rax: merge(r.rax, s, join(f.resLo, f.resHi)) };
    },
  },
  divide('div', 6, alu.div),
  divide('idiv', 7, alu.idiv),
];

const hex = (v: bigint): string => `0x${v.toString(16)}`;
const show = (r: StepRegs | string | undefined): string =>
  r === undefined
    ? '#DE'
    : typeof r === 'string'
      ? r
      : `rax=${hex(r.rax)} rbx=${hex(r.rbx)} rcx=${hex(r.rcx)} rdx=${hex(r.rdx)} rflags=${hex(r.rflags)}`;

describe(`x86 ALU (${cpu.vendor ?? 'no vendor'}'s) against /dev/kvm (results and all of RFLAGS)`, {
  skip: host.skip || cpu.skip,
}, () => {
  let guest: LongModeGuest | undefined;
  const g = (): LongModeGuest => {
    guest ??= longModeGuest(host.kvm!);
    return guest;
  };
  after(() => guest?.close());

  for (const c of casesOf(aluFor(cpu.vendor!))) {
    test(c.name, () => {
      const rng = new Rng();
      for (const size of c.sizes) {
        g().load(c.code(size));
        for (let i = 0; i < CASES; i++) {
          const input: StepRegs = {
            rax: rng.operand(),
            rbx: rng.operand(),
            rcx: rng.operand(),
            rdx: rng.operand(),
            rflags: rng.rflags(),
          };
          c.inputs?.(rng, size, input);
          const f = new Flags();
          writeRflags(f, Number(input.rflags));
          const m = c.model(f, size, { ...input });
          const want = m && { ...m, rflags: BigInt(readRflags(f)) };
          const got = g().step({ ...input });
          const gotDe = got === 'Shutdown'; // #DE with no IDT: a triple fault
          if (gotDe && want === undefined) continue;
          assert.deepEqual(
            got,
            want,
            `${c.name}/${size * 8}: in  ${show(input)}\n  kvm ${show(got)}\n  alu ${show(want)}`,
          );
        }
      }
    });
  }
});
