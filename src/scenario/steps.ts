/**
 * The guest program of a scenario, one step at a time: the step verbs and their arguments, what a
 * step may expect (what the guest saw, and what KVM did with its VMGEXIT), and the host actions the
 * VMM performs just before a step runs.
 */
import { z } from 'zod';
import type { Scratch } from '../guest/ghcb-client.js';
import { GHCB_FIELDS } from '../uapi/ghcb.js';
import { exitExpect } from './exits.js';
import {
  byShape,
  errno,
  exitReason,
  ghcbError,
  gpa,
  gpa64,
  hexBytes,
  ioSize,
  keyed,
  parseInto,
  u64,
  uint,
  vector,
} from './values.js';
import { type HostAction, hostAction } from './vmm-actions.js';

const noArgs = z
  .strictObject({})
  .nullish()
  .transform(() => ({}));

const scratchGpa = gpa64('a scratch area: "ghcb", "ghcb+<offset>" or a guest physical address');

/**
 * Where a request's scratch area is: "ghcb" (the start of the shared buffer), "ghcb+0x10" (an
 * offset into it), or a guest physical address outside the GHCB page: any u64, as a bigint, put in
 * sw_scratch as it is (the guest stores its data there only where its own stores reach).
 */
export const scratch = z
  .unknown()
  .optional()
  .transform((v, ctx): Scratch => {
    if (v === undefined || v === 'ghcb') return { in: 'ghcb' };
    if (typeof v === 'string') {
      const m = /^ghcb\s*\+\s*(0x[0-9a-f]+|[0-9]+)$/i.exec(v.trim());
      if (m) return { in: 'ghcb', offset: Number(m[1]) };
    }
    const r = parseInto(ctx, [], scratchGpa, v);
    return r.ok ? { gpa: r.value } : z.NEVER;
  });

const REGS = ['eax', 'ebx', 'ecx', 'edx'] as const;
const cpuReg = z.unknown().transform((v, ctx): 0 | 1 | 2 | 3 => {
  const i = typeof v === 'string' ? REGS.indexOf(v.toLowerCase() as (typeof REGS)[number]) : -1;
  if (i >= 0) return i as 0 | 1 | 2 | 3;
  if (v === 0 || v === 1 || v === 2 || v === 3) return v;
  ctx.addIssue({
    code: 'custom',
    message: `expected a register: eax, ebx, ecx or edx, got ${JSON.stringify(v)}`,
  });
  return z.NEVER;
});

/** An MSR-protocol request (GHCB MSR, no GHCB page). */
const msrRequest = byShape(
  z.enum(['sev-info', 'hv-features', 'ap-reset-hold']).transform((kind) => ({ kind })),
  keyed(
    {
      cpuid: z.strictObject({ fn: uint(0xffff_ffff), reg: cpuReg }),
      terminate: z.strictObject({ set: uint(0xf), code: uint(0xff) }),
      raw: u64,
    },
    'an MSR-protocol request',
  ).transform((k) =>
    k.key === 'cpuid'
      ? { kind: 'cpuid' as const, ...k.value }
      : k.key === 'terminate'
        ? { kind: 'terminate' as const, ...k.value }
        : { kind: 'raw' as const, value: k.value },
  ),
  'an MSR-protocol request: sev-info, hv-features, ap-reset-hold, { cpuid: { fn, reg } }, { terminate: { set, code } } or { raw: <value> }',
);

const SAVE_AREA_FIELDS = GHCB_FIELDS.filter((f) => f.validBit !== undefined).map((f) => f.name);
const fieldName = z.enum(SAVE_AREA_FIELDS as [string, ...string[]], {
  error: () => `expected a GHCB save-area field name (${SAVE_AREA_FIELDS.join(', ')})`,
});

/** A hostile request: the GHCB page built field by field. */
const rawRequest = z.strictObject({
  exitCode: u64,
  info1: u64.optional(),
  info2: u64.optional(),
  /** Save-area fields by Linux name, each marked valid. */
  fields: z.partialRecord(fieldName, u64).optional(),
  /** Valid-bitmap overrides after the fields are set: bits to set or clear, by field name. */
  valid: z
    .strictObject({ set: z.array(fieldName).optional(), clear: z.array(fieldName).optional() })
    .optional(),
  /** Raw bytes put into the page at an offset (e.g. scratch data in the shared buffer). */
  bytes: z.array(z.strictObject({ offset: uint(0xfff), hex: hexBytes })).optional(),
  usage: uint(0xffff_ffff).optional(),
  version: uint(0xffff).optional(),
  /** The GHCB MSR value at VMGEXIT instead of the GHCB's GPA. */
  ghcbMsr: u64.optional(),
});

