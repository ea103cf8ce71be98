/**
 * JavaScript source for one instruction of a block being compiled (assemble.ts puts the pieces
 * together, emitter.ts holds the state the locals keep). Each emitter writes what the
 * interpreter's handler for that form does, with the record's register numbers, immediates,
 * sizes and displacements as literals:
 * - register MOV, LEA, MOVZX/MOVSX/MOVSXD; ADD SUB AND OR XOR CMP TEST of 32/64-bit registers,
 *   memory and immediates, INC/DEC, SHL/SHR/SAR by an immediate, written out with the lazy-flags
 *   record alu.ts writes (flags.ts), field for field, so any later reader finds the record it would
 *   have found;
 * - the other ALU forms (8/16-bit, ADC SBB NEG NOT, shifts by CL, rotates) as calls of alu.ts's
 *   functions on operands read and written as operands.ts does;
 * - loads and stores through the TLB's fast path (a hit on an entry the access may use), falling
 *   back to mmu.ts's readLinear/writeLinear, which walk, fault and invalidate as they always do;
 * - PUSH, POP, CALL rel and RET of 8 bytes in 64-bit code (the stack through the same fast paths);
 * - Jcc (its condition from the record of the block's own CMP/SUB/TEST when it has one) and JMP rel.
 * An instruction no emitter takes (undefined) is left to assemble.ts, which calls its record's
 * handler: every block compiles, and what is not written out here runs as interpreted.
 */
import {
  LAZY_ADD,
  LAZY_DEC,
  LAZY_INC,
  LAZY_LOGIC,
  LAZY_RESULT,
  LAZY_SUB,
  RFLAGS_AF,
  RFLAGS_CF,
  RFLAGS_OF,
} from '../flags.js';
import { type Insn, OPERAND_GPR, OPERAND_IMM, OPERAND_MEM, OPERAND_REL, REG_AH, REG_NONE } from '../insn.js';
import { PAGE_SIZE, TLB_SIZE } from '../mmu.js';
import { segmentOf } from '../operands.js';
import { SEG_FS, SEG_GS } from '../state.js';
import type { BlockEmitter, KnownFlags } from './emitter.js';

const TWO32 = 0x1_0000_0000;
/** A base or index register's high half within this (|value| < 2^51) sums exactly (operands.ts). */
const EXACT_HI = 0x8_0000;

/**
 * An operand's value as two JS expressions, bits 31:0 and bits 63:32 ('0' below 8 bytes); `u32`
 * when both are u32s rather than int32 bit patterns.
 */
interface Value {
  readonly lo: string;
  readonly hi: string;
  readonly u32: boolean;
}

/** How an emitter ended: the instruction is written out, or it also moved RIP and ended the block. */
export const EMITTED = 1;
export const EMITTED_BRANCH = 2;
export type Emitted = typeof EMITTED | typeof EMITTED_BRANCH | undefined;

// ---------------------------------------------------------------------------------------------
// Operands

/** A general-purpose register number valid at `size` bytes (AH..BH only as bytes). */
function isGpr(r: number, size: number): boolean {
  return r >= 0 && (r < 16 || (size === 1 && r < REG_AH + 4));
}

/** An operand that is a general-purpose register of the record's size, by kind and number. */
function gprOperand(kind: number, r: number, size: number): boolean {
  return kind === OPERAND_GPR && isGpr(r, size);
}

/** Register r read at `size` bytes (operands.ts readReg). */
function readReg(e: BlockEmitter, r: number, size: number): Value {
  if (size === 8) return { lo: e.word(2 * r), hi: e.word(2 * r + 1), u32: false };
  if (size === 4) return { lo: e.word(2 * r), hi: '0', u32: false };
  let lo: string;
  if (size === 2) lo = `${e.word(2 * r)} & 0xffff`;
  else if (r >= REG_AH) lo = `(${e.word(2 * (r - REG_AH))} >>> 8) & 0xff`;
  else lo = `${e.word(2 * r)} & 0xff`;
  return { lo: e.local(lo), hi: '0', u32: true };
}

/**
 * Write register r at `size` bytes (operands.ts writeReg): 8- and 16-bit writes keep the other
 * bits, a 32-bit write zero-extends.
 */
function writeReg(e: BlockEmitter, r: number, size: number, v: Value): void {
  switch (size) {
    case 8:
      e.setWord(2 * r, v.lo, !v.u32);
      e.setWord(2 * r + 1, v.hi, !v.u32);
      return;
    case 4:
      e.setWord(2 * r, v.lo, !v.u32);
      e.setWord(2 * r + 1, '0', false);
      return;
    case 2:
      e.setWord(2 * r, `((${e.word(2 * r)} & 0xffff0000) | (${v.lo} & 0xffff)) >>> 0`, false);
      return;
    default:
      if (r >= REG_AH) {
        const w = 2 * (r - REG_AH);
        e.setWord(w, `((${e.word(w)} & 0xffff00ff) | ((${v.lo} & 0xff) << 8)) >>> 0`, false);
      } else e.setWord(2 * r, `((${e.word(2 * r)} & 0xffffff00) | (${v.lo} & 0xff)) >>> 0`, false);
  }
}

