/**
 * The schema of a scenario file: the machine, host faults, the VMM's policies, the guest program
 * (see steps.ts) and what the run must end with. Parsing gives plain data in the VMM's own
 * vocabulary (MachineConfig pieces, Policies), numbers as numbers and u64 values as bigints.
 */
import { z } from 'zod';
import { KVM_REGS_OFFSETS } from '../uapi/regs.js';
import { RESOLVER_NAMES } from '../vmm/resolvers.js';
import type {
  EfaultPolicy,
  EnomemPolicy,
  MmioRegionConfig,
  RamRegionConfig,
  ResolverName,
  SevboxCapabilityName,
} from '../vmm/types.js';
import { DEFAULT_MAX_KVM_RUNS } from '../vmm/vmm.js';
import { exitExpect } from './exits.js';
import { outcomeExpect, step } from './steps.js';
import { byShape, errno, gpa, hexBytes, parseInto, u64, uint } from './values.js';
import { hostAction, vmmEntry } from './vmm-actions.js';

/** The kernel profiles a scenario can run under. */
export const PROFILE_NAMES = ['prefix', 'seed', 'current'] as const;
const profile = z.enum(PROFILE_NAMES, {
  error: () => `expected a kernel profile: ${PROFILE_NAMES.join(', ')}`,
});

const ramRegion = z.strictObject({
  name: z.string().optional(),
  gpa,
  size: uint(),
  backing: z
    .enum(['anonymous', 'file', 'lazy'], { error: () => 'expected a backing: anonymous, file or lazy' })
    .optional(),
  file: z.string().optional(),
  readonly: z.boolean().optional(),
  logDirty: z.boolean().optional(),
  /** lazy regions: the post-copy source image the populate-missing resolver fills pages from. */
  source: z
    .strictObject({
      fill: uint(0xff, 'a byte').optional(),
      bytes: z.array(z.strictObject({ offset: uint(), hex: hexBytes })).optional(),
    })
    .optional(),
}) satisfies z.ZodType<RamRegionConfig>;

const mmioRegion = z.strictObject({
  name: z.string().optional(),
  kind: z.enum(['register', 'ram-window'], {
    error: () => 'expected an MMIO device kind: register or ram-window',
  }),
  gpa,
  size: uint(),
  value: u64.optional(),
}) satisfies z.ZodType<MmioRegionConfig>;

/** The sevbox capabilities a scenario can enable (machine.sev.capabilities). */
export const SEVBOX_CAPABILITY_NAMES = [
  'vmgexit-fault-info',
  'vmgexit-restart',
] as const satisfies readonly SevboxCapabilityName[];

/** One MiB of anonymous RAM at GPA 0: the machine's RAM when a scenario does not list any. */
export const DEFAULT_RAM: readonly RamRegionConfig[] = [{ name: 'ram', gpa: 0, size: 0x10_0000 }];

const ghcbVersion = uint(2, 'a GHCB protocol version')
  .refine((v) => v >= 1, 'expected GHCB protocol version 1 or 2')
  .transform((v) => v as 1 | 2);

const machine = z.strictObject({
  ram: z
    .array(ramRegion)
    .min(1)
    .default([...DEFAULT_RAM]),
  mmio: z.array(mmioRegion).default([]),
  serial: z.boolean().optional(),
  debugExitPort: z.union([uint(0xffff), z.literal(false)]).optional(),
  vcpus: uint(64).default(1),
  /** SEV-ES (the default) with its GHCB protocol version, or false for an unprotected VM. */
  sev: byShape(
    z.literal(false),
    z.strictObject({
      ghcbVersion: ghcbVersion.default(1),
      /** sevbox capabilities (not Linux), enabled in this order. */
      capabilities: z
        .array(
          z.enum(SEVBOX_CAPABILITY_NAMES, {
            error: () => `expected a sevbox capability: ${SEVBOX_CAPABILITY_NAMES.join(', ')}`,
          }),
        )
        .optional(),
      /** The guest policy of LAUNCH_START (default 4: SEV-ES, debugging allowed). */
      policy: uint(0xffff_ffff).optional(),
      /**
       * Guest-physical ranges the launch measures and encrypts besides the guest image's segments
       * (LAUNCH_UPDATE_DATA, in this order): pre-encrypted data such as a zeroed page.
       */
      measure: z.array(z.strictObject({ gpa, size: uint() })).optional(),
    }),
    'false (an unprotected VM) or { ghcbVersion: 1 | 2, capabilities?: [vmgexit-fault-info, vmgexit-restart], policy?, measure? }',
  ).default({ ghcbVersion: 1 }),
});

