/**
 * The committed guest images (examples/guests/build/) are what `npm run guests` builds from the
 * sources, byte for byte, and the build is deterministic (two fresh builds in different folders
 * agree). Without GNU binutils that part skips; the images are still checked against their
 * expectations: every source has an .expect.json and both images, the ELF's entry and first
 * segment are the expected entry and the flat image at its load GPA.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { isErrno } from '../../src/uapi/errno.js';
import { flatImage, formatImageFormatError, isImageFormatError, parseElfImage } from '../../src/vmm/index.js';
import { BUILD_DIR, GUESTS_DIR, guestNames, loadExpect, num } from './corpus.js';

const SCRIPT = resolve(import.meta.dirname, '../../scripts/build-guests.mjs');
const missing = ['as', 'ld', 'objcopy'].filter((t) => spawnSync(t, ['--version'], { stdio: 'ignore' }).error);
const binutils =
  missing.length === 0 ? spawnSync('as', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] : '';
/** The binutils the committed images were built with (examples/guests/README.md says so too). */
const BUILT_WITH = 'GNU assembler (GNU Binutils for Debian) 2.40';

const names = guestNames();

describe('guest corpus files', () => {
  it('every source has expectations and both images, and nothing else is there', () => {
    const sources = readdirSync(GUESTS_DIR)
      .filter((f) => f.endsWith('.s'))
      .map((f) => f.slice(0, -2))
      .sort();
    assert.deepEqual(sources, names);
    assert.ok(names.length >= 4, names.join(', '));
    const built = readdirSync(BUILD_DIR).sort();
    assert.deepEqual(built, names.flatMap((n) => [`${n}.bin`, `${n}.elf`]).sort());
  });

  for (const name of names) {
    it(`${name}: the ELF's entry is the expected one and its bytes are the flat image at the load GPA`, () => {
      const expect = loadExpect(name);
      const elf = parseElfImage(readFileSync(join(BUILD_DIR, `${name}.elf`)));
      if (isImageFormatError(elf)) assert.fail(formatImageFormatError(elf, `${name}.elf`));
      const bin = flatImage(readFileSync(join(BUILD_DIR, `${name}.bin`)), num(expect.loadGpa));
      assert.ok(!isErrno(bin), String(bin));
      assert.equal(elf.entry, num(expect.entry.rip));
      assert.equal(elf.segments[0]?.gpa, num(expect.loadGpa));
      assert.deepEqual(elf.segments[0]?.bytes, bin.segments[0]?.bytes);
      // Anything past the flat bytes is zero fill (the .bss), which a flat image leaves to the guest.
      assert.deepEqual(
        elf.segments.map((s) => s.bytes.length),
        [bin.segments[0]!.bytes.length],
      );
    });
  }
});

describe('npm run guests', {
  skip: missing.length > 0 && `GNU binutils missing (${missing.join(', ')})`,
}, () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** A fresh build into a new temporary folder. */
  function build(): string {
    const out = mkdtempSync(join(tmpdir(), 'sevbox-guests-test-'));
    dirs.push(out);
    const r = spawnSync(process.execPath, [SCRIPT, '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', 'the tools warn about nothing');
    return out;
  }

  it('rebuilds the committed images byte for byte, twice', () => {
    const [a, b] = [build(), build()];
    for (const f of readdirSync(BUILD_DIR)) {
      const committed = readFileSync(join(BUILD_DIR, f));
      assert.deepEqual(readFileSync(join(a, f)), readFileSync(join(b, f)), `${f}: two builds differ`);
      assert.ok(
        committed.equals(readFileSync(join(a, f))),
        `${f} differs from a fresh build: run npm run guests${binutils === BUILT_WITH ? '' : ` (the images were built with ${BUILT_WITH}, this machine has ${binutils})`}`,
      );
    }
    assert.deepEqual(readdirSync(a).sort(), readdirSync(BUILD_DIR).sort());
  });
});
