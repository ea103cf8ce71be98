/**
 * The scenario files a command line names: files as given, and every scenario file under a
 * directory (recursively, sorted by path, as test runners find their tests), in the order of the
 * arguments, each file once.
 */
import { type Dirent, readdirSync, realpathSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isScenarioFileName, SCENARIO_EXTENSIONS } from '../scenario/load.js';

/** Why the arguments name no runnable list of files. */
export type ScenarioArgsError =
  | { readonly kind: 'empty-directory'; readonly dir: string }
  | { readonly kind: 'unreadable-directory'; readonly dir: string; readonly errno: string };

/** The error in words, naming the directory. */
export function formatScenarioArgsError(e: ScenarioArgsError): string {
  return e.kind === 'empty-directory'
    ? `${e.dir}: no scenario files (${SCENARIO_EXTENSIONS.join(', ')}) under this directory`
    : `${e.dir}: cannot read the directory (${e.errno})`;
}

/** Skipped in a directory, as test runners skip them: hidden entries and installed packages. */
const skipped = (name: string): boolean => name.startsWith('.') || name === 'node_modules';

/**
 * The scenario files under `dir`, sorted by path (code-unit order of the whole path). Symbolic
 * links are followed, each directory visited once (a link back up cannot loop). Files of the
 * scenario extensions are listed whatever they are (a FIFO named x.yaml is the loader's to refuse),
 * but for the data files NOT_SCENARIO_SUFFIXES names.
 */
export function scenarioFilesUnder(dir: string): string[] | ScenarioArgsError {
  const found: string[] = [];
  const seen = new Set<string>();
  const walk = (d: string): ScenarioArgsError | undefined => {
    let entries: Dirent[];
    try {
      const real = realpathSync(d);
      if (seen.has(real)) return undefined;
      seen.add(real);
      entries = readdirSync(d, { withFileTypes: true });
    } catch (e) {
      return { kind: 'unreadable-directory', dir: d, errno: (e as NodeJS.ErrnoException).code ?? 'EIO' };
    }
    for (const e of entries) {
      if (skipped(e.name)) continue;
      const p = join(d, e.name);
      let isDir = e.isDirectory();
      if (e.isSymbolicLink()) {
        try {
          isDir = statSync(p).isDirectory();
        } catch {
          // A dangling link: listed if its name says scenario, and the loader says what is wrong.
        }
      }
      if (isDir) {
        const bad = walk(p);
        if (bad) return bad;
      } else if (isScenarioFileName(e.name)) found.push(p);
    }
    return undefined;
  };
  const bad = walk(dir);
  if (bad) return bad;
  if (found.length === 0) return { kind: 'empty-directory', dir };
  return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** True when `path` names a directory (following links); false for anything else, or nothing. */
function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The files the arguments name: a directory is replaced by the scenario files under it, anything
 * else is kept as given (the loader says what is wrong with it); a file named twice runs once.
 */
export function expandScenarioArgs(args: readonly string[]): string[] | ScenarioArgsError {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const arg of args) {
    const files = isDirectory(arg) ? scenarioFilesUnder(arg) : [arg];
    if (!Array.isArray(files)) return files;
    for (const f of files) {
      const key = resolve(f);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(f);
    }
  }
  return out;
}
