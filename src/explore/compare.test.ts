import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadScenario } from '../scenario/load.js';
import type { ProfileName } from '../scenario/schema.js';
import { compareTraces } from './compare.js';
import { recordScenario } from './scenario.js';

async function record(file: string, profile: ProfileName) {
  const loaded = await loadScenario(new URL(`../../examples/${file}`, import.meta.url).pathname);
  assert.ok('scenario' in loaded, `${file} did not load`);
  return recordScenario(loaded.scenario, { profile });
}

describe('comparing two runs', () => {
  it('marks where prefix and seed part ways on a scratch area outside any memslot', async () => {
    const file = 'demo/5-efault-no-memslot.yaml';
    const c = compareTraces(await record(file, 'prefix'), await record(file, 'seed'));
    assert.ok(c.divergence, 'the kernels differ here');
    const pair = c.pairs[c.divergence.pair]!;
    assert.equal(pair.same, false);
    // Everything before it agrees; the prefix kernel reflects, the seed kernel fails KVM_RUN.
    assert.ok(c.pairs.slice(0, c.divergence.pair).every((p) => p.same));
    assert.match(c.divergence.why, /reflected against failed/);
    const left = c.left.events.find((e) => e.kind === 'vmgexit' && e.vmgexit === pair.left)!;
    assert.equal(left.outcome, 'reflected');
  });

  it('finds no divergence between a run and itself', async () => {
    const t = await record('hostile-ghcb.yaml', 'seed');
    const c = compareTraces(t, t);
    assert.equal(c.divergence, undefined);
    assert.ok(c.pairs.length > 0 && c.pairs.every((p) => p.same && p.left === p.right));
  });
});
