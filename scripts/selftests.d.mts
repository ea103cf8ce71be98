/** Types of scripts/selftests.mjs, for the tests. */
export type Result = 'pass' | 'fail' | 'skip';
/** A KVM to run the tests under: the machine's, or sevbox through the /dev/kvm shim. */
export type Environment =
  | { name: 'real' }
  | { name: 'sevbox'; preload?: string; socket?: string; profile?: string };
export type Prepared =
  | { ok: true; env: Record<string, string>; serve?: { profile: string } }
  | { ok: false; cell: string };
export interface Build {
  binary: string;
  cached: boolean;
  ms: number;
  error?: string;
}
export interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  ms: number;
  output: string;
}
export type Outcome =
  | { env: string; ran: false; cell: string }
  | {
      env: string;
      ran: true;
      result: Result;
      note: string;
      status: number | null;
      signal: NodeJS.Signals | null;
      ms: number;
      log: string;
    };
export interface Totals {
  pass: number;
  fail: number;
  xfail: number;
  xpass: number;
  skip: number;
  error: number;
}

export const VENDOR: string;
export const DEFAULT_CACHE: string;
export const DEFAULT_TESTS: string[];
export const DEFAULT_TIMEOUT_S: number;
export const DEFAULT_SHIM: string;
export function startServer(
  socket: string,
  options?: { profile?: string; timeoutMs?: number; args?: string[] },
): Promise<{ stop(): Promise<{ status: number | null; log: string }> }>;
export const ENVIRONMENTS: (Environment & { column: string })[];
export function hasTool(tool: string): boolean;
export function buildBlocker(vendor?: string): string | null;
export function ensureSource(cache: string, vendor?: string): string;
export function binaryOf(cache: string, test: string): string;
export function buildTest(
  test: string,
  options?: { cache?: string; vendor?: string; rebuild?: boolean },
): Build;
export function prepareEnvironment(env: Environment, options?: { kvmDevice?: string }): Prepared;
export function runTest(
  binary: string,
  options: { extraEnv?: Record<string, string>; timeoutMs?: number; log: string },
): Promise<Run>;
export function classify(run: {
  status: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  output: string;
  timeoutMs?: number;
}): { result: Result; note: string };
export function parseTotals(output: string): Totals | null;
export function cellOf(outcome: Outcome): string;
export function formatTable(
  rows: { test: string; cells: string[]; note: string }[],
  columns?: string[],
): string;
export function noteOf(build: Build, outcomes: Outcome[]): string;
export function runSelftests(
  tests: string[],
  options: {
    cache: string;
    vendor: string;
    rebuild: boolean;
    timeoutMs: number;
    environments: Environment[];
    onRecord?: (record: { test: string; build: Build; outcomes: Outcome[]; note: string }) => void;
  },
): Promise<{ test: string; build: Build; outcomes: Outcome[]; note: string }[]>;
