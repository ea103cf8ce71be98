/**
 * Guest images: flat binaries and ELF executables (hand-made bytes, both classes) into segments,
 * every malformed header as an ImageFormatError naming its field and offset, and segments written
 * into a VMM's RAM with their zero fill.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isErrno } from '../uapi/errno.js';
import {
  formatImageFormatError,
  type ImageFormatError,
  isElfFile,
  isImageFormatError,
  parseElfImage,
} from './elf-image.js';
import { isVmmError, type VmmError, vmmError } from './errors.js';
import { flatImage, GUEST_PHYS_LIMIT, type GuestImage, writeGuestImage } from './guest-image.js';

/** One program header of a hand-made ELF. */
interface Phdr {
  type?: number;
  /** p_flags (PF_X = 1, PF_W = 2, PF_R = 4); 0 by default. */
  flags?: number;
  offset: number | bigint;
  vaddr?: number | bigint;
  paddr: number | bigint;
  filesz: number | bigint;
  memsz: number | bigint;
}

interface ElfSpec {
  cls: 32 | 64;
  type?: number;
  machine?: number;
  entry?: number | bigint;
  phoff?: number;
  phentsize?: number;
  phnum?: number;
  phdrs: Phdr[];
  /** Bytes placed at file offsets. */
  data?: [number, Uint8Array][];
  /** Total file size (default: just past the headers and data). */
  size?: number;
}

/** An ELF file built field by field, as the gABI lays it out. */
function elf(s: ElfSpec): Uint8Array {
  const is64 = s.cls === 64;
  const ehsize = is64 ? 64 : 52;
  const phsize = is64 ? 56 : 32;
  const phoff = s.phoff ?? ehsize;
  const phentsize = s.phentsize ?? phsize;
  let end = phoff + s.phdrs.length * phentsize;
  for (const [at, b] of s.data ?? []) end = Math.max(end, at + b.length);
  const bytes = new Uint8Array(s.size ?? end);
  const big = new Uint8Array(Math.max(end, bytes.length, ehsize));
  const dv = new DataView(big.buffer);
  big.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, 1, 1]);
  dv.setUint16(16, s.type ?? 2, true);
  dv.setUint16(18, s.machine ?? (is64 ? 62 : 3), true);
  dv.setUint32(20, 1, true);
  const word = (off: number, v: number | bigint): void => {
    if (is64) dv.setBigUint64(off, BigInt(v), true);
    else dv.setUint32(off, Number(v), true);
  };
  word(24, s.entry ?? 0);
  word(is64 ? 32 : 28, phoff);
  dv.setUint16(is64 ? 52 : 40, ehsize, true);
  dv.setUint16(is64 ? 54 : 42, phentsize, true);
  dv.setUint16(is64 ? 56 : 44, s.phnum ?? s.phdrs.length, true);
  s.phdrs.forEach((p, i) => {
    const at = phoff + i * phentsize;
    if (at + phsize > big.length) return;
    dv.setUint32(at, p.type ?? 1, true);
    dv.setUint32(at + (is64 ? 4 : 24), p.flags ?? 0, true);
    const o = is64 ? [8, 16, 24, 32, 40] : [4, 8, 12, 16, 20];
    word(at + o[0]!, p.offset);
    word(at + o[1]!, p.vaddr ?? p.paddr);
    word(at + o[2]!, p.paddr);
    word(at + o[3]!, p.filesz);
    word(at + o[4]!, p.memsz);
  });
  for (const [at, b] of s.data ?? []) big.set(b, at);
  bytes.set(big.subarray(0, bytes.length));
  return bytes;
}

const CODE = Uint8Array.of(0xfa, 0xf4, 0xeb, 0xfd);
const DATA = Uint8Array.of(1, 2, 3);

/** The parsed image, failing the test on an error. */
function image(bytes: Uint8Array): GuestImage {
  const r = parseElfImage(bytes);
  if (isImageFormatError(r)) assert.fail(formatImageFormatError(r));
  return r;
}

/** The ImageFormatError, failing the test when the file parsed. */
function formatErr(bytes: Uint8Array): ImageFormatError {
  const r = parseElfImage(bytes);
  assert.ok(isImageFormatError(r), 'expected an ImageFormatError');
  return r;
}

