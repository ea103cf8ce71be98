/**
 * Checks a scenario that fits the schema but cannot mean anything: overlapping RAM, a GHCB outside
 * RAM, a step that truncates a file the machine does not have, a GHCB-only step on an unprotected
 * VM. Each problem is an issue with its path in the document (positions are added by the loader).
 */
import type { PathIssue } from './errors.js';
import { type ImageGuest, isStepsScenario, type Scenario, type StepsScenario } from './schema.js';
import { SEV_ONLY_VERBS } from './steps.js';
import type { HostAction } from './vmm-actions.js';

const PAGE = 4096;
const hex = (n: number): string => `0x${n.toString(16)}`;

interface Range {
  readonly lo: number;
  readonly hi: number;
}

function overlaps(a: Range, b: Range): boolean {
  return a.lo < b.hi && b.lo < a.hi;
}

/** The name of the file behind a file-backed region, as the VMM derives it. */
function fileNameOf(r: Scenario['machine']['ram'][number], slot: number): string {
  return r.file ?? r.name ?? `ram${slot}`;
}

/** Semantic checks on a parsed scenario; an empty list when it makes sense. */
export function validate(s: Scenario): PathIssue[] {
  const out: PathIssue[] = [];
  const ram = s.machine.ram.map((r) => ({ lo: r.gpa, hi: r.gpa + r.size }));
  const inRam = (lo: number, len: number): boolean =>
    ram.some((r) => lo >= r.lo && lo + Math.max(len, 1) <= r.hi);

  s.machine.ram.forEach((r, i) => {
    if (r.gpa % PAGE !== 0)
      out.push({
        path: ['machine', 'ram', i, 'gpa'],
        message: `expected a page-aligned GPA, got ${hex(r.gpa)}`,
      });
    if (r.size === 0 || r.size % PAGE !== 0)
      out.push({
        path: ['machine', 'ram', i, 'size'],
        message: `expected a positive multiple of 4096, got ${hex(r.size)}`,
      });
    if (r.file !== undefined && r.backing !== 'file')
      out.push({ path: ['machine', 'ram', i, 'file'], message: 'a file is only used with backing: file' });
    for (let j = 0; j < i; j++) {
      if (overlaps(ram[i]!, ram[j]!))
        out.push({
          path: ['machine', 'ram', i],
          message: `expected RAM regions not to overlap; this one overlaps machine.ram[${j}]`,
        });
    }
  });
  s.machine.mmio.forEach((m, i) => {
    const r = { lo: m.gpa, hi: m.gpa + m.size };
    if (m.size === 0) out.push({ path: ['machine', 'mmio', i, 'size'], message: 'expected a non-zero size' });
    ram.forEach((q, j) => {
      if (overlaps(r, q))
        out.push({
          path: ['machine', 'mmio', i],
          message: `expected MMIO outside RAM; this device overlaps machine.ram[${j}]`,
        });
    });
  });

  const files = new Set<string>();
  s.machine.ram.forEach((r, i) => {
    if (r.backing === 'file') files.add(fileNameOf(r, i));
  });

  const sev = s.machine.sev !== false;
  const machine: MachineFacts = {
    inRam,
    files,
    ramNames: new Set(s.machine.ram.flatMap((r) => (r.name !== undefined ? [r.name] : []))),
    vcpus: s.machine.vcpus,
  };
  if (isStepsScenario(s)) out.push(...validateSteps(s, sev, machine));
  else out.push(...validateImage(s.guest as ImageGuest, s, sev, machine));
  s.vmm.forEach((v, i) => {
    v.do.forEach((a, k) => {
      const why = checkHostAction(a, machine);
      if (why) out.push({ path: ['vmm', i, 'do', k, ...why.path], message: why.message });
    });
  });

  s.expect.memory?.forEach((m, i) => {
    if (!inRam(m.gpa, m.hex.length))
      out.push({
        path: ['expect', 'memory', i, 'gpa'],
        message: `expected a range inside guest RAM, got ${hex(m.gpa)}`,
      });
  });
  if (!sev && s.expect.stop?.kind === 'sev-termination')
    out.push({
      path: ['expect', 'stop'],
      message: 'sev-termination needs an SEV-ES machine (machine.sev is false)',
    });

  return out;
}

/**
 * The checks of a guest of steps, for each vCPU's program: its GHCB page, verbs the machine allows,
 * host actions; and a schedule that names vCPUs with programs.
 */
