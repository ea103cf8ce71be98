/**
 * `sevbox demo`: the seed commit's story, told by running it. The same guest — an MMIO read through
 * the GHCB — meets six host situations, under the kernel before the seed commit (`prefix`) and at it
 * (`seed`), and the table shows what KVM did and what the guest saw. `--json`: the same runs as
 * one JSON document ({@link demoJson}).
 */
import { GhcbClient } from '../guest/ghcb-client.js';
import type { GhcbResult } from '../guest/result.js';
import { describeReasons, type VmgexitOutcome } from '../trace/outcome.js';
import { errnoName } from '../uapi/errno.js';
import { GHCB_OFF_SW_SCRATCH, ghcbErrName } from '../uapi/ghcb.js';
import { SVM_VMGEXIT_MMIO_READ } from '../uapi/svm.js';
import { isVmmError } from '../vmm/errors.js';
import { Vmm } from '../vmm/vmm.js';
import {
  RESTART_DEMO_CASES,
  type RestartDemoColumn,
  type RestartDemoResult,
  restartDemoReport,
  runRestartDemoCase,
} from './demo-restart.js';

const RAM_SIZE = 0x10_0000;
const GHCB_GPA = 0x1000;
const DEVICE_GPA = 0xfed0_0000;
const DEVICE_VALUE = [0xef, 0xbe, 0xad, 0xde];

/** One situation of the demo. */
export interface DemoCase {
  readonly title: string;
  /** Guest physical address of the scratch area the guest names in sw_scratch. */
  readonly scratchGpa: number;
  /** Host allocator budget in bytes (0: every bounce-buffer allocation fails). */
  readonly budget?: number;
  /** The VMM unmaps the host page behind this GPA before the guest runs. */
  readonly unmapGpa?: number;
}

/** The six situations of the seed commit message. */
export const DEMO_CASES: readonly DemoCase[] = [
  { title: 'scratch in the GHCB shared buffer', scratchGpa: GHCB_GPA + 0x800 },
  { title: 'scratch outside the GHCB (bounce buffer)', scratchGpa: 0x4000 },
  { title: 'invalid scratch (GHCB save area)', scratchGpa: GHCB_GPA + 0x10 },
  { title: 'bounce buffer allocation fails', scratchGpa: 0x4000, budget: 0 },
  { title: 'scratch GPA without a memslot', scratchGpa: 0x2000_0000 },
  { title: 'scratch hva unmapped by the VMM', scratchGpa: 0x8000, unmapGpa: 0x8000 },
];

/** What happened in one run of a case. */
export interface DemoResult {
  readonly kvm: string;
  readonly guest: string;
  readonly leakedBytes: number;
}

function describeOutcome(o: VmgexitOutcome | undefined): string {
  if (!o) return 'nothing';
  switch (o.kind) {
    case 'handled':
      return 'handled in the kernel';
    case 'ignored':
      return 'ignored';
    case 'reflected':
      return `reflected ${ghcbErrName(o.error).replace('GHCB_ERR_', '')}`;
    case 'userspace':
      return describeReasons(o.reasons);
    case 'error':
      return `KVM_RUN failed: ${errnoName(o.errno)}`;
    case 'oops':
      return `host kernel crashed: ${o.message}`;
    default: {
      const never: never = o;
      return String(never);
    }
  }
}

/** What the guest saw: the GHCB result, and on success the bytes it then found in its scratch area. */
interface GuestView {
  readonly result: GhcbResult;
  /** undefined when the scratch area could not be read as RAM. */
  readonly data: Uint8Array | undefined;
}

function describeGuest(seen: GuestView | undefined): string {
  if (!seen) return 'did not resume';
  const r = seen.result;
  switch (r.kind) {
    case 'ok': {
      if (!seen.data) return 'ok, but its scratch is not readable RAM';
      const hex = [...seen.data].map((b) => b.toString(16).padStart(2, '0')).join('');
      return seen.data.every((b, i) => b === DEVICE_VALUE[i])
        ? `ok, read ${hex}`
        : `ok, but read ${hex} (lost)`;
    }
    case 'reflected':
      return `error ${ghcbErrName(r.error).replace('GHCB_ERR_', '')}`;
    case 'exception':
      return `exception ${r.vector}`;
    default:
      return 'VMM error';
  }
}

/**
 * Run one case under one profile. The VMM answers MMIO reads at DEVICE_GPA with DEVICE_VALUE and,
 * when KVM_RUN fails, simply runs the vCPU again — the naive VMM that shows what the guest sees.
 */
