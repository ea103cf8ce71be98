#!/usr/bin/env node
/**
 * `npm run selftests`: Linux's own KVM selftests (vendored, unmodified, in ../shared/vendor/kvm-selftests,
 * issue 16) built and run against each KVM environment, one table row per test:
 *
 *     test | real /dev/kvm | sevbox | note
 *
 * Build: the vendored tree is read-only, so it is copied once into the cache (default
 * `.cache/kvm-selftests/`, git-ignored) and each test binary is built there with the README's command
 * (`make ARCH=x86_64 OUTPUT=…`), only when it is missing (`--rebuild` forces it). The vendored copy has
 * no installed uapi headers (its usr/include/.gitignore ignores every subfolder, so `make headers_install`'s output was dropped),
 * and the distribution's <linux/kvm.h> is older than the tests (no kvm_userspace_memory_region2): the
 * cache's usr/include gets linux/kvm.h and asm/kvm.h from the tree's own mirrors of those uapi headers
 * (tools/include/uapi, tools/arch/x86/include/uapi). No test file is touched.
 *
 * Environments: a test runs under each environment `prepareEnvironment` accepts; `{ name: 'real' }` is
 * the machine's /dev/kvm (when it opens read-write), `{ name: 'sevbox', preload, socket }` is sevbox
 * through the /dev/kvm shim (LD_PRELOAD), which does not exist yet: without a `preload` that exists, its
 * column says "not yet (no shim)".
 *
 * Results follow kselftest's exit codes: 0 pass, 4 skip (KSFT_SKIP, with the "Requirement not met: …"
 * line as the reason), anything else, a signal or the timeout a failure; see `classify`.
 *
 * Usage: node scripts/selftests.mjs [--json] [--timeout SECONDS] [--cache DIR] [--rebuild] [TEST…]
 * Without gcc or make (or the vendored tree) it prints one line and exits 0. The exit status is 1 when a
 * test fails under an environment that ran it, else 0.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The vendored selftests (SEVBOX_KVM_SELFTESTS overrides). */
export const VENDOR = resolve(
  process.env.SEVBOX_KVM_SELFTESTS ?? join(REPO, '../shared/vendor/kvm-selftests'),
);
/** Where the copy and the binaries live. */
export const DEFAULT_CACHE = join(REPO, '.cache/kvm-selftests');
/** The tests, as paths below tools/testing/selftests/kvm (issue 16's first list). */
export const DEFAULT_TESTS = [
  'kvm_create_max_vcpus',
  'set_memory_region_test',
  'x86_64/userspace_io_test',
  'x86_64/userspace_msr_exit_test',
  'x86_64/sync_regs_test',
  'x86_64/sev_smoke_test',
  'x86_64/sev_init2_tests',
  'x86_64/sev_migrate_tests',
];
export const DEFAULT_TIMEOUT_S = 120;
/** kselftest.h's exit codes. */
const KSFT_PASS = 0;
const KSFT_SKIP = 4;

const KVM_DIR = 'tools/testing/selftests/kvm';
/** uapi headers the tests need newer than the distribution's: installed path ← the tree's mirror. */
const UAPI_MIRRORS = [
  ['usr/include/linux/kvm.h', 'tools/include/uapi/linux/kvm.h'],
  ['usr/include/asm/kvm.h', 'tools/arch/x86/include/uapi/asm/kvm.h'],
];

export const hasTool = (tool) => !spawnSync(tool, ['--version'], { stdio: 'ignore' }).error;

/** Why the selftests cannot be built here, or null. */
export function buildBlocker(vendor = VENDOR) {
  const missing = ['gcc', 'make'].filter((t) => !hasTool(t));
  if (missing.length > 0) return `${missing.join(', ')} not found`;
  if (!existsSync(join(vendor, KVM_DIR, 'Makefile'))) return `no vendored selftests at ${vendor}`;
  return null;
}

/**
 * The cache's writable copy of the vendored tree (made once, atomically: copied beside, then renamed),
 * with the uapi headers filled in; returns its root.
 */
