/**
 * JavaScript source for one instruction of a block being compiled (assemble.ts puts the pieces
 * together). Each emitter writes what the interpreter's handler for that form does, with the
 * record's register numbers, immediates, sizes and displacements as literals:
 * - register MOV, LEA, MOVZX/MOVSX/MOVSXD; ADD SUB AND OR XOR CMP TEST of 32/64-bit registers and
 *   immediates, INC/DEC, SHL/SHR/SAR by an immediate, written out with the lazy-flags record alu.ts
 *   writes (flags.ts), field for field, so any later reader finds the record it would have found;
 * - the other ALU forms (8/16-bit, memory operands, ADC SBB NEG NOT, shifts by CL, rotates) as
 *   calls of alu.ts's functions on operands read and written as operands.ts does;
 * - loads and stores through the TLB's fast path (a hit on an entry the access may use), falling
 *   back to mmu.ts's readLinear/writeLinear, which walk, fault and invalidate as they always do;
 * - Jcc (its condition from the record of the block's own CMP/SUB/TEST when it has one) and JMP rel.
 * An instruction no emitter takes (undefined) is left to assemble.ts, which calls its record's
 * handler: every block compiles, and what is not written out here runs as interpreted.
 *
 * State stays where the interpreter keeps it (registers in the register array, flags in cpu.f),
 * written as each instruction completes; only RIP, cpu.nextRip and the count of completed
 * instructions are left in locals, and `sync` writes them before anything that can fault, exit or
 * look at them (a slow path, a handler), so a fault leaves exactly the interpreter's state.
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
import { PAGE_SIZE } from '../mmu.js';
import { SEG_DS, SEG_FS, SEG_GS, SEG_SS } from '../state.js';

const TWO32 = 0x1_0000_0000;
/** A base or index register's high half within this (|value| < 2^51) sums exactly (operands.ts). */
const EXACT_HI = 0x8_0000;
/** Entries of the TLB (mmu.ts): a linear page's slot is its number modulo this. */
const TLB_SLOTS = 256;

/** What the last flag-setting instruction written out in this block left in the record. */
interface KnownFlags {
  readonly kind: typeof LAZY_ADD | typeof LAZY_SUB | typeof LAZY_LOGIC;
  readonly size: number;
  /** Locals holding f.aLo, f.aHi, f.bLo, f.bHi, f.resLo, f.resHi as stored (int32 bit patterns). */
  readonly aLo: string;
  readonly aHi: string;
  readonly bLo: string;
  readonly bHi: string;
  readonly lo: string;
  readonly hi: string;
}

/** An operand's value as two JS expressions: bits 31:0 and bits 63:32 ('0' below 8 bytes). */
interface Value {
  readonly lo: string;
  readonly hi: string;
}

/** How an emitter ended: the instruction is written out, or it also moved RIP and ended the block. */
export const EMITTED = 1;
export const EMITTED_BRANCH = 2;
export type Emitted = typeof EMITTED | typeof EMITTED_BRANCH | undefined;

/**
 * The source of one block under construction: its lines, the instruction being emitted and where
 * it is, and what the emitters know about the flags. assemble.ts moves it from one instruction to
 * the next.
 */
export class BlockEmitter {
  readonly lines: string[] = [];
  /** The block's code size: 64-bit code computes addresses here; other modes call operands.ts. */
  readonly codeSize: 16 | 32 | 64;
  /** The instruction being emitted, its index, and JS expressions of its RIP and the next one. */
  i!: Insn;
  k = 0;
  rip = '';
  next = '';
  /** Whether it is the block's last instruction (a branch may then end the block itself). */
  last = false;
  flags: KnownFlags | undefined = undefined;
  #names = 0;

  constructor(codeSize: 16 | 32 | 64) {
    this.codeSize = codeSize;
  }

  /** A fresh local name. */
  name(prefix: string): string {
    return `${prefix}${this.#names++}`;
  }

  line(text: string): void {
    this.lines.push(text);
  }

