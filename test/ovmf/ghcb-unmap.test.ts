/**
 * The seed's contract on real firmware: the VMM unmaps the host page under OVMF's GHCB — where every
 * scratch area OVMF names lives (its #VC handler puts MMIO and string I/O data in the GHCB's shared
 * buffer; it never names scratch elsewhere, so setup_vmgexit_scratch's bounce-buffer path, and with
 * it the prefix/seed split over reflecting INVALID_SCRATCH_AREA, is never reached by this guest).
 * The guest's next store to its GHCB then faults in KVM's page-fault path:
 *   - prefix and seed: KVM_RUN fails with a bare EFAULT; a VMM that re-runs naively gets EFAULT
 *     again, for ever; one that would fix the page is not told which.
 *   - current (Linux 6.8+): the same EFAULT comes with KVM_EXIT_MEMORY_FAULT (gpa, size): the VMM
 *     maps the page again and the boot completes to the shell.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { readFirmware, SHIPPED_OVMF } from '../../src/cli/boot.js';
import type { SevProfileName } from '../../src/sev/profiles.js';
import { isVmmError } from '../../src/vmm/errors.js';
import { bootOvmf, type OvmfBootOptions, type OvmfBootResult } from '../../src/vmm/ovmf-boot.js';

/** The exit to userspace at which the VMM unmaps the page: in PEI, after SEC's decompression. */
const AT_EXIT = 100;
let firmware: Uint8Array;

function boot(profile: SevProfileName, efault: 'rerun' | 'resolve' | 'stop'): OvmfBootResult {
  const policies: OvmfBootOptions['policies'] =
    efault === 'stop'
      ? undefined
      : {
          enomem: { action: 'stop' },
          efault:
            efault === 'rerun'
              ? { action: 'rerun', maxRetries: 3 }
              : { action: 'resolve', resolvers: ['remap'], maxRetries: 3 },
        };
  const r = bootOvmf({
    firmware,
    maxKvmRuns: 200_000,
    machine: { sev: { profile } },
    unmapGhcbAtExit: AT_EXIT,
    ...(policies ? { policies } : {}),
  });
  assert.ok(!isVmmError(r), isVmmError(r) ? r.message : '');
  return r;
}

describe("the VMM unmaps the host page under OVMF's GHCB", () => {
  before(async () => {
    const f = await readFirmware(SHIPPED_OVMF);
    assert.ok(typeof f !== 'string', String(f));
    firmware = f;
  });

  for (const profile of ['prefix', 'seed'] as const) {
    it(`${profile}: bare EFAULT, no address; a naive re-run faults again and the boot is stuck in PEI`, () => {
      const r = boot(profile, 'rerun');
      assert.ok(r.unmappedGhcb, 'the page was unmapped');
      assert.equal(r.unmappedGhcb.atExit, AT_EXIT);
      assert.equal(r.stop.kind, 'kvm-error');
      assert.ok(r.stop.kind === 'kvm-error' && r.stop.errno === 'EFAULT');
      assert.equal(r.retried.length, 3, 'three naive re-runs, each EFAULT again');
      for (const x of r.retried) assert.equal(x.diagnosis?.source, 'none', 'KVM said nowhere which address');
      assert.ok(!r.milestones.some((m) => m.milestone === 'dxe'));
    });
  }

  it('current: KVM_EXIT_MEMORY_FAULT names the page; the VMM maps it again and OVMF boots to the shell', () => {
    const r = boot('current', 'resolve');
    assert.deepEqual(r.stop, { kind: 'milestone', milestone: 'bds' });
    assert.equal(r.retried.length, 1);
    const fix = r.retried[0]!;
    assert.equal(fix.errno, 'EFAULT');
    assert.equal(fix.diagnosis?.source, 'memory-fault-exit');
    assert.equal(fix.diagnosis?.gpa, r.unmappedGhcb?.gpa, 'the fault names the GHCB page');
    assert.match(r.serial, /Shell> /);
  });

  it('current, a VMM that stops on EFAULT: the error carries the GHCB page', () => {
    const r = boot('current', 'stop');
    assert.ok(r.stop.kind === 'kvm-error' && r.stop.errno === 'EFAULT');
    assert.ok(r.stop.kind === 'kvm-error' && r.stop.diagnosis?.gpa === r.unmappedGhcb?.gpa);
  });
});
