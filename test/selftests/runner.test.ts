/**
 * scripts/selftests.mjs (`npm run selftests`, issue 16): how it reads a kselftest run (outputs captured
 * from this project's machine: Linux 6.12.118's selftests on the real /dev/kvm, kvm_pvm backend, no
 * SEV), its table, its environments (the seam the /dev/kvm shim plugs into), its runner (interleaved
 * output, the timeout kills the process group), and, where gcc, make and a usable /dev/kvm exist, one
 * real test built into the cache and run.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  buildBlocker,
  buildTest,
  cellOf,
  classify,
  DEFAULT_CACHE,
  formatTable,
  noteOf,
  parseTotals,
  prepareEnvironment,
  runTest,
} from '../../scripts/selftests.mjs';

/** kvm_create_max_vcpus: exit 0. */
const MAX_VCPUS = `Random seed: 0x6b8b4567
KVM_CAP_MAX_VCPU_ID: 4096
KVM_CAP_MAX_VCPUS: 1024
Testing creating 1024 vCPUs, with IDs 0...1023.
Testing creating 1024 vCPUs, with IDs 3072...4095.
`;
/** x86_64/userspace_msr_exit_test (kselftest harness, TAP): exit 0. */
const MSR_EXIT = `Random seed: 0x6b8b4567
TAP version 13
1..4
# Starting 4 tests from 1 test cases.
#  RUN           user_msr.msr_filter_allow ...
To run the instruction emulated tests set the module parameter 'kvm.force_emulation_prefix=1'
#            OK  user_msr.msr_filter_allow
ok 1 user_msr.msr_filter_allow
#  RUN           user_msr.msr_filter_deny ...
#            OK  user_msr.msr_filter_deny
ok 2 user_msr.msr_filter_deny
#  RUN           user_msr.msr_permission_bitmap ...
#            OK  user_msr.msr_permission_bitmap
ok 3 user_msr.msr_permission_bitmap
#  RUN           user_msr.user_exit_msr_flags ...
#            OK  user_msr.user_exit_msr_flags
ok 4 user_msr.user_exit_msr_flags
# PASSED: 4 / 4 tests passed.
# Totals: pass:4 fail:0 xfail:0 xpass:0 skip:0 error:0
`;
/** x86_64/sev_smoke_test: exit 4. */
const SEV_SMOKE = `Random seed: 0x6b8b4567
1..0 # SKIP - Requirement not met: kvm_cpu_has(X86_FEATURE_SEV)
`;
/** x86_64/sev_init2_tests: exit 4. */
const SEV_INIT2 = `Random seed: 0x6b8b4567
1..0 # SKIP - Requirement not met: __kvm_has_device_attr(kvm_fd, KVM_X86_GRP_SEV, KVM_X86_SEV_VMSA_FEATURES) == 0
`;
/** dirty_log_test (fails on kvm_pvm, the vendored README says why): exit 254, the end of its output. */
const DIRTY_LOG = `Iteration 4 collected 65536 pages
vcpu continues now.
vcpu stops because vcpu is kicked out...
==== Test Assertion Failure ====
  dirty_log_test.c:561: test_bit_le(page, bmap)
  pid=5130 tid=5130 errno=1 - Operation not permitted
     1	0x0000000000403a06: vm_dirty_log_verify at dirty_log_test.c:561
     2	 (inlined by) run_test at dirty_log_test.c:803
     3	0x000000000040468c: for_each_guest_mode at guest_modes.c:96
     4	0x00000000004027a4: main at dirty_log_test.c:929 (discriminator 3)
     5	0x00007ff24ee25249: ?? ??:0
     6	0x00007ff24ee25304: ?? ??:0
     7	0x00000000004028e0: _start at ??:?
  Page 68380 should have its dirty bit set in this iteration but it is missing
`;

const exited = (status: number, output: string) => ({ status, signal: null, timedOut: false, output });

