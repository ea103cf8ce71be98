/**
 * What `sevbox` reads (issue 18, CLI): `run DIR` runs every scenario file under a directory in path
 * order, as test runners do; special files (a FIFO, /dev/zero) and files over the size limit are
 * refused at once with a message naming the file and the limit, never a hang or an out-of-memory;
 * and a scenario's syntax and schema errors name the file, the line and the path in the document.
 * Exit status 0 all passed, 1 an expectation failed, 2 bad input.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'sevbox.js');
const ROOT = mkdtempSync(join(tmpdir(), 'sevbox-inputs-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));

/** Run sevbox in `cwd`; a hang is killed after 60 s (status null), which every test here refuses. */
function sevbox(cwd: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Write `text` at `rel` under `dir`, making the folders. */
function put(dir: string, rel: string, text: string): string {
  const path = join(dir, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return path;
}

const passing = (name: string): string => `name: ${name}\nguest:\n  steps:\n    - cpuid: { fn: 0 }\n`;
const failing = (name: string): string =>
  `name: ${name}\nprofile: seed\nguest:\n  steps:\n    - cpuid: { fn: 0 }\n      expect: { eax: 99 }\n`;

describe('sevbox run DIR', () => {
  const dir = join(ROOT, 'suite');
  put(dir, 'b.yaml', passing('b'));
  put(dir, 'a/z.yaml', passing('a/z'));
  put(dir, 'a.yaml', passing('a'));
  put(dir, 'c/d/e.json', JSON.stringify({ name: 'c/d/e', guest: { steps: [{ cpuid: { fn: 0 } }] } }));
  put(dir, 'notes.txt', 'not a scenario');
  put(dir, '.hidden/skipped.yaml', 'not: [even yaml');
  put(dir, 'node_modules/pkg/skipped.yaml', 'not: [even yaml');
  const order = ['a.yaml', 'a/z.yaml', 'b.yaml', 'c/d/e.json'];

  it('runs every scenario file under it, sorted by path, each headed by its file; a tally; exit 0', () => {
    const r = sevbox(ROOT, 'run', 'suite');
    assert.equal(r.status, 0, r.stderr);
    const heads = r.stdout.split('\n').filter((l) => l.startsWith('suite/'));
    assert.deepEqual(
      heads,
      order.map((f) => `suite/${f}`),
    );
    assert.equal(r.stdout.match(/^PASS$/gm)?.length, 4);
    assert.match(r.stdout, /^4 scenarios: 4 passed$/m);
  });

  it('--json: one object per scenario, in the same order, naming each file', () => {
    const r = sevbox(ROOT, 'run', '--json', 'suite');
    assert.equal(r.status, 0, r.stderr);
    const docs = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; ok: boolean });
    assert.deepEqual(
      docs.map((d) => [d.file, d.ok]),
      order.map((f) => [`suite/${f}`, true]),
    );
  });

  it('files and directories mixed, in argument order, each file once; one failing scenario is exit 1', () => {
    const extra = put(ROOT, 'extra/fails.yaml', failing('fails'));
    const r = sevbox(ROOT, 'run', extra, 'suite', 'suite/b.yaml');
    assert.equal(r.status, 1, r.stderr);
    const heads = r.stdout.split('\n').filter((l) => l.startsWith('suite/') || l === extra);
    assert.deepEqual(heads, [extra, ...order.map((f) => `suite/${f}`)]);
    assert.match(r.stdout, /^FAIL$/m);
    assert.match(r.stdout, /^5 scenarios: 4 passed, 1 failed$/m);
  });

  it('validate takes directories too', () => {
    const r = sevbox(ROOT, 'validate', 'suite');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      r.stdout.trim().split('\n'),
      order.map((f) => `ok suite/${f}: ${f.replace(/\.(yaml|json)$/, '')}`),
    );
  });

  it('a directory without scenario files is bad input that says so, exit 2', () => {
    const empty = join(ROOT, 'empty');
    put(empty, 'readme.txt', 'nothing to run');
    const r = sevbox(ROOT, 'run', empty);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /empty: no scenario files \(\.yaml, \.yml, \.json\) under this directory/);
    assert.equal(r.stdout, '');
  });

  it('a bad file under the directory: nothing runs, the file is named, exit 2', () => {
    const mixed = join(ROOT, 'mixed');
    put(mixed, 'good.yaml', passing('good'));
    put(mixed, 'bad.yaml', 'name: bad\nguest:\n  steps:\n    - cpuid: { fn: zero }\n');
    const r = sevbox(ROOT, 'run', 'mixed');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^sevbox: mixed\/bad\.yaml:4:\d+: guest\.steps\[0\]\.cpuid\.fn: /m);
    assert.equal(r.stdout, '');
  });
});

