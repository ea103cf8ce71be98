/**
 * Reading an input file the user named (a scenario, a trace, a guest or firmware image, a GHCB
 * page): only a regular file, and at most a limit of bytes. A FIFO would block the open or the read
 * until a writer came, /dev/zero never ends, a huge file exhausts memory; each of these is refused at
 * once, before anything is read, as an {@link InputFileError} value. The type is checked with stat
 * before the open (opening some devices does things) and again with fstat on the descriptor (the
 * path may have changed in between); the open is non-blocking, so a FIFO put there in between
 * cannot hang it; and the read stops one byte past the limit, whatever fstat said (a file in /proc
 * says 0 bytes, a file may grow while it is read).
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const MiB = 1024 * 1024;

/** The most a scenario file may hold (.yaml, .yml, .json). */
export const SCENARIO_FILE_LIMIT = 16 * MiB;
/** The most a trace in JSON lines may hold (`sevbox explore trace.jsonl`). */
export const TRACE_FILE_LIMIT = 64 * MiB;
/** The most a firmware or guest image may hold (raw, and once decompressed); an OVMF.fd is 2 to 4 MiB. */
export const IMAGE_FILE_LIMIT = 64 * MiB;

/** What a path names when it is not a regular file. */
export type NonRegularFileType =
  | 'directory'
  | 'FIFO'
  | 'character device'
  | 'block device'
  | 'socket'
  | 'other';

/** Why an input file was not read. */
export type InputFileProblem =
  /** The system refused: ENOENT, EACCES, ELOOP, ... */
  | { readonly reason: 'unreadable'; readonly errno: string }
  | { readonly reason: 'not-a-regular-file'; readonly type: NonRegularFileType }
  /** `size` is undefined when the file said less than it held (read past the limit). */
  | { readonly reason: 'too-large'; readonly size: number | undefined; readonly limit: number };

/** An input file that was not read: which file, what it was meant to be, and why. */
export type InputFileError = {
  readonly kind: 'input-file-error';
  readonly file: string;
  /** What the file was read as: "scenario file", "trace", "firmware image", ... */
  readonly what: string;
} & InputFileProblem;

/** True when `v` is an InputFileError. */
export function isInputFileError(v: unknown): v is InputFileError {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'input-file-error';
}

/** How to read: the limit in bytes, and the words for the file in messages. */
export interface ReadInputOptions {
  readonly limit: number;
  readonly what: string;
}

function typeOf(st: Stats): NonRegularFileType {
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'FIFO';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isSocket()) return 'socket';
  return 'other';
}

/** Read a regular file of at most `o.limit` bytes. */
export function readInputFile(path: string | URL, o: ReadInputOptions): Uint8Array | InputFileError {
  const file = typeof path === 'string' ? path : fileURLToPath(path);
  const fail = (p: InputFileProblem): InputFileError => ({
    kind: 'input-file-error',
    file,
    what: o.what,
    ...p,
  });
  const unreadable = (e: unknown): InputFileError =>
    fail({ reason: 'unreadable', errno: (e as NodeJS.ErrnoException).code ?? 'EIO' });
  const check = (st: Stats): InputFileError | undefined => {
    if (!st.isFile()) return fail({ reason: 'not-a-regular-file', type: typeOf(st) });
    if (st.size > o.limit) return fail({ reason: 'too-large', size: st.size, limit: o.limit });
    return undefined;
  };
  let fd: number;
  try {
    const bad = check(statSync(file));
    if (bad) return bad;
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0));
  } catch (e) {
    return unreadable(e);
  }
  try {
    const st = fstatSync(fd);
    const bad = check(st);
    if (bad) return bad;
    let buf = new Uint8Array(Math.min(st.size, o.limit) + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > o.limit) return fail({ reason: 'too-large', size: undefined, limit: o.limit });
        const bigger = new Uint8Array(Math.min(buf.length * 2, o.limit + 1));
        bigger.set(buf);
        buf = bigger;
      }
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    return n === buf.length ? buf : buf.slice(0, n);
  } catch (e) {
    return unreadable(e);
  } finally {
    closeSync(fd);
  }
}

/** Read a regular text file of at most `o.limit` bytes, as UTF-8 (a byte-order mark dropped). */
export function readInputText(path: string | URL, o: ReadInputOptions): string | InputFileError {
  const bytes = readInputFile(path, o);
  return isInputFileError(bytes) ? bytes : new TextDecoder('utf-8').decode(bytes);
}

/**
 * A byte count in the units people say: "16 MiB", "1.5 GiB", "900 bytes"; in bytes when one decimal
 * would hide the difference ("16777217 bytes", not "16.0 MiB").
 */
export function formatBytes(n: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 * MiB],
    ['MiB', MiB],
    ['KiB', 1024],
  ] as const) {
    if (n < size) continue;
    if (Number.isInteger(n / size)) return `${n / size} ${unit}`;
    const one = (n / size).toFixed(1);
    if (!one.endsWith('.0')) return `${one} ${unit}`;
    break;
  }
  return `${n} byte${n === 1 ? '' : 's'}`;
}

/** Why the file was not read, in words (without the file's name). */
export function describeInputFileProblem(e: InputFileError): string {
  switch (e.reason) {
    case 'unreadable':
      return `cannot read the ${e.what} (${e.errno})`;
    case 'not-a-regular-file':
      return `not a regular file but ${e.type === 'other' ? 'something else' : `a ${e.type}`}: a ${e.what} is read from a regular file only`;
    case 'too-large':
      return `too large (${e.size === undefined ? `more than ${formatBytes(e.limit)}` : formatBytes(e.size)}): a ${e.what} may hold at most ${formatBytes(e.limit)}`;
    default: {
      const never: never = e;
      return String(never);
    }
  }
}

/** `file: why`. */
export function formatInputFileError(e: InputFileError): string {
  return `${e.file}: ${describeInputFileProblem(e)}`;
}
