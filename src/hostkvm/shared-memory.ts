/**
 * Memory shared with another process, for the /dev/kvm shim of issue 16 (docs/shim-shared-memory.md):
 * the shim's client moves guest RAM onto a memfd and hands the fd to `sevbox serve`, which maps it
 * MAP_SHARED; the server makes the kvm_run page the same way and hands it back. Node has neither
 * recvmsg/SCM_RIGHTS nor mmap, so:
 *
 * - {@link openPeerFd}: a peer's fd by path, `/proc/<pid>/fd/<fd>` (plain `fs.openSync`, no koffi):
 *   opening the magic link gives a new file description of the same memfd. Needs ptrace-read
 *   access to the peer (same uid, not dumpable-cleared, or CAP_SYS_PTRACE).
 * - {@link SharedMemory.recvFds} / {@link SharedMemory.sendFds}: SCM_RIGHTS through koffi
 *   calling libc recvmsg/sendmsg on a socket fd, either one made with {@link SharedMemory.listenUnix}
 *   and `accept`, or a Node `net.Socket`'s own fd (`socket._handle.fd`, with the server created
 *   with `pauseOnConnect: true` so libuv never reads the bytes, and drops the fds, first).
 * - {@link SharedMemory.mapShared}: mmap MAP_SHARED, as a {@link HostMapping} whose `bytes` alias the
 *   pages the peer sees; {@link SharedMemory.createMemfd}: memfd_create + ftruncate.
 *
 * Every call returns what the kernel returns, failures as -errno (the libc.ts convention).
 */
import fs from 'node:fs';
import { PAGE_SIZE } from '../host/page.js';
import { ERRNO } from '../uapi/errno.js';
import { type KoffiFunction, type Libc, loadKoffiLibc, loadLibc } from './libc.js';
import { HostMapping } from './mapping.js';

/** memfd_create(2) flags. */
export const MFD_CLOEXEC = 0x1;
export const MFD_ALLOW_SEALING = 0x2;
/** socket(2) constants (x86-64 Linux). */
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CMSG_CLOEXEC = 0x40000000;
const MSG_CTRUNC = 0x8;
const POLLIN = 0x1;
/** sizeof(struct sockaddr_un). */
const SOCKADDR_UN_SIZE = 110;

/**
 * The scratch page recvmsg/sendmsg use: a struct msghdr, one struct iovec, the control buffer and
 * the data, all at fixed offsets so every pointer inside the structs is a plain address.
 */
const MSGHDR_AT = 0;
const IOV_AT = 64;
const CONTROL_AT = 128;
const CONTROL_SIZE = 384;
const DATA_AT = CONTROL_AT + CONTROL_SIZE;
/** The largest payload one {@link SharedMemory.recvFds}/{@link SharedMemory.sendFds} call carries. */
export const MAX_FD_MESSAGE = PAGE_SIZE - DATA_AT;
/** The most fds one message carries (what the control buffer holds: 16-byte cmsghdr + 4 per fd). */
export const MAX_FDS = (CONTROL_SIZE - 16) / 4;

/** One message received with {@link SharedMemory.recvFds}. */
export interface FdMessage {
  /** The bytes read (0 bytes: the peer closed). */
  readonly bytes: Uint8Array;
  /** The fds that came with them (SCM_RIGHTS), now this process's, close-on-exec. */
  readonly fds: number[];
  /** The kernel dropped fds for want of room (MSG_CTRUNC). */
  readonly truncated: boolean;
}

/**
 * A peer process's fd, opened again through `/proc/<pid>/fd/<fd>`: a new fd of this process on the
 * same file (for a memfd: the same pages). Returns the fd, or -errno (ENOENT: no such process or fd;
 * EACCES/EPERM: no ptrace-read access to the peer). Read-write unless `readOnly`.
 */
export function openPeerFd(pid: number, fd: number, readOnly = false): number {
  if (!Number.isSafeInteger(pid) || !Number.isSafeInteger(fd) || pid <= 0 || fd < 0) return -ERRNO.EINVAL;
  try {
    return fs.openSync(`/proc/${pid}/fd/${fd}`, readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR);
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).errno;
    return typeof errno === 'number' ? -Math.abs(errno) : -ERRNO.EIO;
  }
}

/** The bound calls, or why there are none. */
export type SharedMemoryResult = { ok: true; shm: SharedMemory } | { ok: false; reason: string };

let cached: SharedMemoryResult | undefined;

/** Bind the calls, once per process. Never throws: without koffi it says why. */
export function loadSharedMemory(): SharedMemoryResult {
  if (!cached) cached = bind();
  return cached;
}

interface Calls {
  readonly errno: () => number;
  readonly memfdCreate: KoffiFunction;
  readonly ftruncate: KoffiFunction;
  readonly socket: KoffiFunction;
  readonly bind: KoffiFunction;
  readonly listen: KoffiFunction;
  readonly accept: KoffiFunction;
  readonly recvmsg: KoffiFunction;
  readonly sendmsg: KoffiFunction;
  readonly read: KoffiFunction;
  readonly write: KoffiFunction;
  readonly poll: KoffiFunction;
}

