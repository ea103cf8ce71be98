/**
 * The VMM's answer to a failed KVM_RUN, per the run's policies: stop, or re-run (after raising the
 * allocator's budget, for ENOMEM's raise-budget). Retries are bounded per errno per run. Re-running
 * does not retry the VMGEXIT that failed — KVM has already moved past it — and the VMM does not
 * pretend otherwise.
 */
import type { HostAllocator } from '../host/allocator.js';
import type { ErrnoName } from '../uapi/errno.js';
import type { Policies } from './types.js';

/** The smallest budget increase of raise-budget without `bytes`. */
export const MIN_BUDGET_RAISE = 64 * 1024;

/** What to do about one failure. */
export type ErrorDecision = { readonly action: 'stop' } | { readonly action: 'rerun' };

/**
 * Decide what to do about KVM_RUN failing with `errno`, given how many times this run already
 * retried that errno. Applies raise-budget to `allocator` when it decides to re-run; without one
 * (a host whose kernel memory the VMM cannot free) raise-budget stops.
 */
export function decideOnError(
  errno: ErrnoName,
  policies: Policies,
  retriedSoFar: number,
  allocator: HostAllocator | undefined,
): ErrorDecision {
  const policy = errno === 'ENOMEM' ? policies.enomem : errno === 'EFAULT' ? policies.efault : undefined;
  // 'resolve' is the VMM's own business (resolvers.ts); here it only stops.
  if (!policy || policy.action === 'stop' || policy.action === 'resolve' || retriedSoFar >= policy.maxRetries)
    return { action: 'stop' };
  if (policy.action === 'raise-budget') {
    if (!allocator) return { action: 'stop' };
    const budget = allocator.budget;
    allocator.budget = budget + (policy.bytes ?? Math.max(budget, MIN_BUDGET_RAISE));
  }
  return { action: 'rerun' };
}
