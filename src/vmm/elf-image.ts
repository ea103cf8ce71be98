/**
 * ELF executables as guest images (System V gABI; ELF32 and ELF64, little-endian, EM_386 or
 * EM_X86_64, ET_EXEC): every PT_LOAD program header becomes a segment at its p_paddr (the physical
 * address: a guest image lands in guest-physical memory) with p_filesz bytes from p_offset and zero
 * fill to p_memsz. Section headers are never read, as a loader does not need them.
 *
 * A file that cannot be loaded is an `ImageFormatError` naming the field and its byte offset in the
 * file, never an exception: truncated headers, bad magic, a segment running past the end of the
 * file or overlapping another, addresses beyond 2^52.
 */
import { GUEST_PHYS_LIMIT, type GuestImage, type GuestSegment } from './guest-image.js';

/** Why a file is not a loadable image. */
export interface ImageFormatError {
  readonly kind: 'image-format-error';
  /** Byte offset in the file of the field at fault. */
  readonly offset: number;
  /** The field, by its ELF name: `e_ident[EI_CLASS]`, `e_phoff`, `phdr[1].p_filesz`. */
  readonly field: string;
  /** What was expected and what the file holds. */
  readonly message: string;
}

/** True when `v` is an ImageFormatError. */
export function isImageFormatError(v: unknown): v is ImageFormatError {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'image-format-error';
}

/** Whether `bytes` start with the ELF magic (7f 45 4c 46): an ELF file, loadable or not. */
export function isElfFile(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && MAGIC.every((b, i) => bytes[i] === b);
}

/** One line: `file: offset 0x20 (e_phoff): message` (without `file: ` when none is given). */
export function formatImageFormatError(e: ImageFormatError, file?: string): string {
  return `${file ? `${file}: ` : ''}offset 0x${e.offset.toString(16)} (${e.field}): ${e.message}`;
}

/** Where each field of the file and program headers lives, per class. */
interface ElfLayout {
  readonly name: 'ELF32' | 'ELF64';
  /** Bytes in a u32-or-u64 "word" field (Elf32_Addr/Off vs Elf64_Addr/Off/Xword). */
  readonly word: 4 | 8;
  readonly ehsize: number;
  readonly phsize: number;
  readonly e_entry: number;
  readonly e_phoff: number;
  readonly e_phentsize: number;
  readonly e_phnum: number;
  readonly p_flags: number;
  readonly p_offset: number;
  readonly p_vaddr: number;
  readonly p_paddr: number;
  readonly p_filesz: number;
  readonly p_memsz: number;
}

const ELF32: ElfLayout = {
  name: 'ELF32',
  word: 4,
  ehsize: 52,
  phsize: 32,
  e_entry: 24,
  e_phoff: 28,
  e_phentsize: 42,
  e_phnum: 44,
  p_flags: 24,
  p_offset: 4,
  p_vaddr: 8,
  p_paddr: 12,
  p_filesz: 16,
  p_memsz: 20,
};

const ELF64: ElfLayout = {
  name: 'ELF64',
  word: 8,
  ehsize: 64,
  phsize: 56,
  e_entry: 24,
  e_phoff: 32,
  e_phentsize: 54,
  e_phnum: 56,
  p_flags: 4,
  p_offset: 8,
  p_vaddr: 16,
  p_paddr: 24,
  p_filesz: 32,
  p_memsz: 40,
};

const MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const EI_CLASS = 4;
const EI_DATA = 5;
const EI_VERSION = 6;
const EI_NIDENT = 16;
const ELFDATA2LSB = 1;
const EV_CURRENT = 1;
const E_TYPE = 16;
const E_MACHINE = 18;
const E_VERSION = 20;
const ET_REL = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
const EM_386 = 3;
const EM_X86_64 = 62;
/** e_phnum's escape to extended numbering (the count lives in section header 0). */
const PN_XNUM = 0xffff;
const PT_LOAD = 1;

const LIMIT = BigInt(GUEST_PHYS_LIMIT);
const hex = (v: number | bigint): string => `0x${v.toString(16)}`;

