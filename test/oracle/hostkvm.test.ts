/**
 * The bindings to the machine's /dev/kvm: detection says the truth, ioctls fail with the errno's
 * name (as values, never thrown), the watchdog ends a guest that never exits, and closed mappings
 * stay safe to touch.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  asm,
  describeHostKvm,
  isWatchdogExpiry,
  type TinyGuest,
  tinyRealModeGuest,
  WatchdogExpiry,
} from '../../src/hostkvm/index.js';
import { KVM_CAP_NR_MEMSLOTS, KVM_CAP_USER_MEMORY } from '../../src/uapi/caps.js';
import { Errno, isErrno } from '../../src/uapi/errno.js';
import { KVM_EXIT_INTR } from '../../src/uapi/exit-reasons.js';
import type { RunResult } from '../../src/uapi/kvm-fd.js';
import { KVM_VCPU_MMAP_SIZE } from '../../src/uapi/kvm-run.js';
import { KVM_USER_MEM_SLOTS } from '../../src/uapi/memslot.js';
import { KVM_DEVICE, oracleHost } from './host.js';

const host = oracleHost();

/** The value, failing the test with the errno when it is one. */
function ok<T>(v: T | Errno): T {
  if (v instanceof Errno) assert.fail(`unexpected ${v}`);
  return v;
}

test('describeHostKvm answers on every machine, and agrees with the oracle suites', () => {
  const { text, data } = describeHostKvm(KVM_DEVICE);
  assert.match(text, /^oracle: {8}(usable|unavailable \(.+\))$/m);
  assert.equal(data.usable, host.skip === false, text);
  if (data.usable) {
    assert.equal(data.apiVersion, 12);
    const hostAnswer = (cap: number) => data.capabilities.find((c) => c.cap === cap)?.host;
    assert.equal(
      hostAnswer(KVM_CAP_USER_MEMORY),
      1,
      'KVM_CAP_USER_MEMORY is reported, as the kernel answers',
    );
    assert.equal(hostAnswer(KVM_CAP_NR_MEMSLOTS), KVM_USER_MEM_SLOTS);
    assert.equal(data.run?.ok, true);
  } else {
    assert.ok(data.reason, 'an unusable oracle says why');
  }
});

