#!/usr/bin/env node
/**
 * Build test/fixtures/qemu-hello/hello.S, the tiny -bios firmware QEMU boots on -accel kvm
 * (test/qemu-hello/), into .cache/qemu-hello/: hello.o (gcc -c: the C preprocessor, then as),
 * hello.elf (ld, text at 0xffff0000) and hello.bin (objcopy -O binary: the 64 KiB image whose last
 * 16 bytes are the reset vector at 0xfffffff0).
 *
 * Usage: node scripts/build-qemu-hello.mjs [--out DIR]
 * Without gcc, as, ld or objcopy on PATH it prints one line and exits 0.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const QEMU_HELLO_SOURCE = join(ROOT, 'test/fixtures/qemu-hello/hello.S');
export const QEMU_HELLO_OUT = join(ROOT, '.cache/qemu-hello');
/** The image's size: QEMU's -bios wants a multiple of 64 KiB. */
export const QEMU_HELLO_SIZE = 0x10000;

const TOOLS = ['gcc', 'as', 'ld', 'objcopy'];
const has = (tool) => !spawnSync(tool, ['--version'], { stdio: 'ignore' }).error;

/** The tools missing from PATH (empty: the firmware can be built). */
export function missingTools() {
  return TOOLS.filter((t) => !has(t));
}

function run(tool, args) {
  const r = spawnSync(tool, args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (r.error || r.status !== 0) {
    throw new Error(`build-qemu-hello: ${tool} ${args.join(' ')} failed\n${r.stderr ?? ''}${r.error ?? ''}`);
  }
}

/**
 * Build the image into `out`; returns its path, or undefined (with the reason) when a tool is
 * missing. Throws when a tool fails.
 */
export function buildQemuHello(out = QEMU_HELLO_OUT) {
  const missing = missingTools();
  if (missing.length) return { image: undefined, reason: `no ${missing.join(', ')} on PATH` };
  mkdirSync(out, { recursive: true });
  const obj = join(out, 'hello.o');
  const elf = join(out, 'hello.elf');
  const image = join(out, 'hello.bin');
  run('gcc', ['-c', '-nostdlib', '-o', obj, QEMU_HELLO_SOURCE]);
  run('ld', [
    '-m',
    'elf_x86_64',
    '-nostdlib',
    '-N',
    '--build-id=none',
    '-Ttext',
    '0xffff0000',
    '-e',
    '0xfffffff0',
    '-o',
    elf,
    obj,
  ]);
  run('objcopy', ['-O', 'binary', '-j', '.text', elf, image]);
  const size = statSync(image).size;
  if (size !== QEMU_HELLO_SIZE)
    throw new Error(`build-qemu-hello: ${image} is ${size} bytes, not ${QEMU_HELLO_SIZE}`);
  return { image, reason: undefined };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const i = process.argv.indexOf('--out');
  const out = i >= 0 && process.argv[i + 1] ? resolve(process.argv[i + 1]) : QEMU_HELLO_OUT;
  try {
    const r = buildQemuHello(out);
    console.log(r.image ? `build-qemu-hello: ${r.image}` : `build-qemu-hello: skipped (${r.reason})`);
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : e}\n`);
    process.exitCode = 1;
  }
}
