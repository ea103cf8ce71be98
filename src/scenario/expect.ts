/**
 * Checking a scenario's expectations against what happened: per step (what the guest saw, what KVM
 * did with the step's VMGEXITs) and per run (stop reason, serial output, guest memory, counts, and
 * always: no kernel memory leaked). Every check passes or fails with a message saying what was
 * expected and what was found.
 */
import type { VmgexitOutcome } from '../trace/outcome.js';
import { errnoValue } from '../uapi/errno.js';
import { ghcbErrName } from '../uapi/ghcb.js';
import type { RunResult, StopReason } from '../vmm/types.js';
import { describeOutcome, describeReasons, describeResult, describeStop } from './describe.js';
import { checkExits, type ExitExpect, type ExitRecord } from './exits.js';
import type { SeenValue, StepRecord } from './program.js';
import type { RunExpect, StopExpect } from './schema.js';
import type { OutcomeExpect, ResultExpect, Step, StepExpect } from './steps.js';
import { toHex } from './values.js';

/** One expectation, checked. */
export interface Check {
  /** Where the expectation is: `guest.steps[2].expect.outcome`, `expect.stop`, `leak`. */
  readonly path: string;
  readonly ok: boolean;
  /** On success what was confirmed; on failure what was expected and what happened instead. */
  readonly message: string;
}

const short = (n: number): string => ghcbErrName(n).replace(/^GHCB_ERR_/, '');

function resultMatches(want: ResultExpect, got: NonNullable<StepRecord['result']>): boolean {
  if (want.kind !== got.kind) return false;
  if ('vector' in want && got.kind === 'exception' && want.vector !== got.vector) return false;
  if ('error' in want && got.kind === 'reflected' && want.error !== got.error) return false;
  return true;
}

function describeResultExpect(want: ResultExpect): string {
  if ('vector' in want) return `exception ${want.vector}`;
  if ('error' in want) return `reflected ${short(want.error)}`;
  return want.kind;
}

function outcomeMatches(want: OutcomeExpect, got: VmgexitOutcome): boolean {
  switch (want.kind) {
    case 'handled':
    case 'ignored':
      return got.kind === want.kind;
    case 'reflected':
      return got.kind === 'reflected' && (!('error' in want) || want.error === got.error);
    case 'userspace':
      return (
        got.kind === 'userspace' &&
        (!('reasons' in want) ||
          (want.reasons.length === got.reasons.length && want.reasons.every((r, i) => r === got.reasons[i])))
      );
    case 'kvm-error':
      return got.kind === 'error' && (!('errno' in want) || errnoValue(want.errno) === got.errno);
    case 'kernel-oops':
      return got.kind === 'oops';
    case 'none':
      return false;
    default: {
      const never: never = want;
      return never;
    }
  }
}

function describeOutcomeExpect(want: OutcomeExpect): string {
  if ('error' in want && want.error !== undefined) return `reflected (${short(want.error)})`;
  if ('reasons' in want && want.reasons) return `exit to userspace (${describeReasons(want.reasons)})`;
  if ('errno' in want) return `KVM_RUN failed (${want.errno})`;
  return want.kind === 'none' ? 'no VMGEXIT' : want.kind;
}

function showValue(v: SeenValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v instanceof Uint8Array) return v.length ? toHex(v) : '(no bytes)';
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  return String(v);
}

function valueMatches(want: unknown, got: SeenValue | undefined): boolean {
  if (got === undefined) return false;
  if (want instanceof Uint8Array) return got instanceof Uint8Array && toHex(want) === toHex(got);
  if (typeof want === 'number') return typeof got === 'bigint' && BigInt(want) === got;
  return want === got;
}

/**
 * Check one step's expectations, `base` its path in the document: `outcomes` are the outcomes of
 * the VMGEXITs it made, `exits` the KVM_RUNs that returned while its vCPU was in it, in order.
 */
