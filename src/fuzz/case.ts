/**
 * A fuzz case: one machine (memslot layout, host allocator faults, VMM policies, kernel profile,
 * GHCB version) and one guest program of hostile steps, with the host actions the VMM performs
 * between them. Plain data, so a case prints, shrinks (fast-check) and turns into a scenario file
 * (`toScenarioDoc`) that `sevbox run` replays exactly: the fuzzer itself runs cases through that
 * same scenario form.
 */
import type { ProfileName, StepsScenario } from '../scenario/schema.js';
import type { Step } from '../scenario/steps.js';
import type { HostAction } from '../scenario/vmm-actions.js';
import type { RamRegionConfig } from '../vmm/types.js';

// ------------------------------------------------------------------------------------ the machine

/** Page size. */
export const PAGE = 0x1000;
/** Slot 0: 1 MiB of anonymous RAM at GPA 0; never unmapped. */
export const RAM_SIZE = 0x10_0000;
/** The GHCB page the guest registers. */
export const GHCB_GPA = 0x1000;
/**
 * A RAM page nobody writes on purpose: a GHCB MSR pointing here makes KVM map a page full of zeros
 * (a "foreign" GHCB). KVM's own writes keep it answering MISSING_INPUT (see oracle.ts).
 */
export const FOREIGN_GPA = 0x3000;
/** A scratch area in slot 0, outside the GHCB (bounce-buffer path). */
export const LOW_SCRATCH_GPA = 0x4000;
/** A guest-physical hole between slot 0 and the scratch region. */
export const HOLE_GPA = 0x18_0000;
/** Slot 1, the scratch region: optional, anonymous / file / lazy, maybe read-only; host faults land here. */
export const REGION_GPA = 0x20_0000;
/** Name of the file backing a `file` scratch region. */
export const REGION_FILE = 'scratch.img';
/** The MMIO register device (no memslot). */
export const MMIO_GPA = 0xfed0_0000;
/** Ports the VMM's debug-exit device claims (an OUT there ends the run); the generator avoids them. */
export const DEBUG_EXIT_FIRST = 0x501;
export const DEBUG_EXIT_LAST = 0x502;

/** The optional second RAM region. */
export interface RegionSpec {
  readonly size: number;
  readonly backing: 'anonymous' | 'file' | 'lazy';
  readonly readonly: boolean;
}

/** A host action before a step (pages of the scratch region only). */
export type HostActionSpec =
  | { readonly kind: 'unmap'; readonly page: number; readonly pages: number }
  | { readonly kind: 'truncate'; readonly pages: number }
  | { readonly kind: 'populate'; readonly page: number };

/** A hostile GHCB page: what the `raw` scenario step builds. */
export interface RawGhcbSpec {
  readonly exitCode: bigint;
  readonly info1: bigint;
  readonly info2: bigint;
  /** Save-area fields by Linux name (each marked valid). */
  readonly fields: Readonly<Record<string, bigint>>;
  /** Valid bits set / cleared after the fields (by field name). */
  readonly validSet: readonly string[];
  readonly validClear: readonly string[];
  readonly usage: number;
  /** protocol_version; undefined = the VM's GHCB version. */
  readonly version: number | undefined;
  /** The GHCB MSR at VMGEXIT (page aligned); undefined = the GHCB's own GPA. */
  readonly ghcbMsr: bigint | undefined;
}

/** One guest step. */
export type StepSpec =
  | { readonly kind: 'raw'; readonly raw: RawGhcbSpec }
  /** A GHCB MSR protocol request (GHCBInfo, bits 11:0, non-zero). */
  | { readonly kind: 'msr'; readonly value: bigint }
  /** Well-formed requests through the guest's GHCB client. */
  | { readonly kind: 'cpuid'; readonly fn: number }
  | { readonly kind: 'io-out'; readonly port: number; readonly value: number }
  /** The guest rewrites part of its GHCB page between exits (plain stores). */
  | { readonly kind: 'scribble'; readonly offset: number; readonly bytes: Uint8Array };

/** A step and the host actions the VMM performs just before it. */
export interface StepEntry {
  readonly step: StepSpec;
  readonly host: readonly HostActionSpec[];
}

/** The VMM's policies for the seed's errors. */
export interface PolicySpec {
  readonly enomem:
    | { readonly action: 'stop' }
    | { readonly action: 'rerun'; readonly maxRetries: number }
    | { readonly action: 'raise-budget'; readonly maxRetries: number; readonly bytes?: number };
  readonly efault: { readonly action: 'stop' } | { readonly action: 'rerun'; readonly maxRetries: number };
}

/** A whole fuzz case. */
export interface FuzzCase {
  /** The kernel it runs on; a `seed` case also runs on `prefix` for the differential. */
  readonly profile: ProfileName;
  readonly ghcbVersion: 1 | 2;
  readonly region: RegionSpec | undefined;
  /** Allocator budget in bytes (undefined = unlimited). */
  readonly budget: number | undefined;
  /** Fail these allocation attempts (1-based, attempts of non-zero size). */
  readonly failNth: readonly number[];
  readonly policies: PolicySpec;
  readonly steps: readonly StepEntry[];
}

