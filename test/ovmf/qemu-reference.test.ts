/**
 * The conventions of the OVMF console comparison (test/ovmf/qemu-reference.ts): how terminal output
 * becomes lines, and when sevbox's lines count as QEMU's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareConsoles, consoleLines, stripTerminal } from './qemu-reference.js';

describe('the console conventions of the comparison', () => {
  it('a cursor move is a line break; colours, erase and mode sets go', () => {
    const raw =
      '\x1b[2J\x1b[01;01H\x1b[=3hBdsDxe: loading\r\n' +
      '\x1b[05;01HPress \x1b[1m\x1b[37m\x1b[40mESC\x1b[0m in 5 seconds\x1b[05;01HPress ESC in 4 seconds\r\n';
    assert.equal(stripTerminal('\x1b[1m\x1b[33mShell> \x1b[0m'), 'Shell> ');
    assert.deepEqual(consoleLines(raw), [
      'BdsDxe: loading',
      'Press ESC in 5 seconds',
      'Press ESC in 4 seconds',
    ]);
  });

  it('sevbox must print a subsequence of QEMU, allowed lines aside', () => {
    const allow = {
      sevboxOnly: [{ pattern: /^SEV/, reason: 'sev' }],
      qemuOnly: [{ pattern: /^TCG/, reason: 'tcg' }],
    };
    const q = ['a', 'TCG x', 'b', 'c', 'd'];
    const ok = compareConsoles(['a', 'SEV y', 'b', 'c'], q, allow);
    assert.equal(ok.matched, 3);
    assert.deepEqual([ok.missingInQemu, ok.missingInSevbox], [[], []]);
    assert.deepEqual(ok.qemuOnly, [{ line: 'TCG x', reason: 'tcg' }]);
    const bad = compareConsoles(['a', 'c', 'z'], q, allow);
    assert.deepEqual([bad.missingInQemu, bad.missingInSevbox], [['z'], ['b']]);
    assert.equal(compareConsoles(['a', 'TC'], q, allow, true).matched, 2);
  });
});
