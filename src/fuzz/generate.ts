/**
 * Structure-aware generation of fuzz cases with fast-check (so a failing case shrinks): GHCB pages
 * built around the known exit codes and random ones, valid bits right / missing / extra, usage and
 * version fields, scratch GPAs at the edges (GHCB page, shared-buffer bounds, slot edges, holes,
 * unmapped / truncated / userfault pages, u64 wrap), lengths around the 16-page limit, string-I/O
 * sizes including 0, MSR-protocol values, guests that scribble on their GHCB between exits, memslot
 * layouts, allocator faults (budget, Nth allocation), host actions at a step and VMM policies.
 */
import fc from 'fast-check';
import type { ProfileName } from '../scenario/schema.js';
import {
  GHCB_MSR_AP_RESET_HOLD_REQ,
  GHCB_MSR_CPUID_REQ,
  GHCB_MSR_HV_FT_REQ,
  GHCB_MSR_PREF_GPA_REQ,
  GHCB_MSR_PSC_REQ,
  GHCB_MSR_REG_GPA_REQ,
  GHCB_MSR_SEV_INFO_REQ,
  GHCB_MSR_TERM_REQ,
} from '../uapi/ghcb.js';
import {
  DEBUG_EXIT_FIRST,
  DEBUG_EXIT_LAST,
  FOREIGN_GPA,
  type FuzzCase,
  GHCB_GPA,
  HOLE_GPA,
  type HostActionSpec,
  LOW_SCRATCH_GPA,
  MMIO_GPA,
  PAGE,
  type PolicySpec,
  RAM_SIZE,
  type RawGhcbSpec,
  REGION_GPA,
  type RegionSpec,
  type StepEntry,
  type StepSpec,
} from './case.js';
import { EXIT } from './codes.js';

const U64_MAX = (1n << 64n) - 1n;

/** Options of {@link fuzzCaseArb}. */
export interface GenerateOptions {
  /** Profiles to draw from (default all three). */
  readonly profiles?: readonly ProfileName[];
  /** Most steps per case (default 64). */
  readonly maxSteps?: number;
}

const u64 = fc.bigInt({ min: 0n, max: U64_MAX });
const u32 = fc.nat({ max: 0xffff_ffff });
const pick = <T>(...xs: readonly T[]): fc.Arbitrary<T> => fc.constantFrom(...xs);
const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>): fc.WeightedArbitrary<T> => ({ weight, arbitrary });

/** Lengths around every edge KVM checks: 0, the 8-byte MMIO fragment, the shared buffer, 16 pages, wrap. */
const length = fc.oneof(
  w(12, pick(0n, 1n, 4n, 8n, 9n, 16n)),
  w(8, fc.bigInt({ min: 0n, max: 64n })),
  w(2, pick(2032n, 2033n, 4096n, 4097n)),
  w(1, pick(0x1_0000n - 1n, 0x1_0000n, 0x1_0001n)),
  w(1, fc.bigInt({ min: 0n, max: 0x1_1000n })),
  w(1, pick(0x7fff_ffffn, 0x8000_0000n, 0x1_0000_0000n, U64_MAX, U64_MAX - 0xfffn)),
  w(1, u64),
);

/** Scratch GPAs at the edges. */
const scratchGpa = fc.oneof(
  w(
    4,
    fc.nat({ max: 0x7f0 }).map((o) => BigInt(GHCB_GPA + 0x800 + o)),
  ),
  w(
    2,
    fc.nat({ max: 16 }).map((k) => BigInt(GHCB_GPA + 0xff0 - k)),
  ),
  w(
    2,
    pick(0n, BigInt(GHCB_GPA), BigInt(GHCB_GPA + 0x7f8), BigInt(GHCB_GPA + 0xff0), BigInt(GHCB_GPA + 0xff8)),
  ),
  w(
    4,
    fc.nat({ max: 0x3000 }).map((o) => BigInt(LOW_SCRATCH_GPA + o)),
  ),
  w(
    1,
    pick(8, 16, 0x1000, 0x10000).map((k) => BigInt(RAM_SIZE - k)),
  ),
  w(1, pick(BigInt(GHCB_GPA - 8), BigInt(HOLE_GPA), BigInt(MMIO_GPA))),
  w(
    4,
    fc.nat({ max: 0x12_000 }).map((o) => BigInt(REGION_GPA + o)),
  ),
  w(
    2,
    fc.tuple(pick(0x4000, 0x10000, 0x11000), fc.nat({ max: 64 })).map(([s, k]) => BigInt(REGION_GPA + s - k)),
  ),
  w(1, pick(U64_MAX - 7n, U64_MAX, 1n << 53n, 1n << 63n)),
  w(1, u64),
);

