/**
 * A test double of `sevbox serve` for the shim's tests: it speaks the wire format of
 * docs/kvm-shim-protocol.md ("Wire format, version 1") on a unix socket made with koffi
 * (src/hostkvm/shared-memory.ts, so SCM_RIGHTS fds arrive and leave), records every request, and
 * answers with what a `respond` callback returns. It is polled from timers, so the Node event loop
 * (the client's stdout, its exit) runs while it serves; a message, once its first byte is there, is
 * read whole with blocking reads (the shim sends each one in one go).
 */
import type { SharedMemory } from '../../src/hostkvm/shared-memory.js';
import {
  decodeIoctlRequest,
  ioctlReplyBody,
  OP_CLOSE,
  OP_CPUID,
  OP_GETPARAM,
  OP_HELLO,
  OP_IOCTL,
  OP_KICK,
  OP_MEMFD,
  OP_MUNMAP,
  OP_OPEN,
  PROTOCOL_MAGIC,
  PROTOCOL_VERSION,
  REPLY,
} from '../../src/serve/protocol.js';

/** The ops by name: the server's own numbers (src/serve/protocol.ts), the contract both halves keep. */
export const OP = {
  HELLO: OP_HELLO,
  OPEN: OP_OPEN,
  IOCTL: OP_IOCTL,
  CLOSE: OP_CLOSE,
  MEMFD: OP_MEMFD,
  MUNMAP: OP_MUNMAP,
  GETPARAM: OP_GETPARAM,
  CPUID: OP_CPUID,
  KICK: OP_KICK,
} as const;

/** One request as the server received it. */
export interface Request {
  readonly conn: Connection;
  readonly op: number;
  readonly handle: number;
  readonly payload: Uint8Array;
  /** SCM_RIGHTS fds that came with it (the server's now; the test closes them). */
  readonly fds: number[];
}

export interface Connection {
  readonly id: number;
  readonly fd: number;
  /** From HELLO. */
  pid: number;
  tid: number;
  closed: boolean;
}

/** What to answer: a result, payload bytes after it, an fd to send along. `null`: no reply (yet). */
export interface Reply {
  readonly result: number | bigint;
  readonly body?: Uint8Array;
  readonly fd?: number;
}

export type Respond = (req: Request, server: FakeServer) => Reply | null;

/** An IOCTL request, decoded. */
export interface IoctlRequest {
  readonly cmd: number;
  readonly arg: bigint;
  readonly in: Uint8Array;
  readonly regions: { addr: bigint; len: number; flags: number; bytes: Uint8Array }[];
}

/** The server's own decoder (src/serve/protocol.ts), with the `in` bytes under the spec's name. */
export function decodeIoctl(p: Uint8Array): IoctlRequest {
  const r = decodeIoctlRequest(p.slice());
  if (typeof r === 'string') throw new Error(r);
  return { cmd: r.cmd, arg: r.arg, in: r.input, regions: r.regions.map((x) => ({ ...x })) };
}

/** An IOCTL reply body (after the result): `out` over the struct, then regions written at their addresses. */
export function encodeIoctlReply(
  out: Uint8Array,
  regions: { addr: bigint; bytes: Uint8Array }[] = [],
): Uint8Array {
  return ioctlReplyBody(out, regions);
}

export class FakeServer {
  readonly requests: Request[] = [];
  readonly connections: Connection[] = [];
  readonly #shm: SharedMemory;
  readonly #listener: number;
  readonly #respond: Respond;
  #timer: NodeJS.Timeout | undefined;
  /** A failure inside the serving loop, rethrown by `stop()` so the test sees it. */
  #error: unknown;

  constructor(shm: SharedMemory, path: string, respond: Respond) {
    this.#shm = shm;
    this.#respond = respond;
    const fd = shm.listenUnix(path);
    if (fd < 0) throw new Error(`listenUnix(${path}): ${fd}`);
    this.#listener = fd;
    this.#timer = setInterval(() => this.#serve(), 1);
  }

