/**
 * `sevbox serve`: the model's KVM behind a unix socket, for the /dev/kvm shim
 * (docs/kvm-shim-protocol.md). One process, one model platform, one request at a time: the server
 * polls its listening socket and every client connection (one per client thread), reads a request,
 * answers it through the byte-level dispatcher, and writes the reply. Guest RAM and each vCPU's
 * kvm_run are memfds both processes map, so nothing of them crosses the socket.
 *
 * A KVM_RUN holds the model until the vCPU exits, as a vCPU thread holds its CPU; at host ticks the
 * server looks at the other connections, and when one has a request waiting the run is cut there
 * (as a signal would cut it), the others are served, and the run resumes: the client sees one
 * KVM_RUN. A KICK on the running vCPU's own connection (the shim's signal) ends the run with EINTR.
 * Requests for a vCPU whose KVM_RUN is still in progress wait for it, as vcpu->mutex makes them.
 *
 * The socket I/O is blocking, through koffi (src/hostkvm/shared-memory.ts): this process does
 * nothing else while it serves.
 */

import { PROT_READ, PROT_WRITE } from '../host/address-space.js';
import { HostAllocator } from '../host/allocator.js';
import { HostFile } from '../host/file-store.js';
import { hostCpuVendor } from '../hostkvm/cpu-vendor.js';
import type { SharedMemory } from '../hostkvm/shared-memory.js';
import { encodeCpuid2 } from '../uapi/cpuid.js';
import { ERRNO, errnoName } from '../uapi/errno.js';
import {
  KVM_CREATE_VCPU,
  KVM_RUN,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SET_USER_MEMORY_REGION2,
  kvmIoctlName,
} from '../uapi/ioctl.js';
import { KVM_VCPU_MMAP_SIZE } from '../uapi/kvm-run.js';
import {
  decodeUserspaceMemoryRegion,
  decodeUserspaceMemoryRegion2,
  type UserspaceMemoryRegion,
} from '../uapi/memslot.js';
import { type ModelPlatform, type ModelPlatformOptions, modelPlatform } from '../vmm/platform.js';
import { allocatorPlan, type FaultSpec } from './faults.js';
import { dispatchIoctl, type KvmHandle } from './ioctl-dispatch.js';
import { moduleParam } from './module-params.js';
import {
  decodeHeader,
  decodeIoctlRequest,
  decodeRange,
  encodeIoctlReply,
  encodeMessage,
  HEADER_SIZE,
  type IoctlRequest,
  OP_CLOSE,
  OP_CPUID,
  OP_GETPARAM,
  OP_HELLO,
  OP_IOCTL,
  OP_KICK,
  OP_MEMFD,
  OP_MUNMAP,
  OP_OPEN,
  OPEN_KVM,
  OPEN_SEV,
  REPLY,
  replyPayload,
} from './protocol.js';
import { withRegions } from './user-regions.js';

/** How long the server polls without sleeping before it blocks (ms). */
const SPIN_MS = 0.05;

/** The backing chunk of the model's file store: shared files are mapped in whole chunks. */
const SHARED_FILE_ALIGN = 64 * 1024;

/** A handle's object: a KVM fd of the model, or an open /dev/sev. */
type Entry =
  | { readonly handle: KvmHandle; readonly owner: number }
  | { readonly sev: true; readonly owner: number };

/** One client connection (one client thread). */
interface Connection {
  readonly fd: number;
  pid: number;
  /** A KVM_RUN this connection waits on, cut short to serve others: resumed before new requests. */
  pendingRun?: { readonly handle: number };
  /** A request read but not yet served (its vCPU is busy in another connection's KVM_RUN). */
  deferred?: Message;
}

interface Message {
  readonly op: number;
  readonly handle: number;
  readonly payload: Uint8Array;
  readonly fds: number[];
}

export interface KvmServerOptions {
  /** The model to serve (its CPUs are always the x86 interpreter: clients bring machine code). */
  readonly platform?: Omit<ModelPlatformOptions, 'cpu' | 'runArea'>;
  /** One line per notable event (connections, protocol errors); absent: silent. */
  readonly log?: (line: string) => void;
  /** Log every ioctl with its result (`--log-ioctls`): what a VMM author reads when their VMM stops. */
  readonly logIoctls?: boolean;
  /** Host failures to inject (`--fault`). */
  readonly faults?: readonly FaultSpec[];
}