/** Exit codes: every code KVM knows (per spec table) and random ones. */
const KNOWN_CODES: readonly bigint[] = Object.values(EXIT).map(BigInt);
/** Codes after which the VMM stops the run whatever the kernel (kept rare, so cases run long). */
const STOPPING: ReadonlySet<bigint> = new Set(
  [EXIT.RDTSC, EXIT.TERM_REQUEST, EXIT.UNSUPPORTED_EVENT].map(BigInt),
);
const knownCode = fc.oneof(
  w(30, fc.constantFrom(...KNOWN_CODES.filter((k) => !STOPPING.has(k)))),
  w(1, fc.constantFrom(...STOPPING)),
);
const exitCode = fc.oneof(w(8, knownCode), w(1, u32.map(BigInt)), w(1, u64));

/** GHCB fields the generator fills, by Linux name. */
const FIELD_NAMES = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'cpl', 'xcr0', 'xss', 'sw_scratch'] as const;
/** Fields whose valid bit a hostile guest may clear (the three always-required ones included). */
const CLEARABLE = [
  'sw_exit_code',
  'sw_exit_info_1',
  'sw_exit_info_2',
  'sw_scratch',
  'rax',
  'rcx',
  'rdx',
  'cpl',
  'xcr0',
];

const smallValue = fc.oneof(w(3, fc.bigInt({ min: 0n, max: 0x20n })), w(1, u64));
const anyFields = fc.dictionary(fc.constantFrom(...FIELD_NAMES), smallValue, { maxKeys: 4 });

/** A port, moved off the debug-exit device (an OUT there would end the run). */
const port = fc
  .oneof(w(3, pick(0x80, 0x3f8, 0x70, 0x1234)), w(1, fc.nat({ max: 0xffff })))
  .map((p) => (p >= DEBUG_EXIT_FIRST && p <= DEBUG_EXIT_LAST ? p ^ 0x100 : p));

/** IOIO exit_info_1: port, size field (0-7), string, rep, direction. */
const ioioInfo1 = fc
  .record({
    port,
    size: fc.oneof(w(24, pick(1, 2, 4)), w(1, pick(0)), w(2, fc.nat({ max: 7 }))),
    str: fc.boolean(),
    rep: fc.boolean(),
    isIn: fc.boolean(),
  })
  .map(({ port: p, size, str, rep, isIn }) =>
    BigInt(((p << 16) | (size << 4) | (rep ? 8 : 0) | (str ? 4 : 0) | (isIn ? 1 : 0)) >>> 0),
  );

const mutations = fc.record({
  validSet: fc.oneof(w(6, fc.constant([] as string[])), w(1, fc.subarray([...CLEARABLE], { maxLength: 2 }))),
  validClear: fc.oneof(
    w(6, fc.constant([] as string[])),
    w(1, fc.subarray([...CLEARABLE], { maxLength: 2 })),
  ),
  usage: fc.oneof(w(12, fc.constant(0)), w(1, pick(1, 0xffff_ffff)), w(1, u32)),
  version: fc.oneof(w(8, fc.constant(undefined)), w(1, pick(0, 1, 2, 3, 0xffff))),
  ghcbMsr: fc.oneof(
    w(16, fc.constant(undefined)),
    w(
      1,
      pick(
        0n,
        BigInt(GHCB_GPA),
        BigInt(FOREIGN_GPA),
        BigInt(HOLE_GPA),
        BigInt(MMIO_GPA),
        BigInt(REGION_GPA),
        BigInt(REGION_GPA + 3 * PAGE),
        1n << 40n,
      ),
    ),
  ),
});

type Body = Pick<RawGhcbSpec, 'exitCode' | 'info1' | 'info2' | 'fields'>;

const mmioBody: fc.Arbitrary<Body> = fc
  .record({
    write: fc.boolean(),
    gpa: fc.oneof(
      w(4, fc.constant(BigInt(MMIO_GPA))),
      w(
        1,
        fc.nat({ max: 0xff8 }).map((o) => BigInt(MMIO_GPA + o)),
      ),
      w(1, u64),
    ),
    len: length,
    scratch: scratchGpa,
    extra: anyFields,
  })
  .map((r) => ({
    exitCode: BigInt(r.write ? EXIT.MMIO_WRITE : EXIT.MMIO_READ),
    info1: r.gpa,
    info2: r.len,
    fields: { ...r.extra, sw_scratch: r.scratch },
  }));

