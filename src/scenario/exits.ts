/**
 * Every KVM_RUN of a scenario's run as it returned, and expectations on them: the exit reason and
 * the kvm_run fields of its union member (mmio, io, system_event, internal, memory_fault), or, for a
 * failed KVM_RUN, its errno and the exit_reason (and fields) it left behind. Recorded as KVM_RUN
 * returned, before the VMM answered (a VMM writes its answer to a read into kvm_run), so an
 * expectation sees what KVM wrote and what it left as it was.
 */
import { z } from 'zod';
import type { ErrnoName } from '../uapi/errno.js';
import { kvmExitReasonName } from '../uapi/exit-reasons.js';
import type { RunFailure } from '../uapi/kvm-fd.js';
import type { VcpuExit } from '../uapi/vcpu-exit.js';
import type { Check } from './expect.js';
import { errno, exitReason, hexBytes, toHex, u64, uint } from './values.js';

/** A field of an exit as recorded: a number, a flag, bytes or a list of words. */
type FieldValue = bigint | boolean | Uint8Array | readonly bigint[] | string;

/** One KVM_RUN as it returned. */
export interface ExitRecord {
  /** Its place among the run's KVM_RUNs that returned (exits and failures), from 0. */
  readonly index: number;
  readonly vcpu: number;
  /** The scenario step the vCPU's program was in, if any. */
  readonly step: number | undefined;
  /** A failed KVM_RUN's errno. */
  readonly errno: ErrnoName | undefined;
  /** kvm_run.exit_reason (for a failure: what KVM left there). */
  readonly reason: number;
  /** The union member's fields by `member.field` (`mmio.gpa`, `io.data`, …), copied. */
  readonly fields: ReadonlyMap<string, FieldValue>;
}

/** kvm_run's union member as `member.field` → value, copied out of the buffer. */
function fieldsOf(e: VcpuExit): Map<string, FieldValue> {
  const f = new Map<string, FieldValue>();
  switch (e.kind) {
    case 'MmioRead':
    case 'MmioWrite':
      f.set('mmio.gpa', BigInt(e.addr));
      f.set('mmio.len', BigInt(e.data.length));
      f.set('mmio.is_write', e.kind === 'MmioWrite');
      f.set('mmio.data', e.data.slice());
      break;
    case 'IoIn':
    case 'IoOut':
      f.set('io.port', BigInt(e.port));
      f.set('io.size', BigInt(e.size));
      f.set('io.count', BigInt(e.count));
      f.set('io.direction', e.kind === 'IoOut' ? 'out' : 'in');
      f.set('io.data', e.data.slice());
      break;
    case 'SystemEvent':
      f.set('system_event.type', BigInt(e.type));
      f.set('system_event.ndata', BigInt(e.data.length));
      f.set('system_event.data', [...e.data]);
      break;
    case 'InternalError':
      f.set('internal.suberror', BigInt(e.suberror));
      f.set('internal.ndata', BigInt(e.data.length));
      f.set('internal.data', [...e.data]);
      break;
    case 'MemoryFault':
      f.set('memory_fault.gpa', e.gpa);
      f.set('memory_fault.size', e.size);
      f.set('memory_fault.flags', e.flags);
      break;
    default:
      break;
  }
  return f;
}

/** The record of a KVM_RUN that returned `r` on `vcpu`. */
export function exitRecord(
  index: number,
  vcpu: number,
  step: number | undefined,
  r: VcpuExit | RunFailure,
): ExitRecord {
  const exit = r.kind === 'Failed' ? r.left : r;
  return {
    index,
    vcpu,
    step,
    errno: r.kind === 'Failed' ? r.error.errno : undefined,
    reason: exit.reason,
    fields: fieldsOf(exit),
  };
}

const words = z.array(u64);

