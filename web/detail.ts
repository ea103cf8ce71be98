/**
 * The side panel for the selected event: its details; for an event of a VMGEXIT, that VMGEXIT's
 * events in all three lanes (the rule of a reflected error spelt out), and for a VMGEXIT through the
 * GHCB page, the page as KVM read it: every field with offset, value and valid bit, the fields that
 * changed since the previous VMGEXIT of the same vCPU, and where sw_scratch pointed.
 */

import type { ExploreEvent, ExploreTrace, MemslotView } from '../src/explore/model.js';
import { GHCB_SIZE } from '../src/uapi/ghcb.js';
import { h } from './dom.js';
import {
  changedFields,
  decodeGhcb,
  ghcbBytes,
  hex,
  parseNum,
  type ScratchView,
  SHARED_BUFFER,
  scratchView,
  strayValidBits,
} from './ghcb-view.js';
import { type MemoryMark, memoryMap } from './memory-map.js';
import { headOf, type TraceIndex } from './trace-index.js';

const LANE_TITLES = { guest: 'guest', kvm: 'KVM', vmm: 'VMM' } as const;

function detailTable(detail: ExploreEvent['detail'], testid: string): HTMLElement {
  const entries = Object.entries(detail ?? {});
  if (entries.length === 0) return h('p', { class: 'muted', 'data-testid': testid }, 'no details');
  return h(
    'table',
    { class: 'kv', 'data-testid': testid },
    h(
      'tbody',
      {},
      ...entries.map(([k, v]) => h('tr', { 'data-name': k }, h('th', {}, k), h('td', { class: 'mono' }, v))),
    ),
  );
}

/** The memslot holding `gpa`, if the trace has memslots. */
function memslotOf(slots: readonly MemslotView[] | undefined, gpa: bigint): MemslotView | undefined {
  return slots?.find((s) => {
    const base = parseNum(s.gpa);
    const size = parseNum(s.size);
    return base !== undefined && size !== undefined && gpa >= base && gpa < base + size;
  });
}

/** The GHCB page as a bar: save area, shared buffer, and the scratch range when it lies in the page. */
function scratchBar(sv: ScratchView): HTMLElement {
  const pct = (off: number | bigint): string => `${(Number(off) / GHCB_SIZE) * 100}%`;
  const seg = (cls: string, from: number | bigint, to: number | bigint, title: string): HTMLElement => {
    const el = h('div', { class: `seg ${cls}`, title });
    el.style.left = pct(from);
    el.style.width = pct(BigInt(to) - BigInt(from));
    return el;
  };
  const parts = [
    seg('save', 0, 0x408, 'save area 0x000..0x408'),
    seg('bitmap', 0x3f0, 0x400, 'valid_bitmap 0x3f0'),
    seg('shared', SHARED_BUFFER[0], SHARED_BUFFER[1], 'shared buffer 0x800..0xff0'),
  ];
  if (sv.place === 'shared-buffer' || sv.place === 'ghcb-page') {
    const from = sv.offset;
    const to = sv.offset + (sv.len ?? 1n);
    const clipped = to > BigInt(GHCB_SIZE) ? BigInt(GHCB_SIZE) : to;
    const el = seg(`scratch ${sv.place}`, from, clipped, `scratch ${hex(from, 3)}..${hex(to, 3)}`);
    el.style.minWidth = '2px';
    el.dataset.testid = 'scratch-range';
    parts.push(el);
  }
  return h(
    'div',
    { class: 'ghcb-bar-wrap' },
    h('div', { class: 'ghcb-bar', 'data-testid': 'scratch-bar', 'data-place': sv.place }, ...parts),
    h(
      'div',
      { class: 'ghcb-bar-scale mono' },
      h('span', {}, '0x000'),
      h('span', {}, '0x800'),
      h('span', {}, '0xff0'),
    ),
  );
}

