/**
 * Issue 16's unmodified VMM through the /dev/kvm shim: Debian's QEMU (-accel kvm, the same command
 * line as real-kvm.test.ts) with LD_PRELOAD=libsevbox-kvm.so talks to a fresh `sevbox serve`, and
 * the model's x86 interpreter runs our firmware through real, protected and long mode. The server's
 * own count of KVM_RUNs proves the guest ran in sevbox, not in the machine's KVM. Needs no /dev/kvm;
 * skips (one line) without gcc/as/ld/objcopy, qemu-system-x86_64 or koffi.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildQemuHello, missingTools } from '../../scripts/build-qemu-hello.mjs';
import { buildShim } from '../../scripts/build-shim.mjs';
import { startServer } from '../../scripts/selftests.mjs';
import { loadSharedMemory } from '../../src/hostkvm/shared-memory.js';
import { findQemu } from '../ovmf/qemu-reference.js';
import { QEMU_HELLO_LINES, QEMU_HELLO_STATUS, runQemuHello } from './run.js';

const missing = missingTools();
const skip = missing.length
  ? `no ${missing.join(', ')} on PATH`
  : !findQemu()
    ? 'no qemu-system-x86_64 on PATH'
    : !loadSharedMemory().ok
      ? 'no koffi: sevbox serve cannot share memory'
      : undefined;

describe('QEMU boots the qemu-hello firmware on sevbox through the /dev/kvm shim', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sevbox-qemu-shim-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the three lines and exits through isa-debug-exit, every KVM_RUN answered by the model', async () => {
    const shim = buildShim();
    assert.ok(shim.ok, shim.ok ? '' : shim.reason);
    const image = buildQemuHello();
    assert.ok(image.image, image.reason);
    const socket = join(dir, 'kvm.sock');
    const server = await startServer(socket);
    const r = await runQemuHello({
      timeoutMs: 120_000,
      env: { LD_PRELOAD: shim.path, SEVBOX_SOCKET: socket },
    });
    const { log } = await server.stop();
    const detail = `status ${r.status} signal ${r.signal}\nserial:\n${r.serial}\nstderr:\n${r.stderr}\nserver:\n${log}`;
    assert.equal(r.timedOut, false, detail);
    assert.deepEqual(r.serial.split('\n').filter(Boolean), [...QEMU_HELLO_LINES], detail);
    assert.equal(r.status, QEMU_HELLO_STATUS, detail);
    // Each byte of the three lines is an IN (line status) and an OUT exit: over 100 KVM_RUNs.
    const runs = Number(/(\d+) KVM_RUNs/.exec(log)?.[1] ?? 0);
    assert.ok(runs > 100, `the server ran ${runs} KVM_RUNs\n${detail}`);
  });
});
