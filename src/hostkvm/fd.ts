/**
 * The machine's real /dev/kvm behind the fd ABI of src/uapi/kvm-fd.ts: `HostKvmFd` (the system fd)
 * → `HostVmFd` → `HostVcpuFd` (with its mmap'ed kvm_run), one method per ioctl, the same interfaces
 * the model implements in src/kvm/fd.ts, so one VMM (or one differential test) runs on either.
 *
 * Every method encodes its argument with the src/uapi codec into a buffer, issues the real ioctl
 * (koffi, src/hostkvm/libc.ts), decodes what the kernel wrote back, and returns a failure as the
 * `Errno` the kernel set, unchanged: nothing is thrown and no errno is folded into another. Where a
 * struct carries a userspace pointer (dirty bitmaps, MSR filter bitmaps, KVM_SET_IDENTITY_MAP_ADDR's
 * u64) the bytes go to real mmap'ed scratch memory whose end abuts a PROT_NONE page (UserBuffers in
 * mapping.ts), so the kernel reads what it decides to read and a short array is its own EFAULT.
 *
 * sevbox-side refusals, before any ioctl: an argument the C struct cannot represent (a negative or
 * fractional count, a u32 field above 2^32, a byte array of the wrong size) is EINVAL, with a
 * detail saying the kernel was not called; a byte array shorter than the struct member the kernel
 * copies (lapic regs, irqchip state) is EFAULT; more than 16 MSR filter ranges is E2BIG (the model's
 * answers for the same inputs). A method of a closed fd returns EBADF without touching the fd number
 * (which the process may have reused); `getApiVersion` and `checkExtension`, typed `number`,
 * return -errno then.
 *
 * Every KVM_RUN runs under the calling thread's watchdog (watchdog.ts): a guest that does not exit
 * to userspace within `HostVcpuFd.timeoutMs` (or the deadline of an enclosing `watchdog.guard`)
 * makes `run()` return `{ kind: 'Failed', error: WatchdogExpiry (EINTR), left }`; tell it from any
 * other EINTR with {@link isWatchdogExpiry}, or `vcpu.lastRunTimedOut` after `runRaw()`.
 */
import { PAGE_SIZE } from '../host/page.js';
import { KVM_API_VERSION, KVM_CAP_XSAVE2, KVM_X86_DEFAULT_VM } from '../uapi/caps.js';
import { decodeCpuid2, encodeCpuid2, type KvmCpuidEntry2 } from '../uapi/cpuid.js';
import {
  decodeDebugregs,
  encodeDebugregs,
  KVM_DEBUGREGS_SIZE,
  type KvmDebugregs,
} from '../uapi/debugregs.js';
import { encodeDeviceAttr } from '../uapi/device-attr.js';
import { dirtyBitmapBytes, encodeClearDirtyLog, encodeDirtyLog } from '../uapi/dirty-log.js';
import { encodeEnableCap, type KvmEnableCap } from '../uapi/enable-cap.js';
import { ERRNO, Errno } from '../uapi/errno.js';
import { decodeFpu, encodeFpu, KVM_FPU_SIZE, type KvmFpu } from '../uapi/fpu.js';
import { encodeCreateGuestMemfd } from '../uapi/guest-memfd.js';
import {
  KVM_CHECK_EXTENSION,
  KVM_CLEAR_DIRTY_LOG,
  KVM_CREATE_GUEST_MEMFD,
  KVM_CREATE_IRQCHIP,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_ENABLE_CAP,
  KVM_GET_API_VERSION,
  KVM_GET_CPUID2,
  KVM_GET_DEBUGREGS,
  KVM_GET_DEVICE_ATTR,
  KVM_GET_DIRTY_LOG,
  KVM_GET_FPU,
  KVM_GET_IRQCHIP,
  KVM_GET_LAPIC,
  KVM_GET_MP_STATE,
  KVM_GET_MSR_FEATURE_INDEX_LIST,
  KVM_GET_MSR_INDEX_LIST,
  KVM_GET_MSRS,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_SUPPORTED_CPUID,
  KVM_GET_TSC_KHZ,
  KVM_GET_VCPU_EVENTS,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_GET_XCRS,
  KVM_GET_XSAVE,
  KVM_GET_XSAVE2,
  KVM_HAS_DEVICE_ATTR,
  KVM_INTERRUPT,
  KVM_IRQ_LINE,
  KVM_MEMORY_ENCRYPT_OP,
  KVM_MEMORY_ENCRYPT_REG_REGION,
  KVM_MEMORY_ENCRYPT_UNREG_REGION,
  KVM_NMI,
  KVM_RUN,
  KVM_SET_CPUID2,
  KVM_SET_DEBUGREGS,
  KVM_SET_FPU,
  KVM_SET_IDENTITY_MAP_ADDR,
  KVM_SET_IRQCHIP,
  KVM_SET_LAPIC,
  KVM_SET_MP_STATE,
  KVM_SET_MSRS,
  KVM_SET_NR_MMU_PAGES,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SET_TSS_ADDR,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SET_USER_MEMORY_REGION2,
  KVM_SET_VCPU_EVENTS,
  KVM_SET_XCRS,
  KVM_SET_XSAVE,
  KVM_X86_SET_MSR_FILTER,
  SIZEOF_U64,
} from '../uapi/ioctl.js';
import {
  decodeIrqchip,
  decodeMpState,
  encodeInterrupt,
  encodeIrqchip,
  encodeIrqLevel,
  encodeMpState,
  KVM_IRQCHIP_CHIP_BYTES,
  KVM_MP_STATE_SIZE,
  type KvmIrqchip,
} from '../uapi/irq.js';
import type {
  ClearDirtyLog,
  IoctlResult,
  KvmFd,
  MsrFilterSpec,
  RunResult,
  VcpuFd,
  VmFd,
} from '../uapi/kvm-fd.js';
import { KVM_VCPU_MMAP_SIZE, KvmRun } from '../uapi/kvm-run.js';
import {
  decodeLapicState,
  encodeLapicState,
  KVM_LAPIC_STATE_SIZE,
  type KvmLapicState,
} from '../uapi/lapic.js';
import {
  encodeUserspaceMemoryRegion,
  encodeUserspaceMemoryRegion2,
  KVM_USERSPACE_MEMORY_REGION2_SIZE,
  type UserspaceMemoryRegion,
} from '../uapi/memslot.js';
import { encodeMsrFilter, KVM_MSR_FILTER_MAX_RANGES } from '../uapi/msr-filter.js';
import { decodeMsrList, decodeMsrs, encodeMsrList, encodeMsrs, type KvmMsrEntry } from '../uapi/msrs.js';
import { decodeRegs, encodeRegs, KVM_REGS_SIZE, type KvmRegs } from '../uapi/regs.js';
import {
  decodeSevCmd,
  encodeEncRegion,
  encodeSevCmd,
  type KvmEncRegion,
  type KvmSevCmd,
  SevCmdErrno,
} from '../uapi/sev-cmd.js';
import { decodeSregs, encodeSregs, KVM_SREGS_SIZE, type KvmSregs } from '../uapi/sregs.js';
import { structOut } from '../uapi/struct.js';
import {
  decodeVcpuEvents,
  encodeVcpuEvents,
  KVM_VCPU_EVENTS_SIZE,
  type KvmVcpuEvents,
} from '../uapi/vcpu-events.js';
import { decodeExit, type VcpuExit } from '../uapi/vcpu-exit.js';
import {
  decodeXcrs,
  decodeXsave,
  encodeXcrs,
  encodeXsave,
  KVM_XCRS_SIZE,
  KVM_XSAVE_SIZE,
  type KvmXcrs,
  type KvmXsave,
} from '../uapi/xsave.js';
import { type Libc, loadLibc, O_CLOEXEC, O_RDWR } from './libc.js';
import { HostMapping, UserBuffers } from './mapping.js';
import { HostProcessMemory } from './process.js';
import { Watchdog } from './watchdog.js';

