/**
 * `sevbox serve --fault` against unmodified clients through the shim: the seed's host failures
 * reach a client that was not written for sevbox, as the errno its ioctl returns.
 * - ENOMEM: Linux's sev_smoke_test (vendored, unmodified) with the first KVM allocation failed
 *   (`alloc-fail-nth=1`: KVM_SEV_LAUNCH_MEASURE's blob) stops at its assertion on that ioctl.
 * - EFAULT: a client looping KVM_RUN on a guest's OUT (shim/bench-client.c) whose guest page is
 *   taken from KVM's view after the 3rd exit (`unmap-gpa=0@exit=3`) gets EFAULT from the next
 *   KVM_RUN, and the server says what it did.
 * Skips (one line) without gcc/make, the vendored selftests or koffi.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildBenchClient, buildShim } from '../../scripts/build-shim.mjs';
import { buildBlocker, buildTest, runTest, startServer } from '../../scripts/selftests.mjs';
import { loadSharedMemory } from '../../src/hostkvm/shared-memory.js';

const blocker = buildBlocker() ?? (loadSharedMemory().ok ? null : 'no koffi');

describe('host faults injected by sevbox serve reach unmodified clients', {
  skip: blocker ? `skipped: ${blocker}` : false,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sevbox-faults-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('ENOMEM: sev_smoke_test stops at KVM_SEV_LAUNCH_MEASURE when KVM cannot allocate its blob', async () => {
    const shim = buildShim();
    assert.ok(shim.ok, shim.ok ? '' : shim.reason);
    const build = buildTest('x86_64/sev_smoke_test');
    assert.equal(build.error, undefined, build.error);
    const socket = join(dir, 'enomem.sock');
    const server = await startServer(socket, { args: ['--fault', 'alloc-fail-nth=1'] });
    const run = await runTest(build.binary, {
      extraEnv: { LD_PRELOAD: shim.path, SEVBOX_SOCKET: socket },
      timeoutMs: 60_000,
      log: join(dir, 'enomem.log'),
    });
    await server.stop();
    assert.notEqual(run.status, 0, run.output);
    assert.match(run.output, /KVM_SEV_LAUNCH_MEASURE/, run.output);
    assert.match(run.output, /errno: 12 \(Cannot allocate memory\)/, run.output);
  });

  it('EFAULT: KVM_RUN fails once the guest page behind GPA 0 is unmapped after the 3rd exit', async () => {
    const shim = buildShim();
    const client = buildBenchClient();
    assert.ok(shim.ok && client.ok);
    const socket = join(dir, 'efault.sock');
    const server = await startServer(socket, { args: ['--fault', 'unmap-gpa=0@exit=3'] });
    const r = spawnSync(client.path, ['1', '100'], {
      env: { ...process.env, LD_PRELOAD: shim.path, SEVBOX_SOCKET: socket },
      encoding: 'utf8',
      timeout: 60_000,
    });
    const { log } = await server.stop();
    assert.equal(r.status, 1, `${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /KVM_RUN: Bad address/, r.stderr);
    assert.match(log, /fault: exit 3: unmapped hva 0x[0-9a-f]+ \(gpa 0x0\)/, log);
  });
});
