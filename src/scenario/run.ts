/**
 * Running a scenario: build the machine on the VMM, run the compiled guest program with the host
 * actions applied at their steps, attribute every VMGEXIT in the trace to the step that made it,
 * check the expectations, and hand back a report value (never throws for a scenario that fails).
 */
import type { TraceEvent } from '../trace/events.js';
import { foldVmgexits, type VmgexitOutcome, vmgexitName } from '../trace/outcome.js';
import type { ErrnoName } from '../uapi/errno.js';
import { isVmmError } from '../vmm/errors.js';
import type { MachineConfig, StopReason } from '../vmm/types.js';
import { Vmm } from '../vmm/vmm.js';
import { describeOutcome, describeStop } from './describe.js';
import { type Check, checkRun, checkStep, type RunFacts } from './expect.js';
import { loadImageGuest, readGuestImage } from './image-guest.js';
import { type CompiledProgram, compileProgram, type StepRecord } from './program.js';
import { RunPoints } from './run-points.js';
import { Schedule } from './schedule.js';
import {
  type ImageGuest,
  isImageGuest,
  isStepsScenario,
  type ProfileName,
  programPath,
  type Scenario,
  type StepsScenario,
  type VcpuProgram,
} from './schema.js';
import { applyHostAction, type HostAction } from './vmm-actions.js';

/** One VMGEXIT of the run, as the report lists it. */
export interface VmgexitLine {
  /** 0-based, in the order KVM saw them. */
  readonly index: number;
  readonly vcpu: number;
  /** The step that made it (undefined when outside any step). */
  readonly step: number | undefined;
  readonly protocol: 'ghcb' | 'msr';
  /** The event: an SVM exit code name (GHCB page) or an MSR-protocol request name. */
  readonly event: string;
  readonly outcome: VmgexitOutcome;
  /** "handled", "reflected (INVALID_SCRATCH_AREA)", "exit to userspace (KVM_EXIT_MMIO ×3)", ... */
  readonly text: string;
}

/** What a scenario run produced. */
export interface ScenarioReport {
  readonly name: string;
  readonly profile: ProfileName;
  /** Every check passed (and the machine could be built). */
  readonly ok: boolean;
  readonly vmgexits: readonly VmgexitLine[];
  readonly steps: readonly StepRecord[];
  readonly checks: readonly Check[];
  /** How the run ended; undefined when the machine could not be built. */
  readonly stop: StopReason | undefined;
  readonly serial: string;
  /** The errnos of the KVM_RUN failures the VMM's policies retried, in order. */
  readonly retried: readonly ErrnoName[];
  readonly leakedBytes: number;
}

/** Options of {@link runScenario}. */
export interface RunScenarioOptions {
  /** Run under this kernel profile instead of the scenario's own (the CLI's --profile). */
  readonly profile?: ProfileName;
  /** Receives every trace event. */
  readonly trace?: (e: TraceEvent) => void;
  /** Receives the model's debug view of each #VC the guest takes (VmmOptions.debugVc). */
  readonly debugVc?: (e: TraceEvent) => void;
  /** Hears of every host action the VMM applies (with why it failed, if it did), in order. */
  readonly onHostAction?: (action: HostAction, step: number | undefined, error: string | undefined) => void;
  /** Called with the machine once it is built, before it runs (a recorder reads guest memory through it). */
  readonly onMachine?: (vmm: Vmm) => void;
  /** Called with the machine once the run ended, before it is torn down (to look at its memory). */
  readonly atEnd?: (vmm: Vmm) => void;
}

/** The VMM's machine description for a scenario. */
export function machineConfig(s: Scenario, profile: ProfileName): MachineConfig {
  const m = s.machine;
  return {
    ram: m.ram,
    mmio: m.mmio,
    ...(m.serial !== undefined ? { serial: m.serial } : {}),
    ...(m.debugExitPort !== undefined ? { debugExitPort: m.debugExitPort } : {}),
    // A guest of several programs has at least a vCPU for each.
    vcpus: Math.max(m.vcpus, isImageGuest(s.guest) ? 1 : s.guest.vcpus.length),
    // Waking an AP from reset hold takes a SIPI, which only an in-kernel APIC can deliver.
    ...(s.apResetHold === 'sipi' ? { irqchip: true } : {}),
    sev:
      m.sev === false
        ? false
        : {
            profile,
            ghcbVersion: m.sev.ghcbVersion,
            ...(m.sev.capabilities ? { capabilities: m.sev.capabilities } : {}),
            ...(m.sev.policy !== undefined ? { policy: m.sev.policy } : {}),
            ...(m.sev.measure ? { measure: m.sev.measure } : {}),
          },
    host: {
      ...(s.host.budget !== undefined ? { budget: s.host.budget } : {}),
      ...(s.host.allocFaults ? { allocFaults: s.host.allocFaults } : {}),
    },
  };
}