/** Default KVM_RUN deadline (ms) when no watchdog guard is active. */
export const DEFAULT_RUN_TIMEOUT_MS = 2000;

/**
 * Room asked for by getSupportedCpuid/getCpuid2 at most (KVM itself never returns more than
 * KVM_MAX_CPUID_ENTRIES = 256): a larger `maxEntries` is asked as this many.
 */
export const MAX_CPUID_ROOM = 4096;

/** KVM_RUN's EINTR when this thread's watchdog interrupted it: the guest did not exit to userspace in time. */
export class WatchdogExpiry extends Errno {
  constructor(
    /** The deadline the run armed itself, or undefined inside an enclosing `watchdog.guard`. */
    readonly timeoutMs: number | undefined,
    vcpuId: number,
  ) {
    super(
      'EINTR',
      `KVM_RUN watchdog: vcpu ${vcpuId} did not exit to userspace ${timeoutMs === undefined ? 'before the guard deadline' : `within ${timeoutMs} ms`}`,
    );
  }
}

/** True when `r` is a KVM_RUN the watchdog ended (a Failed RunResult with a WatchdogExpiry, or that Errno). */
export function isWatchdogExpiry(r: RunResult | Errno): boolean {
  return (
    r instanceof WatchdogExpiry ||
    (!(r instanceof Errno) && r.kind === 'Failed' && r.error instanceof WatchdogExpiry)
  );
}

/** Encode an ioctl argument; a value the C struct cannot hold is EINVAL before any ioctl. */
function encode<T>(what: string, fn: () => T): T | Errno {
  try {
    return fn();
  } catch (e) {
    if (e instanceof RangeError)
      return new Errno('EINVAL', `${what}: ${e.message} (refused by sevbox, the kernel was not called)`);
    throw e;
  }
}

/** An open file descriptor: its ioctls as values, EBADF once closed. */
class RawFd {
  #closed = false;