/** What one KVM_RUN must have returned; every field optional. */
export const exitExpect = z.strictObject({
  /** Its index among the KVM_RUNs (of the run, or of the step); default: the one after the previous. */
  at: uint().optional(),
  vcpu: uint().optional(),
  /** kvm_run.exit_reason (a failed KVM_RUN: the one it left behind). */
  reason: exitReason.optional(),
  /** KVM_RUN failed with this errno; without it the KVM_RUN must have succeeded. */
  errno: errno.optional(),
  mmio: z
    .strictObject({
      gpa: u64.optional(),
      len: u64.optional(),
      is_write: z.boolean().optional(),
      data: hexBytes.optional(),
    })
    .optional(),
  io: z
    .strictObject({
      port: u64.optional(),
      size: u64.optional(),
      count: u64.optional(),
      direction: z.enum(['in', 'out'], { error: () => 'expected in or out' }).optional(),
      data: hexBytes.optional(),
    })
    .optional(),
  system_event: z
    .strictObject({ type: u64.optional(), ndata: u64.optional(), data: words.optional() })
    .optional(),
  internal: z
    .strictObject({ suberror: u64.optional(), ndata: u64.optional(), data: words.optional() })
    .optional(),
  memory_fault: z
    .strictObject({ gpa: u64.optional(), size: u64.optional(), flags: u64.optional() })
    .optional(),
});
/** An exit expectation, parsed. */
export type ExitExpect = z.output<typeof exitExpect>;

const MEMBERS = ['mmio', 'io', 'system_event', 'internal', 'memory_fault'] as const;

function show(v: FieldValue | undefined): string {
  if (v === undefined) return 'nothing (another exit)';
  if (v instanceof Uint8Array) return v.length ? toHex(v) : '(no bytes)';
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  if (Array.isArray(v)) return `[${v.map((w) => `0x${w.toString(16)}`).join(', ')}]`;
  return String(v);
}

function same(want: unknown, got: FieldValue | undefined): boolean {
  if (got === undefined) return false;
  if (want instanceof Uint8Array) return got instanceof Uint8Array && toHex(want) === toHex(got);
  if (Array.isArray(want))
    return Array.isArray(got) && want.length === got.length && want.every((w, i) => w === got[i]);
  return want === got;
}

/** One line of what a KVM_RUN returned. */
export function describeExitRecord(r: ExitRecord): string {
  const what = r.errno
    ? `KVM_RUN failed ${r.errno} (exit_reason ${kvmExitReasonName(r.reason)} left)`
    : kvmExitReasonName(r.reason);
  const fields = [...r.fields].map(([k, v]) => `${k} ${show(v)}`).join(', ');
  return `KVM_RUN ${r.index} on vCPU ${r.vcpu}: ${what}${fields ? ` {${fields}}` : ''}`;
}

/** What differs between an expectation and a record, or empty. */
function differences(want: ExitExpect, got: ExitRecord): string[] {
  const diffs: string[] = [];
  if (want.vcpu !== undefined && want.vcpu !== got.vcpu) diffs.push(`vCPU ${want.vcpu}`);
  if (want.errno !== got.errno) diffs.push(want.errno ? `errno ${want.errno}` : 'success');
  if (want.reason !== undefined && want.reason !== got.reason)
    diffs.push(`exit_reason ${kvmExitReasonName(want.reason)}`);
  for (const m of MEMBERS) {
    const fields = want[m] as Record<string, unknown> | undefined;
    for (const [k, w] of Object.entries(fields ?? {})) {
      if (w === undefined) continue;
      const g = got.fields.get(`${m}.${k}`);
      if (!same(w, g)) diffs.push(`${m}.${k} ${show(w as FieldValue)} (got ${show(g)})`);
    }
  }
  return diffs;
}

/**
 * Check `want` against `got` in order: each expectation takes the record at its `at` (an index
 * into `got`) or the one after the previous expectation's.
 */
export function checkExits(want: readonly ExitExpect[], got: readonly ExitRecord[], path: string): Check[] {
  let next = 0;
  return want.map((w, i) => {
    const at = w.at ?? next;
    next = at + 1;
    const p = `${path}[${i}]`;
    const rec = got[at];
    if (!rec)
      return { path: p, ok: false, message: `expected KVM_RUN ${at}, but only ${got.length} returned` };
    const diffs = differences(w, rec);
    return diffs.length
      ? { path: p, ok: false, message: `expected ${diffs.join(', ')}: ${describeExitRecord(rec)}` }
      : { path: p, ok: true, message: describeExitRecord(rec) };
  });
}
