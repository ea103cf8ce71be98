/**
 * Linux errno values by name (include/uapi/asm-generic/errno-base.h and errno.h, as on x86-64, plus
 * the kernel-internal values of include/linux/errno.h that can leak to userspace, such as ENOTSUPP)
 * and the value a failed call returns. A KVM ioctl fails with one of these; sevbox carries the name
 * (never a message to parse), so a VMM can `switch (r.errno)` exactly as C code tests `errno`, and
 * no value is ever folded into another (EHWPOISON stays EHWPOISON).
 */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOMSG: 42,
  EIDRM: 43,
  ECHRNG: 44,
  EL2NSYNC: 45,
  EL3HLT: 46,
  EL3RST: 47,
  ELNRNG: 48,
  EUNATCH: 49,
  ENOCSI: 50,
  EL2HLT: 51,
  EBADE: 52,
  EBADR: 53,
  EXFULL: 54,
  ENOANO: 55,
  EBADRQC: 56,
  EBADSLT: 57,
  EBFONT: 59,
  ENOSTR: 60,
  ENODATA: 61,
  ETIME: 62,
  ENOSR: 63,
  ENONET: 64,
  ENOPKG: 65,
  EREMOTE: 66,
  ENOLINK: 67,
  EADV: 68,
  ESRMNT: 69,
  ECOMM: 70,
  EPROTO: 71,
  EMULTIHOP: 72,
  EDOTDOT: 73,
  EBADMSG: 74,
  EOVERFLOW: 75,
  ENOTUNIQ: 76,
  EBADFD: 77,
  EREMCHG: 78,
  ELIBACC: 79,
  ELIBBAD: 80,
  ELIBSCN: 81,
  ELIBMAX: 82,
  ELIBEXEC: 83,
  EILSEQ: 84,
  ERESTART: 85,
  ESTRPIPE: 86,
  EUSERS: 87,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  ESOCKTNOSUPPORT: 94,
  EOPNOTSUPP: 95,
  EPFNOSUPPORT: 96,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ENETRESET: 102,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ESHUTDOWN: 108,
  ETOOMANYREFS: 109,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
  ESTALE: 116,
  EUCLEAN: 117,
  ENOTNAM: 118,
  ENAVAIL: 119,
  EISNAM: 120,
  EREMOTEIO: 121,
  EDQUOT: 122,
  ENOMEDIUM: 123,
  EMEDIUMTYPE: 124,
  ECANCELED: 125,
  ENOKEY: 126,
  EKEYEXPIRED: 127,
  EKEYREVOKED: 128,
  EKEYREJECTED: 129,
  EOWNERDEAD: 130,
  ENOTRECOVERABLE: 131,
  ERFKILL: 132,
  EHWPOISON: 133,
  ERESTARTSYS: 512,
  ERESTARTNOINTR: 513,
  ERESTARTNOHAND: 514,
  ENOIOCTLCMD: 515,
  ERESTART_RESTARTBLOCK: 516,
  EPROBE_DEFER: 517,
  EOPENSTALE: 518,
  ENOPARAM: 519,
  EBADHANDLE: 521,
  ENOTSYNC: 522,
  EBADCOOKIE: 523,
  ENOTSUPP: 524,
  ETOOSMALL: 525,
  ESERVERFAULT: 526,
  EBADTYPE: 527,
  EJUKEBOX: 528,
  EIOCBQUEUED: 529,
  ERECALLCONFLICT: 530,
  ENOGRACE: 531,
} as const;

/** A known errno name such as `'EFAULT'`. */
export type KnownErrnoName = keyof typeof ERRNO;
/** An errno name: a known one, or `ERRNO_<n>` for a number Linux does not define. */
export type ErrnoName = KnownErrnoName | `ERRNO_${number}`;

const byValue = new Map<number, KnownErrnoName>(
  (Object.keys(ERRNO) as KnownErrnoName[]).map((name) => [ERRNO[name], name]),
);

/** The name of a positive errno value; `ERRNO_<n>` when Linux defines no name for it. */
export function errnoName(value: number): ErrnoName {
  return byValue.get(value) ?? `ERRNO_${value}`;
}

/** The value of an errno name. */
export function errnoValue(name: ErrnoName): number {
  return name in ERRNO ? ERRNO[name as KnownErrnoName] : Number(name.slice('ERRNO_'.length));
}

/**
 * A failed call, as a value: what a C call returning -1 leaves in errno. `detail` is for humans
 * only. Ioctls of the fd interface return it instead of throwing.
 */
export class Errno {
  /** The errno as a number. */
  readonly value: number;

  constructor(
    readonly errno: ErrnoName,
    readonly detail?: string,
  ) {
    this.value = errnoValue(errno);
  }

  /** From a negative kernel return value (-EFAULT). */
  static fromNegative(r: number, detail?: string): Errno {
    return new Errno(errnoName(-r), detail);
  }

  toString(): string {
    return this.detail ? `${this.errno}: ${this.detail}` : this.errno;
  }
}

/** True when `v` is an Errno (optionally with the given name). */
export function isErrno(v: unknown, errno?: ErrnoName): v is Errno {
  return v instanceof Errno && (errno === undefined || v.errno === errno);
}
