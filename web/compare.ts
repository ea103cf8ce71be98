/**
 * The side-by-side view (issue 17): two runs of the same guest (two kernel profiles, or with and
 * without the restart capability) as two sequence views, their VMGEXITs paired in order
 * (src/explore/compare.ts). A banner names the first pair that differs and why, with a button that
 * brings both sides to it; rows of a pair that differs carry the class `pair-differs` (and those of
 * the first one `pair-first-divergence` and, on the VMGEXIT's request, the `divergence-marker`).
 * Selecting an event of a VMGEXIT on one side selects its pair's request on the other; the panel shows
 * the selected side's VMGEXIT with the pair's outcomes side by side. The filters apply to both sides.
 * The URL hash `#pair=N` selects pair N on both sides (`#left=N` / `#right=N`: event N of one side).
 */

import type { ExploreComparison, ExploreEvent, ExploreTrace } from '../src/explore/model.js';
import { renderDetail } from './detail.js';
import { h, selectionStep } from './dom.js';
import { createFilters, type FilterState, visibleRows } from './filters.js';
import { createSequenceView, type SequenceView } from './sequence.js';
import { indexTrace, type TraceIndex } from './trace-index.js';

export type Side = 'left' | 'right';
const SIDES: readonly Side[] = ['left', 'right'];
const other = (s: Side): Side => (s === 'left' ? 'right' : 'left');

/** One side: its trace, index, view, and VMGEXIT → pair. */
interface SideState {
  readonly side: Side;
  readonly trace: ExploreTrace;
  readonly index: TraceIndex;
  readonly pairOf: ReadonlyMap<number, number>;
  readonly view: SequenceView;
  selected: number | undefined;
}

function mergeCounts(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): Map<string, number> {
  const m = new Map(a);
  for (const [k, n] of b) m.set(k, (m.get(k) ?? 0) + n);
  return new Map([...m].sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0])));
}

function sideTitle(side: Side, t: ExploreTrace): HTMLElement {
  return h(
    'header',
    { class: 'side-title', 'data-testid': `side-title-${side}` },
    h('span', { class: 'side-name' }, side),
    t.source.profile
      ? h('span', { class: 'profile', 'data-testid': 'side-profile' }, `profile ${t.source.profile}`)
      : undefined,
    h('span', { class: 'muted events' }, `${t.events.length} events`),
    h('b', { class: 'side-source', 'data-testid': 'side-source', title: t.source.name }, t.source.name),
    h('span', { class: 'end muted', title: t.end }, `· ${t.end}`),
  );
}

/** What a VMGEXIT came to, for the panel's pair table. */
function vmgexitFacts(index: TraceIndex, vmgexit: number | undefined): Record<string, string> | undefined {
  if (vmgexit === undefined) return undefined;
  const members = (index.members.get(vmgexit) ?? []).map((p) => index.trace.events[p]!);
  const head = members[0];
  if (!head) return undefined;
  const done = members.find((e) => e.kind === 'vmgexit-done');
  const last = [...members].reverse().find((e: ExploreEvent) => e.lane !== 'guest');
  return {
    VMGEXIT: String(vmgexit),
    family: head.family ?? '—',
    outcome: head.outcome ?? '—',
    sw_exit_info_1: done?.detail?.sw_exit_info_1 ?? '—',
    sw_exit_info_2: done?.detail?.sw_exit_info_2 ?? '—',
    'last act': last ? last.label : '—',
  };
}

