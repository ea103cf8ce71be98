/**
 * The small value schemas scenario files are written with: integers as numbers or hex strings,
 * u64 values as bigints, byte strings as hex, and the names of KVM exit reasons, errnos and GHCB
 * errors. Every schema reports what it expected in words a scenario author can act on.
 */
import { z } from 'zod';
import { ERRNO, type ErrnoName } from '../uapi/errno.js';
import { kvmExitReasonName } from '../uapi/exit-reasons.js';
import { ghcbErrName } from '../uapi/ghcb.js';

const U64_MAX = (1n << 64n) - 1n;
const INT_TEXT = /^(?:0x[0-9a-f_]+|0b[01_]+|0o[0-7_]+|[0-9][0-9_]*)$/i;

/** Parse the text or value of an integer; undefined when it is not one. */
function toBigint(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'string') {
    const t = v.trim();
    if (!INT_TEXT.test(t) || t.endsWith('_')) return undefined;
    return BigInt(t.replaceAll('_', ''));
  }
  return undefined;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return `"${v}"`;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return Array.isArray(v) ? 'a list' : 'an object';
}

/** What a value in a scenario was, for messages: `"0x10"`, `a list`, `nothing`. */
export const describeValue = describe;

/**
 * A non-negative integer below 2^53, written as a number or as a decimal/hex string ("0x1000",
 * "0x7f00_0000_0000"); `max` bounds it.
 */
export function uint(max = Number.MAX_SAFE_INTEGER, what = 'a non-negative integer') {
  return z.unknown().transform((v, ctx): number => {
    const b = toBigint(v);
    if (b === undefined || b < 0n || b > BigInt(max)) {
      const bound = max === Number.MAX_SAFE_INTEGER ? '' : ` up to 0x${max.toString(16)}`;
      ctx.addIssue({
        code: 'custom',
        message: `expected ${what}${bound} (a number or a hex string like "0x1000"), got ${describe(v)}`,
      });
      return z.NEVER;
    }
    return Number(b);
  });
}

/**
 * A value in [0, 2^64) as a bigint, written as a number or a decimal/hex string; `what` and an
 * `example` of it name it in messages (a value too wide says how many bits it needs).
 */
function unsigned64(what: string, example: string) {
  return z.unknown().transform((v, ctx): bigint => {
    const b = toBigint(v);
    if (b !== undefined && b >= 0n && b <= U64_MAX) return b;
    const wide =
      b !== undefined && b > U64_MAX ? ` (0x${b.toString(16)} needs ${b.toString(2).length} bits)` : '';
    ctx.addIssue({
      code: 'custom',
      message: `expected ${what} (a number or a hex string like "${example}"), got ${describe(v)}${wide}`,
    });
    return z.NEVER;
  });
}

/** A u64 value (registers, MSR values, GHCB fields) as a bigint: a number or a decimal/hex string. */
export const u64 = unsigned64('a 64-bit unsigned value', '0xdeadbeef');

/** A guest physical address. */
export const gpa = uint(Number.MAX_SAFE_INTEGER, 'a guest physical address');

/**
 * A guest physical address anywhere in the 64-bit space, as a bigint: for addresses the guest only
 * names for KVM to judge (sw_scratch), however far beyond RAM. `what` names it in messages.
 */
export function gpa64(what = 'a guest physical address') {
  return unsigned64(`${what} below 2^64`, '0xfffffffffffff000');
}

