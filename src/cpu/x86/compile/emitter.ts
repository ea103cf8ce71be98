/**
 * The source of one block's function under construction, and what its locals hold of the CPU
 * state. emit.ts writes each instruction through it; assemble.ts moves it along the block.
 *
 * Generated code keeps registers and the lazy-flags record in locals as it computes them, and
 * stores them where the interpreter keeps them (the register array, cpu.f) only where something
 * could look: before a call that may throw (a slow memory path: `spill`, on that path only),
 * before a call that reads or writes them (a handler, a helper reading cpu.f: `commit`), and at
 * the block's end. Every field gets the value its last write in program order gave it, so at each
 * of those points the state is exactly the one the interpreter has there; in between nothing can
 * tell the difference.
 *
 * Register words are the array's u32 halves (word 2r: bits 31:0 of register r, 2r + 1: bits
 * 63:32). A local may hold a word as a u32 or as an int32 bit pattern (what `| 0` and the ALU
 * produce); the array stores either as the same u32, and readers that need the u32 (address
 * arithmetic) ask for it.
 */
import type { X86Vendor } from '../alu.js';
import type { Insn } from '../insn.js';

/** What the last flag-setting instruction written out in this block left in the record. */
export interface KnownFlags {
  /** Its lazy kind (flags.ts LAZY_ADD, LAZY_SUB or LAZY_LOGIC). */
  readonly kind: number;
  readonly size: number;
  /** Locals holding f.aLo, f.aHi, f.bLo, f.bHi, f.resLo, f.resHi as recorded (int32 bit patterns). */
  readonly aLo: string;
  readonly aHi: string;
  readonly bLo: string;
  readonly bHi: string;
  readonly lo: string;
  readonly hi: string;
}

/** A register word held in a local: its name (or a literal) and whether it is an int32 pattern. */
interface Word {
  readonly expr: string;
  readonly signed: boolean;
}

/** The fields of the lazy-flags record (flags.ts Flags) generated code writes. */
export type FlagField = 'op' | 'size' | 'resLo' | 'resHi' | 'aLo' | 'aHi' | 'bLo' | 'bHi' | 'carry' | 'bits';

const SIMPLE = /^(-?\d+|[A-Za-z_$][\w$]*)$/;

export class BlockEmitter {
  readonly lines: string[] = [];
  /** The block's code size: 64-bit code computes addresses itself; other modes call operands.ts. */
  readonly codeSize: 16 | 32 | 64;
  /** Whose undefined flags the ALU ops written out compute (the CPU's vendor, alu.ts). */
  readonly vendor: X86Vendor;
  /** The instruction being emitted, its index, and JS expressions of its RIP and the next one. */
  i!: Insn;
  k = 0;
  rip = '';
  next = '';
  /** Whether it is the block's last instruction (a branch may then end the block itself). */
  last = false;
  /** The record of the last flag-setting instruction written out, while it is the current one. */
  flags: KnownFlags | undefined = undefined;
  #names = 0;
  /** Register words the locals hold, by word index. */
  readonly #known = new Map<number, Word>();
  /** Words written in locals only, not yet stored to the register array. */
  readonly #dirty = new Set<number>();
  /** Flag-record fields written in locals only: field → expression. */
  readonly #pending = new Map<FlagField, string>();
  /** Words and flag fields the block writes (what a loop carries from one iteration to the next). */
  readonly written = new Set<number>();
  readonly writtenFlags = new Set<FlagField>();
  /** Loop-carried variables, when the block runs itself again (assemble.ts): word or field → name. */
  readonly #carried = new Map<number, string>();
  readonly #carriedFlags = new Map<FlagField, string>();
  /** The JS expression of instructions completed before this run of the block body ('' or 'done + '). */
  doneBase = '';
  /** The local holding RIP after a branch that ends the block (emit.ts branch). */
  target = '';

  constructor(codeSize: 16 | 32 | 64, vendor: X86Vendor) {
    this.codeSize = codeSize;
    this.vendor = vendor;
  }

  /** A fresh local name. */
  name(prefix: string): string {
    return `${prefix}${this.#names++}`;
  }

  line(text: string): void {
    this.lines.push(text);
  }

  /** `expr` as a local (or the literal or name it already is), for using it more than once. */
  local(expr: string, prefix = 'v'): string {
    if (SIMPLE.test(expr)) return expr;
    const n = this.name(prefix);
    this.line(`const ${n} = ${expr};`);
    return n;
  }

  // ---- registers

  /** Register word `w` (any representation: for bitwise use), loaded into a local once. */
  word(w: number): string {
    return this.#word(w).expr;
  }

  /** Register word `w` as a u32 (for arithmetic on addresses). */
  wordU32(w: number): string {
    const x = this.#word(w);
    return x.signed ? `(${x.expr} >>> 0)` : x.expr;
  }