function formatError(offset: number, field: string, message: string): ImageFormatError {
  return { kind: 'image-format-error', offset, field, message };
}

/** A loaded segment with its program header index and addresses (bigint: u64 fields may be huge). */
interface Loaded {
  readonly index: number;
  readonly paddr: bigint;
  readonly vaddr: bigint;
  readonly memsz: bigint;
  readonly segment: GuestSegment;
}

/** Parse an ELF executable into its loadable segments and entry point. */
export function parseElfImage(bytes: Uint8Array): GuestImage | ImageFormatError {
  const h = fileHeader(bytes);
  if (isImageFormatError(h)) return h;
  const loaded = loadSegments(bytes, h);
  if (isImageFormatError(loaded)) return loaded;
  const entry = entryGpa(h.entry, loaded);
  if (entry === 'bad') {
    return formatError(
      h.layout.e_entry,
      'e_entry',
      `${hex(h.entry)} is in no PT_LOAD segment and above the 2^52 guest-physical limit`,
    );
  }
  return { segments: loaded.map((l) => l.segment), entry };
}

/** What the file header says about loading, once checked. */
interface FileHeader {
  readonly layout: ElfLayout;
  readonly dv: DataView;
  /** Reads an Elf32_Addr/Off (u32) or Elf64_Addr/Off/Xword (u64) at a file offset. */
  readonly word: (off: number) => bigint;
  readonly entry: bigint;
  readonly phoff: bigint;
  readonly phentsize: number;
  readonly phnum: number;
}