const host = z.strictObject({
  /** Bytes KVM may allocate at once (default unlimited). */
  budget: uint().optional(),
  allocFaults: z
    .strictObject({
      failNth: z.union([uint(), z.array(uint())]).optional(),
      failOver: uint().optional(),
      probability: z.number().min(0).max(1).optional(),
      seed: uint(0xffff_ffff).optional(),
    })
    .refine((p) => p.probability === undefined || p.seed !== undefined, {
      message: 'a fault probability needs a seed, so a failing run can be replayed',
      path: ['seed'],
    })
    .optional(),
});

const retries = z.strictObject({ action: z.literal('rerun'), maxRetries: uint(1000) });
const stop = z.literal('stop').transform(() => ({ action: 'stop' as const }));
const enomemPolicy = byShape(
  stop,
  z.discriminatedUnion('action', [
    z.strictObject({ action: z.literal('stop') }),
    retries,
    z.strictObject({ action: z.literal('raise-budget'), bytes: uint().optional(), maxRetries: uint(1000) }),
  ]),
  'an ENOMEM policy: stop, { action: rerun, maxRetries: N } or { action: raise-budget, maxRetries: N, bytes?: B }',
) satisfies z.ZodType<EnomemPolicy>;
const resolverName = z.enum(RESOLVER_NAMES as [ResolverName, ...ResolverName[]], {
  error: () => `expected a resolver: ${RESOLVER_NAMES.join(', ')}`,
});
const efaultPolicy = byShape(
  stop,
  z.discriminatedUnion('action', [
    z.strictObject({ action: z.literal('stop') }),
    retries,
    z.strictObject({
      action: z.literal('resolve'),
      resolvers: z.array(resolverName).min(1),
      maxRetries: uint(1000),
    }),
  ]),
  'an EFAULT policy: stop, { action: rerun, maxRetries: N } or { action: resolve, resolvers: [populate-missing, extend-file, remap, add-memslot], maxRetries: N }',
) satisfies z.ZodType<EfaultPolicy>;

const policies = z.strictObject({
  enomem: enomemPolicy.default({ action: 'stop' }),
  efault: efaultPolicy.default({ action: 'stop' }),
});

/** The program of one vCPU, as steps (a scripted guest). */
const vcpuProgram = z.strictObject({
  /** Guest physical address of the GHCB page (default 0x1000). */
  ghcb: gpa.default(0x1000),
  /** Write the GHCB GPA into the GHCB MSR before the first step (default true). */
  register: z.boolean().default(true),
  /**
   * Linux's backup GHCB: a #VC raised while the GHCB is in use (the guest's own access to a
   * scratch area that is not RAM) saves the page, makes its request there and restores it, instead
   * of killing the guest (default false: any nested #VC is fatal).
   */
  backupGhcb: z.boolean().default(false),
  steps: z.array(step),
});
/** One vCPU's program of steps. */
export type VcpuProgram = z.output<typeof vcpuProgram>;

/**
 * An interleaving of the vCPUs the author chooses, item by item: run `vcpu` (only it) until it has
 * come back from `exits` more KVM_RUNs (exits or failures), or, without `exits`, until its program
 * is done; then the next item. After the last item, or when an item's vCPU has finished, the VMM's
 * round robin (one KVM_RUN each, in turn).
 */
const scheduleItem = z.strictObject({ vcpu: uint(), exits: uint().optional() });
export type ScheduleItem = z.output<typeof scheduleItem>;

/** Several vCPUs, each with its program, and how they interleave. */
const multiGuest = z.strictObject({
  vcpus: z.array(vcpuProgram).min(1),
  schedule: z.array(scheduleItem).default([]),
});

/**
 * A guest of steps: one vCPU's program (`{ ghcb, register, steps }`), or `{ vcpus: [...], schedule }`.
 * Parsed as the list of programs, vCPU i's at i; `single` tells which form the file used (the paths
 * of its steps: `guest.steps[i]` or `guest.vcpus[v].steps[i]`).
 */
