/**
 * The bindings to the machine's /dev/kvm: detection says the truth, ioctls fail with the errno's
 * name, the watchdog ends a guest that never exits, and closed mappings stay safe to touch.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { asm, describeHostKvm, tinyRealModeGuest, WatchdogExpired } from '../../src/hostkvm/index.js';
import { KVM_CAP_NR_MEMSLOTS, KVM_CAP_USER_MEMORY } from '../../src/uapi/caps.js';
import { isKvmError } from '../../src/uapi/kvm-error.js';
import { KVM_VCPU_MMAP_SIZE } from '../../src/uapi/kvm-run.js';
import { KVM_USER_MEM_SLOTS } from '../../src/uapi/memslot.js';
import { KVM_DEVICE, oracleHost } from './host.js';

const host = oracleHost();

test('describeHostKvm answers on every machine, and agrees with the oracle suites', () => {
  const { text, data } = describeHostKvm(KVM_DEVICE);
  assert.match(text, /^oracle: {8}(usable|unavailable \(.+\))$/m);
  assert.equal(data.usable, host.skip === false, text);
  if (data.usable) {
    assert.equal(data.apiVersion, 12);
    assert.ok(data.capabilities.length > 0);
    assert.equal(data.run?.ok, true);
  } else {
    assert.ok(data.reason, 'an unusable oracle says why');
  }
});

describe('host /dev/kvm bindings', { skip: host.skip }, () => {
  const kvm = host.kvm!;

  const machine = (code: Uint8Array) => tinyRealModeGuest(kvm, code);

  test('system ioctls answer as the uapi says', () => {
    assert.equal(kvm.getApiVersion(), 12);
    assert.equal(kvm.getVcpuMmapSize(), KVM_VCPU_MMAP_SIZE);
    assert.equal(kvm.checkExtension(KVM_CAP_USER_MEMORY), 1);
    assert.equal(kvm.checkExtension(KVM_CAP_NR_MEMSLOTS), KVM_USER_MEM_SLOTS);
    assert.equal(kvm.checkExtension(0x7fff_fff0), 0, 'unknown capabilities are 0');
  });

  test('a failing ioctl throws KvmError with the errno name; short raw structs never reach the kernel', () => {
    const vm = kvm.createVm();
    try {
      const bad = {
        slot: 0,
        flags: 0,
        guestPhysAddr: 1n,
        memorySize: 4096n,
        userspaceAddr: 0x7f00_0000_0000n,
      };
      assert.throws(
        () => vm.setUserMemoryRegion(bad),
        (e) => isKvmError(e, 'EINVAL'),
      );
      assert.throws(
        () => vm.setUserMemoryRegion(new Uint8Array(31)),
        (e) => isKvmError(e, 'EFAULT'),
      );
      assert.throws(
        () => vm.setUserMemoryRegion2(new Uint8Array(159)),
        (e) => isKvmError(e, 'EFAULT'),
      );
      assert.equal(vm.setRegionRaw(bad, true), -22);
      vm.createVcpu(0);
      assert.throws(
        () => vm.createVcpu(0),
        (e) => isKvmError(e, 'EEXIST'),
      );
    } finally {
      vm.destroy();
    }
  });

  test('the watchdog ends a guest that never exits (jmp $), and leaves later runs alone', () => {
    using m = machine(asm().jmpSelf().bytes());
    m.vcpu.timeoutMs = 100;
    const t0 = performance.now();
    assert.throws(() => m.vcpu.run(), WatchdogExpired);
    const dt = performance.now() - t0;
    assert.ok(dt >= 95 && dt < 1500, `interrupted after ${dt.toFixed(0)} ms`);
    // KVM reported the signal as KVM_EXIT_INTR; the vCPU can be entered again.
    assert.equal(m.vcpu.runArea.exitReason, 10);
    assert.throws(() => m.vcpu.run(), WatchdogExpired);

    using h = machine(asm().hlt().bytes());
    const t1 = performance.now();
    assert.equal(h.vcpu.run().kind, 'Hlt');
    assert.ok(performance.now() - t1 < 100);
  });

  test('one guard covers a batch of runs, and still ends a guest that stops exiting', () => {
    // Ten OUTs, then an endless loop.
    const code = asm();
    for (let i = 0; i < 10; i++) code.out(0x80, 1, i);
    using m = machine(code.jmpSelf().bytes());
    const seen: number[] = [];
    assert.throws(
      () =>
        kvm.watchdog.guard(150, () => {
          for (;;) {
            const exit = m.vcpu.run();
            assert.equal(exit.kind, 'IoOut');
            if (exit.kind === 'IoOut') seen.push(exit.data[0]!);
          }
        }),
      WatchdogExpired,
    );
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(kvm.watchdog.armed, false);
  });

  test('views of a closed vCPU or guest RAM stay safe to touch (tombstones, not holes)', () => {
    const m = machine(asm().out(0x10, 1, 0x5a).hlt().bytes());
    const exit = m.vcpu.run();
    assert.equal(exit.kind, 'IoOut');
    const run = m.vcpu.runArea.bytes;
    const ram = m.ram.bytes;
    assert.equal(ram[0x1000], 0xba);
    m[Symbol.dispose]();
    assert.equal(m.ram.closed, true);
    // Reading and writing the old views works and sees fresh zero pages.
    assert.equal(run[8], 0);
    assert.equal(ram[0x1000], 0);
    ram[0] = 1;
    run[0] = 1;
    assert.equal(m.vcpu.runRaw(), -9, 'a destroyed vCPU is EBADF without touching the fd number');
  });
});
