/**
 * `sevbox demo`, second table: beyond KVM. The same MMIO-reading SEV-ES guest (current kernel, GHCB
 * v1) meets host situations a VMM can fix — a page not yet migrated post-copy, a virtiofs DAX file
 * truncated, a GPA the VMM decides is RAM after all, an hva it unmapped, an allocation budget it can
 * raise — under three ABIs: plain KVM with a VMM that stops, plain KVM with a VMM that fixes the
 * cause and re-runs, and sevbox's KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO + _RESTART. Run through the VMM
 * and scenario files, so what the table shows is what `sevbox run` would.
 */

import { formatScenarioError, isScenarioError } from '../scenario/errors.js';
import { parseScenario } from '../scenario/load.js';
import { runScenario, type ScenarioReport } from '../scenario/run.js';

/** One situation of the second table. */
export interface RestartDemoCase {
  readonly title: string;
  /** Extra RAM regions (YAML list items). */
  readonly ram: string;
  readonly scratch: string;
  /** Host actions before the step (YAML). */
  readonly host?: string;
  readonly budget?: number;
  /** The resolver (EFAULT) or raise-budget (ENOMEM). */
  readonly fix: { readonly efault: string } | { readonly enomem: true };
}

/** The situations. */
export const RESTART_DEMO_CASES: readonly RestartDemoCase[] = [
  {
    title: 'post-copy: scratch page not yet migrated',
    ram: '- { name: migrating, gpa: 0x10000, size: 0x4000, backing: lazy, source: { bytes: [{ offset: 0x2000, hex: "6d696772" }] } }',
    scratch: '0x12000',
    fix: { efault: 'populate-missing' },
  },
  {
    title: 'virtiofs DAX: file truncated under it',
    ram: '- { name: dax, gpa: 0x10000, size: 0x4000, backing: file, file: dax }',
    scratch: '0x12000',
    host: 'host: [{ truncate: { file: dax, size: 0x1000 } }]',
    fix: { efault: 'extend-file' },
  },
  {
    title: 'scratch GPA without a memslot',
    ram: '',
    scratch: '0x20000000',
    fix: { efault: 'add-memslot' },
  },
  {
    title: 'scratch hva unmapped by the VMM',
    ram: '- { name: spare, gpa: 0x10000, size: 0x4000 }',
    scratch: '0x12000',
    host: 'host: [{ unmap: { gpa: 0x12000, size: 0x1000 } }]',
    fix: { efault: 'remap' },
  },
  {
    title: 'bounce buffer allocation fails',
    ram: '',
    scratch: '0x4000',
    budget: 0,
    fix: { enomem: true },
  },
];

/** The three ABIs / VMMs of the columns. */
export type RestartDemoColumn = 'stop' | 'fix-rerun' | 'restart';

function scenarioText(c: RestartDemoCase, col: RestartDemoColumn): string {
  const caps = col === 'restart' ? ', capabilities: [vmgexit-fault-info, vmgexit-restart]' : '';
  const policy =
    col === 'stop'
      ? 'efault: stop, enomem: stop'
      : 'efault' in c.fix
        ? `efault: { action: resolve, resolvers: [${c.fix.efault}], maxRetries: 4 }`
        : 'enomem: { action: raise-budget, maxRetries: 4 }';
  return `name: ${JSON.stringify(`${c.title} (${col})`)}
profile: current
machine:
  ram:
    - { name: ram, gpa: 0, size: 0x10000 }
    ${c.ram}
  mmio: [{ name: device, kind: register, gpa: 0xfed00000, size: 0x1000, value: 0xdeadbeef }]
  sev: { ghcbVersion: 1${caps} }
${c.budget !== undefined ? `host: { budget: ${c.budget} }` : ''}
policies: { ${policy} }
guest:
  steps:
    - mmio-read: { gpa: 0xfed00000, len: 4, scratch: ${c.scratch} }
      ${c.host ?? ''}
`;
}

