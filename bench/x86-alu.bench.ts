/**
 * The x86 interpreter's ALU (src/cpu/x86/alu.ts): operations per second of the common ones, each
 * with what usually reads its flags (a Jcc's condition, or nothing: most results are never read),
 * on operands from a table so the JIT cannot fold them. The interpreter's budget is > 150 M guest
 * instructions/s in all, so the common ops (with their flag read) must each run at that rate at
 * least; multi-word multiplies, divides and PUSHF are rarer and get a lower bar.
 *
 * Each row has its own loop (a shared loop calling a per-row body would be one megamorphic call
 * site, measuring the call instead of the op). Rows share the ALU functions, though, whose type
 * feedback ends up as varied as an interpreter's: that is the realistic case.
 */
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import * as alu from '../src/cpu/x86/alu.js';
import { cond, Flags, readRflags, zf } from '../src/cpu/x86/flags.js';
import type { BenchRow } from './harness.js';

/** Operand table as a register file holds them (u32 words); a power of two, wrapped with a mask. */
const N = 1 << 12;
const W = N - 1;
const OPS = (() => {
  const rng = xoroshiro128plus(0xa1);
  const t = new Uint32Array(N + 4);
  for (let i = 0; i < t.length; i++) t[i] = uniformInt(rng, 0, 0xffff_ffff);
  // Some small values, so divisions and flags take every path.
  for (let i = 0; i < t.length; i += 4) t[i] = t[i]! & 0xff;
  return t;
})();

/**
 * Shift counts as code has them: an immediate, or CL holding the same kind of small count (here
 * 1..31: a 64-bit shift's host code then takes one branch, as at one guest call site).
 */
const COUNTS = (() => {
  const rng = xoroshiro128plus(0xc0);
  const c = new Uint8Array(N);
  for (let i = 0; i < N; i++) c[i] = uniformInt(rng, 1, 31);
  return c;
})();

const row = (name: string, value: number, run: (n: number) => number): BenchRow => ({
  name: `x86 alu: ${name}`,
  unit: 'ops/s',
  target: { value },
  setup: () => ({ run }),
});

/** One guest instruction's budget: an ALU op and its flag read must fit well inside it. */
const FAST = 150e6;
/** Multi-word multiply and divide, and materialising RFLAGS: rarer, allowed several budgets. */
const SLOW = 25e6;
/** The ops whose undefined flags differ by vendor: the default CPU's (AMD's). */
const vendorAlu = alu.ALU_AMD;
const f = new Flags();
const t = new Int32Array(OPS.buffer);

export const rows: readonly BenchRow[] = [
  row('add r64 (flags unread)', FAST, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      alu.add(f, 8, t[k]!, t[k + 1]!, t[k + 2]!, t[k + 3]!);
      acc ^= f.resLo;
    }
    return acc;
  }),
  row('cmp r32 + jl', FAST, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      alu.cmp(f, 4, t[k]!, 0, t[k + 1]!, 0);
      if (cond(f, 12)) acc++;
    }
    return acc;
  }),
  row('sub r64 + jbe', FAST, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      alu.sub(f, 8, t[k]!, t[k + 1]!, t[k + 2]!, t[k + 3]!);
      if (cond(f, 6)) acc++;
    }
    return acc;
  }),
  row('test r32 + jz', FAST, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      alu.test(f, 4, t[k]!, 0, t[k + 1]!, 0);
      if (zf(f)) acc++;
    }
    return acc;
  }),
  row('add r8 + jo', FAST, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      alu.add(f, 1, t[k]!, 0, t[k + 1]!, 0);
      if (cond(f, 0)) acc++;
    }
    return acc;
  }),
  row('dec r64 + jnz', FAST, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      alu.dec(f, 8, t[k]!, t[k + 1]!);
      if (cond(f, 5)) acc++;
    }
    return acc;
  }),
  row('add r64 + adc r64', SLOW, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      alu.add(f, 8, t[k]!, t[k + 1]!, t[k + 2]!, t[k + 3]!);
      alu.adc(f, 8, t[k + 1]!, t[k]!, t[k + 3]!, t[k + 2]!);
      acc ^= f.resHi;
    }
    return acc;
  }),
  row('shl r64, imm + jc', FAST, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      vendorAlu.shl(f, 8, t[k]!, t[k + 1]!, COUNTS[k]!);
      if (cond(f, 2)) acc++;
    }
    return acc;
  }),
  row('shl r64, cl + jc (any count: CL mod 64 random)', SLOW, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      vendorAlu.shl(f, 8, t[k]!, t[k + 1]!, t[k + 2]!);
      if (cond(f, 2)) acc++;
    }
    return acc;
  }),
  row('sar r32, imm', FAST, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      vendorAlu.sar(f, 4, t[k]!, 0, COUNTS[k]!);
      acc ^= f.resLo;
    }
    return acc;
  }),
  row('rol r64, imm', SLOW, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      vendorAlu.rol(f, 8, t[k]!, t[k + 1]!, COUNTS[k]!);
      acc ^= f.resLo;
    }
    return acc;
  }),
  row('imul r32, r32', FAST, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      vendorAlu.imul2(f, 4, t[k]!, 0, t[k + 1]!, 0);
      acc ^= f.resLo;
    }
    return acc;
  }),
  row('imul r64, r64 (32-bit signed values)', FAST, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      const a = t[k]! >> 8;
      const b = t[k + 2]! >> 16;
      vendorAlu.imul2(f, 8, a, a >> 31, b, b >> 31);
      acc ^= f.resLo;
    }
    return acc;
  }),
  row('imul r64, r64 (64-bit values)', SLOW, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      vendorAlu.imul2(f, 8, t[k]!, t[k + 1]!, t[k + 2]!, t[k + 3]!);
      acc ^= f.resLo;
    }
    return acc;
  }),
  row('mul r64 (128-bit product)', SLOW, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      vendorAlu.mul(f, 8, t[k]!, t[k + 1]!, t[k + 2]!, t[k + 3]!);
      acc ^= f.hiLo;
    }
    return acc;
  }),
  row('div r32 (edx < divisor)', SLOW, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      const d = t[k + 1]! | 1;
      if (vendorAlu.div(f, 4, t[k]!, 0, t[k + 2]! % d, 0, d, 0)) acc ^= f.resLo;
    }
    return acc;
  }),
  row('div r64 (rdx = 0, 64-bit values)', SLOW, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      if (vendorAlu.div(f, 8, t[k]!, t[k + 1]!, 0, 0, t[k + 2]! | 1, t[k + 3]! >>> 4)) acc ^= f.resLo;
    }
    return acc;
  }),
  row('idiv r64 (cqo, 32-bit divisor)', SLOW, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      const ext = t[k + 1]! >> 31;
      if (vendorAlu.idiv(f, 8, t[k]!, t[k + 1]!, ext, ext, t[k + 2]! | 1, 0)) acc ^= f.resLo;
    }
    return acc;
  }),
  row('bt r64 + jc', FAST, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      alu.bt(f, 8, t[k]!, t[k + 1]!, t[k + 2]!);
      acc += f.bits & 1;
    }
    return acc;
  }),
  row('bsf r64', FAST, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      if (alu.bsf(f, 8, t[k]!, t[k + 1]!)) acc ^= f.resLo;
    }
    return acc;
  }),
  row('sub r32 + pushf (materialise)', SLOW, (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      const k = i & W;
      alu.sub(f, 4, t[k]!, 0, t[k + 1]!, 0);
      acc ^= readRflags(f);
    }
    return acc;
  }),
];