export function ensureSource(cache, vendor = VENDOR) {
  const src = join(cache, 'src');
  if (existsSync(join(src, KVM_DIR, 'Makefile'))) return src;
  mkdirSync(cache, { recursive: true });
  const partial = `${src}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  cpSync(vendor, partial, { recursive: true, mode: 0 });
  spawnSync('chmod', ['-R', 'u+w', partial]);
  for (const [installed, mirror] of UAPI_MIRRORS) {
    if (existsSync(join(partial, installed))) continue;
    mkdirSync(dirname(join(partial, installed)), { recursive: true });
    cpSync(join(partial, mirror), join(partial, installed));
  }
  try {
    renameSync(partial, src);
  } catch (e) {
    // Another run finished its copy first: use that one.
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(join(src, KVM_DIR, 'Makefile'))) throw e;
  }
  return src;
}

/** The built binary of a test. */
export const binaryOf = (cache, test) => join(cache, 'out', test);

/**
 * Build one test into the cache unless its binary is there: `{ binary, cached, ms }`, or with `error`
 * (the first compiler error line, else make's last line) when make fails.
 */
export function buildTest(test, { cache = DEFAULT_CACHE, vendor = VENDOR, rebuild = false } = {}) {
  const binary = binaryOf(cache, test);
  // One make at a time in the cache (test files build concurrently, and make writes binaries in
  // place: a binary that exists may still be being linked by another process).
  return withBuildLock(cache, () =>
    !rebuild && existsSync(binary) ? { binary, cached: true, ms: 0 } : make(binary, cache, vendor, rebuild),
  );
}

/** Run `fn` holding the cache's build lock (a directory: mkdir is atomic), waiting up to 10 minutes. */
function withBuildLock(cache, fn) {
  mkdirSync(cache, { recursive: true });
  const lock = join(cache, 'build.lock');
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if (e.code !== 'EEXIST' || Date.now() > deadline) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** make's run for one test binary (under the build lock). */
function make(binary, cache, vendor, rebuild) {
  const start = performance.now();
  const src = ensureSource(cache, vendor);
  const out = join(cache, 'out');
  const args = [`-j${availableParallelism()}`, 'ARCH=x86_64', `OUTPUT=${out}`];
  if (rebuild) args.push('-B');
  const r = spawnSync('make', [...args, binary], {
    cwd: join(src, KVM_DIR),
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
    maxBuffer: 64 << 20,
  });
  const ms = performance.now() - start;
  if (r.status === 0 && existsSync(binary)) return { binary, cached: false, ms };
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ?? ''}`;
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const error = lines.find((l) => /\berror\b/.test(l)) ?? lines.at(-1) ?? `make exited ${r.status}`;
  return { binary, cached: false, ms, error: error.trim() };
}

/**
 * Can tests run under `env` here? `{ ok: true, env: extra environment variables }` or
 * `{ ok: false, cell: what the table says instead }`. The seam for the shim: a sevbox environment runs
 * the unmodified binary with LD_PRELOAD=preload and the server's socket in SEVBOX_SOCKET.
 */
export function prepareEnvironment(env, { kvmDevice = '/dev/kvm' } = {}) {
  if (env.name === 'real') {
    try {
      closeSync(openSync(kvmDevice, 'r+'));
    } catch {
      return { ok: false, cell: `no ${kvmDevice}` };
    }
    return { ok: true, env: {} };
  }
  if (env.name === 'sevbox') {
    const preload = env.preload ?? DEFAULT_SHIM;
    if (!existsSync(preload)) return { ok: false, cell: 'no shim (npm run shim)' };
    return {
      ok: true,
      env: { LD_PRELOAD: preload, ...(env.socket ? { SEVBOX_SOCKET: env.socket } : {}) },
      // Without a socket of its own, each test gets a fresh `sevbox serve` (startServer).
      ...(env.socket ? {} : { serve: { profile: env.profile ?? 'current' } }),
    };
  }
  return { ok: false, cell: `unknown environment ${env.name}` };
}

/** Where `npm run shim` builds the /dev/kvm shim. */
export const DEFAULT_SHIM = join(REPO, '.cache/shim/libsevbox-kvm.so');

/**
 * A fresh `sevbox serve --until-idle` on `socket` for one test (`args`: more flags, e.g. `--fault`):
 * resolves once it listens, to
 * `{ stop(): Promise<{ status, log }> }` (the server's stderr is its log). Rejects when it does not
 * come up within `timeoutMs`.
 */
