/**
 * The explorer page (web/, issue 17) in a real browser: Debian's Chromium driven by playwright-core.
 * The demo trace (test/fixtures/explore/demo-trace.json) served beside the page and inlined in an
 * exported page; lane counts, the GHCB panel of a VMGEXIT, the filters, the keyboard and the URL
 * hash; a version the page cannot read; and a 100k-event trace that must load and scroll to its end.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import type { ExploreTrace } from '../../src/explore/model.js';
import { explorerHtml } from '../../src/explore/page.js';
import { makeBigTrace } from '../fixtures/explore/make-demo.js';
import { browserMissing, launchBrowser, serve, webAssets } from './harness.js';

const missing = browserMissing();
const demo: ExploreTrace = JSON.parse(
  readFileSync(new URL('../fixtures/explore/demo-trace.json', import.meta.url), 'utf8'),
);
const dir = mkdtempSync(join(tmpdir(), 'sevbox-explorer-'));

/** Write an exported page for `trace` and return its file URL. */
async function exported(name: string, trace: unknown): Promise<string> {
  const { js, css } = await webAssets();
  const file = join(dir, name);
  writeFileSync(file, explorerHtml({ js, css, trace: trace as ExploreTrace }));
  return pathToFileURL(file).href;
}

async function open(page: Page, url: string): Promise<void> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="1"]');
  assert.deepEqual(errors, []);
}

const laneCount = (trace: ExploreTrace, lane: string): number =>
  trace.events.filter((e) => e.lane === lane).length;

