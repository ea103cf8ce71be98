/**
 * Decoded blocks, keyed by the guest-physical address of their first byte and the code size they
 * were decoded for. A block is straight-line code ending at a control transfer, a page end or an
 * instruction that changes how the following ones decode (mode switches). Invalidation:
 * - a guest store to a page holding decoded code drops that page's blocks (self-modifying code,
 *   a loader): the TLB never caches such a page as writable, so every store to it comes here;
 * - anything else that writes guest memory (the VMM, KVM's copies) does so while the vCPU is out,
 *   so at each VMRUN the cache moves to a new epoch and a block is checked against its bytes the
 *   first time it runs in an epoch.
 */
import type { X86Cpu } from './cpu.js';
import type { Insn } from './insn.js';

/**
 * A block as generated JavaScript (compile/): runs it from its first instruction and returns how
 * many instructions completed, fewer than its length when a handler stopped it, more when it ran
 * itself again (`remaining`: the instructions the #VMEXIT budget still lets start; see
 * compile/assemble.ts for the protocol).
 */
export type CompiledBlock = (cpu: X86Cpu, remaining: number) => number;

export class Block {
  /** Run in this epoch already, with its bytes as decoded. */
  epoch: number;
  /** Still in the cache (false once invalidated). */
  live = true;
  /** The block execution went to after this one last time, at RIP succRip, under TLB generation succGen. */
  succ: Block | undefined = undefined;
  succRip = -1;
  succGen = -1;
  /** Times the interpreter ran it (compile/policy.ts compiles it once it is hot). */
  runs = 0;
  /** Its compiled form once hot; it goes with the block when the block is invalidated. */
  compiled: CompiledBlock | undefined = undefined;
  constructor(
    readonly gpa: number,
    readonly codeSize: 16 | 32 | 64,
    readonly insns: readonly Insn[],
    /** The code bytes as decoded (to check them in a new epoch). */
    readonly bytes: Uint8Array,
    /** Guest-physical pages the bytes lie in (two when the last instruction crosses a page). */
    readonly pages: readonly number[],
    epoch: number,
  ) {
    this.epoch = epoch;
  }
}

function modeIndex(codeSize: 16 | 32 | 64): number {
  return codeSize === 64 ? 2 : codeSize === 32 ? 1 : 0;
}

export class BlockCache {
  /** One map per code size: GPA → block. */
  readonly #byGpa: Map<number, Block>[] = [new Map(), new Map(), new Map()];
  /** Page GPA → the blocks with bytes in it. */
  readonly #byPage = new Map<number, Block[]>();
  epoch = 0;
  /** Blocks dropped because their code changed (for tests and stats). */
  invalidations = 0;
  /** Blocks compiled (for tests and stats). */
  compiled = 0;

  lookup(gpa: number, codeSize: 16 | 32 | 64): Block | undefined {
    return this.#byGpa[modeIndex(codeSize)]!.get(gpa);
  }

  insert(b: Block): void {
    this.#byGpa[modeIndex(b.codeSize)]!.set(b.gpa, b);
    for (const p of b.pages) {
      const list = this.#byPage.get(p);
      if (list) list.push(b);
      else this.#byPage.set(p, [b]);
    }
  }

  /** Whether a guest-physical page holds decoded code. */
  hasCode(gpaPage: number): boolean {
    return this.#byPage.has(gpaPage);
  }

  /** Drop every block with bytes in a page (a store to it). */
  invalidatePage(gpaPage: number): void {
    const list = this.#byPage.get(gpaPage);
    if (!list) return;
    for (const b of list) this.remove(b);
  }

  /** Drop one block. */
  remove(b: Block): void {
    const map = this.#byGpa[modeIndex(b.codeSize)]!;
    if (map.get(b.gpa) !== b) return;
    map.delete(b.gpa);
    b.live = false;
    this.invalidations++;
    for (const p of b.pages) {
      const list = this.#byPage.get(p);
      if (!list) continue;
      const rest = list.filter((x) => x !== b);
      if (rest.length) this.#byPage.set(p, rest);
      else this.#byPage.delete(p);
    }
  }
}