  constructor(
    readonly libc: Libc,
    readonly fd: number,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  ioctl(request: number, arg: number, what: string): number | Errno {
    if (this.#closed) return new Errno('EBADF', `${what} on a closed fd`);
    const r = this.libc.ioctl(this.fd, request, arg);
    return r < 0 ? Errno.fromNegative(r, what) : r;
  }

  ioctlBuf(request: number, buf: Uint8Array, what: string): number | Errno {
    if (this.#closed) return new Errno('EBADF', `${what} on a closed fd`);
    const r = this.libc.ioctlBuf(this.fd, request, buf);
    return r < 0 ? Errno.fromNegative(r, what) : r;
  }

  /** KVM_CHECK_EXTENSION (on the system or a VM fd): 0 for an unknown capability, -errno on failure. */
  checkExtension(cap: number): number {
    const r = this.ioctl(KVM_CHECK_EXTENSION, cap, 'KVM_CHECK_EXTENSION');
    return r instanceof Errno ? -r.value : r;
  }

  /** ioctl with a buffer, 0 or -errno: for the raw paths that allocate nothing. */
  ioctlBufRaw(request: number, buf: Uint8Array): number {
    return this.#closed ? -ERRNO.EBADF : this.libc.ioctlBuf(this.fd, request, buf);
  }

  /** close(2), once; false when already closed. */
  close(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    this.libc.close(this.fd);
    return true;
  }
}

/** Ioctl with an in/out struct buffer: the decoded buffer, or the errno. */
function getStruct<T>(
  fd: RawFd,
  request: number,
  size: number,
  what: string,
  decode: (b: Uint8Array) => T,
): IoctlResult<T> {
  const buf = new Uint8Array(size);
  const r = fd.ioctlBuf(request, buf, what);
  return r instanceof Errno ? r : decode(buf);
}

/** EBADF for a closed fd (checked first, as the kernel's fd lookup comes before any argument). */
function closedFd(fd: RawFd, what: string): Errno | undefined {
  return fd.closed ? new Errno('EBADF', `${what} on a closed fd`) : undefined;
}

/** Ioctl writing an encoded struct: undefined, or the errno (EINVAL when it cannot be encoded). */
function setStruct(fd: RawFd, request: number, what: string, enc: () => Uint8Array): IoctlResult<void> {
  const bad = closedFd(fd, what);
  if (bad) return bad;
  const buf = encode(what, enc);
  if (buf instanceof Errno) return buf;
  const r = fd.ioctlBuf(request, buf, what);
  return r instanceof Errno ? r : undefined;
}

/** KVM_ENABLE_CAP (on a VM or vCPU fd); `args` may be shorter than 4 (the rest are 0). */
function enableCap(fd: RawFd, cap: KvmEnableCap): IoctlResult<void> {
  const args = cap.args.length < 4 ? [...cap.args, 0n, 0n, 0n, 0n].slice(0, 4) : cap.args;
  return setStruct(fd, KVM_ENABLE_CAP, `KVM_ENABLE_CAP ${cap.cap}`, () => encodeEnableCap({ ...cap, args }));
}

/** KVM_GET_SUPPORTED_CPUID / KVM_GET_CPUID2 with room for `maxEntries` (0 for a negative or fractional count). */
function getCpuidTable(
  fd: RawFd,
  request: number,
  maxEntries: number,
  what: string,
): IoctlResult<KvmCpuidEntry2[]> {
  const room = Number.isInteger(maxEntries) && maxEntries > 0 ? Math.min(maxEntries, MAX_CPUID_ROOM) : 0;
  const buf = encodeCpuid2({ nent: room, entries: [] });
  const r = fd.ioctlBuf(request, buf, what);
  return r instanceof Errno ? r : decodeCpuid2(buf).entries;
}

/**
 * KVM_GET_MSR_INDEX_LIST / KVM_GET_MSR_FEATURE_INDEX_LIST: ask with nmsrs 0, read the count KVM
 * wrote back with its E2BIG, ask again with that much room (again if the list grew meanwhile).
 */
function getMsrList(fd: RawFd, request: number, what: string): IoctlResult<number[]> {
  let room = 0;
  for (let attempt = 0; attempt < 4; attempt++) {
    const buf = encodeMsrList({ nmsrs: room, indices: [] });
    const r = fd.ioctlBuf(request, buf, what);
    const list = decodeMsrList(buf);
    if (!(r instanceof Errno)) return list.indices;
    if (r.errno !== 'E2BIG' || list.nmsrs <= room) return r;
    room = list.nmsrs;
  }
  return new Errno('E2BIG', `${what}: the list kept growing`);
}

/** Either an open /dev/kvm, or why there is none. */
export type OpenHostKvm = { ok: true; kvm: HostKvmFd } | { ok: false; reason: string };

/**
 * Open the machine's KVM device (default /dev/kvm) and check that it speaks API version 12 and maps
 * at least the 3-page kvm_run area sevbox decodes. Never throws: a missing koffi, device,
 * permission, an odd API version or a watchdog timer that cannot be made comes back as a reason.
 */
export function openHostKvm(path = '/dev/kvm'): OpenHostKvm {
  try {
    const l = loadLibc();
    if (!l.ok) return l;
    const libc = l.libc;
    const fd = libc.open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return { ok: false, reason: `cannot open ${path}: ${Errno.fromNegative(fd).errno}` };
    const fail = (reason: string): OpenHostKvm => {
      libc.close(fd);
      return { ok: false, reason };
    };
    const api = libc.ioctl(fd, KVM_GET_API_VERSION, 0);
    if (api !== KVM_API_VERSION)
      return fail(`${path} speaks KVM API ${api}, sevbox needs ${KVM_API_VERSION}`);
    const mmapSize = libc.ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (mmapSize < KVM_VCPU_MMAP_SIZE)
      return fail(`${path}: KVM_GET_VCPU_MMAP_SIZE is ${mmapSize}, sevbox needs ${KVM_VCPU_MMAP_SIZE}`);
    const wd = Watchdog.forThread(libc);
    if (typeof wd === 'number')
      return fail(`cannot create the KVM_RUN watchdog timer: ${Errno.fromNegative(wd).errno}`);
    return { ok: true, kvm: new HostKvmFd(libc, fd, wd, mmapSize) };
  } catch (e) {
    return { ok: false, reason: `opening ${path} failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** An open /dev/kvm (the system fd). */
export class HostKvmFd implements KvmFd {
  /** The calling thread's KVM_RUN watchdog; `watchdog.guard(ms, fn)` gives a batch of runs one deadline. */
  readonly watchdog: Watchdog;
  /** KVM_GET_VCPU_MMAP_SIZE, as read at open: the bytes of each vCPU's kvm_run mapping. */
  readonly vcpuMmapSize: number;
  readonly #libc: Libc;
  readonly #fd: RawFd;
  /** User memory for the u64 KVM_GET_DEVICE_ATTR writes. */
  readonly #scratch: UserBuffers;

  /** Use {@link openHostKvm}. */
  constructor(libc: Libc, fd: number, watchdog: Watchdog, vcpuMmapSize: number) {
    this.#libc = libc;
    this.#fd = new RawFd(libc, fd);
    this.#scratch = new UserBuffers(libc);
    this.watchdog = watchdog;
    this.vcpuMmapSize = vcpuMmapSize;
  }

  /** KVM_GET_API_VERSION (12), or -errno. */
  getApiVersion(): number {
    const r = this.#fd.ioctl(KVM_GET_API_VERSION, 0, 'KVM_GET_API_VERSION');
    return r instanceof Errno ? -r.value : r;
  }

  /** KVM_CHECK_EXTENSION on the system fd: 0 for an unknown capability, -errno on failure. */
  checkExtension(cap: number): number {
    return this.#fd.checkExtension(cap);
  }

  getVcpuMmapSize(): IoctlResult<number> {
    return this.#fd.ioctl(KVM_GET_VCPU_MMAP_SIZE, 0, 'KVM_GET_VCPU_MMAP_SIZE');
  }

  createVm(type: number = KVM_X86_DEFAULT_VM): IoctlResult<HostVmFd> {
    const what = `KVM_CREATE_VM type ${type}`;
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    if (!Number.isInteger(type)) return new Errno('EINVAL', `${what} (refused by sevbox: not an integer)`);
    const fd = this.#fd.ioctl(KVM_CREATE_VM, type, what);
    if (fd instanceof Errno) return fd;
    return new HostVmFd(this.#libc, fd, type, this.watchdog, this.vcpuMmapSize);
  }

  /** KVM_GET_SUPPORTED_CPUID with room for `maxEntries` (at most {@link MAX_CPUID_ROOM}). */
  getSupportedCpuid(maxEntries: number): IoctlResult<KvmCpuidEntry2[]> {
    return getCpuidTable(this.#fd, KVM_GET_SUPPORTED_CPUID, maxEntries, 'KVM_GET_SUPPORTED_CPUID');
  }

  getMsrIndexList(): IoctlResult<number[]> {
    return getMsrList(this.#fd, KVM_GET_MSR_INDEX_LIST, 'KVM_GET_MSR_INDEX_LIST');
  }

  getMsrFeatureIndexList(): IoctlResult<number[]> {
    return getMsrList(this.#fd, KVM_GET_MSR_FEATURE_INDEX_LIST, 'KVM_GET_MSR_FEATURE_INDEX_LIST');
  }

  getDeviceAttr(group: number, attr: number): IoctlResult<bigint> {
    const what = `KVM_GET_DEVICE_ATTR ${group}/${attr}`;
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    const at = this.#scratch.place([new Uint8Array(SIZEOF_U64)]);
    if (typeof at === 'number') return Errno.fromNegative(at, `${what}: scratch mmap`);
    const arg = encode(what, () =>
      encodeDeviceAttr({ flags: 0, group, attr: BigInt(attr), addr: BigInt(at[0]!) }),
    );
    if (arg instanceof Errno) return arg;
    const r = this.#fd.ioctlBuf(KVM_GET_DEVICE_ATTR, arg, what);
    if (r instanceof Errno) return r;
    const b = this.#scratch.read(at[0]!, SIZEOF_U64);
    return new DataView(b.buffer, b.byteOffset, SIZEOF_U64).getBigUint64(0, true);
  }

  hasDeviceAttr(group: number, attr: number): IoctlResult<void> {
    const what = `KVM_HAS_DEVICE_ATTR ${group}/${attr}`;
    return setStruct(this.#fd, KVM_HAS_DEVICE_ATTR, what, () =>
      encodeDeviceAttr({ flags: 0, group, attr: BigInt(attr), addr: 0n }),
    );
  }

  /**
   * A fresh view of this process's memory for guest RAM (anonymous mmaps the kernel places); close
   * it after the VMs using it. Independent of this fd (closing one leaves the other).
   */
  processMemory(): HostProcessMemory {
    return new HostProcessMemory(this.#libc);
  }

  /** close(2) of /dev/kvm; VMs and vCPUs stay until their own fds close, as in Linux. */
  close(): void {
    this.#fd.close();
    this.#scratch.close();
  }
}

/** A real VM (the VM fd). */
export class HostVmFd implements VmFd {
  /** The machine type KVM_CREATE_VM was given. */
  readonly type: number;
  readonly #libc: Libc;
  readonly #fd: RawFd;
  readonly #watchdog: Watchdog;
  readonly #mmapSize: number;
  /** Pages of each live slot, keyed by the `slot` field (as_id << 16 | id), to size dirty bitmaps. */
  readonly #npages = new Map<number, number>();
  readonly #region = new Uint8Array(KVM_USERSPACE_MEMORY_REGION2_SIZE);
  readonly #scratch: UserBuffers;
  readonly #guestMemfds = new Set<number>();

  /** Use {@link HostKvmFd.createVm}. */
  constructor(libc: Libc, fd: number, type: number, watchdog: Watchdog, mmapSize: number) {
    this.#libc = libc;
    this.#fd = new RawFd(libc, fd);
    this.type = type;
    this.#watchdog = watchdog;
    this.#mmapSize = mmapSize;
    this.#scratch = new UserBuffers(libc);
  }

  /** KVM_CHECK_EXTENSION on the VM fd (answers for this VM's type); -errno on failure. */
  checkExtension(cap: number): number {
    return this.#fd.checkExtension(cap);
  }

  setUserMemoryRegion(region: UserspaceMemoryRegion): IoctlResult<void> {
    return this.#setRegion(region, true);
  }

  setUserMemoryRegion2(region: UserspaceMemoryRegion): IoctlResult<void> {
    return this.#setRegion(region, false);
  }

  /**
   * KVM_SET_USER_MEMORY_REGION(2) returning 0 or -errno, encoding into one reused buffer (-EINVAL for a struct
   * the codec refuses): for differential tests and probes that issue it by the hundred thousand.
   */
  setUserMemoryRegionRaw(region: UserspaceMemoryRegion, legacy: boolean): number {
    if (this.#fd.closed) return -ERRNO.EBADF;
    const what = legacy ? 'KVM_SET_USER_MEMORY_REGION' : 'KVM_SET_USER_MEMORY_REGION2';
    return this.#encodeRegion(region, legacy, what) instanceof Errno
      ? -ERRNO.EINVAL
      : this.#issueRegion(region, legacy);
  }

  /** Encode into the reused buffer: the buffer, or EINVAL when the codec refused. */
  #encodeRegion(region: UserspaceMemoryRegion, legacy: boolean, what: string): Uint8Array | Errno {
    return encode(what, () =>
      legacy
        ? encodeUserspaceMemoryRegion(region, this.#region)
        : encodeUserspaceMemoryRegion2(region, this.#region),
    );
  }

  /** The ioctl on the encoded buffer; a slot KVM accepted is remembered. */
  #issueRegion(region: UserspaceMemoryRegion, legacy: boolean): number {
    const r = this.#fd.ioctlBufRaw(
      legacy ? KVM_SET_USER_MEMORY_REGION : KVM_SET_USER_MEMORY_REGION2,
      this.#region,
    );
    if (r === 0) {
      // Accepted by the kernel: remember the slot's size for KVM_GET_DIRTY_LOG.
      if (region.memorySize === 0n) this.#npages.delete(region.slot >>> 0);
      else this.#npages.set(region.slot >>> 0, Number(region.memorySize / BigInt(PAGE_SIZE)));
    }
    return r;
  }

  #setRegion(region: UserspaceMemoryRegion, legacy: boolean): IoctlResult<void> {
    const what = `${legacy ? 'KVM_SET_USER_MEMORY_REGION' : 'KVM_SET_USER_MEMORY_REGION2'} slot ${region.slot}`;
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    const refused = this.#encodeRegion(region, legacy, what);
    if (refused instanceof Errno) return refused;
    const r = this.#issueRegion(region, legacy);
    return r < 0 ? Errno.fromNegative(r, what) : undefined;
  }

  /**
   * KVM_GET_DIRTY_LOG into scratch memory of exactly the slot's bitmap size (ceil(npages / 64) u64
   * words, as KVM writes), returned as a copy.
   */
  getDirtyLog(slot: number): IoctlResult<Uint8Array> {
    const what = `KVM_GET_DIRTY_LOG slot ${slot}`;
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    const bytes = dirtyBitmapBytes(this.#npages.get(slot >>> 0) ?? 0);
    const at = this.#scratch.place([new Uint8Array(bytes)]);
    if (typeof at === 'number') return Errno.fromNegative(at, `${what}: scratch mmap`);
    const arg = encode(what, () => encodeDirtyLog({ slot, dirtyBitmap: BigInt(at[0]!) }));
    if (arg instanceof Errno) return arg;
    const r = this.#fd.ioctlBuf(KVM_GET_DIRTY_LOG, arg, what);
    return r instanceof Errno ? r : this.#scratch.read(at[0]!, bytes);
  }

  /** KVM_CLEAR_DIRTY_LOG; the kernel reads ALIGN(num_pages, 64) / 8 bytes of `bitmap` (EFAULT when shorter). */
  clearDirtyLog(log: ClearDirtyLog): IoctlResult<void> {
    const what = `KVM_CLEAR_DIRTY_LOG slot ${log.slot}`;
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    const at = this.#scratch.place([log.bitmap]);
    if (typeof at === 'number') return Errno.fromNegative(at, `${what}: scratch mmap`);
    return setStruct(this.#fd, KVM_CLEAR_DIRTY_LOG, what, () =>
      encodeClearDirtyLog({
        slot: log.slot,
        numPages: log.numPages,
        firstPage: BigInt(log.firstPage),
        dirtyBitmap: BigInt(at[0]!),
      }),
    );
  }

  /** KVM_ENABLE_CAP; `args` may be shorter than 4 (the rest are 0). */
  enableCap(cap: KvmEnableCap): IoctlResult<void> {
    return enableCap(this.#fd, cap);
  }

  /**
   * KVM_X86_SET_MSR_FILTER: each range's bitmap in scratch memory ending at a guard page (KVM
   * copies BITS_TO_LONGS(nmsrs) * 8 bytes of it, and faults past what was given).
   */
  setMsrFilter(filter: MsrFilterSpec): IoctlResult<void> {
    const what = 'KVM_X86_SET_MSR_FILTER';
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    if (filter.ranges.length > KVM_MSR_FILTER_MAX_RANGES)
      return new Errno('E2BIG', `${what}: more than ${KVM_MSR_FILTER_MAX_RANGES} ranges (refused by sevbox)`);
    // KVM never reads more than KVM_MSR_FILTER_MAX_BITMAP_SIZE (0x600) bytes of a bitmap.
    const at = this.#scratch.place(filter.ranges.map((r) => r.bitmap.subarray(0, PAGE_SIZE)));
    if (typeof at === 'number') return Errno.fromNegative(at, `${what}: scratch mmap`);
    return setStruct(this.#fd, KVM_X86_SET_MSR_FILTER, what, () =>
      encodeMsrFilter({
        flags: filter.flags,
        ranges: filter.ranges.map((r, i) => ({
          flags: r.flags,
          nmsrs: r.nmsrs,
          base: r.base,
          bitmap: BigInt(at[i]!),
        })),
      }),
    );
  }

  /**
   * KVM_CREATE_GUEST_MEMFD: the new fd. It belongs to this object: close it with
   * {@link closeGuestMemfd}, or it is closed with the VM fd.
   */
  createGuestMemfd(size: bigint, flags = 0n): IoctlResult<number> {
    const what = `KVM_CREATE_GUEST_MEMFD size ${size}`;
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    const buf = encode(what, () => encodeCreateGuestMemfd({ size, flags }));
    if (buf instanceof Errno) return buf;
    const fd = this.#fd.ioctlBuf(KVM_CREATE_GUEST_MEMFD, buf, what);
    if (typeof fd === 'number') this.#guestMemfds.add(fd);
    return fd;
  }

  /** close(2) of a guest_memfd {@link createGuestMemfd} returned; EBADF for any other number. */
  closeGuestMemfd(fd: number): IoctlResult<void> {
    if (!this.#guestMemfds.delete(fd)) return new Errno('EBADF', `guest_memfd ${fd} is not one of this VM's`);
    const r = this.#libc.close(fd);
    return r < 0 ? Errno.fromNegative(r, `close guest_memfd ${fd}`) : undefined;
  }

  /** KVM_CREATE_VCPU and the mmap of its kvm_run area (KVM_GET_VCPU_MMAP_SIZE bytes). */
  createVcpu(id: number): IoctlResult<HostVcpuFd> {
    const what = `KVM_CREATE_VCPU ${id}`;
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    if (!Number.isInteger(id)) return new Errno('EINVAL', `${what} (refused by sevbox: not an integer)`);
    const fd = this.#fd.ioctl(KVM_CREATE_VCPU, id, what);
    if (fd instanceof Errno) return fd;
    const run = HostMapping.file(this.#libc, fd, this.#mmapSize);
    if (typeof run === 'number') {
      this.#libc.close(fd);
      return Errno.fromNegative(run, `mmap of vcpu ${id}'s kvm_run`);
    }
    // KVM_GET_XSAVE2 copies the guest fpstate's uabi_size, which KVM_CAP_XSAVE2 bounds.
    const xsave2 = Math.max(this.#fd.checkExtension(KVM_CAP_XSAVE2), KVM_XSAVE_SIZE);
    return new HostVcpuFd(this.#libc, fd, id, run, this.#watchdog, xsave2);
  }

  /** KVM_SET_NR_MMU_PAGES: the count by value (sevbox refuses one that is not a safe integer). */
  setNrMmuPages(pages: bigint): IoctlResult<void> {
    const what = `KVM_SET_NR_MMU_PAGES ${pages}`;
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    if (pages < 0n || pages > BigInt(Number.MAX_SAFE_INTEGER))
      return new Errno('EINVAL', `${what} (refused by sevbox: not a safe integer)`);
    const r = this.#fd.ioctl(KVM_SET_NR_MMU_PAGES, Number(pages), what);
    return r instanceof Errno ? r : undefined;
  }

  setTssAddress(addr: number): IoctlResult<void> {
    const what = `KVM_SET_TSS_ADDR 0x${addr.toString(16)}`;
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    if (!Number.isSafeInteger(addr))
      return new Errno('EINVAL', `${what} (refused by sevbox: not an integer)`);
    const r = this.#fd.ioctl(KVM_SET_TSS_ADDR, addr, what);
    return r instanceof Errno ? r : undefined;
  }

  /** KVM_SET_IDENTITY_MAP_ADDR: the u64 is passed by address, from scratch memory. */
  setIdentityMapAddress(addr: bigint): IoctlResult<void> {
    const what = `KVM_SET_IDENTITY_MAP_ADDR 0x${addr.toString(16)}`;
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    const u64 = encode(what, () => {
      const { bytes, w } = structOut(undefined, SIZEOF_U64, '__u64');
      w.u64(0, 'identity_map_addr', addr);
      return bytes;
    });
    if (u64 instanceof Errno) return u64;
    const at = this.#scratch.place([u64]);
    if (typeof at === 'number') return Errno.fromNegative(at, `${what}: scratch mmap`);
    const r = this.#fd.ioctl(KVM_SET_IDENTITY_MAP_ADDR, at[0]!, what);
    return r instanceof Errno ? r : undefined;
  }

  createIrqchip(): IoctlResult<void> {
    const r = this.#fd.ioctl(KVM_CREATE_IRQCHIP, 0, 'KVM_CREATE_IRQCHIP');
    return r instanceof Errno ? r : undefined;
  }

  irqLine(irq: number, level: number): IoctlResult<void> {
    return setStruct(this.#fd, KVM_IRQ_LINE, `KVM_IRQ_LINE ${irq}=${level}`, () =>
      encodeIrqLevel({ irq, level }),
    );
  }

  getIrqchip(chipId: number): IoctlResult<KvmIrqchip> {
    const what = `KVM_GET_IRQCHIP ${chipId}`;
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    const buf = encode(what, () => encodeIrqchip({ chipId, chip: new Uint8Array(KVM_IRQCHIP_CHIP_BYTES) }));
    if (buf instanceof Errno) return buf;
    const r = this.#fd.ioctlBuf(KVM_GET_IRQCHIP, buf, what);
    return r instanceof Errno ? r : decodeIrqchip(buf);
  }

  /** KVM_SET_IRQCHIP: `chip` shorter than 512 bytes is EFAULT (a short copy_from_user); longer, its first 512. */
  setIrqchip(chip: KvmIrqchip): IoctlResult<void> {
    const what = `KVM_SET_IRQCHIP ${chip.chipId}`;
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    if (chip.chip.length < KVM_IRQCHIP_CHIP_BYTES) return new Errno('EFAULT', `${what}: chip state is short`);
    return setStruct(this.#fd, KVM_SET_IRQCHIP, what, () =>
      encodeIrqchip({ chipId: chip.chipId, chip: chip.chip.subarray(0, KVM_IRQCHIP_CHIP_BYTES) }),
    );
  }

  /**
   * KVM_MEMORY_ENCRYPT_OP with struct kvm_sev_cmd (`data` is an address in this process). Success:
   * the struct as KVM wrote it back. Failure: a SevCmdErrno carrying the struct (the firmware
   * `error` included).
   */
  memoryEncryptOp(cmd: KvmSevCmd): IoctlResult<KvmSevCmd> {
    const what = `KVM_MEMORY_ENCRYPT_OP id ${cmd.id}`;
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    const buf = encode(what, () => encodeSevCmd(cmd));
    if (buf instanceof Errno) return buf;
    const r = this.#fd.ioctlBuf(KVM_MEMORY_ENCRYPT_OP, buf, what);
    const back = decodeSevCmd(buf);
    // sev_mem_enc_ioctl copies kvm_sev_cmd back after every command it knows (an unknown id is
    // EINVAL without, and then `back` is what we passed in, which says the same).
    if (r instanceof Errno)
      return new SevCmdErrno(r.errno, back, back.error ? `${what}: firmware error ${back.error}` : r.detail);
    return back;
  }

  /** KVM_MEMORY_ENCRYPT_REG_REGION: struct kvm_enc_region is the argument (`addr` is in this process). */
  memoryEncryptRegRegion(range: KvmEncRegion): IoctlResult<void> {
    return setStruct(this.#fd, KVM_MEMORY_ENCRYPT_REG_REGION, 'KVM_MEMORY_ENCRYPT_REG_REGION', () =>
      encodeEncRegion(range),
    );
  }

  /** KVM_MEMORY_ENCRYPT_UNREG_REGION. */
  memoryEncryptUnregRegion(range: KvmEncRegion): IoctlResult<void> {
    return setStruct(this.#fd, KVM_MEMORY_ENCRYPT_UNREG_REGION, 'KVM_MEMORY_ENCRYPT_UNREG_REGION', () =>
      encodeEncRegion(range),
    );
  }

  /**
   * close(2) of the VM fd, the scratch memory and any guest_memfd still open. The kernel destroys
   * the VM once no vCPU fd holds it: vCPUs stay usable until they are closed.
   */
  getTscKhz(): IoctlResult<number> {
    return closedFd(this.#fd, 'KVM_GET_TSC_KHZ') ?? this.#fd.ioctl(KVM_GET_TSC_KHZ, 0, 'KVM_GET_TSC_KHZ');
  }

  close(): void {
    if (!this.#fd.close()) return;
    this.#scratch.close();
    for (const fd of this.#guestMemfds) this.#libc.close(fd);
    this.#guestMemfds.clear();
  }
}

/** A real vCPU (the vCPU fd and its kvm_run mapping). */
export class HostVcpuFd implements VcpuFd {
  readonly id: number;
  /** The real kvm_run mapping, through the same window the model uses. */
  readonly runArea: KvmRun;
  /** Deadline (ms) of a KVM_RUN not already inside a `watchdog.guard`. */
  timeoutMs = DEFAULT_RUN_TIMEOUT_MS;
  readonly #fd: RawFd;
  readonly #run: HostMapping;
  readonly #watchdog: Watchdog;
  /** KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) of the VM when the vCPU was created. */
  readonly #xsave2Size: number;
  #lastRunTimedOut = false;
  #armedMs: number | undefined;

  /** Use {@link HostVmFd.createVcpu}. */
  constructor(libc: Libc, fd: number, id: number, run: HostMapping, watchdog: Watchdog, xsave2Size: number) {
    this.#xsave2Size = xsave2Size;
    this.#fd = new RawFd(libc, fd);
    this.id = id;
    this.#run = run;
    this.#watchdog = watchdog;
    this.runArea = new KvmRun(run.bytes);
  }

  /** True when the last KVM_RUN (run or runRaw) returned EINTR because the watchdog's deadline passed. */
  get lastRunTimedOut(): boolean {
    return this.#lastRunTimedOut;
  }

  /**
   * KVM_RUN: the exit to userspace (data views alias the real kvm_run; answer an IN, MMIO read or
   * RDMSR by writing there, then run again), or Failed with the errno and kvm_run as KVM left it (a
   * {@link WatchdogExpiry} when the watchdog ended it).
   */
  run(): RunResult {
    const r = this.runRaw();
    const exit: VcpuExit = decodeExit(this.runArea);
    if (r >= 0) return exit;
    const error =
      r === -ERRNO.EINTR && this.#lastRunTimedOut
        ? new WatchdogExpiry(this.#armedMs, this.id)
        : Errno.fromNegative(r, `KVM_RUN on vcpu ${this.id}`);
    return { kind: 'Failed', error, left: exit };
  }

  /**
   * KVM_RUN without decoding: 0, or -errno read right after the call. Inside
   * `kvm.watchdog.guard(ms, ...)` the guard's deadline applies (one timer for a whole batch, as a
   * benchmark wants); otherwise this call arms the watchdog for `timeoutMs`.
   */
  runRaw(): number {
    this.#lastRunTimedOut = false;
    if (this.#fd.closed) return -ERRNO.EBADF;
    const wd = this.#watchdog;
    if (wd.armed) {
      this.#armedMs = undefined;
      return this.#kvmRun();
    }
    this.#armedMs = this.timeoutMs;
    return wd.guard(this.timeoutMs, this.#kvmRunFn);
  }

  readonly #kvmRunFn = (): number => this.#kvmRun();

  #kvmRun(): number {
    const r = this.#fd.libc.ioctl(this.#fd.fd, KVM_RUN, 0);
    // EINTR while the deadline has passed: the watchdog's signal, not someone else's.
    this.#lastRunTimedOut = r === -ERRNO.EINTR && this.#watchdog.expired();
    return r;
  }

  getRegs(): IoctlResult<KvmRegs> {
    return getStruct(this.#fd, KVM_GET_REGS, KVM_REGS_SIZE, 'KVM_GET_REGS', decodeRegs);
  }

  setRegs(regs: KvmRegs): IoctlResult<void> {
    return setStruct(this.#fd, KVM_SET_REGS, 'KVM_SET_REGS', () => encodeRegs(regs));
  }

  getSregs(): IoctlResult<KvmSregs> {
    return getStruct(this.#fd, KVM_GET_SREGS, KVM_SREGS_SIZE, 'KVM_GET_SREGS', decodeSregs);
  }

  setSregs(sregs: KvmSregs): IoctlResult<void> {
    return setStruct(this.#fd, KVM_SET_SREGS, 'KVM_SET_SREGS', () => encodeSregs(sregs));
  }

  /** KVM_GET_MSRS: the first n entries, n being what the ioctl returned (the count KVM read). */
  getMsrs(indices: readonly number[]): IoctlResult<KvmMsrEntry[]> {
    const what = `KVM_GET_MSRS (${indices.length})`;
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    const buf = encode(what, () =>
      encodeMsrs({ nmsrs: indices.length, entries: indices.map((index) => ({ index, data: 0n })) }),
    );
    if (buf instanceof Errno) return buf;
    const n = this.#fd.ioctlBuf(KVM_GET_MSRS, buf, what);
    return n instanceof Errno ? n : decodeMsrs(buf).entries.slice(0, n);
  }

  /** KVM_SET_MSRS: the count KVM processed before the first entry it refused. */
  setMsrs(entries: readonly KvmMsrEntry[]): IoctlResult<number> {
    const what = `KVM_SET_MSRS (${entries.length})`;
    const bad = closedFd(this.#fd, what);
    if (bad) return bad;
    const buf = encode(what, () => encodeMsrs({ nmsrs: entries.length, entries: [...entries] }));
    return buf instanceof Errno ? buf : this.#fd.ioctlBuf(KVM_SET_MSRS, buf, what);
  }

  setCpuid2(entries: readonly KvmCpuidEntry2[]): IoctlResult<void> {
    return setStruct(this.#fd, KVM_SET_CPUID2, `KVM_SET_CPUID2 (${entries.length})`, () =>
      encodeCpuid2({ nent: entries.length, entries: [...entries] }),
    );
  }

  /** KVM_GET_CPUID2 with room for `maxEntries` (at most {@link MAX_CPUID_ROOM}). */
  getCpuid2(maxEntries: number): IoctlResult<KvmCpuidEntry2[]> {
    return getCpuidTable(this.#fd, KVM_GET_CPUID2, maxEntries, 'KVM_GET_CPUID2');
  }

  getFpu(): IoctlResult<KvmFpu> {
    return getStruct(this.#fd, KVM_GET_FPU, KVM_FPU_SIZE, 'KVM_GET_FPU', decodeFpu);
  }

  setFpu(fpu: KvmFpu): IoctlResult<void> {
    return setStruct(this.#fd, KVM_SET_FPU, 'KVM_SET_FPU', () => encodeFpu(fpu));
  }

  getXcrs(): IoctlResult<KvmXcrs> {
    return getStruct(this.#fd, KVM_GET_XCRS, KVM_XCRS_SIZE, 'KVM_GET_XCRS', decodeXcrs);
  }

  setXcrs(xcrs: KvmXcrs): IoctlResult<void> {
    return setStruct(this.#fd, KVM_SET_XCRS, 'KVM_SET_XCRS', () => encodeXcrs(xcrs));
  }

  getXsave(): IoctlResult<KvmXsave> {
    return getStruct(this.#fd, KVM_GET_XSAVE, KVM_XSAVE_SIZE, 'KVM_GET_XSAVE', decodeXsave);
  }

  /** KVM_GET_XSAVE2 into a KVM_CAP_XSAVE2-sized buffer (zeros past what KVM copies). */
  getXsave2(): IoctlResult<KvmXsave> {
    const size = this.#xsave2Size;
    return getStruct(this.#fd, KVM_GET_XSAVE2, size, 'KVM_GET_XSAVE2', (b) => decodeXsave(b, size));
  }

  /** KVM_SET_XSAVE: KVM reads uabi_size bytes, so a short image is padded to the KVM_CAP_XSAVE2 size. */
  setXsave(xsave: KvmXsave): IoctlResult<void> {
    return setStruct(this.#fd, KVM_SET_XSAVE, 'KVM_SET_XSAVE', () => {
      const buf = new Uint8Array(Math.max(this.#xsave2Size, KVM_XSAVE_SIZE + (xsave.extra?.length ?? 0)));
      encodeXsave(xsave, buf);
      return buf;
    });
  }

  getDebugregs(): IoctlResult<KvmDebugregs> {
    return getStruct(this.#fd, KVM_GET_DEBUGREGS, KVM_DEBUGREGS_SIZE, 'KVM_GET_DEBUGREGS', decodeDebugregs);
  }

  setDebugregs(regs: KvmDebugregs): IoctlResult<void> {
    return setStruct(this.#fd, KVM_SET_DEBUGREGS, 'KVM_SET_DEBUGREGS', () => encodeDebugregs(regs));
  }

  getVcpuEvents(): IoctlResult<KvmVcpuEvents> {
    return getStruct(
      this.#fd,
      KVM_GET_VCPU_EVENTS,
      KVM_VCPU_EVENTS_SIZE,
      'KVM_GET_VCPU_EVENTS',
      decodeVcpuEvents,
    );
  }

  setVcpuEvents(events: KvmVcpuEvents): IoctlResult<void> {
    return setStruct(this.#fd, KVM_SET_VCPU_EVENTS, 'KVM_SET_VCPU_EVENTS', () => encodeVcpuEvents(events));
  }

  getMpState(): IoctlResult<number> {
    const r = getStruct(this.#fd, KVM_GET_MP_STATE, KVM_MP_STATE_SIZE, 'KVM_GET_MP_STATE', decodeMpState);
    return r instanceof Errno ? r : r.mpState;
  }

  setMpState(state: number): IoctlResult<void> {
    return setStruct(this.#fd, KVM_SET_MP_STATE, `KVM_SET_MP_STATE ${state}`, () =>
      encodeMpState({ mpState: state }),
    );
  }

  interrupt(irq: number): IoctlResult<void> {
    return setStruct(this.#fd, KVM_INTERRUPT, `KVM_INTERRUPT ${irq}`, () => encodeInterrupt({ irq }));
  }

  nmi(): IoctlResult<void> {
    const r = this.#fd.ioctl(KVM_NMI, 0, 'KVM_NMI');
    return r instanceof Errno ? r : undefined;
  }

  getLapic(): IoctlResult<KvmLapicState> {
    return getStruct(this.#fd, KVM_GET_LAPIC, KVM_LAPIC_STATE_SIZE, 'KVM_GET_LAPIC', decodeLapicState);
  }

  /** KVM_SET_LAPIC: `regs` shorter than 1024 bytes is EFAULT (a short copy_from_user); longer, its first 1024. */
  setLapic(state: KvmLapicState): IoctlResult<void> {
    const bad = closedFd(this.#fd, 'KVM_SET_LAPIC');
    if (bad) return bad;
    if (state.regs.length < KVM_LAPIC_STATE_SIZE) return new Errno('EFAULT', 'KVM_SET_LAPIC: short state');
    return setStruct(this.#fd, KVM_SET_LAPIC, 'KVM_SET_LAPIC', () =>
      encodeLapicState({ regs: state.regs.subarray(0, KVM_LAPIC_STATE_SIZE) }),
    );
  }

  /** KVM_ENABLE_CAP on the vCPU; `args` may be shorter than 4 (the rest are 0). */
  enableCap(cap: KvmEnableCap): IoctlResult<void> {
    return enableCap(this.#fd, cap);
  }

  getTscKhz(): IoctlResult<number> {
    return this.#fd.ioctl(KVM_GET_TSC_KHZ, 0, 'KVM_GET_TSC_KHZ');
  }

  /** close(2): the kvm_run mapping becomes a tombstone (runArea stays safe to touch), then the fd closes. */
  close(): void {
    if (this.#fd.closed) return;
    this.#run.close();
    this.#fd.close();
  }
}
