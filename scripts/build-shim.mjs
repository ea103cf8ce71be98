#!/usr/bin/env node
/**
 * `npm run shim`: builds the /dev/kvm shim of issue 16 (shim/libsevbox-kvm.c, docs/kvm-shim-protocol.md)
 * into `.cache/shim/libsevbox-kvm.so` (git-ignored), for `LD_PRELOAD=… SEVBOX_SOCKET=… <KVM client>`.
 *
 *     gcc -shared -fPIC -O2 -Wall -Wextra -pthread -fvisibility=hidden -o .cache/shim/libsevbox-kvm.so shim/libsevbox-kvm.c -ldl
 *
 * The library is rebuilt only when a source under shim/ is newer than it (`--force` rebuilds). Without
 * gcc it prints one line and exits 0: the shim is optional, like the selftests. The tests import
 * `buildShim` and `SHIM_LIBRARY` (types in build-shim.d.mts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The shim's sources. */
export const SHIM_DIR = join(REPO, 'shim');
export const SHIM_SOURCE = join(SHIM_DIR, 'libsevbox-kvm.c');
/** Where `npm run shim` puts the library. */
export const SHIM_LIBRARY = join(REPO, '.cache/shim/libsevbox-kvm.so');

/** gcc's arguments for building `source` into `output`. */
export function shimCommand(output = SHIM_LIBRARY, source = SHIM_SOURCE) {
  return [
    '-shared',
    '-fPIC',
    '-O2',
    '-Wall',
    '-Wextra',
    '-pthread',
    '-fvisibility=hidden',
    '-o',
    output,
    source,
    '-ldl',
  ];
}

export const hasGcc = () => !spawnSync('gcc', ['--version'], { stdio: 'ignore' }).error;

/** Is the library older than any file under shim/ (or missing)? */
function stale(output) {
  if (!existsSync(output)) return true;
  const built = statSync(output).mtimeMs;
  return readdirSync(SHIM_DIR).some((f) => statSync(join(SHIM_DIR, f)).mtimeMs > built);
}

/**
 * Build the shim. `{ ok: true, path, built }` (built: false when it was up to date), or
 * `{ ok: false, reason }`: gcc missing (`missing: true`), or its error output.
 */
export function buildShim({ force = false, output = SHIM_LIBRARY } = {}) {
  if (!hasGcc()) return { ok: false, missing: true, reason: 'gcc not found' };
  if (!force && !stale(output)) return { ok: true, path: output, built: false };
  mkdirSync(dirname(output), { recursive: true });
  // Built beside and renamed: test files build it concurrently, and a process may be loading it.
  const partial = `${output}.partial-${process.pid}`;
  const cc = spawnSync('gcc', shimCommand(partial), { encoding: 'utf8' });
  if (cc.status !== 0) {
    rmSync(partial, { force: true });
    return { ok: false, missing: false, reason: (cc.stderr || cc.error?.message || 'gcc failed').trim() };
  }
  renameSync(partial, output);
  return { ok: true, path: output, built: true, warnings: cc.stderr.trim() };
}

// Run as a script (not when bundled into the bench, whose own URL is then argv[1]).
if (
  import.meta.url === pathToFileURL(process.argv[1] ?? '').href &&
  import.meta.url.endsWith('/build-shim.mjs')
) {
  const r = buildShim({ force: process.argv.includes('--force') });
  if (!r.ok && r.missing) {
    console.log(`shim: not built (${r.reason})`);
  } else if (!r.ok) {
    console.error(r.reason);
    console.error('shim: the build failed');
    process.exitCode = 1;
  } else {
    if (r.warnings) console.error(r.warnings);
    console.log(`shim: ${r.built ? 'built' : 'up to date'} ${r.path}`);
  }
}

/** shim/bench-client.c: a KVM client timing an ioctl and an exit round trip (bench/shim.bench.ts). */
export const BENCH_CLIENT = join(REPO, '.cache/shim/bench-client');

/** Build the bench client when missing or older than its source: `{ ok, path }` or `{ ok: false, reason }`. */
export function buildBenchClient() {
  if (!hasGcc()) return { ok: false, missing: true, reason: 'gcc not found' };
  const source = join(SHIM_DIR, 'bench-client.c');
  if (existsSync(BENCH_CLIENT) && statSync(BENCH_CLIENT).mtimeMs >= statSync(source).mtimeMs)
    return { ok: true, path: BENCH_CLIENT };
  mkdirSync(dirname(BENCH_CLIENT), { recursive: true });
  const partial = `${BENCH_CLIENT}.partial-${process.pid}`;
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', partial, source], { encoding: 'utf8' });
  if (cc.status !== 0) {
    rmSync(partial, { force: true });
    return { ok: false, missing: false, reason: (cc.stderr || cc.error || '').toString().trim() };
  }
  renameSync(partial, BENCH_CLIENT);
  return { ok: true, path: BENCH_CLIENT };
}
