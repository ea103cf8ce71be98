/**
 * Linux's own KVM selftests (vendored, unmodified) against sevbox through the /dev/kvm shim: the
 * subset that must pass, each built into .cache/kvm-selftests and run with LD_PRELOAD against a fresh
 * `sevbox serve` (`npm run selftests` prints the whole table, real /dev/kvm beside sevbox). Needs no
 * /dev/kvm; skips (one line) without gcc/make, the vendored tree or koffi.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildShim } from '../../scripts/build-shim.mjs';
import {
  buildBlocker,
  buildTest,
  classify,
  DEFAULT_CACHE,
  runTest,
  startServer,
} from '../../scripts/selftests.mjs';
import { loadSharedMemory } from '../../src/hostkvm/shared-memory.js';

/** The tests that pass on sevbox today; each would fail if the shim, the server or the model broke. */
export const MUST_PASS = [
  'kvm_create_max_vcpus',
  // 32,764 memslots (each a memfd shared with the server), a vCPU thread running while the main
  // thread moves and deletes its memslot: about a minute here, against 17 s on the real KVM.
  'set_memory_region_test',
  'x86_64/userspace_io_test',
  'x86_64/userspace_msr_exit_test',
  // Skips on a host without SEV: here it runs, and passes, on the model's plain SEV and SEV-ES.
  'x86_64/sev_init2_tests',
  'x86_64/sev_migrate_tests',
  'x86_64/sync_regs_test',
  // Plain SEV, SEV-ES, the shutdown, and test_sync_vmsa (host XSAVE with AVX state through
  // KVM_SET_XSAVE and the VMSA into the guest's XSAVE) when the host's XCR0 has x87|SSE|AVX.
  'x86_64/sev_smoke_test',
];

const blocker = buildBlocker() ?? (loadSharedMemory().ok ? null : 'no koffi');

describe('KVM selftests on sevbox through the shim', {
  skip: blocker ? `skipped: ${blocker}` : false,
}, () => {
  for (const test of MUST_PASS) {
    it(`${test} passes`, async () => {
      const shim = buildShim();
      assert.ok(shim.ok, shim.ok ? '' : shim.reason);
      const build = buildTest(test);
      assert.equal(build.error, undefined, build.error);
      const socket = join(DEFAULT_CACHE, 'sock', `npm-test-${test.replaceAll('/', '_')}.sock`);
      const server = await startServer(socket);
      const log = join(DEFAULT_CACHE, 'logs', 'npm-test', `${test}.log`);
      const run = await runTest(build.binary, {
        extraEnv: { LD_PRELOAD: shim.path, SEVBOX_SOCKET: socket },
        timeoutMs: 300_000,
        log,
      });
      const served = await server.stop();
      const verdict = classify({ ...run, timeoutMs: 300_000 });
      assert.deepEqual(verdict, { result: 'pass', note: '' }, `${run.output}\nserver:\n${served.log}`);
      // The model answered: the server saw the client's ioctls.
      assert.match(served.log, /done: [1-9]\d* connections, [1-9]\d* ioctls/, served.log);
    });
  }
});
