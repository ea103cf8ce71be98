/**
 * The machine's real /dev/kvm behind the same API shape as the model in src/kvm: `HostKvm`
 * (checkExtension, createVm) → `HostVm` (setUserMemoryRegion(2), getDirtyLog, createVcpu) →
 * `HostVcpu` (`run()` = KVM_RUN returning the same `VcpuExit` union, decoded from the real kvm_run
 * mapping by the model's own decoder). Failures are `KvmError`s with the errno's name, as in the
 * model, so a differential test compares the two with one `catch`.
 *
 * Numbers and layouts come from src/uapi; the few ioctls sevbox's model does not need (MSR filter)
 * are derived here from the same `_IOW` encoder. Every KVM_RUN runs under a watchdog.
 */

import type { MsrFilter } from '../kvm/msr.js';
import { KVM_API_VERSION, KVM_X86_DEFAULT_VM } from '../uapi/caps.js';
import { KVM_ENABLE_CAP_SIZE } from '../uapi/enable-cap.js';
import { type ErrnoName, errnoName } from '../uapi/errno.js';
import {
  _IOW,
  KVM_CHECK_EXTENSION,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_ENABLE_CAP,
  KVM_GET_API_VERSION,
  KVM_GET_DIRTY_LOG,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_RUN,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SET_USER_MEMORY_REGION2,
  KVMIO,
} from '../uapi/ioctl.js';
import { KvmError } from '../uapi/kvm-error.js';
import { KVM_VCPU_MMAP_SIZE, KvmRun } from '../uapi/kvm-run.js';
import {
  encodeUserspaceMemoryRegion,
  encodeUserspaceMemoryRegion2,
  KVM_USERSPACE_MEMORY_REGION_SIZE,
  KVM_USERSPACE_MEMORY_REGION2_SIZE,
  type UserspaceMemoryRegion,
} from '../uapi/memslot.js';
import { KVM_REGS_SIZE } from '../uapi/regs.js';
import { KVM_SREGS_SIZE } from '../uapi/sregs.js';
import { decodeExit, type VcpuExit } from '../uapi/vcpu-exit.js';
import { type Libc, loadLibc, O_CLOEXEC, O_RDWR } from './libc.js';
import { AddressHole, HostMapping } from './mapping.js';
import { Watchdog } from './watchdog.js';

/** sizeof(struct kvm_msr_filter) on x86-64: flags u32 (+4 pad), 16 ranges of 24 bytes. */
export const KVM_MSR_FILTER_SIZE = 8 + 16 * 24;
/** VM fd: installs an MSR filter (struct kvm_msr_filter). */
export const KVM_X86_SET_MSR_FILTER = _IOW(KVMIO, 0xc6, KVM_MSR_FILTER_SIZE);
/** kvm_msr_filter.flags: MSRs outside every range are denied. */
export const KVM_MSR_FILTER_DEFAULT_DENY = 1;

/** Default KVM_RUN deadline (ms) when no watchdog guard is active. */
export const DEFAULT_RUN_TIMEOUT_MS = 2000;

/** KVM_RUN was interrupted by the watchdog: the guest did not exit to userspace in time. */
export class WatchdogExpired extends KvmError {
  constructor(readonly timeoutMs: number) {
    super('EINTR', `KVM_RUN watchdog: no exit to userspace within ${timeoutMs} ms`);
    this.name = 'WatchdogExpired';
  }
}

function kvmError(r: number, what: string): KvmError | Error {
  const name: ErrnoName | undefined = errnoName(-r);
  return name ? new KvmError(name, what) : new Error(`${what}: errno ${-r}`);
}

/** Either an open /dev/kvm, or why there is none. */
export type OpenHostKvm = { ok: true; kvm: HostKvm } | { ok: false; reason: string };

/**
 * Open the machine's KVM device (default /dev/kvm) and check that it speaks API version 12. Never
 * throws: a missing koffi, device, permission or an odd API version comes back as a reason.
 */
