/**
 * Run one fuzz case on one kernel profile, exactly as `sevbox run` runs its scenario file (same
 * schema, same compiled guest program, same VMM), and record what the invariants need: each
 * VMGEXIT's folded outcome and the step that made it, KVM's writes to guest memory outside the
 * GHCB page, the MMIO exits' directions, anything thrown, the allocator after destroy, and a hash
 * of the whole trace.
 */
import { createHash } from 'node:crypto';
import { compileProgram, type StepRecord } from '../scenario/program.js';
import { hostActionsAtHalt, machineConfig, scenarioStep } from '../scenario/run.js';
import { isStepsScenario, type ProfileName, type StepsScenario, scenarioSchema } from '../scenario/schema.js';
import type { TraceEvent } from '../trace/events.js';
import { foldVmgexits, type VmgexitOutcome } from '../trace/outcome.js';
import { isVmmError } from '../vmm/errors.js';
import type { RunResult } from '../vmm/types.js';
import { Vmm } from '../vmm/vmm.js';
import { type FuzzCase, toScenario, toScenarioDoc } from './case.js';

/** Test-only hooks into a run (e.g. to plant a bug in an instance); shipped code passes none. */
export interface ExecuteHooks {
  /** Called once the machine is built, before the guest runs. */
  readonly onVmm?: (vmm: Vmm) => void;
}

/** One VMGEXIT as the run saw it. */
export interface SeenVmgexit {
  readonly step: number | undefined;
  readonly outcome: VmgexitOutcome;
  /** MMIO exits it caused, 'w' or 'r' each. */
  mmio: string;
}

/** What one run produced. */
export interface Execution {
  readonly profile: ProfileName;
  /** The machine could not be built (a generator bug). */
  readonly buildError?: string;
  readonly vmgexits: readonly SeenVmgexit[];
  readonly steps: readonly StepRecord[];
  readonly result: RunResult | undefined;
  /** KVM's writes to guest memory (kvm_write_guest), with the VMGEXIT in progress. */
  readonly writes: readonly { readonly vmgexit: number; readonly gpa: number; readonly len: number }[];
  /** Something was thrown out of run() or destroy() (a bug: failures are values). */
  readonly thrown?: string;
  /** Bytes and allocations still charged after the VM was destroyed. */
  readonly leakedBytes: number;
  readonly leakedAllocs: number;
  /** Host actions the VMM could not perform. */
  readonly hostErrors: readonly string[];
  /** sha256 of the trace and the stop reason. */
  readonly traceHash: string;
  /** KVM_RUN calls that returned. */
  readonly kvmRuns: number;
}

const json = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x));

/**
 * The case's scenario: parsed from its document (the path a reproducer file takes through
 * `sevbox run`), or, with `fast`, built directly (the same value; test/fuzz checks it).
 */
export function caseScenario(c: FuzzCase, fast = false): StepsScenario {
  if (fast) return toScenario(c);
  const s = scenarioSchema.parse(toScenarioDoc(c));
  // toScenarioDoc always writes guest.steps: anything else is a harness bug (checkCase reports it).
  if (!isStepsScenario(s)) throw new Error('the case document has no guest.steps');
  return s;
}

/** Run `s` (the case's scenario) under `profile`. `hash`: compute the trace hash (costs a JSON pass). */
export function execute(
  s: StepsScenario,
  profile: ProfileName,
  opts: { hooks?: ExecuteHooks; hash?: boolean } = {},
): Execution {
  const events: TraceEvent[] = [];
  const entered: (number | undefined)[] = [];
  let current = -1;
  let openGhcb = -1;
  let currentStep = (): number | undefined => undefined;
  const seen: SeenVmgexit[] = [];
  const writes: { vmgexit: number; gpa: number; len: number }[] = [];
  const hostErrors: string[] = [];
  const vmm = Vmm.create(machineConfig(s, profile), {
    trace: (e) => {
      events.push(e);
      if (e.name === 'kvm_vmgexit_enter' || e.name === 'kvm_vmgexit_msr_protocol_enter') {
        entered.push(currentStep());
        current = entered.length - 1;
        if (e.name === 'kvm_vmgexit_enter') openGhcb = current;
      } else if (e.name === 'kvm_vmgexit_exit') openGhcb = -1;
      // kvm_write_guest, the only way KVM writes guest memory outside the mapped GHCB page.
      else if (e.name === 'sevbox_kvm_write_guest')
        writes.push({ vmgexit: openGhcb, gpa: e.gpa, len: e.len });
    },
  });
  const empty = (buildError: string): Execution => ({
    profile,
    buildError,
    vmgexits: [],
    steps: [],
    result: undefined,
    writes,
    leakedBytes: 0,
    leakedAllocs: 0,
    hostErrors,
    traceHash: '',
    kvmRuns: 0,
  });
  if (isVmmError(vmm)) return empty(`${vmm.errno}: ${vmm.message}`);
  opts.hooks?.onVmm?.(vmm);

  // A fuzz case is one vCPU's program.
  const program = s.guest.vcpus[0]!;
  const compiled = compileProgram(program, s.machine.sev);
  currentStep = scenarioStep(program, compiled);
  const onHalt = hostActionsAtHalt(vmm, program, compiled, (i, a, _k, why) =>
    hostErrors.push(`step ${i}: ${a.key}: ${why}`),
  );
  const added = vmm.addVcpu(compiled.program);
  if (isVmmError(added)) {
    vmm.destroy();
    return empty(`${added.errno}: ${added.message}`);
  }
  let thrown: string | undefined;
  const mmioDirs: string[] = [];
  let result: RunResult | undefined;
  try {
    result = vmm.run({
      policies: s.policies,
      maxKvmRuns: s.maxKvmRuns,
      apResetHold: s.apResetHold,
      onHalt,
      onExit: (_v, exit) => {
        if (exit.kind === 'MmioRead' || exit.kind === 'MmioWrite') {
          mmioDirs[current] = (mmioDirs[current] ?? '') + (exit.kind === 'MmioWrite' ? 'w' : 'r');
        }
      },
    });
  } catch (e) {
    thrown ??= `run() threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  }
  try {
    vmm.destroy();
  } catch (e) {
    thrown ??= `destroy() threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
  }
  const folded = foldVmgexits(events);
  folded.forEach((r, k) => {
    seen.push({ step: entered[k], outcome: r.outcome, mmio: mmioDirs[k] ?? '' });
  });
  let traceHash = '';
  if (opts.hash) {
    const h = createHash('sha256');
    for (const e of events) h.update(json(e));
    h.update(json(result?.stop ?? thrown));
    traceHash = h.digest('hex');
  }
  return {
    profile,
    vmgexits: seen,
    steps: compiled.records,
    result,
    writes,
    ...(thrown ? { thrown } : {}),
    leakedBytes: vmm.allocator?.inUse() ?? 0,
    leakedAllocs: vmm.allocator?.liveCount() ?? 0,
    hostErrors,
    traceHash,
    kvmRuns: result?.kvmRuns ?? 0,
  };
}
