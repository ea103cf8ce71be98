/** The one DOM helper: an element with attributes and children. */

type Attrs = Readonly<Record<string, string | number | boolean | undefined>>;
type Child = Node | string | number | undefined | false;

/** `<tag attrs…>children…</tag>`; `class` sets className, `false`/`undefined` attributes are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children)
    if (c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

/**
 * How far a key moves the selection in a list showing `pageRows` rows at a time (↑/↓, j/k,
 * PageUp/PageDown, Home/End), or undefined for a key that does not move it. Keys typed into an
 * input, or with a modifier, never do.
 */
export function selectionStep(ev: KeyboardEvent, pageRows: () => number): number | undefined {
  if (ev.target instanceof HTMLInputElement || ev.altKey || ev.ctrlKey || ev.metaKey) return undefined;
  switch (ev.key) {
    case 'ArrowDown':
    case 'j':
      return 1;
    case 'ArrowUp':
    case 'k':
      return -1;
    case 'PageDown':
      return pageRows();
    case 'PageUp':
      return -pageRows();
    case 'End':
      return Number.MAX_SAFE_INTEGER;
    case 'Home':
      return -Number.MAX_SAFE_INTEGER;
    default:
      return undefined;
  }
}