export function checkStep(
  step: Step,
  rec: StepRecord,
  outcomes: readonly VmgexitOutcome[],
  exits: readonly ExitRecord[],
  stopText: string,
  base: string,
): Check[] {
  const want: StepExpect | undefined = step.expect;
  const label = `step ${rec.index} (${step.name ?? step.verb})`;
  const checks: Check[] = [];
  if (rec.error !== undefined) {
    checks.push({
      path: `${base}.${step.verb}`,
      ok: false,
      message: `${label}: the guest could not run it: ${rec.error}`,
    });
  }
  if (!want) return checks;
  const at = (key: string): string => `${base}.expect.${key}`;
  for (const [key, expected] of Object.entries(want)) {
    if (expected === undefined) continue;
    if (!rec.started) {
      checks.push({ path: at(key), ok: false, message: `${label}: never reached (${stopText})` });
      continue;
    }
    if (key === 'exits') {
      checks.push(...checkExits(expected as ExitExpect[], exits, at(key)));
      continue;
    }
    if (key === 'outcome') {
      const o = expected as OutcomeExpect;
      const ok =
        o.kind === 'none'
          ? outcomes.length === 0
          : outcomes.length > 0 && outcomes.every((g) => outcomeMatches(o, g));
      const got = outcomes.length ? outcomes.map(describeOutcome).join('; ') : 'no VMGEXIT';
      checks.push({
        path: at(key),
        ok,
        message: ok
          ? `${label}: KVM: ${got}`
          : `${label}: expected KVM outcome ${describeOutcomeExpect(o)}, got ${got}`,
      });
      continue;
    }
    if (!rec.finished) {
      checks.push({
        path: at(key),
        ok: false,
        message: `${label}: the guest never resumed from it (${stopText})`,
      });
      continue;
    }
    if (key === 'result') {
      const r = expected as ResultExpect;
      const ok = rec.result !== undefined && resultMatches(r, rec.result);
      const got = describeResult(rec.result);
      checks.push({
        path: at(key),
        ok,
        message: ok
          ? `${label}: guest saw ${got}`
          : `${label}: expected the guest to see ${describeResultExpect(r)}, got ${got}`,
      });
      continue;
    }
    const got = rec.values[key];
    const ok = valueMatches(expected, got);
    const shown = expected instanceof Uint8Array ? toHex(expected) : showValue(expected as SeenValue);
    checks.push({
      path: at(key),
      ok,
      message: ok
        ? `${label}: ${key} = ${showValue(got)}`
        : `${label}: expected ${key} ${shown}, got ${showValue(got)}`,
    });
  }
  return checks;
}

function stopMatches(want: StopExpect, got: StopReason): string | undefined {
  if (want.kind !== got.kind) return `expected the run to stop with ${want.kind}`;
  const w = want as Partial<Record<'errno' | 'set' | 'code' | 'suberror' | 'exitCode' | 'vcpu', unknown>>;
  const diffs: string[] = [];
  if (w.errno !== undefined && got.kind === 'kvm-error' && got.errno !== w.errno)
    diffs.push(`errno ${String(w.errno)}`);
  if (w.set !== undefined && got.kind === 'sev-termination' && got.reasonSet !== w.set)
    diffs.push(`reason set ${String(w.set)}`);
  if (w.code !== undefined && got.kind === 'sev-termination' && got.reasonCode !== w.code)
    diffs.push(`reason code ${String(w.code)}`);
  if (w.suberror !== undefined && got.kind === 'internal-error' && got.suberror !== w.suberror)
    diffs.push(`suberror ${String(w.suberror)}`);
  if (w.exitCode !== undefined && got.kind === 'debug-exit' && got.code !== w.exitCode)
    diffs.push(`exit code ${String(w.exitCode)}`);
  if (w.vcpu !== undefined && 'vcpu' in got && got.vcpu !== w.vcpu) diffs.push(`vCPU ${String(w.vcpu)}`);
  return diffs.length ? `expected ${want.kind} with ${diffs.join(', ')}` : undefined;
}

/** What run.ts measured for the run-level checks. */
export interface RunFacts {
  readonly result: RunResult;
  /** Total VMGEXITs, including ignored ones (which leave no trace record). */
  readonly vmgexits: number;
  /** Guest memory read for `expect.memory`, in its order (undefined when it could not be read). */
  readonly memory: readonly (Uint8Array | undefined)[];
  readonly leakedBytes: number;
  /** Each VMGEXIT KVM entered, in order: its event name and outcome (for `expect.outcomes`). */
  readonly log: readonly { readonly event: string; readonly outcome: VmgexitOutcome }[];
  /** Every KVM_RUN return, in order (for `expect.exits`). */
  readonly exits: readonly ExitRecord[];
}