describe('explorer page (Chromium)', { skip: missing }, () => {
  let browser: Browser;
  let page: Page;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const fresh = async (): Promise<Page> => {
    await page?.close();
    page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    return page;
  };

  it('loads the demo trace served beside the page (fetch trace.json), one row per event in its lane', async () => {
    const { js, css } = await webAssets();
    const server = await serve({
      '/index.html': explorerHtml({ js, css }),
      '/trace.json': JSON.stringify(demo),
    });
    try {
      const p = await fresh();
      await open(p, server.url);
      for (const lane of ['guest', 'kvm', 'vmm']) {
        const head = p.getByTestId(`lane-${lane}`);
        assert.equal(await head.getAttribute('data-count'), String(laneCount(demo, lane)), lane);
        assert.equal(
          await p.locator(`[data-testid="event-row"][data-lane="${lane}"]`).count(),
          laneCount(demo, lane),
          lane,
        );
      }
      assert.equal(await p.getByTestId('event-row').count(), demo.events.length);
      // Each label sits in its own lane's column.
      const row = p.locator('[data-testid="event-row"][data-index="9"]');
      assert.equal(await row.locator('.lane-kvm').textContent(), demo.events[9]!.label);
      assert.equal(await row.locator('.lane-guest').textContent(), '');
      assert.equal(await p.getByTestId('trace-end').textContent(), demo.end);
    } finally {
      await server.close();
    }
  });

  it('loads the same trace from an exported page (window.SEVBOX_TRACE)', async () => {
    const p = await fresh();
    await open(p, await exported('demo.html', demo));
    for (const lane of ['guest', 'kvm', 'vmm'])
      assert.equal(
        await p.getByTestId(`lane-${lane}`).getAttribute('data-count'),
        String(laneCount(demo, lane)),
      );
    assert.equal(await p.getByTestId('shown-count').getAttribute('data-shown'), String(demo.events.length));
  });

  it('refuses a trace of another version with a message', async () => {
    const p = await fresh();
    await open(p, await exported('v99.html', { ...demo, version: 99 }));
    const msg = await p.getByTestId('trace-error').textContent();
    assert.match(msg ?? '', /version 99.*reads version 1/);
    assert.equal(await p.getByTestId('event-row').count(), 0);
  });

  it('selecting a VMGEXIT shows its GHCB fields, valid bits, changes and scratch area', async () => {
    const p = await fresh();
    await open(p, await exported('demo.html', demo));
    // The MMIO read of the HPET (scratch in the shared buffer), by a click on its row.
    const hpet = demo.events.find((e) => e.kind === 'vmgexit' && e.family === 'SVM_VMGEXIT_MMIO_READ')!;
    await p.locator(`[data-testid="event-row"][data-index="${hpet.i}"]`).click();
    const panel = p.getByTestId('ghcb-panel');
    const field = (name: string) => panel.locator(`[data-testid="ghcb-field"][data-name="${name}"]`);
    assert.equal(await field('sw_exit_code').locator('.value').textContent(), '0x0000000080000001');
    assert.equal(await field('sw_exit_code').getAttribute('data-valid'), '1');
    assert.equal(await field('sw_exit_info_1').locator('.value').textContent(), '0x00000000fed000f0');
    assert.equal(await field('sw_scratch').getAttribute('data-valid'), '1');
    // rax holds the string OUT's leftover, its valid bit cleared by vc_ghcb_invalidate.
    assert.equal(await field('rax').getAttribute('data-valid'), '0');
    assert.equal(await field('ghcb_usage').getAttribute('data-valid'), '');
    assert.equal(await panel.getByTestId('scratch').getAttribute('data-place'), 'shared-buffer');
    assert.equal(await panel.getByTestId('scratch-range').count(), 1);
    // Against vCPU 0's previous VMGEXIT (the string OUT): new exit code and infos; sw_scratch is the same.
    assert.equal(await field('sw_exit_code').getAttribute('data-changed'), '1');
    assert.equal(await field('sw_scratch').getAttribute('data-changed'), '0');
    assert.equal(await field('xcr0').getAttribute('data-changed'), '0');
    assert.equal(p.url().endsWith(`#event=${hpet.i}`), true);

    // A KVM-lane event of the hostile VMGEXIT, selected by the URL hash: its VMGEXIT's panel, the rule.
    const err = demo.events.find((e) => e.kind === 'ghcb-error')!;
    await p.evaluate(`location.hash = '#event=${err.i}'`);
    await p.waitForSelector(`[data-testid="event-row"][data-index="${err.i}"].selected`);
    assert.equal(await field('sw_scratch').locator('.value').textContent(), '0x00007ff000000000');
    assert.equal(await panel.getByTestId('scratch').getAttribute('data-place'), 'outside');
    assert.match(
      (await panel.getByTestId('scratch-where').textContent()) ?? '',
      /outside the GHCB page.*no memslot/,
    );
    assert.match((await p.getByTestId('ghcb-rule').textContent()) ?? '', /GHCB_ERR_INVALID_SCRATCH_AREA/);
    const kinds = await p
      .getByTestId('vmgexit-event')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')));
    assert.deepEqual(kinds, ['vmgexit', 'scratch', 'ghcb-error', 'vmgexit-done']);
    assert.match(
      (await p.getByTestId('panel-title').textContent()) ?? '',
      /VMGEXIT 7 · vCPU 0 · SVM_VMGEXIT_MMIO_READ/,
    );
  });

  it('up and down move the selection through the shown rows', async () => {
    const p = await fresh();
    await open(p, `${await exported('demo.html', demo)}#event=5`);
    await p.waitForSelector('[data-testid="event-row"][data-index="5"].selected');
    await p.keyboard.press('ArrowDown');
    await p.waitForSelector('[data-testid="event-row"][data-index="6"].selected');
    await p.keyboard.press('ArrowUp');
    await p.keyboard.press('ArrowUp');
    await p.waitForSelector('[data-testid="event-row"][data-index="4"].selected');
    assert.equal(await p.locator('.row.selected').count(), 1);
    assert.match(p.url(), /#event=4$/);
    // An MSR-protocol request: no GHCB page, but its events.
    assert.equal(await p.getByTestId('ghcb-panel').count(), 0);
    assert.equal(await p.getByTestId('vmgexit-event').count(), 2);
  });

  it('filters hide and show rows, with the lane counts following', async () => {
    const p = await fresh();
    await open(p, await exported('demo.html', demo));
    const ioio = demo.events.filter((e) => e.family === 'SVM_EXIT_IOIO').length;
    const box = p.locator('[data-testid="filter-family"][data-value="SVM_EXIT_IOIO"]');
    await box.uncheck();
    assert.equal(await p.getByTestId('event-row').count(), demo.events.length - ioio);
    assert.equal(await p.locator('[data-testid="event-row"][data-index="5"]').count(), 0);
    const guestShown = demo.events.filter((e) => e.lane === 'guest' && e.family !== 'SVM_EXIT_IOIO').length;
    assert.equal(await p.getByTestId('lane-guest').getAttribute('data-shown'), String(guestShown));
    const reflected = demo.events.filter((e) => e.outcome === 'reflected').length;
    await p.locator('[data-testid="filter-outcome"][data-value="reflected"]').uncheck();
    assert.equal(await p.getByTestId('event-row').count(), demo.events.length - ioio - reflected);
    await box.check();
    await p.locator('[data-testid="filter-outcome"][data-value="reflected"]').check();
    assert.equal(await p.getByTestId('event-row').count(), demo.events.length);
  });

  it('a 100k-event trace loads, renders only what is visible and scrolls to its last row', async (t) => {
    const n = 100_000;
    const big = makeBigTrace(n);
    const p = await fresh();
    const url = await exported('big.html', big);
    const t0 = performance.now();
    await open(p, url);
    const wall = performance.now() - t0;
    const inPage = Number(await p.evaluate('window.SEVBOX_READY_MS'));
    t.diagnostic(
      `100k events: ready ${Math.round(inPage)} ms after navigation start, ${Math.round(wall)} ms wall`,
    );
    assert.equal(await p.getByTestId('shown-count').getAttribute('data-shown'), String(n));
    assert.ok((await p.getByTestId('event-row').count()) < 200, 'virtualised');
    await p.evaluate(`document.querySelector('[data-testid="sequence-scroll"]').scrollTop = 1e9`);
    const last = p.locator(`[data-testid="event-row"][data-index="${n - 1}"]`);
    await last.waitFor();
    assert.ok(await last.isVisible());
    const box = (await last.boundingBox())!;
    assert.ok(box.y + box.height <= 1100 + 1, `last row at ${box.y}`);
    // End via the keyboard selects it, and a VMGEXIT deep in the trace opens its GHCB.
    await p.keyboard.press('End');
    await p.waitForSelector(`[data-testid="event-row"][data-index="${n - 1}"].selected`);
    const deep = big.events.findLast((e) => e.kind === 'vmgexit')!;
    await p.evaluate(`location.hash = '#event=${deep.i}'`);
    await p.waitForSelector(`[data-testid="event-row"][data-index="${deep.i}"].selected`);
    assert.equal(await p.getByTestId('ghcb-field').count(), 29);
    assert.ok(wall < 20_000, `loaded in ${Math.round(wall)} ms`);
  });
});
