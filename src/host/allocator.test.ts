import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type HostAllocation, HostAllocator } from './allocator.js';

/** Run `n` allocations of `size` and return which succeeded (freeing each, so the budget never bites). */
function outcomes(a: HostAllocator, n: number, size = 16): boolean[] {
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const x = a.alloc(size, 't');
    out.push(x !== undefined);
    if (x) a.free(x);
  }
  return out;
}

describe('HostAllocator', () => {
  it('hands out zeroed memory of the requested size and accounts for it', () => {
    const a = new HostAllocator();
    const x = a.alloc(100, 'scratch')!;
    const y = a.alloc(50, 'bitmap')!;
    const z = a.alloc(10, 'scratch')!;
    assert.equal(x.bytes.length, 100);
    assert.ok(x.bytes.every((b) => b === 0));
    assert.equal(a.inUse(), 160);
    assert.equal(a.liveCount(), 3);
    assert.deepEqual(
      a.live(),
      new Map([
        ['scratch', { count: 2, bytes: 110 }],
        ['bitmap', { count: 1, bytes: 50 }],
      ]),
    );
    a.free(x);
    assert.equal(a.inUse(), 60);
    assert.equal(a.peak(), 160);
    a.free(y);
    a.free(z);
    assert.equal(a.inUse(), 0);
    assert.equal(a.liveCount(), 0);
    assert.equal(a.live().size, 0);
    assert.equal(a.peak(), 160);
    assert.deepEqual(a.stats, { allocs: 3, frees: 3, failures: 0 });
  });

  it('fails with ENOMEM past the budget, charging nothing, and succeeds once the budget is raised', () => {
    const a = new HostAllocator({ budget: 1000 });
    const x = a.alloc(600, 'a')!;
    assert.equal(a.alloc(401, 'b'), undefined);
    assert.equal(a.inUse(), 600);
    assert.equal(a.liveCount(), 1);
    assert.equal(a.stats.failures, 1);
    assert.ok(a.alloc(400, 'c'), 'exactly at the budget is fine');
    assert.equal(a.alloc(1, 'd'), undefined);
    a.budget = 2000;
    assert.ok(a.alloc(1, 'd'));
    assert.equal(a.inUse(), 1001);
    a.free(x);
    assert.equal(a.peak(), 1001);
  });

  it('size 0 always succeeds, even with no budget left, and must still be freed once', () => {
    const a = new HostAllocator({ budget: 0, faults: { failNth: 1 } });
    const z = a.alloc(0, 'zero')!;
    assert.equal(z.bytes.length, 0);
    assert.equal(a.liveCount(), 1);
    assert.equal(a.alloc(1, 'x'), undefined, 'the zero-size allocation did not consume failNth 1');
    a.free(z);
    assert.throws(() => a.free(z), /double free/);
  });

  it('double free and foreign free throw', () => {
    const a = new HostAllocator();
    const x = a.alloc(8, 'x')!;
    a.free(x);
    assert.throws(() => a.free(x), /double free of 'x'/);
    const foreign: HostAllocation = { bytes: new Uint8Array(8), tag: 'f' };
    assert.throws(() => a.free(foreign), /not allocated here/);
    const other = new HostAllocator().alloc(8, 'o')!;
    assert.throws(() => a.free(other), /not allocated here/);
    assert.equal(a.inUse(), 0);
    assert.equal(a.stats.frees, 1);
  });

  it('failNth fails exactly the Nth allocation, counting from when the plan was set', () => {
    const a = new HostAllocator();
    outcomes(a, 5);
    a.setFaults({ failNth: 3 });
    assert.deepEqual(outcomes(a, 5), [true, true, false, true, true]);
    a.setFaults({ failNth: 3 });
    assert.deepEqual(outcomes(a, 3), [true, true, false], 'setFaults resets the counter');
    a.setFaults(undefined);
    assert.deepEqual(outcomes(a, 3), [true, true, true]);
    assert.equal(a.stats.failures, 2);
  });

  it('failNth accepts a list', () => {
    const a = new HostAllocator({ faults: { failNth: [1, 4, 5] } });
    assert.deepEqual(outcomes(a, 6), [false, true, true, false, false, true]);
    assert.equal(a.liveCount(), 0);
  });

  it('failOver fails only allocations larger than the threshold', () => {
    const a = new HostAllocator({ faults: { failOver: 4096 } });
    assert.ok(a.alloc(4096, 'page'));
    assert.equal(a.alloc(4097, 'big'), undefined);
    assert.equal(a.inUse(), 4096);
  });

  it('seeded probability is deterministic for a seed and differs across seeds', () => {
    const run = (seed: number) => outcomes(new HostAllocator({ faults: { probability: 0.5, seed } }), 64);
    const a = run(1);
    assert.deepEqual(run(1), a);
    assert.notDeepEqual(run(2), a);
    const failures = a.filter((ok) => !ok).length;
    assert.ok(failures > 10 && failures < 54, `about half fail (${failures}/64)`);
    assert.ok(outcomes(new HostAllocator({ faults: { probability: 0, seed: 5 } }), 50).every((ok) => ok));
    assert.ok(outcomes(new HostAllocator({ faults: { probability: 1, seed: 5 } }), 50).every((ok) => !ok));
  });

  it('rejects a probability without a seed and nonsense plans', () => {
    assert.throws(() => new HostAllocator({ faults: { probability: 0.1 } }), /seed/);
    assert.throws(() => new HostAllocator({ faults: { probability: 2, seed: 1 } }), RangeError);
    assert.throws(() => new HostAllocator({ faults: { failNth: 0 } }), RangeError);
    assert.throws(() => new HostAllocator().alloc(-1, 'x'), RangeError);
  });
});