  /**
   * The state the interpreter would have when this instruction starts: RIP at it, cpu.nextRip
   * after it, and the count of completed instructions where cpu.ts's catch finds it.
   */
  sync(): string {
    return `s.rip = ${this.rip}; cpu.nextRip = ${this.next}; cpu.compiledDone = ${this.k};`;
  }

  /** The record of this instruction, for calls of interpreter functions that take one. */
  get record(): string {
    return `I${this.k}`;
  }
}

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

/** Register r read at `size` bytes (operands.ts readReg), into locals. */
function readReg(e: BlockEmitter, r: number, size: number): Value {
  const lo = e.name('r');
  if (size === 8) {
    const hi = e.name('rh');
    e.line(`const ${lo} = r[${2 * r}], ${hi} = r[${2 * r + 1}];`);
    return { lo, hi };
  }
  if (size === 4) e.line(`const ${lo} = r[${2 * r}];`);
  else if (size === 2) e.line(`const ${lo} = r[${2 * r}] & 0xffff;`);
  else if (r >= REG_AH) e.line(`const ${lo} = (r[${2 * (r - REG_AH)}] >>> 8) & 0xff;`);
  else e.line(`const ${lo} = r[${2 * r}] & 0xff;`);
  return { lo, hi: '0' };
}

/**
 * Write register r at `size` bytes (operands.ts writeReg): 8- and 16-bit writes keep the other
 * bits, a 32-bit write zero-extends.
 */
function writeReg(e: BlockEmitter, r: number, size: number, v: Value): void {
  switch (size) {
    case 8:
      e.line(`r[${2 * r}] = ${v.lo}; r[${2 * r + 1}] = ${v.hi};`);
      return;
    case 4:
      e.line(`r[${2 * r}] = ${v.lo}; r[${2 * r + 1}] = 0;`);
      return;
    case 2:
      e.line(`r[${2 * r}] = ((r[${2 * r}] & 0xffff0000) | (${v.lo} & 0xffff)) >>> 0;`);
      return;
    default:
      if (r >= REG_AH) {
        const k = 2 * (r - REG_AH);
        e.line(`r[${k}] = ((r[${k}] & 0xffff00ff) | ((${v.lo} & 0xff) << 8)) >>> 0;`);
      } else e.line(`r[${2 * r}] = ((r[${2 * r}] & 0xffffff00) | (${v.lo} & 0xff)) >>> 0;`);
  }
}

/** The default segment of the memory operand (operands.ts segmentOf). */
function segmentOf(i: Insn): number {
  if (i.mseg >= 0) return i.mseg;
  return i.mbase === 4 || i.mbase === 5 ? SEG_SS : SEG_DS;
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
    // A RIP-relative (EIP-relative) address reads cpu.nextRip.
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
    const h = e.name('eh');
    e.line(`const ${h} = r[${2 * reg + 1}] | 0;`);
    exact.push(`${h} > ${-EXACT_HI} && ${h} < ${EXACT_HI}`);
    const v = `(${h} * ${TWO32} + r[${2 * reg}])`;
    terms.push(scale === 1 ? v : `${v} * ${scale}`);
  }
  let ea: string;
  if (terms.length === 0) ea = disp || '0';
  else {
    // The interpreter's order of additions: displacement, base, then index.
    const sum = [disp, ...terms].filter((t) => t !== '').reduce((acc, t) => `(${acc} + ${t})`);
    ea = `${exact.join(' && ')} ? ${sum} : effectiveAddress(cpu, ${e.record})`;
  }
  const seg = segmentOf(i);
  if (seg === SEG_FS || seg === SEG_GS) e.line(`const ${la} = (${ea}) + s.segBase[${seg}];`);
  else e.line(`const ${la} = ${ea};`);
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
    `const ${o} = ${la} & ${PAGE_SIZE - 1}, ${p} = (${la} - ${o}) / ${PAGE_SIZE}, ${x} = ${p} & ${TLB_SLOTS - 1};`,
  );
  e.line(`let ${lo}${size === 8 ? `, ${hi}` : ''};`);
  e.line(`if (${o} <= ${PAGE_SIZE - size} && tag[${x}] === ${p} && tlb.user === (s.cpl === 3)) {`);
  const get =
    size === 1
      ? `view[${x}].getUint8(${o})`
      : `view[${x}].${size === 2 ? 'getUint16' : 'getUint32'}(${o}, true)`;
  if (size === 8)
    e.line(`  const v = view[${x}]; ${lo} = v.getUint32(${o}, true); ${hi} = v.getUint32(${o} + 4, true);`);
  else e.line(`  ${lo} = ${get};`);
  e.line(
    `} else { ${e.sync()} ${lo} = readLinear(cpu, ${la}, ${size});${size === 8 ? ` ${hi} = cpu.hi;` : ''} }`,
  );
  return { lo, hi };
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
    `const ${o} = ${la} & ${PAGE_SIZE - 1}, ${p} = (${la} - ${o}) / ${PAGE_SIZE}, ${x} = ${p} & ${TLB_SLOTS - 1};`,
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

