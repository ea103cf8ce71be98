/** Types of scripts/bundle-transforms.mjs, for the tests. */
type Parse = typeof import('acorn').parse;
export function restoreConst(code: string, parse: Parse): { code: string; converted: number };
export function inlineConstants(
  code: string,
  parse: Parse,
): { code: string; inlined: number; references: number };