const ioioBody: fc.Arbitrary<Body> = fc
  .record({
    info1: ioioInfo1,
    count: fc.oneof(
      w(12, fc.bigInt({ min: 0n, max: 40n })),
      w(4, fc.bigInt({ min: 0n, max: 0x1_0001n })),
      w(1, length),
    ),
    scratch: scratchGpa,
    rax: smallValue,
    extra: anyFields,
  })
  .map((r) => ({
    exitCode: BigInt(EXIT.IOIO),
    info1: r.info1,
    info2: r.count,
    fields: { ...r.extra, sw_scratch: r.scratch, rax: r.rax },
  }));

/** A known event with its required fields (most of the time) and small infos. */
const eventBody: fc.Arbitrary<Body> = fc
  .record({
    code: knownCode,
    info1: fc.oneof(w(4, fc.bigInt({ min: 0n, max: 3n })), w(1, u64)),
    info2: fc.oneof(w(4, fc.bigInt({ min: 0n, max: 3n })), w(1, u64)),
    rax: fc.oneof(w(3, fc.bigInt({ min: 0n, max: 0x20n })), w(1, pick(0xdn, 0x8000_0000n)), w(1, u64)),
    rcx: fc.oneof(w(3, pick(0n, 0x10n, 0xc000_0080n, 0x1bn)), w(1, u32.map(BigInt))),
    extra: anyFields,
    full: fc.boolean(),
  })
  .map((r) => ({
    exitCode: r.code,
    info1: r.info1,
    info2: r.info2,
    fields: r.full
      ? { ...r.extra, rax: r.rax, rcx: r.rcx, rdx: 0n, cpl: 0n, xcr0: 1n }
      : { ...r.extra, rax: r.rax },
  }));

const randomBody: fc.Arbitrary<Body> = fc.record({ exitCode, info1: u64, info2: u64, fields: anyFields });

const rawStep: fc.Arbitrary<StepSpec> = fc
  .tuple(fc.oneof(w(4, eventBody), w(4, mmioBody), w(4, ioioBody), w(1, randomBody)), mutations)
  .map(([b, m]): StepSpec => ({ kind: 'raw', raw: { ...b, ...m } }));

const msrStep: fc.Arbitrary<StepSpec> = fc
  .tuple(
    fc.oneof(
      w(
        16,
        fc.constantFrom(
          GHCB_MSR_SEV_INFO_REQ,
          GHCB_MSR_CPUID_REQ,
          GHCB_MSR_AP_RESET_HOLD_REQ,
          GHCB_MSR_HV_FT_REQ,
        ),
      ),
      w(1, fc.constantFrom(GHCB_MSR_PREF_GPA_REQ, GHCB_MSR_REG_GPA_REQ, GHCB_MSR_PSC_REQ, GHCB_MSR_TERM_REQ)),
      w(3, fc.integer({ min: 1, max: 0xfff })),
    ),
    u64,
  )
  .map(([info, data]): StepSpec => ({ kind: 'msr', value: (data & ~0xfffn) | BigInt(info) }));

const cpuidStep: fc.Arbitrary<StepSpec> = fc
  .oneof(pick(0, 1, 7, 0xd, 0x8000_0000, 0x8000_001f), u32)
  .map((fn): StepSpec => ({ kind: 'cpuid', fn }));
const ioOutStep: fc.Arbitrary<StepSpec> = fc
  .tuple(pick(0x80, 0x3f8), fc.nat({ max: 0xff }))
  .map(([p, value]): StepSpec => ({ kind: 'io-out', port: p, value }));
/** Plain stores into the guest's own GHCB page: any offset, a few bytes. */
const scribbleStep: fc.Arbitrary<StepSpec> = fc
  .tuple(
    fc.oneof(pick(0x390, 0x3a8, 0x3f0, 0x800, 0xff8), fc.nat({ max: 0xff8 })),
    fc.uint8Array({ minLength: 1, maxLength: 8 }),
  )
  .map(([offset, bytes]): StepSpec => ({ kind: 'scribble', offset, bytes }));