describe('parseElfImage', () => {
  for (const cls of [32, 64] as const) {
    it(`ELF${cls}: PT_LOAD segments at p_paddr with zero fill to p_memsz, other headers skipped, the entry`, () => {
      const base = 0x200; // past the headers
      const img = image(
        elf({
          cls,
          entry: 0x1001,
          phdrs: [
            { flags: 5, offset: base, paddr: 0x1000, filesz: CODE.length, memsz: CODE.length },
            { type: 4, offset: 0, paddr: 0, filesz: 0, memsz: 0 }, // PT_NOTE: not loaded
            {
              flags: 6,
              offset: base + 8,
              vaddr: 0x8000_0000,
              paddr: 0x3000,
              filesz: DATA.length,
              memsz: 0x2000,
            },
            { offset: 0, paddr: 0x9000, filesz: 0, memsz: 0 }, // empty PT_LOAD: nothing
          ],
          data: [
            [base, CODE],
            [base + 8, DATA],
          ],
        }),
      );
      assert.equal(img.entry, 0x1001);
      assert.deepEqual(img.segments, [
        { gpa: 0x1000, bytes: CODE, memsz: CODE.length, executable: true },
        { gpa: 0x3000, bytes: DATA, memsz: 0x2000, executable: false },
      ]);
    });
  }

  it('e_entry 0 is no entry point; a virtual entry inside a segment moves with it to p_paddr', () => {
    const phdrs = [
      { offset: 0x100, vaddr: 0xffff_ffff_8100_0000n, paddr: 0x100_0000, filesz: 4, memsz: 0x1000 },
    ];
    const data: [number, Uint8Array][] = [[0x100, CODE]];
    assert.equal(image(elf({ cls: 64, phdrs, data })).entry, undefined);
    assert.equal(image(elf({ cls: 64, entry: 0xffff_ffff_8100_0010n, phdrs, data })).entry, 0x100_0010);
    const bad = formatErr(elf({ cls: 64, entry: 0xffff_ffff_9000_0000n, phdrs, data }));
    assert.deepEqual([bad.field, bad.offset], ['e_entry', 24]);
  });

  it('the segment bytes are a copy: changing the file afterwards changes nothing', () => {
    const file = elf({
      cls: 32,
      phdrs: [{ offset: 0x60, paddr: 0, filesz: 4, memsz: 4 }],
      data: [[0x60, CODE]],
    });
    const img = image(file);
    file.fill(0);
    assert.deepEqual(img.segments[0]!.bytes, CODE);
  });

  it('a Uint8Array over part of a larger buffer (a Node Buffer from the pool) parses from its own start', () => {
    const file = elf({
      cls: 64,
      phdrs: [{ offset: 0x80, paddr: 0x1000, filesz: 4, memsz: 4 }],
      data: [[0x80, CODE]],
    });
    const pool = new Uint8Array(file.length + 13);
    pool.set(file, 13);
    assert.deepEqual(image(pool.subarray(13)).segments[0]!.bytes, CODE);
  });

  const ok32: ElfSpec = {
    cls: 32,
    phdrs: [{ offset: 0x60, paddr: 0x1000, filesz: 4, memsz: 4 }],
    data: [[0x60, CODE]],
  };
  const ok64: ElfSpec = {
    cls: 64,
    phdrs: [{ offset: 0x80, paddr: 0x1000, filesz: 4, memsz: 4 }],
    data: [[0x80, CODE]],
  };
  const patched = (spec: ElfSpec, at: number, ...b: number[]): Uint8Array => {
    const f = elf(spec);
    f.set(b, at);
    return f;
  };

  /** [what, file, field, offset, message pattern] */
  const bad: [string, Uint8Array, string, number, RegExp][] = [
    ['an empty file', new Uint8Array(0), 'e_ident[EI_MAG0..3]', 0, /not an ELF file: starts \(empty\)/],
    ['bad magic', patched(ok32, 1, 0x50), 'e_ident[EI_MAG0..3]', 0, /starts 7f 50 4c 46, not 7f 45 4c 46/],
    ['a PE file', Uint8Array.of(0x4d, 0x5a, 0x90, 0, 3, 0), 'e_ident[EI_MAG0..3]', 0, /starts 4d 5a 90 00/],
    ['e_ident cut short', elf(ok32).subarray(0, 10), 'e_ident', 0, /truncated: 10 bytes/],
    ['ELFCLASSNONE', patched(ok32, 4, 0), 'e_ident[EI_CLASS]', 4, /0 is neither ELFCLASS32/],
    ['big-endian', patched(ok64, 5, 2), 'e_ident[EI_DATA]', 5, /little-endian/],
    ['EI_VERSION 0', patched(ok64, 6, 0), 'e_ident[EI_VERSION]', 6, /expected EV_CURRENT/],
    ['ELF32 header cut short', elf(ok32).subarray(0, 51), 'ELF header', 0, /51 bytes, an ELF32 header is 52/],
    ['ELF64 header cut short', elf(ok64).subarray(0, 60), 'ELF header', 0, /60 bytes, an ELF64 header is 64/],
    ['an object file', elf({ ...ok64, type: 1 }), 'e_type', 16, /ET_REL.*link it first/],
    ['a PIE', elf({ ...ok64, type: 3 }), 'e_type', 16, /ET_DYN/],
    ['a core file', elf({ ...ok64, type: 4 }), 'e_type', 16, /4 is not ET_EXEC/],
    ['an ARM binary', elf({ ...ok32, machine: 40 }), 'e_machine', 18, /40 is neither EM_386/],
    ['e_version 2', patched(ok32, 20, 2), 'e_version', 20, /2, expected EV_CURRENT/],
    ['no program headers', elf({ ...ok32, phnum: 0 }), 'e_phnum', 44, /nothing to load/],
    ['PN_XNUM', elf({ ...ok64, phnum: 0xffff }), 'e_phnum', 56, /extended numbering/],
    [
      'a short e_phentsize',
      elf({ ...ok32, phentsize: 16 }),
      'e_phentsize',
      42,
      /16 is smaller than an ELF32/,
    ],
    [
      'program headers cut short',
      elf(ok64).subarray(0, 64 + 40),
      'e_phoff',
      32,
      /1 program headers of 56 bytes at 0x40 run past the end of the file \(104 bytes\)/,
    ],
    [
      'e_phoff beyond the file',
      elf({ ...ok32, phoff: 0x1000, size: 0x100 }),
      'e_phoff',
      28,
      /at 0x1000 run past/,
    ],
    [
      'segment bytes beyond the file',
      elf({ cls: 32, phdrs: [{ offset: 0x60, paddr: 0x1000, filesz: 0x100, memsz: 0x100 }], size: 0x80 }),
      'phdr[0].p_offset',
      52 + 4,
      /0x60\+0x100 run past the end of the file \(128 bytes\)/,
    ],
    [
      'a huge 64-bit p_offset',
      elf({ cls: 64, phdrs: [{ offset: 0xffff_ffff_ffff_fff0n, paddr: 0, filesz: 0x20, memsz: 0x20 }] }),
      'phdr[0].p_offset',
      64 + 8,
      /run past the end of the file/,
    ],
    [
      'p_filesz above p_memsz',
      elf({ cls: 64, phdrs: [{ offset: 0x80, paddr: 0, filesz: 4, memsz: 2 }], data: [[0x80, CODE]] }),
      'phdr[0].p_filesz',
      64 + 32,
      /0x4 is larger than p_memsz 0x2/,
    ],
    [
      'a segment above 2^52',
      elf({
        cls: 64,
        phdrs: [{ offset: 0x80, paddr: 2n ** 52n - 2n, filesz: 4, memsz: 4 }],
        data: [[0x80, CODE]],
      }),
      'phdr[0].p_paddr',
      64 + 24,
      /ends above the 2\^52 guest-physical limit/,
    ],
    [
      'overlapping segments',
      elf({
        cls: 32,
        phdrs: [
          { offset: 0x100, paddr: 0x1000, filesz: 4, memsz: 0x1000 },
          { type: 6, offset: 0, paddr: 0, filesz: 0, memsz: 0 },
          { offset: 0x100, paddr: 0x1ffc, filesz: 4, memsz: 8 },
        ],
        data: [[0x100, CODE]],
      }),
      'phdr[2].p_paddr',
      52 + 2 * 32 + 12,
      /0x1ffc\+0x8 overlaps phdr\[0\] at 0x1000\+0x1000/,
    ],
    [
      'only non-PT_LOAD headers',
      elf({ cls: 32, phdrs: [{ type: 4, offset: 0, paddr: 0, filesz: 0, memsz: 0 }] }),
      'e_phnum',
      44,
      /no PT_LOAD program header/,
    ],
  ];
  for (const [what, file, field, offset, message] of bad) {
    it(`refuses ${what}: ${field} at offset ${offset}`, () => {
      const e = formatErr(file);
      assert.deepEqual({ field: e.field, offset: e.offset }, { field, offset });
      assert.match(e.message, message);
    });
  }

  it('segments that touch without overlapping are fine', () => {
    const img = image(
      elf({
        cls: 64,
        phdrs: [
          { offset: 0x100, paddr: 0x2000, filesz: 4, memsz: 0x1000 },
          { offset: 0x100, paddr: 0x1000, filesz: 4, memsz: 0x1000 },
          { offset: 0x100, paddr: 0x3000, filesz: 4, memsz: 4 },
        ],
        data: [[0x100, CODE]],
      }),
    );
    assert.deepEqual(
      img.segments.map((s) => s.gpa),
      [0x2000, 0x1000, 0x3000],
    );
  });

  it('formats an error as one line naming the file, offset and field', () => {
    const e = formatErr(patched(ok32, 4, 9));
    assert.equal(
      formatImageFormatError(e, 'guest.elf'),
      'guest.elf: offset 0x4 (e_ident[EI_CLASS]): 9 is neither ELFCLASS32 (1) nor 64 (2)',
    );
    assert.equal(
      formatImageFormatError(e),
      'offset 0x4 (e_ident[EI_CLASS]): 9 is neither ELFCLASS32 (1) nor 64 (2)',
    );
  });
});

