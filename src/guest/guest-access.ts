/**
 * The guest's own loads and stores of guest memory, for the GHCB client: one access through the
 * nested page table when the memory is RAM, else trapping loads and stores, so the vCPU exits with
 * a nested page fault (and retries once KVM has mapped the page) or raises #VC (not RAM), as on
 * hardware.
 */

import { NPT_OK } from '../cpu/backend.js';
import type { AccessSize, GuestOp, ScriptedCpu } from '../cpu/scripted.js';

/** Loads and stores of one vCPU's GHCB client. */
export class GuestAccess {
  #busy = false;
  readonly #qword = new Uint8Array(8);
  readonly #qwordView = new DataView(this.#qword.buffer);

  constructor(readonly cpu: ScriptedCpu) {}

  /**
   * True while a trapping access is in progress. A #VC raised there must not re-enter the client:
   * Linux serves it with its backup GHCB (the #VC handler's `backup`), or dies.
   */
  get busy(): boolean {
    return this.#busy;
  }

  /** Throw if a #VC raised by one of this client's trapping accesses tries to start a request. */
  checkIdle(): void {
    if (this.#busy) throw new Error('GHCB client re-entered during a trapping access (nested #VC)');
  }

  /** Store `src` at `gpa`: one NPT access when it is RAM, else trapping stores. */
  *write(gpa: number, src: Uint8Array): Generator<GuestOp, void, unknown> {
    if (this.cpu.mem.write(gpa, src) !== NPT_OK) yield* this.#trapping(this.#storePieces(gpa, src));
  }

  /** Load `dst.length` bytes at `gpa`: one NPT access when it is RAM, else trapping loads. */
  *read(gpa: number, dst: Uint8Array): Generator<GuestOp, void, unknown> {
    if (this.cpu.mem.read(gpa, dst) !== NPT_OK) yield* this.#trapping(this.#loadPieces(gpa, dst));
  }

  *#trapping(accesses: Generator<GuestOp, void, unknown>): Generator<GuestOp, void, unknown> {
    this.checkIdle();
    this.#busy = true;
    try {
      yield* accesses;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * A trapping store of the first (up to 8-byte) piece, which exits to KVM until the page is there
   * (or raises #VC for MMIO), then the rest in one go if it is RAM now, else the next piece.
   */
  *#storePieces(gpa: number, src: Uint8Array): Generator<GuestOp, void, unknown> {
    const cpu = this.cpu;
    let off = 0;
    while (off < src.length) {
      const n = pieceSize(src.length - off);
      const q = this.#qword;
      q.fill(0);
      q.set(src.subarray(off, off + n));
      yield* cpu.store(gpa + off, n, this.#qwordView.getBigUint64(0, true));
      off += n;
      if (off < src.length && cpu.mem.write(gpa + off, src.subarray(off)) === NPT_OK) return;
    }
  }

  /** Trapping loads piece by piece until the rest is RAM again. */
  *#loadPieces(gpa: number, dst: Uint8Array): Generator<GuestOp, void, unknown> {
    const cpu = this.cpu;
    let off = 0;
    while (off < dst.length) {
      const n = pieceSize(dst.length - off);
      const value = yield* cpu.load(gpa + off, n);
      this.#qwordView.setBigUint64(0, value, true);
      dst.set(this.#qword.subarray(0, n), off);
      off += n;
      if (off < dst.length && cpu.mem.read(gpa + off, dst.subarray(off)) === NPT_OK) return;
    }
  }
}

function pieceSize(remaining: number): AccessSize {
  return remaining >= 8 ? 8 : remaining >= 4 ? 4 : remaining >= 2 ? 2 : 1;
}
