/**
 * A GHCB request as a plain iterator instead of a generator, for the requests a guest makes most
 * (CPUID, OUT): a generator costs an allocation and a resumption more per request, a noticeable
 * part of an exit the kernel answers. Same protocol and laziness as a generator: the first `next`
 * builds the request and sends it, suspending at VMGEXIT; the second reads the answer. When the
 * GHCB page is not RAM, the rest runs in a generator with the trapping fallbacks, to which
 * `next`/`return`/`throw` then go.
 */

import type { GuestOp } from '../cpu/scripted.js';
import type { GhcbCodec } from './ghcb-codec.js';
import type { GhcbTransport } from './ghcb-transport.js';
import type { GhcbResult } from './result.js';

const VMGEXIT_OP: GuestOp = Object.freeze({ op: 'vmgexit' });
/** The step of a request suspended at its VMGEXIT, shared: iterator results are only read. */
const VMGEXIT_STEP: IteratorYieldResult<GuestOp> = Object.freeze({ value: VMGEXIT_OP, done: false });

/** One request: `build` fills the GHCB, `answer` makes the reply from it. */
export abstract class GhcbCall<R> implements Generator<GuestOp, R, unknown> {
  /** 0: not started; 1: suspended at the VMGEXIT; 2: done (or handed to `#rest`). */
  #phase = 0;
  #rest: Generator<GuestOp, R, unknown> | undefined;

  constructor(readonly tx: GhcbTransport) {}

  /** Fill the request into `g` (invalidated). */
  protected abstract build(g: GhcbCodec): void;
  /** The reply, from the answer in `g`. */
  protected abstract answer(g: GhcbCodec, result: GhcbResult): R;

  next(value?: unknown): IteratorResult<GuestOp, R> {
    const rest = this.#rest;
    if (rest) return rest.next(value);
    const tx = this.tx;
    if (this.#phase === 0) {
      // Done unless it gets to the VMGEXIT: a request that throws while being built is over.
      this.#phase = 2;
      const g = tx.begin();
      g.invalidate();
      this.build(g);
      if (!tx.send()) return this.#continueWith(this.#sendSlow());
      this.#phase = 1;
      return VMGEXIT_STEP;
    }
    if (this.#phase !== 1) return { value: undefined as R, done: true };
    this.#phase = 2;
    if (!tx.receive(0, 0)) return this.#continueWith(this.#receiveSlow());
    const g = tx.codec;
    return { value: this.answer(g, g.result()), done: true };
  }

  return(value: R): IteratorResult<GuestOp, R> {
    const rest = this.#rest;
    if (rest) return rest.return(value);
    this.#phase = 2;
    return { value, done: true };
  }

  throw(e: unknown): IteratorResult<GuestOp, R> {
    const rest = this.#rest;
    if (rest) return rest.throw(e);
    this.#phase = 2;
    throw e;
  }

  [Symbol.iterator](): Generator<GuestOp, R, unknown> {
    return this;
  }

  #continueWith(rest: Generator<GuestOp, R, unknown>): IteratorResult<GuestOp, R> {
    this.#rest = rest;
    return rest.next();
  }

  /** The request's page stores did not go through: trapping stores, then the rest. */
  *#sendSlow(): Generator<GuestOp, R, unknown> {
    const tx = this.tx;
    yield* tx.sendSlow();
    yield VMGEXIT_OP;
    if (!tx.receive(0, 0)) yield* tx.receiveSlow(0, 0);
    const g = tx.codec;
    return this.answer(g, g.result());
  }

  /** The answer's loads did not go through: trapping loads, then the reply. */
  *#receiveSlow(): Generator<GuestOp, R, unknown> {
    const tx = this.tx;
    yield* tx.receiveSlow(0, 0);
    const g = tx.codec;
    return this.answer(g, g.result());
  }
}