/** An immediate truncated to the operand size (arith.ts immLo/immHi). */
function immediate(i: Insn, size: number): Value {
  const lo = size === 1 ? i.immLo & 0xff : size === 2 ? i.immLo & 0xffff : i.immLo >>> 0;
  return { lo: String(lo), hi: String(size === 8 ? i.immHi : 0) };
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
// ALU operations written out: alu.ts's add, sub, and, or, xor for 4 and 8 bytes.

/** Store the lazy-flags record (alu.ts record()). */
function record(e: BlockEmitter, kind: number, size: number, a: Value, b: Value, res: Value): void {
  e.line(
    `f.op = ${kind}; f.size = ${size}; f.aLo = ${a.lo}; f.aHi = ${a.hi}; f.bLo = ${b.lo}; f.bHi = ${b.hi}; f.resLo = ${res.lo}; f.resHi = ${res.hi};`,
  );
}

/**
 * ADD or SUB (CMP) of 4 or 8 bytes, as alu.ts computes them: the result and the record, whose
 * fields the Jcc emitter may read from the locals.
 */
function addSub(
  e: BlockEmitter,
  kind: typeof LAZY_ADD | typeof LAZY_SUB,
  size: number,
  a: Value,
  b: Value,
): Value {
  const al = e.name('a');
  const bl = e.name('b');
  const lo = e.name('s');
  if (size === 8) {
    const ah = e.name('ah');
    const bh = e.name('bh');
    const hi = e.name('sh');
    e.line(`const ${al} = ${a.lo} | 0, ${ah} = ${a.hi} | 0, ${bl} = ${b.lo} | 0, ${bh} = ${b.hi} | 0;`);
    if (kind === LAZY_ADD) {
      // The carry between the halves from the low halves as u32s (an exact double sum).
      const t = e.name('t');
      e.line(`const ${t} = (${al} >>> 0) + (${bl} >>> 0);`);
      e.line(`const ${lo} = ${t} | 0, ${hi} = (${ah} + ${bh} + (${t} > 0xffffffff ? 1 : 0)) | 0;`);
    } else {
      e.line(
        `const ${lo} = (${al} - ${bl}) | 0, ${hi} = (${ah} - ${bh} - (${al} >>> 0 < ${bl} >>> 0 ? 1 : 0)) | 0;`,
      );
    }
    const A = { lo: al, hi: ah };
    const B = { lo: bl, hi: bh };
    const res = { lo, hi };
    record(e, kind, 8, A, B, res);
    e.flags = { kind, size, aLo: al, aHi: ah, bLo: bl, bHi: bh, lo, hi };
    return res;
  }
  e.line(`const ${al} = ${a.lo} | 0, ${bl} = ${b.lo} | 0;`);
  e.line(`const ${lo} = (${al} ${kind === LAZY_ADD ? '+' : '-'} ${bl}) | 0;`);
  const res = { lo, hi: '0' };
  record(e, kind, 4, { lo: al, hi: '0' }, { lo: bl, hi: '0' }, res);
  e.flags = { kind, size, aLo: al, aHi: '0', bLo: bl, bHi: '0', lo, hi: '0' };
  return res;
}

/** AND, OR, XOR (TEST) of 4 or 8 bytes: CF = OF = 0, the result recorded (alu.ts logic()). */
function logic(e: BlockEmitter, op: '&' | '|' | '^', size: number, a: Value, b: Value): Value {
  const lo = e.name('l');
  e.line(`const ${lo} = ${a.lo} ${op} ${b.lo};`);
  let hi = '0';
  if (size === 8) {
    hi = e.name('lh');
    e.line(`const ${hi} = ${a.hi} ${op} ${b.hi};`);
  }
  e.line(`f.op = ${LAZY_LOGIC}; f.size = ${size}; f.resLo = ${lo}; f.resHi = ${hi};`);
  e.flags = { kind: LAZY_LOGIC, size, aLo: '', aHi: '', bLo: '', bHi: '', lo, hi };
  return { lo, hi };
}

/** The two-operand group by mnemonic: alu.ts's function, whether the result is stored, and the inline form. */
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
    // A 4-byte operation ignores bits 63:32 (regReg32 passes 0 for them).
    if (size === 4) a = { lo: a.lo, hi: '0' };
    res =
      op.inline === 'add'
        ? addSub(e, LAZY_ADD, size, a, b)
        : op.inline === 'sub'
          ? addSub(e, LAZY_SUB, size, a, b)
          : logic(e, op.inline, size, a, b);
  } else {
    e.line(`alu.${op.fn}(f, ${size}, ${a.lo}, ${a.hi}, ${b.lo}, ${b.hi});`);
    e.flags = undefined;
    res = { lo: 'f.resLo', hi: 'f.resHi' };
  }
  if (op.store) writeRm0(e, res, mem);
  return EMITTED;
}