/** The register-array words of the memory operand's base and index (what operands.ts reads). */
function addressWords(i: Insn): number[] {
  const out: number[] = [];
  for (const reg of [i.mbase, i.mindex]) if (reg !== REG_NONE) out.push(2 * reg, 2 * reg + 1);
  return out;
}

/**
 * The memory operand's linear address into a local (operands.ts linearAddress). 64-bit code with
 * 64-bit addressing is written out: the displacement, base and index summed as numbers while the
 * registers' high halves are small enough for the sum to be exact, else effectiveAddress's exact
 * path; FS and GS add their base. Every other mode calls linearAddress itself.
 */
function linear(e: BlockEmitter): string {
  const i = e.i;
  const la = e.name('la');
  if (e.codeSize !== 64 || i.asize !== 8) {
    // operands.ts reads the registers from the array, and an (E)IP-relative address cpu.nextRip.
    e.commitWords(addressWords(i));
    if (i.ripRel) e.line(`cpu.nextRip = ${e.next};`);
    e.line(`const ${la} = linearAddress(cpu, ${e.record});`);
    return la;
  }
  const disp = i.ripRel ? `(${i.mdisp} + ${e.next})` : i.mdisp !== 0 ? String(i.mdisp) : '';
  const terms: string[] = [];
  const exact: string[] = [];
  for (const [reg, scale] of [
    [i.mbase, 1],
    [i.mindex, i.mscale],
  ] as const) {
    if (reg === REG_NONE) continue;
    const h = e.local(`${e.word(2 * reg + 1)} | 0`, 'eh');
    exact.push(`${h} > ${-EXACT_HI} && ${h} < ${EXACT_HI}`);
    const v = `(${h} * ${TWO32} + ${e.wordU32(2 * reg)})`;
    terms.push(scale === 1 ? v : `${v} * ${scale}`);
  }
  const seg = segmentOf(i);
  const base = seg === SEG_FS || seg === SEG_GS ? ` + s.segBase[${seg}]` : '';
  if (terms.length === 0) {
    e.line(`const ${la} = ${disp || '0'}${base};`);
    return la;
  }
  // The interpreter's order of additions: displacement, base, then index.
  const sum = [disp, ...terms].filter((t) => t !== '').reduce((acc, t) => `(${acc} + ${t})`);
  e.line(`let ${la};`);
  e.line(`if (${exact.join(' && ')}) ${la} = ${sum}${base};`);
  // effectiveAddress's exact path reads the registers from the array.
  const spill = e.spillWords(addressWords(i));
  e.line(`else { ${spill ? `${spill} ` : ''}${la} = effectiveAddress(cpu, ${e.record})${base}; }`);
  return la;
}

/**
 * A load of `size` bytes at linear address `la` (mmu.ts readLinear): from the TLB entry's view
 * when the entry holds the page for this privilege and the access stays in it, else through
 * readLinear (a miss, a split access, a fault), with the state synced first.
 */
function load(e: BlockEmitter, la: string, size: number): Value {
  const o = e.name('o');
  const p = e.name('p');
  const x = e.name('x');
  const lo = e.name('m');
  const hi = size === 8 ? e.name('mh') : '0';
  e.line(
    `const ${o} = ${la} & ${PAGE_SIZE - 1}, ${p} = (${la} - ${o}) / ${PAGE_SIZE}, ${x} = ${p} & ${TLB_SIZE - 1};`,
  );
  e.line(`let ${lo}${size === 8 ? `, ${hi}` : ''};`);
  e.line(`if (${o} <= ${PAGE_SIZE - size} && tag[${x}] === ${p} && tlb.user === (s.cpl === 3)) {`);
  if (size === 8)
    e.line(`  const v = view[${x}]; ${lo} = v.getUint32(${o}, true); ${hi} = v.getUint32(${o} + 4, true);`);
  else if (size === 4) e.line(`  ${lo} = view[${x}].getUint32(${o}, true);`);
  else if (size === 2) e.line(`  ${lo} = view[${x}].getUint16(${o}, true);`);
  else e.line(`  ${lo} = view[${x}].getUint8(${o});`);
  e.line(
    `} else { ${e.sync()} ${lo} = readLinear(cpu, ${la}, ${size});${size === 8 ? ` ${hi} = cpu.hi;` : ''} }`,
  );
  return { lo, hi, u32: true };
}

/**
 * A store of `size` bytes at linear address `la` (mmu.ts writeLinear): into the TLB entry's view
 * when the entry is writable (filled by a write, not a page with decoded code), else through
 * writeLinear, which also drops the blocks of a code page.
 */