/** The explorer over two runs, in `app`. */
export function mountComparison(app: HTMLElement, cmp: ExploreComparison): void {
  const pairs = cmp.pairs;
  const div = cmp.divergence;
  const state: FilterState = { hiddenFamilies: new Set(), hiddenOutcomes: new Set() };
  const sides = {} as Record<Side, SideState>;
  let active: Side = 'left';

  for (const side of SIDES) {
    const trace = cmp[side];
    const pairOf = new Map<number, number>();
    pairs.forEach((pr, k) => {
      const v = pr[side];
      if (v !== undefined) pairOf.set(v, k);
    });
    const index = indexTrace(trace);
    const pairFor = (e: ExploreEvent): number | undefined =>
      e.vmgexit === undefined ? undefined : pairOf.get(e.vmgexit);
    const view = createSequenceView(index, (p) => select(side, p, false), {
      rowClass: (e) => {
        const k = pairFor(e);
        if (k === undefined || pairs[k]!.same) return '';
        return k === div?.pair ? 'pair-differs pair-first-divergence' : 'pair-differs';
      },
      rowMarker: (e) =>
        div !== undefined && pairFor(e) === div.pair && (e.kind === 'vmgexit' || e.kind === 'msr-protocol')
          ? h('span', { class: 'divergence-marker', 'data-testid': 'divergence-marker', title: div.why }, '◆')
          : undefined,
    });
    sides[side] = { side, trace, index, pairOf, view, selected: undefined };
  }

  const panel = h('aside', { class: 'panel', 'data-testid': 'detail-panel' });
  const shown = h('span', { class: 'shown', 'data-testid': 'shown-count' });

  /** The request of VMGEXIT `v` on `side` (or its first event), if any. */
  const headOfVmgexit = (s: SideState, v: number | undefined): number | undefined =>
    v === undefined ? undefined : (s.index.heads.get(v) ?? s.index.members.get(v)?.[0]);

  const pairTable = (k: number, from: Side): HTMLElement => {
    const pr = pairs[k]!;
    const facts = {
      left: vmgexitFacts(sides.left.index, pr.left),
      right: vmgexitFacts(sides.right.index, pr.right),
    };
    const names = Object.keys(facts.left ?? facts.right ?? {});
    const title = (s: Side): string => cmp[s].source.profile ?? s;
    return h(
      'section',
      { class: 'pair', 'data-testid': 'pair-panel', 'data-pair': k, 'data-same': pr.same ? '1' : '0' },
      h(
        'h2',
        {},
        `Pair ${k}`,
        h('span', { class: `outcome ${pr.same ? 'o-handled' : 'o-failed'}` }, pr.same ? 'same' : 'differs'),
      ),
      k === div?.pair ? h('p', { class: 'rule' }, div.why) : undefined,
      h(
        'table',
        { class: 'kv pair-table', 'data-testid': 'pair-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', {}),
            ...SIDES.map((s) => h('th', { class: s === from ? 'current' : '' }, `${s} · ${title(s)}`)),
          ),
        ),
        h(
          'tbody',
          {},
          ...names.map((name) => {
            const l = facts.left?.[name] ?? '(none)';
            const r = facts.right?.[name] ?? '(none)';
            return h(
              'tr',
              { 'data-name': name, class: l === r ? '' : 'differs' },
              h('th', {}, name),
              h('td', { class: `mono pair-cell${l === r ? '' : ' differs'}`, 'data-side': 'left' }, l),
              h('td', { class: `mono pair-cell${l === r ? '' : ' differs'}`, 'data-side': 'right' }, r),
            );
          }),
        ),
      ),
    );
  };

  const renderPanel = (): void => {
    const s = sides[active];
    const p = s.selected;
    const e = p === undefined ? undefined : s.trace.events[p];
    const k = e?.vmgexit === undefined ? undefined : s.pairOf.get(e.vmgexit);
    const detail = renderDetail(s.index, p, (q) => select(active, q, true));
    panel.replaceChildren(
      ...(p === undefined
        ? [
            h(
              'div',
              { class: 'panel-empty muted' },
              'Select an event on either side (click, ↑/↓, or #pair=N).',
            ),
          ]
        : [
            h(
              'p',
              { class: 'panel-side muted', 'data-testid': 'panel-side', 'data-side': active },
              `${active} · ${s.trace.source.profile ?? s.trace.source.name}`,
            ),
            k === undefined ? undefined : pairTable(k, active),
            detail,
          ]
      ).filter((x): x is HTMLElement => x !== undefined),
    );
  };

  /** Select event `p` of `side` (and its pair on the other side), or nothing. */
  const select = (side: Side, p: number | undefined, reveal: boolean): void => {
    const s = sides[side];
    if (p !== undefined && (p < 0 || p >= s.trace.events.length)) return;
    active = side;
    s.selected = p;
    s.view.select(p);
    if (p !== undefined && reveal) s.view.reveal(p);
    const e = p === undefined ? undefined : s.trace.events[p];
    const k = e?.vmgexit === undefined ? undefined : s.pairOf.get(e.vmgexit);
    const o = sides[other(side)];
    o.selected = k === undefined ? undefined : headOfVmgexit(o, pairs[k]![other(side)]);
    o.view.select(o.selected);
    if (o.selected !== undefined) o.view.reveal(o.selected);
    for (const x of SIDES) sides[x].view.element.classList.toggle('active', x === active);
    renderPanel();
    if (k !== undefined) history.replaceState(null, '', `#pair=${k}`);
    else if (e) history.replaceState(null, '', `#${side}=${e.i}`);
  };

  /** Select pair `k` on both sides (the left side active when it has the VMGEXIT). */
  const selectPair = (k: number): void => {
    const pr = pairs[k];
    if (!pr) return;
    const side: Side = pr.left !== undefined ? 'left' : 'right';
    const p = headOfVmgexit(sides[side], pr[side]);
    if (p !== undefined) select(side, p, true);
  };

  const applyFilters = (): void => {
    const parts: string[] = [];
    for (const side of SIDES) {
      const s = sides[side];
      const rows = visibleRows(s.trace, state);
      s.view.setRows(rows);
      if (s.selected !== undefined) s.view.select(s.selected);
      parts.push(`${side} ${rows.length} of ${s.trace.events.length}`);
    }
    shown.textContent = `${parts.join(' · ')} events shown`;
  };

  const move = (delta: number): void => {
    const s = sides[active];
    const rows = s.view.rows();
    if (rows.length === 0) return;
    let base: number;
    if (s.selected === undefined) base = delta > 0 ? -1 : rows.length;
    else {
      const at = s.view.rowOf(s.selected);
      base = at >= 0 ? at : delta > 0 ? -at - 2 : -at - 1;
    }
    select(active, rows[Math.max(0, Math.min(rows.length - 1, base + delta))], true);
  };

  document.addEventListener('keydown', (ev) => {
    if (ev.target instanceof HTMLInputElement || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (ev.key === 'ArrowLeft' || ev.key === 'ArrowRight') {
      const to: Side = ev.key === 'ArrowLeft' ? 'left' : 'right';
      if (to !== active && sides[to].selected !== undefined) {
        ev.preventDefault();
        select(to, sides[to].selected, true);
      }
      return;
    }
    const d = selectionStep(ev, () => sides[active].view.pageRows());
    if (d === undefined) return;
    ev.preventDefault();
    move(d);
  });

  /** `#pair=N`, `#left=N`, `#right=N`. */
  const fromHash = (): void => {
    const pm = /(?:^#|&)pair=(\d+)/.exec(location.hash);
    if (pm) {
      selectPair(Number(pm[1]));
      return;
    }
    const em = /(?:^#|&)(left|right)=(\d+)/.exec(location.hash);
    if (!em) return;
    const side = em[1] as Side;
    const n = Number(em[2]);
    const events = sides[side].trace.events;
    const p = events[n]?.i === n ? n : events.findIndex((e) => e.i === n);
    if (p >= 0) select(side, p, true);
  };
  window.addEventListener('hashchange', fromHash);

  const differing = pairs.filter((pr) => !pr.same).length;
  const banner = div
    ? h(
        'div',
        {
          class: 'divergence-banner',
          'data-testid': 'divergence-banner',
          'data-pair': div.pair,
          role: 'status',
        },
        h('b', {}, `The runs part ways at pair ${div.pair}`),
        h(
          'span',
          { class: 'muted' },
          ` (VMGEXIT ${pairs[div.pair]?.left ?? '—'} on the left, ${pairs[div.pair]?.right ?? '—'} on the right): `,
        ),
        h('span', { class: 'why', 'data-testid': 'divergence-why' }, div.why),
        h('span', { class: 'muted' }, ` · ${differing} of ${pairs.length} pairs differ`),
        (() => {
          const b = h('button', { type: 'button', 'data-testid': 'goto-divergence' }, 'go to the divergence');
          b.addEventListener('click', () => selectPair(div.pair));
          return b;
        })(),
      )
    : h(
        'div',
        { class: 'divergence-banner agree', 'data-testid': 'divergence-banner', role: 'status' },
        `The runs agree: ${pairs.length} VMGEXITs paired, none differ.`,
      );

  const sideBox = (side: Side): HTMLElement =>
    h(
      'section',
      { class: `side side-${side}`, 'data-testid': `side-${side}` },
      sideTitle(side, cmp[side]),
      sides[side].view.element,
    );

  const src = cmp.left.source;
  app.replaceChildren(
    h(
      'header',
      { class: 'top' },
      h('h1', {}, 'sevbox explorer'),
      h(
        'span',
        { class: 'source', 'data-testid': 'trace-source' },
        `${src.kind}: ${src.name}`,
        cmp.right.source.name !== src.name ? ` vs ${cmp.right.source.name}` : '',
        ` · ${cmp.left.source.profile ?? 'left'} vs ${cmp.right.source.profile ?? 'right'}`,
        ` · ${pairs.length} VMGEXIT pair${pairs.length === 1 ? '' : 's'}`,
      ),
    ),
    banner,
    h(
      'div',
      { class: 'bar' },
      createFilters(
        {
          families: mergeCounts(sides.left.index.families, sides.right.index.families),
          outcomes: mergeCounts(sides.left.index.outcomes, sides.right.index.outcomes),
        },
        state,
        applyFilters,
      ),
      shown,
    ),
    h(
      'main',
      { class: 'split compare' },
      h('div', { class: 'sides' }, sideBox('left'), sideBox('right')),
      panel,
    ),
  );
  applyFilters();
  renderPanel();
  fromHash();
}
