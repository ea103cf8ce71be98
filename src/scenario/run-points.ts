/**
 * A scenario run's points between KVM_RUNs: every KVM_RUN return recorded as it came (exits.ts),
 * and the scenario's `vmm:` entries applied where they name (vmm-actions.ts): at the Nth KVM_RUN
 * return, or at the Kth return on a vCPU after KVM entered the Nth VMGEXIT of an event there. An
 * entry whose point never came fails, so a trigger that names nothing does not pass in silence.
 */
import type { TraceEvent } from '../trace/events.js';
import { vmgexitName, vmgexitRequest } from '../trace/outcome.js';
import type { RunFailure } from '../uapi/kvm-fd.js';
import type { VcpuExit } from '../uapi/vcpu-exit.js';
import type { RunOptions, Vmm } from '../vmm/vmm.js';
import { type ExitRecord, exitRecord } from './exits.js';
import type { Check } from './expect.js';
import { applyHostAction, checkHost, type HostAction, type VmmEntry } from './vmm-actions.js';

/** An entry armed by its VMGEXIT: it acts at the `left`-th next KVM_RUN return on `vcpu`. */
interface Armed {
  readonly entry: number;
  readonly vcpu: number;
  left: number;
}

export class RunPoints {
  /** Every KVM_RUN return, in order. */
  readonly exits: ExitRecord[] = [];
  /** The `vmm:` entries' failed actions and their host checks. */
  readonly checks: Check[] = [];
  readonly #vmm: Vmm;
  readonly #entries: readonly VmmEntry[];
  readonly #stepOf: (vcpu: number) => number | undefined;
  readonly #onAction: ((a: HostAction, error: string | undefined) => void) | undefined;
  /** VMGEXITs KVM entered, by event name. */
  readonly #entered = new Map<string, number>();
  readonly #armed: Armed[] = [];
  /** Entries due at the KVM_RUN return being handled. */
  #due: number[] = [];
  readonly #fired = new Set<number>();

  constructor(
    vmm: Vmm,
    entries: readonly VmmEntry[],
    stepOf: (vcpu: number) => number | undefined,
    onAction?: (a: HostAction, error: string | undefined) => void,
  ) {
    this.#vmm = vmm;
    this.#entries = entries;
    this.#stepOf = stepOf;
    this.#onAction = onAction;
  }

  /** KVM's trace: where VMGEXITs begin. */
  trace(e: TraceEvent): void {
    if (e.name !== 'kvm_vmgexit_enter' && e.name !== 'kvm_vmgexit_msr_protocol_enter') return;
    const event = vmgexitName(vmgexitRequest(e));
    const nth = this.#entered.get(event) ?? 0;
    this.#entered.set(event, nth + 1);
    this.#entries.forEach((x, entry) => {
      const t = x.at;
      if (t.vmgexit === event && t.nth === nth && (t.vcpu === undefined || t.vcpu === e.vcpu))
        this.#armed.push({ entry, vcpu: e.vcpu, left: t.run });
    });
  }

  /** The hooks of Vmm#run that feed it. */
  runOptions(): Pick<RunOptions, 'onKvmRun' | 'onExit' | 'onRunFailure'> {
    return {
      onKvmRun: (vcpu, r) => this.#returned(vcpu, r),
      onExit: () => this.#act(),
      onRunFailure: () => this.#act(),
    };
  }

  #returned(vcpu: number, r: VcpuExit | RunFailure): void {
    const index = this.exits.length;
    this.exits.push(exitRecord(index, vcpu, this.#stepOf(vcpu), r));
    this.#due = [];
    this.#entries.forEach((x, entry) => {
      if (x.at.exit === index) this.#due.push(entry);
    });
    for (let k = this.#armed.length - 1; k >= 0; k--) {
      const a = this.#armed[k]!;
      if (a.vcpu !== vcpu) continue;
      if (a.left-- > 0) continue;
      this.#due.push(a.entry);
      this.#armed.splice(k, 1);
    }
    this.#due.sort((a, b) => a - b);
  }

  #act(): void {
    for (const i of this.#due) {
      const x = this.#entries[i]!;
      this.#fired.add(i);
      const when = `vmm[${i}]${x.name ? ` (${x.name})` : ''} at KVM_RUN ${this.exits.length - 1}`;
      // The VMM looks first (the state KVM_RUN left), then acts.
      x.check.forEach((c, k) => {
        this.checks.push(checkHost(this.#vmm, c, `vmm[${i}].check[${k}]`, when));
      });
      x.do.forEach((a, k) => {
        const err = applyHostAction(this.#vmm, a);
        this.#onAction?.(a, err);
        if (err) this.checks.push({ path: `vmm[${i}].do[${k}]`, ok: false, message: `${when}: ${err}` });
      });
    }
    this.#due = [];
  }

  /** Checks for entries whose point never came (`stopText`: how the run ended). */
  unreached(stopText: string): Check[] {
    return this.#entries.flatMap((x, i) =>
      this.#fired.has(i)
        ? []
        : [
            {
              path: `vmm[${i}].at`,
              ok: false,
              message: `vmm[${i}]${x.name ? ` (${x.name})` : ''}: its point never came (${stopText})`,
            },
          ],
    );
  }
}
