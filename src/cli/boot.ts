/**
 * `sevbox boot ovmf`: boot real firmware as an SEV-ES guest of the model, printing its console live
 * (serial on stdout, the debug console's lines prefixed), a progress line on a terminal, and a
 * summary: the milestones with their cost, VMGEXITs by type, exits to userspace.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync } from 'node:zlib';
import cliProgress from 'cli-progress';
import {
  formatBytes,
  formatInputFileError,
  IMAGE_FILE_LIMIT,
  isInputFileError,
  readInputFile,
} from '../scenario/input-file.js';
import type { SevProfileName } from '../sev/profiles.js';
import { isVmmError } from '../vmm/errors.js';
import { bootOvmf, OVMF_MILESTONES, type OvmfBootResult, type OvmfMilestone } from '../vmm/ovmf-boot.js';

/**
 * The Debian OVMF the repository ships (test/fixtures/ovmf, with its provenance), found from this
 * module in the source tree (src/cli) or in the bundle (dist/).
 */
export const SHIPPED_OVMF: URL = ((): URL => {
  const candidates = ['../../test/fixtures/ovmf/OVMF.fd.br', '../test/fixtures/ovmf/OVMF.fd.br'].map(
    (rel) => new URL(rel, import.meta.url),
  );
  return candidates.find((u) => existsSync(u)) ?? candidates[0]!;
})();

export interface BootCommandOptions {
  /** An OVMF.fd (raw, or Brotli-compressed when it ends in .br); default the shipped one. */
  readonly firmware?: string;
  readonly maxRuns?: number;
  readonly until?: OvmfMilestone;
  readonly ramMib?: number;
  readonly json?: boolean;
  /** The kernel profile (default current). */
  readonly profile?: SevProfileName;
  /** Enable sevbox's VMGEXIT fault-info and restart capabilities. */
  readonly restart?: boolean;
  /** Unmap the host page under the firmware's GHCB at this exit to userspace. */
  readonly unmapGhcbAt?: number;
  /** What the VMM does on EFAULT: stop (default), rerun (naively, 3 times), resolve (remap the page). */
  readonly efault?: 'stop' | 'rerun' | 'resolve';
}

/**
 * Read a firmware image, a regular file of at most IMAGE_FILE_LIMIT bytes; .br files are
 * Brotli-decompressed, to at most IMAGE_FILE_LIMIT bytes too. A message on failure.
 */