function bind(): SharedMemoryResult {
  const base = loadLibc();
  if (!base.ok) return base;
  const k = loadKoffiLibc();
  if (!k.ok) return k;
  try {
    const f = (d: string): KoffiFunction => k.lib.func(d);
    const calls: Calls = {
      errno: () => k.koffi.errno(),
      memfdCreate: f('int memfd_create(const char *name, unsigned int flags)'),
      ftruncate: f('int ftruncate(int fd, int64_t length)'),
      socket: f('int socket(int domain, int type, int protocol)'),
      bind: f('int bind(int fd, void *addr, uint32_t len)'),
      listen: f('int listen(int fd, int backlog)'),
      accept: f('int accept4(int fd, intptr_t addr, intptr_t len, int flags)'),
      recvmsg: f('intptr_t recvmsg(int fd, intptr_t msg, int flags)'),
      sendmsg: f('intptr_t sendmsg(int fd, intptr_t msg, int flags)'),
      read: f('intptr_t read(int fd, void *buf, size_t count)'),
      write: f('intptr_t write(int fd, void *buf, size_t count)'),
      poll: f('int poll(void *fds, uint64_t nfds, int timeout)'),
    };
    return { ok: true, shm: new SharedMemory(base.libc, calls) };
  } catch (e) {
    return { ok: false, reason: `koffi could not bind the shared-memory calls: ${String(e).split('\n')[0]}` };
  }
}

/** memfds, shared mappings, unix sockets and SCM_RIGHTS, through koffi. */
export class SharedMemory {
  readonly libc: Libc;
  readonly #c: Calls;
  #scratch: HostMapping | undefined;
  #pollfds = new Uint8Array(64);

  constructor(libc: Libc, calls: Calls) {
    this.libc = libc;
    this.#c = calls;
  }

