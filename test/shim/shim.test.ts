/**
 * The /dev/kvm shim (shim/libsevbox-kvm.c, docs/kvm-shim-protocol.md) against a fake `sevbox serve`
 * (fake-server.ts): a small C KVM client (kvm-client.c, the distribution's <linux/kvm.h>) runs with
 * LD_PRELOAD and the test checks both sides: what the client saw (its `ok` lines, exit 0) and what
 * went over the wire (the requests the fake server recorded, the bytes and fds in them).
 * Skips, with one line, without gcc or koffi.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildShim } from '../../scripts/build-shim.mjs';
import type { HostMapping } from '../../src/hostkvm/mapping.js';
import { loadSharedMemory, type SharedMemory } from '../../src/hostkvm/shared-memory.js';
import { decodeCpuid2, encodeCpuid2, type KvmCpuidEntry2 } from '../../src/uapi/cpuid.js';
import { ERRNO } from '../../src/uapi/errno.js';
import {
  KVM_CHECK_EXTENSION,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_GET_API_VERSION,
  KVM_GET_DIRTY_LOG,
  KVM_GET_SUPPORTED_CPUID,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_MEMORY_ENCRYPT_OP,
  KVM_RUN,
  KVM_SET_USER_MEMORY_REGION,
} from '../../src/uapi/ioctl.js';
import { KVM_SEV_LAUNCH_START } from '../../src/uapi/sev-cmd.js';
import { encodeIoctlReply, FakeServer, OP, type Reply, type Request } from './fake-server.js';

const CLIENT_SOURCE = fileURLToPath(new URL('./kvm-client.c', import.meta.url));
/** How long a client may run before the test gives up on it. */
const CLIENT_TIMEOUT_MS = 20_000;
const RAM_SIZE = 64 << 10;
const PAGE = 4096;

const loaded = loadSharedMemory();
const gcc = spawnSync('gcc', ['--version']).status === 0;
const skip = !gcc ? 'gcc missing' : !loaded.ok ? loaded.reason : false;

/** The fake host CPU: an AMD vendor, leaf 7 with significant indexes, the SEV leaf (C-bit 51). */
const HOST_CPUID: KvmCpuidEntry2[] = [
  { function: 0, index: 0, flags: 0, eax: 0xd, ebx: 0x68747541, ecx: 0x444d4163, edx: 0x69746e65 },
  { function: 7, index: 0, flags: 1, eax: 0x70, ebx: 0, ecx: 0, edx: 0 },
  { function: 7, index: 1, flags: 1, eax: 0x71, ebx: 0, ecx: 0, edx: 0 },
  { function: 0x8000001f, index: 0, flags: 0, eax: 0x1000b, ebx: 0x173, ecx: 509, edx: 1 },
];

const u32 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset).getUint32(at, true);
const u64 = (b: Uint8Array, at: number): bigint =>
  new DataView(b.buffer, b.byteOffset).getBigUint64(at, true);

/** The fake server's handle for an open client fd that is not a KVM one (HELLO). */
const FOREIGN = 0xf00d;