/** Write operand 0 (operands.ts writeRm0). */
function writeRm0(e: BlockEmitter, v: Value, mem: () => string): void {
  const i = e.i;
  if (i.r0 !== REG_NONE) writeReg(e, i.r0, i.size, v);
  else store(e, mem(), i.size, v);
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
    const mask = size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
    writeRm0(e, { lo: `(~${a.lo} & ${mask})`, hi: size === 8 ? `(~${a.hi} >>> 0)` : '0' }, mem);
    return EMITTED;
  }
  if ((i.name === 'Inc' || i.name === 'Dec') && (size === 4 || size === 8)) {
    const kind = i.name === 'Inc' ? LAZY_INC : LAZY_DEC;
    const lo = e.name('n');
    const al = e.name('a');
    e.line(`f.carry = cf(f) ? 1 : 0;`);
    if (size === 8) {
      const ah = e.name('ah');
      const hi = e.name('nh');
      e.line(`const ${al} = ${a.lo} | 0, ${ah} = ${a.hi} | 0;`);
      if (kind === LAZY_INC)
        e.line(`const ${lo} = (${al} + 1) | 0, ${hi} = (${ah} + (${lo} === 0 ? 1 : 0)) | 0;`);
      else e.line(`const ${lo} = (${al} - 1) | 0, ${hi} = (${ah} - (${al} === 0 ? 1 : 0)) | 0;`);
      record(e, kind, 8, { lo: al, hi: ah }, { lo: '1', hi: '0' }, { lo, hi });
      writeRm0(e, { lo, hi }, mem);
    } else {
      e.line(`const ${al} = ${a.lo} | 0;`);
      e.line(`const ${lo} = (${al} ${kind === LAZY_INC ? '+' : '-'} 1) | 0;`);
      record(e, kind, 4, { lo: al, hi: '0' }, { lo: '1', hi: '0' }, { lo, hi: '0' });
      writeRm0(e, { lo, hi: '0' }, mem);
    }
    e.flags = undefined;
    return EMITTED;
  }
  const fn = i.name === 'Inc' ? 'inc' : i.name === 'Dec' ? 'dec' : 'neg';
  e.line(`alu.${fn}(f, ${size}, ${a.lo}, ${a.hi});`);
  e.flags = undefined;
  writeRm0(e, { lo: 'f.resLo', hi: 'f.resHi' }, mem);
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
  if (
    !byCl &&
    n !== 0 &&
    (size === 4 || size === 8) &&
    i.r0 !== REG_NONE &&
    (fn === 'shl' || fn === 'shr' || fn === 'sar')
  ) {
    const a = readReg(e, i.r0, size);
    const res = shiftWrittenOut(e, fn, size, a, n);
    writeReg(e, i.r0, size, res);
    e.flags = undefined;
    return EMITTED;
  }
  const c = byCl ? '(r[2] & 0xff)' : String(count);
  const a = readRm(e, i.r0, size, mem);
  e.line(`alu.${fn}(f, ${size}, ${a.lo}, ${a.hi}, ${c});`);
  e.flags = undefined;
  writeRm0(e, { lo: 'f.resLo', hi: 'f.resHi' }, mem);
  return EMITTED;
}