function store(e: BlockEmitter, la: string, size: number, v: Value): void {
  const o = e.name('o');
  const p = e.name('p');
  const x = e.name('x');
  e.line(
    `const ${o} = ${la} & ${PAGE_SIZE - 1}, ${p} = (${la} - ${o}) / ${PAGE_SIZE}, ${x} = ${p} & ${TLB_SIZE - 1};`,
  );
  e.line(
    `if (${o} <= ${PAGE_SIZE - size} && tag[${x}] === ${p} && writable[${x}] !== 0 && tlb.user === (s.cpl === 3)) {`,
  );
  if (size === 8)
    e.line(
      `  const w = view[${x}]; w.setUint32(${o}, ${v.lo} >>> 0, true); w.setUint32(${o} + 4, ${v.hi} >>> 0, true);`,
    );
  else if (size === 4) e.line(`  view[${x}].setUint32(${o}, ${v.lo} >>> 0, true);`);
  else if (size === 2) e.line(`  view[${x}].setUint16(${o}, ${v.lo}, true);`);
  else e.line(`  view[${x}].setUint8(${o}, ${v.lo});`);
  e.line(`} else { ${e.sync()} writeLinear(cpu, ${la}, ${size}, ${v.lo}, ${v.hi}); }`);
}

/** Operand 0 or 1 (a register or the memory operand) read at `size` (operands.ts readRm0/readRm1). */
function readRm(e: BlockEmitter, r: number, size: number, mem: () => string): Value {
  return r !== REG_NONE ? readReg(e, r, size) : load(e, mem(), size);
}

/** Write operand 0 (operands.ts writeRm0). */
function writeRm0(e: BlockEmitter, v: Value, mem: () => string): void {
  const i = e.i;
  if (i.r0 !== REG_NONE) writeReg(e, i.r0, i.size, v);
  else store(e, mem(), i.size, v);
}

/** An immediate truncated to the operand size (arith.ts immLo/immHi). */
function immediate(i: Insn, size: number): Value {
  const lo = size === 1 ? i.immLo & 0xff : size === 2 ? i.immLo & 0xffff : i.immLo >>> 0;
  return { lo: String(lo), hi: String(size === 8 ? i.immHi : 0), u32: true };
}

/** The memory operand's linear address, computed once per instruction however often it is used. */
function memoryOnce(e: BlockEmitter): () => string {
  let la: string | undefined;
  return () => {
    la ??= linear(e);
    return la;
  };
}

// ---------------------------------------------------------------------------------------------
// ALU operations written out: alu.ts's add, sub, and, or, xor, inc, dec, shl, shr, sar.

/** The lazy-flags record of an arithmetic op (alu.ts record()). */
function record(e: BlockEmitter, kind: number, size: number, a: Value, b: Value, res: Value): void {
  e.setFlag('op', String(kind));
  e.setFlag('size', String(size));
  e.setFlag('aLo', a.lo);
  e.setFlag('aHi', a.hi);
  e.setFlag('bLo', b.lo);
  e.setFlag('bHi', b.hi);
  e.setFlag('resLo', res.lo);
  e.setFlag('resHi', res.hi);
}

/** a < b, unsigned, for values as halves (flags.ts ltu). */
function ltu(aLo: string, aHi: string, bLo: string, bHi: string): string {
  return `(${aHi} >>> 0 < ${bHi} >>> 0 || (${aHi} === ${bHi} && ${aLo} >>> 0 < ${bLo} >>> 0))`;
}

/** ADD or SUB (CMP) of 4 or 8 bytes, as alu.ts computes them: the result, and the record. */
function addSub(
  e: BlockEmitter,
  kind: typeof LAZY_ADD | typeof LAZY_SUB,
  size: number,
  a: Value,
  b: Value,
): Value {
  const al = e.local(`${a.lo} | 0`, 'a');
  const bl = e.local(`${b.lo} | 0`, 'b');
  let lo: string;
  let hi = '0';
  let ah = '0';
  let bh = '0';
  if (size === 8) {
    ah = e.local(`${a.hi} | 0`, 'a');
    bh = e.local(`${b.hi} | 0`, 'b');
    if (kind === LAZY_ADD) {
      // The carry between the halves from the low halves as u32s (an exact double sum).
      const t = e.local(`(${al} >>> 0) + (${bl} >>> 0)`, 't');
      lo = e.local(`${t} | 0`, 's');
      hi = e.local(`(${ah} + ${bh} + (${t} > 0xffffffff ? 1 : 0)) | 0`, 's');
    } else {
      lo = e.local(`(${al} - ${bl}) | 0`, 's');
      hi = e.local(`(${ah} - ${bh} - (${al} >>> 0 < ${bl} >>> 0 ? 1 : 0)) | 0`, 's');
    }
  } else lo = e.local(`(${al} ${kind === LAZY_ADD ? '+' : '-'} ${bl}) | 0`, 's');
  const res = { lo, hi, u32: false };
  record(e, kind, size, { lo: al, hi: ah, u32: false }, { lo: bl, hi: bh, u32: false }, res);
  e.flags = { kind, size, aLo: al, aHi: ah, bLo: bl, bHi: bh, lo, hi };
  return res;
}

