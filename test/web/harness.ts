/**
 * What the browser tests of the explorer (issue 17) share: Debian's Chromium driven by
 * playwright-core (never a browser of its own download), the page built in memory from web/ with
 * scripts/build-web.mjs, and a loopback static server for the served variant.
 */

import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { bundleWeb } from '../../scripts/build-web.mjs';

/** The system browser the tests drive. */
export const CHROMIUM = process.env.SEVBOX_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `no browser at ${CHROMIUM} (apt-get install chromium)`;
}

/** Headless Chromium, without the background traffic a closed network refuses. */
export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

let assets: Promise<{ js: string; css: string }> | undefined;

/** The page's script and stylesheet, built once per process. */
export function webAssets(): Promise<{ js: string; css: string }> {
  if (!assets) assets = bundleWeb();
  return assets;
}

/** A static server on 127.0.0.1: path → body. */
export async function serve(
  files: Readonly<Record<string, string>>,
): Promise<{ url: string; close: () => Promise<void> }> {
  const types: Record<string, string> = { html: 'text/html', json: 'application/json' };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const body = files[path === '/' ? '/index.html' : path];
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    const ext = path === '/' ? 'html' : (path.split('.').pop() ?? '');
    res.writeHead(200, { 'content-type': `${types[ext] ?? 'text/plain'}; charset=utf-8` }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
