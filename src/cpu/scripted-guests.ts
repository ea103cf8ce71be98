/**
 * The scripted "hardware" of a model machine: which guest program each vCPU's CPU runs (as firmware
 * in a ROM would decide it), and what a test harness may know of its guests that KVM does not: whether
 * a program has ended, and why a CPU shut down. The model's KVM_CREATE_VCPU finds its CPU here
 * (`cpus`); a VMM's run loop may ask the monitor (`finished`, `crash`) to know when to stop, as a
 * harness reads a real guest's ucall. KVM never looks at either.
 */
import type { CpuBackend } from './backend.js';
import { type GuestProgram, type InterruptHandler, ScriptedCpu, type VcHandler } from './scripted.js';

/** A program for one vCPU, with its #VC and interrupt handlers. */
export interface ScriptedGuest {
  readonly program: GuestProgram;
  readonly vcHandler?: VcHandler;
  readonly interruptHandler?: InterruptHandler;
}

/** What a harness knows about its guests without KVM. */
export interface GuestMonitor {
  /** The guest program of vCPU `id` has ended (its CPU halts for good). */
  finished(id: number): boolean;
  /** Why vCPU `id`'s CPU shut down (an exception nothing handled, a bug in the program), if it did. */
  crash(id: number): string | undefined;
}

/** Guest programs by vCPU id, and the CPUs built for them. */
export class ScriptedGuests implements GuestMonitor {
  readonly #guests = new Map<number, ScriptedGuest>();
  readonly #cpus = new Map<number, ScriptedCpu>();

  /** Install `guest` as the program vCPU `id` will run (before KVM_CREATE_VCPU creates it). */
  load(id: number, guest: ScriptedGuest): void {
    this.#guests.set(id, guest);
  }

  /** The CPU factory for the model's Kvm: a ScriptedCpu running the program loaded for that id. */
  readonly cpus = (id: number, protectedState: boolean): CpuBackend => {
    const g = this.#guests.get(id);
    const cpu = new ScriptedCpu(g?.program ?? idle, { protectedState });
    if (g?.vcHandler) cpu.vcHandler = g.vcHandler;
    if (g?.interruptHandler) cpu.interruptHandler = g.interruptHandler;
    this.#cpus.set(id, cpu);
    return cpu;
  };

  /** The CPU of vCPU `id` (for tests of the guest side; never for KVM or a VMM). */
  cpu(id: number): ScriptedCpu | undefined {
    return this.#cpus.get(id);
  }

  finished(id: number): boolean {
    return this.#cpus.get(id)?.state === 'done';
  }

  crash(id: number): string | undefined {
    const cpu = this.#cpus.get(id);
    if (cpu?.state !== 'shutdown' || cpu.crash === undefined) return undefined;
    const c = cpu.crash;
    return c instanceof Error ? `${c.name}: ${c.message}` : String(c);
  }
}

/** A vCPU nobody loaded a program for: it ends at once (and halts). */
function* idle(): Generator<never, void, unknown> {}
