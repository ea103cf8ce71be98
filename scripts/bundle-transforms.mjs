/**
 * What scripts/build.mjs does to esbuild's output before writing it: give this project's top-level
 * constants their `const` back, then inline the numeric ones. Both take the bundle's text and
 * acorn's `parse`, and return the new text; test/build.test.ts pins them.
 */

/**
 * Parse a bundle; `isOwn(pos)`: whether the code at `pos` came from this project's src/ or bench/
 * (esbuild starts each module's code with a `// path` line, without whitespace minification).
 */
function parseBundle(code, parse) {
  const comments = [];
  const ast = parse(code, { ecmaVersion: 'latest', sourceType: 'module', onComment: comments });
  const sections = comments
    .filter((c) => c.type === 'Line' && code[c.start - 1] === '\n' && /^ \S+\.[cm]?[jt]sx?$/.test(c.value))
    .map((c) => ({ start: c.start, own: /^ (src|bench)\//.test(c.value) }));
  const isOwn = (pos) => {
    let own = false;
    for (const s of sections) {
      if (s.start > pos) break;
      own = s.own;
    }
    return own;
  };
  return { ast, isOwn };
}

/** Each name a binding pattern (an identifier, or object/array destructuring) binds or assigns. */
function patternNames(p, fn) {
  if (!p) return;
  if (p.type === 'Identifier') fn(p.name);
  else if (p.type === 'ObjectPattern')
    for (const q of p.properties) patternNames(q.type === 'RestElement' ? q.argument : q.value, fn);
  else if (p.type === 'ArrayPattern') for (const q of p.elements) patternNames(q, fn);
  else if (p.type === 'RestElement') patternNames(p.argument, fn);
  else if (p.type === 'AssignmentPattern') patternNames(p.left, fn);
}

/** `code` with each [start, end, text] edit (non-overlapping) applied. */
function applyEdits(code, edits) {
  const parts = [];
  let at = 0;
  for (const [start, end, text] of edits.sort((a, b) => a[0] - b[0])) {
    parts.push(code.slice(at, start), text);
    at = end;
  }
  parts.push(code.slice(at));
  return parts.join('');
}

/**
 * Give this project's top-level constants their `const` back.
 *
 * esbuild turns every top-level `const`, `let` and `class` of a bundle into `var`, deliberately and with
 * no option (its FAQ: "top-level var"). To V8 a top-level `var` is a mutable slot, loaded at every use; a
 * `const` is immutable, and optimized code folds its value in. Bundled as `var`, the per-exit paths ran
 * 20-27% slower than per-module JavaScript whose constants were module-local consts.
 *
 * A top-level `var` of a module under src/ or bench/ came from a `const`, `let` or `class` (Biome's noVar
 * keeps `var` out of the sources), and esbuild keeps the modules' evaluation order; so one initialised
 * where it is declared and never assigned again can be `const` without changing what the code does.
 * "Never assigned" is decided by name over the whole bundle (an assignment to any binding of that name,
 * in any scope, keeps the `var`), so it can only err by keeping a `var`.
 * Declarations without an initialiser stay `var` (as esbuild writes those of modules it evaluates
 * lazily, which an import() would reach). Dependencies
 * are left as they are. Where esbuild merged declarations into one statement (`var A = 1, b = 2`), each
 * run of declarators of one kind gets its own statement. Lines do not move, so the source map stays
 * right to the line (columns after an edit shift by a few characters).
 */
export function restoreConst(code, parse) {
  const { ast, isOwn } = parseBundle(code, parse);

  const assigned = new Set();
  const targetNames = (p) => patternNames(p, (name) => assigned.add(name));
  const topLevelVars = new Map();
  const visit = (node) => {
    if (Array.isArray(node)) {
      for (const n of node) visit(n);
      return;
    }
    if (node === null || typeof node !== 'object' || typeof node.type !== 'string') return;
    if (node.type === 'AssignmentExpression') targetNames(node.left);
    else if (node.type === 'UpdateExpression') targetNames(node.argument);
    else if (
      (node.type === 'ForInStatement' || node.type === 'ForOfStatement') &&
      node.left.type !== 'VariableDeclaration'
    )
      targetNames(node.left);
    for (const key in node) {
      const v = node[key];
      if (v !== null && typeof v === 'object') visit(v);
    }
  };
  visit(ast);
  for (const s of ast.body) {
    if (s.type !== 'VariableDeclaration' || s.kind !== 'var') continue;
    for (const d of s.declarations)
      if (d.id.type === 'Identifier') topLevelVars.set(d.id.name, (topLevelVars.get(d.id.name) ?? 0) + 1);
  }
  const convertible = (d) =>
    d.init !== null &&
    d.id.type === 'Identifier' &&
    !assigned.has(d.id.name) &&
    topLevelVars.get(d.id.name) === 1;

  // Edits as [start, end, text].
  const edits = [];
  let converted = 0;
  for (const s of ast.body) {
    if (s.type !== 'VariableDeclaration' || s.kind !== 'var' || !isOwn(s.start)) continue;
    const kinds = s.declarations.map((d) => (convertible(d) ? 'const' : 'var'));
    if (!kinds.includes('const')) continue;
    converted += kinds.filter((k) => k === 'const').length;
    edits.push([s.start, s.start + 3, kinds[0]]);
    for (let i = 1; i < kinds.length; i++) {
      // The `, ` between two declarators becomes `; <kind> ` where the kind changes.
      if (kinds[i] !== kinds[i - 1])
        edits.push([s.declarations[i - 1].end, s.declarations[i].start, `; ${kinds[i]} `]);
    }
  }
  return { code: applyEdits(code, edits), converted };
}

/**
 * Inline this project's numeric top-level constants: `const GHCB_OFF_RAX = 504` and every read of it
 * becomes `504`, as a C compiler sees a #define. esbuild folds constants within one module but keeps
 * imported ones as bindings, which V8's optimizer loads from the module context on every use.
 *
 * Safe by construction: a constant is inlined only if it is declared once, at the top level of an own
 * module, with a numeric literal (after esbuild's folding), and no binding of that name exists in any
 * nested scope of the bundle; so every identifier with its name that is a reference refers to it.
 * Declarations stay (exports and debuggers still see them); references in property keys, member
 * names, labels and declarations are not references and are left alone; a shorthand property
 * `{ X }` becomes `{ X: 504 }`.
 */
export function inlineConstants(code, parse) {
  const { ast, isOwn } = parseBundle(code, parse);
  const values = new Map();
  const topCount = new Map();
  for (const s of ast.body) {
    const decl = s.type === 'ExportNamedDeclaration' ? s.declaration : s;
    if (!decl) continue;
    if (decl.type === 'VariableDeclaration') {
      for (const d of decl.declarations) {
        if (d.id.type !== 'Identifier') continue;
        topCount.set(d.id.name, (topCount.get(d.id.name) ?? 0) + 1);
        const init = d.init;
        const num =
          init?.type === 'Literal' && typeof init.value === 'number'
            ? init.value
            : init?.type === 'UnaryExpression' &&
                init.operator === '-' &&
                init.argument.type === 'Literal' &&
                typeof init.argument.value === 'number'
              ? -init.argument.value
              : undefined;
        if (decl.kind === 'const' && num !== undefined && Number.isFinite(num) && isOwn(s.start))
          values.set(d.id.name, num);
      }
    } else if ((decl.type === 'FunctionDeclaration' || decl.type === 'ClassDeclaration') && decl.id) {
      topCount.set(decl.id.name, (topCount.get(decl.id.name) ?? 0) + 1);
    }
  }
  // Names bound anywhere below the top level rule their constant out.
  const bindNames = (p) => patternNames(p, (name) => values.delete(name));
  const nested = (node, top) => {
    if (Array.isArray(node)) {
      for (const n of node) nested(n, top);
      return;
    }
    if (node === null || typeof node !== 'object' || typeof node.type !== 'string') return;
    switch (node.type) {
      case 'VariableDeclaration':
        if (!top) for (const d of node.declarations) bindNames(d.id);
        break;
      case 'FunctionDeclaration':
      case 'ClassDeclaration':
        if (!top && node.id) values.delete(node.id.name);
        break;
      case 'FunctionExpression':
      case 'ClassExpression':
        if (node.id) values.delete(node.id.name);
        break;
      case 'CatchClause':
        bindNames(node.param);
        break;
      default:
        break;
    }
    if (node.params) for (const p of node.params) bindNames(p);
    const isTop = node.type === 'Program' || (top && node.type === 'ExportNamedDeclaration');
    for (const key in node) {
      const v = node[key];
      if (v !== null && typeof v === 'object') nested(v, isTop);
    }
  };
  nested(ast, false);
  for (const [name, n] of topCount) if (n !== 1) values.delete(name);

  const edits = [];
  // Parenthesized where the bare literal would read differently: `-1`, and `1.toString()`.
  const text = (v, parent, key) =>
    v < 0 || Object.is(v, -0) || (parent?.type === 'MemberExpression' && key === 'object')
      ? `(${v})`
      : String(v);
  const visit = (node, parent, key) => {
    if (Array.isArray(node)) {
      for (const n of node) visit(n, parent, key);
      return;
    }
    if (node === null || typeof node !== 'object' || typeof node.type !== 'string') return;
    if (node.type === 'Identifier' && values.has(node.name)) {
      const v = values.get(node.name);
      const skip =
        (parent?.type === 'MemberExpression' && key === 'property' && !parent.computed) ||
        ((parent?.type === 'Property' ||
          parent?.type === 'PropertyDefinition' ||
          parent?.type === 'MethodDefinition') &&
          key === 'key' &&
          !parent.computed) ||
        (parent?.type === 'VariableDeclarator' && key === 'id') ||
        parent?.type === 'LabeledStatement' ||
        parent?.type === 'BreakStatement' ||
        parent?.type === 'ContinueStatement' ||
        parent?.type === 'ExportSpecifier' ||
        parent?.type === 'ImportSpecifier' ||
        (parent?.type === 'AssignmentExpression' && key === 'left') ||
        parent?.type === 'UpdateExpression';
      if (!skip) {
        if (parent?.type === 'Property' && parent.shorthand)
          edits.push([node.start, node.end, `${node.name}: ${text(v, parent, key)}`]);
        else edits.push([node.start, node.end, text(v, parent, key)]);
      }
      return;
    }
    if (node.type === 'Property' && node.shorthand) {
      // key and value are the same identifier: edit once, through the value.
      visit(node.value, node, 'value');
      return;
    }
    for (const k in node) {
      const v = node[k];
      if (v !== null && typeof v === 'object') visit(v, node, k);
    }
  };
  visit(ast, undefined, undefined);
  return { code: applyEdits(code, edits), inlined: values.size, references: edits.length };
}
