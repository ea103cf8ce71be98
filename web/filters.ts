/**
 * Filters by event family and outcome: a checkbox per value present in the trace, with its count.
 * An event is shown when both its family and its outcome are checked ("(none)" stands for an event
 * without one).
 */

import type { ExploreTrace } from '../src/explore/model.js';
import { h } from './dom.js';
import { familyKey, outcomeKey, type TraceIndex } from './trace-index.js';

export interface FilterState {
  readonly hiddenFamilies: Set<string>;
  readonly hiddenOutcomes: Set<string>;
}

/** The positions of the events `state` shows, ascending. */
export function visibleRows(trace: ExploreTrace, state: FilterState): Int32Array {
  const events = trace.events;
  if (state.hiddenFamilies.size === 0 && state.hiddenOutcomes.size === 0)
    return Int32Array.from({ length: events.length }, (_, k) => k);
  const out = new Int32Array(events.length);
  let n = 0;
  for (let p = 0; p < events.length; p++) {
    const e = events[p]!;
    if (!state.hiddenFamilies.has(familyKey(e)) && !state.hiddenOutcomes.has(outcomeKey(e))) out[n++] = p;
  }
  return out.slice(0, n);
}

/** The filter bar; `onChange` runs after every toggle. */
export function createFilters(
  index: Pick<TraceIndex, 'families' | 'outcomes'>,
  state: FilterState,
  onChange: () => void,
): HTMLElement {
  const group = (
    title: string,
    testid: string,
    values: ReadonlyMap<string, number>,
    hidden: Set<string>,
  ): HTMLElement =>
    h(
      'fieldset',
      { class: 'filter-group' },
      h('legend', {}, title),
      ...[...values].map(([value, count]) => {
        const box = h('input', {
          type: 'checkbox',
          'data-testid': testid,
          'data-value': value,
          checked: true,
        });
        box.addEventListener('change', () => {
          if (box.checked) hidden.delete(value);
          else hidden.add(value);
          onChange();
        });
        return h(
          'label',
          { class: `filter ${testid}-${value.replace(/[^\w-]/g, '_')}` },
          box,
          h('span', { class: 'filter-name' }, value),
          h('span', { class: 'count' }, count),
        );
      }),
    );
  return h(
    'div',
    { class: 'filters', 'data-testid': 'filters' },
    group('family', 'filter-family', index.families, state.hiddenFamilies),
    group('outcome', 'filter-outcome', index.outcomes, state.hiddenOutcomes),
  );
}
