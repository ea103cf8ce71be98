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
import type { ExchangeFrom, GhcbTransport } from './ghcb-transport.js';
import type { GhcbResult } from './result.js';

/** The VMGEXIT instruction, shared: guest ops are only read. */
export const VMGEXIT_OP: GuestOp = Object.freeze({ op: 'vmgexit' });
/** The step of a request suspended at its VMGEXIT, shared: iterator results are only read. */
export const VMGEXIT_STEP: IteratorYieldResult<GuestOp> = Object.freeze({ value: VMGEXIT_OP, done: false });

/** What a request does at its next `next`. */
type Step<R> = (call: GhcbCall<R>, value: unknown) => IteratorResult<GuestOp, R>;

/** One request: `build` fills the GHCB, `answer` makes the reply from it. */
export abstract class GhcbCall<R> implements Generator<GuestOp, R, unknown> {
  /**
   * The state of the request, as the step its next `next` runs: send it, read the answer, report
   * the end, or go on in a generator. A step per state rather than one `next` doing both halves:
   * V8 inlines callees only up to a bytecode budget per compiled function, which both halves
   * together exceed (the codec accessors then stay calls); a step each is compiled on its own.
   */
  #step: Step<R> = GhcbCall.#send;
  #rest: Generator<GuestOp, R, unknown> | undefined;

  constructor(readonly tx: GhcbTransport) {}

  /** Fill the request into `g` (just invalidated). */
  protected abstract build(g: GhcbCodec): void;
  /** The reply, from the answer in `g`. */
  protected abstract answer(g: GhcbCodec, result: GhcbResult): R;

  next(value?: unknown): IteratorResult<GuestOp, R> {
    return this.#step(this, value);
  }

  return(value: R): IteratorResult<GuestOp, R> {
    const rest = this.#rest;
    if (rest) return rest.return(value);
    this.#step = GhcbCall.#done;
    return { value, done: true };
  }

  throw(e: unknown): IteratorResult<GuestOp, R> {
    const rest = this.#rest;
    if (rest) return rest.throw(e);
    this.#step = GhcbCall.#done;
    throw e;
  }

  [Symbol.iterator](): Generator<GuestOp, R, unknown> {
    return this;
  }

  /** Build the request and send it; suspend at VMGEXIT. */
  static #send<R>(call: GhcbCall<R>): IteratorResult<GuestOp, R> {
    // Over unless it gets to the VMGEXIT: a request that throws while being built is done.
    call.#step = GhcbCall.#done;
    const tx = call.tx;
    call.build(tx.begin());
    if (!tx.send()) return call.#continueWith(call.#slow('send-failed'));
    call.#step = GhcbCall.#receive;
    return VMGEXIT_STEP;
  }

  /** Read the answer. */
  static #receive<R>(call: GhcbCall<R>): IteratorResult<GuestOp, R> {
    call.#step = GhcbCall.#done;
    const tx = call.tx;
    if (!tx.receive(0, 0)) return call.#continueWith(call.#slow('receive-failed'));
    const g = tx.codec;
    return { value: call.answer(g, g.result()), done: true };
  }

  static #done<R>(): IteratorResult<GuestOp, R> {
    return { value: undefined as R, done: true };
  }

  /** The rest of the request in a generator (the page is not RAM). */
  static #delegate<R>(call: GhcbCall<R>, value: unknown): IteratorResult<GuestOp, R> {
    return call.#rest!.next(value);
  }

  #continueWith(rest: Generator<GuestOp, R, unknown>): IteratorResult<GuestOp, R> {
    this.#rest = rest;
    this.#step = GhcbCall.#delegate;
    return rest.next();
  }

  /**
   * The request's page stores ('send-failed') or the answer's loads ('receive-failed') did not go
   * through: the rest of the exchange with trapping accesses, then the reply.
   */
  *#slow(from: ExchangeFrom): Generator<GuestOp, R, unknown> {
    const tx = this.tx;
    const result = yield* tx.exchange(0, 0, from);
    return this.answer(tx.codec, result);
  }
}
