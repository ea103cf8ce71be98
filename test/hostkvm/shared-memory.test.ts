/**
 * Shared memory with a C process (src/hostkvm/shared-memory.ts, the groundwork of issue 16's /dev/kvm
 * shim): a C peer (fixtures/shm-peer.c, compiled here with gcc) plays the shim's client. Its memfd
 * reaches this process through /proc/<pid>/fd and through SCM_RIGHTS (on a koffi socket and on a
 * Node net.Socket's fd), is mapped MAP_SHARED and both sides see each other's writes; then the
 * reverse, a memfd made here (the kvm_run page) mapped by the C side both ways. The request/reply
 * round trip is printed as a diagnostic (Node's async net server and koffi's blocking read/write).
 * Skips, with one line, without gcc or koffi.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadSharedMemory, openPeerFd, type SharedMemory } from '../../src/hostkvm/shared-memory.js';

const SOURCE = fileURLToPath(new URL('./fixtures/shm-peer.c', import.meta.url));
const SIZE = 2 << 20;
const ROUND_TRIPS = 2000;
/** How long the test waits for the peer at any one step before failing instead of hanging. */
const WAIT_MS = 10_000;

const loaded = loadSharedMemory();
const gcc = spawnSync('gcc', ['--version']).status === 0;
const skip = !gcc ? 'gcc missing' : !loaded.ok ? loaded.reason : false;

/** A 16-byte message of the peer's protocol: u32 op, u32 fd, u64 value. */
function message(op: number, fd: number, value: bigint): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(0, op, true);
  v.setUint32(4, fd, true);
  v.setBigUint64(8, value, true);
  return b;
}

