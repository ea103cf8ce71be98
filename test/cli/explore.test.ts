/**
 * `sevbox explore` as a user runs it: a scenario recorded and exported as one HTML file, served on
 * 127.0.0.1 (page and trace.json), a bad trace line named by file and line; and the exported file
 * of a real recording opened in Chromium, its lanes holding the recorded events (skips that part
 * with one line without /usr/bin/chromium).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ExploreComparison, ExploreTrace } from '../../src/explore/model.js';
import { browserMissing, launchBrowser } from '../web/harness.js';

const SEVBOX = new URL('../../bin/sevbox.js', import.meta.url).pathname;
const HOSTILE = new URL('../../examples/hostile-ghcb.yaml', import.meta.url).pathname;
const MMIO = new URL('../../examples/mmio.yaml', import.meta.url).pathname;

/** The trace an exported page carries. */
function inlinedTrace(html: string): ExploreTrace {
  const m = /window\.SEVBOX_TRACE=(.*?);<\/script>/s.exec(html);
  assert.ok(m, 'the page carries its trace');
  return JSON.parse(m[1]!) as ExploreTrace;
}

describe('sevbox explore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sevbox-explore-'));
  const exported = join(dir, 'hostile.html');
  before(() => {
    // The page's script and styles come from the build (npm install runs it; here, make sure).
    const b = spawnSync(process.execPath, [
      new URL('../../scripts/build.mjs', import.meta.url).pathname,
      'web',
    ]);
    assert.equal(b.status, 0, String(b.stderr));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--export writes one self-contained page holding the recorded run', () => {
    const r = spawnSync(process.execPath, [SEVBOX, 'explore', HOSTILE, '--export', exported], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /wrote .*hostile\.html \(a hostile GHCB \[seed\]: \d+ events, guest done\)/);
    const html = readFileSync(exported, 'utf8');
    assert.doesNotMatch(html, /<script src=|<link /, 'nothing fetched');
    const t = inlinedTrace(html);
    assert.equal(t.source.name, 'a hostile GHCB');
    assert.equal(t.events.filter((e) => e.kind === 'vmgexit').length, 6);
    assert.equal(t.ghcbs.length, 6, 'a GHCB page per VMGEXIT (all six differ)');
  });

  it('serves the page and its trace on 127.0.0.1 and prints the URL', async () => {
    const child = spawn(process.execPath, [SEVBOX, 'explore', MMIO, '--profile', 'current'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          const m = /open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      const page = await fetch(url);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      assert.match(await page.text(), /<div id="app">/);
      const trace = (await (await fetch(new URL('trace.json', url))).json()) as ExploreTrace;
      assert.equal(trace.source.profile, 'current', '--profile reached the run');
      assert.ok(trace.events.some((e) => e.lane === 'vmm' && e.label === 'KVM_EXIT_MMIO'));
      assert.equal((await fetch(new URL('nothing', url))).status, 404);
    } finally {
      child.kill();
    }
  });

  it('--compare-profile exports both runs and where they part ways', () => {
    const out = join(dir, 'compare.html');
    const file = new URL('../../examples/demo/5-efault-no-memslot.yaml', import.meta.url).pathname;
    const r = spawnSync(
      process.execPath,
      [SEVBOX, 'explore', file, '--profile', 'prefix', '--compare-profile', 'seed', '--export', out],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /they part ways at VMGEXIT pair 0: SVM_VMGEXIT_MMIO_READ: reflected against failed/,
    );
    const m = /window\.SEVBOX_COMPARE=(.*?);<\/script>/s.exec(readFileSync(out, 'utf8'));
    assert.ok(m, 'the page carries the comparison');
    const c = JSON.parse(m[1]!) as ExploreComparison;
    assert.deepEqual([c.left.source.profile, c.right.source.profile], ['prefix', 'seed']);
    assert.equal(c.divergence?.pair, 0);
  });

  it('names the file and line of a bad trace line (exit 2)', () => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"name":"kvm_userspace_exit","vcpu":0,"reason":2,"errno":0}\n{"name":"nope"}\n');
    const r = spawnSync(process.execPath, [SEVBOX, 'explore', bad, '--export', join(dir, 'x.html')], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bad\.jsonl:2: unknown event "nope"/);
  });

  it('the memory map shows the page the VMM unmapped, under the scratch area, in Chromium', {
    skip: browserMissing(),
  }, async () => {
    const out = join(dir, 'unmapped.html');
    const file = new URL('../../examples/demo/6-efault-unmapped-hva.yaml', import.meta.url).pathname;
    const r = spawnSync(process.execPath, [SEVBOX, 'explore', file, '--export', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const t = inlinedTrace(readFileSync(out, 'utf8'));
    const v = t.events.find((e) => e.kind === 'vmgexit')!;
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(`file://${out}#event=${v.i}`);
      await page.waitForSelector('[data-testid="memory-map"]');
      // One bar per memslot; the RAM slot shows anonymous pages and the unmapped one.
      assert.equal(await page.locator('[data-testid="mem-slot"]').count(), t.memslots!.length);
      const states = await page
        .locator('[data-testid="mem-run"]')
        .evaluateAll((els) => els.map((e) => (e as unknown as { dataset: { state: string } }).dataset.state));
      assert.ok(states.includes('unmapped') && states.includes('anonymous'), states.join(','));
      // The scratch area (0x8000) and the GHCB are marked in the slot that holds them (on its host bar).
      const marks = await page
        .locator('[data-testid="mem-bar-host"] [data-testid="mem-mark"]')
        .evaluateAll((els) => els.map((e) => (e as unknown as { dataset: { label: string } }).dataset.label));
      assert.deepEqual(marks.sort(), ['GHCB', 'scratch']);
    } finally {
      await browser.close();
    }
  });

  it('the exported page shows the recorded events in their lanes, in Chromium', {
    skip: browserMissing(),
  }, async () => {
    const t = inlinedTrace(readFileSync(exported, 'utf8'));
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(`file://${exported}`);
      await page.waitForSelector('[data-testid="event-row"]');
      for (const lane of ['guest', 'kvm', 'vmm'] as const) {
        const header = (await page.textContent(`[data-testid="lane-${lane}"]`)) ?? '';
        const want = t.events.filter((e) => e.lane === lane).length;
        assert.equal(Number(/(\d+)\s*$/.exec(header)?.[1]), want, `${lane} lane: ${header}`);
      }
      // The first VMGEXIT's page: ghcb_usage 1, as the hostile guest wrote it.
      const first = t.events.find((e) => e.kind === 'vmgexit')!;
      await page.goto(`file://${exported}#event=${first.i}`);
      const usage = await page.waitForSelector('[data-testid="ghcb-field"][data-name="ghcb_usage"]');
      assert.match((await usage.textContent()) ?? '', /0x0*1\b/);
    } finally {
      await browser.close();
    }
  });
});
