/**
 * The KVM_RUN watchdog: a guest that never exits (`jmp $`), or an exit the backend swallows, must
 * not hang the test suite. KVM's own answer is a signal: KVM_RUN returns -EINTR with
 * KVM_EXIT_INTR as soon as one is pending for the vCPU thread. So a POSIX timer aimed at this
 * thread (SIGEV_THREAD_ID) sends SIGURG when the deadline passes, and then every few milliseconds
 * until disarmed, so that a KVM_RUN entered after the first signal was consumed is interrupted too.
 * Node handles the signal (an empty listener, installed once), so nothing else happens.
 *
 * SIGURG is used because its default action is to ignore: if the listener were ever removed the
 * watchdog would stop working, but the process would not be killed.
 */
import { CLOCK_MONOTONIC, type Libc, SIGEV_THREAD_ID } from './libc.js';

/** The signal the watchdog sends. */
export const WATCHDOG_SIGNAL = 'SIGURG';
const SIGURG = 23;
/** After the deadline, the timer repeats this often until disarmed. */
const REPEAT_NS = 5_000_000;

let listening = false;
const noop = (): void => {};
/** This thread's watchdog (module state is per isolate, and an isolate runs on one thread). */
let thisThread: Watchdog | undefined;

/** A per-thread deadline for blocking KVM_RUN calls. */
export class Watchdog {
  readonly #libc: Libc;
  readonly #timer: number;
  readonly #spec = new BigInt64Array(4);
  readonly #specBytes = new Uint8Array(this.#spec.buffer);
  #deadline = 0;
  #depth = 0;

  private constructor(libc: Libc, timer: number) {
    this.#libc = libc;
    this.#timer = timer;
  }

  /** A watchdog for the calling thread, or -errno when the timer cannot be created. */
  static create(libc: Libc): Watchdog | number {
    if (!listening) {
      process.on(WATCHDOG_SIGNAL, noop);
      listening = true;
    }
    const sev = new Uint8Array(64);
    const dv = new DataView(sev.buffer);
    dv.setInt32(8, SIGURG, true); // sigev_signo
    dv.setInt32(12, SIGEV_THREAD_ID, true); // sigev_notify
    dv.setInt32(16, libc.gettid(), true); // sigev_notify_thread_id
    const t = libc.timerCreate(CLOCK_MONOTONIC, sev);
    return t < 0 ? t : new Watchdog(libc, t);
  }

  /**
   * The calling thread's watchdog, created on first use and shared by every /dev/kvm opened on the
   * thread (one timer per thread, never deleted), or -errno when the timer cannot be created.
   */
  static forThread(libc: Libc): Watchdog | number {
    if (thisThread) return thisThread;
    const w = Watchdog.create(libc);
    if (typeof w !== 'number') thisThread = w;
    return w;
  }

  /** True while armed (inside {@link guard}). */
  get armed(): boolean {
    return this.#depth > 0;
  }

  /** True when armed and the deadline has passed: an EINTR now is the watchdog's doing. */
  expired(): boolean {
    return this.#depth > 0 && performance.now() >= this.#deadline;
  }

  /**
   * Run `fn` with the deadline `ms` from now. Nested guards keep the outer deadline (one timer per
   * thread). Every KVM_RUN inside returns by the deadline plus a few milliseconds.
   */
  guard<T>(ms: number, fn: () => T): T {
    if (this.#depth > 0) {
      this.#depth++;
      try {
        return fn();
      } finally {
        this.#depth--;
      }
    }
    this.#set(ms);
    this.#depth = 1;
    try {
      return fn();
    } finally {
      this.#depth = 0;
      this.#clear();
    }
  }

  #set(ms: number): void {
    const s = this.#spec;
    const ns = BigInt(Math.max(1, Math.round(ms * 1e6)));
    s[0] = 0n; // it_interval
    s[1] = BigInt(REPEAT_NS);
    s[2] = ns / 1_000_000_000n; // it_value
    s[3] = ns % 1_000_000_000n;
    this.#deadline = performance.now() + ms;
    const r = this.#libc.timerSettime(this.#timer, this.#specBytes);
    if (r < 0) throw new Error(`timer_settime failed: errno ${-r}`);
  }

  #clear(): void {
    this.#spec.fill(0n);
    this.#libc.timerSettime(this.#timer, this.#specBytes);
  }

  /** Delete the timer (the thread's shared one is re-created on next use). */
  close(): void {
    if (thisThread === this) thisThread = undefined;
    this.#libc.timerDelete(this.#timer);
  }
}
