/**
 * The kit's own checks can fail: a leak, a wrong GHCB_ERR_* code, a wrong exit list, all make a test
 * fail. And one place where the trace-derived outcome disagrees with the spec.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KVM_EXIT_MMIO } from '../../src/uapi/exit-reasons.js';
import { GHCB_ERR_INVALID_SCRATCH_AREA, GHCB_ERR_MISSING_INPUT } from '../../src/uapi/ghcb.js';
import { SVM_EXIT_IOIO } from '../../src/uapi/svm.js';
import {
  assertOutcome,
  drive,
  fails,
  finish,
  GHCB_GPA,
  handled,
  idleGuest,
  leakGuard,
  type Machine,
  MMIO_GPA,
  rawMmio,
  rawStringIo,
  reflected,
  SHARED_GPA,
  sevMachine,
  userspace,
} from './kit.js';

leakGuard();

describe('the kit fails when it should', () => {
  it('finish() fails on an allocation nobody freed', () => {
    const m = sevMachine({ profile: 'seed', guest: idleGuest });
    m.allocator.alloc(16, 'stray');
    assert.throws(() => finish(m as Machine<unknown>), /leak after closing the VM: stray: 1 \(16 B\)/);
  });

  it('assertOutcome tells reflected codes, exit lists and errnos apart', () => {
    const m = sevMachine({ profile: 'seed', guest: (c) => rawMmio(c, 'read', MMIO_GPA, 8, GHCB_GPA + 8) });
    const r = drive(m);
    assertOutcome(r, reflected(GHCB_ERR_INVALID_SCRATCH_AREA));
    assert.throws(() => assertOutcome(r, reflected(GHCB_ERR_MISSING_INPUT)));
    assert.throws(() => assertOutcome(r, handled()));
    assert.throws(() => assertOutcome(r, userspace(KVM_EXIT_MMIO)));
    assert.throws(() => assertOutcome(r, fails('EFAULT')));
    finish(m as Machine<unknown>);
  });
});

describe('foldVmgexits and a host oops', () => {
  it('a VMGEXIT that crashed the host (seed, size-0 OUTS) is not reported as handled', () => {
    const m = sevMachine({ profile: 'seed', guest: (c) => rawStringIo(c, 'out', 0, 4, SHARED_GPA) });
    const r = drive(m);
    finish(m as Machine<unknown>);
    assert.deepEqual(
      r.outcomes.map((o) => [o.exitCode, o.outcome.kind]),
      [[BigInt(SVM_EXIT_IOIO), 'oops']],
      'one record, for the IOIO VMGEXIT, and it is the oops',
    );
    assert.match((r.outcomes[0]!.outcome as { message: string }).message, /divide error in kvm_sev_es_outs/);
  });
});
