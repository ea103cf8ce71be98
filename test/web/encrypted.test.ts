/**
 * The explorer on an encrypted guest (issue 17), in Debian's Chromium: a machine-code SEV-ES guest
 * recorded live (examples/machine-code/ghcb-left-private.yaml). The #VC the CPU raised sits on the
 * guest lane, tied to the VMGEXIT its handler made; the memory map draws the guest's private and
 * shared pages under the host's, with the GHCB the guest left private marked on a private page.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import type { ExploreTrace } from '../../src/explore/model.js';
import { explorerHtml } from '../../src/explore/page.js';
import { recordScenario } from '../../src/explore/scenario.js';
import { loadScenario } from '../../src/scenario/load.js';
import { browserMissing, launchBrowser, webAssets } from './harness.js';

const missing = browserMissing();

describe('explorer on an encrypted guest (Chromium)', { skip: missing }, () => {
  let browser: Browser;
  let trace: ExploreTrace;
  let url: string;
  const dir = mkdtempSync(join(tmpdir(), 'sevbox-explorer-enc-'));
  before(async () => {
    const loaded = await loadScenario(
      new URL('../../examples/machine-code/ghcb-left-private.yaml', import.meta.url).pathname,
    );
    assert.ok('scenario' in loaded);
    trace = recordScenario(loaded.scenario);
    const { js, css } = await webAssets();
    const file = join(dir, 'enc.html');
    writeFileSync(file, explorerHtml({ js, css, trace }));
    url = pathToFileURL(file).href;
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the recording has the premise: one #VC, one VMGEXIT, a private page in the RAM slot', () => {
    assert.deepEqual(
      trace.events.filter((e) => e.lane === 'guest').map((e) => e.kind),
      ['vc', 'vmgexit'],
    );
    const ram = trace.memslots!.find((m) => m.name === 'ram')!;
    assert.ok(ram.encryption?.some((r) => r.state === 'private'));
  });

  it('shows the #VC on the guest lane and among its VMGEXIT’s events', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    await page.goto(url);
    await page.waitForSelector('body[data-ready="1"]');
    const vc = page.locator('[data-testid="event-row"][data-kind="vc"]');
    assert.equal(await vc.count(), 1);
    assert.equal(await vc.getAttribute('data-lane'), 'guest');
    assert.match((await vc.locator('.lane-guest').textContent()) ?? '', /^#VC SVM_EXIT_IOIO at rip 0x/);
    await vc.click();
    const kinds = await page
      .getByTestId('vmgexit-event')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')));
    assert.equal(kinds[0], 'vc');
    assert.equal(kinds[1], 'vmgexit');
    await page.close();
  });

  it('draws private and shared pages; the GHCB mark lands on a private run', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    const head = trace.events.find((e) => e.kind === 'vmgexit')!;
    await page.goto(`${url}#event=${head.i}`);
    await page.waitForSelector('[data-testid="memory-map"]');
    const ram = page.locator('[data-testid="mem-slot"]').first();
    const states = await ram
      .locator('[data-testid="mem-enc-run"]')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
    assert.ok(states.includes('private') && states.includes('shared'), states.join());
    // The GHCB mark's x position falls inside a private run's box on the encryption bar.
    const bar = ram.getByTestId('mem-bar-encryption');
    const mark = (await bar.locator('[data-testid="mem-mark"][data-label="GHCB"]').boundingBox())!;
    const runs = await bar.locator('[data-testid="mem-enc-run"]').evaluateAll((els) =>
      els.map((e) => {
        const r = e.getBoundingClientRect();
        return { state: e.getAttribute('data-state'), left: r.left, right: r.right };
      }),
    );
    const at = runs.find((r) => mark.x >= r.left && mark.x < r.right);
    assert.equal(at?.state, 'private', JSON.stringify({ mark, runs }));
    await page.close();
  });
});
