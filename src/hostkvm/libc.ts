/**
 * The few libc calls a VMM needs to drive the machine's real /dev/kvm (open, close, ioctl, mmap,
 * munmap, mprotect, a per-thread POSIX timer for the KVM_RUN watchdog), bound with koffi. koffi is an
 * optional dependency: when it is missing or cannot load libc, {@link loadLibc} says why and the
 * rest of sevbox works without the oracle.
 *
 * Every wrapper returns what the kernel returns, with failures as a negative errno read straight
 * after the call (koffi saves errno before any other code can run), so no JS work ever clobbers it.
 * Memory is handled by address (an `intptr_t`, a plain number: user addresses stay below 2^47), so
 * a sub-range of a mapping (`hva + offset`) can be remapped or re-protected like any other.
 */
import { createRequire } from 'node:module';

/** The subset of koffi's API used here (typed locally, so type-checking does not need koffi installed). */
export type KoffiFunction = (...args: unknown[]) => unknown;
export interface KoffiLibrary {
  func(definition: string): KoffiFunction;
}
export interface Koffi {
  load(path: string): KoffiLibrary;
  errno(): number;
  view(ptr: unknown, len: number): ArrayBuffer;
  version?: string;
}

/**
 * open(2) flags and mmap(2) flags (x86-64 Linux). The page size and the PROT_* protections are the
 * host model's (src/host/page.ts, src/host/address-space.ts): the same numbers.
 */
export const O_RDWR = 0o2;
export const O_CLOEXEC = 0o2000000;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
/** clockid_t CLOCK_MONOTONIC. */
export const CLOCK_MONOTONIC = 1;
/** sigev_notify value: deliver the signal to one thread (sigev_notify_thread_id). */
export const SIGEV_THREAD_ID = 4;

/** The bound calls. Each returns the syscall's result, or -errno on failure. */
export interface Libc {
  /** The koffi version that bound these calls. */
  readonly koffiVersion: string;
  open(path: string, flags: number): number;
  close(fd: number): number;
  /** ioctl with an integer argument (or none: pass 0). Addresses are passed this way too. */
  ioctl(fd: number, request: number, arg: number): number;
  /** ioctl with a pointer to `buf` (the kernel reads and/or writes it in place). */
  ioctlBuf(fd: number, request: number, buf: Uint8Array): number;
  /**
   * mmap(addr, ...): the mapping's address, or -errno. `addr` 0 lets the kernel choose; with
   * MAP_FIXED in `flags` it maps exactly there, replacing what was mapped.
   */
  mmap(addr: number, length: number, prot: number, flags: number, fd: number, offset: number): number;
  munmap(addr: number, length: number): number;
  mprotect(addr: number, length: number, prot: number): number;
  /**
   * An ArrayBuffer aliasing `length` bytes at `addr` (no copy). The caller keeps the mapping alive
   * and never touches a page that is not accessible (that would be SIGSEGV, not an exception).
   */
  view(addr: number, length: number): ArrayBuffer;
  gettid(): number;
  /** timer_create(2) with a 64-byte struct sigevent; returns the timer id or -errno. */
  timerCreate(clock: number, sigevent: Uint8Array): number;
  /** timer_settime(2) with a 32-byte struct itimerspec. */
  timerSettime(timer: number, itimerspec: Uint8Array): number;
  timerDelete(timer: number): number;
}

/** Either the bindings, or why there are none. */
export type LibcResult = { ok: true; libc: Libc } | { ok: false; reason: string };

let cached: LibcResult | undefined;

/**
 * Load koffi and bind libc, once per process. Never throws: a missing koffi (optional dependency
 * not installed), a platform without glibc or any binding failure comes back as `{ ok: false }`.
 */
export function loadLibc(): LibcResult {
  if (!cached) cached = bind();
  return cached;
}