/** AND, OR, XOR (TEST) of 4 or 8 bytes: CF = OF = 0, the result recorded (alu.ts logic()). */
function logic(e: BlockEmitter, op: '&' | '|' | '^', size: number, a: Value, b: Value): Value {
  const lo = e.local(`${a.lo} ${op} ${b.lo}`, 'l');
  const hi = size === 8 ? e.local(`${a.hi} ${op} ${b.hi}`, 'l') : '0';
  e.setFlag('op', String(LAZY_LOGIC));
  e.setFlag('size', String(size));
  e.setFlag('resLo', lo);
  e.setFlag('resHi', hi);
  e.flags = { kind: LAZY_LOGIC, size, aLo: '', aHi: '', bLo: '', bHi: '', lo, hi };
  return { lo, hi, u32: false };
}

/** CF as flags.ts cf() computes it from the record the block's last written-out op left. */
function knownCarry(k: KnownFlags): string {
  if (k.kind === LAZY_SUB) return ltu(k.aLo, k.aHi, k.bLo, k.bHi);
  if (k.kind === LAZY_ADD) return ltu(k.lo, k.hi, k.aLo, k.aHi);
  return 'false';
}

/** A call of an alu.ts function, which reads and writes cpu.f: the record is stored first. */
function aluCall(e: BlockEmitter, call: string): Value {
  e.commitFlags();
  e.line(`${call};`);
  e.flags = undefined;
  return { lo: e.local('f.resLo', 'q'), hi: e.local('f.resHi', 'q'), u32: false };
}

/** The two-operand group by mnemonic: alu.ts's function, whether the result is stored, the inline form. */
const BINARY: ReadonlyMap<string, { fn: string; store: boolean; inline?: 'add' | 'sub' | '&' | '|' | '^' }> =
  new Map([
    ['Add', { fn: 'add', store: true, inline: 'add' }],
    ['Adc', { fn: 'adc', store: true }],
    ['Sub', { fn: 'sub', store: true, inline: 'sub' }],
    ['Sbb', { fn: 'sbb', store: true }],
    ['Cmp', { fn: 'cmp', store: false, inline: 'sub' }],
    ['And', { fn: 'and', store: true, inline: '&' }],
    ['Or', { fn: 'or', store: true, inline: '|' }],
    ['Xor', { fn: 'xor', store: true, inline: '^' }],
    ['Test', { fn: 'test', store: false, inline: '&' }],
  ]);

/**
 * ADD ADC SUB SBB AND OR XOR CMP TEST (arith.ts binary()): operand 0 a register or memory, operand
 * 1 a register, memory or an immediate; operands read in the handler's order, the result written
 * back to operand 0 (the memory operand's address computed once: nothing in between changes it).
 */
function binary(e: BlockEmitter): Emitted {
  const i = e.i;
  const op = BINARY.get(i.name)!;
  const size = i.size;
  const mem = memoryOnce(e);
  let a: Value;
  let b: Value;
  if (i.kind1 === OPERAND_IMM) {
    if (i.kind0 !== OPERAND_MEM && !gprOperand(i.kind0, i.r0, size)) return undefined;
    a = readRm(e, i.r0, size, mem);
    b = immediate(i, size);
  } else if (i.kind0 === OPERAND_GPR && i.kind1 === OPERAND_MEM) {
    if (!isGpr(i.r0, size)) return undefined;
    b = load(e, mem(), size);
    a = readReg(e, i.r0, size);
  } else if (i.kind1 === OPERAND_GPR && (i.kind0 === OPERAND_MEM || i.kind0 === OPERAND_GPR)) {
    if (!isGpr(i.r1, size) || (i.kind0 === OPERAND_GPR && !isGpr(i.r0, size))) return undefined;
    b = readReg(e, i.r1, size);
    a = readRm(e, i.r0, size, mem);
  } else return undefined;
  let res: Value;
  if (op.inline && (size === 4 || size === 8)) {
    res =
      op.inline === 'add'
        ? addSub(e, LAZY_ADD, size, a, b)
        : op.inline === 'sub'
          ? addSub(e, LAZY_SUB, size, a, b)
          : logic(e, op.inline, size, a, b);
  } else res = aluCall(e, `alu.${op.fn}(f, ${size}, ${a.lo}, ${a.hi}, ${b.lo}, ${b.hi})`);
  if (op.store) writeRm0(e, res, mem);
  return EMITTED;
}

/**
 * INC, DEC (CF kept: read from the record before it is replaced), NEG, NOT (arith.ts unary(),
 * notExec). INC/DEC of 4 and 8 bytes are written out.
 */
