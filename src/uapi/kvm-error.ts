import { type ErrnoName, errnoValue } from './errno.js';

/**
 * A system call that failed with an errno: what a C call returning -1 is. `code` is the errno name,
 * `errno` its number; `message` is for humans only. Host-model calls (mmap-like operations) throw it.
 */
export class SysError extends Error {
  readonly errno: number;

  constructor(
    readonly code: ErrnoName,
    detail?: string,
  ) {
    super(detail ? `${code}: ${detail}` : code);
    this.name = 'SysError';
    this.errno = errnoValue(code);
  }
}

/**
 * A KVM ioctl that failed with an errno. Thrown by KVM-level calls (`Vcpu.run()`,
 * `Vm.setUserMemoryRegion()`, ...), and the only thing those calls ever throw.
 */
export class KvmError extends SysError {
  constructor(code: ErrnoName, detail?: string) {
    super(code, detail);
    this.name = 'KvmError';
  }
}