/** Bytes as hex digits ("efbeadde", "ef be ad de", "ef:be"); whitespace, ':' and '_' are ignored. */
export const hexBytes = z.unknown().transform((v, ctx): Uint8Array => {
  const t = typeof v === 'string' ? v.replace(/[\s:_]/g, '') : undefined;
  if (t === undefined || !/^(?:[0-9a-f]{2})*$/i.test(t) || t.startsWith('0x')) {
    ctx.addIssue({
      code: 'custom',
      message: `expected bytes as hex digits in pairs, like "efbeadde", got ${describe(v)}`,
    });
    return z.NEVER;
  }
  const out = new Uint8Array(t.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(t.slice(2 * i, 2 * i + 2), 16);
  return out;
});

/** Bytes as lowercase hex, for messages and reports. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A port I/O or string I/O element size. */
export const ioSize = z.unknown().transform((v, ctx): 1 | 2 | 4 => {
  const b = toBigint(v);
  if (b !== 1n && b !== 2n && b !== 4n) {
    ctx.addIssue({ code: 'custom', message: `expected an I/O size of 1, 2 or 4 bytes, got ${describe(v)}` });
    return z.NEVER;
  }
  return Number(b) as 1 | 2 | 4;
});

/** Build a name → value table from a naming function over a range of values. */
function namesOf(
  values: Iterable<number>,
  name: (n: number) => string,
  prefix: string,
): ReadonlyMap<string, number> {
  const m = new Map<string, number>();
  for (const n of values) {
    const full = name(n);
    if (full.includes('#')) continue;
    m.set(full.toUpperCase(), n);
    if (full.startsWith(prefix)) m.set(full.slice(prefix.length).toUpperCase(), n);
  }
  return m;
}

const range = (lo: number, hi: number): number[] => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
const EXIT_REASONS = namesOf(range(0, 63), kvmExitReasonName, 'KVM_EXIT_');
const GHCB_ERRS = namesOf(range(1, 6), ghcbErrName, 'GHCB_ERR_');

/** A schema for a name (or number) from a table, reporting the names it knows. */
function named(table: ReadonlyMap<string, number>, what: string, prefix: string, example: string) {
  const short = [...table.keys()].filter((k) => !k.startsWith(prefix));
  return z.unknown().transform((v, ctx): number => {
    if (typeof v === 'string') {
      const n = table.get(v.trim().toUpperCase());
      if (n !== undefined) return n;
    }
    const b = toBigint(v);
    if (b !== undefined && b <= 0xffff_ffffn) return Number(b);
    ctx.addIssue({
      code: 'custom',
      message: `expected ${what}: a number, or a name like ${example} (${prefix} optional; one of ${short.join(', ')}), got ${describe(v)}`,
    });
    return z.NEVER;
  });
}

/** A KVM exit reason: "KVM_EXIT_MMIO", "MMIO" or 6. */
export const exitReason = named(EXIT_REASONS, 'a KVM exit reason', 'KVM_EXIT_', 'KVM_EXIT_MMIO');

/** A GHCB_ERR_* code: "INVALID_SCRATCH_AREA", "GHCB_ERR_INVALID_SCRATCH_AREA" or 3. */
export const ghcbError = named(GHCB_ERRS, 'a GHCB error', 'GHCB_ERR_', 'INVALID_SCRATCH_AREA');

const ERRNO_NAMES = Object.keys(ERRNO) as ErrnoName[];

/** An errno name such as "EFAULT". */
export const errno = z.unknown().transform((v, ctx): ErrnoName => {
  const t = typeof v === 'string' ? v.trim().toUpperCase() : '';
  if ((ERRNO_NAMES as string[]).includes(t)) return t as ErrnoName;
  ctx.addIssue({
    code: 'custom',
    message: `expected an errno name (one of ${ERRNO_NAMES.join(', ')}), got ${describe(v)}`,
  });
  return z.NEVER;
});

/** Exception vectors by mnemonic, for `exception: GP`. */
const VECTORS: ReadonlyMap<string, number> = new Map([
  ['DE', 0],
  ['DB', 1],
  ['BP', 3],
  ['UD', 6],
  ['GP', 13],
  ['PF', 14],
  ['VC', 29],
]);

/** An exception vector: a number or a mnemonic (GP, UD, VC, ...; '#' allowed). */
export const vector = z.unknown().transform((v, ctx): number => {
  if (typeof v === 'string') {
    const n = VECTORS.get(v.trim().replace(/^#/, '').toUpperCase());
    if (n !== undefined) return n;
  }
  const b = toBigint(v);
  if (b !== undefined && b < 256n) return Number(b);
  ctx.addIssue({
    code: 'custom',
    message: `expected an exception vector (0..255 or one of ${[...VECTORS.keys()].join(', ')}), got ${describe(v)}`,
  });
  return z.NEVER;
});

type Issue = Parameters<z.core.$RefinementCtx['addIssue']>[0];

/** Parse `value` with `schema`, re-reporting its issues under `prefix`; undefined on failure. */
export function parseInto<T extends z.ZodType>(
  ctx: z.core.$RefinementCtx,
  prefix: readonly PropertyKey[],
  schema: T,
  value: unknown,
): { ok: true; value: z.output<T> } | { ok: false } {
  const r = schema.safeParse(value);
  if (r.success) return { ok: true, value: r.data };
  for (const issue of r.error.issues) {
    ctx.addIssue({ ...issue, path: [...prefix, ...issue.path] } as Issue);
  }
  return { ok: false };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A value written either as a scalar (a name, a number, false) or as an object: the branch is
 * chosen by the value's shape, so an error inside the object is reported where it is, and a bad
 * scalar gets `expected`.
 */
export function byShape<S extends z.ZodType, O extends z.ZodType>(scalar: S, object: O, expected: string) {
  return z.unknown().transform((v, ctx): z.output<S> | z.output<O> => {
    if (isPlainObject(v)) {
      const r = parseInto(ctx, [], object, v);
      return r.ok ? r.value : z.NEVER;
    }
    const r = scalar.safeParse(v);
    if (r.success) return r.data;
    ctx.addIssue({ code: 'custom', message: `expected ${expected}, got ${describe(v)}` });
    return z.NEVER;
  });
}

/** Output of {@link keyed}: which key was given, and its parsed value. */
export type Keyed<T extends Record<string, z.ZodType>> = {
  [K in keyof T]: { readonly key: K; readonly value: z.output<T[K]> };
}[keyof T];

/**
 * An object with exactly one key out of `table` (`{ reflected: INVALID_INPUT }`, `{ unmap: {...} }`),
 * whose value is parsed with that key's schema; errors name the key.
 */
export function keyed<T extends Record<string, z.ZodType>>(table: T, what: string) {
  const names = Object.keys(table);
  return z.unknown().transform((v, ctx): Keyed<T> => {
    const keys = isPlainObject(v) ? Object.keys(v) : [];
    if (!isPlainObject(v) || keys.length !== 1 || !(keys[0]! in table)) {
      const bad = keys.filter((k) => !(k in table));
      ctx.addIssue({
        code: 'custom',
        message: `expected ${what}: an object with one of the keys ${names.join(', ')}, got ${
          bad.length
            ? `unknown key${bad.length > 1 ? 's' : ''} ${bad.map((k) => `"${k}"`).join(', ')}`
            : describe(v)
        }`,
      });
      return z.NEVER;
    }
    const key = keys[0]!;
    const r = parseInto(ctx, [key], table[key]!, v[key]);
    return r.ok ? ({ key, value: r.value } as Keyed<T>) : z.NEVER;
  });
}
