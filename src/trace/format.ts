/**
 * Trace event formats: ftrace-like text (the TP_printk strings of arch/x86/kvm/trace.h, so a kernel
 * engineer reads them as they would /sys/kernel/tracing/trace) and JSON lines (bigints as hex
 * strings, for tools and the browser explorer).
 */
import type { TraceEvent } from './events.js';

const hex = (v: bigint | number): string => v.toString(16);

/** One event as a line of ftrace text, without the task/CPU/timestamp prefix. */
export function formatTraceEvent(e: TraceEvent): string {
  switch (e.name) {
    case 'kvm_vmgexit_enter':
    case 'kvm_vmgexit_exit':
      return `${e.name}: vcpu ${e.vcpu}, exit_reason ${hex(e.exitCode)} ext_info1 ${hex(e.info1)} ext_info2 ${hex(e.info2)}`;
    case 'kvm_vmgexit_msr_protocol_enter':
      return `${e.name}: vcpu ${e.vcpu}, ghcb_gpa ${hex(e.ghcbGpa).padStart(16, '0')}`;
    case 'kvm_vmgexit_msr_protocol_exit':
      return `${e.name}: vcpu ${e.vcpu}, ghcb_gpa ${hex(e.ghcbGpa).padStart(16, '0')}, result ${e.result}`;
    case 'kvm_userspace_exit':
      return e.errno
        ? `${e.name}: vcpu ${e.vcpu}, reason restart (${e.reason}), errno ${e.errno}`
        : `${e.name}: vcpu ${e.vcpu}, reason ${e.reason}`;
    case 'sevbox_ghcb_error':
      return `${e.name}: vcpu ${e.vcpu}, exit_reason ${hex(e.exitCode)}, error ${e.error} (${e.why})`;
    case 'sevbox_scratch':
      return `${e.name}: vcpu ${e.vcpu}, gpa ${hex(e.gpa)}, len ${e.len}, ${e.outcome}${
        e.faultGpa !== undefined ? ` at ${hex(e.faultGpa)} (${e.cause})` : ''
      }`;
    case 'sevbox_kvm_write_guest':
      return `${e.name}: gpa ${hex(e.gpa)}, len ${e.len}`;
    case 'sevbox_livelock':
      return `${e.name}: vcpu ${e.vcpu}, ${e.write ? 'write' : 'read'} at gpa ${hex(e.gpa)} faulted ${e.repeats} times`;
    case 'sevbox_kernel_oops':
      return `${e.name}: vcpu ${e.vcpu}, ${e.message}`;
    case 'sevbox_vmgexit_restart':
      return `${e.name}: vcpu ${e.vcpu}, from ${e.from}`;
    case 'sevbox_debug_private_ghcb':
      return `${e.name}: vcpu ${e.vcpu}, DEBUG (the model's key): the guest wrote its GHCB at ${hex(e.ghcbGpa)} privately, meaning exit_reason ${hex(e.exitCode)} ext_info1 ${hex(e.info1)} ext_info2 ${hex(e.info2)}`;
    case 'sevbox_debug_vc':
      return `${e.name}: vcpu ${e.vcpu}, DEBUG (inside the guest): #VC error_code ${hex(e.errorCode)} at rip ${hex(e.rip)}`;
    default: {
      const never: never = e;
      return JSON.stringify(never);
    }
  }
}

/** The ftrace line with a prefix: the vCPU thread, its CPU and the event's sequence number. */
export function formatTraceLine(e: TraceEvent, seq: number): string {
  const task = `vcpu-${e.vcpu}`.padStart(12);
  return `${task} [${String(e.vcpu).padStart(3, '0')}] ${String(seq).padStart(6)}: ${formatTraceEvent(e)}`;
}

/** One event as a JSON line: plain data, bigints as "0x..." strings. */
export function traceEventToJson(e: TraceEvent): string {
  return JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
}

/** The fields each event holds as bigints (written as "0x…" strings by traceEventToJson). */
const BIGINT_FIELDS: Readonly<Record<string, readonly string[]>> = {
  kvm_vmgexit_enter: ['exitCode', 'info1', 'info2'],
  kvm_vmgexit_exit: ['exitCode', 'info1', 'info2'],
  kvm_vmgexit_msr_protocol_enter: ['ghcbGpa'],
  kvm_vmgexit_msr_protocol_exit: ['ghcbGpa'],
  kvm_userspace_exit: [],
  sevbox_ghcb_error: ['exitCode'],
  sevbox_scratch: ['gpa'],
  sevbox_kvm_write_guest: [],
  sevbox_livelock: [],
  sevbox_kernel_oops: [],
  sevbox_vmgexit_restart: [],
  sevbox_debug_private_ghcb: ['exitCode', 'info1', 'info2'],
  sevbox_debug_vc: ['rip'],
};

/** One JSON line back into an event (traceEventToJson's inverse), or why it is not one. */
export function traceEventFromJson(line: string): TraceEvent | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  const fields = typeof o.name === 'string' ? BIGINT_FIELDS[o.name] : undefined;
  if (!fields) return `unknown event ${JSON.stringify(o.name)}`;
  for (const f of fields) {
    const s = o[f];
    if (typeof s !== 'string' || !/^0x[0-9a-f]+$/i.test(s)) return `${o.name}.${f}: expected a "0x…" number`;
    o[f] = BigInt(s);
  }
  if ('vcpu' in o && typeof o.vcpu !== 'number') return `${o.name}.vcpu: expected a number`;
  return o as unknown as TraceEvent;
}