const stepsGuest = z
  .unknown()
  .transform((v, ctx): { vcpus: VcpuProgram[]; schedule: ScheduleItem[]; single: boolean } => {
    if (typeof v === 'object' && v !== null && 'vcpus' in v) {
      const r = parseInto(ctx, [], multiGuest, v);
      return r.ok ? { ...r.value, single: false } : z.NEVER;
    }
    const r = parseInto(ctx, [], vcpuProgram, v);
    return r.ok ? { vcpus: [r.value], schedule: [], single: true } : z.NEVER;
  });

type EntryReg = Exclude<keyof typeof KVM_REGS_OFFSETS, 'rip'>;
/** KVM_SET_REGS's general-purpose registers and RFLAGS an entry may set (RIP is `rip`). */
export const ENTRY_REG_NAMES = Object.keys(KVM_REGS_OFFSETS).filter((r) => r !== 'rip') as [
  EntryReg,
  ...EntryReg[],
];
const entryRegs = z.partialRecord(
  z.enum(ENTRY_REG_NAMES, { error: () => `expected a register: ${ENTRY_REG_NAMES.join(', ')}` }),
  u64,
);
/** The registers a `real-flat` or `long` entry gives (`regs` may not repeat `rsp`: validate.ts). */
const entryAt = { rip: gpa.optional(), rsp: u64.optional(), regs: entryRegs.optional() };
/**
 * Where a machine-code guest starts: `reset` (the x86 RESET state, CS:IP F000:FFF0 with CS base
 * FFFF0000; firmware, and the only entry of an SEV-ES guest, whose registers the VMM cannot set),
 * `real-flat` (real mode with every segment based at 0, as examples/guests/ start) or `long` (flat
 * 64-bit long mode on the VMM's identity page tables). `rip` defaults to the ELF's entry point.
 */
const imageEntry = byShape(
  z.literal('reset').transform(() => ({ mode: 'reset' as const })),
  z.discriminatedUnion('mode', [
    z.strictObject({ mode: z.literal('reset') }),
    z.strictObject({ mode: z.literal('real-flat'), ...entryAt }),
    z.strictObject({ mode: z.literal('long'), ...entryAt }),
  ]),
  'an entry: reset, { mode: real-flat, rip?, rsp?, regs? } or { mode: long, rip?, rsp?, regs? }',
);
/** A machine-code guest's entry state, parsed. */
export type ImageEntry = z.output<typeof imageEntry>;

/** A machine-code guest: an ELF or a flat binary the VMM loads into guest RAM, run by the x86 interpreter. */
const imageGuest = z.strictObject({
  image: z.strictObject({
    /** The image file, relative to the scenario file. */
    file: z.string().min(1),
    /** Where a flat binary goes (an ELF says where its segments go). */
    gpa: gpa.optional(),
  }),
  entry: imageEntry.default({ mode: 'reset' }),
  /**
   * What the VMM does at each HLT the guest makes, in order, before it runs the vCPU again: host
   * actions, as a step's. A HLT beyond the list ends the vCPU.
   */
  halts: z.array(z.strictObject({ host: z.array(hostAction).default([]) })).default([]),
});

/** A guest program of steps. */
export type StepsGuest = z.output<typeof stepsGuest>;
/** A machine-code guest. */
export type ImageGuest = z.output<typeof imageGuest>;

const guest = z.unknown().transform((v, ctx): StepsGuest | ImageGuest => {
  const schema = typeof v === 'object' && v !== null && 'image' in v ? imageGuest : stepsGuest;
  const r = parseInto(ctx, [], schema, v);
  return r.ok ? r.value : z.NEVER;
});

/** Whether the scenario's guest is machine code (else a program of steps). */
export function isImageGuest(g: StepsGuest | ImageGuest): g is ImageGuest {
  return 'image' in g;
}

/** Where vCPU `vcpu`'s program is in the document: `guest` or `guest.vcpus[1]`. */
export function programPath(g: StepsGuest, vcpu: number): string {
  return g.single ? 'guest' : `guest.vcpus[${vcpu}]`;
}

const STOP_KINDS = [
  'guest-done',
  'debug-exit',
  'shutdown',
  'sev-termination',
  'system-event',
  'ap-reset-hold',
  'unhandled-exit',
  'internal-error',
  'kvm-error',
  'kernel-oops',
  'limit',
] as const;
const stopKind = z.enum(STOP_KINDS, { error: () => `expected a stop kind: ${STOP_KINDS.join(', ')}` });

