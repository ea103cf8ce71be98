/**
 * The oracle of invariant 1: what ../shared/spec/vmgexit.md says must happen to each VMGEXIT of a
 * fuzz case, per kernel profile — classified from the generated input alone (the GHCB page the step
 * builds, the memslot layout, the host faults applied so far, the allocator plan, the VMM policies),
 * never by asking the model. It walks the case step by step, as the VMM runs it, keeping the state
 * the spec's answers depend on (allocation attempts, budget, retries, which scratch pages are gone).
 *
 * Where the spec leaves a choice to code it does not tabulate (is this MSR emulated in the kernel or
 * sent to userspace? is this hypercall forwarded?) the oracle lists every allowed outcome.
 */
import type { ProfileName } from '../scenario/schema.js';
import {
  DEBUG_EXIT_FIRST,
  DEBUG_EXIT_LAST,
  FOREIGN_GPA,
  FUZZ_AP_RESET_HOLD,
  type FuzzCase,
  GHCB_GPA,
  type HostActionSpec,
  PAGE,
  RAM_SIZE,
  type RawGhcbSpec,
  REGION_GPA,
  type StepSpec,
} from './case.js';
import {
  ERR,
  ERRNO,
  EXIT,
  INT_MAX,
  MSR_REQ,
  PIO_PAGE,
  REASON,
  SCRATCH_LIMIT,
  SHARED_BEGIN,
  SHARED_END,
} from './codes.js';

/** One VMGEXIT's outcome, in the terms of src/trace/outcome.ts (ignored = no trace record). */
export type Outcome =
  | { readonly kind: 'handled' }
  | { readonly kind: 'ignored' }
  | { readonly kind: 'reflected'; readonly error: number }
  | { readonly kind: 'userspace'; readonly reasons: readonly number[] }
  | { readonly kind: 'error'; readonly errno: number }
  | { readonly kind: 'oops' };

/** Faithful kernel bugs a profile carries: findings, not model violations. */
export type FindingKind = 'size0-string-io-oops' | 'mmio-direction-quirk';

/** How the run goes on after the VMGEXIT, as the VMM's exit loop decides. */
export type After =
  | { readonly kind: 'continue' }
  | {
      readonly kind: 'stop';
      readonly stop: 'kvm-error' | 'kernel-oops' | 'internal-error' | 'sev-termination' | 'unhandled-exit';
    };

/** One allowed outcome of a step's VMGEXIT and what follows from it. */
export interface Alternative {
  readonly out: Outcome;
  /** For a KVM_RUN error this is decided by the VMM policy at commit time. */
  readonly after: After;
  /** The spec's cause, for reports ("scratch GPA 0", "bounce buffer allocation fails"...). */
  readonly cause: string;
  readonly finding?: FindingKind;
  /** MMIO exits' directions, in order ('w' = is_write), when the spec says what they are. */
  readonly mmioDirections?: string;
}

/** What the oracle expects of one step. */
export interface StepExpectation {
  /** VMGEXIT instructions the guest executes in this step (0 or 1). */
  readonly vmgexits: number;
  /** Allowed outcomes; `any` when the spec (or the oracle) cannot say. */
  readonly alternatives: readonly Alternative[] | 'any';
  /** Guest memory outside the GHCB page KVM may write in this VMGEXIT: the bounce buffer's write-back. */
  readonly write?: { readonly gpa: number; readonly len: number };
}

const U64 = 1n << 64n;
const CONTINUE: After = { kind: 'continue' };
const stop = (s: Extract<After, { kind: 'stop' }>['stop']): After => ({ kind: 'stop', stop: s });
const alt = (
  out: Outcome,
  cause: string,
  after: After = CONTINUE,
  extra: Partial<Alternative> = {},
): Alternative => ({
  out,
  after,
  cause,
  ...extra,
});
const HANDLED: Outcome = { kind: 'handled' };
const reflect = (error: number): Outcome => ({ kind: 'reflected', error });
const user = (...reasons: number[]): Outcome => ({ kind: 'userspace', reasons });

/** Per-profile facts the oracle needs, from the spec's profile table (section 0). */
interface ProfileFacts {
  /** setup_vmgexit_scratch: host failures reflected (prefix) or -ENOMEM/-EFAULT (seed, current). */
  readonly hostFailureExits: boolean;
  /** current: zero-length MMIO / IOIO size 0 / 0-byte string I/O ignored; GHCB v2 rules; v2 events. */
  readonly isCurrent: boolean;
}

