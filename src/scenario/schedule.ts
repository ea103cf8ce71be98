/**
 * The interleaving a scenario's author chose (guest.schedule): which vCPU the VMM runs next, item
 * by item. An item runs its vCPU alone until that vCPU has come back from `exits` KVM_RUNs (or,
 * without `exits`, until its program is done); a finished vCPU ends its item. Past the last item
 * the VMM's own round robin decides.
 */
import type { ScheduleItem } from './schema.js';

export class Schedule {
  readonly #items: readonly ScheduleItem[];
  #at = 0;
  /** KVM_RUN returns of the current item's vCPU since the item began. */
  #returns = 0;

  constructor(items: readonly ScheduleItem[]) {
    this.#items = items;
  }

  /** The vCPU to run among `runnable`, or undefined to leave it to the round robin. */
  pick(runnable: readonly number[]): number | undefined {
    for (;;) {
      const item = this.#items[this.#at];
      if (!item) return undefined;
      if (runnable.includes(item.vcpu)) return item.vcpu;
      this.#next(); // its vCPU is done: the item is over
    }
  }

  /** A KVM_RUN of `vcpu` returned. */
  returned(vcpu: number): void {
    const item = this.#items[this.#at];
    if (!item || item.vcpu !== vcpu || item.exits === undefined) return;
    if (++this.#returns >= item.exits) this.#next();
  }

  #next(): void {
    this.#at++;
    this.#returns = 0;
  }
}
