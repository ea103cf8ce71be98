#!/usr/bin/env node
/**
 * `npm run build`: bundle the TypeScript sources with esbuild into what `sevbox` and `npm run bench` run.
 *
 *   dist/sevbox.mjs        the CLI (src/cli/main.ts); bin/sevbox.js runs it while it is up to date
 *   dist/worker.mjs        the fuzz campaign's worker thread (src/fuzz/worker.ts): src/fuzz/campaign.ts
 *                          starts the worker module beside the module it runs in
 *   dist-bench/bench.mjs   the benchmarks (bench/main.ts)
 *   dist-web/explorer.js   the explorer page's script and stylesheet (web/; scripts/build-web.mjs, issue 17)
 *
 * A bundle puts every module's top-level bindings in one scope, so an imported constant is read like
 * any other top-level constant, not through another module's live binding. Dependencies are bundled
 * too (one file to load at startup), except koffi: a native addon, optional, which
 * src/hostkvm/libc.ts loads lazily with createRequire, so a missing koffi only disables the oracle;
 * and iced-x86, whose module reads its WebAssembly file from beside itself (node_modules).
 *
 * Usage: node scripts/build.mjs [--if-available] [cli|bench|web]...   (no target: all of them)
 * --if-available: if the build tools are not installed (npm install --omit=dev), say so and exit 0;
 * bin/sevbox.js then runs the sources through tsx. This is how `npm install` runs it (`prepare`).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { webBuildOptions } from './build-web.mjs';
import { inlineConstants, restoreConst } from './bundle-transforms.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** What every bundle shares. */
const common = {
  absWorkingDir: root,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  // Syntax only (constant folding, inlining of literal constants, dead branches); identifiers keep their
  // names, so stack traces stay readable.
  minifySyntax: true,
  external: ['koffi', 'iced-x86'],
  outExtension: { '.js': '.mjs' },
  // Bundled CommonJS dependencies (commander, cli-progress) require Node's built-ins; an ESM bundle has
  // no `require` of its own, so give it one.
  banner: {
    js: "import { createRequire as __sevboxCreateRequire } from 'node:module';\nconst require = __sevboxCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
  write: false,
};

const targets = {
  cli: {
    ...common,
    entryPoints: [
      { in: 'src/cli/main.ts', out: 'sevbox' },
      // An entry point of its own: campaign.ts starts new Worker(new URL(`./worker${ext}`, import.meta.url)),
      // which from dist/sevbox.mjs is dist/worker.mjs.
      { in: 'src/fuzz/worker.ts', out: 'worker' },
    ],
    outdir: 'dist',
  },
  bench: {
    ...common,
    entryPoints: [{ in: 'bench/main.ts', out: 'bench' }],
    outdir: 'dist-bench',
  },
  // A browser bundle: none of the options above (its own in build-web.mjs), no transforms below.
  web: webBuildOptions,
};

/** The build tools, or undefined when they are not installed. */
async function tools() {
  try {
    const [esbuild, acorn] = await Promise.all([import('esbuild'), import('acorn')]);
    return { esbuild, parse: acorn.parse };
  } catch (e) {
    if (e?.code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw e;
  }
}

const args = process.argv.slice(2);
const ifAvailable = args.includes('--if-available');
const wanted = args.filter((a) => a !== '--if-available');
for (const name of wanted) {
  if (!Object.hasOwn(targets, name)) {
    process.stderr.write(`build: unknown target ${name} (known: ${Object.keys(targets).join(', ')})\n`);
    process.exit(2);
  }
}

const t = await tools();
if (!t) {
  const msg = 'build: esbuild or acorn is not installed (devDependencies)';
  if (!ifAvailable) {
    process.stderr.write(`${msg}\n`);
    process.exit(1);
  }
  process.stderr.write(`${msg}; sevbox will run the sources through tsx\n`);
  process.exit(0);
}

for (const name of wanted.length ? wanted : Object.keys(targets)) {
  const opts = targets[name];
  const t0 = performance.now();
  const result = await t.esbuild.build(opts);
  // Stale files from an older layout (e.g. tsc's dist-bench/src/...) would only mislead.
  await rm(join(root, opts.outdir), { recursive: true, force: true });
  await mkdir(join(root, opts.outdir), { recursive: true });
  const written = [];
  for (const f of result.outputFiles) {
    let text = f.text;
    if (f.path.endsWith('.mjs')) {
      const r = restoreConst(text, t.parse);
      const c = inlineConstants(r.code, t.parse);
      text = c.code;
      written.push(
        `${relative(root, f.path)} (${Math.round(text.length / 1024)} KiB, ${r.converted} const, ${c.inlined} inlined at ${c.references} uses)`,
      );
    } else if (!f.path.endsWith('.map'))
      written.push(`${relative(root, f.path)} (${Math.round(text.length / 1024)} KiB)`);
    await writeFile(f.path, text);
  }
  // On stderr: `npm run bench -- --json` keeps stdout for its JSON lines.
  process.stderr.write(`build ${name}: ${written.join(', ')} in ${Math.round(performance.now() - t0)} ms\n`);
}