/** Check the run-level expectations (stop defaults to guest-done) and the leak check. */
export function checkRun(want: RunExpect, facts: RunFacts): Check[] {
  const { result } = facts;
  const checks: Check[] = [];
  const stopWant: StopExpect = want.stop ?? { kind: 'guest-done' };
  const stopDiff = stopMatches(stopWant, result.stop);
  checks.push({
    path: 'expect.stop',
    ok: stopDiff === undefined,
    message:
      stopDiff === undefined
        ? `stop: ${describeStop(result.stop)}`
        : `${stopDiff}, got ${describeStop(result.stop)}`,
  });
  if (want.serial !== undefined) {
    const ok = result.serial === want.serial;
    checks.push({
      path: 'expect.serial',
      ok,
      message: ok
        ? `serial: ${JSON.stringify(result.serial)}`
        : `expected serial output ${JSON.stringify(want.serial)}, got ${JSON.stringify(result.serial)}`,
    });
  }
  want.memory?.forEach((m, i) => {
    const got = facts.memory[i];
    const ok = got !== undefined && toHex(got) === toHex(m.hex);
    const where = `memory at 0x${m.gpa.toString(16)}`;
    checks.push({
      path: `expect.memory[${i}]`,
      ok,
      message: ok
        ? `${where}: ${toHex(m.hex)}`
        : `expected ${where} to hold ${toHex(m.hex)}, got ${got ? toHex(got) : 'nothing readable'}`,
    });
  });
  if (want.vmgexits !== undefined) {
    const ok = facts.vmgexits === want.vmgexits;
    checks.push({
      path: 'expect.vmgexits',
      ok,
      message: ok
        ? `${facts.vmgexits} VMGEXIT(s)`
        : `expected ${want.vmgexits} VMGEXIT(s), got ${facts.vmgexits}`,
    });
  }
  if (want.outcomes !== undefined) checks.push(...checkOutcomes(want.outcomes, facts.log));
  if (want.exits !== undefined) checks.push(...checkExits(want.exits, facts.exits, 'expect.exits'));
  if (want.retried !== undefined) {
    const got = result.retried.map((r) => r.errno);
    const ok = got.length === want.retried.length && got.every((e, i) => e === want.retried![i]);
    checks.push({
      path: 'expect.retried',
      ok,
      message: ok
        ? `retried: ${got.join(', ') || 'nothing'}`
        : `expected the VMM to retry [${want.retried.join(', ')}], got [${got.join(', ')}]`,
    });
  }
  checks.push({
    path: 'leak',
    ok: facts.leakedBytes === 0,
    message:
      facts.leakedBytes === 0
        ? 'no kernel memory leaked'
        : `expected no kernel memory leaked, got ${facts.leakedBytes} bytes still allocated after destroy`,
  });
  return checks;
}

/** `expect.outcomes`: the VMGEXITs, one by one, then their number. */
function checkOutcomes(want: NonNullable<RunExpect['outcomes']>, log: RunFacts['log']): Check[] {
  const checks: Check[] = want.map((w, i) => {
    const path = `expect.outcomes[${i}]`;
    const got = log[i];
    if (!got) return { path, ok: false, message: `expected VMGEXIT ${i}, but KVM saw only ${log.length}` };
    const gotText = `${got.event}: ${describeOutcome(got.outcome)}`;
    if (w.event !== undefined && w.event !== got.event)
      return { path, ok: false, message: `expected VMGEXIT ${i} to be ${w.event}, got ${gotText}` };
    if (w.outcome !== undefined && !outcomeMatches(w.outcome, got.outcome))
      return {
        path,
        ok: false,
        message: `expected VMGEXIT ${i} (${got.event}) to be ${describeOutcomeExpect(w.outcome)}, got ${describeOutcome(got.outcome)}`,
      };
    return { path, ok: true, message: `VMGEXIT ${i}: ${gotText}` };
  });
  if (log.length > want.length)
    checks.push({
      path: 'expect.outcomes',
      ok: false,
      message: `expected ${want.length} VMGEXIT(s), got ${log.length} (the next: ${log[want.length]!.event})`,
    });
  return checks;
}