function scratchSection(
  trace: ExploreTrace,
  bytes: Uint8Array,
  ghcbGpa: bigint | undefined,
  scratchEvent: ExploreEvent | undefined,
): HTMLElement {
  const len = parseNum(scratchEvent?.detail?.len);
  const sv = scratchView(bytes, ghcbGpa ?? 0n, len);
  const range = `${hex(sv.gpa)}${len !== undefined ? ` + ${len} bytes` : ''}`;
  let where: string;
  if (ghcbGpa === undefined) where = 'the GHCB GPA is not in the trace (detail.ghcbGpa)';
  else if (sv.place === 'none') where = 'sw_scratch is 0 (no scratch area)';
  else if (sv.place === 'shared-buffer')
    where = `in the GHCB shared buffer at offset ${hex(sv.offset, 3)}: KVM works on the page itself`;
  else if (sv.place === 'ghcb-page')
    where = `in the GHCB page at offset ${hex(sv.offset, 3)} but not wholly in its shared buffer (0x800..0xff0)`;
  else {
    const slot = memslotOf(trace.memslots, sv.gpa);
    const dist = sv.offset < 0n ? `${hex(-sv.offset)} bytes below` : `${hex(sv.offset)} bytes above`;
    where =
      `outside the GHCB page (${dist} the page at ${hex(ghcbGpa)})` +
      (trace.memslots
        ? slot
          ? `, in memslot ${slot.slot}`
          : ', in no memslot (a hole in guest memory)'
        : '');
  }
  const outcome = scratchEvent?.detail?.outcome;
  return h(
    'div',
    { class: 'scratch', 'data-testid': 'scratch', 'data-place': sv.place },
    h(
      'p',
      {},
      h('b', {}, 'sw_scratch '),
      h('span', { class: 'mono' }, range),
      sv.valid ? '' : h('span', { class: 'warn' }, ' (valid bit clear)'),
    ),
    h('p', { 'data-testid': 'scratch-where' }, where, outcome ? ` — KVM: ${outcome}` : ''),
    ghcbGpa === undefined ? undefined : scratchBar(sv),
  );
}

function fieldsTable(
  fields: ReturnType<typeof decodeGhcb>,
  changed: Set<string> | undefined,
): HTMLTableElement {
  return h(
    'table',
    { class: 'fields', 'data-testid': 'ghcb-fields' },
    h(
      'thead',
      {},
      h('tr', {}, h('th', {}, 'field'), h('th', {}, 'offset'), h('th', {}, 'value'), h('th', {}, 'valid')),
    ),
    h(
      'tbody',
      {},
      ...fields.map((f) => {
        const isChanged = changed?.has(f.field.name) ?? false;
        const cls = [
          f.valid === true ? 'valid' : f.valid === false ? 'invalid' : 'untracked',
          f.value === 0n ? 'zero' : '',
          isChanged ? 'changed' : '',
        ].join(' ');
        return h(
          'tr',
          {
            class: cls,
            'data-testid': 'ghcb-field',
            'data-name': f.field.name,
            'data-valid': f.valid === undefined ? '' : f.valid ? '1' : '0',
            'data-changed': isChanged ? '1' : '0',
          },
          h('td', {}, f.field.name),
          h('td', { class: 'mono' }, hex(f.field.offset, 3)),
          h('td', { class: 'mono value' }, f.hex),
          h(
            'td',
            {
              class: 'bit',
              title: f.field.validBit === undefined ? 'not in valid_bitmap' : `bit ${f.field.validBit}`,
            },
            f.valid === undefined ? '—' : f.valid ? '✓' : '·',
          ),
        );
      }),
    ),
  );
}