/** What one cell shows. */
export interface RestartDemoResult {
  readonly kvm: string;
  readonly guest: string;
  readonly leakedBytes: number;
}

function describeKvm(r: ScenarioReport): string {
  const failed = r.stop?.kind === 'kvm-error' ? r.stop.errno : undefined;
  const first = r.vmgexits[0];
  if (failed) return `KVM_RUN failed: ${failed}, VMM stops`;
  if (!first) return 'nothing';
  if (first.outcome.kind === 'error')
    return `KVM_RUN failed: ${first.outcome.errno === 12 ? 'ENOMEM' : 'EFAULT'}, VMM fixes`;
  return `restarted → ${first.text.replace('exit to userspace (', '').replace(')', '')}`;
}

function describeGuest(r: ScenarioReport): string {
  const step = r.steps[0];
  if (!step?.finished || !step.result) return 'did not resume';
  if (step.result.kind !== 'ok') return `error ${step.result.kind}`;
  const data = step.values['data'];
  if (!(data instanceof Uint8Array)) return 'ok, no data';
  const hex = [...data].map((b) => b.toString(16).padStart(2, '0')).join('');
  return hex === 'efbeadde' ? `ok, read ${hex}` : `ok, but read ${hex} (lost)`;
}

/** Run one case in one column. */
export function runRestartDemoCase(c: RestartDemoCase, col: RestartDemoColumn): RestartDemoResult {
  const s = parseScenario(scenarioText(c, col), `${c.title}.yaml`);
  if (isScenarioError(s)) throw new Error(formatScenarioError(s));
  const r = runScenario(s.scenario);
  return { kvm: describeKvm(r), guest: describeGuest(r), leakedBytes: r.leakedBytes };
}

/** The second table as text lines (no trailing blanks). */
export function restartDemoReport(bold: (s: string) => string, dim: (s: string) => string): string[] {
  const lines: string[] = [];
  lines.push(bold('beyond KVM: restartable VMGEXIT (sevbox extension, not Linux) — current kernel, GHCB v1'));
  lines.push(
    dim(
      'Host situations the VMM can fix. plain KVM: bare EFAULT/ENOMEM; the VMM stops, or fixes (from its own diagnosis) and re-runs.',
    ),
  );
  lines.push(
    dim(
      'sevbox: KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO (KVM_EXIT_MEMORY_FAULT with gpa, size, cause) + _RESTART (the same VMGEXIT again).',
    ),
  );
  lines.push('');
  const cols: readonly RestartDemoColumn[] = ['stop', 'fix-rerun', 'restart'];
  const heads = ['plain KVM, VMM stops', 'plain KVM, VMM fixes + re-runs', 'sevbox: fault info + restart'];
  const w0 = Math.max(...RESTART_DEMO_CASES.map((c) => c.title.length)) + 2;
  const w = 36;
  lines.push(bold(`${'situation'.padEnd(w0)}${heads.map((h) => h.padEnd(w)).join('')}`));
  let leaked = 0;
  for (const c of RESTART_DEMO_CASES) {
    const rs = cols.map((col) => runRestartDemoCase(c, col));
    for (const r of rs) leaked += r.leakedBytes;
    lines.push(`${c.title.padEnd(w0)}${rs.map((r) => r.kvm.padEnd(w)).join('')}`);
    lines.push(dim(`${'  guest then saw'.padEnd(w0)}${rs.map((r) => r.guest.padEnd(w)).join('')}`));
  }
  lines.push('');
  lines.push(
    'Fixing the cause is not enough under plain KVM: the failed VMGEXIT is gone and the guest reads success',
  );
  lines.push(
    'with no data. With restart, KVM processes the same request again and the guest never sees the fault.',
  );
  lines.push(`Kernel bytes leaked: ${leaked}`);
  return lines.map((l) => l.trimEnd());
}
