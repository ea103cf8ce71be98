/**
 * `sevbox serve` on the wire (docs/kvm-shim-protocol.md), driven by a client written here with
 * Node's own unix socket: the server runs as the CLI runs it (a child process, its blocking loop),
 * and each exchange is the bytes the C shim would send. Pins the protocol's answers without the shim
 * (no gcc needed): HELLO and its foreign handle, OPEN, IOCTL with `in` bytes and `out` bytes,
 * created fds as handles, the EIO of another process's VM, GETPARAM, CPUID, errors for bad ops and
 * short payloads, and a bad header dropping the connection. Skips (one line) without koffi.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../../scripts/selftests.mjs';
import { loadSharedMemory } from '../../src/hostkvm/shared-memory.js';
import {
  encodeMessage,
  HEADER_SIZE,
  OP_CPUID,
  OP_GETPARAM,
  OP_HELLO,
  OP_IOCTL,
  OP_OPEN,
  OPEN_KVM,
  REPLY,
} from '../../src/serve/protocol.js';
import { KVM_CAP_USER_MEMORY, KVM_CAP_VM_TYPES } from '../../src/uapi/caps.js';
import { ERRNO } from '../../src/uapi/errno.js';
import {
  KVM_CHECK_EXTENSION,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_GET_API_VERSION,
  KVM_GET_REGS,
} from '../../src/uapi/ioctl.js';

const skip = loadSharedMemory().ok ? false : 'skipped: no koffi, so no sevbox serve';

/** A protocol client on one connection: one request, then its whole reply. */
class Client {
  #buf = Buffer.alloc(0);
  #waiting: (() => void) | undefined;
  closed = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (d) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#waiting?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#waiting?.();
    });
  }

  static connect(path: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path, () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }

  /** The reply: its op, handle, result and the payload after the result; undefined if the server hung up. */
  async request(
    op: number,
    handle: number,
    payload: Uint8Array,
  ): Promise<{ op: number; handle: number; result: number; body: Buffer } | undefined> {
    this.socket.write(encodeMessage(op, handle, payload));
    for (;;) {
      if (this.#buf.length >= HEADER_SIZE) {
        const len = this.#buf.readUInt32LE(12);
        if (this.#buf.length >= HEADER_SIZE + len) {
          const msg = this.#buf.subarray(0, HEADER_SIZE + len);
          this.#buf = this.#buf.subarray(HEADER_SIZE + len);
          return {
            op: msg.readUInt16LE(6),
            handle: msg.readUInt32LE(8),
            result: Number(msg.readBigInt64LE(16)),
            body: msg.subarray(24),
          };
        }
      }
      if (this.closed) return undefined;
      await new Promise<void>((r) => {
        this.#waiting = r;
      });
    }
  }

  /** IOCTL: `in` bytes and no regions; the result and the `out` bytes. */
  async ioctl(handle: number, cmd: number, arg = 0n, input = new Uint8Array(0)) {
    const p = Buffer.alloc(24 + input.length);
    p.writeUInt32LE(cmd, 0);
    p.writeBigUInt64LE(arg, 8);
    p.writeUInt32LE(input.length, 16);
    p.set(input, 24);
    const r = await this.request(OP_IOCTL, handle, p);
    assert.ok(r, 'the server answered');
    const outLen = r.body.readUInt32LE(0);
    return { result: r.result, out: r.body.subarray(8, 8 + outLen) };
  }

  async hello(pid: number): Promise<{ foreign: number }> {
    const p = Buffer.alloc(8);
    p.writeUInt32LE(pid, 0);
    const r = await this.request(OP_HELLO, 0, p);
    assert.ok(r);
    assert.equal(r.result, 0);
    return { foreign: r.body.readUInt32LE(4) };
  }

  async openKvm(): Promise<number> {
    const p = Buffer.alloc(4);
    p.writeUInt32LE(OPEN_KVM, 0);
    const r = await this.request(OP_OPEN, 0, p);
    assert.ok(r && r.result > 0, 'OPEN /dev/kvm gives a handle');
    return r.result;
  }

  close(): void {
    this.socket.destroy();
  }
}

