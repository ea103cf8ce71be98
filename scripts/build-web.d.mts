/** Types of scripts/build-web.mjs, for the tests and the CLI. */
export const webBuildOptions: import('esbuild').BuildOptions & { write: false };
/** The explorer's script and stylesheet, bundled in memory. */
export function bundleWeb(): Promise<{ js: string; css: string }>;
