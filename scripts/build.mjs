#!/usr/bin/env node
/**
 * `npm run build`: bundle the TypeScript sources with esbuild into what `sevbox` and `npm run bench` run.
 *
 *   dist/sevbox.mjs        the CLI (src/cli/main.ts); bin/sevbox.js runs it while it is up to date
 *   dist/worker.mjs        the fuzz campaign's worker thread (src/fuzz/worker.ts): src/fuzz/campaign.ts
 *                          starts the worker module beside the module it runs in
 *   dist-bench/bench.mjs   the benchmarks (bench/main.ts)
 *
 * A bundle puts every module's top-level bindings in one scope, so an imported constant is read like
 * any other top-level constant, not through another module's live binding. Dependencies are bundled
 * too (one file to load at startup), except koffi: a native addon, optional, which
 * src/hostkvm/libc.ts loads lazily with createRequire, so a missing koffi only disables the oracle.
 *
 * Usage: node scripts/build.mjs [--if-available] [cli|bench]...   (no target: all of them)
 * --if-available: if the build tools are not installed (npm install --omit=dev), say so and exit 0;
 * bin/sevbox.js then runs the sources through tsx. This is how `npm install` runs it (`prepare`).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  external: ['koffi'],
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
};

/**
 * Give this project's top-level constants their `const` back.
 *
 * esbuild turns every top-level `const`, `let` and `class` of a bundle into `var`, deliberately and with
 * no option (its FAQ: "top-level var"). To V8 a top-level `var` is a mutable slot, loaded at every use; a
 * `const` is immutable, and optimized code folds its value in. Bundled as `var`, the per-exit paths ran
 * 20-27% slower than per-module JavaScript whose constants were module-local consts.
 *
 * A top-level `var` of a module under src/ or bench/ came from a `const`, `let` or `class` (Biome's noVar
 * keeps `var` out of the sources), and esbuild keeps the modules' evaluation order; so one initialised
 * where it is declared and never assigned again can be `const` without changing what the code does.
 * "Never assigned" is decided by name over the whole bundle (an assignment to any binding of that name,
 * in any scope, keeps the `var`), so it can only err by keeping a `var`.
 * Declarations without an initialiser stay `var`: among them those of the modules esbuild evaluates
 * lazily (reached through import(), as `sevbox hostkvm` and `sevbox fuzz` reach theirs). Dependencies
 * are left as they are. Where esbuild merged declarations into one statement (`var A = 1, b = 2`), each
 * run of declarators of one kind gets its own statement. Lines do not move, so the source map stays
 * right to the line (columns after an edit shift by a few characters).
 */
function restoreConst(code, parse) {
  const comments = [];
  const ast = parse(code, { ecmaVersion: 'latest', sourceType: 'module', onComment: comments });
  // esbuild starts each module's code with a `// path` line (without whitespace minification).
  const sections = comments
    .filter((c) => c.type === 'Line' && code[c.start - 1] === '\n' && /^ \S+\.[cm]?[jt]sx?$/.test(c.value))
    .map((c) => ({ start: c.start, own: /^ (src|bench)\//.test(c.value) }));
  const isOwn = (pos) => {
    let own = false;
    for (const s of sections) {
      if (s.start > pos) break;
      own = s.own;
    }
    return own;
  };

  const assigned = new Set();
  const targetNames = (p) => {
    if (!p) return;
    if (p.type === 'Identifier') assigned.add(p.name);
    else if (p.type === 'ObjectPattern')
      for (const q of p.properties) targetNames(q.type === 'RestElement' ? q.argument : q.value);
    else if (p.type === 'ArrayPattern') for (const q of p.elements) targetNames(q);
    else if (p.type === 'RestElement') targetNames(p.argument);
    else if (p.type === 'AssignmentPattern') targetNames(p.left);
  };
  const topLevelVars = new Map();
  const visit = (node) => {
    if (Array.isArray(node)) {
      for (const n of node) visit(n);
      return;
    }
    if (node === null || typeof node !== 'object' || typeof node.type !== 'string') return;
    if (node.type === 'AssignmentExpression') targetNames(node.left);
    else if (node.type === 'UpdateExpression') targetNames(node.argument);
    else if (
      (node.type === 'ForInStatement' || node.type === 'ForOfStatement') &&
      node.left.type !== 'VariableDeclaration'
    )
      targetNames(node.left);
    for (const key in node) {
      const v = node[key];
      if (v !== null && typeof v === 'object') visit(v);
    }
  };
  visit(ast);
  for (const s of ast.body) {
    if (s.type !== 'VariableDeclaration' || s.kind !== 'var') continue;
    for (const d of s.declarations)
      if (d.id.type === 'Identifier') topLevelVars.set(d.id.name, (topLevelVars.get(d.id.name) ?? 0) + 1);
  }
  const convertible = (d) =>
    d.init !== null &&
    d.id.type === 'Identifier' &&
    !assigned.has(d.id.name) &&
    topLevelVars.get(d.id.name) === 1;

  // Edits as [start, end, text].
  const edits = [];
  let converted = 0;
  for (const s of ast.body) {
    if (s.type !== 'VariableDeclaration' || s.kind !== 'var' || !isOwn(s.start)) continue;
    const kinds = s.declarations.map((d) => (convertible(d) ? 'const' : 'var'));
    if (!kinds.includes('const')) continue;
    converted += kinds.filter((k) => k === 'const').length;
    edits.push([s.start, s.start + 3, kinds[0]]);
    for (let i = 1; i < kinds.length; i++) {
      // The `, ` between two declarators becomes `; <kind> ` where the kind changes.
      if (kinds[i] !== kinds[i - 1])
        edits.push([s.declarations[i - 1].end, s.declarations[i].start, `; ${kinds[i]} `]);
    }
  }
  const parts = [];
  let at = 0;
  for (const [start, end, text] of edits.sort((a, b) => a[0] - b[0])) {
    parts.push(code.slice(at, start), text);
    at = end;
  }
  parts.push(code.slice(at));
  return { code: parts.join(''), converted };
}

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
      text = r.code;
      written.push(`${relative(root, f.path)} (${Math.round(text.length / 1024)} KiB, ${r.converted} const)`);
    }
    await writeFile(f.path, text);
  }
  // On stderr: `npm run bench -- --json` keeps stdout for its JSON lines.
  process.stderr.write(`build ${name}: ${written.join(', ')} in ${Math.round(performance.now() - t0)} ms\n`);
}