// ------------------------------------------------------------------------- as a scenario document

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
const hexBytes = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

function stepDoc(s: StepSpec): Record<string, unknown> {
  switch (s.kind) {
    case 'raw': {
      const r = s.raw;
      const fields = Object.fromEntries(Object.entries(r.fields).map(([k, v]) => [k, hex(v)]));
      const raw: Record<string, unknown> = {
        exitCode: hex(r.exitCode),
        info1: hex(r.info1),
        info2: hex(r.info2),
      };
      if (Object.keys(fields).length) raw['fields'] = fields;
      if (r.validSet.length || r.validClear.length) {
        raw['valid'] = {
          ...(r.validSet.length ? { set: [...r.validSet] } : {}),
          ...(r.validClear.length ? { clear: [...r.validClear] } : {}),
        };
      }
      if (r.usage !== 0) raw['usage'] = hex(r.usage);
      if (r.version !== undefined) raw['version'] = r.version;
      if (r.ghcbMsr !== undefined) raw['ghcbMsr'] = hex(r.ghcbMsr);
      return { raw };
    }
    case 'msr':
      return { msr: { raw: hex(s.value) } };
    case 'cpuid':
      return { cpuid: hex(s.fn) };
    case 'io-out':
      return { 'io-out': { port: hex(s.port), size: 1, value: hex(s.value) } };
    case 'scribble':
      return { 'write-memory': { gpa: hex(GHCB_GPA + s.offset), hex: hexBytes(s.bytes) } };
    default: {
      const never: never = s;
      return never;
    }
  }
}

function hostDoc(a: HostActionSpec): Record<string, unknown> {
  switch (a.kind) {
    case 'unmap':
      return { unmap: { gpa: hex(REGION_GPA + a.page * PAGE), size: hex(a.pages * PAGE) } };
    case 'truncate':
      return { truncate: { file: REGION_FILE, size: hex(a.pages * PAGE) } };
    case 'populate':
      return { populate: { gpa: hex(REGION_GPA + a.page * PAGE), hex: '00' } };
    default: {
      const never: never = a;
      return never;
    }
  }
}

/** Per-step expectations to put into the document (outcome only, in the scenario's words). */
export type StepExpectDoc = Readonly<Record<string, unknown>> | undefined;

/** Options of {@link toScenarioDoc}. */
export interface ScenarioDocOptions {
  readonly name?: string;
  readonly description?: string;
  /** Run under this profile instead of the case's (e.g. `prefix` for the differential's other half). */
  readonly profile?: ProfileName;
  /** Expectations per step index. */
  readonly expect?: readonly StepExpectDoc[];
  /** Run-level expectations. */
  readonly runExpect?: Readonly<Record<string, unknown>>;
  /** Upper bound on KVM_RUN calls. */
  readonly maxKvmRuns?: number;
}

/** Default KVM_RUN budget of a fuzz run: far above what any case needs, so `limit` means "did not terminate". */
export const FUZZ_MAX_KVM_RUNS = 1_000_000;
/**
 * How fuzz machines answer an AP reset hold: a SIPI from the VMM, which gives them an in-kernel
 * irqchip (src/scenario/run.ts), so the hold waits in KVM instead of exiting to userspace.
 */
export const FUZZ_AP_RESET_HOLD = 'sipi' as const;

/**
 * The case as a scenario document (the YAML/JSON input form `scenarioSchema` parses): what the
 * fuzzer runs and what a reproducer file contains.
 */
export function toScenarioDoc(c: FuzzCase, opts: ScenarioDocOptions = {}): Record<string, unknown> {
  const ram: Record<string, unknown>[] = [{ name: 'ram', gpa: 0, size: hex(RAM_SIZE) }];
  if (c.region) {
    ram.push({
      name: 'region',
      gpa: hex(REGION_GPA),
      size: hex(c.region.size),
      backing: c.region.backing,
      ...(c.region.backing === 'file' ? { file: REGION_FILE } : {}),
      ...(c.region.readonly ? { readonly: true } : {}),
    });
  }
  const host: Record<string, unknown> = {};
  if (c.budget !== undefined) host['budget'] = c.budget;
  if (c.failNth.length) host['allocFaults'] = { failNth: [...c.failNth] };
  const policy = (p: PolicySpec['enomem'] | PolicySpec['efault']): unknown =>
    p.action === 'stop' ? 'stop' : { ...p };
  const doc: Record<string, unknown> = {
    name: opts.name ?? 'fuzz case',
    ...(opts.description ? { description: opts.description } : {}),
    profile: opts.profile ?? c.profile,
    machine: {
      ram,
      mmio: [{ name: 'device', kind: 'register', gpa: hex(MMIO_GPA), size: hex(PAGE), value: '0xdeadbeef' }],
      sev: { ghcbVersion: c.ghcbVersion },
    },
    host,
    policies: { enomem: policy(c.policies.enomem), efault: policy(c.policies.efault) },
    maxKvmRuns: opts.maxKvmRuns ?? FUZZ_MAX_KVM_RUNS,
    apResetHold: FUZZ_AP_RESET_HOLD,
    guest: {
      ghcb: hex(GHCB_GPA),
      steps: c.steps.map((e, i) => {
        const d = stepDoc(e.step);
        if (e.host.length) d['host'] = e.host.map(hostDoc);
        const x = opts.expect?.[i];
        if (x) d['expect'] = x;
        return d;
      }),
    },
  };
  if (opts.runExpect) doc['expect'] = opts.runExpect;
  return doc;
}