describe('host /dev/kvm bindings', { skip: host.skip }, () => {
  const kvm = host.kvm!;

  const machine = (code: Uint8Array): TinyGuest => ok(tinyRealModeGuest(kvm, code));

  test('system ioctls answer as the uapi says', () => {
    assert.equal(kvm.getApiVersion(), 12);
    assert.equal(kvm.getVcpuMmapSize(), KVM_VCPU_MMAP_SIZE);
    assert.equal(kvm.checkExtension(KVM_CAP_USER_MEMORY), 1);
    assert.equal(kvm.checkExtension(KVM_CAP_NR_MEMSLOTS), KVM_USER_MEM_SLOTS);
    assert.equal(kvm.checkExtension(0x7fff_fff0), 0, 'unknown capabilities are 0');
  });

  test('a failing ioctl returns the Errno with its name; structs C cannot hold never reach the kernel', () => {
    const vm = ok(kvm.createVm());
    try {
      const bad = {
        slot: 0,
        flags: 0,
        guestPhysAddr: 1n,
        memorySize: 4096n,
        userspaceAddr: 0x7f00_0000_0000n,
      };
      // The kernel's answer (a misaligned GPA).
      const r = vm.setUserMemoryRegion(bad);
      assert.ok(isErrno(r, 'EINVAL'), String(r));
      assert.doesNotMatch(r.detail ?? '', /refused by sevbox/);
      assert.equal(vm.setUserMemoryRegionRaw(bad, true), -22);
      // sevbox's refusal of a size the u64 field cannot hold: EINVAL, the kernel not called.
      const wide = { ...bad, guestPhysAddr: 0n, memorySize: 1n << 64n };
      const refused = vm.setUserMemoryRegion2(wide);
      assert.ok(isErrno(refused, 'EINVAL'), String(refused));
      assert.match(refused.detail ?? '', /refused by sevbox/);
      assert.equal(vm.setUserMemoryRegionRaw(wide, true), -22);
      const v0 = ok(vm.createVcpu(0));
      try {
        assert.ok(isErrno(vm.createVcpu(0), 'EEXIST'));
        // A byte array shorter than the struct member KVM copies: EFAULT before any ioctl.
        const short = v0.setLapic({ regs: new Uint8Array(1023) });
        assert.ok(isErrno(short, 'EFAULT'), String(short));
        const chip = vm.setIrqchip({ chipId: 0, chip: new Uint8Array(511) });
        assert.ok(isErrno(chip, 'EFAULT'), String(chip));
      } finally {
        v0.close();
      }
    } finally {
      vm.close();
    }
  });

  test('the watchdog ends a guest that never exits (jmp $), and leaves later runs alone', () => {
    using m = machine(asm().jmpSelf().bytes());
    m.vcpu.timeoutMs = 100;
    const t0 = performance.now();
    const r = m.vcpu.run();
    const dt = performance.now() - t0;
    assert.ok(isWatchdogExpiry(r), describe1(r));
    assert.ok(r.kind === 'Failed' && r.error instanceof WatchdogExpiry && r.error.timeoutMs === 100);
    assert.equal(m.vcpu.lastRunTimedOut, true);
    assert.ok(dt >= 95 && dt < 1500, `interrupted after ${dt.toFixed(0)} ms`);
    // KVM reported the signal as KVM_EXIT_INTR; the vCPU can be entered again.
    assert.equal(m.vcpu.runArea.exitReason, KVM_EXIT_INTR);
    assert.equal(r.left.kind, 'Intr');
    assert.ok(isWatchdogExpiry(m.vcpu.run()));

    using h = machine(asm().hlt().bytes());
    const t1 = performance.now();
    assert.equal(h.vcpu.run().kind, 'Hlt');
    assert.equal(h.vcpu.lastRunTimedOut, false);
    assert.ok(performance.now() - t1 < 100);
  });

  test('one guard covers a batch of runs, and still ends a guest that stops exiting', () => {
    // Ten OUTs, then an endless loop.
    const code = asm();
    for (let i = 0; i < 10; i++) code.out(0x80, 1, i);
    using m = machine(code.jmpSelf().bytes());
    const seen: number[] = [];
    const end = kvm.watchdog.guard(150, (): RunResult => {
      for (;;) {
        const exit = m.vcpu.run();
        if (exit.kind !== 'IoOut') return exit;
        seen.push(exit.data[0]!);
      }
    });
    assert.ok(isWatchdogExpiry(end), describe1(end));
    // Inside a guard the deadline is the guard's, not the vCPU's own.
    assert.ok(
      end.kind === 'Failed' && end.error instanceof WatchdogExpiry && end.error.timeoutMs === undefined,
    );
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(kvm.watchdog.armed, false);
  });

  test('views of a closed vCPU or guest RAM stay safe to touch (tombstones, not holes)', () => {
    const m = machine(asm().out(0x10, 1, 0x5a).hlt().bytes());
    const exit = m.vcpu.run();
    assert.equal(exit.kind, 'IoOut');
    const run = m.vcpu.runArea.bytes;
    const byte = new Uint8Array(1);
    assert.equal(m.mem.read(m.ram + 0x1000, byte), undefined);
    assert.equal(byte[0], 0xba, 'the code is in guest RAM (mov dx, imm16)');
    m[Symbol.dispose]();
    // The kvm_run view reads and writes a fresh zero page.
    assert.equal(run[8], 0);
    run[0] = 1;
    // The process memory's book is gone with it: reads fault instead of touching the address.
    assert.deepEqual(m.mem.read(m.ram + 0x1000, byte), { kind: 'unmapped', hva: m.ram + 0x1000 });
    assert.deepEqual(m.mem.describe(m.ram), { state: 'unmapped' });
    assert.equal(m.vcpu.runRaw(), -9, 'a closed vCPU is EBADF without touching the fd number');
    const again = m.vcpu.run();
    assert.ok(again.kind === 'Failed' && again.error.errno === 'EBADF');
    assert.ok(isErrno(m.vm.createVcpu(1), 'EBADF'));
  });
});

/** A RunResult for an assertion message. */
function describe1(r: RunResult): string {
  return r.kind === 'Failed' ? `Failed ${r.error}` : r.kind;
}
