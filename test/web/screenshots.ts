/**
 * The README's pictures of the explorer: docs/img/explorer-*.png, taken in Debian's Chromium from
 * the demo trace (the sequence view with a VMGEXIT's panel, the hostile scratch area, the GHCB
 * fields, the filters at work) and of the side-by-side view from the demo comparison (prefix against
 * seed, at their divergence), and of an encrypted guest recorded live (its #VC, its memory map with
 * private and shared pages). Not a test; run it after changing the page and commit the pictures:
 *
 *   npx tsx test/web/screenshots.ts
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ExploreComparison, ExploreTrace } from '../../src/explore/model.js';
import { explorerHtml } from '../../src/explore/page.js';
import { recordScenario } from '../../src/explore/scenario.js';
import { loadScenario } from '../../src/scenario/load.js';
import { browserMissing, launchBrowser, webAssets } from './harness.js';

async function main(): Promise<void> {
  const missing = browserMissing();
  if (missing) {
    process.stderr.write(`screenshots: ${missing}\n`);
    process.exit(1);
  }
  const demo: ExploreTrace = JSON.parse(
    readFileSync(new URL('../fixtures/explore/demo-trace.json', import.meta.url), 'utf8'),
  );
  const out = new URL('../../docs/img/', import.meta.url);
  mkdirSync(out, { recursive: true });
  const file = join(tmpdir(), `sevbox-explorer-shots-${process.pid}.html`);
  const { js, css } = await webAssets();
  writeFileSync(file, explorerHtml({ js, css, trace: demo }));
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 820 } });
    const shot = async (hash: string, name: string): Promise<void> => {
      await page.goto(`${pathToFileURL(file).href}#event=${hash}`);
      await page.waitForSelector('body[data-ready="1"]');
      await page.screenshot({ path: new URL(`explorer-${name}.png`, out).pathname });
      process.stdout.write(`docs/img/explorer-${name}.png\n`);
    };
    const first = (pred: (e: ExploreTrace['events'][number]) => boolean): number => demo.events.find(pred)!.i;
    await shot(
      String(first((e) => e.family === 'SVM_VMGEXIT_MMIO_READ' && e.kind === 'vmgexit')),
      'mmio-read',
    );
    await shot(String(first((e) => e.kind === 'ghcb-error')), 'hostile-scratch');
    // The hostile VMGEXIT's GHCB page, field by field (the panel alone, scrolled to it).
    await page.setViewportSize({ width: 1360, height: 1500 });
    const panel = page.getByTestId('ghcb-panel');
    await panel.screenshot({ path: new URL('explorer-ghcb-fields.png', out).pathname });
    process.stdout.write('docs/img/explorer-ghcb-fields.png\n');
    await page.setViewportSize({ width: 1360, height: 820 });
    await page.locator('[data-testid="filter-outcome"][data-value="userspace"]').uncheck();
    await page.locator('[data-testid="filter-outcome"][data-value="handled"]').uncheck();
    await page.screenshot({ path: new URL('explorer-filtered.png', out).pathname });
    process.stdout.write('docs/img/explorer-filtered.png\n');

    // An encrypted guest recorded live: its #VC on the guest lane, and the memory map of its VMGEXIT
    // (host pages, then private and shared guest pages, the GHCB it left private marked).
    const loaded = await loadScenario(
      new URL('../../examples/machine-code/ghcb-left-private.yaml', import.meta.url).pathname,
    );
    if (!('scenario' in loaded)) throw new Error('ghcb-left-private.yaml did not load');
    const enc = recordScenario(loaded.scenario);
    // Another file: a goto that only changes the hash would not load the page again.
    const encFile = `${file.slice(0, -'.html'.length)}-enc.html`;
    writeFileSync(encFile, explorerHtml({ js, css, trace: enc }));
    await page.goto(
      `${pathToFileURL(encFile).href}#event=${enc.events.find((e) => e.kind === 'vmgexit')!.i}`,
    );
    await page.waitForSelector('[data-testid="memory-map"]');
    await page.screenshot({ path: new URL('explorer-encrypted.png', out).pathname });
    process.stdout.write('docs/img/explorer-encrypted.png\n');
    await page
      .getByTestId('memory-map')
      .screenshot({ path: new URL('explorer-memory-map.png', out).pathname });
    process.stdout.write('docs/img/explorer-memory-map.png\n');

    // Side by side: the demo comparison, brought to its divergence by the banner's button.
    const compare: ExploreComparison = JSON.parse(
      readFileSync(new URL('../fixtures/explore/demo-compare.json', import.meta.url), 'utf8'),
    );
    writeFileSync(file, explorerHtml({ js, css, compare }));
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('body[data-ready="1"]');
    await page.getByTestId('goto-divergence').click();
    await page.screenshot({ path: new URL('explorer-compare.png', out).pathname });
    process.stdout.write('docs/img/explorer-compare.png\n');
  } finally {
    await browser.close();
    rmSync(file, { force: true });
    rmSync(`${file.slice(0, -'.html'.length)}-enc.html`, { force: true });
  }
}

await main();