describe('special and oversized input files fail fast with a clear message, exit 2', () => {
  const dir = join(ROOT, 'special');
  mkdirSync(dir, { recursive: true });

  it('a FIFO (no writer: opening or reading it would block)', (t) => {
    const fifo = join(dir, 'pipe.yaml');
    const made = spawnSync('mkfifo', [fifo]);
    if (made.error || made.status !== 0) {
      t.skip('mkfifo is not available here');
      return;
    }
    const r = sevbox(dir, 'run', 'pipe.yaml');
    assert.equal(r.status, 2, `exit ${r.status} ${r.stderr}`);
    assert.match(
      r.stderr,
      /pipe\.yaml: not a regular file but a FIFO: a scenario file is read from a regular file only/,
    );
    const trace = join(dir, 'pipe.jsonl');
    spawnSync('mkfifo', [trace]);
    const e = sevbox(dir, 'explore', 'pipe.jsonl', '--export', join(dir, 'x.html'));
    assert.equal(e.status, 2, `exit ${e.status} ${e.stderr}`);
    assert.match(e.stderr, /pipe\.jsonl: not a regular file but a FIFO/);
  });

  it('/dev/zero (it never ends): as a scenario, a GHCB page, a firmware image, machine code', () => {
    const zero = join(dir, 'zero.yaml');
    symlinkSync('/dev/zero', zero);
    const device = /not a regular file but a character device/;
    const run = sevbox(dir, 'run', 'zero.yaml');
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /zero\.yaml: not a regular file but a character device: a scenario file/);
    for (const args of [
      ['inspect', '/dev/zero'],
      ['boot', 'ovmf', '--firmware', '/dev/zero'],
      ['x86-coverage', '/dev/zero'],
    ]) {
      const r = sevbox(dir, ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /\/dev\/zero: /);
      assert.match(r.stderr, device);
    }
  });

  it('a file over the limit (sparse: nothing is written) names the limit', () => {
    const big = put(dir, 'big.yaml', '');
    truncateSync(big, 16 * 1024 * 1024 + 1);
    const r = sevbox(dir, 'run', 'big.yaml');
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      /big\.yaml: too large \(16777217 bytes\): a scenario file may hold at most 16 MiB/,
    );
    const huge = put(dir, 'huge.jsonl', '');
    truncateSync(huge, 20 * 1024 ** 3);
    const e = sevbox(dir, 'explore', 'huge.jsonl', '--export', join(dir, 'x.html'));
    assert.equal(e.status, 2, e.stderr);
    assert.match(e.stderr, /huge\.jsonl: too large \(20 GiB\): a trace may hold at most 64 MiB/);
    const fw = put(dir, 'big.fd', '');
    truncateSync(fw, 65 * 1024 * 1024);
    const b = sevbox(dir, 'boot', 'ovmf', '--firmware', 'big.fd');
    assert.equal(b.status, 2, b.stderr);
    assert.match(b.stderr, /big\.fd: too large \(65 MiB\): a firmware image may hold at most 64 MiB/);
  });

  it('a scenario file right at the limit is read (the limit is inclusive)', () => {
    const text = passing('padded');
    const padded = put(dir, 'padded.yaml', text + ' '.repeat(16 * 1024 * 1024 - text.length));
    const r = sevbox(dir, 'validate', padded);
    assert.equal(r.status, 0, r.stderr);
  });
});