/** Every step verb and the schema of its argument. */
export const VERBS = {
  msr: msrRequest,
  cpuid: byShape(
    uint(0xffff_ffff).transform((fn) => ({ fn, index: 0, xcr0: 1n })),
    z.strictObject({
      fn: uint(0xffff_ffff),
      index: uint(0xffff_ffff).default(0),
      // What the guest's XCR0 is when it asks for leaf 0xD (Linux sends xgetbv(0)).
      xcr0: u64.default(1n),
    }),
    'a CPUID leaf, or { fn, index, xcr0 }',
  ),
  'io-out': z.strictObject({ port: uint(0xffff), size: ioSize, value: uint(0xffff_ffff) }),
  'io-in': z.strictObject({ port: uint(0xffff), size: ioSize }),
  outs: z.strictObject({ port: uint(0xffff), size: ioSize, hex: hexBytes, scratch }),
  ins: z.strictObject({ port: uint(0xffff), size: ioSize, count: uint(), scratch }),
  'mmio-read': z.strictObject({ gpa, len: uint(), scratch }),
  'mmio-write': z.strictObject({ gpa, hex: hexBytes, scratch }),
  rdmsr: byShape(
    uint(0xffff_ffff).transform((index) => ({ index })),
    z.strictObject({ index: uint(0xffff_ffff) }),
    'an MSR index, or { index }',
  ),
  wrmsr: z.strictObject({ index: uint(0xffff_ffff), value: u64 }),
  rdtsc: noArgs,
  rdtscp: noArgs,
  rdpmc: z.strictObject({ counter: uint(0xffff_ffff) }),
  vmmcall: z.strictObject({ nr: u64, args: z.array(u64).max(4).default([]), cpl: uint(3).default(0) }),
  invd: noArgs,
  wbinvd: noArgs,
  monitor: z
    .strictObject({ rax: u64.optional(), rcx: u64.optional(), rdx: u64.optional() })
    .nullish()
    .transform((o) => ({ rax: o?.rax ?? 0n, rcx: o?.rcx ?? 0n, rdx: o?.rdx ?? 0n })),
  mwait: z
    .strictObject({ rax: u64.optional(), rcx: u64.optional() })
    .nullish()
    .transform((o) => ({ rax: o?.rax ?? 0n, rcx: o?.rcx ?? 0n })),
  'dr7-read': noArgs,
  'dr7-write': z.strictObject({ value: u64 }),
  'nmi-complete': noArgs,
  'ap-hlt-loop': noArgs,
  'ap-jump-table': byShape(
    z.literal('get').transform(() => ({ op: 'get' as const })),
    z.strictObject({ set: u64 }).transform((o) => ({ op: 'set' as const, gpa: o.set })),
    '"get" or { set: <gpa> }',
  ),
  'hv-features': noArgs,
  'term-request': z.strictObject({ set: uint(0xf), code: uint(0xff) }),
  unsupported: z
    .strictObject({ info1: u64.optional(), info2: u64.optional() })
    .nullish()
    .transform((o) => ({ info1: o?.info1 ?? 0n, info2: o?.info2 ?? 0n })),
  raw: rawRequest,
  /** The guest stores bytes into its memory (plain stores; MMIO goes through #VC). */
  'write-memory': z.strictObject({ gpa, hex: hexBytes }),
  /** The guest prints text on the serial port (one OUT per byte to 0x3f8). */
  print: z.string({ error: () => 'expected the text to print' }),
} as const;

/** A step verb. */
export type Verb = keyof typeof VERBS;
/** The verbs, in the order the schema lists them. */
export const VERB_NAMES = Object.keys(VERBS) as Verb[];
/** Verbs that only make sense for an SEV-ES guest (they talk GHCB). */
export const SEV_ONLY_VERBS: ReadonlySet<Verb> = new Set<Verb>([
  'msr',
  'outs',
  'ins',
  'rdtsc',
  'rdtscp',
  'rdpmc',
  'invd',
  'wbinvd',
  'monitor',
  'mwait',
  'dr7-read',
  'dr7-write',
  'nmi-complete',
  'ap-hlt-loop',
  'ap-jump-table',
  'hv-features',
  'term-request',
  'unsupported',
  'raw',
]);

/** What the guest saw: the GHCB answer (sw_exit_info_1/2), classified as a guest kernel does. */
const resultExpect = byShape(
  z.enum(['ok', 'vmm-error', 'exception', 'reflected']).transform((kind) => ({ kind })),
  keyed({ exception: vector, reflected: ghcbError }, 'a guest result').transform((k) =>
    k.key === 'exception'
      ? { kind: 'exception' as const, vector: k.value }
      : { kind: 'reflected' as const, error: k.value },
  ),
  'a guest result: ok, vmm-error, exception, reflected, { exception: <vector> } or { reflected: <GHCB error> }',
);
/** An expected guest result. */
export type ResultExpect = z.output<typeof resultExpect>;

