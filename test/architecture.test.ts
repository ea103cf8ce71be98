/**
 * The layering of docs/ARCHITECTURE.md, checked on the source: which folder may import which at
 * run time, no runtime import cycle anywhere in src, and the VMM side (vmm, scenario, fuzz, cli)
 * reaching KVM through the fd interface only — the one exception being the file that builds the
 * model platform (plugging the model's /dev/kvm in, as a machine's kernel would be).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const SRC = resolve(import.meta.dirname, '../src');

/** Every non-test .ts file under src, as a path relative to src. */
function sources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return sources(p);
    return d.name.endsWith('.ts') && !d.name.endsWith('.test.ts') && d.name !== 'test-util.ts'
      ? [relative(SRC, p)]
      : [];
  });
}

/** A file's relative imports that exist at run time (`import type` and all-`type` lists are erased). */
function runtimeImports(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?([^;]*?)\s*from\s+'(\.[^']+)'/gm)) {
    if (m[1]) continue;
    const clause = m[2]!.trim();
    if (clause.startsWith('{') && clause.endsWith('}')) {
      const names = clause
        .slice(1, -1)
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean);
      if (names.every((n) => n.startsWith('type '))) continue;
    }
    out.push(relative(SRC, resolve(dirname(join(SRC, file)), m[3]!)).replace(/\.js$/, '.ts'));
  }
  return out;
}

/** The explorer page's sources (web/, issue 17), as paths relative to src ("../web/main.ts"). */
const WEB = resolve(SRC, '../web');
const webSources = (): string[] =>
  readdirSync(WEB)
    .filter((n) => n.endsWith('.ts') && !n.endsWith('.test.ts') && !n.endsWith('.d.ts'))
    .map((n) => relative(SRC, join(WEB, n)));

const files = [...sources(), ...webSources()];
const graph = new Map(files.map((f) => [f, runtimeImports(f)]));
const layer = (f: string): string => (f.startsWith('../web/') ? 'web' : f.split('/')[0]!);

/** What each layer may import at run time (its own folder always). */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  uapi: [],
  trace: ['uapi'],
  host: ['uapi'],
  cpu: ['uapi'],
  psp: ['uapi'],
  kvm: ['uapi', 'host', 'cpu', 'trace', 'psp'],
  sev: ['uapi', 'host', 'kvm', 'cpu', 'trace', 'psp'],
  hostkvm: ['uapi', 'host'],
  guest: ['uapi', 'cpu'],
  vmm: ['uapi', 'host', 'cpu', 'guest', 'trace', 'kvm', 'sev'],
  scenario: ['uapi', 'host', 'cpu', 'guest', 'trace', 'vmm', 'sev'],
  fuzz: ['uapi', 'host', 'cpu', 'guest', 'trace', 'vmm', 'scenario', 'sev'],
  // `sevbox serve`'s side of the /dev/kvm shim: the fd ABI in bytes over a platform's fds.
  serve: ['uapi', 'host', 'hostkvm', 'vmm'],
  // The explorer (issue 17): its trace model and page shell, and recording a run as that model.
  explore: ['uapi', 'host', 'trace', 'vmm', 'scenario'],
  cli: [
    'uapi',
    'host',
    'cpu',
    'guest',
    'trace',
    'vmm',
    'scenario',
    'fuzz',
    'sev',
    'hostkvm',
    'kvm',
    'serve',
    'explore',
  ],
  // The explorer's page runs in a browser: facts from uapi and the trace model, nothing else of
  // explore (see the rule below).
  web: ['uapi', 'explore'],
};

/** The only files of src/explore the page may import: plain data, no Node. */
const WEB_EXPLORE = new Set(['explore/model.ts']);

describe('architecture', () => {
  it('every layer imports only the layers below it', () => {
    const bad: string[] = [];
    for (const [f, deps] of graph) {
      const allowed = ALLOWED[layer(f)];
      assert.ok(allowed, `a layer without rules: ${layer(f)} (${f})`);
      for (const d of deps) if (layer(d) !== layer(f) && !allowed.includes(layer(d))) bad.push(`${f} → ${d}`);
    }
    assert.deepEqual(bad, []);
  });

  it('the web page imports from src only uapi and the explore model (it runs in a browser)', () => {
    const web = [...graph].filter(([f]) => layer(f) === 'web');
    assert.ok(web.length > 0, 'no web/ sources found');
    const bad = web.flatMap(([f, deps]) =>
      deps.filter((d) => layer(d) === 'explore' && !WEB_EXPLORE.has(d)).map((d) => `${f} → ${d}`),
    );
    assert.deepEqual(bad, []);
  });

  it('KVM imports only the hardware seam from src/cpu (never a CPU backend)', () => {
    const seam = new Set(['cpu/backend.ts', 'cpu/vmcb.ts', 'cpu/regs.ts', 'cpu/reset.ts']);
    const bad = [...graph].flatMap(([f, deps]) =>
      layer(f) === 'kvm' || layer(f) === 'sev'
        ? deps.filter((d) => layer(d) === 'cpu' && !seam.has(d)).map((d) => `${f} → ${d}`)
        : [],
    );
    assert.deepEqual(bad, []);
  });

  it('the VMM side reaches KVM through the fd interface only (the model platform file plugs it in)', () => {
    // The import scan sees the one exception (so it would see another): platform.ts imports the
    // model's /dev/kvm at run time, while its `import type` of kvm/profile.ts is erased.
    const platform = graph.get('vmm/platform.ts') ?? [];
    assert.ok(platform.includes('kvm/fd.ts'), platform.join(', '));
    assert.ok(!platform.includes('kvm/profile.ts'), platform.join(', '));
    const bad = [...graph].flatMap(([f, deps]) =>
      ['vmm', 'scenario', 'fuzz'].includes(layer(f)) && f !== 'vmm/platform.ts'
        ? deps
            .filter((d) => layer(d) === 'kvm' || (layer(d) === 'sev' && d !== 'sev/index.ts'))
            .map((d) => `${f} → ${d}`)
        : [],
    );
    assert.deepEqual(bad, []);
  });

  it('has no runtime import cycle', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].join(' → '));
        return;
      }
      state.set(f, 'open');
      for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    assert.deepEqual(cycles, []);
  });
});