/**
 * Fuzz machines answer AP reset holds with a SIPI, so they have an in-kernel LAPIC and the hold waits
 * in KVM: the outcomes below say so (this line stops compiling if that choice changes).
 */
const _apResetHold: 'sipi' = FUZZ_AP_RESET_HOLD;

const FACTS: Readonly<Record<ProfileName, ProfileFacts>> = {
  prefix: { hostFailureExits: false, isCurrent: false },
  seed: { hostFailureExits: true, isCurrent: false },
  current: { hostFailureExits: true, isCurrent: true },
};

type ScratchResult =
  | { readonly kind: 'ok'; readonly write?: { gpa: number; len: number } }
  | { readonly kind: 'fail'; readonly alt: Alternative };

/** The oracle for one case on one profile. Call `step(i)` for each step the guest starts, then `commit`. */
export class Oracle {
  readonly #c: FuzzCase;
  readonly #profile: ProfileName;
  readonly #facts: ProfileFacts;
  #budget: number;
  #attempts = 0;
  readonly #failNth: ReadonlySet<number>;
  readonly #retries = new Map<number, number>();
  /** Scratch-region page states. */
  readonly #unmapped = new Set<number>();
  readonly #populated = new Set<number>();
  #filePages: number;
  /** Pages KVM may have written data into (write-back): their contents are no longer known zeros. */
  readonly #dirty = new Set<number>();
  /** The GHCB MSR is known to hold the GHCB's GPA (false after a raw step may have left another value). */
  #msrIsGhcb = true;

  constructor(c: FuzzCase, profile: ProfileName) {
    this.#c = c;
    this.#profile = profile;
    this.#facts = FACTS[profile];
    this.#budget = c.budget ?? Number.POSITIVE_INFINITY;
    this.#failNth = new Set(c.failNth);
    this.#filePages = c.region ? c.region.size / PAGE : 0;
  }

  /** The host actions before step `i`. */
  hostActions(actions: readonly HostActionSpec[]): void {
    for (const a of actions) {
      if (a.kind === 'unmap') for (let p = a.page; p < a.page + a.pages; p++) this.#unmapped.add(p);
      else if (a.kind === 'truncate') this.#filePages = a.pages;
      else this.#populated.add(a.page);
    }
  }