/** What KVM did with the step's VMGEXIT(s), from the trace. */
export const outcomeExpect = byShape(
  z
    .enum(['handled', 'ignored', 'reflected', 'userspace', 'kvm-error', 'kernel-oops', 'none'])
    .transform((kind) => ({ kind })),
  keyed(
    { reflected: ghcbError, userspace: z.array(exitReason).min(1), 'kvm-error': errno },
    'a KVM outcome',
  ).transform((k) =>
    k.key === 'reflected'
      ? { kind: 'reflected' as const, error: k.value }
      : k.key === 'userspace'
        ? { kind: 'userspace' as const, reasons: k.value }
        : { kind: 'kvm-error' as const, errno: k.value },
  ),
  'a KVM outcome: handled, ignored, reflected, userspace, kvm-error, kernel-oops, none, { reflected: <GHCB error> }, { userspace: [<exit reasons>] } or { kvm-error: <errno> }',
);
/** An expected KVM outcome. */
export type OutcomeExpect = z.output<typeof outcomeExpect>;

/** Per-step expectations: the guest's result and values, and KVM's outcome. */
export const stepExpect = z.strictObject({
  result: resultExpect.optional(),
  outcome: outcomeExpect.optional(),
  eax: u64.optional(),
  ebx: u64.optional(),
  ecx: u64.optional(),
  edx: u64.optional(),
  /** The value the request returned (IN, RDMSR, RDTSC, DR7, VMMCALL, jump table, MSR-protocol data); "none" when it gave none. */
  value: z
    .unknown()
    .transform((v, ctx): bigint | 'none' => {
      if (v === 'none') return 'none';
      const r = parseInto(ctx, [], u64, v);
      return r.ok ? r.value : z.NEVER;
    })
    .optional(),
  /** RDTSCP's TSC_AUX. */
  aux: u64.optional(),
  /** The raw GHCB MSR value after an MSR-protocol request. */
  response: u64.optional(),
  /** SEV_INFO: max/min GHCB version and C-bit position. */
  max: uint().optional(),
  min: uint().optional(),
  cbit: uint().optional(),
  /** The bytes read (MMIO read, INS). */
  data: hexBytes.optional(),
  /** The result registers came back marked valid. */
  regsValid: z.boolean().optional(),
  /** AP_HLT_LOOP: a SIPI woke the vCPU. */
  woken: z.boolean().optional(),
  /** The KVM_RUNs that returned while the vCPU was in this step, in order (exits.ts). */
  exits: z.array(exitExpect).optional(),
});
/** Step expectations, parsed. */
export type StepExpect = z.output<typeof stepExpect>;

/** One step of the guest program. */
export type Step = {
  [V in Verb]: {
    readonly verb: V;
    readonly args: z.output<(typeof VERBS)[V]>;
    readonly expect?: StepExpect;
    readonly host?: readonly HostAction[];
    /** A label for reports. */
    readonly name?: string;
  };
}[Verb];

const STEP_KEYS = new Set(['expect', 'host', 'name']);

/**
 * A step: an object with exactly one verb key (plus optional `expect`, `host`, `name`), or a bare
 * verb for verbs without arguments (`- rdtsc`).
 */
export const step = z.unknown().transform((raw, ctx): Step => {
  const obj: Record<string, unknown> | undefined =
    typeof raw === 'string'
      ? { [raw]: null }
      : raw !== null && typeof raw === 'object' && !Array.isArray(raw)
        ? (raw as Record<string, unknown>)
        : undefined;
  if (!obj) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a step: an object with one verb (${VERB_NAMES.join(', ')})`,
    });
    return z.NEVER;
  }
  const verbs = Object.keys(obj).filter((k) => !STEP_KEYS.has(k));
  const unknown = verbs.filter((k) => !(k in VERBS));
  if (unknown.length > 0 || verbs.length !== 1) {
    const what =
      unknown.length > 0
        ? `unknown step verb ${unknown.map((u) => `"${u}"`).join(', ')}`
        : verbs.length === 0
          ? 'no step verb'
          : `more than one step verb (${verbs.join(', ')})`;
    ctx.addIssue({
      code: 'custom',
      message: `${what}; expected exactly one of ${VERB_NAMES.join(', ')}`,
      path: unknown.length === 1 && typeof raw !== 'string' ? [unknown[0]!] : [],
    });
    return z.NEVER;
  }
  const verb = verbs[0] as Verb;
  const args = parseInto(ctx, [verb], VERBS[verb], obj[verb]);
  const expect =
    obj['expect'] === undefined ? undefined : parseInto(ctx, ['expect'], stepExpect, obj['expect']);
  const host =
    obj['host'] === undefined ? undefined : parseInto(ctx, ['host'], z.array(hostAction), obj['host']);
  const name = obj['name'] === undefined ? undefined : parseInto(ctx, ['name'], z.string(), obj['name']);
  if (!args.ok || expect?.ok === false || host?.ok === false || name?.ok === false) return z.NEVER;
  return {
    verb,
    args: args.value,
    ...(expect?.ok ? { expect: expect.value } : {}),
    ...(host?.ok ? { host: host.value } : {}),
    ...(name?.ok ? { name: name.value } : {}),
  } as Step;
});