/** e_ident and the ELF header: an x86 executable whose program header table lies in the file. */
function fileHeader(bytes: Uint8Array): FileHeader | ImageFormatError {
  const n = bytes.length;
  if (!isElfFile(bytes)) {
    const seen = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    return formatError(
      0,
      'e_ident[EI_MAG0..3]',
      `not an ELF file: starts ${seen || '(empty)'}, not 7f 45 4c 46`,
    );
  }
  if (n < EI_NIDENT) return formatError(0, 'e_ident', `truncated: ${n} bytes, e_ident alone is 16`);
  const layout = bytes[EI_CLASS] === 1 ? ELF32 : bytes[EI_CLASS] === 2 ? ELF64 : undefined;
  if (!layout) {
    return formatError(
      EI_CLASS,
      'e_ident[EI_CLASS]',
      `${bytes[EI_CLASS]} is neither ELFCLASS32 (1) nor 64 (2)`,
    );
  }
  if (bytes[EI_DATA] !== ELFDATA2LSB) {
    return formatError(EI_DATA, 'e_ident[EI_DATA]', `${bytes[EI_DATA]}: x86 images are little-endian (1)`);
  }
  if (bytes[EI_VERSION] !== EV_CURRENT) {
    return formatError(EI_VERSION, 'e_ident[EI_VERSION]', `${bytes[EI_VERSION]}, expected EV_CURRENT (1)`);
  }
  if (n < layout.ehsize) {
    return formatError(
      0,
      'ELF header',
      `truncated: ${n} bytes, an ${layout.name} header is ${layout.ehsize}`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const word = (off: number): bigint =>
    layout.word === 4 ? BigInt(dv.getUint32(off, true)) : dv.getBigUint64(off, true);

  const type = dv.getUint16(E_TYPE, true);
  if (type !== ET_EXEC) {
    const why =
      type === ET_REL
        ? 'a relocatable object (ET_REL): link it first'
        : type === ET_DYN
          ? 'position-independent (ET_DYN): link it at fixed addresses'
          : `${type} is not ET_EXEC (2)`;
    return formatError(E_TYPE, 'e_type', why);
  }
  const machine = dv.getUint16(E_MACHINE, true);
  if (machine !== EM_386 && machine !== EM_X86_64) {
    return formatError(E_MACHINE, 'e_machine', `${machine} is neither EM_386 (3) nor EM_X86_64 (62)`);
  }
  const version = dv.getUint32(E_VERSION, true);
  if (version !== EV_CURRENT)
    return formatError(E_VERSION, 'e_version', `${version}, expected EV_CURRENT (1)`);

  const phoff = word(layout.e_phoff);
  const phentsize = dv.getUint16(layout.e_phentsize, true);
  const phnum = dv.getUint16(layout.e_phnum, true);
  if (phnum === 0 || phnum === PN_XNUM) {
    const why = phnum === 0 ? 'no program headers: nothing to load' : 'extended numbering is not supported';
    return formatError(layout.e_phnum, 'e_phnum', why);
  }
  if (phentsize < layout.phsize) {
    return formatError(
      layout.e_phentsize,
      'e_phentsize',
      `${phentsize} is smaller than an ${layout.name} program header (${layout.phsize})`,
    );
  }
  if (phoff + BigInt(phnum * phentsize) > BigInt(n)) {
    return formatError(
      layout.e_phoff,
      'e_phoff',
      `${phnum} program headers of ${phentsize} bytes at ${hex(phoff)} run past the end of the file (${n} bytes)`,
    );
  }
  return { layout, dv, word, entry: word(layout.e_entry), phoff, phentsize, phnum };
}

/** The PT_LOAD program headers as segments: inside the file, below 2^52, not overlapping. */
function loadSegments(bytes: Uint8Array, h: FileHeader): Loaded[] | ImageFormatError {
  const { layout, word } = h;
  const loaded: Loaded[] = [];
  for (let i = 0; i < h.phnum; i++) {
    const at = Number(h.phoff) + i * h.phentsize;
    if (h.dv.getUint32(at, true) !== PT_LOAD) continue;
    const fail = (name: keyof ElfLayout & `p_${string}`, message: string): ImageFormatError =>
      formatError(at + layout[name], `phdr[${i}].${name}`, message);
    const offset = word(at + layout.p_offset);
    const vaddr = word(at + layout.p_vaddr);
    const paddr = word(at + layout.p_paddr);
    const filesz = word(at + layout.p_filesz);
    const memsz = word(at + layout.p_memsz);
    if (filesz > memsz) return fail('p_filesz', `${hex(filesz)} is larger than p_memsz ${hex(memsz)}`);
    if (offset + filesz > BigInt(bytes.length)) {
      return fail(
        'p_offset',
        `the segment's bytes ${hex(offset)}+${hex(filesz)} run past the end of the file (${bytes.length} bytes)`,
      );
    }
    if (paddr + memsz > LIMIT) {
      return fail('p_paddr', `${hex(paddr)}+${hex(memsz)} ends above the 2^52 guest-physical limit`);
    }
    if (memsz === 0n) continue;
    const other = loaded.find((l) => paddr < l.paddr + l.memsz && l.paddr < paddr + memsz);
    if (other) {
      return fail(
        'p_paddr',
        `${hex(paddr)}+${hex(memsz)} overlaps phdr[${other.index}] at ${hex(other.paddr)}+${hex(other.memsz)}`,
      );
    }
    const from = Number(offset);
    const segment = {
      gpa: Number(paddr),
      bytes: bytes.slice(from, from + Number(filesz)),
      memsz: Number(memsz),
      // PF_X: the segment holds code.
      executable: (h.dv.getUint32(at + layout.p_flags, true) & 1) !== 0,
    };
    loaded.push({ index: i, paddr, vaddr, memsz, segment });
  }
  if (loaded.length === 0) {
    return formatError(layout.e_phnum, 'e_phnum', 'no PT_LOAD program header: nothing to load');
  }
  return loaded;
}

/**
 * e_entry as a GPA: 0 is "no entry point" (gABI); inside a segment's virtual range it moves with the
 * segment to its physical address (a kernel linked at high virtual addresses, loaded low); else it
 * is taken as physical already.
 */
function entryGpa(entry: bigint, loaded: readonly Loaded[]): number | undefined | 'bad' {
  if (entry === 0n) return undefined;
  const seg = loaded.find((l) => entry >= l.vaddr && entry < l.vaddr + l.memsz);
  if (seg) return Number(entry - seg.vaddr + seg.paddr);
  return entry < LIMIT ? Number(entry) : 'bad';
}