describe('isElfFile', () => {
  it('is the ELF magic, whatever follows it', () => {
    assert.equal(isElfFile(Uint8Array.of(0x7f, 0x45, 0x4c, 0x46)), true);
    assert.equal(isElfFile(Uint8Array.of(0x7f, 0x45, 0x4c, 0x46, 9, 9)), true);
    assert.equal(isElfFile(Uint8Array.of(0x7f, 0x45, 0x4c)), false);
    assert.equal(isElfFile(Uint8Array.of(0x7f, 0x45, 0x4c, 0x47)), false);
    assert.equal(isElfFile(new Uint8Array(0)), false);
  });
});

describe('flatImage', () => {
  it('is one segment at the load GPA with no entry point', () => {
    const bytes = Uint8Array.of(0xf4, 0x90);
    const img = flatImage(bytes, 0x7c00);
    assert.deepEqual(img, { segments: [{ gpa: 0x7c00, bytes, memsz: 2 }], entry: undefined });
    bytes[0] = 0;
    assert.ok(!isErrno(img) && img.segments[0]!.bytes[0] === 0xf4, 'a copy of the file');
  });

  it('an empty file has no segment', () => {
    assert.deepEqual(flatImage(new Uint8Array(0), 0x1000), { segments: [], entry: undefined });
  });

  it('refuses a load GPA that is negative, fractional or ends above 2^52 (EINVAL)', () => {
    for (const gpa of [-1, 0.5, Number.NaN, GUEST_PHYS_LIMIT - 1]) {
      const r = flatImage(Uint8Array.of(1, 2), gpa);
      assert.ok(isErrno(r, 'EINVAL'), `${gpa}: ${String(r)}`);
    }
    assert.ok(!isErrno(flatImage(Uint8Array.of(1, 2), GUEST_PHYS_LIMIT - 2)));
  });
});

