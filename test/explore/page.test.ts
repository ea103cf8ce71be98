/**
 * The explorer's page shell (src/explore/page.ts) and its demo fixture: the trace and the bundle
 * inlined so that nothing in them can end their <script> early, and demo-trace.json as its
 * generator makes it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { EXPLORE_TRACE_VERSION, type ExploreComparison, type ExploreTrace } from '../../src/explore/model.js';
import { explorerHtml } from '../../src/explore/page.js';
import { makeDemoComparison } from '../fixtures/explore/make-compare.js';
import { makeBigTrace, makeDemoTrace } from '../fixtures/explore/make-demo.js';

const tiny: ExploreTrace = {
  version: EXPLORE_TRACE_VERSION,
  source: { kind: 'trace', name: 'a </script><b>' },
  events: [{ i: 0, lane: 'vmm', kind: 'host-action', vcpu: 0, label: '</SCRIPT><!-- x' }],
  ghcbs: [],
  end: 'done',
};

describe('explorerHtml', () => {
  it('inlines the trace as window.SEVBOX_TRACE that parses back to the same value', () => {
    const html = explorerHtml({ js: 'void 0', css: 'body{}', trace: tiny });
    const m = /<script>window\.SEVBOX_TRACE=(.*);<\/script>/.exec(html);
    assert.ok(m);
    assert.deepEqual(JSON.parse(m[1]!), tiny);
    assert.equal(html.match(/<\/script>/gi)?.length, 2);
    assert.ok(!/<!--/.test(html));
    assert.match(html, /<title>a &#60;\/script&#62;&#60;b&#62; · sevbox explorer<\/title>/);
    assert.match(html, /<div id="app"><\/div>/);
  });

  it('without a trace the page fetches trace.json (no SEVBOX_TRACE); script and style cannot end early', () => {
    const html = explorerHtml({ js: 'const s = "</script>"; /<!--/;', css: 'a::after{content:"</style>"}' });
    assert.ok(!html.includes('SEVBOX_TRACE'));
    assert.match(html, /const s = "<\\\/script>"; \/\\x3C!--\/;<\/script>/);
    assert.match(html, /content:"<\\\/style>"\}<\/style>/);
  });
});

describe('explorerHtml with a comparison', () => {
  it('inlines it as window.SEVBOX_COMPARE (no SEVBOX_TRACE), titled by its profiles', () => {
    const compare: ExploreComparison = {
      version: EXPLORE_TRACE_VERSION,
      left: { ...tiny, source: { ...tiny.source, profile: 'prefix' } },
      right: { ...tiny, source: { ...tiny.source, profile: 'seed' } },
      pairs: [],
    };
    const html = explorerHtml({ js: 'void 0', css: '', compare });
    const m = /<script>window\.SEVBOX_COMPARE=(.*);<\/script>/.exec(html);
    assert.ok(m);
    assert.deepEqual(JSON.parse(m[1]!), compare);
    assert.ok(!html.includes('SEVBOX_TRACE'));
    assert.equal(html.match(/<\/script>/gi)?.length, 2);
    assert.match(html, /<title>a &#60;\/script&#62;&#60;b&#62;: prefix vs seed · sevbox explorer<\/title>/);
  });
});

describe('demo comparison fixture', () => {
  it('is what make-compare.ts records (npx tsx test/fixtures/explore/make-compare.ts)', async () => {
    const committed = JSON.parse(
      readFileSync(new URL('../fixtures/explore/demo-compare.json', import.meta.url), 'utf8'),
    );
    assert.deepEqual(committed, JSON.parse(JSON.stringify(await makeDemoComparison())));
  });
});

describe('demo trace fixture', () => {
  it('is what make-demo.ts makes (npx tsx test/fixtures/explore/make-demo.ts)', () => {
    const committed = JSON.parse(
      readFileSync(new URL('../fixtures/explore/demo-trace.json', import.meta.url), 'utf8'),
    );
    assert.deepEqual(committed, JSON.parse(JSON.stringify(makeDemoTrace())));
  });

  it('numbers its events in order; every VMGEXIT has one guest request; GHCB indices exist', () => {
    for (const t of [makeDemoTrace(), makeBigTrace(5000)]) {
      for (const [k, e] of t.events.entries()) assert.equal(e.i, k);
      const heads = t.events.filter((e) => e.kind === 'vmgexit' || e.kind === 'msr-protocol');
      assert.equal(new Set(heads.map((e) => e.vmgexit)).size, heads.length);
      for (const e of t.events) if (e.ghcb !== undefined) assert.ok(t.ghcbs[e.ghcb]);
    }
    assert.equal(makeBigTrace(100_000).events.length, 100_000);
  });
});