/** A memslot as the client set it, to find a GPA's hva (unmap-gpa faults). */
interface SlotRecord {
  readonly gpa: number;
  readonly size: number;
  readonly hva: number;
}

/** What the server did, for the CLI's summary and the bench. */
export interface ServeStats {
  connections: number;
  requests: number;
  ioctls: number;
  kvmRuns: number;
  preemptions: number;
}

export class KvmServer {
  readonly #shm: SharedMemory;
  readonly #platform: ModelPlatform;
  /** The model this server answers for (its host address space, allocator, clock…). */
  get platform(): ModelPlatform {
    return this.#platform;
  }
  readonly #listenFd: number;
  readonly #log: (line: string) => void;
  readonly #logIoctls: boolean;
  readonly #foreign: number;
  readonly #conns = new Map<number, Connection>();
  readonly #entries = new Map<number, Entry>();
  /** The kvm_run memfd KVM_CREATE_VCPU just made (taken by the reply). */
  #newRunAreaFd: number | undefined;
  #stopped = false;
  readonly #slots = new Map<string, SlotRecord>();
  /** unmap-gpa faults counted in KVM_RUNs returned to clients. */
  #unmapsAtExit: readonly Extract<FaultSpec, { kind: 'unmap-gpa' }>[] = [];
  #exits = 0;
  readonly stats: ServeStats = { connections: 0, requests: 0, ioctls: 0, kvmRuns: 0, preemptions: 0 };