function validateSteps(s: StepsScenario, sev: boolean, machine: MachineFacts): PathIssue[] {
  const { inRam } = machine;
  const out: PathIssue[] = [];
  const programs = s.guest.vcpus;
  programs.forEach((p, v) => {
    const base: (string | number)[] = s.guest.single ? ['guest'] : ['guest', 'vcpus', v];
    if (sev && (p.ghcb % PAGE !== 0 || !inRam(p.ghcb, PAGE))) {
      out.push({
        path: [...base, 'ghcb'],
        message: `expected a page-aligned GPA of a page inside guest RAM, got ${hex(p.ghcb)} (a hostile GHCB MSR value belongs in a raw step's ghcbMsr)`,
      });
    }
    p.steps.forEach((st, i) => {
      const at: (string | number)[] = [...base, 'steps', i];
      if (!sev && SEV_ONLY_VERBS.has(st.verb))
        out.push({
          path: [...at, st.verb],
          message: `${st.verb} needs an SEV-ES machine (machine.sev is false)`,
        });
      st.host?.forEach((a, k) => {
        const why = checkHostAction(a, machine);
        if (why) out.push({ path: [...at, 'host', k, ...why.path], message: why.message });
      });
    });
  });
  s.guest.schedule.forEach((item, i) => {
    if (item.vcpu >= programs.length)
      out.push({
        path: ['guest', 'schedule', i, 'vcpu'],
        message: `expected a vCPU with a program (0 to ${programs.length - 1}), got ${item.vcpu}`,
      });
  });
  return out;
}

/** The checks of a machine-code guest: an SEV-ES vCPU starts at RESET (its registers are the VMSA's). */
function validateImage(g: ImageGuest, s: Scenario, sev: boolean, machine: MachineFacts): PathIssue[] {
  const out: PathIssue[] = [];
  if (sev && g.entry.mode !== 'reset')
    out.push({
      path: ['guest', 'entry'],
      message: `an SEV-ES guest starts at the reset vector (KVM keeps its registers in the VMSA, out of the VMM's reach), got entry mode ${g.entry.mode}`,
    });
  if (g.entry.mode !== 'reset' && g.entry.rsp !== undefined && g.entry.regs?.rsp !== undefined)
    out.push({
      path: ['guest', 'entry', 'regs', 'rsp'],
      message: 'RSP is given twice: as entry.rsp and in entry.regs',
    });
  g.halts.forEach((h, i) => {
    h.host.forEach((a, k) => {
      const why = checkHostAction(a, machine);
      if (why) out.push({ path: ['guest', 'halts', i, 'host', k, ...why.path], message: why.message });
    });
  });
  if (s.machine.vcpus !== 1)
    out.push({
      path: ['machine', 'vcpus'],
      message: `a machine-code guest runs on one vCPU, got ${s.machine.vcpus}`,
    });
  return out;
}

/** What host actions are checked against: the machine's RAM, files, RAM region names, vCPUs. */
interface MachineFacts {
  readonly inRam: (lo: number, len: number) => boolean;
  readonly files: ReadonlySet<string>;
  readonly ramNames: ReadonlySet<string>;
  readonly vcpus: number;
}

/** A host action that cannot take effect on this machine: where in the action, and why. */
function checkHostAction(
  a: HostAction,
  { inRam, files, ramNames, vcpus }: MachineFacts,
): { path: string[]; message: string } | undefined {
  if (a.key === 'truncate' && !files.has(a.value.file))
    return {
      path: ['truncate', 'file'],
      message: `expected the file of a RAM region with backing: file (${files.size ? [...files].join(', ') : 'the machine has none'}), got "${a.value.file}"`,
    };
  if (a.key === 'unmap' && !inRam(a.value.gpa, a.value.size))
    return {
      path: ['unmap'],
      message: `expected a range inside guest RAM, got ${hex(a.value.gpa)} + ${hex(a.value.size)}`,
    };
  if (a.key === 'set-memory-region' && a.value.ram !== undefined && !ramNames.has(a.value.ram))
    return {
      path: ['set-memory-region', 'ram'],
      message: `expected the name of a RAM region (${ramNames.size ? [...ramNames].join(', ') : 'the machine names none'}), got "${a.value.ram}"`,
    };
  if (a.key === 'immediate-exit' && a.value.vcpu >= vcpus)
    return {
      path: ['immediate-exit', 'vcpu'],
      message: `expected a vCPU of the machine (it has ${vcpus}), got ${a.value.vcpu}`,
    };
  if (a.key === 'populate' && !inRam(a.value.gpa, a.value.hex.length))
    return {
      path: ['populate', 'gpa'],
      message: `expected a range inside guest RAM, got ${hex(a.value.gpa)}`,
    };
  return undefined;
}
