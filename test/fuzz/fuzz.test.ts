/**
 * The fuzzer in `npm test`: a fixed-count seeded campaign of the same properties `sevbox fuzz`
 * checks, the scenario form of a case, reproducers replayed through the scenario runner, and a
 * deliberately planted bug (through a test-only hook) caught and shrunk.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { type CampaignResult, caseAt, runCampaign } from '../../src/fuzz/campaign.js';
import { checkCase } from '../../src/fuzz/check.js';
import { caseScenario } from '../../src/fuzz/execute.js';
import { fuzzCaseArb } from '../../src/fuzz/generate.js';
import { reproducerDoc, toYaml } from '../../src/fuzz/report.js';
import { ModelVmFd } from '../../src/kvm/fd.js';
import { runScenario } from '../../src/scenario/run.js';
import { scenarioSchema } from '../../src/scenario/schema.js';
import type { Vmm } from '../../src/vmm/vmm.js';

const SEED = 20261125;

const unexpected = (r: CampaignResult): string[] => r.violations.map((v) => `${v.signature}`);

describe('sevbox fuzz, seeded', () => {
  /**
   * The campaign is expensive (seconds), so it runs once, before the tests; each test then checks
   * its own part of the result, which no test changes.
   */
  let result: CampaignResult;
  before(async () => {
    result = await runCampaign({ seed: SEED, runs: 250, workers: 1, shrinkSeconds: 30, shrinkTries: 60 });
  });

  it('a fixed-count campaign keeps every invariant', () => {
    assert.ok(result.vmgexits > 2500, `${result.vmgexits} VMGEXITs`);
    assert.deepEqual(unexpected(result), []);
  });

  it('rediscovers the size-0 string I/O host fault on seed (and prefix), and finds none on current', () => {
    const oops = result.findings.filter((f) => f.shrunk.kind === 'size0-string-io-oops');
    assert.deepEqual(oops.map((f) => f.shrunk.profile).sort(), ['prefix', 'seed']);
    assert.ok((result.causes.get('current: IOIO with size field 0 ignored') ?? 0) > 0);
    // The shrunk reproducer is one step, and `sevbox run` replays the oops.
    const seedOops = oops.find((f) => f.shrunk.profile === 'seed')!;
    assert.equal(seedOops.case.steps.length, 1);
    const doc = reproducerDoc(
      seedOops.case,
      'seed',
      seedOops.verdict.expectations.get('seed'),
      'oops',
      'finding',
      {
        kind: 'kernel-oops',
      },
    );
    const report = runScenario(scenarioSchema.parse(parse(toYaml(doc, ['reproducer']))));
    assert.ok(report.ok, report.checks.map((c) => c.message).join('\n'));
    assert.equal(report.stop?.kind, 'kernel-oops');
    // The same step on current: ignored, the guest goes on.
    const cur = checkCase(seedOops.case, { only: 'current' });
    assert.ok(!cur.findings.some((f) => f.kind === 'size0-string-io-oops'));
  });

  it('reports the MMIO direction quirk as a finding of prefix and seed only', () => {
    const q = result.findings
      .filter((f) => f.shrunk.kind === 'mmio-direction-quirk')
      .map((f) => f.shrunk.profile);
    assert.deepEqual(q.sort(), ['prefix', 'seed']);
  });
});

describe('fuzz cases', () => {
  it('the fast scenario equals the parsed scenario document, so reproducers replay what ran', () => {
    const arb = fuzzCaseArb();
    for (let i = 0; i < 60; i++) {
      const c = caseAt(arb, SEED, i);
      assert.deepEqual(caseScenario(c, true), caseScenario(c));
    }
  });

  it('the same seed gives the same cases and the same traces', () => {
    const arb = fuzzCaseArb();
    const a = caseAt(arb, 7, 3);
    assert.deepEqual(caseAt(arb, 7, 3), a);
    assert.deepEqual(
      checkCase(a, { determinism: true }).violations.filter((v) => v.invariant === 'determinism'),
      [],
    );
    assert.deepEqual(fc.sample(arb, { seed: 1, numRuns: 5 }), fc.sample(arb, { seed: 1, numRuns: 5 }));
  });
});

describe('a planted bug', () => {
  /**
   * Test-only: the EFAULT path of setupScratch forgets to free its bounce buffer. The bug is planted
   * inside the model's KVM (the struct kvm behind the VM fd), which setupScratch reads guest memory
   * through, and in the kernel allocator it charges.
   */
  const plantMissingFreeOnEfault = (vmm: Vmm): void => {
    assert.ok(vmm.vm instanceof ModelVmFd, 'the fuzzer runs on the model');
    const vm = vmm.vm.vm;
    const allocator = vmm.allocator;
    assert.ok(allocator, 'the model platform exposes its allocator');
    let failedRead = false;
    const read = vm.readGuest.bind(vm);
    vm.readGuest = (gpa, dst) => {
      const f = read(gpa, dst);
      failedRead = f !== undefined;
      return f;
    };
    const free = allocator.free.bind(allocator);
    allocator.free = (a) => {
      if (failedRead && a.tag === 'ghcb-scratch') {
        failedRead = false;
        return;
      }
      free(a);
    };
  };

  it('is caught by the leak invariant and shrunk to a one-step reproducer', async () => {
    const r = await runCampaign({
      seed: SEED,
      runs: 150,
      profiles: ['seed'],
      hooks: { onVmm: plantMissingFreeOnEfault },
      shrinkSeconds: 30,
      shrinkTries: 150,
    });
    const leak = r.violations.find((v) => v.shrunk.invariant === 'leak');
    assert.ok(leak, r.violations.map((v) => v.signature).join('\n'));
    assert.equal(leak.case.steps.length, 1);
    const step = leak.case.steps[0]!.step;
    assert.equal(step.kind, 'raw');
    // Without the planted bug the same case keeps the allocator at its baseline.
    assert.ok(!checkCase(leak.case).violations.some((v) => v.invariant === 'leak'));
    assert.ok(
      checkCase(leak.case, { hooks: { onVmm: plantMissingFreeOnEfault } }).violations.some(
        (v) => v.invariant === 'leak',
      ),
    );
  });
});