describe('writeGuestImage', () => {
  /** RAM as a byte array at GPA 0..size; writes elsewhere are EFAULT, as GuestRam says. */
  function fakeRam(size: number): {
    mem: Uint8Array;
    writes: number[];
    write(gpa: number, b: Uint8Array): VmmError | undefined;
  } {
    const mem = new Uint8Array(size).fill(0xcc);
    const writes: number[] = [];
    return {
      mem,
      writes,
      write(gpa, b) {
        writes.push(gpa);
        if (gpa + b.length > size) return vmmError('EFAULT', `gpa 0x${size.toString(16)} is not RAM`);
        mem.set(b, gpa);
        return undefined;
      },
    };
  }

  it('writes each segment and zero-fills it to memsz, in pieces of at most 64 KiB', () => {
    const ram = fakeRam(0x3_0000);
    const r = writeGuestImage(ram, {
      segments: [
        { gpa: 0x10, bytes: DATA, memsz: 8 },
        { gpa: 0x1000, bytes: new Uint8Array(0), memsz: 0x2_0001 },
      ],
      entry: undefined,
    });
    assert.equal(r, undefined);
    assert.deepEqual([...ram.mem.subarray(0x0e, 0x1a)], [0xcc, 0xcc, 1, 2, 3, 0, 0, 0, 0, 0, 0xcc, 0xcc]);
    assert.ok(ram.mem.subarray(0x1000, 0x2_1001).every((b) => b === 0));
    assert.equal(ram.mem[0x2_1001], 0xcc);
    assert.deepEqual(ram.writes, [0x10, 0x13, 0x1000, 0x1_1000, 0x2_1000]);
  });

  it("returns the RAM's failure, naming the segment", () => {
    const ram = fakeRam(0x2000);
    const r = writeGuestImage(ram, {
      segments: [
        { gpa: 0, bytes: DATA, memsz: 3 },
        { gpa: 0x1800, bytes: DATA, memsz: 0x1000 },
      ],
      entry: 0,
    });
    assert.ok(isVmmError(r));
    assert.equal(r.errno, 'EFAULT');
    assert.match(r.message, /^segment 1 \(GPA 0x1800\): gpa 0x2000 is not RAM/);
  });
});
