/**
 * The VMM's own failures as values: an errno name, as a C VMM would see from the call that failed,
 * and a sentence for humans. Nothing in src/vmm throws for a condition a caller can cause.
 */
import type { Errno, ErrnoName } from '../uapi/errno.js';
import { SysError } from '../uapi/kvm-error.js';

/** A VMM operation that failed (bad machine description, a host call refused, ...). */
export interface VmmError {
  readonly kind: 'vmm-error';
  readonly errno: ErrnoName;
  readonly message: string;
}

/** Build a VmmError. */
export function vmmError(errno: ErrnoName, message: string): VmmError {
  return { kind: 'vmm-error', errno, message };
}

/** True when `v` is a VmmError. */
export function isVmmError(v: unknown): v is VmmError {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'vmm-error';
}

/**
 * Run a host or KVM call and turn the errno-carrying error it throws (SysError, KvmError) into a
 * VmmError value; anything else is a bug and propagates.
 */
function tryCall<T>(what: string, fn: () => T): T | VmmError {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SysError) return vmmError(e.code, `${what}: ${e.message}`);
    throw e;
  }
}

/** tryCall for a call that returns nothing: undefined on success, else the VmmError. */
export function tryDo(what: string, fn: () => void): VmmError | undefined {
  const r = tryCall(what, fn);
  return isVmmError(r) ? r : undefined;
}

/** A failed call's Errno as a VmmError, prefixed with what the VMM was doing. */
export function fromErrno(what: string, e: Errno): VmmError {
  return vmmError(e.errno, `${what}: ${e.detail ?? e.errno}`);
}