describe('errors name the file, the line and the path in the document', () => {
  const dir = join(ROOT, 'errors');
  mkdirSync(dir, { recursive: true });

  it('a YAML syntax error: file:line:col, the path of the node it broke, the parser’s words', () => {
    put(
      dir,
      'syntax.yaml',
      'name: broken\nguest:\n  steps:\n    - cpuid: { fn: 0 }\n    - mmio-read: { gpa: 0xfed00000, len: 4\n',
    );
    const r = sevbox(dir, 'run', 'syntax.yaml');
    assert.equal(r.status, 2);
    assert.match(
      r.stderr,
      /^sevbox: syntax\.yaml:6:1: guest\.steps\[1\]\.mmio-read: not valid YAML: Flow map in block collection must be sufficiently indented and end with a \}$/m,
    );
  });

  it('a JSON syntax error likewise', () => {
    put(
      dir,
      'syntax.json',
      '{"name": "x", "guest": {"steps": [{"cpuid": {"fn": 0}},\n  {"mmio-read": {"gpa": 1 "len": 4}}]}}\n',
    );
    const r = sevbox(dir, 'validate', 'syntax.json');
    assert.equal(r.status, 2);
    assert.match(
      r.stderr,
      /^sevbox: syntax\.json:2:\d+: guest\.steps\[1\]\.mmio-read\.gpa: not valid JSON: /m,
    );
  });

  it('a schema error: file:line:col of the value, its dotted and indexed path, what was expected', () => {
    put(
      dir,
      'schema.yaml',
      'name: x\nguest:\n  steps:\n    - cpuid: { fn: 0 }\n    - cpuid: { fn: 1 }\n    - cpuid: { fn: 2 }\n    - mmio-read: { gpa: "0xfed0000g", len: 4 }\n',
    );
    const r = sevbox(dir, 'run', 'schema.yaml');
    assert.equal(r.status, 2);
    assert.match(
      r.stderr,
      /^sevbox: schema\.yaml:7:25: guest\.steps\[3\]\.mmio-read\.gpa: expected a guest physical address .*got "0xfed0000g"$/m,
    );
  });

  it('an unknown key is pointed at where it is written', () => {
    put(
      dir,
      'key.yaml',
      'name: x\nguest:\n  steps:\n    - cpuid: { fn: 0 }\nmachine:\n  ram: []\n  sevv: false\n',
    );
    const r = sevbox(dir, 'validate', 'key.yaml');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /key\.yaml:7:3: machine: unknown key "sevv"/);
  });

  it('validate --json gives the issues as values: path, line, column, message, code', () => {
    const r = sevbox(dir, 'validate', '--json', 'syntax.yaml', 'schema.yaml');
    assert.equal(r.status, 2);
    const docs = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; ok: boolean; issues: Record<string, unknown>[] });
    assert.deepEqual(
      docs.map((d) => [d.file, d.ok, d.issues[0]?.['path'], d.issues[0]?.['line'], d.issues[0]?.['code']]),
      [
        ['syntax.yaml', false, 'guest.steps[1].mmio-read', 6, 'BAD_INDENT'],
        ['schema.yaml', false, 'guest.steps[3].mmio-read.gpa', 7, 'custom'],
      ],
    );
  });

  it('commander’s usage errors are exit 2', () => {
    assert.equal(sevbox(dir, 'run').status, 2, 'no file');
    assert.equal(sevbox(dir, 'run', '--frobnicate', 'schema.yaml').status, 2, 'an unknown option');
    assert.equal(sevbox(dir, 'trace', 'schema.yaml', '--json', '--format', 'text').status, 2, 'conflicting');
  });
});
