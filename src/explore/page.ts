/**
 * The explorer's HTML page (issue 17): the shell around the web bundle (web/, built into
 * dist-web/explorer.js and explorer.css). `sevbox explore` serves it with the trace beside it
 * (the page fetches `trace.json`); `--export` inlines the trace as `window.SEVBOX_TRACE`, so the one
 * file works from disk.
 */

import type { ExploreTrace } from './model.js';

/** The page's parts: the bundle's script and style, and the trace when the page carries its own. */
export interface ExplorerPageParts {
  readonly js: string;
  readonly css: string;
  readonly trace?: ExploreTrace;
  /** The tab's title (default: the trace source's name, else "sevbox explorer"). */
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

/** The explorer page, self-contained but for the trace when `trace` is absent. */
export function explorerHtml({ js, css, trace, title }: ExplorerPageParts): string {
  const name = title ?? (trace ? `${trace.source.name} · sevbox explorer` : 'sevbox explorer');
  const data = trace ? `<script>window.SEVBOX_TRACE=${scriptJson(trace)};</script>\n` : '';
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