function unary(e: BlockEmitter): Emitted {
  const i = e.i;
  const size = i.size;
  if (i.kind0 !== OPERAND_MEM && !gprOperand(i.kind0, i.r0, size)) return undefined;
  const mem = memoryOnce(e);
  const a = readRm(e, i.r0, size, mem);
  if (i.name === 'Not') {
    // No flags.
    const mask = size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
    writeRm0(
      e,
      { lo: e.local(`~${a.lo} & ${mask}`), hi: size === 8 ? e.local(`~${a.hi} >>> 0`) : '0', u32: false },
      mem,
    );
    return EMITTED;
  }
  if ((i.name === 'Inc' || i.name === 'Dec') && (size === 4 || size === 8)) {
    const kind = i.name === 'Inc' ? LAZY_INC : LAZY_DEC;
    if (e.flags) e.setFlag('carry', `${knownCarry(e.flags)} ? 1 : 0`);
    else {
      e.commitFlags();
      e.setFlag('carry', 'cf(f) ? 1 : 0');
    }
    const al = e.local(`${a.lo} | 0`, 'a');
    let lo: string;
    let hi = '0';
    let ah = '0';
    if (size === 8) {
      ah = e.local(`${a.hi} | 0`, 'a');
      if (kind === LAZY_INC) {
        lo = e.local(`(${al} + 1) | 0`, 'n');
        hi = e.local(`(${ah} + (${lo} === 0 ? 1 : 0)) | 0`, 'n');
      } else {
        lo = e.local(`(${al} - 1) | 0`, 'n');
        hi = e.local(`(${ah} - (${al} === 0 ? 1 : 0)) | 0`, 'n');
      }
    } else lo = e.local(`(${al} ${kind === LAZY_INC ? '+' : '-'} 1) | 0`, 'n');
    const res = { lo, hi, u32: false };
    record(e, kind, size, { lo: al, hi: ah, u32: false }, { lo: '1', hi: '0', u32: true }, res);
    e.flags = undefined;
    writeRm0(e, res, mem);
    return EMITTED;
  }
  const fn = i.name === 'Inc' ? 'inc' : i.name === 'Dec' ? 'dec' : 'neg';
  writeRm0(e, aluCall(e, `alu.${fn}(f, ${size}, ${a.lo}, ${a.hi})`), mem);
  return EMITTED;
}

/** Shift and rotate functions of alu.ts by mnemonic. */
const SHIFTS: ReadonlyMap<string, string> = new Map([
  ['Shl', 'shl'],
  ['Sal', 'shl'],
  ['Shr', 'shr'],
  ['Sar', 'sar'],
  ['Rol', 'rol'],
  ['Ror', 'ror'],
  ['Rcl', 'rcl'],
  ['Rcr', 'rcr'],
]);

/**
 * Shifts and rotates by 1, CL or an immediate (arith.ts shift()). SHL/SHR/SAR of a 4- or 8-byte
 * register by a nonzero masked immediate are written out (alu.ts's bodies for that count); a
 * masked count of 0, which changes no flag, and everything else call alu.ts.
 */
function shift(e: BlockEmitter): Emitted {
  const i = e.i;
  const size = i.size;
  if (i.kind0 !== OPERAND_MEM && !gprOperand(i.kind0, i.r0, size)) return undefined;
  const byCl = i.kind1 === OPERAND_GPR;
  if (!byCl && i.kind1 !== OPERAND_IMM) return undefined;
  const mem = memoryOnce(e);
  const fn = SHIFTS.get(i.name)!;
  const count = i.immLo & 0xff;
  const n = size === 8 ? count & 63 : count & 31;
  const a = readRm(e, i.r0, size, mem);
  if (!byCl && n !== 0 && (size === 4 || size === 8) && (fn === 'shl' || fn === 'shr' || fn === 'sar')) {
    writeRm0(e, shiftWrittenOut(e, fn, size, a, n), mem);
    e.flags = undefined;
    return EMITTED;
  }
  const c = byCl ? `${e.word(2)} & 0xff` : String(count);
  writeRm0(e, aluCall(e, `alu.${fn}(f, ${size}, ${a.lo}, ${a.hi}, ${c})`), mem);
  return EMITTED;
}

/**
 * alu.ts shl/shr/sar for a known nonzero masked count n, 4 or 8 bytes: result, CF, OF and AF (as
 * the CPU's vendor sets them), record.
 */