describe('sevbox serve speaks protocol v1', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sevbox-serve-'));
  const socket = join(dir, 'kvm.sock');
  let server: { stop(): Promise<{ status: number | null; log: string }> } | undefined;
  const clients: Client[] = [];
  const client = async (): Promise<Client> => {
    const c = await Client.connect(socket);
    clients.push(c);
    return c;
  };

  before(async () => {
    server = await startServer(socket);
  });
  after(async () => {
    for (const c of clients) c.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers HELLO, OPEN and the system ioctls, replies echoing op | 0x8000 and the handle', async () => {
    const c = await client();
    const { foreign } = await c.hello(process.pid);
    assert.ok(foreign > 0, 'a foreign-file handle');
    const kvm = await c.openKvm();
    assert.notEqual(kvm, foreign);
    const p = Buffer.alloc(24);
    p.writeUInt32LE(KVM_GET_API_VERSION, 0);
    const r = await c.request(OP_IOCTL, kvm, p);
    assert.deepEqual([r?.op, r?.handle, r?.result], [OP_IOCTL | REPLY, kvm, 12]);
    assert.equal((await c.ioctl(kvm, KVM_CHECK_EXTENSION, BigInt(KVM_CAP_USER_MEMORY))).result, 1);
    // SEV and SEV-ES VM types on the current profile (bits 0, 2, 3).
    assert.equal((await c.ioctl(kvm, KVM_CHECK_EXTENSION, BigInt(KVM_CAP_VM_TYPES))).result, 0b1101);
    // A non-zero argument to KVM_GET_API_VERSION is EINVAL, as kvm_dev_ioctl has it.
    assert.equal((await c.ioctl(kvm, KVM_GET_API_VERSION, 1n)).result, -ERRNO.EINVAL);
  });

  it('makes created fds handles; KVM_GET_REGS copies the struct out; a short struct is EFAULT', async () => {
    const c = await client();
    await c.hello(process.pid);
    const kvm = await c.openKvm();
    const vm = (await c.ioctl(kvm, KVM_CREATE_VM)).result;
    assert.ok(vm > 0);
    const vcpu = await c.request(
      OP_IOCTL,
      vm,
      (() => {
        const p = Buffer.alloc(24);
        p.writeUInt32LE(KVM_CREATE_VCPU, 0);
        return p;
      })(),
    );
    assert.ok(vcpu && vcpu.result > 0);
    const regs = await c.ioctl(vcpu.result, KVM_GET_REGS);
    assert.equal(regs.result, 0);
    assert.equal(regs.out.length, 144, 'struct kvm_regs');
    // RIP after reset: 0xfff0 (offset 128), RFLAGS 2 (offset 136).
    assert.equal(regs.out.readBigUInt64LE(128), 0xfff0n);
    assert.equal(regs.out.readBigUInt64LE(136), 2n);
    // KVM_SET_USER_MEMORY_REGION with 8 of its 32 bytes: copy_from_user faults.
    const setRegion = 0x4020ae46;
    assert.equal((await c.ioctl(vm, setRegion, 0n, new Uint8Array(8))).result, -ERRNO.EFAULT);
  });

  it("answers EIO for another process's VM (a forked child's), but serves its /dev/kvm", async () => {
    const parent = await client();
    await parent.hello(process.pid);
    const kvm = await parent.openKvm();
    const vm = (await parent.ioctl(kvm, KVM_CREATE_VM)).result;
    const child = await client();
    await child.hello(process.pid + 1);
    assert.equal(
      (await child.ioctl(vm, KVM_CHECK_EXTENSION, BigInt(KVM_CAP_USER_MEMORY))).result,
      -ERRNO.EIO,
    );
    assert.equal((await child.ioctl(kvm, KVM_GET_API_VERSION)).result, 12);
  });

  it('answers module parameters and the host CPUID the shim emulates', async () => {
    const c = await client();
    await c.hello(process.pid);
    const sev = await c.request(OP_GETPARAM, 0, Buffer.from('/sys/module/kvm_amd/parameters/sev\0'));
    assert.deepEqual([sev?.result, sev?.body.toString()], [2, 'Y\n']);
    const intel = await c.request(OP_GETPARAM, 0, Buffer.from('/sys/module/kvm_intel/parameters/ept\0'));
    assert.equal(intel?.result, -ERRNO.ENOENT);
    const cpuid = await c.request(OP_CPUID, 0, new Uint8Array(0));
    assert.ok(cpuid && cpuid.result > 0);
    const entries = Array.from({ length: cpuid.result }, (_, i) => cpuid.body.subarray(i * 40, i * 40 + 40));
    const vendor = entries.find((e) => e.readUInt32LE(0) === 0);
    assert.equal(
      Buffer.concat([
        vendor!.subarray(16, 20),
        vendor!.subarray(24, 28),
        vendor!.subarray(20, 24),
      ]).toString(),
      'AuthenticAMD',
    );
    const sevLeaf = entries.find((e) => e.readUInt32LE(0) === 0x8000001f);
    assert.equal(sevLeaf!.readUInt32LE(16) & 0x3f, 51, 'the C-bit the memory controller uses');
  });

  it('answers EINVAL for an unknown op and EBADF for an unknown handle; drops a bad header', async () => {
    const c = await client();
    await c.hello(process.pid);
    assert.equal((await c.request(77, 0, new Uint8Array(0)))?.result, -ERRNO.EINVAL);
    assert.equal((await c.ioctl(0xdead, KVM_GET_API_VERSION)).result, -ERRNO.EBADF);
    const bad = Buffer.from(encodeMessage(OP_HELLO, 0, new Uint8Array(8)));
    bad.writeUInt16LE(2, 4); // protocol version 2
    c.socket.write(bad);
    await new Promise((r) => c.socket.once('close', r));
    assert.equal(c.closed, true);
  });
});
