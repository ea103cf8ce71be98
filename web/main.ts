/**
 * The explorer page (issue 17): loads the trace (load.ts), then lays out the filter bar, the
 * sequence view (sequence.ts) and the side panel (detail.ts), and keeps the selection: a click,
 * ↑/↓ (PageUp/PageDown, Home/End), or the URL hash `#event=N`. Given a comparison of two runs
 * instead, it shows them side by side (compare.ts).
 *
 * When the page is ready, `document.body.dataset.ready` is "1" and `window.SEVBOX_READY_MS` holds
 * the milliseconds from navigation start (tests wait for the one and read the other).
 */

import type { ExploreTrace } from '../src/explore/model.js';
import { mountComparison } from './compare.js';
import { renderDetail as detailFor } from './detail.js';
import { h, selectionStep } from './dom.js';
import { createFilters, type FilterState, visibleRows } from './filters.js';
import { loadPage } from './load.js';
import { createSequenceView } from './sequence.js';
import { indexTrace } from './trace-index.js';

declare global {
  interface Window {
    SEVBOX_READY_MS?: number;
  }
}

function header(trace: ExploreTrace): HTMLElement {
  const s = trace.source;
  return h(
    'header',
    { class: 'top' },
    h('h1', {}, 'sevbox explorer'),
    h(
      'span',
      { class: 'source', 'data-testid': 'trace-source' },
      `${s.kind}: ${s.name}`,
      s.profile ? ` · profile ${s.profile}` : '',
      ` · ${trace.events.length} events · ${trace.ghcbs.length} GHCB pages`,
    ),
    h('span', { class: 'end', 'data-testid': 'trace-end' }, trace.end),
  );
}

/** The explorer over `trace`, in `app`. */
export function mount(app: HTMLElement, trace: ExploreTrace): void {
  const index = indexTrace(trace);
  const state: FilterState = { hiddenFamilies: new Set(), hiddenOutcomes: new Set() };
  let selected: number | undefined;

  const panel = h('aside', { class: 'panel', 'data-testid': 'detail-panel' });
  const shown = h('span', { class: 'shown', 'data-testid': 'shown-count' });
  const view = createSequenceView(index, (p) => select(p, false));

  const select = (p: number | undefined, reveal: boolean): void => {
    if (p !== undefined && (p < 0 || p >= trace.events.length)) return;
    selected = p;
    view.select(p);
    if (p !== undefined && reveal) view.reveal(p);
    panel.replaceChildren(detailFor(index, p, (q) => select(q, true)));
    if (p !== undefined) history.replaceState(null, '', `#event=${trace.events[p]!.i}`);
  };

  const applyFilters = (): void => {
    const rows = visibleRows(trace, state);
    view.setRows(rows);
    shown.textContent = `${rows.length} of ${trace.events.length} events shown`;
    shown.dataset.shown = String(rows.length);
    if (selected !== undefined) view.select(selected);
  };

  /** Move the selection by `delta` shown rows (clamped); from a hidden selection, to its neighbour. */
  const move = (delta: number): void => {
    const rows = view.rows();
    if (rows.length === 0) return;
    // From no selection, down starts before the first row and up after the last.
    let base: number;
    if (selected === undefined) base = delta > 0 ? -1 : rows.length;
    else {
      const at = view.rowOf(selected);
      base = at >= 0 ? at : delta > 0 ? -at - 2 : -at - 1;
    }
    select(rows[Math.max(0, Math.min(rows.length - 1, base + delta))], true);
  };

  document.addEventListener('keydown', (ev) => {
    const d = selectionStep(ev, () => view.pageRows());
    if (d === undefined) return;
    ev.preventDefault();
    move(d);
  });

  /** `#event=N`: select the event whose `i` is N. */
  const fromHash = (): void => {
    const m = /(?:^#|&)event=(\d+)/.exec(location.hash);
    if (!m) return;
    const n = Number(m[1]);
    const p = trace.events[n]?.i === n ? n : trace.events.findIndex((e) => e.i === n);
    if (p >= 0) select(p, true);
  };
  window.addEventListener('hashchange', fromHash);

  app.replaceChildren(
    header(trace),
    h('div', { class: 'bar' }, createFilters(index, state, applyFilters), shown),
    h('main', { class: 'split' }, view.element, panel),
  );
  applyFilters();
  panel.replaceChildren(detailFor(index, undefined, (q) => select(q, true)));
  fromHash();
}

async function main(): Promise<void> {
  const app = document.getElementById('app');
  if (!app) return;
  app.textContent = 'Loading the trace…';
  const loaded = await loadPage();
  if (!loaded.ok) {
    app.replaceChildren(
      h('div', { class: 'trace-error', 'data-testid': 'trace-error', role: 'alert' }, loaded.message),
    );
  } else if (loaded.comparison) {
    mountComparison(app, loaded.comparison);
  } else {
    mount(app, loaded.trace);
  }
  window.SEVBOX_READY_MS = performance.now();
  document.body.dataset.ready = '1';
}

void main();