function shiftWrittenOut(e: BlockEmitter, fn: string, size: number, a: Value, n: number): Value {
  let lo: string;
  let hi = '0';
  let c: string;
  let o: string;
  if (size === 8) {
    if (fn === 'shl') {
      if (n < 32) {
        hi = e.local(`(${a.hi} << ${n}) | (${a.lo} >>> ${32 - n})`, 'h');
        lo = e.local(`${a.lo} << ${n}`, 'h');
        c = `((${a.hi} >>> ${32 - n}) & 1)`;
      } else {
        hi = e.local(`${a.lo} << ${n - 32}`, 'h');
        lo = '0';
        c = n === 32 ? `(${a.hi} & 1)` : `((${a.lo} >>> ${64 - n}) & 1)`;
      }
      o = `(((${a.hi} >>> 31) ^ (${a.hi} >>> 30)) & 1)`;
    } else if (fn === 'shr') {
      if (n < 32) {
        lo = e.local(`(${a.lo} >>> ${n}) | (${a.hi} << ${32 - n})`, 'h');
        hi = e.local(`${a.hi} >>> ${n}`, 'h');
        c = `((${a.lo} >>> ${n - 1}) & 1)`;
      } else {
        lo = e.local(`(${a.hi} >>> ${n - 32}) | 0`, 'h');
        c = n === 32 ? `(${a.lo} >>> 31)` : `((${a.hi} >>> ${n - 33}) & 1)`;
      }
      o = `(${a.hi} >>> 31)`;
    } else {
      if (n < 32) {
        lo = e.local(`(${a.lo} >>> ${n}) | (${a.hi} << ${32 - n})`, 'h');
        hi = e.local(`${a.hi} >> ${n}`, 'h');
        c = `((${a.lo} >>> ${n - 1}) & 1)`;
      } else {
        lo = e.local(`${a.hi} >> ${n - 32}`, 'h');
        hi = e.local(`${a.hi} >> 31`, 'h');
        c = n === 32 ? `(${a.lo} >>> 31)` : `((${a.hi} >>> ${n - 33}) & 1)`;
      }
      o = '0';
    }
  } else {
    // 4 bytes: the operand as an int32 (alu.ts masks with lowMask(4) = -1).
    const x = e.local(`${a.lo} & -1`, 'w');
    if (fn === 'shl') {
      lo = e.local(`(${x} << ${n}) & -1`, 'h');
      c = `((${x} >>> ${32 - n}) & 1)`;
      o = `(((${x} >>> 31) ^ (${x} >>> 30)) & 1)`;
    } else if (fn === 'shr') {
      lo = e.local(`${x} >>> ${n}`, 'h');
      c = `((${x} >>> ${n - 1}) & 1)`;
      o = `((${x} >>> 31) & 1)`;
    } else {
      lo = e.local(`(${x} >> ${n}) & -1`, 'h');
      c = `((${x} >> ${n - 1}) & 1)`;
      o = '0';
    }
  }
  // Above: Intel's OF, from the operand, and AF = 0. AMD's OF comes from the result (SHL: MSB ^
  // CF; SHR: MSB ^ bit n-2, the operand's MSB for a count of 1 as Intel's, else 0; SAR: 0), AF = 1.
  let af = '';
  if (e.vendor === 'amd') {
    af = ` | ${RFLAGS_AF}`;
    if (fn === 'shl') o = `((${size === 8 ? hi : lo} >>> 31) ^ ${c})`;
    else if (fn === 'shr' && n !== 1) o = '0';
  }
  const keep = ~(RFLAGS_CF | RFLAGS_AF | RFLAGS_OF);
  e.setFlag('bits', `(${e.flag('bits')} & ${keep}) | ${c}${o === '0' ? '' : ` | (${o} << 11)`}${af}`);
  e.setFlag('op', String(LAZY_RESULT));
  e.setFlag('size', String(size));
  e.setFlag('resLo', lo);
  e.setFlag('resHi', hi);
  return { lo, hi, u32: false };
}

// ---------------------------------------------------------------------------------------------
// Data movement

/** MOV between registers, memory and immediates (data.ts mov), general-purpose registers only. */
function mov(e: BlockEmitter): Emitted {
  const i = e.i;
  const size = i.size;
  const mem = memoryOnce(e);
  let v: Value;
  if (i.kind1 === OPERAND_IMM) {
    if (i.kind0 !== OPERAND_MEM && !gprOperand(i.kind0, i.r0, size)) return undefined;
    // movRm0Imm: the immediate as the record holds it (writes truncate it).
    v = { lo: String(i.immLo), hi: String(size === 8 ? i.immHi : 0), u32: true };
  } else if (i.kind1 === OPERAND_GPR && (i.kind0 === OPERAND_GPR || i.kind0 === OPERAND_MEM)) {
    if (!isGpr(i.r1, size) || (i.kind0 === OPERAND_GPR && !isGpr(i.r0, size))) return undefined;
    v = readReg(e, i.r1, size);
  } else if (i.kind0 === OPERAND_GPR && i.kind1 === OPERAND_MEM) {
    if (!isGpr(i.r0, size)) return undefined;
    v = load(e, mem(), size);
  } else return undefined;
  writeRm0(e, v, mem);
  return EMITTED;
}

/** LEA r, m with 64-bit addressing (data.ts lea, operands.ts effectiveAddress64): exact halves. */
function lea(e: BlockEmitter): Emitted {
  const i = e.i;
  if (!gprOperand(i.kind0, i.r0, i.size) || i.asize !== 8 || (i.size !== 4 && i.size !== 8)) return undefined;
  let lo: string;
  let hi: string;
  if (i.ripRel) {
    const d = e.local(`${i.mdisp} + ${e.next}`, 'd');
    lo = e.local(`${d} >>> 0`, 'e');
    hi = e.local(`Math.floor((${d} - ${lo}) / ${TWO32}) >>> 0`, 'e');
  } else {
    const dlo = i.mdisp >>> 0;
    lo = String(dlo);
    hi = String(Math.floor((i.mdisp - dlo) / TWO32) >>> 0);
  }
  for (const [reg, scale] of [
    [i.mbase, 1],
    [i.mindex, i.mscale],
  ] as const) {
    if (reg === REG_NONE) continue;
    const sh = scale === 8 ? 3 : scale === 4 ? 2 : scale === 2 ? 1 : 0;
    const xl = e.wordU32(2 * reg);
    const xh = e.wordU32(2 * reg + 1);
    const sl = sh ? e.local(`(${xl} << ${sh}) >>> 0`, 'e') : xl;
    const shh = sh ? e.local(`((${xh} << ${sh}) | (${xl} >>> ${32 - sh})) >>> 0`, 'e') : xh;
    const t = e.local(`${lo} + ${sl}`, 't');
    lo = e.local(`${t} >>> 0`, 'e');
    hi = e.local(`(${hi} + ${shh} + (${t} >= ${TWO32} ? 1 : 0)) >>> 0`, 'e');
  }
  writeReg(e, i.r0, i.size, { lo, hi: i.size === 8 ? hi : '0', u32: true });
  return EMITTED;
}