export function openHostKvm(path = '/dev/kvm'): OpenHostKvm {
  const l = loadLibc();
  if (!l.ok) return l;
  const libc = l.libc;
  const fd = libc.open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const name = errnoName(-fd) ?? `errno ${-fd}`;
    return { ok: false, reason: `cannot open ${path}: ${name}` };
  }
  const api = libc.ioctl(fd, KVM_GET_API_VERSION, 0);
  if (api !== KVM_API_VERSION) {
    libc.close(fd);
    return { ok: false, reason: `${path} speaks KVM API ${api}, sevbox needs ${KVM_API_VERSION}` };
  }
  const wd = Watchdog.create(libc);
  if (typeof wd === 'number') {
    libc.close(fd);
    return { ok: false, reason: `cannot create the KVM_RUN watchdog timer: errno ${-wd}` };
  }
  return { ok: true, kvm: new HostKvm(libc, fd, wd, path) };
}

/** An open /dev/kvm (the system fd). */
export class HostKvm {
  /** The watchdog every KVM_RUN of this thread runs under. */
  readonly watchdog: Watchdog;
  readonly #libc: Libc;
  readonly #fd: number;
  readonly #vms = new Set<HostVm>();
  #closed = false;

  /** Use {@link openHostKvm}. */
  constructor(
    libc: Libc,
    fd: number,
    watchdog: Watchdog,
    readonly path: string,
  ) {
    this.#libc = libc;
    this.#fd = fd;
    this.watchdog = watchdog;
  }

  /** The koffi version the bindings run on. */
  get koffiVersion(): string {
    return this.#libc.koffiVersion;
  }

  /** KVM_GET_API_VERSION. */
  getApiVersion(): number {
    return this.#ioctl(KVM_GET_API_VERSION, 0, 'KVM_GET_API_VERSION');
  }

  /** KVM_GET_VCPU_MMAP_SIZE. */
  getVcpuMmapSize(): number {
    return this.#ioctl(KVM_GET_VCPU_MMAP_SIZE, 0, 'KVM_GET_VCPU_MMAP_SIZE');
  }

  /** KVM_CHECK_EXTENSION on the system fd: 0 for a capability the kernel does not have. */
  checkExtension(cap: number): number {
    return this.#ioctl(KVM_CHECK_EXTENSION, cap, 'KVM_CHECK_EXTENSION');
  }

