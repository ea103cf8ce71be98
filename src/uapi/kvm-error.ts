import { Errno, type ErrnoName } from './errno.js';

/**
 * An ioctl that failed with an errno: what `ioctl()` returning -1 is in C. `code` is the errno name,
 * `errno` its number; `message` is for humans only. Thrown by KVM-level calls (`Vcpu.run()`,
 * `Vm.setUserMemoryRegion()`, ...), and the only thing those calls ever throw.
 */
export class KvmError extends Error {
  readonly errno: number;
  override readonly name = 'KvmError';

  constructor(
    readonly code: ErrnoName,
    detail?: string,
  ) {
    super(detail ? `${code}: ${detail}` : code);
    this.errno = Errno[code];
  }
}

/** True when `e` is a KvmError, optionally with the given errno name. */
export function isKvmError(e: unknown, code?: ErrnoName): e is KvmError {
  return e instanceof KvmError && (code === undefined || e.code === code);
}