const step = fc.oneof(w(12, rawStep), w(2, msrStep), w(1, cpuidStep), w(1, ioOutStep), w(1, scribbleStep));

const hostAction: fc.Arbitrary<HostActionSpec> = fc.oneof(
  fc.record({
    kind: fc.constant('unmap' as const),
    page: fc.nat({ max: 16 }),
    pages: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), pages: fc.nat({ max: 17 }) }),
  fc.record({ kind: fc.constant('populate' as const), page: fc.nat({ max: 16 }) }),
);

const stepEntry = fc.record({
  step,
  host: fc.oneof(
    w(12, fc.constant([] as HostActionSpec[])),
    w(1, fc.array(hostAction, { minLength: 1, maxLength: 2 })),
  ),
});

const region: fc.Arbitrary<RegionSpec | undefined> = fc.oneof(
  w(1, fc.constant(undefined)),
  w(
    4,
    fc.record({
      size: pick(0x4000, 0x10000, 0x11000),
      backing: pick('anonymous' as const, 'file' as const, 'lazy' as const),
      readonly: fc.oneof(w(5, fc.constant(false)), w(1, fc.constant(true))),
    }),
  ),
);

const retries = fc.nat({ max: 3 });
const policies: fc.Arbitrary<PolicySpec> = fc.record({
  enomem: fc.oneof(
    fc.constant({ action: 'stop' as const }),
    fc.record({ action: fc.constant('rerun' as const), maxRetries: fc.oneof(retries, pick(1000)) }),
    fc.record(
      { action: fc.constant('raise-budget' as const), maxRetries: retries, bytes: pick(1, 4096, 0x10000) },
      { requiredKeys: ['action', 'maxRetries'] },
    ),
  ),
  efault: fc.oneof(
    fc.constant({ action: 'stop' as const }),
    fc.record({ action: fc.constant('rerun' as const), maxRetries: fc.oneof(retries, pick(1000)) }),
    fc.record({ action: fc.constant('rerun' as const), maxRetries: pick(1000) }),
  ),
});

/**
 * Make host actions meaningful for the layout: none without a scratch region, truncate only on a
 * file, populate only where a lazy page is still missing, pages clamped to the region.
 */
function normalize(c: FuzzCase): FuzzCase {
  const r = c.region;
  const npages = r ? r.size / PAGE : 0;
  const populated = new Set<number>();
  const unmapped = new Set<number>();
  const steps: StepEntry[] = c.steps.map((e) => {
    if (!r) return e.host.length ? { step: e.step, host: [] } : e;
    const host: HostActionSpec[] = [];
    for (const a of e.host) {
      if (a.kind === 'unmap') {
        const page = a.page % npages;
        const pages = Math.min(a.pages, npages - page);
        for (let p = page; p < page + pages; p++) unmapped.add(p);
        host.push({ kind: 'unmap', page, pages });
      } else if (a.kind === 'truncate') {
        if (r.backing === 'file') host.push({ kind: 'truncate', pages: Math.min(a.pages, npages) });
      } else if (r.backing === 'lazy') {
        const page = a.page % npages;
        if (!populated.has(page) && !unmapped.has(page)) {
          populated.add(page);
          host.push({ kind: 'populate', page });
        }
      }
    }
    return { step: e.step, host };
  });
  return { ...c, steps };
}

/** The arbitrary of whole fuzz cases. */
export function fuzzCaseArb(opts: GenerateOptions = {}): fc.Arbitrary<FuzzCase> {
  const profiles = opts.profiles ?? (['prefix', 'seed', 'current'] as const);
  return fc
    .record({
      profile: fc.constantFrom(...profiles),
      v2: fc.boolean(),
      region,
      budget: fc.oneof(w(4, fc.constant(undefined)), w(1, pick(0, 8, 4096, 0x1_0000))),
      failNth: fc.oneof(
        w(3, fc.constant([] as number[])),
        w(1, fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: 3 })),
      ),
      policies,
      steps: fc.array(stepEntry, { minLength: 1, maxLength: opts.maxSteps ?? 64, size: 'max' }),
    })
    .map(({ v2, ...c }) =>
      normalize({
        ...c,
        ghcbVersion: v2 && c.profile === 'current' ? 2 : 1,
        // current refuses read-only memslots for VMs with protected state.
        region: c.region && c.profile === 'current' ? { ...c.region, readonly: false } : c.region,
      }),
    );
}