/**
 * MOVZX/MOVSX/MOVSXD (data.ts extendBuilder): the source's size is in imm2; sign extension as the
 * handler computes it.
 */
function extend(e: BlockEmitter): Emitted {
  const i = e.i;
  const n = i.imm2;
  if (!gprOperand(i.kind0, i.r0, i.size) || (n !== 1 && n !== 2 && n !== 4 && n !== 8)) return undefined;
  if (i.kind1 !== OPERAND_MEM && !gprOperand(i.kind1, i.r1, n)) return undefined;
  const src = readRm(e, i.r1, n, memoryOnce(e));
  let lo = src.lo;
  let hi = '0';
  if (i.name !== 'Movzx') {
    const bits = 8 * n;
    const x = e.local(n < 4 ? `(${src.lo} << ${32 - bits}) >> ${32 - bits}` : src.lo, 'x');
    hi = n === 8 ? src.hi : e.local(`${x} & 0x80000000 ? 0xffffffff : 0`, 'x');
    lo = e.local(`${x} >>> 0`, 'x');
  }
  writeReg(e, i.r0, i.size, {
    lo: i.size === 2 ? e.local(`${lo} & 0xffff`) : lo,
    hi: i.size === 8 ? hi : '0',
    u32: src.u32 || i.name !== 'Movzx',
  });
  return EMITTED;
}

// ---------------------------------------------------------------------------------------------
// The stack in 64-bit code (segments.ts push/pop, 8-byte operands: RSP as a sign-extended number)

/** RSP as segments.ts getRsp reads it. */
function rsp(e: BlockEmitter): string {
  return e.local(`(${e.word(9)} | 0) * ${TWO32} + ${e.wordU32(8)}`, 'sp');
}

/** Store RSP as segments.ts setRsp does for an 8-byte-wide stack (hi32: state.ts). */
function setRsp(e: BlockEmitter, sp: string): void {
  e.setWord(8, `${sp} >>> 0`, false);
  e.setWord(9, `Math.floor((${sp} - (${sp} >>> 0)) / ${TWO32}) >>> 0`, false);
}

/** Push 8 bytes (segments.ts push): the store first, RSP after it (a fault leaves RSP). */
function push8(e: BlockEmitter, v: Value): void {
  const sp = e.local(`${rsp(e)} - 8`, 'sp');
  store(e, sp, 8, v);
  setRsp(e, sp);
}

/** Pop 8 bytes (segments.ts pop): the load, then RSP. */
function pop8(e: BlockEmitter): Value {
  const sp = rsp(e);
  const v = load(e, sp, 8);
  setRsp(e, e.local(`${sp} + 8`, 'sp'));
  return v;
}

/** PUSH r64, PUSH m64, PUSH imm in 64-bit code (data.ts pushB); other sizes call the handler. */
function push(e: BlockEmitter): Emitted {
  const i = e.i;
  if (e.codeSize !== 64 || i.size !== 8) return undefined;
  let v: Value;
  if (i.kind0 === OPERAND_IMM) v = { lo: String(i.immLo), hi: String(i.immHi), u32: true };
  else if (gprOperand(i.kind0, i.r0, 8)) v = readReg(e, i.r0, 8);
  else if (i.kind0 === OPERAND_MEM) v = load(e, linear(e), 8);
  else return undefined;
  push8(e, v);
  return EMITTED;
}

/** POP r64 in 64-bit code (data.ts popB): RSP moves first, so POP RSP keeps the popped value. */
function pop(e: BlockEmitter): Emitted {
  const i = e.i;
  if (e.codeSize !== 64 || i.size !== 8 || !gprOperand(i.kind0, i.r0, 8)) return undefined;
  writeReg(e, i.r0, 8, pop8(e));
  return EMITTED;
}

/** CALL rel in 64-bit code (branch.ts callRel): the return address pushed, then the branch. */
function call(e: BlockEmitter): Emitted {
  const i = e.i;
  if (!e.last || e.codeSize !== 64 || i.size !== 8 || i.kind0 !== OPERAND_REL) return undefined;
  const next = e.local(e.next, 'ra');
  push8(e, {
    lo: e.local(`${next} >>> 0`, 'ra'),
    hi: e.local(`Math.floor((${next} - (${next} >>> 0)) / ${TWO32}) >>> 0`, 'ra'),
    u32: true,
  });
  e.target = e.local(branchTarget(e), 'j');
  return EMITTED_BRANCH;
}

/** RET (no immediate) in 64-bit code (branch.ts ret): the popped halves as a sign-extended address. */
function ret(e: BlockEmitter): Emitted {
  const i = e.i;
  if (!e.last || e.codeSize !== 64 || i.size !== 8 || i.immLo !== 0) return undefined;
  const v = pop8(e);
  e.target = e.local(`(${v.hi} | 0) * ${TWO32} + ${v.lo}`, 'j');
  return EMITTED_BRANCH;
}

