/**
 * The guest's memory as the host backs it: each memslot a bar of its host pages' states in runs
 * (anonymous, file, lazy pages missing or populated, past a file's end, unmapped), and for an
 * encrypted guest a second bar of its private and shared pages; the GPAs a VMGEXIT named (its GHCB,
 * its scratch area) marked where they land, or said to lie in a hole.
 */
import type { MemslotView, PageRun } from '../src/explore/model.js';
import { h } from './dom.js';
import { hex, parseNum } from './ghcb-view.js';

/** A GPA to mark on the map. */
export interface MemoryMark {
  readonly label: string;
  readonly gpa: bigint;
}

const PAGE = 4096n;

/** A memslot's pages in runs (`kind`: the host mapping's state, or the guest's encryption) as a bar. */
function slotBar(
  runs: readonly PageRun[],
  kind: 'host' | 'encryption',
  base: bigint,
  size: bigint,
  marks: readonly MemoryMark[],
): HTMLElement {
  const pct = (x: bigint): string => `${(Number(x) / Number(size)) * 100}%`;
  const bar = h('div', { class: `mem-bar bar-${kind}`, 'data-testid': `mem-bar-${kind}` });
  for (const run of runs) {
    const from = (parseNum(run.from) ?? base) - base;
    const seg = h('div', {
      class: `mem-run st-${run.state}`,
      'data-testid': kind === 'host' ? 'mem-run' : 'mem-enc-run',
      'data-state': run.state,
      title: `${run.from}: ${run.pages} page(s) ${run.state}`,
    });
    seg.style.left = pct(from);
    seg.style.width = pct(BigInt(run.pages) * PAGE);
    bar.append(seg);
  }
  for (const m of marks) {
    if (m.gpa < base || m.gpa >= base + size) continue;
    const mark = h('div', {
      class: 'mem-mark',
      'data-testid': 'mem-mark',
      'data-label': m.label,
      title: `${m.label} ${hex(m.gpa)}`,
    });
    mark.style.left = pct(m.gpa - base);
    bar.append(mark);
  }
  return bar;
}

/** The map; marks outside every memslot are listed as holes. */
export function memoryMap(slots: readonly MemslotView[], marks: readonly MemoryMark[]): HTMLElement {
  const rows = slots.map((s) => {
    const base = parseNum(s.gpa) ?? 0n;
    const size = parseNum(s.size) ?? 0n;
    const states = [...new Set(s.host.map((r) => r.state))].join(', ');
    return h(
      'div',
      { class: 'mem-slot', 'data-testid': 'mem-slot', 'data-slot': s.slot },
      h(
        'p',
        { class: 'mono' },
        `slot ${s.slot}${s.name ? ` (${s.name})` : ''}: gpa ${s.gpa} + ${s.size} at hva ${s.hva}`,
        s.backing ? ` · ${s.backing}` : '',
        h('span', { class: 'muted' }, ` · ${states}`),
      ),
      slotBar(s.host, 'host', base, size, marks),
      ...(s.encryption
        ? [
            h(
              'p',
              { class: 'muted mem-enc-title' },
              `guest pages: ${s.encryption.filter((r) => r.state === 'private').reduce((n, r) => n + r.pages, 0)} private (C-bit), the rest shared · the memory controller's debug view`,
            ),
            slotBar(s.encryption, 'encryption', base, size, marks),
          ]
        : []),
    );
  });
  const holes = marks.filter((m) =>
    slots.every((s) => {
      const base = parseNum(s.gpa) ?? 0n;
      return m.gpa < base || m.gpa >= base + (parseNum(s.size) ?? 0n);
    }),
  );
  return h(
    'section',
    { class: 'memory', 'data-testid': 'memory-map' },
    h('h3', {}, 'Guest memory and the host behind it'),
    ...rows,
    ...holes.map((m) =>
      h(
        'p',
        { class: 'warn', 'data-testid': 'mem-hole' },
        `${m.label} ${hex(m.gpa)} is in no memslot: a hole`,
      ),
    ),
  );
}