/** The panel's content for event `p`. */
export function renderDetail(
  index: TraceIndex,
  p: number | undefined,
  onSelect: (p: number) => void,
): HTMLElement {
  const trace = index.trace;
  const e = p === undefined ? undefined : trace.events[p];
  if (!e) return h('div', { class: 'panel-empty muted' }, 'Select an event (click, ↑/↓, or #event=N).');
  const selected = h(
    'section',
    { class: 'selected-event' },
    h(
      'h3',
      {},
      `#${e.i} · ${LANE_TITLES[e.lane]} · ${e.kind}`,
      e.step !== undefined ? h('span', { class: 'muted' }, ` · step ${e.step}`) : undefined,
    ),
    h('p', { class: 'label mono' }, e.label),
    detailTable(e.detail, 'event-detail'),
  );
  const hp = headOf(index, p!);
  const headEv = hp === undefined ? undefined : trace.events[hp];
  if (hp === undefined || !headEv || headEv.vmgexit === undefined)
    return h('div', { 'data-testid': 'event-panel' }, selected);

  const members = index.members.get(headEv.vmgexit) ?? [hp];
  const memberEvents = members.map((m) => trace.events[m]!);
  const list = h(
    'ol',
    { class: 'members', 'data-testid': 'vmgexit-events' },
    ...members.map((m) => {
      const ev = trace.events[m]!;
      const why = ev.kind === 'ghcb-error' ? ev.detail?.why : undefined;
      const info =
        ev.kind === 'vmgexit-done' && ev.detail
          ? ['sw_exit_info_1', 'sw_exit_info_2']
              .filter((k) => ev.detail![k] !== undefined)
              .map((k) => `${k} ${ev.detail![k]}`)
              .join(', ')
          : '';
      const li = h(
        'li',
        {
          class: `member lane-${ev.lane}${m === p ? ' current' : ''}`,
          'data-testid': 'vmgexit-event',
          'data-kind': ev.kind,
          'data-index': ev.i,
        },
        h('span', { class: 'lane-tag' }, LANE_TITLES[ev.lane]),
        h('span', { class: 'mono' }, ev.label),
        info ? h('div', { class: 'mono info' }, info) : undefined,
        why ? h('div', { class: 'rule', 'data-testid': 'ghcb-rule' }, why) : undefined,
      );
      li.addEventListener('click', () => onSelect(m));
      return li;
    }),
  );
  const title = h(
    'h2',
    { 'data-testid': 'panel-title' },
    `VMGEXIT ${headEv.vmgexit} · vCPU ${headEv.vcpu}`,
    headEv.family ? ` · ${headEv.family}` : '',
    headEv.outcome ? h('span', { class: `outcome o-${headEv.outcome}` }, headEv.outcome) : undefined,
  );

  const parts: (HTMLElement | undefined)[] = [title, selected, h('h3', {}, 'Events of this VMGEXIT'), list];
  if (headEv.ghcb !== undefined && trace.ghcbs[headEv.ghcb] !== undefined) {
    const bytes = ghcbBytes(trace.ghcbs[headEv.ghcb]!);
    const fields = decodeGhcb(bytes);
    const prevP = index.previousOnVcpu.get(hp);
    const prevEv = prevP === undefined ? undefined : trace.events[prevP];
    const changed =
      prevEv?.ghcb !== undefined && trace.ghcbs[prevEv.ghcb] !== undefined
        ? changedFields(fields, decodeGhcb(ghcbBytes(trace.ghcbs[prevEv.ghcb]!)))
        : undefined;
    const ghcbGpa = parseNum(headEv.detail?.ghcbGpa);
    const scratchEv = memberEvents.find((m) => m.kind === 'scratch');
    const stray = strayValidBits(bytes);
    const cmp = prevEv
      ? h(
          'p',
          { class: 'muted', 'data-testid': 'ghcb-compare' },
          `Highlighted: ${changed?.size ?? 0} field(s) changed since VMGEXIT ${prevEv.vmgexit} of vCPU ${headEv.vcpu} `,
          h('a', { href: `#event=${prevEv.i}` }, `(#${prevEv.i})`),
        )
      : h(
          'p',
          { class: 'muted', 'data-testid': 'ghcb-compare' },
          `First VMGEXIT of vCPU ${headEv.vcpu}: nothing to compare.`,
        );
    parts.push(
      h(
        'section',
        { class: 'ghcb', 'data-testid': 'ghcb-panel' },
        h(
          'h3',
          {},
          'GHCB page',
          ghcbGpa !== undefined ? h('span', { class: 'mono muted' }, ` at ${hex(ghcbGpa)}`) : '',
        ),
        scratchSection(trace, bytes, ghcbGpa, scratchEv),
        cmp,
        fieldsTable(fields, changed),
        stray.length
          ? h('p', { class: 'warn' }, `valid_bitmap bits naming no field: ${stray.join(', ')}`)
          : undefined,
      ),
    );
    if (trace.memslots) {
      const scratch = parseNum(scratchEv?.detail?.gpa);
      const marks: MemoryMark[] = [
        ...(ghcbGpa !== undefined ? [{ label: 'GHCB', gpa: ghcbGpa }] : []),
        ...(scratch !== undefined ? [{ label: 'scratch', gpa: scratch }] : []),
      ];
      parts.push(memoryMap(trace.memslots, marks));
    }
  }
  return h('div', { 'data-testid': 'vmgexit-panel' }, ...parts);
}