describe('classify: kselftest exit codes and output', () => {
  it('exit 0 is a pass (plain and TAP)', () => {
    assert.deepEqual(classify(exited(0, MAX_VCPUS)), { result: 'pass', note: '' });
    assert.deepEqual(classify(exited(0, MSR_EXIT)), { result: 'pass', note: '' });
  });

  it('exit 4 is a skip, the reason from the "Requirement not met" line', () => {
    assert.deepEqual(classify(exited(4, SEV_SMOKE)), {
      result: 'skip',
      note: 'kvm_cpu_has(X86_FEATURE_SEV)',
    });
    assert.deepEqual(classify(exited(4, SEV_INIT2)), {
      result: 'skip',
      note: '__kvm_has_device_attr(kvm_fd, KVM_X86_GRP_SEV, KVM_X86_SEV_VMSA_FEATURES) == 0',
    });
    // ksft_exit_skip's own message when no TEST_REQUIRE said why (shape of kselftest.h's output).
    assert.deepEqual(classify(exited(4, '1..0 # SKIP - KVM_CAP_XYZ unsupported\n')), {
      result: 'skip',
      note: 'KVM_CAP_XYZ unsupported',
    });
    assert.deepEqual(classify(exited(4, '')), { result: 'skip', note: 'kselftest skip (exit 4)' });
  });

  it('a "Requirement not met" line makes exit 0 a skip unless subtests passed; never hides a failure', () => {
    assert.deepEqual(classify(exited(0, SEV_SMOKE)), {
      result: 'skip',
      note: 'kvm_cpu_has(X86_FEATURE_SEV)',
    });
    const someSkipped = MSR_EXIT.replace(
      '# Totals: pass:4 fail:0 xfail:0 xpass:0 skip:0 error:0',
      '#      SKIP      Requirement not met: kvm_has_cap(KVM_CAP_X86_USER_SPACE_MSR)\n# Totals: pass:3 fail:0 xfail:0 xpass:0 skip:1 error:0',
    );
    assert.deepEqual(classify(exited(0, someSkipped)), { result: 'pass', note: '1 of 4 subtests skipped' });
    assert.equal(classify(exited(1, SEV_SMOKE)).result, 'fail');
  });

  it('any other exit, a signal or the timeout is a failure, with the assertion that failed', () => {
    assert.deepEqual(classify(exited(254, DIRTY_LOG)), {
      result: 'fail',
      note: 'exit 254: dirty_log_test.c:561: test_bit_le(page, bmap)',
    });
    const tapFail = MSR_EXIT.replace('ok 2 user_msr.msr_filter_deny', 'not ok 2 user_msr.msr_filter_deny');
    assert.deepEqual(classify(exited(1, tapFail)), {
      result: 'fail',
      note: 'exit 1: not ok 2 user_msr.msr_filter_deny',
    });
    assert.deepEqual(classify(exited(1, '')), { result: 'fail', note: 'exit 1: no output' });
    assert.deepEqual(classify({ status: null, signal: 'SIGSEGV', timedOut: false, output: MAX_VCPUS }), {
      result: 'fail',
      note: 'killed by SIGSEGV',
    });
    assert.deepEqual(
      classify({ status: null, signal: 'SIGKILL', timedOut: true, output: MAX_VCPUS, timeoutMs: 120_000 }),
      { result: 'fail', note: 'timeout after 120 s' },
    );
  });

  it('reads the TAP totals', () => {
    assert.deepEqual(parseTotals(MSR_EXIT), { pass: 4, fail: 0, xfail: 0, xpass: 0, skip: 0, error: 0 });
    assert.equal(parseTotals(MAX_VCPUS), null);
  });
});

describe('the table', () => {
  it('pads a Markdown pipe table: test, one column per environment, note', () => {
    const table = formatTable([
      { test: 'kvm_create_max_vcpus', cells: ['pass (0.20 s)', 'not yet (no shim)'], note: '' },
      {
        test: 'x86_64/sev_smoke_test',
        cells: ['skip (0.00 s)', 'not yet (no shim)'],
        note: 'kvm_cpu_has(X86_FEATURE_SEV)',
      },
    ]);
    assert.equal(
      table,
      [
        '| test                  | real /dev/kvm | sevbox            | note                         |',
        '|-----------------------|---------------|-------------------|------------------------------|',
        '| kvm_create_max_vcpus  | pass (0.20 s) | not yet (no shim) |                              |',
        '| x86_64/sev_smoke_test | skip (0.00 s) | not yet (no shim) | kvm_cpu_has(X86_FEATURE_SEV) |',
      ].join('\n'),
    );
  });

  it('cells and notes: a run says its result and time; the note names the environment when they differ', () => {
    const ran = (env: string, result: 'pass' | 'skip' | 'fail', note: string) =>
      ({ env, ran: true, result, note, status: 0, signal: null, ms: 1234, log: '' }) as const;
    const build = { binary: 'b', cached: true, ms: 0 };
    assert.equal(cellOf(ran('real', 'pass', '')), 'pass (1.23 s)');
    assert.equal(cellOf({ env: 'sevbox', ran: false, cell: 'not yet (no shim)' }), 'not yet (no shim)');
    // The environments disagree: the note says which said what.
    assert.equal(
      noteOf(build, [ran('real', 'skip', 'no SEV'), ran('sevbox', 'pass', '')]),
      'real skip: no SEV',
    );
    assert.equal(
      noteOf(build, [ran('real', 'skip', 'a'), ran('sevbox', 'fail', 'b')]),
      'real skip: a; sevbox fail: b',
    );
    // They agree: the note once, or each environment's.
    assert.equal(
      noteOf(build, [ran('real', 'pass', '1 of 4 subtests skipped'), ran('sevbox', 'pass', '')]),
      '1 of 4 subtests skipped',
    );
    assert.equal(noteOf(build, [ran('real', 'fail', 'a'), ran('sevbox', 'fail', 'b')]), 'real: a; sevbox: b');
    assert.equal(noteOf({ ...build, error: 'x.c:1: error: y' }, []), 'build failed: x.c:1: error: y');
  });
});

