/**
 * The side-by-side view of the explorer (web/compare.ts, issue 17) in Debian's Chromium: the
 * recorded comparison of examples/demo/5-efault-no-memslot.yaml under prefix and seed
 * (test/fixtures/explore/demo-compare.json), served as compare.json and inlined in an exported page;
 * lane counts per side, the divergence banner and its button, the marker on the right VMGEXIT, the
 * selection following its pair across the sides, `#pair=N`, the filters on both sides; and a long
 * comparison whose divergence lies far down both virtualised lists.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { compareTraces } from '../../src/explore/compare.js';
import type { ExploreComparison, ExploreTrace } from '../../src/explore/model.js';
import { explorerHtml } from '../../src/explore/page.js';
import { makeBigTrace } from '../fixtures/explore/make-demo.js';
import { browserMissing, launchBrowser, serve, webAssets } from './harness.js';

const missing = browserMissing();
const cmp: ExploreComparison = JSON.parse(
  readFileSync(new URL('../fixtures/explore/demo-compare.json', import.meta.url), 'utf8'),
);
const demo: ExploreTrace = JSON.parse(
  readFileSync(new URL('../fixtures/explore/demo-trace.json', import.meta.url), 'utf8'),
);
const dir = mkdtempSync(join(tmpdir(), 'sevbox-explorer-compare-'));

async function exported(name: string, compare: ExploreComparison): Promise<string> {
  const { js, css } = await webAssets();
  const file = join(dir, name);
  writeFileSync(file, explorerHtml({ js, css, compare }));
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

/** The row selector of VMGEXIT `v`'s request (a GHCB VMGEXIT or a GHCB MSR request) on a side. */
const headRow = (v: number | undefined): string =>
  `[data-testid="event-row"][data-vmgexit="${v}"]:is([data-kind="vmgexit"], [data-kind="msr-protocol"])`;

/** `trace` with VMGEXIT `v`'s outcome changed to `outcome` on all its events. */
function withOutcome(trace: ExploreTrace, v: number, outcome: 'failed'): ExploreTrace {
  return {
    ...trace,
    source: { ...trace.source, profile: 'seed' },
    events: trace.events.map((e) => (e.vmgexit === v ? { ...e, outcome } : e)),
  };
}

