/**
 * Where the page's trace comes from: `window.SEVBOX_TRACE` (an exported, self-contained page) or
 * else `trace.json` beside the page (`sevbox explore` serves it). A trace of another version, or
 * something that is not a trace, is refused with a message for the page.
 */

import { EXPLORE_TRACE_VERSION, type ExploreTrace } from '../src/explore/model.js';

declare global {
  interface Window {
    SEVBOX_TRACE?: unknown;
  }
}

export type Loaded =
  | { readonly ok: true; readonly trace: ExploreTrace }
  | { readonly ok: false; readonly message: string };

/** Check that `data` is a trace this page can read. */
export function checkTrace(data: unknown): Loaded {
  if (typeof data !== 'object' || data === null) return { ok: false, message: 'This is not a sevbox trace.' };
  const t = data as Partial<ExploreTrace>;
  if (t.version !== EXPLORE_TRACE_VERSION)
    return {
      ok: false,
      message:
        `This trace is version ${JSON.stringify(t.version ?? null)}; this explorer reads version ${EXPLORE_TRACE_VERSION}. ` +
        'Record it again with the sevbox that serves this page (sevbox explore FILE).',
    };
  if (!Array.isArray(t.events) || !Array.isArray(t.ghcbs) || typeof t.source !== 'object')
    return { ok: false, message: 'This trace lacks its events, GHCB pages or source.' };
  return { ok: true, trace: t as ExploreTrace };
}

/** The page's trace. */
export async function loadTrace(): Promise<Loaded> {
  if (window.SEVBOX_TRACE !== undefined) return checkTrace(window.SEVBOX_TRACE);
  let res: Response;
  try {
    res = await fetch('trace.json');
  } catch (e) {
    return { ok: false, message: `Could not fetch trace.json: ${String(e)}` };
  }
  if (!res.ok) return { ok: false, message: `Could not fetch trace.json: HTTP ${res.status}` };
  try {
    return checkTrace(await res.json());
  } catch (e) {
    return { ok: false, message: `trace.json is not JSON: ${String(e)}` };
  }
}