// ---------------------------------------------------------------------------------------------
// Branches

/** Bit n-1 of an n-byte value given as halves (flags.ts msb). */
function msb(size: number, lo: string, hi: string): string {
  return size === 8 ? `(${hi} >>> 31)` : `((${lo} >>> ${size * 8 - 1}) & 1)`;
}

/**
 * Condition cc from the record the block's last flag-setting instruction left, as flags.ts cond()
 * computes it for that kind (condSub, condLogic, ZF and SF from the result); undefined when that
 * kind needs more of the record (cond() is called then).
 */
function knownCondition(k: KnownFlags, cc: number): string | undefined {
  const t = cc >>> 1;
  let r: string | undefined;
  if (k.kind === LAZY_SUB && (t === 1 || t === 3 || t >= 6)) {
    if (t === 1) r = ltu(k.aLo, k.aHi, k.bLo, k.bHi);
    else if (t === 3) r = `!${ltu(k.bLo, k.bHi, k.aLo, k.aHi)}`;
    else {
      // Signed: the high halves as int32s (for size < 8 the sign moved up to bit 31).
      const sh = 32 - (k.size << 3);
      const lt =
        k.size === 8
          ? `(${k.aHi} < ${k.bHi} || (${k.aHi} === ${k.bHi} && ${k.aLo} >>> 0 < ${k.bLo} >>> 0))`
          : `((${k.aLo} << ${sh}) < (${k.bLo} << ${sh}))`;
      r = t === 6 ? lt : `(${lt} || (${k.aLo} === ${k.bLo} && ${k.aHi} === ${k.bHi}))`;
    }
  } else if (k.kind === LAZY_LOGIC) {
    const zero = `((${k.lo} | ${k.hi}) === 0)`;
    const sign = `(${msb(k.size, k.lo, k.hi)} !== 0)`;
    if (t === 0 || t === 1) r = 'false';
    else if (t === 2 || t === 3) r = zero;
    else if (t === 4 || t === 6) r = sign;
    else if (t === 7) r = `(${zero} || ${sign})`;
  } else if (t === 2) r = `((${k.lo} | ${k.hi}) === 0)`;
  else if (t === 4) r = `(${msb(k.size, k.lo, k.hi)} !== 0)`;
  if (r === undefined) return undefined;
  return (cc & 1) === 0 ? r : `!${r}`;
}

/** RIP + rel truncated to the branch's operand size (branch.ts target). */
function branchTarget(e: BlockEmitter): string {
  const i = e.i;
  const t = `${e.next} + ${i.rel}`;
  return i.size === 2 ? `((${t}) & 0xffff)` : i.size === 4 ? `((${t}) >>> 0)` : `(${t})`;
}

/** Jcc rel and JMP rel ending the block: the next RIP in e.target (assemble.ts goes there). */
function branch(e: BlockEmitter, conditional: boolean): Emitted {
  if (!e.last) return undefined;
  if (conditional) {
    let c = e.flags && knownCondition(e.flags, e.i.cc);
    if (c === undefined) {
      e.commitFlags();
      c = `cond(f, ${e.i.cc})`;
    }
    e.target = e.name('j');
    e.line(`const ${e.target} = ${c} ? ${branchTarget(e)} : ${e.next};`);
  } else e.target = e.local(branchTarget(e), 'j');
  return EMITTED_BRANCH;
}

const JCC = new Set([
  'Jo',
  'Jno',
  'Jb',
  'Jae',
  'Je',
  'Jne',
  'Jbe',
  'Ja',
  'Js',
  'Jns',
  'Jp',
  'Jnp',
  'Jl',
  'Jge',
  'Jle',
  'Jg',
]);

/**
 * Write out the current instruction, or return undefined for assemble.ts to call its handler. The
 * emitters take only records whose handler is the one that form's builder chooses (assemble.ts
 * leaves #UD records to their handler), and check operands as the builders do.
 */
export function emitInstruction(e: BlockEmitter): Emitted {
  const name = e.i.name;
  if (BINARY.has(name)) return binary(e);
  if (SHIFTS.has(name)) return shift(e);
  switch (name) {
    case 'Mov':
      return mov(e);
    case 'Lea':
      return lea(e);
    case 'Movzx':
    case 'Movsx':
    case 'Movsxd':
      return extend(e);
    case 'Inc':
    case 'Dec':
    case 'Neg':
    case 'Not':
      return unary(e);
    case 'Nop':
      return EMITTED;
    case 'Push':
      return push(e);
    case 'Pop':
      return pop(e);
    case 'Call':
      return call(e);
    case 'Ret':
      return ret(e);
    case 'Jmp':
      // JMP rel only (not indirect, not far).
      return e.i.kind0 === OPERAND_REL ? branch(e, false) : undefined;
    default:
      return JCC.has(name) && e.i.kind0 === OPERAND_REL ? branch(e, true) : undefined;
  }
}
