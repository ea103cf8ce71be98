#!/usr/bin/env node
/**
 * `npm run guests`: assemble the machine-code guests of examples/guests/ with GNU binutils.
 *
 * Every examples/guests/<name>.s becomes build/<name>.elf (as, then ld with guest.ld) and
 * build/<name>.bin (objcopy -O binary: the loadable bytes, from the image's first address). A source
 * with a `.code64` directive is assembled for x86-64 and linked as ELF64; the others as ELF32
 * (i386). The images are committed fixtures; test/guests/images.test.ts rebuilds them into a
 * temporary folder and compares byte for byte, so the build is deterministic: the tools run from
 * examples/guests/ with relative source names (an object's STT_FILE symbol), objects go to a scratch
 * folder ld never records, no build id, no timestamps (ELF has none).
 *
 * Usage: node scripts/build-guests.mjs [--out DIR]   (default examples/guests/build)
 * Without as, ld or objcopy on PATH it prints one line and exits 0.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const GUESTS = resolve(dirname(fileURLToPath(import.meta.url)), '../examples/guests');
const TOOLS = ['as', 'ld', 'objcopy'];

/** Run a tool in the guests folder; exit with its output when it fails. */
function run(tool, args) {
  const r = spawnSync(tool, args, { cwd: GUESTS, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (r.status !== 0) {
    process.stderr.write(`build-guests: ${tool} ${args.join(' ')} failed\n${r.stderr}${r.error ?? ''}\n`);
    process.exit(1);
  }
  if (r.stderr) process.stderr.write(r.stderr);
}

function parseArgs(argv) {
  const i = argv.indexOf('--out');
  return { out: resolve(i >= 0 && argv[i + 1] ? argv[i + 1] : join(GUESTS, 'build')) };
}

const missing = TOOLS.filter((t) => spawnSync(t, ['--version'], { stdio: 'ignore' }).error);
if (missing.length > 0) {
  console.log(`build-guests: skipped, ${missing.join(', ')} not found (install GNU binutils)`);
  process.exit(0);
}

const { out } = parseArgs(process.argv.slice(2));
mkdirSync(out, { recursive: true });
const scratch = mkdtempSync(join(tmpdir(), 'sevbox-guests-'));
try {
  const sources = readdirSync(GUESTS)
    .filter((f) => f.endsWith('.s'))
    .sort();
  for (const src of sources) {
    const name = src.slice(0, -2);
    const is64 = /^\s*\.code64\b/m.test(readFileSync(join(GUESTS, src), 'utf8'));
    const obj = join(scratch, `${name}.o`);
    const elf = join(out, `${name}.elf`);
    run('as', [is64 ? '--64' : '--32', '-o', obj, src]);
    run('ld', [
      ...['-m', is64 ? 'elf_x86_64' : 'elf_i386'],
      '-n', // no page alignment of the file: the image stays small
      '--build-id=none',
      ...['-z', 'noexecstack'],
      '--no-warn-rwx-segments', // one RWX segment on purpose (guest.ld)
      ...['-T', 'guest.ld'],
      ...['-o', elf, obj],
    ]);
    run('objcopy', ['-O', 'binary', elf, join(out, `${name}.bin`)]);
    console.log(`build-guests: ${name}.elf, ${name}.bin (${is64 ? 'ELF64' : 'ELF32'})`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