  /** Stop serving, close every socket; throws what went wrong while serving, if anything. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const c of this.connections) if (!c.closed) this.#shm.libc.close(c.fd);
    this.#shm.libc.close(this.#listener);
    for (const r of this.requests) for (const fd of r.fds) this.#shm.libc.close(fd);
    if (this.#error) throw this.#error;
  }

  /** The requests with op `op` (IOCTLs further by cmd). */
  ops(op: number): Request[] {
    return this.requests.filter((r) => r.op === op);
  }

  ioctls(cmd?: number): (Request & { ioctl: IoctlRequest })[] {
    return this.ops(OP.IOCTL)
      .map((r) => Object.assign(r, { ioctl: decodeIoctl(r.payload) }))
      .filter((r) => cmd === undefined || r.ioctl.cmd === cmd);
  }

  /** Send the reply to `req` (for replies `respond` deferred with null). */
  reply(req: Request, r: Reply): void {
    const body = r.body ?? new Uint8Array(0);
    const msg = new Uint8Array(16 + 8 + body.length);
    const v = new DataView(msg.buffer);
    v.setUint32(0, PROTOCOL_MAGIC, true);
    v.setUint16(4, 1, true);
    v.setUint16(6, req.op | REPLY, true);
    v.setUint32(8, req.handle, true);
    v.setUint32(12, 8 + body.length, true);
    v.setBigInt64(16, BigInt(r.result), true);
    msg.set(body, 24);
    const fd = req.conn.fd;
    if (r.fd !== undefined) {
      // The fd rides with the first byte; the rest follows as plain writes.
      const first = this.#shm.sendFds(fd, msg.subarray(0, 16), [r.fd]);
      if (first !== 16) throw new Error(`sendFds: ${first}`);
      this.#writeAll(fd, msg.subarray(16));
    } else {
      this.#writeAll(fd, msg);
    }
  }

  #writeAll(fd: number, bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; ) {
      const n = this.#shm.write(fd, bytes.subarray(at));
      if (n <= 0) throw new Error(`write: ${n}`);
      at += n;
    }
  }

  #serve(): void {
    try {
      while (this.#shm.waitReadable(this.#listener, 0) === 1) {
        const fd = this.#shm.accept(this.#listener);
        if (fd < 0) throw new Error(`accept: ${fd}`);
        this.connections.push({ id: this.connections.length, fd, pid: 0, tid: 0, closed: false });
      }
      for (const c of this.connections) {
        while (!c.closed && this.#shm.waitReadable(c.fd, 0) === 1) this.#receive(c);
      }
    } catch (e) {
      this.#error ??= e;
      clearInterval(this.#timer);
    }
  }

  /** Read exactly `n` bytes (blocking: the rest of a message the shim is sending). */
  #readExact(fd: number, n: number): Uint8Array | null {
    const b = new Uint8Array(n);
    for (let got = 0; got < n; ) {
      const r = this.#shm.read(fd, b.subarray(got));
      if (r <= 0) return null;
      got += r;
    }
    return b;
  }

  #receive(c: Connection): void {
    const m = this.#shm.recvFds(c.fd, 16);
    if (typeof m === 'number' || m.bytes.length === 0) {
      c.closed = true;
      this.#shm.libc.close(c.fd);
      return;
    }
    let head = m.bytes;
    if (head.length < 16) {
      const rest = this.#readExact(c.fd, 16 - head.length);
      if (!rest) throw new Error('short header');
      head = Uint8Array.from([...head, ...rest]);
    }
    const v = new DataView(head.buffer, head.byteOffset, 16);
    if (v.getUint32(0, true) !== PROTOCOL_MAGIC || v.getUint16(4, true) !== PROTOCOL_VERSION)
      throw new Error('bad magic or version');
    const op = v.getUint16(6, true);
    const handle = v.getUint32(8, true);
    const len = v.getUint32(12, true);
    const payload = len ? this.#readExact(c.fd, len) : new Uint8Array(0);
    if (!payload) throw new Error('short payload');
    const req: Request = { conn: c, op, handle, payload, fds: m.fds };
    if (op === OP.HELLO) {
      const p = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      c.pid = p.getUint32(0, true);
      c.tid = p.getUint32(4, true);
    }
    this.requests.push(req);
    const r = this.#respond(req, this);
    if (r && op !== OP.KICK) this.reply(req, r);
  }
}