export async function readFirmware(path: string | URL): Promise<Uint8Array | string> {
  const raw = readInputFile(path, { limit: IMAGE_FILE_LIMIT, what: 'firmware image' });
  if (isInputFileError(raw)) return `cannot read firmware: ${formatInputFileError(raw)}`;
  if (!String(path).endsWith('.br')) return raw;
  try {
    return new Uint8Array(brotliDecompressSync(raw, { maxOutputLength: IMAGE_FILE_LIMIT }));
  } catch (e) {
    const why =
      (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
        ? `it decompresses to more than ${formatBytes(IMAGE_FILE_LIMIT)}, the most a firmware image may hold`
        : `not Brotli-compressed (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
    return `cannot read firmware: ${typeof path === 'string' ? path : fileURLToPath(path)}: ${why}`;
  }
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/** The summary's lines. */
export function formatBootSummary(r: OvmfBootResult, until: OvmfMilestone): string[] {
  const lines = [
    `stop: ${r.stop.kind === 'milestone' ? `reached ${r.stop.milestone}` : JSON.stringify(r.stop)}`,
    `${fmt(r.kvmRuns)} KVM_RUNs, ${fmt(r.instructions)} guest instructions, ${fmt(r.vmgexits)} VMGEXITs, ${fmt(r.exits)} exits to userspace in ${(r.ms / 1000).toFixed(1)} s (${fmt(Math.round(r.instructions / (r.ms / 1000)))} instructions/s)`,
    'milestones:',
  ];
  for (const m of OVMF_MILESTONES) {
    const got = r.milestones.find((x) => x.milestone === m);
    lines.push(
      got
        ? `  ${m.padEnd(4)} after ${fmt(got.kvmRuns)} KVM_RUNs, ${fmt(got.instructions)} instructions, ${(got.ms / 1000).toFixed(2)} s`
        : `  ${m.padEnd(4)} not reached`,
    );
    if (m === until) break;
  }
  const top = (rec: Readonly<Record<string, number>>, n: number): string =>
    Object.entries(rec)
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(', ');
  lines.push(`VMGEXITs by type: ${top(r.vmgexitsByType, 12)}`);
  lines.push(`exits to userspace: ${top(r.exitsByKind, 12)}`);
  const irqs = r.irqs.map((n, i) => (n ? `IRQ${i} ${fmt(n)}` : '')).filter(Boolean);
  if (irqs.length) lines.push(`8259 interrupts: ${irqs.join(', ')}`);
  const u = r.unmappedGhcb;
  if (u)
    lines.push(
      `the VMM unmapped the GHCB's page 0x${u.gpa.toString(16)} at exit ${fmt(u.atExit)}${u.error ? ` (failed: ${u.error})` : ''}`,
    );
  for (const x of r.retried)
    lines.push(
      `KVM_RUN failed with ${x.errno}${x.diagnosis ? `: ${x.diagnosis.text}` : ''}; ${'resolved' in x && x.resolved ? `fixed (${x.resolved}) and ran again` : 'ran again as it was'}`,
    );
  if (r.stop.kind === 'kvm-error') {
    const st = r.stop;
    lines.push(
      `the VMM stopped: KVM_RUN failed with ${st.errno}${st.diagnosis ? `: ${st.diagnosis.text}` : ''}${st.unresolved ? ` (${st.unresolved})` : ''}`,
    );
  }
  return lines;
}

/** Run the command; returns the exit status (0: the milestone was reached, 1: not, 2: bad input). */
export async function bootCommand(o: BootCommandOptions): Promise<number> {
  const firmware = await readFirmware(o.firmware ?? SHIPPED_OVMF);
  if (typeof firmware === 'string') {
    process.stderr.write(`sevbox: ${firmware}\n`);
    return 2;
  }
  const until = o.until ?? 'bds';
  const tty = process.stderr.isTTY === true && !o.json;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format:
            'boot [{bar}] {value}/{total} KVM_RUNs | {insns} instructions | {vmgexits} VMGEXITs ({types}) | {exits} exits | {milestones}',
          hideCursor: true,
          stream: process.stderr,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const maxKvmRuns = o.maxRuns ?? 200_000;
  bar?.start(maxKvmRuns, 0, { insns: 0, vmgexits: 0, types: '', exits: 0, milestones: '' });
  // Console output goes above the progress line.
  const print = (s: string): void => {
    if (o.json) return;
    if (bar) process.stderr.write('\r\x1b[K');
    process.stdout.write(s);
  };
  const r = bootOvmf({
    firmware,
    maxKvmRuns,
    until,
    ...(o.ramMib ? { ramBytes: o.ramMib << 20 } : {}),
    ...(o.profile || o.restart
      ? {
          machine: {
            sev: {
              profile: o.profile ?? 'current',
              ...(o.restart ? { capabilities: ['vmgexit-fault-info', 'vmgexit-restart'] as const } : {}),
            },
          },
        }
      : {}),
    ...(o.unmapGhcbAt !== undefined ? { unmapGhcbAtExit: o.unmapGhcbAt } : {}),
    ...(o.efault && o.efault !== 'stop'
      ? {
          policies: {
            enomem: { action: 'stop' },
            efault:
              o.efault === 'rerun'
                ? { action: 'rerun', maxRetries: 3 }
                : { action: 'resolve', resolvers: ['remap'], maxRetries: 3 },
          },
        }
      : {}),
    onSerial: print,
    onDebugLine: (line) => print(`[debugcon] ${line}\n`),
    onProgress: (p) =>
      bar?.update(p.kvmRuns, {
        insns: fmt(p.instructions),
        vmgexits: fmt(p.vmgexits),
        // The three commonest, short names (SVM_EXIT_IOIO → IOIO).
        types: Object.entries(p.vmgexitsByType)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([k, v]) => `${k.replace(/^SVM_(VMGEXIT_|EXIT_)|^GHCB_MSR_/, '')} ${fmt(v)}`)
          .join(', '),
        exits: fmt(p.exits),
        milestones: p.milestones.map((m) => m.milestone).join(' → '),
      }),
  });
  bar?.stop();
  if (isVmmError(r)) {
    process.stderr.write(`sevbox: ${r.errno}: ${r.message}\n`);
    return 2;
  }
  if (o.json) {
    const { serial, debugLog, ...rest } = r;
    process.stdout.write(`${JSON.stringify({ ...rest, serial, debugLog })}\n`);
  } else process.stdout.write(`\n${formatBootSummary(r, until).join('\n')}\n`);
  return r.milestones.some((m) => m.milestone === until) ? 0 : 1;
}
