/**
 * The bundle transforms of scripts/build.mjs: esbuild's top-level `var`s of this project's modules
 * become `const` again where nothing assigns them, and numeric constants are inlined wherever the
 * name can only mean the top-level binding.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'acorn';
import { inlineConstants, restoreConst } from '../scripts/bundle-transforms.mjs';

/** A bundle as esbuild writes it: a banner, then each module's code after a `// path` line. */
const bundle = (...modules: [path: string, code: string][]): string =>
  `const require = undefined;\n${modules.map(([path, code]) => `// ${path}\n${code}\n`).join('')}`;

describe('restoreConst', () => {
  it('gives an own module its const back unless something assigns the name; dependencies keep var', () => {
    const code = bundle(
      ['src/a.ts', 'var A = 1, B = 2;\nvar C = 3;\nC = 4;'],
      ['node_modules/x/index.js', 'var D = 5;'],
    );
    const r = restoreConst(code, parse);
    assert.match(r.code, /const A = 1, B = 2;/);
    assert.match(r.code, /var C = 3;/);
    assert.match(r.code, /var D = 5;/);
  });
});

describe('inlineConstants', () => {
  const run = (code: string) => inlineConstants(restoreConst(code, parse).code, parse);

  it('replaces every read of a numeric top-level const with its value; the declaration stays', () => {
    const r = run(
      bundle(['src/a.ts', 'var OFF = 504, NEG = -8;\nfunction f(v) { return v.getUint32(OFF, !0) + NEG; }']),
    );
    assert.match(r.code, /const OFF = 504/);
    assert.match(r.code, /getUint32\(504, !0\) \+ \(-8\)/);
    assert.equal(r.inlined, 2);
  });

  it('leaves property names, member names and labels alone, expands a shorthand property, parenthesizes a member call', () => {
    const r = run(
      bundle([
        'src/a.ts',
        'var N = 7;\nconst o = { N, [N]: 1, N: 2 };\nfunction g(x) { N: for (;;) break N; return x.N + N.toString(16); }',
      ]),
    );
    assert.match(r.code, /\{ N: 7, \[7\]: 1, N: 2 \}/);
    assert.match(r.code, /N: for \(;;\) break N;/);
    assert.match(r.code, /x\.N \+ \(7\)\.toString\(16\)/);
  });

  it('inlines nothing whose name is bound in any nested scope, nor constants of dependencies or non-numbers', () => {
    const r = run(
      bundle(
        [
          'src/a.ts',
          'var P = 1, S = "s", Q = 2;\nfunction h(P) { return P + Q + S; }\nfunction k() { const Q = 3; return Q; }',
        ],
        ['node_modules/x/index.js', 'var R = 4;\nfunction m() { return R; }'],
      ),
    );
    assert.match(r.code, /return P \+ Q \+ S;/);
    assert.match(r.code, /return R;/);
    assert.equal(r.inlined, 0);
  });

  it('keeps the meaning of the bundle: the transformed code computes the same', () => {
    const src = bundle(['src/a.ts', 'var K = 0x10;\nvar out = [K, K.toString(2), { K }.K, -K];']);
    const r = run(src);
    const evaluate = (code: string): unknown => new Function(`${code}; return out;`)();
    assert.deepEqual(evaluate(r.code.replaceAll(/^(const|var) /gm, 'var ')), evaluate(src));
  });
});