/**
 * The VMM's onHalt for a vCPU running program `p`: at the HLT the guest makes before a step with
 * host actions, apply that step's actions (between two KVM_RUNs, as a VMM does); `failed` hears of
 * each that did not take effect. False when no step was waiting (the HLT is the guest's own).
 */
export function hostActionsAtHalt(
  vmm: Vmm,
  p: VcpuProgram,
  compiled: CompiledProgram,
  failed: (step: number, action: HostAction, k: number, why: string) => void,
  applied?: RunScenarioOptions['onHostAction'],
): () => boolean {
  return () => {
    const i = compiled.takeHostStep();
    if (i === undefined) return false;
    p.steps[i]!.host?.forEach((a, k) => {
      const err = applyHostAction(vmm, a);
      applied?.(a, i, err);
      if (err) failed(i, a, k, err);
    });
    return true;
  };
}

/** The step of program `p` its vCPU is in, or undefined outside them. */
export function scenarioStep(p: VcpuProgram, compiled: CompiledProgram): () => number | undefined {
  return () => {
    const i = compiled.currentStep();
    return i >= 0 && i < p.steps.length ? i : undefined;
  };
}

const notBuilt = (s: Scenario, profile: ProfileName, message: string): ScenarioReport => ({
  name: s.name,
  profile,
  ok: false,
  vmgexits: [],
  steps: [],
  checks: [{ path: 'machine', ok: false, message: `the VMM could not build the machine: ${message}` }],
  stop: undefined,
  serial: '',
  retried: [],
  leakedBytes: 0,
});

/** Run `s` and check it. */
export function runScenario(s: Scenario, opts: RunScenarioOptions = {}): ScenarioReport {
  return isStepsScenario(s) ? runStepsScenario(s, opts) : runImageScenario(s, opts);
}

/** A scenario whose guest is machine code: the x86 interpreter runs it; the report has no steps. */
function runImageScenario(s: Scenario, opts: RunScenarioOptions): ScenarioReport {
  const profile = opts.profile ?? s.profile;
  const g = s.guest as ImageGuest;
  const image = readGuestImage(g);
  if (typeof image === 'string') return notBuilt(s, profile, image);
  const events: TraceEvent[] = [];
  let machine: Vmm | undefined;
  let points: RunPoints | undefined;
  const vmm = Vmm.create(
    {
      ...machineConfig(s, profile),
      cpu: 'x86',
      ...(g.entry.mode === 'long' ? { boot: 'long-mode' as const } : {}),
    },
    {
      trace: (e) => {
        events.push(e);
        points?.trace(e);
        if (!opts.trace) return;
        opts.trace(e);
        // A GHCB the guest left private: what it meant, in the debug view (for the trace reader only).
        if (e.name === 'kvm_vmgexit_enter' && e.ghcbGpa !== undefined) {
          const d = machine?.debugPrivateGhcb(e.vcpu, e.ghcbGpa);
          if (d) opts.trace(d);
        }
      },
      ...(opts.debugVc ? { debugVc: opts.debugVc } : {}),
    },
  );
  if (!isVmmError(vmm)) machine = vmm;
  if (isVmmError(vmm)) return notBuilt(s, profile, `${vmm.errno}: ${vmm.message}`);
  points = new RunPoints(
    vmm,
    s.vmm,
    () => undefined,
    (a, err) => opts.onHostAction?.(a, undefined, err),
  );
  opts.onMachine?.(vmm);
  const added = vmm.addVcpu();
  const loaded = isVmmError(added)
    ? `${added.errno}: ${added.message}`
    : loadImageGuest(vmm, g, image, added.fd);
  if (loaded !== undefined) {
    vmm.destroy();
    return notBuilt(s, profile, loaded);
  }
  // The n-th HLT: the VMM applies guest.halts[n]'s host actions and runs the vCPU again.
  const hostChecks: Check[] = [];
  let halts = 0;
  const onHalt = (): boolean => {
    const at = halts++;
    const halt = g.halts[at];
    halt?.host.forEach((a, k) => {
      const err = applyHostAction(vmm, a);
      opts.onHostAction?.(a, undefined, err);
      if (err)
        hostChecks.push({
          path: `guest.halts[${at}].host[${k}]`,
          ok: false,
          message: `host action failed: ${err}`,
        });
    });
    return halt !== undefined;
  };
  const run = runMachine(vmm, s, onHalt, opts, points);
  const lines = attribute(foldVmgexits(events), new Map());
  const checks = [
    ...hostChecks,
    ...points.checks,
    ...points.unreached(`the run stopped: ${describeStop(run.result.stop)}`),
    ...checkRun(s.expect, { ...run, vmgexits: lines.length, log: lines, exits: points.exits }),
  ];
  return report(s, profile, lines, [], checks, run);
}

