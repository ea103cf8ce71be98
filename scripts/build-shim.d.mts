/** Types of scripts/build-shim.mjs, for the tests. */
export type ShimBuild =
  | { ok: true; path: string; built: boolean; warnings?: string }
  | { ok: false; missing: boolean; reason: string };

export const SHIM_DIR: string;
export const SHIM_SOURCE: string;
export const SHIM_LIBRARY: string;
export function shimCommand(output?: string, source?: string): string[];
export function hasGcc(): boolean;
export function buildShim(options?: { force?: boolean; output?: string }): ShimBuild;
export const BENCH_CLIENT: string;
export function buildBenchClient():
  | { ok: true; path: string }
  | { ok: false; missing: boolean; reason: string };