  /** Serve a new model platform on the listening socket `listenFd` (SharedMemory.listenUnix). */
  constructor(shm: SharedMemory, listenFd: number, opts: KvmServerOptions = {}) {
    this.#shm = shm;
    this.#listenFd = listenFd;
    this.#log = opts.log ?? (() => {});
    this.#logIoctls = opts.logIoctls ?? false;
    const faults = opts.faults ?? [];
    const allocator = new HostAllocator(allocatorPlan(faults));
    const hostVendor = hostCpuVendor().vendor;
    this.#platform = modelPlatform({
      ...opts.platform,
      allocator,
      cpu: 'x86',
      // The clients run natively on this machine and compare with what their guests compute (the
      // selftests' XSAVE images): the guests' CPU is this machine's vendor, as on a real host.
      x86: { ...(hostVendor ? { vendor: hostVendor } : {}), ...opts.platform?.x86 },
      runArea: (id) => this.#runArea(id),
    });
    // The stand-in for every open client fd that is not a KVM one (stdin, a socket): the model's
    // fdget finds a file there, and one of the wrong kind.
    this.#foreign = this.#platform.kvm.kvm.fds.install({ foreign: true });
    const unmaps = faults.filter((f) => f.kind === 'unmap-gpa');
    this.#unmapsAtExit = unmaps.filter((f) => f.at === 'exit');
    const atVmgexit = unmaps.filter((f) => f.at === 'vmgexit');
    if (atVmgexit.length > 0) {
      let vmgexits = 0;
      this.#platform.tracepoints((e) => {
        if (e.name !== 'kvm_vmgexit_enter' && e.name !== 'kvm_vmgexit_msr_protocol_enter') return;
        vmgexits++;
        for (const f of atVmgexit) if (f.n === vmgexits) this.#unmapGpa(f.gpa, `VMGEXIT ${vmgexits}`);
      });
    }
  }

  /** An unmap-gpa fault: KVM's view of the page behind `gpa` goes away (the client keeps its own). */
  #unmapGpa(gpa: number, at: string): void {
    for (const s of this.#slots.values()) {
      if (gpa < s.gpa || gpa >= s.gpa + s.size) continue;
      const hva = s.hva + (gpa - s.gpa);
      const page = hva - (hva % 4096);
      this.#platform.host.unmap(page, 4096);
      this.#log(`fault: ${at}: unmapped hva 0x${page.toString(16)} (gpa 0x${gpa.toString(16)})`);
      return;
    }
    this.#log(`fault: ${at}: gpa 0x${gpa.toString(16)} is in no memslot`);
  }

  /** Record a memslot the model accepted (key: VM handle and slot id). */
  #noteSlot(vm: number, region: UserspaceMemoryRegion): void {
    const key = `${vm}:${region.slot}`;
    if (region.memorySize === 0n) this.#slots.delete(key);
    else
      this.#slots.set(key, {
        gpa: Number(region.guestPhysAddr),
        size: Number(region.memorySize),
        hva: Number(region.userspaceAddr),
      });
  }

  /**
   * Each vCPU's KVM_VCPU_MMAP_SIZE bytes live in a memfd this server maps; the reply to
   * KVM_CREATE_VCPU hands the memfd to the client, whose mmap of the vCPU fd then maps it.
   */
  #runArea(vcpuId: number): Uint8Array {
    const fd = this.#shm.createMemfd(`sevbox-kvm_run-${vcpuId}`, KVM_VCPU_MMAP_SIZE);
    if (fd < 0) throw new Error(`memfd for kvm_run: errno ${-fd}`);
    const view = this.#shm.mapShared(fd, KVM_VCPU_MMAP_SIZE);
    if (typeof view === 'number') throw new Error(`mmap of kvm_run: errno ${-view}`);
    this.#newRunAreaFd = fd;
    return view.bytes;
  }

  /** Stop after the request in hand (from a log hook or a test). */
  stop(): void {
    this.#stopped = true;
  }

  /** Serve until {@link stop}, or until every client has gone when `untilIdle` and one came. */
  serve(opts: { untilIdle?: boolean } = {}): void {
    while (!this.#stopped) {
      const resumable = [...this.#conns.values()].filter((c) => c.pendingRun || c.deferred);
      const ready = this.#poll(resumable.length > 0 ? 0 : -1);
      if (ready.includes(this.#listenFd)) this.#accept();
      // The waiting requests first: a resumed run would be cut again at once while they wait.
      for (const fd of ready) {
        const c = this.#conns.get(fd);
        if (c && !c.pendingRun && !c.deferred) this.#serveOne(c);
      }
      for (const c of resumable) if (this.#conns.has(c.fd)) this.#resume(c);
      if (opts.untilIdle && this.stats.connections > 0 && this.#conns.size === 0) return;
    }
  }

  #poll(timeoutMs: number): number[] {
    const fds = [this.#listenFd, ...this.#conns.keys()];
    if (timeoutMs !== 0) {
      // Spin a little before sleeping: a client thread's next request usually follows within
      // microseconds, and a sleep and wake-up costs more than that on a virtualised host.
      const until = performance.now() + SPIN_MS;
      do {
        const r = this.#shm.pollReadable(fds, 0);
        if (typeof r !== 'number' && r.length > 0) return r;
      } while (performance.now() < until);
    }
    const r = this.#shm.pollReadable(fds, timeoutMs);
    return typeof r === 'number' ? [] : r;
  }

  #accept(): undefined {
    const fd = this.#shm.accept(this.#listenFd);
    if (fd < 0) return;
    this.#conns.set(fd, { fd, pid: 0 });
    this.stats.connections++;
  }

  #drop(c: Connection, why?: string): undefined {
    if (why) this.#log(`connection ${c.fd} (pid ${c.pid}): ${why}`);
    this.#conns.delete(c.fd);
    this.#shm.libc.close(c.fd);
  }

  /** Read one whole message, or undefined when the peer closed or sent garbage (dropped). */
  #read(c: Connection): Message | undefined {
    const first = this.#shm.recvFds(c.fd, HEADER_SIZE);
    if (typeof first === 'number' || first.bytes.length === 0) {
      this.#drop(c);
      return undefined;
    }
    const head = new Uint8Array(HEADER_SIZE);
    head.set(first.bytes);
    if (!this.#readExactly(c.fd, head, first.bytes.length)) {
      this.#drop(c, 'closed mid-header');
      return undefined;
    }
    const h = decodeHeader(head);
    if (typeof h === 'string') {
      for (const f of first.fds) this.#shm.libc.close(f);
      this.#drop(c, h);
      return undefined;
    }
    const payload = new Uint8Array(h.len);
    if (!this.#readExactly(c.fd, payload, 0)) {
      this.#drop(c, 'closed mid-message');
      return undefined;
    }
    return { op: h.op, handle: h.handle, payload, fds: first.fds };
  }

  #readExactly(fd: number, buf: Uint8Array, from: number): boolean {
    let at = from;
    while (at < buf.length) {
      const n = this.#shm.read(fd, buf.subarray(at));
      if (n === -ERRNO.EINTR) continue;
      if (n <= 0) return false;
      at += n;
    }
    return true;
  }

  #send(c: Connection, op: number, handle: number, payload: Uint8Array, fds: number[] = []): undefined {
    // The client reads guest memory itself: plaintext the CPUs hold goes back to RAM first.
    this.#platform.memoryController.flush();
    const msg = encodeMessage(op | REPLY, handle, payload);
    const first = fds.length > 0 ? this.#shm.sendFds(c.fd, msg.subarray(0, HEADER_SIZE), fds) : 0;
    if (first < 0) return this.#drop(c, `send: errno ${-first}`);
    let at = first;
    while (at < msg.length) {
      const n = this.#shm.write(c.fd, msg.subarray(at));
      if (n === -ERRNO.EINTR) continue;
      if (n <= 0) return this.#drop(c, `send: errno ${-n}`);
      at += n;
    }
  }

  #serveOne(c: Connection): undefined {
    const m = this.#read(c);
    if (m) this.#handle(c, m);
  }

  #resume(c: Connection): undefined {
    if (c.pendingRun) {
      this.#kvmRun(c, c.pendingRun.handle);
      return;
    }
    const m = c.deferred!;
    if (this.#busy(m.handle, c)) return;
    c.deferred = undefined;
    this.#handle(c, m);
  }

  /** A vCPU handle whose KVM_RUN another connection is still in. */
  #busy(handle: number, c: Connection): boolean {
    for (const o of this.#conns.values()) if (o !== c && o.pendingRun?.handle === handle) return true;
    return false;
  }

  #handle(c: Connection, m: Message): undefined {
    this.stats.requests++;
    const fail = (errno: number): undefined => this.#send(c, m.op, m.handle, replyPayload(-errno));
    switch (m.op) {
      case OP_HELLO: {
        if (m.payload.length < 4) return fail(ERRNO.EINVAL);
        c.pid = new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(0, true);
        const body = new Uint8Array(8);
        new DataView(body.buffer).setUint32(0, process.pid, true);
        new DataView(body.buffer).setUint32(4, this.#foreign, true);
        return this.#send(c, m.op, m.handle, replyPayload(0, body));
      }
      case OP_OPEN:
        return this.#open(c, m);
      case OP_IOCTL:
        return this.#ioctl(c, m);
      case OP_CLOSE:
        return this.#send(c, m.op, m.handle, replyPayload(this.#close(m.handle)));
      case OP_MEMFD:
        return this.#memfd(c, m);
      case OP_MUNMAP: {
        const r = decodeRange(m.payload);
        if (typeof r === 'string') return fail(ERRNO.EINVAL);
        return this.#send(c, m.op, m.handle, replyPayload(this.#unmap(r.hva, r.size)));
      }
      case OP_GETPARAM: {
        const end = m.payload.indexOf(0);
        const path = new TextDecoder().decode(m.payload.subarray(0, end < 0 ? m.payload.length : end));
        const value = moduleParam(this.#platform, path);
        if (value === undefined) return fail(ERRNO.ENOENT);
        const bytes = new TextEncoder().encode(value);
        return this.#send(c, m.op, m.handle, replyPayload(bytes.length, bytes));
      }
      case OP_CPUID: {
        const entries = this.#platform.hostCpuid;
        const table = encodeCpuid2({ nent: entries.length, entries: [...entries] }).subarray(8);
        return this.#send(c, m.op, m.handle, replyPayload(entries.length, table));
      }
      case OP_KICK:
        return; // the run it was meant for has already ended
      default:
        for (const f of m.fds) this.#shm.libc.close(f);
        return fail(ERRNO.EINVAL);
    }
  }

  #open(c: Connection, m: Message): undefined {
    const which =
      m.payload.length >= 4 ? new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(0, true) : 0;
    const kvm = this.#platform.kvm;
    if (which === OPEN_KVM) {
      const handle = kvm.kvm.fds.install({});
      this.#entries.set(handle, { handle: { kind: 'system', fd: kvm }, owner: c.pid });
      return this.#send(c, m.op, m.handle, replyPayload(handle));
    }
    if (which === OPEN_SEV) {
      const handle = this.#platform.openSevDevice();
      this.#entries.set(handle, { sev: true, owner: c.pid });
      return this.#send(c, m.op, m.handle, replyPayload(handle));
    }
    this.#send(c, m.op, m.handle, replyPayload(-ERRNO.ENOENT));
  }

  #close(handle: number): number {
    const e = this.#entries.get(handle);
    if (!e) return -ERRNO.EBADF;
    this.#entries.delete(handle);
    this.#platform.kvm.kvm.fds.close(handle);
    // /dev/kvm itself is one open file shared by every handle: only VM and vCPU fds go away.
    if ('handle' in e && e.handle.kind !== 'system') e.handle.fd.close();
    return 0;
  }

  #ioctl(c: Connection, m: Message): undefined {
    // An IOCTL reply always has its out and region counts, even a failure's.
    const ioctlFail = (errno: number): undefined =>
      this.#send(c, m.op, m.handle, encodeIoctlReply(-errno, new Uint8Array(0), []));
    const e = this.#entries.get(m.handle);
    if (!e || 'sev' in e) return ioctlFail(e ? ERRNO.ENOTTY : ERRNO.EBADF);
    // kvm_vm_ioctl / kvm_vcpu_ioctl: a VM is its creator's mm's (a forked child gets EIO).
    if (e.handle.kind !== 'system' && e.owner !== c.pid) {
      return ioctlFail(ERRNO.EIO);
    }
    if (e.handle.kind === 'vcpu' && this.#busy(m.handle, c)) {
      c.deferred = m;
      return;
    }
    const req = decodeIoctlRequest(m.payload);
    if (typeof req === 'string') return ioctlFail(ERRNO.EINVAL);
    this.stats.ioctls++;
    if (req.cmd === KVM_RUN && e.handle.kind === 'vcpu') return this.#kvmRun(c, m.handle, req);
    const { result: r, out } = withRegions(this.#platform.host, req.regions, () =>
      dispatchIoctl(e.handle, req.cmd, req.arg, req.input, this.#platform.host),
    );
    let result = r.result;
    if (this.#logIoctls) this.#logIoctl(e.handle.kind, m.handle, req, result);
    if (result === 0 && req.cmd === KVM_SET_USER_MEMORY_REGION && req.input.length >= 32)
      this.#noteSlot(m.handle, decodeUserspaceMemoryRegion(req.input));
    if (result === 0 && req.cmd === KVM_SET_USER_MEMORY_REGION2 && req.input.length >= 160)
      this.#noteSlot(m.handle, decodeUserspaceMemoryRegion2(req.input));
    const fds: number[] = [];
    if (r.created) {
      result = (r.created.fd as { fd?: number }).fd ?? this.#platform.kvm.kvm.fds.install({});
      const entry: Entry = { handle: r.created, owner: c.pid };
      if (req.cmd === KVM_CREATE_VCPU && this.#newRunAreaFd !== undefined) fds.push(this.#newRunAreaFd);
      this.#newRunAreaFd = undefined;
      this.#entries.set(result, entry);
    }
    this.#send(c, m.op, m.handle, encodeIoctlReply(result, r.out ?? new Uint8Array(0), out), fds);
    for (const f of fds) this.#shm.libc.close(f);
  }

  /** KVM_RUN, cut at host ticks when another connection waits (then resumed by serve()). */
  #kvmRun(c: Connection, handle: number, req?: IoctlRequest): undefined {
    const e = this.#entries.get(handle);
    if (!e || !('handle' in e) || e.handle.kind !== 'vcpu') {
      c.pendingRun = undefined;
      return this.#send(c, OP_IOCTL, handle, encodeIoctlReply(-ERRNO.EBADF, new Uint8Array(0), []));
    }
    if (req?.arg)
      return this.#send(c, OP_IOCTL, handle, encodeIoctlReply(-ERRNO.EINVAL, new Uint8Array(0), []));
    const vcpu = e.handle.fd;
    const run = vcpu.runArea;
    const clock = this.#platform.clock;
    let cut: 'preempt' | 'kick' | undefined;
    const clientExit = run.immediateExit;
    const check = (): void => {
      if (cut || run.immediateExit) return;
      const others = [...this.#conns.keys()];
      const ready = this.#shm.pollReadable([this.#listenFd, ...others], 0);
      if (typeof ready !== 'number' && ready.length > 0) {
        if (ready.includes(c.fd) && this.#kicked(c)) cut = 'kick';
        else if (ready.some((fd) => fd !== c.fd)) cut = 'preempt';
      }
      if (cut) run.immediateExit = 1;
      else clock.arm(clock.now(), check);
    };
    if (!clientExit) clock.arm(clock.now(), check);
    this.stats.kvmRuns++;
    const result = vcpu.runRaw();
    clock.disarm(check);
    if (cut) run.immediateExit = clientExit;
    if (cut === 'preempt' && result === -ERRNO.EINTR) {
      this.stats.preemptions++;
      c.pendingRun = { handle };
      return;
    }
    c.pendingRun = undefined;
    this.#exits++;
    for (const f of this.#unmapsAtExit) if (f.n === this.#exits) this.#unmapGpa(f.gpa, `exit ${this.#exits}`);
    if (this.#logIoctls)
      this.#logIoctl(
        'vcpu',
        handle,
        { cmd: KVM_RUN, arg: 0n, input: new Uint8Array(0), regions: [] },
        result,
        `exit_reason ${run.exitReason}`,
      );
    this.#send(c, OP_IOCTL, handle, encodeIoctlReply(result, new Uint8Array(0), []));
  }

  /** The running connection has a message: a KICK (the shim's signal) is taken, anything else waits. */
  #kicked(c: Connection): boolean {
    const m = this.#read(c);
    if (!m) return false;
    if (m.op === OP_KICK) return true;
    c.deferred = m;
    return false;
  }

  #memfd(c: Connection, m: Message): undefined {
    const r = decodeRange(m.payload);
    const fd = m.fds[0];
    for (const extra of m.fds.slice(1)) this.#shm.libc.close(extra);
    if (
      typeof r === 'string' ||
      fd === undefined ||
      r.size <= 0 ||
      r.hva % 4096 !== 0 ||
      r.size % 4096 !== 0
    ) {
      if (fd !== undefined) this.#shm.libc.close(fd);
      return this.#send(c, m.op, m.handle, replyPayload(-ERRNO.EINVAL));
    }
    const fileSize = Math.ceil(r.size / SHARED_FILE_ALIGN) * SHARED_FILE_ALIGN;
    const view = this.#shm.mapShared(fd, fileSize);
    this.#shm.libc.close(fd);
    if (typeof view === 'number') return this.#send(c, m.op, m.handle, replyPayload(view));
    const file = HostFile.over(`memfd:sevbox-guest-${r.hva.toString(16)}`, view.bytes);
    try {
      this.#platform.host.mapFile(r.hva, r.size, file, 0, PROT_READ | PROT_WRITE);
    } catch (err) {
      view.close();
      this.#log(`MEMFD 0x${r.hva.toString(16)}+0x${r.size.toString(16)}: ${String(err)}`);
      return this.#send(c, m.op, m.handle, replyPayload(-ERRNO.EINVAL));
    }
    this.#send(c, m.op, m.handle, replyPayload(0));
  }

  /** The client unmapped [hva, +size): so does the model's host (KVM's next access faults). */
  #unmap(hva: number, size: number): number {
    if (hva % 4096 !== 0 || size <= 0) return -ERRNO.EINVAL;
    const len = Math.ceil(size / 4096) * 4096;
    if (hva + len > this.#platform.host.limit) return -ERRNO.EINVAL;
    // The shared file goes with its last mapping, and the view with it (HostMapping's reaper).
    this.#platform.host.unmap(hva, len);
    return 0;
  }

  #logIoctl(kind: string, handle: number, req: IoctlRequest, result: number, extra = ''): void {
    const outcome = result < 0 ? errnoName(-result) : String(result);
    const arg = req.input.length === 0 ? ` arg 0x${req.arg.toString(16)}` : '';
    this.#log(`${kind} ${handle}: ${kvmIoctlName(req.cmd)}${arg} → ${outcome}${extra ? ` (${extra})` : ''}`);
  }
}