  #err(r: unknown): number {
    const n = Number(r);
    return n < 0 ? -this.#c.errno() : n;
  }

  /** A memfd of `size` bytes (zero-filled), close-on-exec. Returns the fd, or -errno. */
  createMemfd(name: string, size: number): number {
    const fd = this.#err(this.#c.memfdCreate(name, MFD_CLOEXEC));
    if (fd < 0) return fd;
    const r = this.#err(this.#c.ftruncate(fd, size));
    if (r < 0) {
      this.libc.close(fd);
      return r;
    }
    return fd;
  }

  /**
   * `length` bytes of `fd` from offset 0 mapped MAP_SHARED read-write: `bytes` reads what the peer
   * writes and the peer reads what `bytes` writes. `close()` drops the pages at once and leaves the
   * view harmless (see HostMapping); the fd may be closed as soon as this returns.
   */
  mapShared(fd: number, length: number): HostMapping | number {
    return HostMapping.file(this.libc, fd, length);
  }

  /** A listening AF_UNIX stream socket bound at `path` (blocking, close-on-exec), or -errno. */
  listenUnix(path: string, backlog = 16): number {
    const name = Buffer.from(path);
    if (name.length >= SOCKADDR_UN_SIZE - 2) return -ERRNO.ENAMETOOLONG;
    const fd = this.#err(this.#c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd < 0) return fd;
    const addr = new Uint8Array(SOCKADDR_UN_SIZE);
    new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
    addr.set(name, 2);
    let r = this.#err(this.#c.bind(fd, addr, SOCKADDR_UN_SIZE));
    if (r >= 0) r = this.#err(this.#c.listen(fd, backlog));
    if (r < 0) {
      this.libc.close(fd);
      return r;
    }
    return fd;
  }

  /** accept(2), blocking the thread until a peer connects. The connection's fd, or -errno. */
  accept(fd: number): number {
    return this.#err(this.#c.accept(fd, 0, 0, SOCK_CLOEXEC));
  }

  /** read(2) into `buf` (blocks on a blocking fd). Bytes read, or -errno. */
  read(fd: number, buf: Uint8Array): number {
    return this.#err(this.#c.read(fd, buf, buf.length));
  }

  /** write(2) of `buf`. Bytes written, or -errno. */
  write(fd: number, buf: Uint8Array): number {
    return this.#err(this.#c.write(fd, buf, buf.length));
  }

  /** poll(2) for input on one fd: 1 readable (or hung up), 0 timed out, or -errno. */
  waitReadable(fd: number, timeoutMs: number): number {
    const r = this.pollReadable([fd], timeoutMs);
    return typeof r === 'number' ? r : r.length;
  }

  /**
   * poll(2) for input on several fds: those readable (or hung up, or in error), [] when the timeout
   * passed first (-1: wait for ever), or -errno.
   */
  pollReadable(fds: readonly number[], timeoutMs: number): number[] | number {
    if (this.#pollfds.length < fds.length * 8) this.#pollfds = new Uint8Array(fds.length * 16);
    const p = new DataView(this.#pollfds.buffer);
    for (const [i, fd] of fds.entries()) {
      p.setInt32(i * 8, fd, true);
      p.setInt16(i * 8 + 4, POLLIN, true);
      p.setInt16(i * 8 + 6, 0, true);
    }
    const n = this.#err(this.#c.poll(this.#pollfds, fds.length, timeoutMs));
    if (n <= 0) return n < 0 ? n : [];
    const ready: number[] = [];
    for (const [i, fd] of fds.entries()) if (p.getInt16(i * 8 + 6, true) !== 0) ready.push(fd);
    return ready;
  }

  /**
   * recvmsg(2) of up to `maxBytes` (at most {@link MAX_FD_MESSAGE}) with any SCM_RIGHTS fds. On a
   * non-blocking fd (a Node socket's) this is -EAGAIN until data is there: {@link waitReadable}.
   */
  recvFds(fd: number, maxBytes: number): FdMessage | number {
    const m = this.#scratchPage();
    if (typeof m === 'number') return m;
    const len = Math.min(maxBytes, MAX_FD_MESSAGE);
    const v = new DataView(m.bytes.buffer, m.bytes.byteOffset, PAGE_SIZE);
    this.#header(m, v, len, CONTROL_SIZE);
    const n = this.#err(this.#c.recvmsg(fd, m.hva + MSGHDR_AT, MSG_CMSG_CLOEXEC));
    if (n < 0) return n;
    const fds: number[] = [];
    const controlLen = Number(v.getBigUint64(MSGHDR_AT + 40, true));
    for (let at = 0; at + 16 <= controlLen; ) {
      const cmsgLen = Number(v.getBigUint64(CONTROL_AT + at, true));
      if (cmsgLen < 16) break;
      const level = v.getInt32(CONTROL_AT + at + 8, true);
      const type = v.getInt32(CONTROL_AT + at + 12, true);
      if (level === SOL_SOCKET && type === SCM_RIGHTS) {
        for (let i = 16; i + 4 <= cmsgLen; i += 4) fds.push(v.getInt32(CONTROL_AT + at + i, true));
      }
      at += (cmsgLen + 7) & ~7;
    }
    const truncated = (v.getInt32(MSGHDR_AT + 48, true) & MSG_CTRUNC) !== 0;
    return { bytes: m.bytes.slice(DATA_AT, DATA_AT + n), fds, truncated };
  }

  /** sendmsg(2) of `bytes` (at most {@link MAX_FD_MESSAGE}) with `fds` as SCM_RIGHTS. Bytes sent, or -errno. */
  sendFds(fd: number, bytes: Uint8Array, fds: readonly number[]): number {
    if (bytes.length > MAX_FD_MESSAGE || fds.length > MAX_FDS) return -ERRNO.EINVAL;
    const m = this.#scratchPage();
    if (typeof m === 'number') return m;
    const v = new DataView(m.bytes.buffer, m.bytes.byteOffset, PAGE_SIZE);
    m.bytes.set(bytes, DATA_AT);
    const controlLen = fds.length === 0 ? 0 : 16 + ((fds.length * 4 + 7) & ~7);
    this.#header(m, v, bytes.length, controlLen);
    if (fds.length > 0) {
      v.setBigUint64(CONTROL_AT, BigInt(16 + fds.length * 4), true);
      v.setInt32(CONTROL_AT + 8, SOL_SOCKET, true);
      v.setInt32(CONTROL_AT + 12, SCM_RIGHTS, true);
      for (const [i, f] of fds.entries()) v.setInt32(CONTROL_AT + 16 + i * 4, f, true);
    }
    return this.#err(this.#c.sendmsg(fd, m.hva + MSGHDR_AT, 0));
  }

  /** struct msghdr (56 bytes) and its one iovec, pointing into the scratch page. */
  #header(m: HostMapping, v: DataView, dataLen: number, controlLen: number): void {
    m.bytes.fill(0, MSGHDR_AT, DATA_AT);
    v.setBigUint64(MSGHDR_AT + 16, BigInt(m.hva + IOV_AT), true); // msg_iov
    v.setBigUint64(MSGHDR_AT + 24, 1n, true); // msg_iovlen
    if (controlLen > 0) {
      v.setBigUint64(MSGHDR_AT + 32, BigInt(m.hva + CONTROL_AT), true); // msg_control
      v.setBigUint64(MSGHDR_AT + 40, BigInt(controlLen), true); // msg_controllen
    }
    v.setBigUint64(IOV_AT, BigInt(m.hva + DATA_AT), true);
    v.setBigUint64(IOV_AT + 8, BigInt(dataLen), true);
  }

  #scratchPage(): HostMapping | number {
    if (!this.#scratch) {
      const m = HostMapping.anonymous(this.libc, PAGE_SIZE);
      if (typeof m === 'number') return m;
      this.#scratch = m;
    }
    return this.#scratch;
  }
}
