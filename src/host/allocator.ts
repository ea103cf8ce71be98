import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/** Memory KVM allocates on a guest's behalf (bounce buffers, dirty bitmaps), charged against a budget so ENOMEM is real. */
export interface HostAllocation {
  /** The memory, zeroed (kvzalloc). */
  readonly bytes: Uint8Array;
  /** What it is for ("ghcb-scratch", "dirty-bitmap"): leak reports group by it. */
  readonly tag: string;
}

/** Fault injection for the allocator, like the kernel's failslab: which allocations fail with ENOMEM. */
export interface AllocFaultPlan {
  /** Fail the Nth allocation(s), counting from 1 since the plan was set. */
  failNth?: number | readonly number[];
  /** Fail every allocation larger than this many bytes. */
  failOver?: number;
  /** Fail each allocation with this probability, from a PRNG seeded with `seed` (required with probability). */
  probability?: number;
  seed?: number;
}

/** A plan with its inputs validated and put in the shape the hot path wants. */
interface CompiledPlan {
  readonly failNth: ReadonlySet<number>;
  readonly failOver: number;
  readonly probability: number;
  readonly rng: ReturnType<typeof xoroshiro128plus> | undefined;
}

function compilePlan(plan: AllocFaultPlan): CompiledPlan {
  const nth =
    plan.failNth === undefined ? [] : typeof plan.failNth === 'number' ? [plan.failNth] : plan.failNth;
  for (const n of nth) {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`failNth: ${n} is not a positive integer`);
  }
  const probability = plan.probability ?? 0;
  if (!(probability >= 0 && probability <= 1))
    throw new RangeError(`probability ${probability} not in [0, 1]`);
  if (plan.probability !== undefined && plan.seed === undefined) {
    // An unseeded failure would make a failing run impossible to replay.
    throw new RangeError('a fault probability needs a seed');
  }
  if (plan.failOver !== undefined && !(plan.failOver >= 0)) throw new RangeError(`failOver ${plan.failOver}`);
  return {
    failNth: new Set(nth),
    failOver: plan.failOver ?? Infinity,
    probability,
    rng: plan.probability !== undefined && plan.seed !== undefined ? xoroshiro128plus(plan.seed) : undefined,
  };
}

/**
 * The host allocator KVM charges (kvzalloc/kvfree): every allocation counts against `budget`, can be
 * failed on purpose by a fault plan, and is tracked until freed so leaks and double frees are caught.
 */
export class HostAllocator {
  /** Bytes that may be in use at once; settable (a VMM may raise it and retry). */
  budget: number;
  /** Successful allocations, frees, and failed (ENOMEM) allocations since construction. */
  readonly stats = { allocs: 0, frees: 0, failures: 0 };
  readonly #live = new Set<HostAllocation>();
  /** Freed allocations, only to tell a double free from a foreign pointer in the error. */
  readonly #freed = new WeakSet<HostAllocation>();
  #inUse = 0;
  #peak = 0;
  #plan: CompiledPlan | undefined;
  #attempts = 0;
  #unconstrained = false;

  /** An allocator with `budget` bytes (default Infinity) and an optional fault plan. */
  constructor(opts?: { budget?: number; faults?: AllocFaultPlan }) {
    this.budget = opts?.budget ?? Infinity;
    this.setFaults(opts?.faults);
  }

  /**
   * kvzalloc: undefined means ENOMEM (budget exceeded or an injected fault); nothing is charged then.
   * Size 0 succeeds (ZERO_SIZE_PTR) and, like kmalloc(0), never reaches fault injection, so it does not
   * advance the failNth count or draw from the PRNG.
   */
  alloc(size: number, tag: string): HostAllocation | undefined {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`alloc(${size}, '${tag}'): bad size`);
    if (
      size > 0 &&
      !this.#unconstrained &&
      ((this.#plan !== undefined && this.#injectFault(size)) || this.#inUse + size > this.budget)
    ) {
      this.stats.failures++;
      return undefined;
    }
    const a: HostAllocation = { bytes: new Uint8Array(size), tag };
    this.#live.add(a);
    this.#inUse += size;
    if (this.#inUse > this.#peak) this.#peak = this.#inUse;
    this.stats.allocs++;
    return a;
  }

  /** kvfree. Freeing twice, or something this allocator did not hand out, is a model bug: throw an Error. */
  free(a: HostAllocation): void {
    if (!this.#live.delete(a)) {
      throw new Error(
        this.#freed.has(a) ? `double free of '${a.tag}'` : `free of '${a.tag}' not allocated here`,
      );
    }
    this.#freed.add(a);
    this.#inUse -= a.bytes.length;
    this.stats.frees++;
  }

  /** Bytes currently charged. */
  inUse(): number {
    return this.#inUse;
  }

  /** Allocations not yet freed. */
  liveCount(): number {
    return this.#live.size;
  }

  /** Start the statistics and the high-water mark over (a harness measuring from a point on). */
  resetStats(): void {
    Object.assign(this.stats, { allocs: 0, frees: 0, failures: 0 });
    this.#peak = this.#inUse;
  }

  /** High-water mark of inUse(). */
  peak(): number {
    return this.#peak;
  }

  /**
   * Run `fn` with the budget and the fault plan out of the way (its allocations are still charged
   * and tracked, but neither fail nor count towards failNth): for a harness's own setup, such as a
   * VMM's SEV launch, that the limits a scenario sets are not about.
   */
  unconstrained<T>(fn: () => T): T {
    const was = this.#unconstrained;
    this.#unconstrained = true;
    try {
      return fn();
    } finally {
      this.#unconstrained = was;
    }
  }

  /** Install (or with undefined, remove) a fault plan; resets the Nth counter and reseeds the PRNG. */
  setFaults(plan: AllocFaultPlan | undefined): void {
    this.#plan = plan === undefined ? undefined : compilePlan(plan);
    this.#attempts = 0;
  }

  /** Live allocations grouped by tag, for leak reports. */
  live(): ReadonlyMap<string, { count: number; bytes: number }> {
    const out = new Map<string, { count: number; bytes: number }>();
    for (const a of this.#live) {
      const entry = out.get(a.tag);
      if (entry === undefined) out.set(a.tag, { count: 1, bytes: a.bytes.length });
      else {
        entry.count++;
        entry.bytes += a.bytes.length;
      }
    }
    return out;
  }

  #injectFault(size: number): boolean {
    const plan = this.#plan!;
    this.#attempts++;
    // Draw on every attempt, not only when other rules pass, so the random sequence for a seed does
    // not depend on the other rules in the plan.
    const roll = plan.rng !== undefined && uniformFloat64(plan.rng) < plan.probability;
    return roll || plan.failNth.has(this.#attempts) || size > plan.failOver;
  }
}