  /** KVM_CREATE_VM. Throws KvmError (EINVAL for an unsupported type, ENOMEM, ...). */
  createVm(type: number = KVM_X86_DEFAULT_VM): HostVm {
    const fd = this.#ioctl(KVM_CREATE_VM, type, 'KVM_CREATE_VM');
    const vm = new HostVm(this.#libc, fd, type, this, () => this.#vms.delete(vm));
    this.#vms.add(vm);
    return vm;
  }

  /**
   * Anonymous read-write memory to back a memslot (what the model's `host.mapAnonymous` stands for;
   * here the kernel picks the address, `hva`).
   */
  mapAnonymous(length: number): HostMapping {
    const m = HostMapping.anonymous(this.#libc, length);
    if (typeof m === 'number') throw kvmError(m, `mmap ${length} bytes`);
    return m;
  }

  /** An hva range no access can fault in (PROT_NONE), to back a memslot KVM cannot use. */
  reserveHole(length: number): AddressHole {
    const h = AddressHole.reserve(this.#libc, length);
    if (typeof h === 'number') throw kvmError(h, `mmap PROT_NONE ${length} bytes`);
    return h;
  }

  /** Close every VM, then the system fd. */
  close(): void {
    if (this.#closed) return;
    for (const vm of [...this.#vms]) vm.destroy();
    this.#closed = true;
    this.#libc.close(this.#fd);
  }

  #ioctl(request: number, arg: number, what: string): number {
    if (this.#closed) throw new KvmError('EBADF', `${what} on a closed /dev/kvm`);
    const r = this.#libc.ioctl(this.#fd, request, arg);
    if (r < 0) throw kvmError(r, what);
    return r;
  }
}

/** A real VM (the VM fd). */
export class HostVm {
  readonly #libc: Libc;
  readonly #fd: number;
  readonly #onClose: () => void;
  readonly #vcpus = new Map<number, HostVcpu>();
  /** Pages of each live slot, keyed by the `slot` field (as_id << 16 | id), to size dirty bitmaps. */
  readonly #npages = new Map<number, number>();
  readonly #region = new Uint8Array(KVM_USERSPACE_MEMORY_REGION2_SIZE);
  #scratch: HostMapping | undefined;
  #destroyed = false;

  /** Use {@link HostKvm.createVm}. */
  constructor(
    libc: Libc,
    fd: number,
    readonly type: number,
    readonly kvm: HostKvm,
    onClose: () => void,
  ) {
    this.#libc = libc;
    this.#fd = fd;
    this.#onClose = onClose;
  }

  /** KVM_CHECK_EXTENSION on the VM fd (answers for this VM's type). */
  checkExtension(cap: number): number {
    return this.#ioctl(KVM_CHECK_EXTENSION, cap, 'KVM_CHECK_EXTENSION');
  }

  /**
   * KVM_SET_USER_MEMORY_REGION with the struct (encoded by src/uapi) or its raw bytes (a buffer
   * shorter than 32 bytes is EFAULT, as copy_from_user would make it). Throws KvmError.
   */
  setUserMemoryRegion(region: UserspaceMemoryRegion | Uint8Array): void {
    this.#setRegion(region, true);
  }

  /** KVM_SET_USER_MEMORY_REGION2 (160 bytes). Throws KvmError. */
  setUserMemoryRegion2(region: UserspaceMemoryRegion | Uint8Array): void {
    this.#setRegion(region, false);
  }

  /**
   * The raw ioctl: 0 or -errno, nothing thrown, nothing allocated. For differential tests and
   * benchmarks that compare errnos by the hundred thousand.
   */
  setRegionRaw(region: UserspaceMemoryRegion, legacy: boolean): number {
    if (this.#destroyed) return -9; // EBADF: never reuse a closed fd number
    const buf = this.#region;
    if (legacy) encodeUserspaceMemoryRegion(region, buf);
    else encodeUserspaceMemoryRegion2(region, buf);
    const r = this.#libc.ioctlBuf(
      this.#fd,
      legacy ? KVM_SET_USER_MEMORY_REGION : KVM_SET_USER_MEMORY_REGION2,
      buf,
    );
    if (r === 0) {
      // Accepted by the kernel: remember the slot's size for KVM_GET_DIRTY_LOG.
      if (region.memorySize === 0n) this.#npages.delete(region.slot >>> 0);
      else this.#npages.set(region.slot >>> 0, Number(region.memorySize / 4096n));
    }
    return r;
  }

  #setRegion(region: UserspaceMemoryRegion | Uint8Array, legacy: boolean): void {
    const what = legacy ? 'KVM_SET_USER_MEMORY_REGION' : 'KVM_SET_USER_MEMORY_REGION2';
    if (region instanceof Uint8Array) {
      const need = legacy ? KVM_USERSPACE_MEMORY_REGION_SIZE : KVM_USERSPACE_MEMORY_REGION2_SIZE;
      // Never hand the kernel a buffer shorter than the struct: it would read past it.
      if (region.length < need) throw new KvmError('EFAULT', `${what}: struct out of bounds`);
      const dv = new DataView(region.buffer, region.byteOffset, need);
      const decoded: UserspaceMemoryRegion = {
        slot: dv.getUint32(0, true),
        flags: dv.getUint32(4, true),
        guestPhysAddr: dv.getBigUint64(8, true),
        memorySize: dv.getBigUint64(16, true),
        userspaceAddr: dv.getBigUint64(24, true),
      };
      if (!legacy) {
        decoded.guestMemfdOffset = dv.getBigUint64(32, true);
        decoded.guestMemfd = dv.getUint32(40, true);
      }
      region = decoded;
    }
    const r = this.setRegionRaw(region, legacy);
    if (r < 0) throw kvmError(r, `${what} slot ${region.slot}`);
  }

  /**
   * KVM_GET_DIRTY_LOG: the slot's dirty bitmap (bit n = page n, u64 words), fetched and cleared
   * by the kernel. ENOENT when the slot does not log dirty pages.
   */
  getDirtyLog(slot: number): Uint8Array {
    const npages = this.#npages.get(slot >>> 0) ?? 0;
    const bytes = Math.max(8, Math.ceil(npages / 64) * 8);
    const scratch = this.#scratchAtLeast(bytes);
    scratch.bytes.fill(0, 0, bytes);
    const arg = new Uint8Array(16);
    const dv = new DataView(arg.buffer);
    dv.setUint32(0, slot >>> 0, true);
    dv.setBigUint64(8, scratch.hva, true);
    const r = this.#libc.ioctlBuf(this.#fd, KVM_GET_DIRTY_LOG, arg);
    if (r < 0) throw kvmError(r, `KVM_GET_DIRTY_LOG slot ${slot}`);
    return scratch.bytes.slice(0, Math.ceil(npages / 64) * 8);
  }

  /** KVM_ENABLE_CAP on the VM fd with up to four arguments. */
  enableCap(cap: number, args: readonly (number | bigint)[] = []): void {
    const buf = new Uint8Array(KVM_ENABLE_CAP_SIZE);
    const dv = new DataView(buf.buffer);
    dv.setUint32(0, cap, true);
    args.slice(0, 4).forEach((a, i) => {
      dv.setBigUint64(8 + 8 * i, BigInt(a), true);
    });
    const r = this.#libc.ioctlBuf(this.#fd, KVM_ENABLE_CAP, buf);
    if (r < 0) throw kvmError(r, `KVM_ENABLE_CAP ${cap}`);
  }

  /**
   * KVM_X86_SET_MSR_FILTER from the model's `MsrFilter` (so one description configures both).
   * At most 16 ranges; bitmaps are copied by the kernel during the call.
   */
  setMsrFilter(filter: MsrFilter): void {
    if (filter.ranges.length > 16) throw new KvmError('E2BIG', 'at most 16 MSR filter ranges');
    const total = filter.ranges.reduce((n, r) => n + Math.ceil(r.nmsrs / 8), 0);
    const scratch = this.#scratchAtLeast(Math.max(8, total));
    const buf = new Uint8Array(KVM_MSR_FILTER_SIZE);
    const dv = new DataView(buf.buffer);
    dv.setUint32(0, filter.defaultAllow ? 0 : KVM_MSR_FILTER_DEFAULT_DENY, true);
    let at = 0;
    filter.ranges.forEach((r, i) => {
      const bytes = Math.ceil(r.nmsrs / 8);
      scratch.bytes.fill(0, at, at + bytes);
      scratch.bytes.set(r.bitmap.subarray(0, bytes), at);
      const o = 8 + 24 * i;
      dv.setUint32(o, r.flags, true);
      dv.setUint32(o + 4, r.nmsrs, true);
      dv.setUint32(o + 8, r.base >>> 0, true);
      dv.setBigUint64(o + 16, scratch.hva + BigInt(at), true);
      at += bytes;
    });
    const r = this.#libc.ioctlBuf(this.#fd, KVM_X86_SET_MSR_FILTER, buf);
    if (r < 0) throw kvmError(r, 'KVM_X86_SET_MSR_FILTER');
  }

  /** KVM_CREATE_VCPU and mmap of its kvm_run area. Throws KvmError (EEXIST, EINVAL, ...). */
  createVcpu(id: number): HostVcpu {
    const fd = this.#ioctl(KVM_CREATE_VCPU, id, `KVM_CREATE_VCPU ${id}`);
    const run = HostMapping.file(this.#libc, fd, KVM_VCPU_MMAP_SIZE);
    if (typeof run === 'number') {
      this.#libc.close(fd);
      throw kvmError(run, 'mmap of the vCPU fd');
    }
    const vcpu = new HostVcpu(this.#libc, fd, id, run, this.kvm.watchdog, () => this.#vcpus.delete(id));
    this.#vcpus.set(id, vcpu);
    return vcpu;
  }

  /** The vCPUs, by id. */
  get vcpus(): ReadonlyMap<number, HostVcpu> {
    return this.#vcpus;
  }

  /** Close the vCPUs and the VM fd (the kernel frees the VM once nothing maps or holds it). */
  destroy(): void {
    if (this.#destroyed) return;
    for (const v of [...this.#vcpus.values()]) v.destroy();
    this.#destroyed = true;
    this.#scratch?.close();
    this.#libc.close(this.#fd);
    this.#onClose();
  }

  #scratchAtLeast(bytes: number): HostMapping {
    if (!this.#scratch || this.#scratch.length < bytes) {
      this.#scratch?.close();
      const m = HostMapping.anonymous(this.#libc, Math.ceil(bytes / 4096) * 4096);
      if (typeof m === 'number') throw kvmError(m, 'mmap scratch');
      this.#scratch = m;
    }
    return this.#scratch;
  }

  #ioctl(request: number, arg: number, what: string): number {
    if (this.#destroyed) throw new KvmError('EBADF', `${what} on a destroyed VM`);
    const r = this.#libc.ioctl(this.#fd, request, arg);
    if (r < 0) throw kvmError(r, what);
    return r;
  }
}

/** struct kvm_regs as 18 u64s: these are the indices (rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8-r15, rip, rflags). */
export const KVM_REGS = {
  rax: 0,
  rbx: 1,
  rcx: 2,
  rdx: 3,
  rsi: 4,
  rdi: 5,
  rsp: 6,
  rbp: 7,
  rip: 16,
  rflags: 17,
} as const;

/** Offsets in struct kvm_sregs: 8 kvm_segments of 24 bytes (cs, ds, es, fs, gs, ss, tr, ldt), ... */
export const KVM_SREGS_SEGMENTS = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;
/** sizeof(struct kvm_segment). */
export const KVM_SEGMENT_SIZE = 24;
/** kvm_segment: base u64 @0, limit u32 @8, selector u16 @12. */
export const KVM_SEGMENT_OFF_BASE = 0;
export const KVM_SEGMENT_OFF_SELECTOR = 12;
/** kvm_sregs.cr0 (after the segments and the gdt/idt tables). */
export const KVM_SREGS_OFF_CR0 = 224;
export const KVM_SREGS_OFF_EFER = 264;

/** A real vCPU (the vCPU fd and its kvm_run mapping). */
export class HostVcpu {
  /** The real kvm_run mapping, through the same window the model uses. */
  readonly runArea: KvmRun;
  /** Deadline (ms) of a KVM_RUN not already inside a watchdog guard. */
  timeoutMs = DEFAULT_RUN_TIMEOUT_MS;
  readonly #libc: Libc;
  readonly #fd: number;
  readonly #run: HostMapping;
  readonly #watchdog: Watchdog;
  readonly #onClose: () => void;
  readonly #regs = new Uint8Array(KVM_REGS_SIZE);
  readonly #sregs = new Uint8Array(KVM_SREGS_SIZE);
  #watchdogFired = false;
  #destroyed = false;

  /** Use {@link HostVm.createVcpu}. */
  constructor(
    libc: Libc,
    fd: number,
    readonly id: number,
    run: HostMapping,
    watchdog: Watchdog,
    onClose: () => void,
  ) {
    this.#libc = libc;
    this.#fd = fd;
    this.#run = run;
    this.#watchdog = watchdog;
    this.#onClose = onClose;
    this.runArea = new KvmRun(run.bytes);
  }

  /**
   * KVM_RUN: the exit to userspace (data views alias the real kvm_run; answer an IN, MMIO read or
   * RDMSR by writing there, then run again), or KvmError. A guest that does not exit within the
   * watchdog's deadline makes it throw {@link WatchdogExpired}.
   */
  run(): VcpuExit {
    const r = this.runRaw();
    if (r < 0) {
      if (r === -4 && this.#watchdogFired) throw new WatchdogExpired(this.timeoutMs);
      throw kvmError(r, `KVM_RUN on vcpu ${this.id}`);
    }
    return decodeExit(this.runArea);
  }

  /**
   * KVM_RUN without decoding: 0, or -errno read right after the call. Inside
   * `kvm.watchdog.guard(ms, ...)` the guard's deadline applies (one timer for a whole batch, as a
   * benchmark wants); otherwise this call arms the watchdog for `timeoutMs`.
   */
  runRaw(): number {
    if (this.#destroyed) return -9; // EBADF
    const wd = this.#watchdog;
    const r = wd.armed ? this.#kvmRun() : wd.guard(this.timeoutMs, this.#kvmRunFn);
    return r;
  }

  readonly #kvmRunFn = (): number => this.#kvmRun();

  #kvmRun(): number {
    const r = this.#libc.ioctl(this.#fd, KVM_RUN, 0);
    // EINTR while the deadline has passed: the watchdog's signal, not someone else's.
    this.#watchdogFired = r === -4 && this.#watchdog.expired();
    return r;
  }

  /** Decode what kvm_run currently holds. */
  decodeExit(): VcpuExit {
    return decodeExit(this.runArea);
  }

  /** KVM_GET_REGS as 18 u64s (see {@link KVM_REGS}). */
  getRegs(): BigUint64Array {
    this.#vcpuIoctl(KVM_GET_REGS, this.#regs, 'KVM_GET_REGS');
    return new BigUint64Array(this.#regs.slice().buffer);
  }

  /** KVM_SET_REGS from 18 u64s. */
  setRegs(regs: BigUint64Array): void {
    this.#regs.set(new Uint8Array(regs.buffer, regs.byteOffset, KVM_REGS_SIZE));
    this.#vcpuIoctl(KVM_SET_REGS, this.#regs, 'KVM_SET_REGS');
  }

  /** KVM_GET_SREGS, raw (312 bytes; offsets above). */
  getSregs(): Uint8Array {
    this.#vcpuIoctl(KVM_GET_SREGS, this.#sregs, 'KVM_GET_SREGS');
    return this.#sregs.slice();
  }

  /** KVM_SET_SREGS, raw. */
  setSregs(sregs: Uint8Array): void {
    if (sregs.length < KVM_SREGS_SIZE) throw new KvmError('EFAULT', 'kvm_sregs is 312 bytes');
    this.#sregs.set(sregs.subarray(0, KVM_SREGS_SIZE));
    this.#vcpuIoctl(KVM_SET_SREGS, this.#sregs, 'KVM_SET_SREGS');
  }

  /**
   * Put the vCPU in real mode at `entry` with every segment based at 0 (flat 64 KiB), RFLAGS = 2
   * and SP = `sp`: the state the tiny machine-code guests of the oracle start from.
   */
  resetRealMode(entry: number, sp: number): void {
    const s = this.getSregs();
    const dv = new DataView(s.buffer);
    for (let i = 0; i < 6; i++) {
      dv.setBigUint64(i * KVM_SEGMENT_SIZE + KVM_SEGMENT_OFF_BASE, 0n, true);
      dv.setUint16(i * KVM_SEGMENT_SIZE + KVM_SEGMENT_OFF_SELECTOR, 0, true);
    }
    this.setSregs(s);
    const regs = new BigUint64Array(18);
    regs[KVM_REGS.rip] = BigInt(entry);
    regs[KVM_REGS.rsp] = BigInt(sp);
    regs[KVM_REGS.rflags] = 2n;
    this.setRegs(regs);
  }

  /** Close the vCPU: the kvm_run mapping becomes a tombstone (views stay safe), then the fd closes. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#run.close();
    this.#libc.close(this.#fd);
    this.#onClose();
  }

  #vcpuIoctl(request: number, buf: Uint8Array, what: string): void {
    if (this.#destroyed) throw new KvmError('EBADF', `${what} on a destroyed vCPU`);
    const r = this.#libc.ioctlBuf(this.#fd, request, buf);
    if (r < 0) throw kvmError(r, what);
  }
}
