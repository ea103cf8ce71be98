/**
 * Where the page's data comes from. One trace, or a comparison of two (the side-by-side view):
 *
 * - an exported, self-contained page carries `window.SEVBOX_COMPARE` (a comparison) or
 *   `window.SEVBOX_TRACE` (a trace), the comparison first;
 * - a served page fetches `compare.json` beside it and, when the server answers 404 there (no
 *   comparison), `trace.json`.
 *
 * A trace or comparison of another version, or something that is neither, is refused with a
 * message for the page.
 */

import { EXPLORE_TRACE_VERSION, type ExploreComparison, type ExploreTrace } from '../src/explore/model.js';

declare global {
  interface Window {
    SEVBOX_TRACE?: unknown;
    SEVBOX_COMPARE?: unknown;
  }
}

export type Loaded =
  | { readonly ok: true; readonly trace: ExploreTrace }
  | { readonly ok: false; readonly message: string };

/** What the page shows: one trace, or two side by side. */
export type LoadedPage =
  | { readonly ok: true; readonly trace: ExploreTrace; readonly comparison?: undefined }
  | { readonly ok: true; readonly comparison: ExploreComparison; readonly trace?: undefined }
  | { readonly ok: false; readonly message: string };

const versionMessage = (what: string, version: unknown): string =>
  `This ${what} is version ${JSON.stringify(version ?? null)}; this explorer reads version ${EXPLORE_TRACE_VERSION}. ` +
  'Record it again with the sevbox that serves this page (sevbox explore FILE).';

/** Check that `data` is a trace this page can read. */
export function checkTrace(data: unknown): Loaded {
  if (typeof data !== 'object' || data === null) return { ok: false, message: 'This is not a sevbox trace.' };
  const t = data as Partial<ExploreTrace>;
  if (t.version !== EXPLORE_TRACE_VERSION) return { ok: false, message: versionMessage('trace', t.version) };
  if (!Array.isArray(t.events) || !Array.isArray(t.ghcbs) || typeof t.source !== 'object')
    return { ok: false, message: 'This trace lacks its events, GHCB pages or source.' };
  return { ok: true, trace: t as ExploreTrace };
}

/** Check that `data` is a comparison this page can read (and both its traces). */
export function checkComparison(data: unknown): LoadedPage {
  if (typeof data !== 'object' || data === null)
    return { ok: false, message: 'This is not a sevbox comparison.' };
  const c = data as Partial<ExploreComparison>;
  if (c.version !== EXPLORE_TRACE_VERSION)
    return { ok: false, message: versionMessage('comparison', c.version) };
  if (!Array.isArray(c.pairs)) return { ok: false, message: 'This comparison lacks its pairs.' };
  for (const side of ['left', 'right'] as const) {
    const t = checkTrace(c[side]);
    if (!t.ok) return { ok: false, message: `The ${side} run: ${t.message}` };
  }
  return { ok: true, comparison: c as ExploreComparison };
}

/** Fetch `name` as JSON: the value, `undefined` on a 404, or a message. */
async function fetchJson(name: string): Promise<{ value: unknown } | { message: string } | undefined> {
  let res: Response;
  try {
    res = await fetch(name);
  } catch (e) {
    return { message: `Could not fetch ${name}: ${String(e)}` };
  }
  if (res.status === 404) return undefined;
  if (!res.ok) return { message: `Could not fetch ${name}: HTTP ${res.status}` };
  try {
    return { value: await res.json() };
  } catch (e) {
    return { message: `${name} is not JSON: ${String(e)}` };
  }
}

/** The page's trace (a single trace only; see {@link loadPage} for a comparison too). */
export async function loadTrace(): Promise<Loaded> {
  if (window.SEVBOX_TRACE !== undefined) return checkTrace(window.SEVBOX_TRACE);
  const got = await fetchJson('trace.json');
  if (got === undefined) return { ok: false, message: 'Could not fetch trace.json: HTTP 404' };
  return 'message' in got ? { ok: false, message: got.message } : checkTrace(got.value);
}

/** The page's data: the inlined comparison or trace, else compare.json, else trace.json. */
export async function loadPage(): Promise<LoadedPage> {
  if (window.SEVBOX_COMPARE !== undefined) return checkComparison(window.SEVBOX_COMPARE);
  if (window.SEVBOX_TRACE !== undefined) return checkTrace(window.SEVBOX_TRACE);
  const got = await fetchJson('compare.json');
  if (got === undefined) return loadTrace();
  return 'message' in got ? { ok: false, message: got.message } : checkComparison(got.value);
}