/** What a run leaves for the checks: its result, the `expect.memory` bytes, what the host leaked. */
type MachineRun = Pick<RunFacts, 'result' | 'memory' | 'leakedBytes'>;

/**
 * Run the machine under the scenario's policies, read each `expect.memory` range while the guest
 * memory is still there, tear the machine down and count what it left allocated.
 */
function runMachine(
  vmm: Vmm,
  s: Scenario,
  onHalt: (vcpu: number) => boolean,
  opts: RunScenarioOptions,
  points: RunPoints,
  schedule?: Schedule,
): MachineRun {
  const hooks = points.runOptions();
  const result = vmm.run({
    policies: s.policies,
    maxKvmRuns: s.maxKvmRuns,
    apResetHold: s.apResetHold,
    onHalt,
    ...hooks,
    ...(schedule
      ? {
          pickVcpu: (runnable) => schedule.pick(runnable),
          onKvmRun: (vcpu, r) => {
            schedule.returned(vcpu);
            hooks.onKvmRun?.(vcpu, r);
          },
        }
      : {}),
  });
  const memory = (s.expect.memory ?? []).map((m) => {
    const dst = new Uint8Array(m.hex.length);
    return (m.view === 'private' ? vmm.readGpaPrivate(m.gpa, dst) : vmm.readGpa(m.gpa, dst))
      ? undefined
      : dst;
  });
  opts.atEnd?.(vmm);
  vmm.destroy();
  return { result, memory, leakedBytes: vmm.allocator?.inUse() ?? 0 };
}

/** The report of a run that got as far as the machine: its VMGEXITs, step records and checks. */
function report(
  s: Scenario,
  profile: ProfileName,
  vmgexits: readonly VmgexitLine[],
  steps: readonly StepRecord[],
  checks: readonly Check[],
  run: MachineRun,
): ScenarioReport {
  return {
    name: s.name,
    profile,
    ok: checks.every((c) => c.ok),
    vmgexits,
    steps,
    checks,
    stop: run.result.stop,
    serial: run.result.serial,
    retried: run.result.retried.map((r) => r.errno),
    leakedBytes: run.leakedBytes,
  };
}

