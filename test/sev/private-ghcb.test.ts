/**
 * The GHCB-left-private bug as a scenario (examples/machine-code/ghcb-left-private.yaml) under every
 * profile: the firmware writes its GHCB with paging off, where every access is private, so KVM reads
 * ciphertext and refuses the request; and the same firmware's memory read back as the host sees it
 * (ciphertext) against the debug view of the memory controller (the guest's plaintext).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isScenarioError } from '../../src/scenario/errors.js';
import { loadScenario } from '../../src/scenario/load.js';
import { formatReport, runScenario } from '../../src/scenario/run.js';

const FILE = fileURLToPath(new URL('../../examples/machine-code/ghcb-left-private.yaml', import.meta.url));

describe('a GHCB left private', () => {
  for (const profile of ['prefix', 'seed', 'current'] as const) {
    it(`[${profile}] KVM reflects GHCB_ERR_INVALID_USAGE (the usage it reads is ciphertext); no KVM_EXIT_IO`, async () => {
      const s = await loadScenario(FILE);
      assert.ok(!isScenarioError(s));
      const report = runScenario(s.scenario, { profile });
      assert.ok(report.ok, formatReport(report).join('\n'));
      assert.equal(report.vmgexits.length, 1);
      assert.match(formatReport(report).join('\n'), /reflected \(INVALID_USAGE\)/);
      assert.equal(report.serial, '');
    });
  }
});
