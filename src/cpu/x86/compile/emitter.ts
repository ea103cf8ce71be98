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
    return `${spill ? `${spill} ` : ''}s.rip = ${this.rip}; cpu.nextRip = ${this.next}; cpu.compiledDone = ${this.k};`;
  }

  /** The record of this instruction, for calls of interpreter functions that take one. */
  get record(): string {
    return `I${this.k}`;
  }
}