function runStepsScenario(s: StepsScenario, opts: RunScenarioOptions): ScenarioReport {
  const profile = opts.profile ?? s.profile;
  const programs = s.guest.vcpus;
  const events: TraceEvent[] = [];
  /** Per vCPU, the step of each VMGEXIT KVM entered, in order. */
  const entered = new Map<number, (number | undefined)[]>();
  /** Per vCPU, the step its program is in. */
  const stepOf: (() => number | undefined)[] = [];
  let points: RunPoints | undefined;
  const vmm = Vmm.create(machineConfig(s, profile), {
    trace: (e) => {
      events.push(e);
      points?.trace(e);
      if (e.name === 'kvm_vmgexit_enter' || e.name === 'kvm_vmgexit_msr_protocol_enter') {
        const list = entered.get(e.vcpu) ?? [];
        list.push(stepOf[e.vcpu]?.());
        entered.set(e.vcpu, list);
      }
      opts.trace?.(e);
    },
    ...(opts.debugVc ? { debugVc: opts.debugVc } : {}),
  });
  if (isVmmError(vmm)) return notBuilt(s, profile, `${vmm.errno}: ${vmm.message}`);
  opts.onMachine?.(vmm);

  const hostChecks: Check[] = [];
  const compiled = programs.map((p) => compileProgram(p, s.machine.sev));
  const onHalts = programs.map((p, v) => {
    stepOf.push(scenarioStep(p, compiled[v]!));
    return hostActionsAtHalt(
      vmm,
      p,
      compiled[v]!,
      (i, _a, k, why) =>
        hostChecks.push({
          path: `${programPath(s.guest, v)}.steps[${i}].host[${k}]`,
          ok: false,
          message: `host action failed: ${why}`,
        }),
      opts.onHostAction,
    );
  });
  points = new RunPoints(
    vmm,
    s.vmm,
    (v) => stepOf[v]?.(),
    (a, err) => opts.onHostAction?.(a, undefined, err),
  );
  const schedule = new Schedule(s.guest.schedule);
  for (const c of compiled) {
    const added = vmm.addVcpu(c.program);
    if (isVmmError(added)) {
      vmm.destroy();
      return notBuilt(s, profile, `${added.errno}: ${added.message}`);
    }
  }

  const run = runMachine(vmm, s, (v) => onHalts[v]?.() ?? false, opts, points, schedule);

  const lines = attribute(foldVmgexits(events), entered);
  const stopText = `the run stopped: ${describeStop(run.result.stop)}`;
  let ignored = 0;
  const stepChecks = programs.flatMap((p, v) => {
    const records = compiled[v]!.records;
    const mine = lines.filter((l) => l.vcpu === v);
    ignored += records.reduce(
      (n, r) => n + Math.max(0, r.vmgexits - mine.filter((l) => l.step === r.index).length),
      0,
    );
    const base = programPath(s.guest, v);
    return p.steps.flatMap((st, i) => {
      const rec = records[i]!;
      const outcomes: VmgexitOutcome[] = mine.filter((l) => l.step === i).map((l) => l.outcome);
      for (let k = outcomes.length; k < rec.vmgexits; k++) outcomes.push({ kind: 'ignored' });
      const exits = st.expect?.exits ? points.exits.filter((x) => x.vcpu === v && x.step === i) : [];
      return checkStep(st, rec, outcomes, exits, stopText, `${base}.steps[${i}]`);
    });
  });
  const checks = [
    ...hostChecks,
    ...stepChecks,
    ...points.checks,
    ...points.unreached(stopText),
    ...checkRun(s.expect, { ...run, vmgexits: lines.length + ignored, log: lines, exits: points.exits }),
  ];
  return report(
    s,
    profile,
    lines,
    compiled.flatMap((c) => c.records),
    checks,
    run,
  );
}

/** Pair each folded VMGEXIT with the step that was running when KVM entered it. */
function attribute(
  records: ReturnType<typeof foldVmgexits>,
  entered: ReadonlyMap<number, readonly (number | undefined)[]>,
): VmgexitLine[] {
  const seen = new Map<number, number>();
  return records.map((r, index) => {
    const k = seen.get(r.vcpu) ?? 0;
    seen.set(r.vcpu, k + 1);
    return {
      index,
      vcpu: r.vcpu,
      step: entered.get(r.vcpu)?.[k],
      protocol: r.protocol,
      event: vmgexitName(r),
      outcome: r.outcome,
      text: describeOutcome(r.outcome),
    };
  });
}

/** The report as text lines: VMGEXITs, checks (✓/✗), stop reason, serial output, verdict. */
export function formatReport(r: ScenarioReport): string[] {
  const out = [`scenario: ${r.name} [${r.profile}]`];
  for (const l of r.vmgexits) {
    // A machine-code guest has no steps to attribute VMGEXITs to.
    const step = r.steps.length > 0 ? ` step ${l.step ?? '-'}` : '';
    out.push(`  #${l.index}${step} ${l.event}: ${l.text}`);
  }
  for (const c of r.checks) out.push(`  ${c.ok ? '✓' : '✗'} ${c.message}${c.ok ? '' : `  (${c.path})`}`);
  if (r.stop) out.push(`  stop: ${describeStop(r.stop)}`);
  if (r.serial) out.push(`  serial: ${JSON.stringify(r.serial)}`);
  out.push(r.ok ? 'PASS' : 'FAIL');
  return out;
}