/** How the run must end: a kind, plus the details that matter for it. */
const stopExpect = byShape(
  stopKind.transform((kind) => ({ kind })),
  z.strictObject({
    kind: stopKind,
    /** kvm-error */
    errno: errno.optional(),
    /** sev-termination */
    set: uint(0xf).optional(),
    code: uint(0xff).optional(),
    /** internal-error */
    suberror: uint().optional(),
    /** debug-exit */
    exitCode: uint().optional(),
    /** the vCPU that stopped */
    vcpu: uint().optional(),
  }),
  `a stop: one of ${STOP_KINDS.join(', ')}, or { kind, errno?, set?, code?, suberror?, exitCode?, vcpu? }`,
);
/** An expected stop, parsed. */
export type StopExpect = z.output<typeof stopExpect>;

/** Run-level expectations. Leaked kernel bytes are always checked to be 0. */
const runExpect = z.strictObject({
  stop: stopExpect.optional(),
  /** Exactly what the guest wrote to the serial port. */
  serial: z.string().optional(),
  /**
   * Guest memory contents at the end of the run: as the host reads it (`view: host`, the default),
   * or as an SEV-ES guest reads it through a private mapping (`view: private`, the debug view of a
   * key only the model knows).
   */
  memory: z
    .array(
      z.strictObject({
        gpa,
        hex: hexBytes,
        view: z.enum(['host', 'private'], { error: () => 'expected host or private' }).default('host'),
      }),
    )
    .optional(),
  /** Number of VMGEXITs KVM saw. */
  vmgexits: uint().optional(),
  /** Errnos of the KVM_RUN failures the policies retried, in order. */
  retried: z.array(errno).optional(),
  /**
   * Every VMGEXIT KVM entered, in order: its event (an SVM exit code name such as SVM_EXIT_IOIO, or
   * an MSR-protocol request name such as GHCB_MSR_CPUID_REQ, as the report prints them) and what
   * KVM did with it. The outcome table of a guest without steps (a machine-code guest).
   */
  outcomes: z
    .array(z.strictObject({ event: z.string().optional(), outcome: outcomeExpect.optional() }))
    .optional(),
  /**
   * KVM_RUNs as they returned, in order (each may name its index with `at`): the exit reason and
   * kvm_run fields, or a failed KVM_RUN's errno and what it left in kvm_run (exits.ts).
   */
  exits: z.array(exitExpect).optional(),
});
/** Run-level expectations, parsed. */
export type RunExpect = z.output<typeof runExpect>;

/** A scenario file. */
export const scenarioSchema = z.strictObject({
  name: z.string({ error: () => 'expected the scenario name (a string)' }),
  description: z.string().optional(),
  profile: profile.default('seed'),
  machine: machine.default({ ram: [...DEFAULT_RAM], mmio: [], vcpus: 1, sev: { ghcbVersion: 1 } }),
  host: host.default({}),
  policies: policies.default({ enomem: { action: 'stop' }, efault: { action: 'stop' } }),
  /** Upper bound on KVM_RUN calls in the run. */
  maxKvmRuns: uint().default(DEFAULT_MAX_KVM_RUNS),
  /**
   * An AP reset hold: `sipi` gives the machine an in-kernel APIC, where the hold waits in KVM and the
   * VMM answers it with a SIPI; `stop` (default) leaves it an exit (KVM_EXIT_AP_RESET_HOLD) that ends the run.
   */
  apResetHold: z.enum(['sipi', 'stop'], { error: () => 'expected sipi or stop' }).default('stop'),
  guest,
  /** What the VMM does and checks at points of the run it names (vmm-actions.ts). */
  vmm: z.array(vmmEntry).default([]),
  expect: runExpect.default({}),
});

/** A scenario, parsed and defaulted. */
export type Scenario = z.output<typeof scenarioSchema>;
/** A kernel profile name. */
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** A scenario whose guest is a program of steps. */
export type StepsScenario = Scenario & { readonly guest: StepsGuest };

/** Whether `s`'s guest is a program of steps (else machine code, `guest.image`). */
export function isStepsScenario(s: Scenario): s is StepsScenario {
  return !isImageGuest(s.guest);
}
