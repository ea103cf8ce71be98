/**
 * The explorer's HTML page (issue 17): the shell around the web bundle (web/, built into
 * dist-web/explorer.js and explorer.css). `sevbox explore` serves it with the trace beside it
 * (the page fetches `compare.json`, and on a 404 there `trace.json`); `--export` inlines the trace as
 * `window.SEVBOX_TRACE`, or a comparison of two runs as `window.SEVBOX_COMPARE`, so the one file works
 * from disk.
 */

import type { ExploreComparison, ExploreTrace } from './model.js';

/** The page's parts: the bundle's script and style, and the trace when the page carries its own. */
export interface ExplorerPageParts {
  readonly js: string;
  readonly css: string;
  readonly trace?: ExploreTrace;
  /** Two runs side by side (window.SEVBOX_COMPARE; the page shows it rather than `trace`). */
  readonly compare?: ExploreComparison;
  /** The tab's title (default: the trace's or comparison's source, else "sevbox explorer"). */
  readonly title?: string;
}

/**
 * Text for a `<script>` element: no `</script` (any case) can end it early and no `<!--` can open
 * HTML's escaped state. In the bundle these only occur inside strings, regular expressions and
 * templates, where `<\/` and `\x3C!--` mean the same.
 */
function rawScript(text: string): string {
  return text.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '\\x3C!--');
}

/** Text for a `<style>` element: no `</style` can end it early (CSS reads `\/` as `/`). */
function rawStyle(text: string): string {
  return text.replace(/<\/(style)/gi, '<\\/$1');
}

/** JSON that is also safe inside a `<script>`: every `<` (only ever inside a string) as `\u003c`. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The default title of a page over `trace` or `compare`. */
function defaultTitle(trace: ExploreTrace | undefined, compare: ExploreComparison | undefined): string {
  if (compare) {
    const { left, right } = compare;
    const side = (t: ExploreTrace): string => t.source.profile ?? t.source.name;
    const what = left.source.name === right.source.name ? `${left.source.name}: ` : '';
    return `${what}${side(left)} vs ${side(right)} · sevbox explorer`;
  }
  return trace ? `${trace.source.name} · sevbox explorer` : 'sevbox explorer';
}

/** The explorer page, self-contained but for its data when neither `trace` nor `compare` is given. */
export function explorerHtml({ js, css, trace, compare, title }: ExplorerPageParts): string {
  const name = title ?? defaultTitle(trace, compare);
  const data =
    (compare ? `<script>window.SEVBOX_COMPARE=${scriptJson(compare)};</script>\n` : '') +
    (trace ? `<script>window.SEVBOX_TRACE=${scriptJson(trace)};</script>\n` : '');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(name)}</title>
<style>${rawStyle(css)}</style>
</head>
<body>
<div id="app"></div>
${data}<script>${rawScript(js)}</script>
</body>
</html>
`;
}