// ----------------------------------------------------------------- as a parsed scenario, directly

function stepOf(s: StepSpec): Step {
  switch (s.kind) {
    case 'raw': {
      const r = s.raw;
      const args: Extract<Step, { verb: 'raw' }>['args'] = {
        exitCode: r.exitCode,
        info1: r.info1,
        info2: r.info2,
        ...(Object.keys(r.fields).length ? { fields: { ...r.fields } } : {}),
        ...(r.validSet.length || r.validClear.length
          ? {
              valid: {
                ...(r.validSet.length ? { set: [...r.validSet] } : {}),
                ...(r.validClear.length ? { clear: [...r.validClear] } : {}),
              },
            }
          : {}),
        ...(r.usage !== 0 ? { usage: r.usage } : {}),
        ...(r.version !== undefined ? { version: r.version } : {}),
        ...(r.ghcbMsr !== undefined ? { ghcbMsr: r.ghcbMsr } : {}),
      };
      return { verb: 'raw', args };
    }
    case 'msr':
      return { verb: 'msr', args: { kind: 'raw', value: s.value } };
    case 'cpuid':
      return { verb: 'cpuid', args: { fn: s.fn, index: 0, xcr0: 1n } };
    case 'io-out':
      return { verb: 'io-out', args: { port: s.port, size: 1, value: s.value } };
    case 'scribble':
      return { verb: 'write-memory', args: { gpa: GHCB_GPA + s.offset, hex: s.bytes } };
    default: {
      const never: never = s;
      return never;
    }
  }
}

function hostOf(a: HostActionSpec): HostAction {
  switch (a.kind) {
    case 'unmap':
      return { key: 'unmap', value: { gpa: REGION_GPA + a.page * PAGE, size: a.pages * PAGE } };
    case 'truncate':
      return { key: 'truncate', value: { file: REGION_FILE, size: a.pages * PAGE } };
    case 'populate':
      return { key: 'populate', value: { gpa: REGION_GPA + a.page * PAGE, hex: new Uint8Array(1) } };
    default: {
      const never: never = a;
      return never;
    }
  }
}

/**
 * The same scenario `scenarioSchema.parse(toScenarioDoc(c))` gives, built without the parser (the
 * campaign's hot path; test/fuzz checks the two agree on generated cases).
 */
export function toScenario(c: FuzzCase): StepsScenario {
  const ram: RamRegionConfig[] = [{ name: 'ram', gpa: 0, size: RAM_SIZE }];
  if (c.region) {
    ram.push({
      name: 'region',
      gpa: REGION_GPA,
      size: c.region.size,
      backing: c.region.backing,
      ...(c.region.backing === 'file' ? { file: REGION_FILE } : {}),
      ...(c.region.readonly ? { readonly: true } : {}),
    });
  }
  const steps = c.steps.map((e): Step => {
    const st = stepOf(e.step);
    return e.host.length ? { ...st, host: e.host.map(hostOf) } : st;
  });
  return {
    name: 'fuzz case',
    profile: c.profile,
    machine: {
      ram,
      mmio: [{ name: 'device', kind: 'register', gpa: MMIO_GPA, size: PAGE, value: 0xdeadbeefn }],
      vcpus: 1,
      sev: { ghcbVersion: c.ghcbVersion },
    },
    host: {
      ...(c.budget !== undefined ? { budget: c.budget } : {}),
      ...(c.failNth.length ? { allocFaults: { failNth: [...c.failNth] } } : {}),
    },
    policies: {
      enomem: c.policies.enomem.action === 'stop' ? { action: 'stop' } : { ...c.policies.enomem },
      efault: c.policies.efault.action === 'stop' ? { action: 'stop' } : { ...c.policies.efault },
    },
    maxKvmRuns: FUZZ_MAX_KVM_RUNS,
    apResetHold: FUZZ_AP_RESET_HOLD,
    guest: {
      vcpus: [{ ghcb: GHCB_GPA, register: true, backupGhcb: false, steps }],
      schedule: [],
      single: true,
    },
    vmm: [],
    expect: {},
  };
}