describe('shared memory with a C peer', { skip }, () => {
  const shm = (loaded as { shm: SharedMemory }).shm;
  let dir = '';
  let peer = '';
  let sockets = 0;
  const socketPath = (): string => join(dir, `s${sockets++}.sock`);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sevbox-shm-'));
    peer = join(dir, 'shm-peer');
    const cc = spawnSync('gcc', ['-O2', '-Wall', '-Werror', '-o', peer, SOURCE], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Run the peer; resolves to its exit code and output. */
  function run(args: string[]): Promise<{ code: number | null; out: string }> {
    const child = spawn(peer, args);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, out: out.trim() })));
  }

  function wait(fd: number): void {
    assert.equal(shm.waitReadable(fd, WAIT_MS), 1, 'the peer did not answer');
  }

  /** A koffi listening socket (made before the peer starts, which connects at once). */
  function listen(path: string): number {
    const listener = shm.listenUnix(path);
    assert.ok(listener >= 0, `listenUnix: ${listener}`);
    return listener;
  }

  /** The first connection to `listener` (blocking accept, after poll). */
  function acceptOne(listener: number): number {
    wait(listener);
    const conn = shm.accept(listener);
    assert.ok(conn >= 0, `accept: ${conn}`);
    return conn;
  }

  /**
   * The server side of `shm-peer give`: receive {pid, fd} and the SCM_RIGHTS fd, open the memfd
   * `how`, map it, check the peer's bytes, write ours, check the peer's later write.
   */
  function serveGive(conn: number, how: 'proc' | 'scm'): void {
    wait(conn);
    const m = shm.recvFds(conn, 16);
    if (typeof m === 'number') assert.fail(`recvFds: ${m}`);
    assert.equal(m.bytes.length, 16);
    assert.equal(m.fds.length, 1);
    assert.equal(m.truncated, false);
    const v = new DataView(m.bytes.buffer);
    let fd = m.fds[0]!;
    if (how === 'proc') {
      shm.libc.close(fd);
      fd = openPeerFd(Number(v.getBigUint64(8, true)), v.getUint32(4, true));
      assert.ok(fd >= 0, `openPeerFd: ${fd}`);
    }
    const map = shm.mapShared(fd, SIZE);
    shm.libc.close(fd);
    if (typeof map === 'number') assert.fail(`mapShared: ${map}`);
    try {
      assert.equal(map.bytes[0], 0x43, "the peer's 'C' at 0");
      assert.equal(map.bytes[SIZE - 1], 0x43, "the peer's 'C' at the end");
      map.bytes[SIZE / 2] = 0x53; // 'S', which the peer checks
      assert.equal(shm.write(conn, message(1, 0, 0n)), 16);
      wait(conn);
      assert.equal(typeof shm.recvFds(conn, 16), 'object');
      assert.equal(map.bytes[1], 0x63, "the peer's later 'c' at 1");
      assert.equal(shm.write(conn, message(2, 0, 0n)), 16);
    } finally {
      map.close();
    }
  }

  const koffiSocketCases = [
    ['proc', 'opens the peer memfd through /proc/<pid>/fd and shares its pages both ways'],
    ['scm', 'receives the memfd with SCM_RIGHTS on a koffi socket and shares its pages both ways'],
  ] as const;
  for (const [how, title] of koffiSocketCases) {
    it(title, async () => {
      const path = socketPath();
      const listener = listen(path);
      const done = run(['give', path, String(SIZE)]);
      const conn = acceptOne(listener);
      try {
        serveGive(conn, how);
      } finally {
        shm.libc.close(conn);
        shm.libc.close(listener);
      }
      assert.deepEqual(await done, { code: 0, out: 'ok saw server write' });
    });
  }

  it("receives the memfd with SCM_RIGHTS on a Node net.Socket's fd (pauseOnConnect)", async () => {
    const path = socketPath();
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const served = new Promise<void>((resolve, reject) =>
      server.on('connection', (socket) => {
        try {
          const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
          assert.ok(fd >= 0);
          serveGive(fd, 'scm');
          resolve();
        } catch (e) {
          reject(e);
        } finally {
          socket.destroy();
        }
      }),
    );
    const done = run(['give', path, String(SIZE)]);
    try {
      await served;
    } finally {
      server.close();
    }
    assert.deepEqual(await done, { code: 0, out: 'ok saw server write' });
  });

  it('creates a memfd the peer maps through SCM_RIGHTS and /proc/<pid>/fd (the kvm_run page)', async () => {
    const path = socketPath();
    const fd = shm.createMemfd('kvm_run', 4096);
    assert.ok(fd >= 0, `createMemfd: ${fd}`);
    const map = shm.mapShared(fd, 4096);
    if (typeof map === 'number') assert.fail(`mapShared: ${map}`);
    map.bytes[0] = 0x4b; // 'K', which the peer checks
    const listener = listen(path);
    const done = run(['take', path]);
    const conn = acceptOne(listener);
    try {
      const hello = message(5, fd, (BigInt(process.pid) << 32n) | 4096n);
      assert.equal(shm.sendFds(conn, hello, [fd]), 16);
      wait(conn);
      assert.equal(typeof shm.recvFds(conn, 16), 'object');
      assert.equal(map.bytes[2], 0x6b, "the peer's 'k' at 2");
      assert.equal(shm.write(conn, message(6, 0, 0n)), 16);
    } finally {
      map.close();
      shm.libc.close(fd);
      shm.libc.close(conn);
      shm.libc.close(listener);
    }
    const r = await done;
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^ok saw server write via SCM_RIGHTS and \/proc\/\d+\/fd\/\d+$/);
  });

  it('answers small requests: Node net server and koffi blocking read/write (µs printed)', async (t) => {
    const perRoundTrip = (out: string): number => {
      const m = /^ok ([\d.]+) us per round trip$/.exec(out);
      assert.ok(m, out);
      return Number(m[1]);
    };

    const netPath = socketPath();
    const server = net.createServer((s) => {
      let pending: Buffer = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        pending = pending.length > 0 ? Buffer.concat([pending, d]) : d;
        while (pending.length >= 16) {
          const m = Buffer.from(pending.subarray(0, 16));
          pending = pending.subarray(16);
          if (m.readUInt32LE(0) === 0) {
            s.end();
            return;
          }
          m.writeBigUInt64LE(m.readBigUInt64LE(8) + 1n, 8);
          s.write(m);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(netPath, resolve));
    const viaNet = await run(['ping', netPath, String(ROUND_TRIPS)]);
    server.close();
    assert.equal(viaNet.code, 0, viaNet.out);

    const path = socketPath();
    const listener = listen(path);
    const done = run(['ping', path, String(ROUND_TRIPS)]);
    const conn = acceptOne(listener);
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    try {
      for (;;) {
        for (let got = 0; got < 16; ) {
          const n = shm.read(conn, b.subarray(got));
          assert.ok(n > 0, `read: ${n}`);
          got += n;
        }
        if (v.getUint32(0, true) === 0) break;
        v.setBigUint64(8, v.getBigUint64(8, true) + 1n, true);
        assert.equal(shm.write(conn, b), 16);
      }
    } finally {
      shm.libc.close(conn);
      shm.libc.close(listener);
    }
    const viaKoffi = await done;
    assert.equal(viaKoffi.code, 0, viaKoffi.out);
    t.diagnostic(
      `round trip: Node net server ${perRoundTrip(viaNet.out)} µs, koffi blocking read/write ${perRoundTrip(viaKoffi.out)} µs`,
    );
  });

  it('refuses what it cannot open', () => {
    assert.ok(openPeerFd(-1, 0) < 0);
    assert.ok(openPeerFd(process.pid, 1 << 20) < 0);
    assert.ok(shm.sendFds(-1, new Uint8Array(1), []) < 0);
  });
});
