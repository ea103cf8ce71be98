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
