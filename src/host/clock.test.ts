/**
 * The host clock: virtual time from the CPUs' retired instructions plus the VMM's sleeps, and
 * one-shot timers that fire at host ticks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostClock, NS_PER_INSTRUCTION } from './clock.js';

/** A clock on two CPUs whose retired-instruction counters the test moves. */
function clockOnTwoCpus() {
  const clock = new HostClock();
  const cpus = [0, 0];
  clock.addCounter(() => cpus[0]!);
  clock.addCounter(() => cpus[1]!);
  return { clock, cpus };
}

describe('HostClock', () => {
  it('starts at 0 and counts what every CPU retired, read when asked', () => {
    const { clock, cpus } = clockOnTwoCpus();
    assert.equal(clock.now(), 0);
    cpus[0] = 100;
    cpus[1] = 23;
    assert.equal(clock.instructions(), 123);
    assert.equal(clock.now(), 123 * NS_PER_INSTRUCTION);
    cpus[1] = 50;
    assert.equal(clock.now(), 150);
  });

  it('sleepUntil jumps forward; never back; the sleep stays when the CPUs run on', () => {
    const { clock, cpus } = clockOnTwoCpus();
    cpus[0] = 10;
    clock.sleepUntil(1000);
    assert.equal(clock.now(), 1000);
    assert.equal(clock.instructions(), 10, 'sleeping retires nothing');
    clock.sleepUntil(500);
    assert.equal(clock.now(), 1000, 'a deadline in the past changes nothing');
    clock.sleepUntil(1000);
    assert.equal(clock.now(), 1000);
    cpus[0] = 30;
    assert.equal(clock.now(), 1020, '990 ns slept + 30 instructions');
    clock.sleepUntil(1500);
    assert.equal(clock.now(), 1500);
  });

  it('a timer fires once, at the first tick at or after its deadline', () => {
    const { clock, cpus } = clockOnTwoCpus();
    let fired = 0;
    clock.arm(100, () => fired++);
    clock.tick();
    cpus[0] = 99;
    clock.tick();
    assert.equal(fired, 0, 'not before the deadline');
    cpus[0] = 100;
    clock.tick();
    assert.equal(fired, 1, 'at the deadline');
    cpus[0] = 500;
    clock.tick();
    clock.tick();
    assert.equal(fired, 1, 'one-shot');
  });

  it('fires only the timers that are due, each once, and a sleep makes them due', () => {
    const { clock } = clockOnTwoCpus();
    const log: string[] = [];
    clock.arm(50, () => log.push('a'));
    clock.arm(200, () => log.push('b'));
    clock.arm(10, () => log.push('c'));
    clock.sleepUntil(60);
    clock.tick();
    assert.deepEqual(log.sort(), ['a', 'c']);
    clock.tick();
    assert.deepEqual(log.sort(), ['a', 'c']);
    clock.sleepUntil(200);
    clock.tick();
    assert.deepEqual(log.sort(), ['a', 'b', 'c']);
  });

  it('disarm drops every timer of that callback, not the others', () => {
    const { clock } = clockOnTwoCpus();
    let a = 0;
    let b = 0;
    const fa = () => a++;
    clock.arm(10, fa);
    clock.arm(20, fa);
    clock.arm(10, () => b++);
    clock.disarm(fa);
    clock.sleepUntil(100);
    clock.tick();
    assert.deepEqual([a, b], [0, 1]);
  });

  it('a callback that re-arms during a tick fires at a later tick, not in the same one', () => {
    const { clock } = clockOnTwoCpus();
    let n = 0;
    const fire = (): void => {
      n++;
      clock.arm(clock.now(), fire); // due at once, but this tick's list is already taken
    };
    clock.arm(0, fire);
    clock.tick();
    assert.equal(n, 1);
    clock.tick();
    assert.equal(n, 2);
  });
});
