/**
 * `sevbox serve`: the model's KVM for unmodified clients. It listens on a unix socket for the
 * /dev/kvm shim (LD_PRELOAD=libsevbox-kvm.so, built by `npm run shim`) and serves every client's
 * ioctls until it is killed (or, with --until-idle, until the last client has gone).
 */
import { rmSync } from 'node:fs';
import { loadSharedMemory } from '../hostkvm/shared-memory.js';
import { type FaultSpec, parseFault } from '../serve/faults.js';
import { KvmServer } from '../serve/server.js';
import type { SevProfileName } from '../sev/profiles.js';

export interface ServeCommandOptions {
  readonly socket: string;
  readonly profile?: SevProfileName;
  readonly untilIdle?: boolean;
  readonly quiet?: boolean;
  /** Log every ioctl and its result on stderr. */
  readonly logIoctls?: boolean;
  /** `--fault` flags (src/serve/faults.ts). */
  readonly faults?: readonly string[];
}

/** The default socket: $SEVBOX_SOCKET, else $XDG_RUNTIME_DIR/sevbox.sock, else /tmp/sevbox-<uid>.sock. */
export function defaultSocketPath(): string {
  if (process.env.SEVBOX_SOCKET) return process.env.SEVBOX_SOCKET;
  if (process.env.XDG_RUNTIME_DIR) return `${process.env.XDG_RUNTIME_DIR}/sevbox.sock`;
  return `/tmp/sevbox-${process.getuid?.() ?? 0}.sock`;
}

/** Serve; the exit status (2 when the socket cannot be made). */
export function serveCommand(opts: ServeCommandOptions): number {
  const say = (line: string): void => {
    if (!opts.quiet) process.stderr.write(`sevbox serve: ${line}\n`);
  };
  const faults: FaultSpec[] = [];
  for (const flag of opts.faults ?? []) {
    const f = parseFault(flag);
    if (typeof f === 'string') {
      process.stderr.write(`sevbox serve: ${f}\n`);
      return 2;
    }
    faults.push(f);
  }
  const shm = loadSharedMemory();
  if (!shm.ok) {
    process.stderr.write(`sevbox serve: ${shm.reason}\n`);
    return 2;
  }
  // A socket left by a server that was killed: bind would fail with EADDRINUSE.
  rmSync(opts.socket, { force: true });
  const listenFd = shm.shm.listenUnix(opts.socket);
  if (listenFd < 0) {
    process.stderr.write(`sevbox serve: cannot listen on ${opts.socket}: errno ${-listenFd}\n`);
    return 2;
  }
  const profile = opts.profile ?? 'current';
  const server = new KvmServer(shm.shm, listenFd, {
    platform: { profile },
    log: say,
    faults,
    logIoctls: opts.logIoctls ?? false,
  });
  say(
    `listening on ${opts.socket} (profile ${profile}); clients: SEVBOX_SOCKET=${opts.socket} LD_PRELOAD=<libsevbox-kvm.so>`,
  );
  server.serve(opts.untilIdle ? { untilIdle: true } : {});
  const s = server.stats;
  say(
    `done: ${s.connections} connections, ${s.ioctls} ioctls, ${s.kvmRuns} KVM_RUNs (${s.preemptions} preempted)`,
  );
  shm.shm.libc.close(listenFd);
  rmSync(opts.socket, { force: true });
  return 0;
}
