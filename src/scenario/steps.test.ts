/**
 * The `scratch` argument of the ordinary verbs: "ghcb", "ghcb+<offset>", or any u64 GPA as a bigint
 * (past 2^53 too, exactly); beyond 64 bits it is refused, with the path of the value.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatScenarioError, isScenarioError } from './errors.js';
import { parseScenario } from './load.js';
import { isStepsScenario } from './schema.js';
import type { Step } from './steps.js';

const stepText = (step: string) => `name: t\nguest:\n  steps:\n    - ${step}\n`;

/** The one step of a scenario with `step`, parsed. */
function parsedStep(text: string, file = 's.yaml'): Step {
  const r = parseScenario(text, file);
  if (isScenarioError(r)) assert.fail(formatScenarioError(r));
  assert.ok(isStepsScenario(r.scenario));
  return r.scenario.guest.vcpus[0]!.steps[0]!;
}

const scratchOf = (st: Step) => (st.args as { scratch: unknown }).scratch;

describe('scratch GPAs in the ordinary verbs', () => {
  it('a GPA above 2^53 is a bigint, exact to the last bit (YAML and JSON)', () => {
    assert.deepEqual(
      scratchOf(parsedStep(stepText('mmio-read: { gpa: 0xfed00000, len: 4, scratch: 0x20_0000_0000_0001 }'))),
      {
        gpa: 0x20_0000_0000_0001n,
      },
    );
    assert.deepEqual(
      scratchOf(
        parsedStep(stepText('ins: { port: 0x80, size: 1, count: 1, scratch: 18446744073709551615 }')),
      ),
      {
        gpa: 0xffff_ffff_ffff_ffffn,
      },
    );
    const json = JSON.stringify({
      name: 't',
      guest: { steps: [{ outs: { port: 1, size: 1, hex: '00', scratch: 0 } }] },
    }).replace('"scratch":0', '"scratch":18446744073709547521');
    assert.deepEqual(scratchOf(parsedStep(json, 's.json')), { gpa: 0xffff_ffff_ffff_f001n });
  });

  it('small GPAs are bigints too; "ghcb" and "ghcb+<offset>" stay in the GHCB', () => {
    assert.deepEqual(
      scratchOf(parsedStep(stepText('mmio-write: { gpa: 0xfed00000, hex: "00", scratch: 0x4000 }'))),
      {
        gpa: 0x4000n,
      },
    );
    assert.deepEqual(
      scratchOf(parsedStep(stepText('mmio-read: { gpa: 0xfed00000, len: 4, scratch: "ghcb+0x10" }'))),
      {
        in: 'ghcb',
        offset: 0x10,
      },
    );
    assert.deepEqual(scratchOf(parsedStep(stepText('mmio-read: { gpa: 0xfed00000, len: 4 }'))), {
      in: 'ghcb',
    });
  });

  it('beyond 2^64 is refused, naming the path and the width', () => {
    const r = parseScenario(
      stepText('mmio-read: { gpa: 0xfed00000, len: 4, scratch: 0x1_0000_0000_0000_0000 }'),
      'big.yaml',
    );
    assert.ok(isScenarioError(r), 'refused');
    assert.equal(r.issues.length, 1);
    const [i] = r.issues;
    assert.equal(i!.path, 'guest.steps[0].mmio-read.scratch');
    assert.match(
      i!.message,
      /^expected a scratch area: "ghcb", "ghcb\+<offset>" or a guest physical address below 2\^64/,
    );
    assert.match(i!.message, /0x10000000000000000 needs 65 bits/);
    assert.equal(i!.line, 4);
    assert.match(formatScenarioError(r), /^big\.yaml:4:\d+: guest\.steps\[0\]\.mmio-read\.scratch: expected/);
  });

  it('a negative GPA or a word is refused with the same path', () => {
    for (const bad of ['-1', 'somewhere']) {
      const r = parseScenario(stepText(`outs: { port: 1, size: 1, hex: "00", scratch: ${bad} }`), 'bad.yaml');
      assert.ok(isScenarioError(r), bad);
      assert.equal(r.issues[0]!.path, 'guest.steps[0].outs.scratch');
      assert.match(r.issues[0]!.message, /expected a scratch area: .* below 2\^64 .*got/);
    }
  });
});