export function startServer(socket, { profile = 'current', timeoutMs = 30_000, args = [] } = {}) {
  mkdirSync(dirname(socket), { recursive: true });
  rmSync(socket, { force: true });
  const child = spawn(
    process.execPath,
    [join(REPO, 'bin/sevbox.js'), 'serve', '--socket', socket, '--profile', profile, '--until-idle', ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr.on('data', (d) => {
    log += d;
  });
  const exited = new Promise((r) => child.on('exit', (status, signal) => r({ status, signal })));
  return new Promise((resolveStart, reject) => {
    const deadline = performance.now() + timeoutMs;
    const poll = () => {
      if (log.includes('listening on')) {
        resolveStart({
          stop: async () => {
            // --until-idle: it exits by itself once it has seen the last client go; give it a
            // moment (its summary line is the log's last), then make it.
            const term = setTimeout(() => child.kill('SIGTERM'), 5000);
            const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
            const { status } = await exited;
            clearTimeout(term);
            clearTimeout(kill);
            rmSync(socket, { force: true });
            return { status, log };
          },
        });
      } else if (child.exitCode !== null || performance.now() > deadline) {
        child.kill('SIGKILL');
        reject(new Error(`sevbox serve did not start: ${log.trim() || `exit ${child.exitCode}`}`));
      } else setTimeout(poll, 20);
    };
    poll();
  });
}

/** The environments of the table's columns. */
export const ENVIRONMENTS = [
  { name: 'real', column: 'real /dev/kvm' },
  { name: 'sevbox', column: 'sevbox' },
];

/**
 * Run a built test under a prepared environment (`extraEnv` from `prepareEnvironment`), its stdout and
 * stderr interleaved into `log`, killed (its whole process group: the kselftest harness forks) after
 * `timeoutMs`: `{ status, signal, timedOut, ms, output }`.
 */
export function runTest(binary, { extraEnv = {}, timeoutMs = DEFAULT_TIMEOUT_S * 1000, log }) {
  mkdirSync(dirname(log), { recursive: true });
  const fd = openSync(log, 'w');
  const start = performance.now();
  return new Promise((done) => {
    const child = spawn(binary, [], {
      cwd: dirname(binary),
      env: { ...process.env, ...extraEnv },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    const finish = (status, signal, error) => {
      clearTimeout(timer);
      closeSync(fd);
      const ms = performance.now() - start;
      const output = `${readFileSync(log, 'utf8')}${error ? `\n${error}` : ''}`;
      done({ status, signal, timedOut, ms, output });
    };
    child.on('error', (e) => finish(null, null, String(e)));
    child.on('exit', (status, signal) => finish(status, signal, null));
  });
}

/**
 * What a run means: `{ result: 'pass' | 'fail' | 'skip', note }`.
 * - the timeout or a signal: fail;
 * - exit 4 (KSFT_SKIP): skip, the reason from its "Requirement not met: …" line (TEST_REQUIRE) or its
 *   "# SKIP …" line;
 * - exit 0: pass, unless a "Requirement not met" line says the test did nothing (no TAP totals with a
 *   pass): then skip with that reason; a pass that skipped subtests says how many;
 * - any other exit: fail, with the assertion (file:line: expression) or the harness's failure line.
 * A "Requirement not met" line never turns a failing exit into a skip: a failure is not hidden.
 */
export function classify({ status, signal, timedOut, output, timeoutMs }) {
  const lines = output.split('\n');
  if (timedOut) return { result: 'fail', note: `timeout after ${Math.round((timeoutMs ?? 0) / 1000)} s` };
  if (signal) return { result: 'fail', note: `killed by ${signal}` };
  const requirement = lines
    .map((l) => /Requirement not met: (.*)$/.exec(l)?.[1])
    .find((r) => r !== undefined);
  const totals = parseTotals(output);
  if (status === KSFT_SKIP) {
    const skipLine = lines.map((l) => /#\s*SKIP\b\s*-?\s*(.*)$/.exec(l)?.[1]).find(Boolean);
    return { result: 'skip', note: requirement?.trim() ?? skipLine?.trim() ?? 'kselftest skip (exit 4)' };
  }
  if (status === KSFT_PASS) {
    if (requirement !== undefined && !(totals && totals.pass > 0)) {
      return { result: 'skip', note: requirement.trim() };
    }
    if (totals && totals.skip > 0) {
      const of = totals.pass + totals.skip + totals.fail + totals.xfail + totals.xpass + totals.error;
      return { result: 'pass', note: `${totals.skip} of ${of} subtests skipped` };
    }
    return { result: 'pass', note: '' };
  }
  return { result: 'fail', note: `exit ${status}: ${failureReason(lines)}` };
}

/** kselftest's "# Totals: pass:4 fail:0 xfail:0 xpass:0 skip:0 error:0", or null. */
export function parseTotals(output) {
  const m = /# Totals: (.*)$/m.exec(output);
  if (!m) return null;
  const totals = { pass: 0, fail: 0, xfail: 0, xpass: 0, skip: 0, error: 0 };
  for (const [, key, n] of m[1].matchAll(/(\w+):(\d+)/g)) if (key in totals) totals[key] = Number(n);
  return totals;
}

/** The most telling line of a failed run. */
function failureReason(lines) {
  const assertAt = lines.findIndex((l) => l.includes('==== Test Assertion Failure ===='));
  if (assertAt >= 0 && lines[assertAt + 1]) return lines[assertAt + 1].trim();
  const notOk = lines.find((l) => /^not ok \d+/.test(l));
  if (notOk) return notOk.trim();
  return (
    lines
      .filter((l) => l.trim() !== '')
      .at(-1)
      ?.trim() ?? 'no output'
  );
}

/** A table cell for one environment's outcome. */
export const cellOf = (outcome) =>
  outcome.ran ? `${outcome.result} (${(outcome.ms / 1000).toFixed(2)} s)` : outcome.cell;

/**
 * The table: one row per test (`{ test, cells: [...one per column], note }`), columns padded, a
 * Markdown pipe table so it pastes into an issue as it reads in a terminal.
 */
export function formatTable(rows, columns = ENVIRONMENTS.map((e) => e.column)) {
  const header = ['test', ...columns, 'note'];
  const body = rows.map((r) => [r.test, ...r.cells, r.note]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(header), rule, ...body.map(line)].join('\n');
}

/** A row's note: the built-failure, else each environment's note (prefixed by its name when several). */
export function noteOf(build, outcomes) {
  if (build.error) return `build failed: ${build.error}`;
  const notes = outcomes.filter((o) => o.ran && o.note);
  if (notes.length === 0) return '';
  // Where the environments disagree, the note says why, per environment and result.
  const ran = outcomes.filter((o) => o.ran);
  if (ran.some((o) => o.result !== ran[0].result))
    return notes.map((o) => `${o.env} ${o.result}: ${o.note}`).join('; ');
  if (notes.length === 1 || notes.every((o) => o.note === notes[0].note)) return notes[0].note;
  return notes.map((o) => `${o.env}: ${o.note}`).join('; ');
}

/** Build and run `tests` under every environment: one record per test (what --json prints). */
export async function runSelftests(tests, { cache, vendor, rebuild, timeoutMs, environments, onRecord }) {
  const prepared = environments.map((env) => ({ env, ready: prepareEnvironment(env) }));
  const records = [];
  for (const test of tests) {
    const build = buildTest(test, { cache, vendor, rebuild });
    const outcomes = [];
    for (const { env, ready } of prepared) {
      if (build.error) outcomes.push({ env: env.name, ran: false, cell: 'not built' });
      else if (!ready.ok) outcomes.push({ env: env.name, ran: false, cell: ready.cell });
      else {
        const log = join(cache, 'logs', env.name, `${test}.log`);
        let server;
        const extraEnv = { ...ready.env };
        if (ready.serve) {
          extraEnv.SEVBOX_SOCKET = join(cache, 'sock', `${test.replaceAll('/', '_')}.sock`);
          server = await startServer(extraEnv.SEVBOX_SOCKET, ready.serve);
        }
        const run = await runTest(build.binary, { extraEnv, timeoutMs, log });
        if (server) await server.stop();
        const { result, note } = classify({ ...run, timeoutMs });
        outcomes.push({
          env: env.name,
          ran: true,
          result,
          note,
          status: run.status,
          signal: run.signal,
          ms: run.ms,
          log,
        });
      }
    }
    const record = { test, build, outcomes, note: noteOf(build, outcomes) };
    records.push(record);
    onRecord?.(record);
  }
  return records;
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      timeout: { type: 'string', default: String(DEFAULT_TIMEOUT_S) },
      cache: { type: 'string', default: DEFAULT_CACHE },
      rebuild: { type: 'boolean', default: false },
    },
  });
  const blocker = buildBlocker();
  if (blocker) {
    console.log(`selftests: skipped, ${blocker}`);
    return 0;
  }
  const tests = positionals.length > 0 ? positionals : DEFAULT_TESTS;
  const round = (ms) => Math.round(ms);
  const records = await runSelftests(tests, {
    cache: resolve(values.cache),
    vendor: VENDOR,
    rebuild: values.rebuild,
    timeoutMs: Number(values.timeout) * 1000,
    environments: ENVIRONMENTS,
    onRecord: (r) => {
      if (values.json) {
        const build = {
          cached: r.build.cached,
          ms: round(r.build.ms),
          ...(r.build.error ? { error: r.build.error } : {}),
        };
        const envs = Object.fromEntries(
          r.outcomes.map(({ env, ran, cell, ms, ...o }) => [
            env,
            ran ? { ...o, ms: round(ms) } : { result: 'not run', note: cell },
          ]),
        );
        console.log(JSON.stringify({ test: r.test, build, ...envs, note: r.note }));
      } else {
        const how = r.build.cached ? 'cached' : `built in ${(r.build.ms / 1000).toFixed(1)} s`;
        process.stderr.write(`selftests: ${r.test}: ${how}, ${r.outcomes.map(cellOf).join(' / ')}\n`);
      }
    },
  });
  if (!values.json) {
    console.log(
      formatTable(records.map((r) => ({ test: r.test, cells: r.outcomes.map(cellOf), note: r.note }))),
    );
  }
  return records.some((r) => r.outcomes.some((o) => o.ran && o.result === 'fail')) ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main();
}
