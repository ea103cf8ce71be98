/**
 * What goes wrong with a scenario file, as a value: the file, and one issue per problem, each with
 * the path in the document (`guest.steps[3].mmio-read.len`), its line and column when known, and
 * what was expected.
 */

/** One problem in a scenario file. */
export interface ScenarioIssue {
  /** Path in the document, e.g. `guest.steps[3].mmio-read.len`; empty for the whole document. */
  readonly path: string;
  /** What was expected (and what was found). */
  readonly message: string;
  /** 1-based position of the offending node, when the source is known. */
  readonly line?: number;
  readonly column?: number;
  /**
   * What kind of problem, when it has a name: the parser's (`BAD_INDENT`, `DUPLICATE_KEY`), the
   * schema's (`invalid_type`, `unrecognized_keys`, `custom`), or the file's (an errno like `ENOENT`,
   * `not-a-regular-file`, `too-large`).
   */
  readonly code?: string;
}

/** An issue before its position in the source is known: the path as keys and indices. */
export interface PathIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** A scenario file that cannot be run: it does not parse, does not fit the schema, or makes no sense. */
export interface ScenarioError {
  readonly kind: 'scenario-error';
  readonly file: string;
  readonly issues: readonly ScenarioIssue[];
}

/** True when `v` is a ScenarioError. */
export function isScenarioError(v: unknown): v is ScenarioError {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'scenario-error';
}

/** Format a document path: `['guest', 'steps', 3, 'mmio-read']` → `guest.steps[3].mmio-read`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

/**
 * One line per issue: `file:line:col: path: message`; `(document)` for the path of the whole
 * document; `file: message` for the file itself (unreadable, not a regular file, too large).
 */
export function formatScenarioError(e: ScenarioError): string {
  return e.issues
    .map((i) => {
      if (i.line === undefined && i.path === '') return `${e.file}: ${i.message}`;
      const at = i.line !== undefined ? `${e.file}:${i.line}:${i.column ?? 1}` : e.file;
      return `${at}: ${i.path === '' ? '(document)' : i.path}: ${i.message}`;
    })
    .join('\n');
}