/** koffi and libc.so.6 loaded through it, or why not (also used by shared-memory.ts for more calls). */
export type KoffiLibcResult = { ok: true; koffi: Koffi; lib: KoffiLibrary } | { ok: false; reason: string };

let loaded: KoffiLibcResult | undefined;

/** Load koffi and libc.so.6, once per process. Never throws. */
export function loadKoffiLibc(): KoffiLibcResult {
  if (!loaded) loaded = loadKoffi();
  return loaded;
}

function loadKoffi(): KoffiLibcResult {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return {
      ok: false,
      reason: `the oracle needs x86-64 Linux, this is ${process.platform}/${process.arch}`,
    };
  }
  let koffi: Koffi;
  try {
    const req = createRequire(import.meta.url);
    const mod = req('koffi') as Koffi & { default?: Koffi };
    koffi = typeof mod.load === 'function' ? mod : mod.default!;
  } catch (e) {
    return { ok: false, reason: `koffi (optional dependency) is not available: ${firstLine(e)}` };
  }
  try {
    return { ok: true, koffi, lib: koffi.load('libc.so.6') };
  } catch (e) {
    return { ok: false, reason: `koffi could not load libc: ${firstLine(e)}` };
  }
}

function bind(): LibcResult {
  const loadedLibc = loadKoffiLibc();
  if (!loadedLibc.ok) return loadedLibc;
  const { koffi, lib } = loadedLibc;
  try {
    const open = lib.func('int open(const char *path, int flags, int mode)');
    const close = lib.func('int close(int fd)');
    const ioctlN = lib.func('int ioctl(int fd, unsigned long request, unsigned long arg)');
    const ioctlP = lib.func('int ioctl(int fd, unsigned long request, void *arg)');
    const mmap = lib.func(
      'intptr_t mmap(intptr_t addr, size_t length, int prot, int flags, int fd, int64_t offset)',
    );
    const munmap = lib.func('int munmap(intptr_t addr, size_t length)');
    const mprotect = lib.func('int mprotect(intptr_t addr, size_t length, int prot)');
    const gettid = lib.func('int gettid(void)');
    const timerCreate = lib.func('int timer_create(int clock, void *sevp, void *timerid)');
    const timerSettime = lib.func(
      'int timer_settime(intptr_t timerid, int flags, void *new_value, void *old_value)',
    );
    const timerDelete = lib.func('int timer_delete(intptr_t timerid)');
    const err = (r: number): number => (r < 0 ? -koffi.errno() : r);
    const timerOut = new BigInt64Array(1);
    const libc: Libc = {
      koffiVersion: koffi.version ?? 'unknown',
      open: (path, flags) => err(open(path, flags, 0) as number),
      close: (fd) => err(close(fd) as number),
      ioctl: (fd, request, arg) => err(ioctlN(fd, request, arg) as number),
      ioctlBuf: (fd, request, buf) => err(ioctlP(fd, request, buf) as number),
      mmap: (addr, length, prot, flags, fd, offset) => {
        const r = Number(mmap(addr, length, prot, flags, fd, offset));
        // MAP_FAILED is (void *)-1.
        return r === -1 ? -koffi.errno() : r;
      },
      munmap: (addr, length) => err(munmap(addr, length) as number),
      mprotect: (addr, length, prot) => err(mprotect(addr, length, prot) as number),
      view: (addr, length) => koffi.view(addr, length),
      gettid: () => gettid() as number,
      timerCreate: (clock, sigevent) => {
        const r = err(timerCreate(clock, sigevent, timerOut) as number);
        return r < 0 ? r : Number(timerOut[0]);
      },
      timerSettime: (timer, spec) => err(timerSettime(timer, 0, spec, null) as number),
      timerDelete: (timer) => err(timerDelete(timer) as number),
    };
    return { ok: true, libc };
  } catch (e) {
    return { ok: false, reason: `koffi could not bind libc: ${firstLine(e)}` };
  }
}

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split('\n')[0]!;
}
