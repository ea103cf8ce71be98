/**
 * For `npm run bench` (bench/explore.bench.ts): the explorer page with an N-event trace exported
 * inline, opened in Debian's Chromium; prints `ready_ms <ms from navigation start until the page is
 * ready>` for N events and for the demo trace (the baseline), one run each after a warm-up.
 * Usage: node --import tsx test/web/measure-load.ts [N]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExploreTrace } from '../../src/explore/model.js';
import { explorerHtml } from '../../src/explore/page.js';
import { makeBigTrace, makeDemoTrace } from '../fixtures/explore/make-demo.js';
import { launchBrowser, webAssets } from './harness.js';

const n = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'sevbox-load-'));
const { js, css } = await webAssets();
const browser = await launchBrowser();
try {
  const readyMs = async (name: string, trace: ExploreTrace): Promise<number> => {
    const file = join(dir, `${name}.html`);
    writeFileSync(file, explorerHtml({ js, css, trace }));
    const page = await browser.newPage({ viewport: { width: 1600, height: 1100 } });
    await page.goto(`file://${file}`);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 120_000 });
    const ms = Number(await page.evaluate('window.SEVBOX_READY_MS'));
    await page.close();
    return ms;
  };
  await readyMs('warm', makeDemoTrace());
  const demo = await readyMs('demo', makeDemoTrace());
  const big = await readyMs('big', makeBigTrace(n));
  process.stdout.write(`ready_ms ${big.toFixed(1)}\nbaseline_ms ${demo.toFixed(1)}\nevents ${n}\n`);
} finally {
  await browser.close();
  rmSync(dir, { recursive: true, force: true });
}
