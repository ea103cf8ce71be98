/**
 * Issue 16's unmodified VMM, on the machine's real /dev/kvm: Debian's QEMU boots our own firmware
 * (test/fixtures/qemu-hello/hello.S) with the smallest KVM surface (test/qemu-hello/run.ts), the
 * firmware prints one line per CPU mode on COM1 (real, 32-bit protected, 64-bit long) and ends QEMU
 * through isa-debug-exit. The /dev/kvm shim's test runs the same helper with LD_PRELOAD against
 * `sevbox serve`; this one pins what the real KVM does with it. Skips (one line) without
 * gcc/as/ld/objcopy, qemu-system-x86_64 or a /dev/kvm it may open.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildQemuHello, missingTools } from '../../scripts/build-qemu-hello.mjs';
import { QEMU_HELLO_LINES, QEMU_HELLO_STATUS, qemuHelloSkip, runQemuHello } from './run.js';

const missing = missingTools();
const skip = missing.length ? `no ${missing.join(', ')} on PATH` : qemuHelloSkip();

describe('QEMU (-accel kvm) boots the qemu-hello firmware on the real /dev/kvm', { skip }, () => {
  it('builds a 64 KiB image whose last 16 bytes hold the reset vector', () => {
    const r = buildQemuHello();
    assert.ok(r.image, r.reason);
  });

  it('prints a line in real, protected and long mode, then exits through isa-debug-exit', async () => {
    const r = await runQemuHello({ timeoutMs: 20_000 });
    const detail = `${r.argv.join(' ')}\nstatus ${r.status} signal ${r.signal}\nserial:\n${r.serial}\nstderr:\n${r.stderr}`;
    assert.equal(r.timedOut, false, `QEMU did not exit within 20 s\n${detail}`);
    assert.deepEqual(r.serial.split('\n').filter(Boolean), [...QEMU_HELLO_LINES], detail);
    assert.equal(r.status, QEMU_HELLO_STATUS, detail);
    // QEMU's only complaint is the userspace LAPIC of kernel-irqchip=off.
    const complaints = r.stderr
      .split('\n')
      .filter((l) => l && !/Userspace local APIC is deprecated|Do not use kernel-irqchip/.test(l));
    assert.deepEqual(complaints, [], detail);
  });
});