/** alu.ts shl/shr/sar for a known nonzero masked count n, 4 or 8 bytes: result, CF, OF, record. */
function shiftWrittenOut(e: BlockEmitter, fn: string, size: number, a: Value, n: number): Value {
  const lo = e.name('h');
  const hi = size === 8 ? e.name('hh') : '0';
  let c: string;
  let o: string;
  if (size === 8) {
    if (fn === 'shl') {
      if (n < 32) {
        e.line(`const ${hi} = (${a.hi} << ${n}) | (${a.lo} >>> ${32 - n}), ${lo} = ${a.lo} << ${n};`);
        c = `((${a.hi} >>> ${32 - n}) & 1)`;
      } else {
        e.line(`const ${hi} = ${a.lo} << ${n - 32}, ${lo} = 0;`);
        c = n === 32 ? `(${a.hi} & 1)` : `((${a.lo} >>> ${64 - n}) & 1)`;
      }
      o = `(((${a.hi} >>> 31) ^ (${a.hi} >>> 30)) & 1)`;
    } else if (fn === 'shr') {
      if (n < 32) {
        e.line(`const ${lo} = (${a.lo} >>> ${n}) | (${a.hi} << ${32 - n}), ${hi} = ${a.hi} >>> ${n};`);
        c = `((${a.lo} >>> ${n - 1}) & 1)`;
      } else {
        e.line(`const ${lo} = (${a.hi} >>> ${n - 32}) | 0, ${hi} = 0;`);
        c = n === 32 ? `(${a.lo} >>> 31)` : `((${a.hi} >>> ${n - 33}) & 1)`;
      }
      o = `(${a.hi} >>> 31)`;
    } else {
      if (n < 32) {
        e.line(`const ${lo} = (${a.lo} >>> ${n}) | (${a.hi} << ${32 - n}), ${hi} = ${a.hi} >> ${n};`);
        c = `((${a.lo} >>> ${n - 1}) & 1)`;
      } else {
        e.line(`const ${lo} = ${a.hi} >> ${n - 32}, ${hi} = ${a.hi} >> 31;`);
        c = n === 32 ? `(${a.lo} >>> 31)` : `((${a.hi} >>> ${n - 33}) & 1)`;
      }
      o = '0';
    }
  } else {
    // 4 bytes: the operand as an int32 (alu.ts masks with lowMask(4) = -1).
    const x = e.name('w');
    e.line(`const ${x} = ${a.lo} & -1;`);
    if (fn === 'shl') {
      e.line(`const ${lo} = (${x} << ${n}) & -1;`);
      c = `((${x} >>> ${32 - n}) & 1)`;
      o = `(((${x} >>> 31) ^ (${x} >>> 30)) & 1)`;
    } else if (fn === 'shr') {
      e.line(`const ${lo} = ${x} >>> ${n};`);
      c = `((${x} >>> ${n - 1}) & 1)`;
      o = `((${x} >>> 31) & 1)`;
    } else {
      e.line(`const ${lo} = (${x} >> ${n}) & -1;`);
      c = `((${x} >> ${n - 1}) & 1)`;
      o = '0';
    }
  }
  const keep = ~(RFLAGS_CF | RFLAGS_AF | RFLAGS_OF);
  e.line(`f.bits = (f.bits & ${keep}) | ${c}${o === '0' ? '' : ` | (${o} << 11)`};`);
  e.line(`f.op = ${LAZY_RESULT}; f.size = ${size}; f.resLo = ${lo}; f.resHi = ${hi};`);
  return { lo, hi };
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
    v = { lo: String(i.immLo), hi: String(size === 8 ? i.immHi : 0) };
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
  const lo = e.name('e');
  const hi = e.name('eh');
  if (i.ripRel) {
    const d = e.name('d');
    e.line(`const ${d} = ${i.mdisp} + ${e.next};`);
    e.line(`let ${lo} = ${d} >>> 0, ${hi} = Math.floor((${d} - ${lo}) / ${TWO32}) >>> 0;`);
  } else {
    const d = i.mdisp;
    const dlo = d >>> 0;
    e.line(`let ${lo} = ${dlo}, ${hi} = ${Math.floor((d - dlo) / TWO32) >>> 0};`);
  }
  if (i.mbase !== REG_NONE) {
    const t = e.name('t');
    const b = 2 * i.mbase;
    e.line(
      `const ${t} = ${lo} + r[${b}]; ${lo} = ${t} >>> 0; ${hi} = (${hi} + r[${b + 1}] + (${t} >= ${TWO32} ? 1 : 0)) >>> 0;`,
    );
  }
  if (i.mindex !== REG_NONE) {
    const sh = i.mscale === 8 ? 3 : i.mscale === 4 ? 2 : i.mscale === 2 ? 1 : 0;
    const x = 2 * i.mindex;
    const sl = e.name('xl');
    const shh = e.name('xh');
    const t = e.name('t');
    e.line(`const ${sl} = (r[${x}] << ${sh}) >>> 0;`);
    e.line(
      `const ${shh} = ${sh ? `((r[${x + 1}] << ${sh}) | (r[${x}] >>> ${32 - sh})) >>> 0` : `r[${x + 1}]`};`,
    );
    e.line(
      `const ${t} = ${lo} + ${sl}; ${lo} = ${t} >>> 0; ${hi} = (${hi} + ${shh} + (${t} >= ${TWO32} ? 1 : 0)) >>> 0;`,
    );
  }
  writeReg(e, i.r0, i.size, { lo, hi: i.size === 8 ? hi : '0' });
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
    const x = e.name('sx');
    const bits = 8 * n;
    e.line(`const ${x} = ${n < 4 ? `(${src.lo} << ${32 - bits}) >> ${32 - bits}` : src.lo};`);
    hi = n === 8 ? src.hi : `(${x} & 0x80000000 ? 0xffffffff : 0)`;
    lo = `(${x} >>> 0)`;
  }
  writeReg(e, i.r0, i.size, { lo: i.size === 2 ? `(${lo} & 0xffff)` : lo, hi: i.size === 8 ? hi : '0' });
  return EMITTED;
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
    const ltu = (aLo: string, aHi: string, bLo: string, bHi: string): string =>
      k.size === 8
        ? `(${aHi} >>> 0 < ${bHi} >>> 0 || (${aHi} === ${bHi} && ${aLo} >>> 0 < ${bLo} >>> 0))`
        : `(${aLo} >>> 0 < ${bLo} >>> 0)`;
    if (t === 1) r = ltu(k.aLo, k.aHi, k.bLo, k.bHi);
    else if (t === 3) r = `!${ltu(k.bLo, k.bHi, k.aLo, k.aHi)}`;
    else {
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

/** Jcc rel and JMP rel ending the block: RIP and cpu.nextRip set, the block's length returned. */
function branch(e: BlockEmitter, conditional: boolean): Emitted {
  if (!e.last) return undefined;
  const t = e.name('j');
  if (conditional) {
    const c = (e.flags && knownCondition(e.flags, e.i.cc)) ?? `cond(f, ${e.i.cc})`;
    e.line(`const ${t} = ${c} ? ${branchTarget(e)} : ${e.next};`);
  } else e.line(`const ${t} = ${branchTarget(e)};`);
  e.line(`cpu.nextRip = ${t}; s.rip = ${t};`);
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
    case 'Jmp':
      // JMP rel only (not indirect, not far).
      return e.i.kind0 === OPERAND_REL ? branch(e, false) : undefined;
    default:
      return JCC.has(name) && e.i.kind0 === OPERAND_REL ? branch(e, true) : undefined;
  }
}
