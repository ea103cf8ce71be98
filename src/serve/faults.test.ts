import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostAllocator } from '../host/allocator.js';
import { allocatorPlan, parseFault } from './faults.js';

describe('sevbox serve --fault', () => {
  it('parses each kind, in decimal or hex', () => {
    assert.deepEqual(parseFault('budget=0x2000'), { kind: 'budget', bytes: 0x2000 });
    assert.deepEqual(parseFault('alloc-fail-nth=3,5'), { kind: 'alloc-fail-nth', nth: [3, 5] });
    assert.deepEqual(parseFault('alloc-fail-over=4096'), { kind: 'alloc-fail-over', bytes: 4096 });
    assert.deepEqual(parseFault('unmap-gpa=0x9000@vmgexit=12'), {
      kind: 'unmap-gpa',
      gpa: 0x9000,
      at: 'vmgexit',
      n: 12,
    });
    assert.deepEqual(parseFault('unmap-gpa=0@exit=3'), { kind: 'unmap-gpa', gpa: 0, at: 'exit', n: 3 });
  });

  it('names the flag and what was expected when it is wrong', () => {
    assert.match(String(parseFault('budget=lots')), /--fault budget=lots: expected a byte count/);
    assert.match(String(parseFault('alloc-fail-nth=0')), /counted from 1/);
    assert.match(String(parseFault('unmap-gpa=0x9000')), /GPA@vmgexit=N or GPA@exit=N/);
    assert.match(String(parseFault('unmap-gpa=0x9000@exit=0')), /N from 1/);
    assert.match(String(parseFault('oops=1')), /unknown fault/);
  });

  it('turns the allocator flags into a budget and a failslab plan the allocator follows', () => {
    const specs = ['budget=8192', 'alloc-fail-nth=2', 'unmap-gpa=0x1000@vmgexit=1'].map(parseFault);
    const plan = allocatorPlan(specs.filter((s) => typeof s !== 'string'));
    assert.deepEqual(plan, { budget: 8192, faults: { failNth: [2] } });
    const a = new HostAllocator(plan);
    assert.ok(a.alloc(16, 't'), 'the first allocation succeeds');
    assert.equal(a.alloc(16, 't'), undefined, 'the second is failed by the plan');
    assert.equal(a.alloc(8192, 't'), undefined, 'over the budget');
  });
});
