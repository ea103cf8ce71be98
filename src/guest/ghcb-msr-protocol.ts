/**
 * The GHCB MSR protocol from the guest side: write a request into the GHCB MSR, VMGEXIT, read the
 * response from it, then put the GHCB GPA back (as Linux does before it uses the GHCB page again).
 */

import type { GuestOp, ScriptedCpu } from '../cpu/scripted.js';
import { GHCB_MSR_CPUID_REQ, GHCB_MSR_CPUID_RESP, GHCB_MSR_INFO_MASK } from '../uapi/ghcb.js';
import { VMGEXIT_OP, VMGEXIT_STEP } from './ghcb-call.js';

/** One exchange: `request` into the GHCB MSR, VMGEXIT, the raw response; then the GHCB GPA back. */
export function* msrExchange(
  cpu: ScriptedCpu,
  request: bigint,
  ghcbGpaLo: number,
  ghcbGpaHi: number,
): Generator<GuestOp, bigint, unknown> {
  cpu.ghcbMsr = BigInt.asUintN(64, request);
  yield VMGEXIT_OP;
  const response = cpu.ghcbMsr;
  cpu.setGhcbMsr(ghcbGpaLo, ghcbGpaHi);
  return response;
}

/**
 * CPUID_REQ for register `reg` of leaf `fn` (Linux's __sev_cpuid_hv): the value, or undefined when
 * the response is not CPUID_RESP. A plain iterator rather than a generator (same laziness: nothing
 * happens before the first `next`): a generator costs an allocation and a resumption more, a
 * noticeable part of an exit that never leaves the MSR.
 */
export class CpuidMsrExchange implements Generator<GuestOp, number | undefined, unknown> {
  /** 0: not started; 1: suspended at the VMGEXIT; 2: done. */
  #phase = 0;
  /** GHCBInfo with the register in [31:30]; the function is the high half. */
  readonly #requestLo: number;

  constructor(
    readonly cpu: ScriptedCpu,
    readonly fn: number,
    reg: 0 | 1 | 2 | 3,
    readonly ghcbGpaLo: number,
    readonly ghcbGpaHi: number,
  ) {
    this.#requestLo = (((reg & 3) << 30) | GHCB_MSR_CPUID_REQ) >>> 0;
  }

  next(): IteratorResult<GuestOp, number | undefined> {
    if (this.#phase === 0) {
      this.#phase = 1;
      this.cpu.setGhcbMsr(this.#requestLo, this.fn >>> 0);
      return VMGEXIT_STEP;
    }
    if (this.#phase !== 1) return { value: undefined, done: true };
    this.#phase = 2;
    const cpu = this.cpu;
    // GHCBInfo and, for CPUID_RESP, the value in [63:32].
    const value = (cpu.ghcbMsrLo & GHCB_MSR_INFO_MASK) === GHCB_MSR_CPUID_RESP ? cpu.ghcbMsrHi : undefined;
    cpu.setGhcbMsr(this.ghcbGpaLo, this.ghcbGpaHi);
    return { value, done: true };
  }

  return(value: number | undefined): IteratorResult<GuestOp, number | undefined> {
    this.#phase = 2;
    return { value, done: true };
  }

  throw(e: unknown): IteratorResult<GuestOp, number | undefined> {
    this.#phase = 2;
    throw e;
  }

  [Symbol.iterator](): Generator<GuestOp, number | undefined, unknown> {
    return this;
  }
}
