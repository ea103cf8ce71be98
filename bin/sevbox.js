#!/usr/bin/env node
// The `sevbox` command. Runs the bundle dist/sevbox.mjs (`npm run build`, run by `npm install`) while it
// is at least as new as every source file under src/; otherwise (no build yet, or a source edited since)
// runs the TypeScript sources through tsx's loader, which needs no build step but runs slower.
import { readdirSync, statSync } from 'node:fs';

const bundle = new URL('../dist/sevbox.mjs', import.meta.url);

/** The newest mtime of a non-test file under `dir` (a URL ending in /). */
function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) newest = Math.max(newest, newestSource(new URL(`${e.name}/`, dir)));
    else if (!e.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(new URL(e.name, dir)).mtimeMs);
  }
  return newest;
}

function bundleIsFresh() {
  let built;
  try {
    built = statSync(bundle).mtimeMs;
  } catch {
    return false;
  }
  return built >= newestSource(new URL('../src/', import.meta.url));
}

if (bundleIsFresh()) {
  await import(bundle.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