export function runDemoCase(c: DemoCase, profile: 'prefix' | 'seed' | 'current'): DemoResult {
  const vmm = Vmm.create({
    ram: [{ name: 'ram', gpa: 0, size: RAM_SIZE }],
    mmio: [{ name: 'device', kind: 'register', gpa: DEVICE_GPA, size: 0x1000, value: 0xdead_beefn }],
    serial: false,
    debugExitPort: false,
    sev: { profile, ghcbVersion: 1 },
    host: c.budget !== undefined ? { budget: c.budget } : {},
  });
  if (isVmmError(vmm)) throw new Error(`demo machine: ${vmm.errno}: ${vmm.message}`);
  let seen: GuestView | undefined;
  const v = vmm.addVcpu(function* (cpu) {
    const ghcb = new GhcbClient(cpu, GHCB_GPA);
    ghcb.register();
    const result = yield* ghcb.vmgexit(SVM_VMGEXIT_MMIO_READ, BigInt(DEVICE_GPA), 4n, [
      [GHCB_OFF_SW_SCRATCH, BigInt(c.scratchGpa)],
    ]);
    // As a guest kernel does: look at the data only when the hypervisor said it succeeded.
    let data: Uint8Array | undefined;
    if (result.kind === 'ok') {
      data = new Uint8Array(4);
      if (cpu.mem.read(c.scratchGpa, data) !== 0) data = undefined;
    }
    seen = { result, data };
  });
  if (isVmmError(v)) throw new Error(`demo vCPU: ${v.errno}: ${v.message}`);
  if (c.unmapGpa !== undefined) vmm.unmapGpa(c.unmapGpa, 0x1000);
  // The naive VMM: whatever KVM_RUN fails with, run the vCPU again.
  const r = vmm.run({
    policies: { enomem: { action: 'rerun', maxRetries: 8 }, efault: { action: 'rerun', maxRetries: 8 } },
    maxKvmRuns: 8,
  });
  vmm.destroy();
  return {
    kvm: describeOutcome(r.vmgexits[0]?.outcome),
    guest: describeGuest(seen),
    leakedBytes: vmm.allocator?.inUse() ?? 0,
  };
}

/** The demo as text lines. */
export function demoReport(color: boolean): string[] {
  const bold = (s: string): string => (color ? `\x1b[1m${s}\x1b[0m` : s);
  const dim = (s: string): string => (color ? `\x1b[2m${s}\x1b[0m` : s);
  const lines: string[] = [];
  lines.push(
    bold('sevbox demo — Linux aa9f58415a8e "KVM: SVM: Exit to userspace on ENOMEM/EFAULT GHCB errors"'),
  );
  lines.push(
    dim(
      `An SEV-ES guest reads 4 bytes of MMIO at 0x${DEVICE_GPA.toString(16)} through its GHCB; the VMM answers deadbeef (little-endian efbeadde)`,
    ),
  );
  lines.push(
    dim(
      'and, when KVM_RUN fails, simply runs the vCPU again. prefix = the kernel before the commit, seed = at it.',
    ),
  );
  lines.push('');
  const w0 = Math.max(...DEMO_CASES.map((c) => c.title.length)) + 2;
  const w1 = 36;
  lines.push(bold(`${'situation'.padEnd(w0)}${'prefix: KVM'.padEnd(w1)}${'seed: KVM'.padEnd(w1)}`));
  const results = DEMO_CASES.map((c) => ({
    c,
    prefix: runDemoCase(c, 'prefix'),
    seed: runDemoCase(c, 'seed'),
  }));
  for (const { c, prefix, seed } of results) {
    lines.push(`${c.title.padEnd(w0)}${prefix.kvm.padEnd(w1)}${seed.kvm.padEnd(w1)}`);
    lines.push(dim(`${'  guest then saw'.padEnd(w0)}${prefix.guest.padEnd(w1)}${seed.guest.padEnd(w1)}`));
  }
  const leaked = results.reduce((n, r) => n + r.prefix.leakedBytes + r.seed.leakedBytes, 0);
  lines.push('');
  lines.push(
    'prefix blames the guest for host failures (ENOMEM, a GPA userspace never declared RAM, an hva userspace unmapped);',
  );
  lines.push(
    'seed hands them to userspace, which decides. A VMM that just re-runs makes the guest read success with',
  );
  lines.push(
    'no data: the VMGEXIT is not retried (../shared/spec/vmgexit.md section 6). Kernel bytes leaked: ' +
      leaked,
  );
  lines.push('');
  lines.push(...restartDemoReport(bold, dim));
  return lines.map((l) => l.trimEnd());
}

/** `sevbox demo --json`: both tables as values, a row per situation, a cell per column. */
export interface DemoJson {
  readonly cases: readonly (DemoCase & { readonly prefix: DemoResult; readonly seed: DemoResult })[];
  readonly restart: readonly ({ readonly title: string } & Record<RestartDemoColumn, RestartDemoResult>)[];
  /** Kernel bytes leaked over every run of both tables. */
  readonly leakedBytes: number;
}

/** Run both tables' situations and give what they did as values. */
export function demoJson(): DemoJson {
  const cases = DEMO_CASES.map((c) => ({
    ...c,
    prefix: runDemoCase(c, 'prefix'),
    seed: runDemoCase(c, 'seed'),
  }));
  const restart = RESTART_DEMO_CASES.map((c) => ({
    title: c.title,
    stop: runRestartDemoCase(c, 'stop'),
    'fix-rerun': runRestartDemoCase(c, 'fix-rerun'),
    restart: runRestartDemoCase(c, 'restart'),
  }));
  const leakedBytes =
    cases.reduce((n, c) => n + c.prefix.leakedBytes + c.seed.leakedBytes, 0) +
    restart.reduce((n, r) => n + r.stop.leakedBytes + r['fix-rerun'].leakedBytes + r.restart.leakedBytes, 0);
  return { cases, restart, leakedBytes };
}
