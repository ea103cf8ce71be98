/**
 * The committed guest images (examples/guests/build/) are what `npm run guests` builds from the
 * sources, byte for byte, and the build is deterministic (two fresh builds in different folders
 * agree): the assembly guests with GNU binutils, the C guests (and lib/) with gcc too. Without
 * binutils, or gcc for the C guests, that part skips; the images are still checked against their
 * expectations: every source has an .expect.json (a scenario twin, twin-<family>.c, its scenario in
 * examples/machine-code/ instead) and both images, the ELF's entry is where the guest starts, and
 * its segments are the flat image at its load GPA.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isErrno } from '../../src/uapi/errno.js';
import { flatImage, formatImageFormatError, isImageFormatError, parseElfImage } from '../../src/vmm/index.js';
import {
  BUILD_DIR,
  entryAddress,
  GUESTS_DIR,
  guestNames,
  loadExpect,
  num,
  RESET_VECTOR,
  twinNames,
} from './corpus.js';

const SCRIPT = resolve(import.meta.dirname, '../../scripts/build-guests.mjs');
const has = (tool: string): boolean => !spawnSync(tool, ['--version'], { stdio: 'ignore' }).error;
const firstLine = (tool: string): string =>
  has(tool) ? spawnSync(tool, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]! : '';
const missing = ['as', 'ld', 'objcopy'].filter((t) => !has(t));
const gcc = has('gcc');
/** The tools the committed images were built with (examples/guests/README.md says so too). */
const BUILT_WITH = {
  as: 'GNU assembler (GNU Binutils for Debian) 2.40',
  gcc: 'gcc (Debian 12.2.0-14+deb12u1) 12.2.0',
};

const names = [...guestNames(), ...twinNames()].sort();
/** Where a guest's image goes and starts, and its ROM: from its .expect.json, or a twin's library ROM. */
function layout(name: string): { loadGpa: number; entry: number; rom?: { gpa: number; size: number } } {
  if (!guestNames().includes(name))
    return { loadGpa: 0xffff_0000, entry: RESET_VECTOR, rom: { gpa: 0xffff_0000, size: 0x1_0000 } };
  const expect = loadExpect(name);
  return {
    loadGpa: num(expect.loadGpa),
    entry: entryAddress(expect),
    ...(expect.rom ? { rom: { gpa: num(expect.rom.gpa), size: num(expect.rom.size) } } : {}),
  };
}
/** A guest's source: <name>.s, or <name>.c (an SEV-ES guest on lib/). */
const isC = (name: string): boolean => existsSync(join(GUESTS_DIR, `${name}.c`));
const hex = (v: number): string => `0x${v.toString(16)}`;

describe('guest corpus files', () => {
  it('every source has expectations (or is a twin) and both images, and nothing else is there', () => {
    const sources = readdirSync(GUESTS_DIR)
      .filter((f) => f.endsWith('.s') || f.endsWith('.c'))
      .map((f) => f.slice(0, -2))
      .sort();
    assert.deepEqual(sources, names);
    assert.ok(names.length >= 5, names.join(', '));
    const built = readdirSync(BUILD_DIR).sort();
    assert.deepEqual(built, names.flatMap((n) => [`${n}.bin`, `${n}.elf`]).sort());
    for (const n of names.filter(isC)) assert.ok(existsSync(join(GUESTS_DIR, `${n}.ld`)), `${n}.ld`);
  });

  for (const name of names) {
    it(`${name}: the ELF's entry is where the guest starts and its segments are the flat image at the load GPA`, () => {
      const { loadGpa, entry, rom } = layout(name);
      const elf = parseElfImage(readFileSync(join(BUILD_DIR, `${name}.elf`)));
      if (isImageFormatError(elf)) assert.fail(formatImageFormatError(elf, `${name}.elf`));
      const bin = flatImage(readFileSync(join(BUILD_DIR, `${name}.bin`)), loadGpa);
      assert.ok(!isErrno(bin), String(bin));
      assert.equal(elf.entry, entry);
      assert.equal(elf.segments[0]?.gpa, loadGpa);
      // The file bytes of every segment, where the flat image has them; the gaps between segments
      // are zeros in both. Anything past a segment's file bytes is zero fill (the .bss), which a
      // flat image leaves to the guest.
      const flat = bin.segments[0]!.bytes;
      const composed = new Uint8Array(flat.length);
      for (const s of elf.segments) {
        const at = s.gpa - loadGpa;
        assert.ok(
          at >= 0 && at + s.bytes.length <= flat.length,
          `segment at ${hex(s.gpa)} outside the flat image`,
        );
        composed.set(s.bytes, at);
      }
      assert.ok(Buffer.from(composed).equals(flat), "the ELF's segments differ from the flat image");
      if (rom) {
        // A ROM image fills its memslot: the reset vector is its last 16 bytes.
        assert.equal(loadGpa, rom.gpa);
        assert.equal(flat.length, rom.size);
      }
    });
  }
});

describe('npm run guests', {
  skip: missing.length > 0 && `GNU binutils missing (${missing.join(', ')})`,
}, () => {
  const dirs: string[] = [];
  let builds: [string, string] = ['', ''];
  before(() => {
    builds = [build(), build()];
  });
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

  /** Both builds agree on the images of `guests`, and with the committed ones. */
  function compare(guests: string[]): void {
    const [a, b] = builds;
    const tools = gcc ? ['as', 'gcc'] : ['as'];
    const other = tools.filter((t) => firstLine(t) !== BUILT_WITH[t as keyof typeof BUILT_WITH]);
    const hint = other.length
      ? ` (the images were built with ${other.map((t) => BUILT_WITH[t as keyof typeof BUILT_WITH]).join(' and ')}, this machine has ${other.map(firstLine).join(' and ')})`
      : '';
    for (const f of guests.flatMap((n) => [`${n}.bin`, `${n}.elf`])) {
      const committed = readFileSync(join(BUILD_DIR, f));
      assert.deepEqual(readFileSync(join(a, f)), readFileSync(join(b, f)), `${f}: two builds differ`);
      assert.ok(
        committed.equals(readFileSync(join(a, f))),
        `${f} differs from a fresh build: run npm run guests${hint}`,
      );
    }
  }

  it('rebuilds the committed assembly images byte for byte, twice', () => {
    compare(names.filter((n) => !isC(n)));
  });

  it('rebuilds the committed C images (lib/ and each guest) byte for byte, twice', {
    skip: !gcc && 'gcc missing',
  }, () => {
    compare(names.filter(isC));
    assert.deepEqual(readdirSync(builds[0]).sort(), readdirSync(BUILD_DIR).sort());
  });
});
