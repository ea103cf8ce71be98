/**
 * `--json` on every command that prints results (issue 18, CLI): each prints JSON documents only,
 * one per line, that parse and carry the result's facts (bigints as "0x…" strings). `boot --json`
 * is in cli.test.ts (a firmware boot is slow from the sources); `serve` prints no results, only a log.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GhcbCodec } from '../../src/guest/ghcb-codec.js';
import { GHCB_OFF_SW_SCRATCH, GHCB_SIZE } from '../../src/uapi/ghcb.js';
import { SVM_VMGEXIT_MMIO_READ } from '../../src/uapi/svm.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'sevbox.js');
const DIR = mkdtempSync(join(tmpdir(), 'sevbox-json-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

/** Run sevbox; its stdout as JSON documents, one a line (each line must parse). */
function sevboxJson(...args: string[]): {
  status: number | null;
  docs: Record<string, unknown>[];
  stderr: string;
} {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 120_000,
  });
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  const docs = lines.map((l, i): Record<string, unknown> => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      throw new assert.AssertionError({
        message: `${args.join(' ')}: stdout line ${i + 1} is not JSON: ${l.slice(0, 200)}`,
      });
    }
  });
  return { status: r.status, docs, stderr: r.stderr };
}

/** A GHCB page asking for an MMIO read whose scratch area has no memslot (built as a guest builds it). */
function ghcbPage(): string {
  const g = new GhcbCodec(new Uint8Array(GHCB_SIZE));
  g.setSwExit(SVM_VMGEXIT_MMIO_READ, 0xfed00000, 4);
  g.setNumber(GHCB_OFF_SW_SCRATCH, 0x2000_0000);
  const path = join(DIR, 'ghcb.bin');
  writeFileSync(path, g.bytes);
  return path;
}

describe('--json on every command that prints results', () => {
  before(() => {
    // explore's page comes from the build (npm install runs it; here, make sure).
    const b = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), 'web']);
    assert.equal(b.status, 0, String(b.stderr));
  });

  it('run: one object per scenario', () => {
    const r = sevboxJson('run', '--json', 'examples/demo/5-efault-no-memslot.yaml');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.docs.length, 1);
    assert.equal(r.docs[0]!['ok'], true);
    assert.deepEqual((r.docs[0]!['stop'] as { errno?: string }).errno, 'EFAULT');
  });

  it('trace: one object per event, the same as --format jsonl', () => {
    const file = 'examples/demo/2-scratch-outside-ghcb.yaml';
    const r = sevboxJson('trace', '--json', file);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.docs, sevboxJson('trace', '--format', 'jsonl', file).docs);
    assert.equal(r.docs.find((e) => e['name'] === 'kvm_vmgexit_enter')?.['exitCode'], '0x80000001');
  });

  it('validate: one object per file', () => {
    const r = sevboxJson('validate', '--json', 'examples/demo');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.docs.length, 6);
    assert.ok(r.docs.every((d) => d['ok'] === true && typeof d['name'] === 'string'));
    assert.equal(r.docs[0]!['file'], 'examples/demo/1-scratch-in-ghcb.yaml');
  });

  it('inspect: a GHCB page decoded, bigints as "0x…" strings', () => {
    const r = sevboxJson('inspect', '--json', ghcbPage());
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.docs.length, 1);
    assert.equal(r.docs[0]!['exitCode'], '0x80000001');
    const verdicts = r.docs[0]!['verdicts'] as { profile: string; verdict: string }[];
    assert.match(verdicts.find((v) => v.profile === 'seed')!.verdict, /EFAULT/);
  });

  it('hostkvm: the description', () => {
    const r = sevboxJson('hostkvm', '--json', '--device', join(DIR, 'no-kvm'));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.docs.length, 1);
    assert.deepEqual(r.docs[0]!['device'], { path: join(DIR, 'no-kvm'), exists: false });
  });

  it('fuzz: the summary (it had none but text)', () => {
    const out = join(DIR, 'fuzz');
    const r = sevboxJson('fuzz', '--json', '--runs', '6', '--seed', '1', '--workers', '1', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.docs.length, 1);
    const s = r.docs[0]! as {
      seed: number;
      cases: number;
      vmgexits: number;
      violations: unknown[];
      findings: { kind: string; profile: string; reproducer: string | null }[];
      causes: Record<string, number>;
      reproducers: string | null;
    };
    assert.equal(s.seed, 1);
    assert.equal(s.cases, 6);
    assert.ok(s.vmgexits > 0);
    assert.deepEqual(s.violations, []);
    assert.ok(Object.keys(s.causes).length > 0);
    for (const f of s.findings) assert.ok(f.reproducer?.startsWith(out), JSON.stringify(f));
    assert.equal(s.reproducers, s.findings.length ? out : null);
  });

  it('x86-coverage: the counts', () => {
    const r = sevboxJson('x86-coverage', '--json', '--bits', '16', 'examples/guests/build/real-mode.bin');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.docs.length, 1);
    assert.ok((r.docs[0]!['total'] as number) > 0);
  });

  it('explore --export: what was recorded and the file written', () => {
    const html = join(DIR, 'mmio.html');
    const r = sevboxJson(
      'explore',
      '--json',
      'examples/demo/5-efault-no-memslot.yaml',
      '--profile',
      'prefix',
      '--compare-profile',
      'seed',
      '--export',
      html,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.docs.length, 1);
    const d = r.docs[0]! as {
      export: string;
      url: null;
      traces: { kind: string; profile: string; events: number; vmgexits: number }[];
      comparison: { divergence: { pair: number } | null };
    };
    assert.equal(d.export, html);
    assert.equal(d.url, null);
    assert.deepEqual(
      d.traces.map((t) => [t.kind, t.profile, t.vmgexits]),
      [
        ['scenario', 'prefix', 1],
        ['scenario', 'seed', 1],
      ],
    );
    assert.equal(d.comparison.divergence?.pair, 0, 'reflected vs EFAULT at the first VMGEXIT');
  });

  it('demo: both tables as values', () => {
    const r = sevboxJson('demo', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.docs.length, 1);
    const d = r.docs[0]! as {
      cases: { title: string; prefix: { kvm: string }; seed: { kvm: string } }[];
      restart: { title: string; restart: { guest: string } }[];
      leakedBytes: number;
    };
    assert.equal(d.cases.length, 6);
    const enomem = d.cases.find((c) => c.title === 'bounce buffer allocation fails')!;
    assert.deepEqual(
      [enomem.prefix.kvm, enomem.seed.kvm],
      ['reflected INVALID_SCRATCH_AREA', 'KVM_RUN failed: ENOMEM'],
    );
    assert.ok(d.restart.length > 0);
    assert.equal(d.leakedBytes, 0);
  });
});
