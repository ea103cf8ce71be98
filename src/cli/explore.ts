/**
 * `sevbox explore FILE…`: record runs for the explorer (src/explore) and show them in a browser.
 * A FILE is a scenario (run and recorded, GHCB pages included), a trace in JSON lines (`sevbox trace
 * --format jsonl`: replayed, no GHCB pages) or `ovmf` (the shipped firmware booted as an SEV-ES
 * guest). The page is served on 127.0.0.1 only, and its URL printed; `--export out.html` writes
 * one self-contained file instead. `--json`: what was recorded and where it went as one JSON
 * document ({@link ExploreJson}) instead of the text line.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import { compareTraces } from '../explore/compare.js';
import { memslotsOf } from '../explore/memory.js';
import type { ExploreComparison, ExploreTrace } from '../explore/model.js';
import { explorerHtml } from '../explore/page.js';
import { recordEvents, TraceRecorder } from '../explore/record.js';
import { recordScenario } from '../explore/scenario.js';
import { formatScenarioError, isScenarioError } from '../scenario/errors.js';
import {
  formatInputFileError,
  isInputFileError,
  readInputText,
  TRACE_FILE_LIMIT,
} from '../scenario/input-file.js';
import { loadScenario } from '../scenario/load.js';
import type { ProfileName, Scenario } from '../scenario/schema.js';
import type { TraceEvent } from '../trace/events.js';
import { traceEventFromJson } from '../trace/format.js';
import { isVmmError } from '../vmm/errors.js';
import { bootOvmf, type OvmfMilestone } from '../vmm/ovmf-boot.js';
import { readFirmware, SHIPPED_OVMF } from './boot.js';

export interface ExploreCommandOptions {
  readonly files: readonly string[];
  readonly profile?: ProfileName;
  readonly export?: string;
  readonly port?: number;
  /** For `ovmf`: where the boot stops (default pei: tens of thousands of events already). */
  readonly until?: OvmfMilestone;
  /** Side by side: the scenario again under this profile. */
  readonly compareProfile?: ProfileName;
  /** Side by side: the scenario again with sevbox's restart capabilities toggled. */
  readonly compareRestart?: boolean;
  /** Print what was recorded as one JSON document instead of text. */
  readonly json?: boolean;
}

/** `sevbox explore --json`: the recorded runs, and where the page went. */
export interface ExploreJson {
  /** The file written (--export), or null when serving. */
  readonly export: string | null;
  /** The page's URL while serving, or null with --export. */
  readonly url: string | null;
  readonly traces: readonly {
    readonly kind: 'scenario' | 'trace' | 'firmware';
    readonly name: string;
    readonly profile: string | null;
    readonly events: number;
    readonly vmgexits: number;
    readonly end: string;
  }[];
  /** With --compare-*: the first VMGEXIT pair where the runs part ways (null: they agree); else null. */
  readonly comparison: { readonly divergence: { readonly pair: number; readonly why: string } | null } | null;
}

/** `s` with sevbox's VMGEXIT fault-info and restart capabilities turned on or off. */
function withRestart(s: Scenario, on: boolean): Scenario {
  if (s.machine.sev === false)
    throw new ExploreInputError('--compare-restart: the scenario has no SEV-ES VM');
  const capabilities = on ? (['vmgexit-fault-info', 'vmgexit-restart'] as const) : [];
  return { ...s, machine: { ...s.machine, sev: { ...s.machine.sev, capabilities: [...capabilities] } } };
}

/** A scenario file's scenario; a bad one is an input error with the loader's message (file, line, path). */
async function scenarioOf(file: string): Promise<Scenario> {
  const loaded = await loadScenario(file);
  if (isScenarioError(loaded)) throw new ExploreInputError(formatScenarioError(loaded));
  return loaded.scenario;
}

/** The scenario run twice as asked, and where the runs part ways. */
async function recordComparison(opts: ExploreCommandOptions): Promise<ExploreComparison> {
  const file = opts.files[0]!;
  if (opts.files.length !== 1 || file === 'ovmf' || file.endsWith('.jsonl'))
    throw new ExploreInputError('a comparison runs one scenario file twice');
  const s = await scenarioOf(file);
  const left = recordScenario(s, opts.profile ? { profile: opts.profile } : {});
  if (opts.compareProfile) return compareTraces(left, recordScenario(s, { profile: opts.compareProfile }));
  const restartOn = s.machine.sev !== false && (s.machine.sev.capabilities ?? []).includes('vmgexit-restart');
  const right = recordScenario(withRestart(s, !restartOn), opts.profile ? { profile: opts.profile } : {});
  const tag = (t: ExploreTrace, on: boolean): ExploreTrace => ({
    ...t,
    source: { ...t.source, name: `${t.source.name} (${on ? 'with' : 'without'} restart)` },
  });
  return compareTraces(tag(left, restartOn), tag(right, !restartOn));
}

/** A bad input: its message names the file and, for a trace, the line. */
export class ExploreInputError extends Error {}

/** The built page (npm run build), from the source tree (src/cli) or the bundle (dist/). */
function pageAssets(): { js: string; css: string } {
  for (const rel of ['../../dist-web/', '../dist-web/']) {
    const dir = new URL(rel, import.meta.url);
    const js = new URL('explorer.js', dir);
    const css = new URL('explorer.css', dir);
    if (existsSync(js) && existsSync(css))
      return { js: readFileSync(js, 'utf8'), css: readFileSync(css, 'utf8') };
  }
  throw new ExploreInputError('the explorer page is not built: run `npm run build` first');
}