  /** What the spec says of step `s`. */
  step(s: StepSpec): StepExpectation {
    switch (s.kind) {
      case 'scribble':
        return { vmgexits: 0, alternatives: [] };
      case 'msr':
        this.#msrIsGhcb = true;
        return { vmgexits: 1, alternatives: this.#msrProtocol(s.value) };
      case 'cpuid':
      case 'io-out': {
        if (!this.#msrIsGhcb) return { vmgexits: 1, alternatives: 'any' };
        return {
          vmgexits: 1,
          alternatives: [
            s.kind === 'cpuid'
              ? alt(HANDLED, 'CPUID in the kernel')
              : alt(user(REASON.IO), 'port I/O not claimed in the kernel'),
          ],
        };
      }
      case 'raw': {
        const e = this.#raw(s.raw);
        // An event injected by KVM (#UD for RDTSCP, #GP for a bad RDPMC counter) interrupts the step
        // before the guest puts its GHCB GPA back into the MSR.
        const code = s.raw.exitCode;
        this.#msrIsGhcb =
          s.raw.ghcbMsr === undefined || !(code === BigInt(EXIT.RDTSCP) || code === BigInt(EXIT.RDPMC));
        return e;
      }
      default: {
        const never: never = s;
        return never;
      }
    }
  }

  /**
   * The VMGEXIT ended with `a`: apply the VMM's policy to a KVM_RUN error (stop, or re-run and maybe
   * raise the budget; spec section 6: the VMGEXIT is not retried). Returns whether the run goes on.
   */
  commit(a: Alternative): After {
    if (a.out.kind !== 'error') return a.after;
    const errno = a.out.errno;
    const policy =
      errno === ERRNO.ENOMEM
        ? this.#c.policies.enomem
        : errno === ERRNO.EFAULT
          ? this.#c.policies.efault
          : undefined;
    const n = this.#retries.get(errno) ?? 0;
    if (!policy || policy.action === 'stop' || n >= policy.maxRetries) return stop('kvm-error');
    this.#retries.set(errno, n + 1);
    if (policy.action === 'raise-budget') this.#budget += policy.bytes ?? Math.max(this.#budget, 64 * 1024);
    return CONTINUE;
  }

  // ------------------------------------------------------------------------------ memory facts

  /** State of the scratch-region page `p` (index): can KVM read / map it? */
  #regionPage(p: number): { readable: boolean; mappable: boolean } {
    const r = this.#c.region!;
    if (this.#unmapped.has(p)) return { readable: false, mappable: false };
    const present =
      r.backing === 'lazy' ? this.#populated.has(p) : r.backing === 'file' ? p < this.#filePages : true;
    return { readable: present, mappable: present && !r.readonly };
  }

  /** Which memory a GPA page is: slot 0, the scratch region (page index), or nothing. */
  #where(gpa: number): { slot: 0 } | { slot: 1; page: number } | undefined {
    if (gpa < RAM_SIZE) return { slot: 0 };
    const r = this.#c.region;
    if (r && gpa >= REGION_GPA && gpa < REGION_GPA + r.size)
      return { slot: 1, page: Math.floor((gpa - REGION_GPA) / PAGE) };
    return undefined;
  }

  /** kvm_read_guest of [gpa, gpa + len) succeeds. */
  #readable(gpa: bigint, len: number): boolean {
    if (len === 0) return true;
    if (gpa + BigInt(len) > BigInt(Number.MAX_SAFE_INTEGER)) return false;
    const start = Number(gpa);
    for (let p = start - (start % PAGE); p < start + len; p += PAGE) {
      const w = this.#where(p);
      if (!w) return false;
      if (w.slot === 1 && !this.#regionPage(w.page).readable) return false;
    }
    return true;
  }

  /** kvm_vcpu_map of the page at `gpa` succeeds. */
  #mappable(gpa: bigint): boolean {
    if (gpa >= 1n << 52n) return false;
    const w = this.#where(Number(gpa));
    if (!w) return false;
    return w.slot === 0 || this.#regionPage(w.page).mappable;
  }

