#!/usr/bin/env node
/**
 * `npm run web`: bundle the explorer page (web/, issue 17) with esbuild into
 *
 *   dist-web/explorer.js    one IIFE (web/main.ts and the pure data modules it imports from src/)
 *   dist-web/explorer.css   its stylesheet (web/explorer.css)
 *
 * src/explore/page.ts `explorerHtml` puts both into the page that `sevbox explore` serves or exports.
 * `webBuildOptions` is also `scripts/build.mjs`'s `web` target (so `npm run build` builds it), and
 * `bundleWeb()` builds the same in memory (the browser tests use it).
 *
 * Usage: node scripts/build-web.mjs
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** esbuild options of the web bundle (write: false; the caller writes outputFiles). */
export const webBuildOptions = {
  absWorkingDir: root,
  entryPoints: [
    { in: 'web/main.ts', out: 'explorer' },
    { in: 'web/explorer.css', out: 'explorer' },
  ],
  outdir: 'dist-web',
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome109', 'firefox115', 'safari16'],
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  write: false,
};

/** The bundle in memory: `{ js, css }`. */
export async function bundleWeb() {
  const esbuild = await import('esbuild');
  const result = await esbuild.build(webBuildOptions);
  const pick = (ext) => result.outputFiles.find((f) => f.path.endsWith(ext))?.text ?? '';
  return { js: pick('.js'), css: pick('.css') };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = performance.now();
  const esbuild = await import('esbuild');
  const result = await esbuild.build(webBuildOptions);
  const outdir = join(root, webBuildOptions.outdir);
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  for (const f of result.outputFiles) await writeFile(f.path, f.text);
  const sizes = result.outputFiles.map(
    (f) => `${relative(root, f.path)} (${Math.round(f.text.length / 1024)} KiB)`,
  );
  process.stderr.write(`build web: ${sizes.join(', ')} in ${Math.round(performance.now() - t0)} ms\n`);
}
