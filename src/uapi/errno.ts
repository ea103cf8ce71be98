/**
 * Linux x86-64 errno values, by name. KVM's ioctls fail with one of these; sevbox errors carry the
 * name (never a message to parse), so a VMM can `switch (err.code)` exactly as C code tests `errno`.
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  ERANGE: 34,
  ENOSYS: 38,
  EOPNOTSUPP: 95,
  EHWPOISON: 133,
  /** Kernel-internal ENOTSUPP; leaks to userspace from some paths. */
  ENOTSUPP: 524,
} as const;

/** An errno name such as `'EFAULT'`. */
export type ErrnoName = keyof typeof Errno;

const byValue = new Map<number, ErrnoName>(
  (Object.keys(Errno) as ErrnoName[]).map((name) => [Errno[name], name]),
);

/** The name of an errno value, or undefined for a value sevbox does not know. */
export function errnoName(value: number): ErrnoName | undefined {
  return byValue.get(value);
}