  #markDirty(gpa: number, len: number): void {
    for (let p = gpa - (gpa % PAGE); p < gpa + len; p += PAGE) this.#dirty.add(p);
  }

  // ------------------------------------------------------------------------ spec section 2

  /** setup_vmgexit_scratch for `len` bytes at sw_scratch `gpa`, the GHCB at `ghcb`. */
  #scratch(gpa: bigint, len: bigint, ghcb: bigint, sync: boolean): ScratchResult {
    const p = this.#profile;
    const invalid = (cause: string): ScratchResult => ({
      kind: 'fail',
      alt: alt(reflect(ERR.INVALID_SCRATCH_AREA), cause),
    });
    if (this.#facts.isCurrent && len === 0n) return invalid('zero-length scratch area (WARN_ON_ONCE)');
    if (gpa === 0n) return invalid('scratch GPA 0');
    if (gpa + len >= U64) return invalid('scratch area wraps past 2^64');
    if ((gpa & ~0xfffn) === ghcb) {
      const off = gpa - ghcb;
      if (off < BigInt(SHARED_BEGIN) || off + len > BigInt(SHARED_END))
        return invalid('scratch area in the GHCB page but not inside the shared buffer');
      return { kind: 'ok' };
    }
    if (this.#facts.isCurrent && this.#c.ghcbVersion >= 2)
      return invalid('scratch outside the GHCB on a GHCB v2 VM');
    if (len > BigInt(SCRATCH_LIMIT)) return invalid('scratch area over 16 pages');
    const n = Number(len);
    if (n > 0) {
      this.#attempts++;
      if (this.#failNth.has(this.#attempts) || n > this.#budget) {
        return {
          kind: 'fail',
          alt: this.#facts.hostFailureExits
            ? alt({ kind: 'error', errno: ERRNO.ENOMEM }, 'bounce buffer allocation fails')
            : alt(reflect(ERR.INVALID_SCRATCH_AREA), 'bounce buffer allocation fails (reflected)'),
        };
      }
    }
    if (!this.#readable(gpa, n)) {
      return {
        kind: 'fail',
        alt: this.#facts.hostFailureExits
          ? alt({ kind: 'error', errno: ERRNO.EFAULT }, 'guest read of the scratch area fails')
          : alt(reflect(ERR.INVALID_SCRATCH_AREA), 'guest read of the scratch area fails (reflected)'),
      };
    }
    void p;
    // The bounce buffer goes back at the next entry (a 0-byte kvm_write_guest is a no-op, but allowed).
    if (sync) {
      this.#markDirty(Number(gpa), n);
      return { kind: 'ok', write: { gpa: Number(gpa), len: n } };
    }
    return { kind: 'ok' };
  }

  // ------------------------------------------------------------------------ spec sections 1, 3, 4, 5

  #raw(r: RawGhcbSpec): StepExpectation {
    const one = (
      alternatives: readonly Alternative[] | 'any',
      write?: { gpa: number; len: number },
    ): StepExpectation => ({
      vmgexits: 1,
      alternatives,
      ...(write ? { write } : {}),
    });
    const msr = r.ghcbMsr ?? BigInt(GHCB_GPA);
    if ((msr & 0xfffn) !== 0n) return one(this.#msrProtocol(msr));
    if (msr === 0n) return one([alt({ kind: 'ignored' }, 'GHCB GPA 0')]);
    if (!this.#mappable(msr)) return one([alt({ kind: 'ignored' }, 'GHCB page cannot be mapped')]);
    if (msr !== BigInt(GHCB_GPA)) {
      // Another RAM page: zeros (sw_exit_code never valid) unless KVM has written data into it.
      const known =
        (msr === BigInt(FOREIGN_GPA) || msr >= BigInt(REGION_GPA)) && !this.#dirty.has(Number(msr));
      return one(
        known ? [alt(reflect(ERR.MISSING_INPUT), 'a zeroed GHCB page: sw_exit_code not valid')] : 'any',
      );
    }
    const valid = (name: string): boolean =>
      (name in r.fields ||
        name === 'sw_exit_code' ||
        name === 'sw_exit_info_1' ||
        name === 'sw_exit_info_2' ||
        r.validSet.includes(name)) &&
      !r.validClear.includes(name);
    const field = (name: string): bigint => r.fields[name] ?? 0n;
    const v = this.#validate(r, valid, field);
    if (v) return one([v]);
    const d = this.#dispatch(r, field, msr);
    return one(d.alternatives, d.write);
  }

  /** sev_es_validate_vmgexit; undefined when the request passes. */
  #validate(
    r: RawGhcbSpec,
    valid: (n: string) => boolean,
    field: (n: string) => bigint,
  ): Alternative | undefined {
    const cur = this.#facts.isCurrent;
    const missing = (cause: string): Alternative => alt(reflect(ERR.MISSING_INPUT), cause);
    if (r.usage !== 0) return alt(reflect(ERR.INVALID_USAGE), 'ghcb_usage != 0');
    if (!valid('sw_exit_code') || !valid('sw_exit_info_1') || !valid('sw_exit_info_2'))
      return missing('sw_exit_code / info_1 / info_2 not valid');
    const invalidEvent = alt(reflect(ERR.INVALID_EVENT), 'unknown exit code');
    if (r.exitCode > 0xffff_ffffn) return invalidEvent;
    const code = Number(r.exitCode);
    const need = (...names: string[]): Alternative | undefined =>
      names.every(valid) ? undefined : missing(`per-exit required field missing (${names.join(', ')})`);
    switch (code) {
      case EXIT.READ_DR7:
      case EXIT.RDTSC:
      case EXIT.INVD:
      case EXIT.RDTSCP:
      case EXIT.WBINVD:
      case EXIT.NMI_COMPLETE:
      case EXIT.AP_HLT_LOOP:
      case EXIT.AP_JUMP_TABLE:
      case EXIT.UNSUPPORTED_EVENT:
        return undefined;
      case EXIT.WRITE_DR7:
        return need('rax');
      case EXIT.RDPMC:
        return need('rcx');
      case EXIT.CPUID:
        return need('rax', 'rcx') ?? (field('rax') === 0xdn ? need('xcr0') : undefined);
      case EXIT.IOIO: {
        const i = Number(r.info1 & 0xffff_ffffn);
        if (i & 4) return need('sw_scratch');
        if (!(i & 1)) return need('rax');
        return undefined;
      }
      case EXIT.MSR:
        return need('rcx') ?? (r.info1 !== 0n ? need('rax', 'rdx') : undefined);
      case EXIT.VMMCALL:
        return need('rax', 'cpl');
      case EXIT.MONITOR:
        return need('rax', 'rcx', 'rdx');
      case EXIT.MWAIT:
        return need('rax', 'rcx');
      case EXIT.MMIO_READ:
      case EXIT.MMIO_WRITE:
        return need('sw_scratch');
      case EXIT.HV_FEATURES:
      case EXIT.TERM_REQUEST:
        return cur ? undefined : alt(reflect(ERR.INVALID_EVENT), 'GHCB v2 event on a kernel without it');
      case EXIT.PSC:
      case EXIT.GUEST_REQUEST:
      case EXIT.EXT_GUEST_REQUEST:
      case EXIT.AP_CREATION:
        return cur
          ? missing('SNP-only exit code, non-SNP guest')
          : alt(reflect(ERR.INVALID_EVENT), 'SNP-only exit code, non-SNP guest');
      default:
        return invalidEvent;
    }
  }

  /** After validation: the handlers (sections 3 and 4). */
  #dispatch(
    r: RawGhcbSpec,
    field: (n: string) => bigint,
    ghcb: bigint,
  ): { alternatives: readonly Alternative[] | 'any'; write?: { gpa: number; len: number } } {
    const cur = this.#facts.isCurrent;
    const code = Number(r.exitCode);
    const only = (a: Alternative) => ({ alternatives: [a] });
    switch (code) {
      case EXIT.MMIO_READ:
      case EXIT.MMIO_WRITE: {
        const isWrite = code === EXIT.MMIO_WRITE;
        const len = r.info2;
        if (cur && len === 0n) return only(alt(HANDLED, 'MMIO with exit_info_2 = 0 ignored'));
        if (cur && this.#c.ghcbVersion >= 2 && len > 8n)
          return only(alt(reflect(ERR.INVALID_INPUT), 'MMIO over 8 bytes on a GHCB v2 VM'));
        const s = this.#scratch(field('sw_scratch'), len, ghcb, !isWrite);
        if (s.kind === 'fail') return only(s.alt);
        const n = Number(len);
        if (n === 0)
          return {
            alternatives: [alt(HANDLED, 'zero-length MMIO counted as handled')],
            ...(s.write ? { write: s.write } : {}),
          };
        const frags = Math.ceil(n / 8);
        const quirk = isWrite && !cur;
        const dirs = isWrite ? (quirk ? `w${'r'.repeat(frags - 1)}` : 'w'.repeat(frags)) : 'r'.repeat(frags);
        return {
          alternatives: [
            alt(user(...Array<number>(frags).fill(REASON.MMIO)), 'MMIO not claimed in the kernel', CONTINUE, {
              mmioDirections: dirs,
              ...(quirk && frags > 1 ? { finding: 'mmio-direction-quirk' as const } : {}),
            }),
          ],
          ...(s.write ? { write: s.write } : {}),
        };
      }
      case EXIT.IOIO: {
        const i = Number(r.info1 & 0xffff_ffffn);
        const size = (i >>> 4) & 7;
        const port = i >>> 16;
        const isIn = (i & 1) !== 0;
        if (cur && size === 0) return only(alt(HANDLED, 'IOIO with size field 0 ignored'));
        const debugPort = !isIn && port >= DEBUG_EXIT_FIRST && port <= DEBUG_EXIT_LAST;
        if (!(i & 4))
          return debugPort
            ? { alternatives: 'any' }
            : only(alt(user(REASON.IO), 'port I/O not claimed in the kernel'));
        const count = r.info2;
        const einval = alt(
          { kind: 'error', errno: ERRNO.EINVAL },
          'string I/O count > INT_MAX or count*size overflow',
          stop('kvm-error'),
        );
        if (count > BigInt(INT_MAX)) return only(einval);
        const bytes = Number(count) * size;
        if (bytes > INT_MAX) return only(einval);
        if (cur && bytes === 0) return only(alt(HANDLED, 'zero-length string I/O ignored'));
        const s = this.#scratch(field('sw_scratch'), BigInt(bytes), ghcb, isIn);
        if (s.kind === 'fail') return only(s.alt);
        const w = s.write ? { write: s.write } : {};
        if (size === 0)
          return {
            alternatives: [
              alt(
                { kind: 'oops' },
                'string I/O with size field 0: division by zero in the host',
                stop('kernel-oops'),
                {
                  finding: 'size0-string-io-oops',
                },
              ),
            ],
            ...w,
          };
        if (count === 0n) return { alternatives: [alt(HANDLED, 'string I/O of 0 elements')], ...w };
        if (debugPort) return { alternatives: 'any', ...w };
        const exits = Math.ceil(Number(count) / Math.floor(PIO_PAGE / size));
        return {
          alternatives: [
            alt(user(...Array<number>(exits).fill(REASON.IO)), 'string port I/O not claimed in the kernel'),
          ],
          ...w,
        };
      }
      case EXIT.MSR:
        return {
          alternatives: [
            alt(HANDLED, 'MSR emulated in the kernel'),
            alt(user(r.info1 !== 0n ? REASON.X86_WRMSR : REASON.X86_RDMSR), 'MSR access sent to userspace'),
          ],
        };
      case EXIT.VMMCALL:
        return {
          alternatives: [
            alt(HANDLED, 'hypercall in the kernel'),
            alt(user(REASON.HYPERCALL), 'hypercall forwarded to userspace', stop('unhandled-exit')),
          ],
        };
      case EXIT.RDTSC:
        return only(
          alt(user(REASON.INTERNAL_ERROR), 'RDTSC via GHCB: no exit handler', stop('internal-error')),
        );
      case EXIT.AP_HLT_LOOP:
        return only(alt(HANDLED, 'AP reset hold: the vCPU waits in KVM for the SIPI (in-kernel LAPIC)'));
      case EXIT.AP_JUMP_TABLE:
        return only(
          r.info1 === 0n || r.info1 === 1n
            ? alt(HANDLED, 'AP jump table set/get')
            : alt(reflect(ERR.INVALID_INPUT), 'AP_JUMP_TABLE bad sub-code'),
        );
      case EXIT.TERM_REQUEST:
        return only(alt(user(REASON.SYSTEM_EVENT), 'TERM_REQUEST via GHCB', stop('sev-termination')));
      case EXIT.UNSUPPORTED_EVENT:
        return only(alt({ kind: 'error', errno: ERRNO.EINVAL }, 'UNSUPPORTED_EVENT', stop('kvm-error')));
      default:
        // READ/WRITE_DR7, RDPMC, CPUID, INVD, RDTSCP, WBINVD, MONITOR, MWAIT, NMI_COMPLETE, HV_FEATURES.
        return only(alt(HANDLED, 'handled in the kernel'));
    }
  }

  /** sev_handle_vmgexit_msr_protocol (section 4, last paragraph; section 5 last row). */
  #msrProtocol(value: bigint): readonly Alternative[] {
    const cur = this.#facts.isCurrent;
    const info = Number(value & 0xfffn);
    const term = (cause: string): Alternative =>
      cur
        ? alt(user(REASON.SYSTEM_EVENT), cause, stop('sev-termination'))
        : alt({ kind: 'error', errno: ERRNO.EINVAL }, cause, stop('kvm-error'));
    switch (info) {
      case MSR_REQ.TERM:
        return [term('MSR-protocol termination request')];
      case MSR_REQ.AP_RESET_HOLD:
        if (!cur) return [alt(HANDLED, 'unknown MSR request')];
        return [alt(HANDLED, 'MSR-protocol AP reset hold: waits in KVM for the SIPI (in-kernel LAPIC)')];
      case MSR_REQ.PREF_GPA:
      case MSR_REQ.REG_GPA:
      case MSR_REQ.PSC:
        return [
          cur
            ? alt(
                user(REASON.SYSTEM_EVENT),
                'SNP-only MSR request from a non-SNP guest',
                stop('sev-termination'),
              )
            : alt(HANDLED, 'unknown MSR request'),
        ];
      default:
        return [alt(HANDLED, 'MSR-protocol request handled in the kernel')];
    }
  }
}

/** Two outcomes are the same (reasons in order). */
export function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'reflected':
      return a.error === (b as typeof a).error;
    case 'error':
      return a.errno === (b as typeof a).errno;
    case 'userspace': {
      const r = (b as typeof a).reasons;
      return a.reasons.length === r.length && a.reasons.every((x, i) => x === r[i]);
    }
    default:
      return true;
  }
}
