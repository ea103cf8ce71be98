/**
 * Loading a scenario file: YAML (`.yaml`, `.yml`) or JSON (`.json`) by extension, parsed with
 * positions, checked against the schema and then for sense (validate.ts). Every failure comes back
 * as one ScenarioError value naming the file and, per issue, the path in the document, its line and
 * what was expected; nothing is thrown for a bad file.
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { type Document, isNode, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { formatPath, type PathIssue, type ScenarioError, type ScenarioIssue } from './errors.js';
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
  if (doc.errors.length > 0) {
    return {
      kind: 'scenario-error',
      file,
      issues: doc.errors.map((e) => {
        const p = e.linePos?.[0];
        return {
          path: '',
          message: `not valid ${json ? 'JSON' : 'YAML'}: ${e.message.split('\n')[0]}`,
          ...(p ? { line: p.line, column: p.col } : {}),
        };
      }),
    };
  }
  const at = (path: readonly PropertyKey[], message: string): ScenarioIssue => ({
    path: formatPath(path),
    message,
    ...positionOf(doc, lines, path),
  });
  const parsed = scenarioSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    return {
      kind: 'scenario-error',
      file,
      issues: parsed.error.issues.map((i) => at(i.path, issueMessage(i))),
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

/** Read and check a scenario file. */
export async function loadScenario(file: string): Promise<LoadedScenario | ScenarioError> {
  if (!SCENARIO_EXTENSIONS.includes(extname(file).toLowerCase())) {
    return {
      kind: 'scenario-error',
      file,
      issues: [{ path: '', message: `expected a ${SCENARIO_EXTENSIONS.join(', ')} file` }],
    };
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    return {
      kind: 'scenario-error',
      file,
      issues: [{ path: '', message: `cannot read the file (${code})` }],
    };
  }
  return parseScenario(text, file);
}
