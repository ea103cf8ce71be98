/**
 * The host's monotonic clock and its timers, as the VMM process sees them (clock_gettime,
 * timer_create delivering a signal to the vCPU thread). In the model, time is virtual and
 * deterministic: it advances with the instructions the guest CPUs retire (one per nanosecond, a
 * 1 GHz machine that never stalls) and jumps forward when the VMM sleeps (a vCPU halted with nothing
 * to do until its next timer), as QEMU's icount does with sleep=off. KVM looks at the timers where a
 * real kernel would take the timer's signal: at a host tick (SVM_EXIT_INTR).
 */

/** A timer the VMM armed: its callback runs once, at the first host tick at or after `deadline`. */
interface HostTimer {
  readonly deadline: number;
  readonly fire: () => void;
}

/** Nanoseconds of virtual time per instruction a guest CPU retires. */
export const NS_PER_INSTRUCTION = 1;

export class HostClock {
  /** What the CPUs retired, each read when the time is asked for. */
  readonly #counters: (() => number)[] = [];
  /** Time the VMM slept (virtual: nothing ran meanwhile). */
  #slept = 0;
  #timers: HostTimer[] = [];

  /** A CPU whose retired instructions move the clock. */
  addCounter(instructions: () => number): void {
    this.#counters.push(instructions);
  }

  /** Instructions the CPUs retired so far. */
  instructions(): number {
    let n = 0;
    for (const c of this.#counters) n += c();
    return n;
  }

  /** CLOCK_MONOTONIC, in nanoseconds since the machine was made. */
  now(): number {
    return this.instructions() * NS_PER_INSTRUCTION + this.#slept;
  }

  /** Sleep until `deadline` (ns): virtual time jumps there; now already past it, nothing happens. */
  sleepUntil(deadline: number): void {
    const now = this.now();
    if (deadline > now) this.#slept += deadline - now;
  }

  /** Arm a one-shot timer (timer_settime): `fire` runs at the first host tick at or after `deadline`. */
  arm(deadline: number, fire: () => void): void {
    this.#timers.push({ deadline, fire });
  }

  /** Drop every armed timer whose callback is `fire`. */
  disarm(fire: () => void): void {
    this.#timers = this.#timers.filter((t) => t.fire !== fire);
  }

  /** A host tick: the timers due by now fire, each once. */
  tick(): void {
    if (this.#timers.length === 0) return;
    const now = this.now();
    const due = this.#timers.filter((t) => t.deadline <= now);
    if (due.length === 0) return;
    this.#timers = this.#timers.filter((t) => t.deadline > now);
    for (const t of due) t.fire();
  }
}
