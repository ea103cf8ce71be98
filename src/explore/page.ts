/**
 * The explorer's page shell: the built script and styles (dist-web/, `npm run build`) inlined, and
 * the trace inlined too for an exported self-contained file (otherwise the page fetches trace.json
 * from the server that served it).
 */
import type { ExploreTrace } from './model.js';

/** JSON for a <script> element: `</` (and U+2028/9) escaped so the data cannot end the element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export function explorerHtml(opts: { js: string; css: string; trace?: ExploreTrace }): string {
  const data = opts.trace ? `<script>window.SEVBOX_TRACE = ${scriptJson(opts.trace)};</script>\n` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sevbox explorer${opts.trace ? ` — ${opts.trace.source.name.replace(/[<&]/g, '')}` : ''}</title>
<style>${opts.css}</style>
</head>
<body>
<div id="app"></div>
${data}<script>${opts.js.replace(/<\/script/gi, '<\\/script')}</script>
</body>
</html>
`;
}
