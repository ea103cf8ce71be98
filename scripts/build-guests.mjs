#!/usr/bin/env node
/**
 * `npm run guests`: build the machine-code guests of examples/guests/ with GNU binutils (and gcc
 * for the C ones).
 *
 * Every examples/guests/<name>.s becomes build/<name>.elf (as, then ld with guest.ld) and
 * build/<name>.bin (objcopy -O binary: the loadable bytes, from the image's first address). A source
 * with a `.code64` directive is assembled for x86-64 and linked as ELF64; the others as ELF32
 * (i386).
 *
 * Every examples/guests/<name>.c is an SEV-ES guest on the library in lib/: its .c, lib/*.c
 * (gcc, freestanding, gcc's kernel code model) and lib/*.s (as --64) are linked with the guest's own
 * linker script <name>.ld (which INCLUDEs lib/sev-es.ld) into build/<name>.elf; build/<name>.bin is
 * its ROM, from its lowest address up to the reset vector's last byte.
 *
 * The images are committed fixtures; test/guests/images.test.ts rebuilds them into a temporary
 * folder and compares byte for byte, so the build is deterministic: the tools run from
 * examples/guests/ with relative source names (an object's STT_FILE symbol; -ffile-prefix-map for
 * anything else gcc would record), objects go to a scratch folder ld never records, in a fixed
 * order, no build id, no timestamps (ELF has none), no .comment (the linker scripts drop it).
 *
 * Usage: node scripts/build-guests.mjs [--out DIR]   (default examples/guests/build)
 * Without as, ld or objcopy on PATH it prints one line and exits 0; without gcc it builds the
 * assembly guests and says it skipped the C ones.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const GUESTS = resolve(dirname(fileURLToPath(import.meta.url)), '../examples/guests');
const LIB = 'lib';
const TOOLS = ['as', 'ld', 'objcopy'];

/**
 * gcc for the C guests: freestanding code that runs in long mode from the reset vector, with no
 * red zone (interrupt handlers share the stack), no SSE (nothing saves it: -mgeneral-regs-only),
 * no stack protector, PIC or CET instrumentation, and the kernel code model (entry.s says why).
 */
export const CFLAGS = [
  '-std=gnu11',
  '-Wall',
  '-Wextra',
  '-O2',
  '-ffreestanding',
  '-nostdlib',
  '-fno-pic',
  '-fno-pie',
  '-fno-stack-protector',
  '-fcf-protection=none',
  '-fno-asynchronous-unwind-tables',
  '-mno-red-zone',
  '-mgeneral-regs-only',
  '-mcmodel=kernel',
  `-ffile-prefix-map=${GUESTS}=.`,
];

/** The ld options every guest shares. */
const LDFLAGS = [
  '-n', // no page alignment of the file: the image stays small
  '--build-id=none',
  ...['-z', 'noexecstack'],
  '--no-warn-rwx-segments', // guest.ld: one RWX segment on purpose
];

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

const has = (tool) => !spawnSync(tool, ['--version'], { stdio: 'ignore' }).error;

/** The files of a folder (relative to examples/guests/) ending in `ext`, sorted. */
const sourcesIn = (dir, ext) =>
  readdirSync(join(GUESTS, dir))
    .filter((f) => f.endsWith(ext))
    .sort()
    .map((f) => (dir === '.' ? f : `${dir}/${f}`));

/** An assembly guest: as, ld with guest.ld, objcopy. */
function buildAsm(src, scratch, out) {
  const name = src.slice(0, -2);
  const is64 = /^\s*\.code64\b/m.test(readFileSync(join(GUESTS, src), 'utf8'));
  const obj = join(scratch, `${name}.o`);
  const elf = join(out, `${name}.elf`);
  run('as', [is64 ? '--64' : '--32', '-o', obj, src]);
  run('ld', ['-m', is64 ? 'elf_x86_64' : 'elf_i386', ...LDFLAGS, ...['-T', 'guest.ld'], ...['-o', elf, obj]]);
  run('objcopy', ['-O', 'binary', elf, join(out, `${name}.bin`)]);
  console.log(`build-guests: ${name}.elf, ${name}.bin (${is64 ? 'ELF64' : 'ELF32'})`);
}

/** The library's objects (lib/*.s, lib/*.c), built once for every C guest. */
function buildLib(scratch) {
  const objs = [];
  const object = (file) => {
    const obj = join(scratch, `${file.replaceAll('/', '-')}.o`);
    objs.push(obj);
    return obj;
  };
  for (const s of sourcesIn(LIB, '.s')) run('as', ['--64', '-o', object(s), s]);
  for (const c of sourcesIn(LIB, '.c')) run('gcc', [...CFLAGS, '-c', '-o', object(c), c]);
  return objs;
}

/** A C guest: its .c, linked with the library's objects by <name>.ld. */
function buildC(src, libObjs, scratch, out) {
  const name = src.slice(0, -2);
  const obj = join(scratch, `${name}.o`);
  run('gcc', [...CFLAGS, '-c', '-o', obj, src]);
  const elf = join(out, `${name}.elf`);
  run('ld', ['-m', 'elf_x86_64', ...LDFLAGS, ...['-T', `${name}.ld`], ...['-o', elf], ...libObjs, obj]);
  run('objcopy', ['-O', 'binary', elf, join(out, `${name}.bin`)]);
  console.log(`build-guests: ${name}.elf, ${name}.bin (ELF64, C on ${LIB}/)`);
}

const missing = TOOLS.filter((t) => !has(t));
if (missing.length > 0) {
  console.log(`build-guests: skipped, ${missing.join(', ')} not found (install GNU binutils)`);
  process.exit(0);
}

const { out } = parseArgs(process.argv.slice(2));
mkdirSync(out, { recursive: true });
const scratch = mkdtempSync(join(tmpdir(), 'sevbox-guests-'));
try {
  for (const src of sourcesIn('.', '.s')) buildAsm(src, scratch, out);
  const cSources = sourcesIn('.', '.c');
  if (!has('gcc')) {
    if (cSources.length > 0) console.log(`build-guests: skipped ${cSources.join(', ')}: gcc not found`);
  } else {
    const libObjs = buildLib(scratch);
    for (const src of cSources) buildC(src, libObjs, scratch, out);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
