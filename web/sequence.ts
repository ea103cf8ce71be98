/**
 * The sequence view: one row per event, three lane columns (guest | KVM | VMM), the event's label in
 * its lane. Virtualised: only the rows in (or near) the viewport exist in the DOM, so a trace of
 * hundreds of thousands of events scrolls as lightly as a short one. The view shows the rows it is
 * given (positions in `trace.events`, already filtered) and knows nothing of filters or panels.
 */

import type { ExploreEvent } from '../src/explore/model.js';
import { h } from './dom.js';
import { LANES, type TraceIndex } from './trace-index.js';

/** Height of a row in CSS pixels (the stylesheet's --row-h). */
export const ROW_H = 24;
/** Rows rendered beyond each edge of the viewport. */
const OVERSCAN = 12;

const LANE_TITLES = { guest: 'guest', kvm: 'KVM', vmm: 'VMM' } as const;

export interface SequenceView {
  readonly element: HTMLElement;
  /** Show these events (positions in trace.events, ascending). */
  setRows(rows: Int32Array): void;
  /** The rows shown. */
  rows(): Int32Array;
  /** Mark event `p` selected (and the events of its VMGEXIT), or nothing. */
  select(p: number | undefined): void;
  /** Scroll so that event `p` is in view, if it is shown. */
  reveal(p: number): void;
  /** Where event `p` is among the rows: its row, or -(insertion point) - 1 when it is filtered out. */
  rowOf(p: number): number;
  /** Rows that fit in the viewport (for page up/down). */
  pageRows(): number;
}

/** What a view adds to its rows (the side-by-side view marks the VMGEXITs that differ). */
export interface SequenceOptions {
  /** Extra classes for an event's row, space-separated, or ''. */
  readonly rowClass?: (e: ExploreEvent) => string;
  /** A marker to put in an event's index cell, if any. */
  readonly rowMarker?: (e: ExploreEvent) => HTMLElement | undefined;
}

/** Binary search of `p` in ascending `rows`. */
function search(rows: Int32Array, p: number): number {
  let lo = 0;
  let hi = rows.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = rows[mid]!;
    if (v === p) return mid;
    if (v < p) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

/** A sequence view over `index`'s trace; `onSelect` is called with the event a click chose. */
export function createSequenceView(
  index: TraceIndex,
  onSelect: (p: number) => void,
  options: SequenceOptions = {},
): SequenceView {
  const events = index.trace.events;
  const head = h(
    'div',
    { class: 'seq-head', role: 'row' },
    h('div', { class: 'c-idx' }, '#'),
    h('div', { class: 'c-vcpu' }, 'vCPU'),
    ...LANES.map((lane) =>
      h(
        'div',
        {
          class: `c-lane lane-${lane}`,
          'data-testid': `lane-${lane}`,
          'data-count': index.laneCounts[lane],
          'data-shown': index.laneCounts[lane],
        },
        h('span', { class: 'lane-title' }, LANE_TITLES[lane]),
        h('span', { class: 'count' }, index.laneCounts[lane]),
      ),
    ),
  );
  const laneHeads = [...head.querySelectorAll<HTMLElement>('.c-lane')];
  const body = h('div', { class: 'seq-body', role: 'rowgroup' });
  const scroller = h(
    'div',
    { class: 'seq-scroll', 'data-testid': 'sequence-scroll', tabindex: 0 },
    head,
    body,
  );
  const element = h(
    'section',
    { class: 'seq', 'data-testid': 'sequence', 'aria-label': 'sequence' },
    scroller,
  );

  let rows: Int32Array = new Int32Array(0);
  let selected: number | undefined;
  let selectedGroup: number | undefined;
  /** Row number → its element, for the rows in the DOM. */
  const live = new Map<number, HTMLElement>();

  const rowClass = (e: ExploreEvent, p: number): string => {
    let c = `row k-${e.kind}`;
    if (e.outcome) c += ` o-${e.outcome}`;
    if (e.vmgexit !== undefined && e.vmgexit & 1) c += ' g-odd';
    const extra = options.rowClass?.(e);
    if (extra) c += ` ${extra}`;
    if (p === selected) c += ' selected';
    else if (selectedGroup !== undefined && e.vmgexit === selectedGroup) c += ' in-group';
    return c;
  };

  const makeRow = (r: number): HTMLElement => {
    const p = rows[r]!;
    const e = events[p]!;
    const cells = LANES.map((lane) =>
      lane === e.lane
        ? h('div', { class: `c-lane lane-${lane} ev`, title: e.label }, h('span', { class: 'chip' }, e.label))
        : h('div', { class: `c-lane lane-${lane}` }),
    );
    const el = h(
      'div',
      {
        class: rowClass(e, p),
        role: 'row',
        'data-testid': 'event-row',
        'data-index': e.i,
        'data-lane': e.lane,
        'data-kind': e.kind,
        'data-vmgexit': e.vmgexit,
      },
      h('div', { class: 'c-idx' }, options.rowMarker?.(e), e.i),
      h('div', { class: 'c-vcpu' }, e.vcpu),
      ...cells,
    );
    el.style.transform = `translateY(${r * ROW_H}px)`;
    el.addEventListener('click', () => onSelect(p));
    return el;
  };

  const render = (): void => {
    // The body starts below the sticky head, which covers the scroller's top: the body's visible
    // part starts at scrollTop.
    const top = scroller.scrollTop;
    const height = scroller.clientHeight - head.offsetHeight;
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(rows.length - 1, Math.ceil((top + height) / ROW_H) + OVERSCAN);
    for (const [r, el] of live)
      if (r < first || r > last) {
        el.remove();
        live.delete(r);
      }
    const fresh: HTMLElement[] = [];
    for (let r = first; r <= last; r++)
      if (!live.has(r)) {
        const el = makeRow(r);
        live.set(r, el);
        fresh.push(el);
      }
    if (fresh.length) body.append(...fresh);
  };

  let queued = false;
  scroller.addEventListener('scroll', () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      render();
    });
  });
  new ResizeObserver(() => render()).observe(scroller);

  const restyle = (): void => {
    for (const [r, el] of live) el.className = rowClass(events[rows[r]!]!, rows[r]!);
  };

  return {
    element,
    setRows(next) {
      rows = next;
      const shown = { guest: 0, kvm: 0, vmm: 0 };
      for (const p of next) shown[events[p]!.lane]++;
      LANES.forEach((lane, k) => {
        const el = laneHeads[k]!;
        el.dataset.shown = String(shown[lane]);
        el.querySelector('.count')!.textContent =
          shown[lane] === index.laneCounts[lane]
            ? String(shown[lane])
            : `${shown[lane]} / ${index.laneCounts[lane]}`;
      });
      body.style.height = `${rows.length * ROW_H}px`;
      for (const el of live.values()) el.remove();
      live.clear();
      render();
    },
    rows: () => rows,
    select(p) {
      selected = p;
      selectedGroup = p === undefined ? undefined : events[p]?.vmgexit;
      restyle();
    },
    reveal(p) {
      const r = search(rows, p);
      if (r < 0) return;
      const headH = head.offsetHeight;
      const top = r * ROW_H;
      const view = scroller.clientHeight - headH;
      if (top < scroller.scrollTop) scroller.scrollTop = top;
      else if (top + ROW_H > scroller.scrollTop + view) scroller.scrollTop = top + ROW_H - view;
      render();
    },
    rowOf: (p) => search(rows, p),
    pageRows: () => Math.max(1, Math.floor((scroller.clientHeight - head.offsetHeight) / ROW_H) - 1),
  };
}