describe('the /dev/kvm shim', { skip }, () => {
  const shm = (loaded as { shm: SharedMemory }).shm;
  let dir = '';
  let client = '';
  let library = '';
  let sockets = 0;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sevbox-shim-'));
    library = join(dir, 'libsevbox-kvm.so');
    const built = buildShim({ force: true, output: library });
    assert.ok(built.ok, built.ok ? '' : built.reason);
    assert.equal(built.warnings ?? '', '', 'the shim builds without warnings');
    client = join(dir, 'kvm-client');
    const cc = spawnSync('gcc', ['-O2', '-Wall', '-Werror', '-pthread', '-o', client, CLIENT_SOURCE], {
      encoding: 'utf8',
    });
    assert.equal(cc.status, 0, cc.stderr);
  });
  /** Servers' mappings, closed at the end: the tests read them after the client is gone. */
  const cleanups: (() => void)[] = [];
  after(() => {
    for (const c of cleanups) c();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Run the client's `scenario` with the shim; resolves to its exit code and output. */
  function run(
    scenario: string,
    env: Record<string, string | undefined>,
  ): Promise<{ code: number | null; out: string; err: string }> {
    const child = spawn(client, [scenario], {
      env: { PATH: process.env.PATH, LD_PRELOAD: library, ...env },
      timeout: CLIENT_TIMEOUT_MS,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
  }

  /**
   * The canned server: handles per process (a request on another process's handle is EIO, as KVM
   * for another mm), guest RAM memfds mapped and written, a vCPU's kvm_run memfd, KVM_RUN answered
   * EINTR only after a KICK.
   */
  function cannedServer() {
    let nextHandle = 10;
    const owner = new Map<number, number>();
    const mappings: HostMapping[] = [];
    const memfds: { hva: bigint; size: bigint; map: HostMapping; seen: Uint8Array }[] = [];
    const pendingRuns = new Map<number, Request>();
    const newHandle = (pid: number): number => {
      owner.set(nextHandle, pid);
      return nextHandle++;
    };
    const result = (n: number): Reply => ({ result: n });

    const respond = (req: Request, server: FakeServer): Reply | null => {
      if (req.handle !== 0 && owner.get(req.handle) !== req.conn.pid && req.op !== OP.KICK) {
        return result(-ERRNO.EIO);
      }
      const p = req.payload;
      switch (req.op) {
        case OP.HELLO: {
          const body = new Uint8Array(8);
          new DataView(body.buffer).setUint32(0, process.pid, true);
          new DataView(body.buffer).setUint32(4, FOREIGN, true);
          return { result: 0, body };
        }
        case OP.OPEN:
          return result(newHandle(req.conn.pid));
        case OP.CPUID:
          return { result: HOST_CPUID.length, body: encodeCpuid2({ nent: 0, entries: HOST_CPUID }).slice(8) };
        case OP.CLOSE:
        case OP.MUNMAP:
          return result(0);
        case OP.GETPARAM: {
          const path = Buffer.from(p).toString('latin1');
          if (path !== '/sys/module/kvm_amd/parameters/sev\0') return result(-ERRNO.ENOENT);
          return { result: 2, body: Buffer.from('Y\n') };
        }
        case OP.MEMFD: {
          const hva = u64(p, 0);
          const size = u64(p, 8);
          assert.equal(req.fds.length, 1, 'MEMFD carries the memfd');
          const map = shm.mapShared(req.fds[0]!, Number(size));
          if (typeof map === 'number') throw new Error(`mapShared: ${map}`);
          mappings.push(map);
          memfds.push({ hva, size, map, seen: map.bytes.slice() });
          map.bytes[100] = 0xab;
          return result(0);
        }
        case OP.KICK: {
          const run = pendingRuns.get(req.conn.id);
          if (run) {
            pendingRuns.delete(req.conn.id);
            server.reply(run, result(-ERRNO.EINTR));
          }
          return null;
        }
        default:
          break;
      }
      const cmd = u32(p, 0);
      const input = p.slice(24, 24 + u32(p, 16));
      switch (cmd) {
        case KVM_GET_API_VERSION:
          return result(12);
        case KVM_CHECK_EXTENSION:
          return result(0);
        case KVM_GET_VCPU_MMAP_SIZE:
          return result(3 * PAGE);
        case KVM_CREATE_VM:
          return result(newHandle(req.conn.pid));
        case KVM_SET_USER_MEMORY_REGION:
          return result(0);
        case KVM_GET_DIRTY_LOG: {
          const { regions } = server.ioctls().at(-1)!.ioctl;
          const bitmap = new Uint8Array(regions[0]?.len ?? 0).fill(0x5a);
          return {
            result: 0,
            body: encodeIoctlReply(new Uint8Array(0), [{ addr: regions[0]!.addr, bytes: bitmap }]),
          };
        }
        case KVM_CREATE_VCPU: {
          const fd = shm.createMemfd('kvm_run', 3 * PAGE);
          const map = shm.mapShared(fd, 3 * PAGE);
          if (typeof map === 'number') throw new Error(`mapShared: ${map}`);
          mappings.push(map);
          new DataView(map.bytes.buffer, map.bytes.byteOffset).setUint32(8, 0x51, true); // exit_reason
          map.bytes.set(Buffer.from('pio page'), PAGE);
          const reply = { result: newHandle(req.conn.pid), fd };
          setTimeout(() => shm.libc.close(fd), 1000);
          return reply;
        }
        case KVM_GET_SUPPORTED_CPUID: {
          const two = HOST_CPUID.slice(2);
          return { result: 0, body: encodeIoctlReply(encodeCpuid2({ nent: two.length, entries: two })) };
        }
        case KVM_MEMORY_ENCRYPT_OP: {
          if (input.length < 24) return result(-ERRNO.EFAULT);
          if (u32(input, 20) === 0xffffffff || u32(input, 20) === FOREIGN) return result(-ERRNO.EBADF);
          const out = input.slice();
          new DataView(out.buffer).setUint32(16, 0x77, true); // error
          const { regions } = server.ioctls().at(-1)!.ioctl;
          const data = regions[0]!.bytes.slice();
          new DataView(data.buffer).setUint32(0, 0x1234, true); // kvm_sev_launch_start.handle
          return { result: 0, body: encodeIoctlReply(out, [{ addr: regions[0]!.addr, bytes: data }]) };
        }
        case KVM_RUN:
          pendingRuns.set(req.conn.id, req);
          return null;
        default:
          return result(-ERRNO.ENOTTY);
      }
    };
    const close = () => {
      for (const m of mappings) m.close();
    };
    return { respond, memfds, close };
  }

  /** Run `scenario` against a fresh canned server; returns the server and the run. */
  async function scenario(name: string) {
    const path = join(dir, `s${sockets++}.sock`);
    const canned = cannedServer();
    const server = new FakeServer(shm, path, canned.respond);
    try {
      const r = await run(name, { SEVBOX_SOCKET: path });
      return { ...r, server, canned };
    } finally {
      server.stop();
      cleanups.push(canned.close);
    }
  }

  it('opens /dev/kvm as a placeholder, creates a VM, shares guest RAM, the kvm_run page and CPUID', async () => {
    const { code, out, err, server, canned } = await scenario('basic');
    assert.equal(code, 0, out + err);
    assert.match(out, /^ok kvm fd \/memfd:sevbox-kvm/m);
    assert.match(out, /^ok vm fd \/memfd:sevbox-vm/m);
    assert.equal(err, '');

    // HELLO first on the connection, with this client's pid; the constructor fetched CPUID.
    const hello = server.requests[0]!;
    assert.equal(hello.op, OP.HELLO);
    assert.ok(hello.conn.pid > 0 && hello.conn.pid !== process.pid);
    assert.equal(server.requests[1]!.op, OP.CPUID);

    // One MEMFD for the range (the second memslot over it sends none), before the ioctl.
    const hva = BigInt(/^ok memslot hva (0x[0-9a-f]+)$/m.exec(out)![1]!);
    assert.equal(canned.memfds.length, 1);
    const shared = canned.memfds[0]!;
    assert.equal(shared.hva, hva);
    assert.equal(shared.size, BigInt(RAM_SIZE));
    const pattern = Uint8Array.from({ length: RAM_SIZE }, (_, i) => (i * 7 + 3) & 0xff);
    assert.deepEqual(shared.seen, pattern, "the memfd held the client's bytes");
    assert.equal(shared.map.bytes[200], 0xcd, "the client's later write is the server's too");
    const memfdAt = server.requests.findIndex((r) => r.op === OP.MEMFD);
    const slots = server.ioctls(KVM_SET_USER_MEMORY_REGION);
    assert.equal(slots.length, 2);
    assert.ok(server.requests.indexOf(slots[0]!) > memfdAt, 'MEMFD goes before the memslot ioctl');
    assert.equal(slots[0]!.ioctl.in.length, 32);
    assert.equal(u64(slots[0]!.ioctl.in, 24), hva);

    // The dirty bitmap region: the slot's 16 pages are ALIGN(16, 64) / 8 = 8 bytes, OUT.
    const [log] = server.ioctls(KVM_GET_DIRTY_LOG);
    assert.equal(log!.ioctl.regions.length, 1);
    assert.equal(log!.ioctl.regions[0]!.len, 8);
    assert.equal(log!.ioctl.regions[0]!.flags, 2);

    // KVM_GET_SUPPORTED_CPUID with nent = 4 sends 8 + 40 * 4 bytes.
    const [cpuid] = server.ioctls(KVM_GET_SUPPORTED_CPUID);
    assert.equal(cpuid!.ioctl.in.length, 8 + 40 * 4);
    assert.equal(decodeCpuid2(cpuid!.ioctl.in).nent, 4);
    assert.match(out, /^ok kvm_run shared$/m);

    // CLOSE of the VM only after its last fd (three of them) went, after the marker ioctl.
    const vmHandle = 11; // handles count from 10: OPEN /dev/kvm, then KVM_CREATE_VM
    const marker = server.requests.findIndex(
      (r) => r.op === OP.IOCTL && u32(r.payload, 0) === KVM_CHECK_EXTENSION && u64(r.payload, 8) === 4242n,
    );
    const closes = server.ops(OP.CLOSE);
    assert.deepEqual(
      closes.map((r) => r.handle),
      [vmHandle],
    );
    assert.ok(server.requests.indexOf(closes[0]!) > marker, 'CLOSE after the last dup, not before');

    // munmap of two pages inside the shared range: MUNMAP of exactly those.
    const [unmap] = server.ops(OP.MUNMAP);
    assert.ok(unmap, 'MUNMAP sent');
    assert.equal(u64(unmap.payload, 0), hva + 4096n);
    assert.equal(u64(unmap.payload, 8), 8192n);
  });

  it('marshals KVM_MEMORY_ENCRYPT_OP: the kvm_sev_* struct, its blobs, sev_fd as a handle', async () => {
    const { code, out, err, server } = await scenario('sev');
    assert.equal(code, 0, out + err);
    const sevHandle = 10; // the first OPEN is /dev/sev
    const ops = server.ioctls(KVM_MEMORY_ENCRYPT_OP);
    // LAUNCH_START, the unreadable arg; the unreadable blob never left the client; the foreign
    // sev_fd; the closed sev_fd; LAUNCH_UPDATE_DATA.
    assert.equal(ops.length, 5);
    const [start, unreadable, foreign, closed, update] = ops;
    assert.equal(start!.ioctl.in.length, 24, 'the 24-byte kvm_sev_cmd, not _IOC_SIZE 8');
    assert.equal(u32(start!.ioctl.in, 0), KVM_SEV_LAUNCH_START);
    assert.equal(u32(start!.ioctl.in, 20), sevHandle, 'sev_fd went as the handle');
    const regions = start!.ioctl.regions;
    assert.deepEqual(
      regions.map((r) => [r.len, r.flags]),
      [
        [40, 3],
        [10, 1],
        [7, 1],
      ],
    );
    assert.equal(regions[0]!.addr, u64(start!.ioctl.in, 8), 'the data struct is at cmd.data');
    assert.equal(u32(regions[0]!.bytes, 4), 5, 'policy');
    assert.equal(Buffer.from(regions[1]!.bytes).toString(), 'dh-blob-01');
    assert.equal(Buffer.from(regions[2]!.bytes).toString(), 'session');
    assert.equal(unreadable!.ioctl.in.length, 0, 'an unreadable arg goes with in_len 0');
    assert.equal(unreadable!.ioctl.arg, 8n);
    assert.equal(u32(foreign!.ioctl.in, 20), FOREIGN, "an open non-KVM fd is HELLO's foreign handle");
    assert.match(out, /^ok foreign sev_fd$/m);
    assert.equal(u32(closed!.ioctl.in, 20), 0xffffffff, 'a closed fd is 0xffffffff');
    assert.match(out, /^ok closed sev_fd$/m);
    // LAUNCH_UPDATE_DATA's uaddr lies in RAM shared through MEMFD: only the 16-byte struct goes.
    assert.deepEqual(
      update!.ioctl.regions.map((r) => [r.len, r.flags]),
      [[16, 3]],
    );
  });

  it('answers /sys/module/kvm*/parameters from the server (open, fopen, ENOENT)', async () => {
    const { code, out, err, server } = await scenario('param');
    assert.equal(code, 0, out + err);
    const paths = server.ops(OP.GETPARAM).map((r) => Buffer.from(r.payload).toString('latin1'));
    assert.deepEqual(paths, [
      '/sys/module/kvm_amd/parameters/sev\0',
      '/sys/module/kvm_amd/parameters/sev\0',
      '/sys/module/kvm_amd/parameters/nope\0',
    ]);
  });

  it("answers the client's own CPUID from the server's table and chains other SIGSEGVs", async (t) => {
    const { code, out, err } = await scenario('cpuid');
    if (/no CPUID faulting here/.test(err)) {
      t.skip('no CPUID faulting on this machine');
      return;
    }
    assert.equal(code, 0, out + err);
    assert.match(out, /^ok native cpuid$/m);
    assert.match(out, /^ok client segv handler$/m);
  });

  it('reconnects in a forked child, whose inherited handles are EIO', async () => {
    const { code, out, err, server } = await scenario('fork');
    assert.equal(code, 0, out + err);
    assert.match(out, /^ok child EIO$/m);
    const pids = new Set(server.ops(OP.HELLO).map((r) => r.conn.pid));
    assert.equal(pids.size, 2, 'the child said HELLO with its own pid');
    const byChild = server
      .ioctls(KVM_GET_API_VERSION)
      .filter((r) => r.conn.pid !== server.requests[0]!.conn.pid);
    assert.equal(byChild.length, 1);
  });

  it('sends KICK when a signal interrupts KVM_RUN, and KVM_RUN returns EINTR', async () => {
    const { code, out, err, server } = await scenario('kick');
    assert.equal(code, 0, out + err);
    const [run] = server.ioctls(KVM_RUN);
    const kicks = server.ops(OP.KICK);
    assert.ok(kicks.length >= 1);
    assert.equal(kicks[0]!.handle, run!.handle, 'KICK names the vCPU');
    assert.equal(kicks[0]!.conn, run!.conn, 'on the connection waiting for KVM_RUN');
  });

  it('opens one connection per thread', async () => {
    const { code, out, err, server } = await scenario('threads');
    assert.equal(code, 0, out + err);
    const tids = new Set(server.ops(OP.HELLO).map((r) => r.conn.tid));
    assert.equal(tids.size, 3);
  });

  it('is inert without SEVBOX_SOCKET and fails open with the errno of connect() without a server', async () => {
    const inert = await run('open', { SEVBOX_SOCKET: undefined });
    assert.equal(inert.code, 0);
    assert.doesNotMatch(inert.out, /sevbox/);
    assert.equal(inert.err, '');
    const away = await run('open', { SEVBOX_SOCKET: join(dir, 'nobody.sock') });
    assert.equal(away.out.trim(), `open /dev/kvm: errno ${ERRNO.ENOENT}`);
    assert.equal(away.err.trim().split('\n').length, 1, 'one line on stderr');
    assert.match(away.err, /^sevbox shim: cannot reach sevbox serve/);
  });
});