describe('environments and the runner', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sevbox-selftests-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, body: string) => {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };

  it('real needs a /dev/kvm that opens; sevbox needs its shim, then preloads it', () => {
    assert.deepEqual(prepareEnvironment({ name: 'real' }, { kvmDevice: join(dir, 'no-kvm') }), {
      ok: false,
      cell: `no ${join(dir, 'no-kvm')}`,
    });
    assert.deepEqual(prepareEnvironment({ name: 'sevbox', preload: join(dir, 'none.so') }), {
      ok: false,
      cell: 'no shim (npm run shim)',
    });
    const shim = script('libsevbox-kvm.so', '');
    assert.deepEqual(prepareEnvironment({ name: 'sevbox', preload: shim, socket: '/tmp/s' }), {
      ok: true,
      env: { LD_PRELOAD: shim, SEVBOX_SOCKET: '/tmp/s' },
    });
    // Without a socket of its own, each test gets a fresh server of the profile asked for.
    assert.deepEqual(prepareEnvironment({ name: 'sevbox', preload: shim, profile: 'seed' }), {
      ok: true,
      env: { LD_PRELOAD: shim },
      serve: { profile: 'seed' },
    });
  });

  it('captures stdout and stderr interleaved, the exit status and the environment', async () => {
    const bin = script(
      'skips',
      'echo "Random seed: 1"; echo "1..0 # SKIP - Requirement not met: $WHY" >&2; exit 4',
    );
    const run = await runTest(bin, { extraEnv: { WHY: 'no SEV' }, log: join(dir, 'logs/skips.log') });
    assert.equal(run.status, 4);
    assert.equal(run.output, 'Random seed: 1\n1..0 # SKIP - Requirement not met: no SEV\n');
    assert.deepEqual(classify(run), { result: 'skip', note: 'no SEV' });
  });

  it('the timeout kills the whole process group (a forked child too)', async () => {
    const bin = script('hangs', 'sleep 30 & echo "child $!"; wait');
    const run = await runTest(bin, { timeoutMs: 300, log: join(dir, 'logs/hangs.log') });
    assert.equal(run.timedOut, true);
    assert.ok(run.ms < 5000, `${run.ms} ms`);
    const child = Number(/child (\d+)/.exec(run.output)?.[1]);
    assert.ok(await goneOrZombie(child), `pid ${child} still runs`);
    assert.equal(classify({ ...run, timeoutMs: 300 }).result, 'fail');
  });
});

/** Whether a process has exited (gone, or a zombie not reaped yet) within 2 s. */
async function goneOrZombie(pid: number): Promise<boolean> {
  for (let i = 0; i < 40; i++) {
    try {
      if (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')) return true;
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

const kvm = prepareEnvironment({ name: 'real' });
const blocker = buildBlocker() ?? (kvm.ok ? null : kvm.cell);

describe('end to end on the real /dev/kvm', { skip: blocker ? `skipped: ${blocker}` : false }, () => {
  it('kvm_create_max_vcpus builds (cached in .cache/kvm-selftests) and passes', async () => {
    const build = buildTest('kvm_create_max_vcpus');
    assert.equal(build.error, undefined);
    const run = await runTest(build.binary, {
      timeoutMs: 60_000,
      log: join(DEFAULT_CACHE, 'logs/test/kvm_create_max_vcpus.log'),
    });
    assert.deepEqual(classify(run), { result: 'pass', note: '' }, run.output);
  });
});
