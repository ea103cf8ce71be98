/**
 * Loading a scenario file: YAML (`.yaml`, `.yml`) or JSON (`.json`) by extension, parsed with
 * positions, checked against the schema and then for sense (validate.ts). Every failure comes back
 * as one ScenarioError value naming the file and, per issue, the path in the document, its line and
 * what was expected; nothing is thrown for a bad file.
 */
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { type Document, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { formatPath, type PathIssue, type ScenarioError, type ScenarioIssue } from './errors.js';
import {
  describeInputFileProblem,
  isInputFileError,
  readInputText,
  SCENARIO_FILE_LIMIT,
} from './input-file.js';
import { isImageGuest, type Scenario, scenarioSchema } from './schema.js';
import { validate } from './validate.js';

/** A scenario ready to run, with the file it came from. */
export interface LoadedScenario {
  readonly kind: 'scenario';
  readonly file: string;
  readonly scenario: Scenario;
}

/** The file extensions scenario files may have. */
export const SCENARIO_EXTENSIONS: readonly string[] = ['.yaml', '.yml', '.json'];

/**
 * Files of those extensions that hold other data, not scenarios: a machine-code guest's expected
 * exits (examples/guests/<name>.expect.json). A directory of scenarios skips them.
 */
export const NOT_SCENARIO_SUFFIXES: readonly string[] = ['.expect.json'];

/** Whether a file name is a scenario's, when scenarios are looked for in a directory. */
export function isScenarioFileName(name: string): boolean {
  const lower = name.toLowerCase();
  return (
    SCENARIO_EXTENSIONS.includes(extname(lower)) && !NOT_SCENARIO_SUFFIXES.some((x) => lower.endsWith(x))
  );
}

/** Line and column of the deepest node on `path` that exists in the document. */
function positionOf(
  doc: Document,
  lines: LineCounter,
  path: readonly PropertyKey[],
): { line?: number; column?: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) {
      const p = lines.linePos(node.range[0]);
      return { line: p.line, column: p.col };
    }
  }
  return {};
}

/** Whether `offset` lies in a node's range: from its start to where its value ends (not its trailing comment). */
function spans(node: unknown, offset: number): boolean {
  const range = isNode(node) ? node.range : undefined;
  return !!range && range[0] <= offset && offset <= range[1];
}

/**
 * The path of the deepest node at `offset` in a document that did not parse (what the parser made
 * of it): where a syntax error is, in the document's terms (`guest.steps[0].mmio-read` for a flow map
 * left open there).
 */
function pathAt(doc: Document, offset: number): PropertyKey[] {
  const path: PropertyKey[] = [];
  let node: unknown = doc.contents;
  for (;;) {
    if (isMap(node)) {
      // An error in a key (a duplicate, or text the parser took for one) is the map's.
      const pair = node.items.find((p) => spans(p.value, offset) && !spans(p.key, offset));
      if (!pair) break;
      path.push(isScalar(pair.key) ? String(pair.key.value) : String(pair.key));
      node = pair.value;
    } else if (isSeq(node)) {
      const i = node.items.findIndex((item) => spans(item, offset));
      if (i < 0) break;
      path.push(i);
      node = node.items[i];
    } else break;
  }
  return path;
}

/** Position of the key `key` of the map at `path` (an unknown key is pointed at where it is written). */
function keyPosition(
  doc: Document,
  lines: LineCounter,
  path: readonly PropertyKey[],
  key: string,
): { line: number; column: number } | undefined {
  const map = doc.getIn(path as unknown[], true);
  if (!isMap(map)) return undefined;
  const pair = map.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
  const at = isNode(pair?.key) ? pair.key.range?.[0] : undefined;
  if (at === undefined) return undefined;
  const p = lines.linePos(at);
  return { line: p.line, column: p.col };
}

/** The message of a zod issue, in the scenario's words (custom schemas already speak them). */
function issueMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_type':
      return issue.message
        .replace(/^Invalid input: /, '')
        .replace(/received undefined$/, 'but it is missing');
    case 'invalid_value':
      return issue.message.replace(/^Invalid (option|input): /, '');
    default:
      return issue.message;
  }
}

/**
 * Parse and check scenario text. `file` names the source in errors and picks the format by its
 * extension (anything but .json is read as YAML).
 */
export function parseScenario(text: string, file: string): LoadedScenario | ScenarioError {
  const json = extname(file).toLowerCase() === '.json';
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    intAsBigInt: true,
    ...(json ? { schema: 'json' } : {}),
  });
  const first = doc.errors[0];
  if (first) {
    // The first error only: the parser's later ones mostly follow from it. Its message ends with
    // " at line L, column C:" and an excerpt, which the issue carries as values.
    const p = first.linePos?.[0];
    return {
      kind: 'scenario-error',
      file,
      issues: [
        {
          path: formatPath(pathAt(doc, first.pos[0])),
          message: `not valid ${json ? 'JSON' : 'YAML'}: ${first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
          code: first.code,
          ...(p ? { line: p.line, column: p.col } : {}),
        },
      ],
    };
  }
  const at = (path: readonly PropertyKey[], message: string, code?: string): ScenarioIssue => ({
    path: formatPath(path),
    message,
    ...(code ? { code } : {}),
    ...positionOf(doc, lines, path),
  });
  const parsed = scenarioSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    return {
      kind: 'scenario-error',
      file,
      issues: parsed.error.issues.map((i) =>
        // An unknown key is pointed at where it is written (the path is its map's).
        i.code === 'unrecognized_keys' && i.keys[0] !== undefined
          ? {
              ...at(i.path, issueMessage(i), i.code),
              ...keyPosition(doc, lines, i.path, i.keys[0]),
            }
          : at(i.path, issueMessage(i), i.code),
      ),
    };
  }
  const problems: PathIssue[] = validate(parsed.data);
  if (problems.length > 0) {
    return { kind: 'scenario-error', file, issues: problems.map((p) => at(p.path, p.message)) };
  }
  return { kind: 'scenario', file, scenario: withImagePath(parsed.data, file) };
}

/** A machine-code guest's image file is named relative to the scenario file. */
function withImagePath(s: Scenario, file: string): Scenario {
  if (!isImageGuest(s.guest) || isAbsolute(s.guest.image.file)) return s;
  const image = { ...s.guest.image, file: resolve(dirname(file), s.guest.image.file) };
  return { ...s, guest: { ...s.guest, image } };
}

/** Read (a regular file of at most SCENARIO_FILE_LIMIT bytes) and check a scenario file. */
export async function loadScenario(file: string): Promise<LoadedScenario | ScenarioError> {
  if (!SCENARIO_EXTENSIONS.includes(extname(file).toLowerCase())) {
    return {
      kind: 'scenario-error',
      file,
      issues: [{ path: '', message: `expected a ${SCENARIO_EXTENSIONS.join(', ')} file` }],
    };
  }
  const text = readInputText(file, { limit: SCENARIO_FILE_LIMIT, what: 'scenario file' });
  if (isInputFileError(text)) {
    return {
      kind: 'scenario-error',
      file,
      issues: [
        {
          path: '',
          message: describeInputFileProblem(text),
          code: text.reason === 'unreadable' ? text.errno : text.reason,
        },
      ],
    };
  }
  return parseScenario(text, file);
}