  #word(w: number): Word {
    let x = this.#known.get(w);
    if (!x) {
      const n = this.name('r');
      this.line(`const ${n} = r[${w}];`);
      x = { expr: n, signed: false };
      this.#known.set(w, x);
    }
    return x;
  }

  /** Write register word `w`: `signed` when `expr` is an int32 bit pattern rather than a u32. */
  setWord(w: number, expr: string, signed: boolean): void {
    this.#known.set(w, { expr: this.local(expr, 'r'), signed });
    this.#dirty.add(w);
    this.written.add(w);
  }

  /** The register words the locals hold (every word the block read or wrote so far). */
  knownWords(): number[] {
    return [...this.#known.keys()];
  }

  /** Statements storing the given words if they are only in locals (for a path that reads them). */
  spillWords(words: readonly number[]): string {
    return words
      .filter((w) => this.#dirty.has(w))
      .map((w) => `r[${w}] = ${this.#known.get(w)!.expr};`)
      .join(' ');
  }

  /** Store the given words if they are only in locals (before a call that reads them). */
  commitWords(words: readonly number[]): void {
    for (const w of words) if (this.#dirty.delete(w)) this.line(`r[${w}] = ${this.#known.get(w)!.expr};`);
  }

  // ---- flags

  /** Write a field of the lazy-flags record. */
  setFlag(field: FlagField, expr: string): void {
    this.#pending.set(field, this.local(expr, 'f'));
    this.writtenFlags.add(field);
  }

  /** A field of the lazy-flags record as the program has it now. */
  flag(field: FlagField): string {
    return this.#pending.get(field) ?? `f.${field}`;
  }

  // ---- making the state visible

  /** Statements storing what only the locals hold (for a path that leaves or may throw). */
  spill(): string {
    const out: string[] = [];
    for (const w of this.#dirty) out.push(`r[${w}] = ${this.#known.get(w)!.expr};`);
    for (const [field, v] of this.#pending) out.push(`f.${field} = ${v};`);
    return out.join(' ');
  }

  /** Store what only the locals hold, here on the main path. */
  commit(): void {
    const s = this.spill();
    if (s) this.line(s);
    this.#dirty.clear();
    this.#pending.clear();
  }

  /** Store pending flag fields only (before a helper reads cpu.f). */
  commitFlags(): void {
    const out: string[] = [];
    for (const [field, v] of this.#pending) out.push(`f.${field} = ${v};`);
    if (out.length) this.line(out.join(' '));
    this.#pending.clear();
  }

  /** After code that may have written registers or flags: the locals know nothing any more. */
  forget(): void {
    if (this.#dirty.size || this.#pending.size) throw new Error('forget() with state only in locals');
    this.#known.clear();
    this.flags = undefined;
  }

  /**
   * The state the interpreter would have when this instruction starts, on a path about to call
   * something that may throw: registers and flags stored, RIP at the instruction, cpu.nextRip
   * after it, and the count of completed instructions where cpu.ts's catch finds it.
   */
  sync(): string {
    const spill = this.spill();
    return `${spill ? `${spill} ` : ''}s.rip = ${this.rip}; cpu.nextRip = ${this.next}; cpu.compiledDone = ${this.doneBase}${this.k};`;
  }

  // ---- a block that runs itself again (assemble.ts): state carried around the loop in variables

  /**
   * Declarations of the loop-carried variables (before the loop): each register word the body
   * touches and each flag field it writes, loaded once; the body starts from them, the written ones
   * counted as only in locals (a spill stores them, harmlessly when unchanged).
   */
  enterLoop(words: readonly number[], written: ReadonlySet<number>, fields: readonly FlagField[]): string {
    const decls: string[] = [];
    // Words as int32 bit patterns, whatever the body computes them as: one representation for V8
    // around the loop (a u32 above 2^31 would make the variable a double).
    for (const w of words) {
      const v = `c${w}`;
      decls.push(`let ${v} = r[${w}] | 0;`);
      this.#carried.set(w, v);
      this.#known.set(w, { expr: v, signed: true });
      if (written.has(w)) this.#dirty.add(w);
    }
    for (const field of fields) {
      const v = `c_${field}`;
      decls.push(`let ${v} = f.${field};`);
      this.#carriedFlags.set(field, v);
      this.#pending.set(field, v);
    }
    return decls.join(' ');
  }

  /**
   * The loop's back edge: the carried variables take this iteration's values (through temporaries:
   * one carried variable's new value may be another's old one), and the body starts over from them.
   */
  backEdge(): string {
    const temps: string[] = [];
    const sets: string[] = [];
    const carry = (v: string, value: string) => {
      if (value === v) return;
      const t = this.name('n');
      temps.push(`const ${t} = ${value};`);
      sets.push(`${v} = ${t};`);
    };
    for (const [w, v] of this.#carried) {
      const x = this.#known.get(w)!;
      carry(v, x.signed ? x.expr : `${x.expr} | 0`);
    }
    // A field committed in the body (before a helper read cpu.f) is in cpu.f, not pending.
    for (const [field, v] of this.#carriedFlags) carry(v, this.#pending.get(field) ?? `f.${field}`);
    return [...temps, ...sets].join(' ');
  }

  /** The record of this instruction, for calls of interpreter functions that take one. */
  get record(): string {
    return `I${this.k}`;
  }
}