/** A trace file of JSON lines (a regular file of at most TRACE_FILE_LIMIT bytes), replayed through the recorder. */
async function recordTraceFile(file: string): Promise<ExploreTrace> {
  const text = readInputText(file, { limit: TRACE_FILE_LIMIT, what: 'trace' });
  if (isInputFileError(text)) throw new ExploreInputError(formatInputFileError(text));
  const events: TraceEvent[] = [];
  for (const [n, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const e = traceEventFromJson(line);
    if (typeof e === 'string') throw new ExploreInputError(`${file}:${n + 1}: ${e}`);
    events.push(e);
  }
  return recordEvents(events, { kind: 'trace', name: basename(file) }, `${events.length} trace events`);
}

/** The shipped OVMF booted as an SEV-ES guest, recorded. */
async function recordOvmf(opts: ExploreCommandOptions): Promise<ExploreTrace> {
  const firmware = await readFirmware(SHIPPED_OVMF);
  if (typeof firmware === 'string') throw new ExploreInputError(firmware);
  const recorder = new TraceRecorder();
  let memslots: ExploreTrace['memslots'];
  const r = bootOvmf({
    firmware,
    until: opts.until ?? 'pei',
    trace: (e) => recorder.add(e),
    debugVc: (e) => recorder.add(e),
    onMachine: (m) =>
      recorder.setReader((gpa, length) => {
        const bytes = new Uint8Array(length);
        return m.vmm.readGpa(gpa, bytes) ? undefined : bytes;
      }),
    atEnd: (m) => {
      memslots = memslotsOf(m.vmm);
    },
    ...(opts.profile ? { machine: { sev: { profile: opts.profile } } } : {}),
  });
  if (isVmmError(r)) throw new ExploreInputError(`ovmf: ${r.message}`);
  const end = r.stop.kind === 'milestone' ? `reached ${r.stop.milestone}` : r.stop.kind;
  return recorder.finish(
    { kind: 'firmware', name: 'OVMF (Debian)', ...(opts.profile ? { profile: opts.profile } : {}) },
    end,
    memslots,
  );
}

/** Record one input. */
export async function recordInput(file: string, opts: ExploreCommandOptions): Promise<ExploreTrace> {
  if (file === 'ovmf') return recordOvmf(opts);
  if (file.endsWith('.jsonl')) return recordTraceFile(file);
  return recordScenario(await scenarioOf(file), opts.profile ? { profile: opts.profile } : {});
}

/** Serve the page and `traces` on 127.0.0.1; resolves with the URL once listening. */
export function serveExplorer(
  traces: readonly ExploreTrace[],
  port = 0,
  comparison?: ExploreComparison,
): Promise<{ url: string; server: http.Server }> {
  const { js, css } = pageAssets();
  const page = explorerHtml({ js, css });
  const bodies = traces.map((t) => JSON.stringify(t));
  const compareBody = comparison ? JSON.stringify(comparison) : undefined;
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const m = /^\/trace(?:-(\d+))?\.json$/.exec(path);
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
    } else if (path === '/compare.json' && compareBody !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(compareBody);
    } else if (m && bodies[m[1] ? Number(m[1]) : 0] !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(bodies[m[1] ? Number(m[1]) : 0]);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const a = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${a.port}/`, server });
    });
  });
}

/** Record, then export or serve; the exit status (serving never returns until interrupted). */
export async function exploreCommand(opts: ExploreCommandOptions): Promise<number> {
  const comparison = opts.compareProfile || opts.compareRestart ? await recordComparison(opts) : undefined;
  const traces: ExploreTrace[] = comparison ? [comparison.left, comparison.right] : [];
  if (!comparison) for (const f of opts.files) traces.push(await recordInput(f, opts));
  const counts = [
    ...traces.map(
      (t) =>
        `${t.source.name}${t.source.profile ? ` [${t.source.profile}]` : ''}: ${t.events.length} events, ${t.end}`,
    ),
    ...(comparison
      ? [
          comparison.divergence
            ? `they part ways at VMGEXIT pair ${comparison.divergence.pair}: ${comparison.divergence.why}`
            : 'the runs agree',
        ]
      : []),
  ].join('; ');
  const json = (where: { export: string } | { url: string }): string =>
    `${JSON.stringify({
      export: 'export' in where ? where.export : null,
      url: 'url' in where ? where.url : null,
      traces: traces.map((t) => ({
        kind: t.source.kind,
        name: t.source.name,
        profile: t.source.profile ?? null,
        events: t.events.length,
        vmgexits: t.events.filter((e) => e.kind === 'vmgexit').length,
        end: t.end,
      })),
      comparison: comparison ? { divergence: comparison.divergence ?? null } : null,
    } satisfies ExploreJson)}\n`;
  if (opts.export) {
    const { js, css } = pageAssets();
    writeFileSync(
      opts.export,
      explorerHtml({ js, css, trace: traces[0]!, ...(comparison ? { compare: comparison } : {}) }),
    );
    process.stdout.write(opts.json ? json({ export: opts.export }) : `wrote ${opts.export} (${counts})\n`);
    return 0;
  }
  const { url } = await serveExplorer(traces, opts.port ?? 0, comparison);
  process.stdout.write(
    opts.json ? json({ url }) : `sevbox explore: ${counts}\nopen ${url}  (Ctrl-C to stop)\n`,
  );
  await new Promise(() => {});
  return 0;
}