describe('explorer side by side (Chromium)', { skip: missing }, () => {
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
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    return page;
  };

  /** Both sides show their trace: one row per event, lane heads counting their trace's events. */
  async function checkSides(p: Page, c: ExploreComparison): Promise<void> {
    for (const side of ['left', 'right'] as const) {
      const box = p.getByTestId(`side-${side}`);
      const t = c[side];
      for (const lane of ['guest', 'kvm', 'vmm']) {
        assert.equal(
          await box.getByTestId(`lane-${lane}`).getAttribute('data-count'),
          String(laneCount(t, lane)),
          `${side} ${lane}`,
        );
        assert.equal(
          await box.locator(`[data-testid="event-row"][data-lane="${lane}"]`).count(),
          laneCount(t, lane),
          `${side} ${lane} rows`,
        );
      }
      assert.equal(await box.getByTestId('event-row').count(), t.events.length);
      assert.equal(await box.getByTestId('side-profile').textContent(), `profile ${t.source.profile}`);
      assert.equal(await box.getByTestId('side-source').textContent(), t.source.name);
    }
  }

  it('the fixture is the prefix/seed comparison with a divergence (the premise of what follows)', () => {
    assert.equal(cmp.left.source.profile, 'prefix');
    assert.equal(cmp.right.source.profile, 'seed');
    assert.ok(cmp.divergence);
    assert.notEqual(cmp.left.events.length, cmp.right.events.length);
  });

  it('loads the comparison served as compare.json, each side with its own lanes', async () => {
    const { js, css } = await webAssets();
    const server = await serve({
      '/index.html': explorerHtml({ js, css }),
      '/compare.json': JSON.stringify(cmp),
    });
    try {
      const p = await fresh();
      await open(p, server.url);
      await checkSides(p, cmp);
    } finally {
      await server.close();
    }
  });

  it('loads it from an exported page (window.SEVBOX_COMPARE); the banner tells why they part ways', async () => {
    const p = await fresh();
    await open(p, await exported('compare.html', cmp));
    await checkSides(p, cmp);
    const banner = p.getByTestId('divergence-banner');
    assert.equal(await banner.getAttribute('data-pair'), String(cmp.divergence!.pair));
    assert.equal(await banner.getByTestId('divergence-why').textContent(), cmp.divergence!.why);
    assert.match((await banner.textContent()) ?? '', /reflected against failed/);
    assert.match(await p.title(), /prefix vs seed/);
  });

  it('"go to the divergence" selects the pair on both sides; the marker sits on its VMGEXITs', async () => {
    const p = await fresh();
    await open(p, await exported('compare.html', cmp));
    const k = cmp.divergence!.pair;
    const pair = cmp.pairs[k]!;
    await p.getByTestId('goto-divergence').click();
    for (const side of ['left', 'right'] as const) {
      const box = p.getByTestId(`side-${side}`);
      const v = pair[side]!;
      await box.locator(`${headRow(v)}.selected`).waitFor();
      assert.equal(await box.locator('.row.selected').count(), 1, side);
      const members = cmp[side].events.filter((e) => e.vmgexit === v).length;
      assert.equal(await box.locator(`.row.in-group[data-vmgexit="${v}"]`).count(), members - 1, side);
      // The marker: once per side, in the row of that side's VMGEXIT of the pair.
      const marker = box.getByTestId('divergence-marker');
      assert.equal(await marker.count(), 1, side);
      const row = box.locator('[data-testid="event-row"]:has([data-testid="divergence-marker"])');
      assert.equal(await row.getAttribute('data-vmgexit'), String(v), side);
      assert.equal(await row.getAttribute('data-kind'), 'vmgexit', side);
      // Every row of a differing pair carries the class.
      assert.equal(await box.locator(`.row.pair-differs[data-vmgexit="${v}"]`).count(), members, side);
    }
    assert.match(p.url(), new RegExp(`#pair=${k}$`));
    const table = p.getByTestId('pair-table');
    assert.equal(
      await table.locator('tr[data-name="outcome"] td[data-side="left"]').textContent(),
      'reflected',
    );
    assert.equal(
      await table.locator('tr[data-name="outcome"] td[data-side="right"]').textContent(),
      'failed',
    );
    assert.equal(
      await table.locator('tr[data-name="sw_exit_info_1"] td[data-side="left"]').textContent(),
      '0x2',
    );
    // The panel shows the left side's VMGEXIT, its GHCB page as for a single trace.
    assert.equal(await p.getByTestId('panel-side').getAttribute('data-side'), 'left');
    assert.equal(await p.getByTestId('ghcb-panel').count(), 1);
  });

  it('selecting a VMGEXIT on one side selects its pair on the other', async () => {
    // The demo trace against itself with one VMGEXIT handled otherwise: many pairs, one differs.
    const v = 5;
    const c = compareTraces(demo, withOutcome(demo, v, 'failed'));
    assert.equal(c.divergence?.pair, v);
    const p = await fresh();
    await open(p, await exported('demo-compare.html', c));
    const left = p.getByTestId('side-left');
    const right = p.getByTestId('side-right');
    for (const k of [2, 7, 3]) {
      const pr = c.pairs[k]!;
      // A KVM-lane event of the left VMGEXIT: the right side selects its pair's request.
      const kvm =
        demo.events.find((e) => e.vmgexit === pr.left && e.lane !== 'guest') ??
        demo.events.find((e) => e.vmgexit === pr.left)!;
      await left.locator(`[data-testid="event-row"][data-index="${kvm.i}"]`).click();
      const other = right.locator(`[data-testid="event-row"][data-vmgexit="${pr.right}"]`).first();
      await right.locator(`[data-testid="event-row"][data-vmgexit="${pr.right}"].selected`).waitFor();
      assert.equal(await right.locator('.row.selected').count(), 1);
      assert.ok(await other.isVisible());
      assert.match(p.url(), new RegExp(`#pair=${k}$`));
      assert.equal(await p.getByTestId('pair-panel').getAttribute('data-pair'), String(k));
    }
    // And from the right: the left follows, the panel shows the right side.
    await right.locator(headRow(c.pairs[v]!.right)).click();
    await left.locator(`${headRow(c.pairs[v]!.left)}.selected`).waitFor();
    assert.equal(await p.getByTestId('panel-side').getAttribute('data-side'), 'right');
    assert.equal(await p.getByTestId('pair-panel').getAttribute('data-same'), '0');
    // Only the pair that differs is marked.
    for (const box of [left, right]) {
      const marked = await box
        .locator('.row.pair-differs')
        .evaluateAll((els) => [...new Set(els.map((e) => e.getAttribute('data-vmgexit')))]);
      assert.deepEqual(marked, [String(v)]);
    }
    // The URL hash selects a pair on both sides.
    await p.evaluate(`location.hash = '#pair=1'`);
    await left.locator(`${headRow(c.pairs[1]!.left)}.selected`).waitFor();
    await right.locator(`${headRow(c.pairs[1]!.right)}.selected`).waitFor();
  });

  it('the filters apply to both sides; a comparison without divergence says so', async () => {
    const c = compareTraces(demo, demo);
    const p = await fresh();
    await open(p, await exported('same.html', c));
    assert.match((await p.getByTestId('divergence-banner').textContent()) ?? '', /agree/);
    assert.equal(await p.getByTestId('goto-divergence').count(), 0);
    assert.equal(await p.locator('.row.pair-differs').count(), 0);
    const ioio = demo.events.filter((e) => e.family === 'SVM_EXIT_IOIO').length;
    await p.locator('[data-testid="filter-family"][data-value="SVM_EXIT_IOIO"]').uncheck();
    for (const side of ['left', 'right'])
      assert.equal(
        await p.getByTestId(`side-${side}`).getByTestId('event-row').count(),
        demo.events.length - ioio,
      );
  });

  it('in a long comparison, "go to the divergence" scrolls both virtualised sides to it', async () => {
    const big = makeBigTrace(20_000);
    const v = Math.max(...big.events.map((e) => e.vmgexit ?? 0)) - 40;
    const c = compareTraces(big, withOutcome(big, v, 'failed'));
    assert.ok(c.divergence);
    const pr = c.pairs[c.divergence.pair]!;
    const p = await fresh();
    await open(p, await exported('big-compare.html', c));
    assert.ok((await p.getByTestId('event-row').count()) < 400, 'virtualised');
    assert.equal(await p.getByTestId('divergence-marker').count(), 0, 'not rendered yet');
    await p.getByTestId('goto-divergence').click();
    for (const side of ['left', 'right'] as const) {
      const row = p.getByTestId(`side-${side}`).locator(`${headRow(pr[side])}.selected`);
      await row.waitFor();
      assert.ok(await row.isVisible(), side);
      assert.equal(await row.getByTestId('divergence-marker').count(), 1, side);
    }
  });
});
