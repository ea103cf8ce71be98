/**
 * The README's library examples are examples/library/fd-interface.ts and x86-guest.ts, verbatim
 * (below their header comments), and print what the README says they print.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const EXAMPLE = new URL('../examples/library/fd-interface.ts', import.meta.url);

/** The first ```ts block after `heading`. */
function codeBlockAfter(text: string, heading: string): string {
  const from = text.indexOf(heading);
  assert.ok(from >= 0, `README has no "${heading}"`);
  const m = /```ts\n([\s\S]*?)```/.exec(text.slice(from));
  assert.ok(m, `no ts block after "${heading}"`);
  return m[1]!;
}

describe('README: using sevbox as a library', () => {
  it('shows examples/library/fd-interface.ts as it is', () => {
    const file = readFileSync(EXAMPLE, 'utf8');
    assert.equal(
      codeBlockAfter(README, '## Using sevbox as a library'),
      file.slice(file.indexOf('import {')),
    );
  });

  it('the example runs and prints what the README says', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', EXAMPLE.pathname], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines, ['OUT 3f8: 65', 'MmioRead Hlt', 'deadbeef', 'rip fff9']);
    for (const line of lines) assert.ok(README.includes(`\`${line}\``), `README mentions ${line}`);
  });
});

describe('README: machine code on the x86 interpreter', () => {
  const example = new URL('../examples/library/x86-guest.ts', import.meta.url);

  it('shows examples/library/x86-guest.ts as it is', () => {
    const file = readFileSync(example, 'utf8');
    assert.equal(
      codeBlockAfter(README, '## Machine code: the x86 interpreter'),
      file.slice(file.indexOf('import {')),
    );
  });

  it('the example runs and prints the greeting the README quotes', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', example.pathname], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '"Hello, real mode\\n"');
    assert.ok(README.includes('`"Hello, real mode\\n"`'));
  });
});
