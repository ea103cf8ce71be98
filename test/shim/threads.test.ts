/**
 * The server's scheduling against a real two-thread client through the shim (test/shim/spin-client.c):
 * while one thread's KVM_RUN holds the model (a guest spinning without exits), another thread's
 * ioctls are answered (the run is preempted at host ticks and resumed, the client sees one
 * KVM_RUN); a signal to the vCPU thread ends its KVM_RUN with EINTR and KVM_EXIT_INTR; a set
 * immediate_exit makes KVM_RUN return EINTR at once. Skips (one line) without gcc or koffi.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildShim, hasGcc } from '../../scripts/build-shim.mjs';
import { startServer } from '../../scripts/selftests.mjs';
import { loadSharedMemory } from '../../src/hostkvm/shared-memory.js';

const skip = !hasGcc() ? 'skipped: no gcc' : loadSharedMemory().ok ? false : 'skipped: no koffi';

describe('threads and signals through the shim, on sevbox serve', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sevbox-threads-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves other threads during a long KVM_RUN, ends it with EINTR on a signal', async () => {
    const shim = buildShim();
    assert.ok(shim.ok, shim.ok ? '' : shim.reason);
    const client = join(dir, 'spin-client');
    const cc = spawnSync(
      'gcc',
      ['-O2', '-pthread', '-o', client, new URL('./spin-client.c', import.meta.url).pathname],
      { encoding: 'utf8' },
    );
    assert.equal(cc.status, 0, cc.stderr);
    const socket = join(dir, 'kvm.sock');
    const server = await startServer(socket);
    const r = spawnSync(client, [], {
      env: { ...process.env, LD_PRELOAD: shim.path, SEVBOX_SOCKET: socket },
      encoding: 'utf8',
      timeout: 60_000,
    });
    const { log } = await server.stop();
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}\n${log}`);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'ok served while the vCPU runs',
      'ok signal: EINTR, KVM_EXIT_INTR',
      'ok immediate_exit: EINTR',
    ]);
    // The spinning run was cut to serve the other thread, at least once per request it made.
    const preempted = Number(/\((\d+) preempted\)/.exec(log)?.[1] ?? 0);
    assert.ok(preempted >= 20, `${preempted} preemptions\n${log}`);
  });
});
