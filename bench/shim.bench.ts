/**
 * Issue 16's numbers: what the /dev/kvm shim costs an unmodified client. One C client
 * (shim/bench-client.c) times an ioctl that does nothing (KVM_CHECK_EXTENSION on /dev/kvm) and a
 * KVM_RUN that exits to userspace at once (a real-mode OUT loop), first through the shim against a
 * `sevbox serve` child, then as it is against the machine's real /dev/kvm (the baseline, in the same
 * run). Rates are round trips per second; the closing note turns them into µs. Without gcc or
 * koffi the group is empty; without a usable /dev/kvm the rows have no baseline.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBenchClient, buildShim } from '../scripts/build-shim.mjs';
import { loadSharedMemory } from '../src/hostkvm/shared-memory.js';
import type { BenchRow, MeasureOptions } from './harness.js';
import { QUICK } from './harness.js';

const SEVBOX = new URL('../bin/sevbox.js', import.meta.url).pathname;

interface Timing {
  readonly ioctlNs: number;
  readonly runNs: number;
}

/** Run the client (LD_PRELOAD and SEVBOX_SOCKET in `env` for the shim); its two means. */
function client(binary: string, iterations: number, env: Record<string, string>): Timing {
  const r = spawnSync(binary, [String(iterations), String(iterations)], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 300_000,
  });
  const ioctlNs = Number(/ioctl_ns ([\d.]+)/.exec(r.stdout)?.[1]);
  const runNs = Number(/run_ns ([\d.]+)/.exec(r.stdout)?.[1]);
  if (r.status !== 0 || !(ioctlNs > 0) || !(runNs > 0))
    throw new Error(`bench-client: status ${r.status}: ${r.stderr.trim() || r.stdout.trim()}`);
  return { ioctlNs, runNs };
}

/** Sleep without an event loop (the bench is synchronous). */
function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The client through the shim, against a fresh `sevbox serve` child. */
function throughShim(binary: string, shim: string, iterations: number): Timing {
  const socket = join(tmpdir(), `sevbox-bench-${process.pid}.sock`);
  rmSync(socket, { force: true });
  const server = spawn(process.execPath, [SEVBOX, 'serve', '--socket', socket, '--until-idle', '--quiet'], {
    stdio: 'ignore',
  });
  try {
    for (let waited = 0; !existsSync(socket); waited += 20) {
      if (waited > 30_000 || server.exitCode !== null) throw new Error('sevbox serve did not start');
      sleepMs(20);
    }
    return client(binary, iterations, { LD_PRELOAD: shim, SEVBOX_SOCKET: socket });
  } finally {
    server.kill('SIGKILL');
    rmSync(socket, { force: true });
  }
}

function realKvmUsable(): boolean {
  try {
    closeSync(openSync('/dev/kvm', 'r+'));
    return true;
  } catch {
    return false;
  }
}

let cached: { quick: boolean; shim: Timing; real: Timing | undefined } | undefined;

function measure(opts: MeasureOptions): { shim: Timing; real: Timing | undefined } {
  const quick = opts === QUICK;
  if (cached?.quick === quick) return cached;
  const shim = buildShim();
  const bin = buildBenchClient();
  if (!shim.ok || !bin.ok)
    throw new Error(`cannot build: ${shim.ok ? '' : shim.reason} ${bin.ok ? '' : bin.reason}`);
  const iterations = quick ? 2_000 : 20_000;
  const real = realKvmUsable() ? client(bin.path, iterations, {}) : undefined;
  cached = { quick, shim: throughShim(bin.path, shim.path, iterations), real };
  return cached;
}

const available =
  spawnSync('gcc', ['--version'], { stdio: 'ignore' }).error === undefined && loadSharedMemory().ok;

export const rows: readonly BenchRow[] = available
  ? [
      {
        name: 'shim: ioctl round trip, KVM_CHECK_EXTENSION (baseline: real /dev/kvm)',
        unit: 'ioctls/s',
        once: (opts) => {
          const m = measure(opts);
          return { value: 1e9 / m.shim.ioctlNs, ...(m.real ? { baseline: 1e9 / m.real.ioctlNs } : {}) };
        },
      },
      {
        name: 'shim: KVM_RUN exit round trip, OUT (baseline: real /dev/kvm)',
        unit: 'KVM_RUNs/s',
        once: (opts) => {
          const m = measure(opts);
          return { value: 1e9 / m.shim.runNs, ...(m.real ? { baseline: 1e9 / m.real.runNs } : {}) };
        },
      },
    ]
  : [];
