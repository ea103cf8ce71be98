/**
 * The fd ABI (src/uapi/kvm-fd.ts) on this machine's real /dev/kvm: every answer below is the
 * kernel's, reached through the uapi codecs and koffi. Skipped, with the reason, where /dev/kvm or
 * koffi is unavailable. Errnos that are a property of the machine rather than of the ABI (what a
 * guest access to an unmapped hva becomes, KVM_MEMORY_ENCRYPT_OP on a plain VM) are printed as
 * diagnostics.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROT_NONE, PROT_READ, PROT_WRITE } from '../host/address-space.js';
import { KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 } from '../uapi/caps.js';
import { KVM_X86_GRP_SYSTEM, KVM_X86_XCOMP_GUEST_SUPP } from '../uapi/device-attr.js';
import { Errno, isErrno } from '../uapi/errno.js';
import { KVM_EXIT_INTR } from '../uapi/exit-reasons.js';
import { KVM_MP_STATE_RUNNABLE } from '../uapi/irq.js';
import type { RunResult } from '../uapi/kvm-fd.js';
import { APIC_LVR, lapicReg } from '../uapi/lapic.js';
import { KVM_MEM_LOG_DIRTY_PAGES } from '../uapi/memslot.js';
import { KVM_MSR_FILTER_READ } from '../uapi/msr-filter.js';
import { MSR_IA32_TSC } from '../uapi/msr-index.js';
import { type HostKvmFd, type HostVcpuFd, type HostVmFd, isWatchdogExpiry, openHostKvm } from './fd.js';
import { asm } from './real-mode.js';
import {
  resetRealMode,
  TINY_GUEST_CODE,
  TINY_GUEST_RAM,
  type TinyGuest,
  tinyRealModeGuest,
} from './tiny-guest.js';

/** /dev/kvm, or SEVBOX_KVM_DEVICE (e.g. a missing path, to see the skip), as the oracle suites do. */
const KVM_DEVICE = process.env['SEVBOX_KVM_DEVICE'] || '/dev/kvm';

/** The value, failing the test with the errno when it is one. */
function ok<T>(v: T | Errno): T {
  if (v instanceof Errno) assert.fail(`unexpected ${v}`);
  return v;
}

function guest(kvm: HostKvmFd, code: Uint8Array, ramSize?: number): TinyGuest {
  return ok(tinyRealModeGuest(kvm, code, ramSize === undefined ? {} : { ramSize }));
}

function describeRun(r: RunResult): string {
  if (r.kind === 'Failed') return `Failed ${r.error.errno} (kvm_run left ${r.left.kind})`;
  if (r.kind === 'MmioRead' || r.kind === 'MmioWrite') return `${r.kind} at GPA 0x${r.addr.toString(16)}`;
  return r.kind;
}

test('the fd ABI on the real /dev/kvm', async (t) => {
  const r = openHostKvm(KVM_DEVICE);
  if (!r.ok) {
    t.skip(r.reason);
    return;
  }
  const kvm = r.kvm;
  t.after(() => kvm.close());

  /** A fresh VM closed after the subtest. */
  const withVm = (fn: (vm: HostVmFd) => void) => (): void => {
    const vm = ok(kvm.createVm());
    try {
      fn(vm);
    } finally {
      vm.close();
    }
  };
  const withVcpu = (fn: (vcpu: HostVcpuFd, vm: HostVmFd) => void) =>
    withVm((vm) => {
      const vcpu = ok(vm.createVcpu(0));
      try {
        fn(vcpu, vm);
      } finally {
        vcpu.close();
      }
    });

  await t.test('system fd: API 12, mmap size, CPUID and MSR lists', () => {
    assert.equal(kvm.getApiVersion(), 12);
    assert.equal(kvm.getVcpuMmapSize(), kvm.vcpuMmapSize);
    assert.ok(kvm.vcpuMmapSize >= 3 * 4096);
    assert.equal(kvm.checkExtension(0x7fff_fff0), 0, 'unknown capabilities are 0');
    const msrs = ok(kvm.getMsrIndexList());
    assert.ok(msrs.length > 0);
    assert.ok(msrs.includes(MSR_IA32_TSC), 'the index list has IA32_TSC');
    const features = ok(kvm.getMsrFeatureIndexList());
    t.diagnostic(
      `MSR index list: ${msrs.length} MSRs; feature MSRs: ${features.map((m) => `0x${m.toString(16)}`).join(' ')}`,
    );
    // KVM_GET_DEVICE_ATTR on /dev/kvm: the XSAVE features a guest may use include x87 and SSE;
    // an attribute KVM does not have is ENXIO, as the model answers.
    const xcomp = ok(kvm.getDeviceAttr(KVM_X86_GRP_SYSTEM, KVM_X86_XCOMP_GUEST_SUPP));
    assert.equal(xcomp & 3n, 3n, `XCOMP_GUEST_SUPP 0x${xcomp.toString(16)}`);
    assert.equal(kvm.hasDeviceAttr(KVM_X86_GRP_SYSTEM, KVM_X86_XCOMP_GUEST_SUPP), undefined);
    assert.ok(isErrno(kvm.getDeviceAttr(KVM_X86_GRP_SYSTEM, 99), 'ENXIO'));
    t.diagnostic(`XCOMP_GUEST_SUPP 0x${xcomp.toString(16)}`);
    const cpuid = ok(kvm.getSupportedCpuid(256));
    assert.ok(cpuid.some((e) => e.function === 0));
    assert.ok(isErrno(kvm.getSupportedCpuid(1), 'E2BIG'), 'one entry of room is too little');
    assert.ok(isErrno(kvm.getSupportedCpuid(0), 'E2BIG'));
  });

  await t.test(
    'KVM_CREATE_VCPU: a duplicate id is EEXIST, id 5000 EINVAL, both as values',
    withVm((vm) => {
      const v0 = ok(vm.createVcpu(0));
      try {
        const dup = vm.createVcpu(0);
        assert.ok(isErrno(dup, 'EEXIST'), String(dup));
        assert.ok(isErrno(vm.createVcpu(5000), 'EINVAL'));
        assert.ok(isErrno(vm.createVcpu(-1), 'EINVAL'), 'a negative id reaches KVM as a huge unsigned long');
      } finally {
        v0.close();
      }
    }),
  );

  await t.test(
    'registers: KVM_GET/SET_REGS round trip; a fresh vCPU is at the reset vector',
    withVcpu((vcpu) => {
      const regs = ok(vcpu.getRegs());
      assert.equal(regs.rip, 0xfff0n);
      const next = { ...regs, rax: 0x1122_3344_5566_7788n, r15: 0xffff_ffff_ffff_fffen, rip: 0x1234n };
      ok(vcpu.setRegs(next));
      assert.deepEqual(ok(vcpu.getRegs()), next);
      const sregs = ok(vcpu.getSregs());
      assert.equal(sregs.cs.selector, 0xf000);
      assert.equal(sregs.cs.base, 0xffff_0000n);
      ok(vcpu.setSregs(sregs));
      assert.deepEqual(ok(vcpu.getSregs()), sregs);
      const fpu = ok(vcpu.getFpu());
      ok(vcpu.setFpu({ ...fpu, fcw: 0x27f }));
      assert.equal(ok(vcpu.getFpu()).fcw, 0x27f);
      const events = ok(vcpu.getVcpuEvents());
      assert.equal(events.nmi.pending, 0);
      assert.equal(events.exception.injected, 0);
      ok(vcpu.setVcpuEvents(events));
      assert.equal(ok(vcpu.getMpState()), KVM_MP_STATE_RUNNABLE);
      ok(vcpu.setMpState(KVM_MP_STATE_RUNNABLE));
      const xcrs = vcpu.getXcrs();
      const tsc = vcpu.getTscKhz();
      t.diagnostic(
        `KVM_GET_XCRS: ${xcrs instanceof Errno ? xcrs.errno : `${xcrs.nrXcrs} xcrs`}; KVM_GET_TSC_KHZ: ${tsc instanceof Errno ? tsc.errno : tsc}`,
      );
    }),
  );

  await t.test(
    'MSRs: KVM_GET_MSRS returns the entries KVM read; KVM_SET_MSRS the count it wrote',
    withVcpu((vcpu) => {
      const got = ok(vcpu.getMsrs([MSR_IA32_TSC]));
      assert.equal(got.length, 1);
      assert.equal(got[0]!.index, MSR_IA32_TSC);
      // An MSR KVM does not know stops the list there.
      assert.deepEqual(
        ok(vcpu.getMsrs([MSR_IA32_TSC, 0x4b56_4dff, MSR_IA32_TSC])).map((e) => e.index),
        [MSR_IA32_TSC],
      );
      assert.equal(ok(vcpu.setMsrs([{ index: MSR_IA32_TSC, data: 1000n }])), 1);
      assert.ok(isErrno(vcpu.getMsrs(new Array(256).fill(MSR_IA32_TSC)), 'E2BIG'));
    }),
  );

  await t.test(
    'CPUID: KVM_SET_CPUID2 takes KVM_GET_SUPPORTED_CPUID, KVM_GET_CPUID2 gives it back',
    withVcpu((vcpu) => {
      const supported = ok(kvm.getSupportedCpuid(256));
      ok(vcpu.setCpuid2(supported));
      const back = ok(vcpu.getCpuid2(256));
      // KVM_GET_CPUID2 is the table as KVM keeps it (runtime bits applied); on kvm_pvm leaves that
      // were all zero are gone, so only ask that every leaf it returns is one that was set.
      const key = (e: { function: number; index: number }): string => `${e.function}/${e.index}`;
      const set = new Set(supported.map(key));
      assert.ok(back.length > 0 && back.every((e) => set.has(key(e))));
      t.diagnostic(
        `KVM_GET_SUPPORTED_CPUID: ${supported.length} entries; KVM_GET_CPUID2 after setting them: ${back.length}`,
      );
      assert.ok(isErrno(vcpu.getCpuid2(1), 'E2BIG'));
    }),
  );

  await t.test(
    'KVM_SET_TSS_ADDR: 0xfffff000 is EINVAL, 0xfffbd000 is accepted',
    withVm((vm) => {
      assert.ok(isErrno(vm.setTssAddress(0xffff_f000), 'EINVAL'));
      ok(vm.setTssAddress(0xfffb_d000));
      ok(vm.setIdentityMapAddress(0xfffb_c000n));
    }),
  );

  await t.test(
    'irqchip: KVM_IRQ_LINE without one is ENXIO; with one, the local APIC is readable',
    withVm((vm) => {
      assert.ok(isErrno(vm.irqLine(4, 1), 'ENXIO'));
      assert.ok(isErrno(vm.getIrqchip(0), 'ENXIO'));
      ok(vm.createIrqchip());
      assert.ok(isErrno(vm.createIrqchip(), 'EEXIST'));
      ok(vm.irqLine(4, 1));
      ok(vm.irqLine(4, 0));
      const pic = ok(vm.getIrqchip(0));
      ok(vm.setIrqchip(pic));
      const vcpu = ok(vm.createVcpu(0));
      try {
        const lapic = ok(vcpu.getLapic());
        assert.equal(lapic.regs.length, 1024);
        assert.notEqual(lapicReg(lapic.regs, APIC_LVR) & 0xff, 0, 'an APIC version');
        ok(vcpu.setLapic(lapic));
        assert.ok(isErrno(vcpu.setLapic({ regs: new Uint8Array(16) }), 'EFAULT'));
      } finally {
        vcpu.close();
      }
    }),
  );

  await t.test(
    'KVM_MEMORY_ENCRYPT_OP on a plain VM fails with an errno (ENOTTY expected)',
    withVm((vm) => {
      const r = vm.memoryEncryptOp({ id: 0, data: 0n, error: 0, sevFd: 0 });
      assert.ok(r instanceof Errno, 'no SEV here');
      assert.equal(r.errno, 'ENOTTY');
      const sev = kvm.createVm(3);
      t.diagnostic(`KVM_CREATE_VM(KVM_X86_SEV_ES_VM): ${sev instanceof Errno ? sev.errno : 'created'}`);
      if (!(sev instanceof Errno)) sev.close();
    }),
  );

  await t.test(
    'MSR filter: bitmaps come from user memory; KVM reads whole u64 words of them',
    withVm((vm) => {
      const range = { flags: KVM_MSR_FILTER_READ, base: 0, nmsrs: 8 };
      ok(vm.setMsrFilter({ flags: 0, ranges: [{ ...range, bitmap: new Uint8Array(8).fill(0xff) }] }));
      const short = vm.setMsrFilter({ flags: 0, ranges: [{ ...range, bitmap: new Uint8Array(1) }] });
      assert.ok(isErrno(short, 'EFAULT'), `a 1-byte bitmap for 8 MSRs: ${short}`);
      assert.ok(isErrno(vm.setMsrFilter({ flags: 1, ranges: [] }), 'EINVAL'), 'deny everything');
      assert.ok(
        isErrno(
          vm.setMsrFilter({ flags: 0, ranges: new Array(17).fill({ ...range, bitmap: new Uint8Array(8) }) }),
          'E2BIG',
        ),
      );
    }),
  );

  await t.test('a tiny real-mode guest: OUT 0x10 then HLT; immediate_exit is EINTR', () => {
    using g = guest(kvm, asm().out(0x10, 1, 0x5a).hlt().bytes());
    const out = g.vcpu.run();
    assert.equal(out.kind, 'IoOut', describeRun(out));
    if (out.kind === 'IoOut') {
      assert.equal(out.port, 0x10);
      assert.equal(out.size, 1);
      assert.equal(out.count, 1);
      assert.deepEqual([...out.data], [0x5a]);
    }
    assert.equal(g.vcpu.run().kind, 'Hlt');
    g.vcpu.runArea.immediateExit = 1;
    const intr = g.vcpu.run();
    assert.equal(intr.kind, 'Failed');
    if (intr.kind === 'Failed') {
      assert.equal(intr.error.errno, 'EINTR');
      assert.equal(isWatchdogExpiry(intr), false);
      t.diagnostic(`immediate_exit: EINTR, kvm_run.exit_reason left as ${intr.left.kind}`);
    }
    g.vcpu.runArea.immediateExit = 0;
  });

  await t.test('a guest access outside every memslot is an MMIO exit', () => {
    using g = guest(kvm, asm().setDs(0x1000).load(1, 0).hlt().bytes());
    const r = g.vcpu.run();
    assert.equal(r.kind, 'MmioRead', describeRun(r));
    if (r.kind === 'MmioRead') assert.equal(r.addr, 0x10000);
  });

  await t.test('the watchdog ends a guest that never exits, as a Failed EINTR it can tell apart', () => {
    using g = guest(kvm, asm().jmpSelf().bytes());
    g.vcpu.timeoutMs = 100;
    const t0 = performance.now();
    const r = g.vcpu.run();
    const dt = performance.now() - t0;
    assert.equal(r.kind, 'Failed');
    assert.ok(isWatchdogExpiry(r));
    assert.ok(g.vcpu.lastRunTimedOut);
    if (r.kind === 'Failed') {
      assert.equal(r.error.errno, 'EINTR');
      assert.equal(r.left.reason, KVM_EXIT_INTR);
    }
    assert.ok(dt >= 95 && dt < 1500, `interrupted after ${dt.toFixed(0)} ms`);
    // One guard for a batch: ten OUTs, then the loop, end within one deadline.
    const code = asm();
    for (let i = 0; i < 10; i++) code.out(0x80, 1, i);
    using b = guest(kvm, code.jmpSelf().bytes());
    const seen: number[] = [];
    const last = kvm.watchdog.guard(150, () => {
      for (;;) {
        const exit = b.vcpu.run();
        if (exit.kind !== 'IoOut') return exit;
        seen.push(exit.data[0]!);
      }
    });
    assert.ok(isWatchdogExpiry(last));
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(kvm.watchdog.armed, false);
  });

  await t.test('closed fds answer EBADF without touching the fd number; kvm_run stays safe', () => {
    const g = guest(kvm, asm().out(0x10, 1, 1).hlt().bytes());
    assert.equal(g.vcpu.run().kind, 'IoOut');
    const run = g.vcpu.runArea.bytes;
    g.close();
    assert.ok(isErrno(g.vcpu.getRegs(), 'EBADF'));
    assert.equal(g.vcpu.runRaw(), -9);
    const failed = g.vcpu.run();
    assert.ok(failed.kind === 'Failed' && failed.error.errno === 'EBADF');
    assert.ok(isErrno(g.vm.createVcpu(1), 'EBADF'));
    assert.ok(isErrno(g.vm.setTssAddress(0), 'EBADF'));
    assert.equal(run[8], 0, 'the tombstone reads as zeros');
    run[0] = 1;
    const other = openHostKvm(KVM_DEVICE);
    assert.ok(other.ok);
    other.kvm.close();
    assert.ok(isErrno(other.kvm.getVcpuMmapSize(), 'EBADF'));
    assert.ok(isErrno(other.kvm.createVm(), 'EBADF'));
    assert.equal(other.kvm.getApiVersion(), -9, 'number-typed ioctls answer -errno');
  });

  await t.test(
    'dirty log: KVM_GET_DIRTY_LOG sees a guest store; KVM_CLEAR_DIRTY_LOG reads its bitmap',
    withVm((vm) => {
      const mem = kvm.processMemory();
      try {
        const hva = ok(mem.mapAnonymous(0x10000));
        assert.equal(
          mem.write(hva + TINY_GUEST_CODE, asm().setDs(0x300).store(1, 0).hlt().bytes()),
          undefined,
        );
        const slot = {
          slot: 0,
          flags: 0,
          guestPhysAddr: 0n,
          memorySize: 0x10000n,
          userspaceAddr: BigInt(hva),
        };
        ok(vm.setUserMemoryRegion(slot));
        assert.ok(isErrno(vm.getDirtyLog(0), 'ENOENT'), 'not logging');
        ok(vm.setUserMemoryRegion({ ...slot, flags: KVM_MEM_LOG_DIRTY_PAGES }));
        const vcpu = ok(vm.createVcpu(0));
        try {
          ok(resetRealMode(vcpu, TINY_GUEST_CODE, TINY_GUEST_RAM));
          assert.equal(vcpu.run().kind, 'Hlt');
          const log = ok(vm.getDirtyLog(0));
          assert.equal(log.length, 8);
          assert.ok(log[0]! & 0x08, `page 3 dirty: ${[...log]}`);
          const manual = vm.enableCap({ cap: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, flags: 0, args: [1n] });
          const clear = vm.clearDirtyLog({ slot: 0, firstPage: 0, numPages: 16, bitmap: new Uint8Array(8) });
          const short = vm.clearDirtyLog({ slot: 0, firstPage: 0, numPages: 16, bitmap: new Uint8Array(1) });
          t.diagnostic(
            `MANUAL_DIRTY_LOG_PROTECT2: ${manual ?? 'enabled'}; KVM_CLEAR_DIRTY_LOG: ${clear ?? 'ok'}; with a 1-byte bitmap: ${short ?? 'ok'}`,
          );
          if (clear === undefined) assert.ok(isErrno(short, 'EFAULT'));
        } finally {
          vcpu.close();
        }
      } finally {
        mem.close();
      }
    }),
  );

  await t.test('HostProcessMemory: mmap, read/write, mprotect, munmap as the book says', () => {
    const mem = kvm.processMemory();
    try {
      const hva = ok(mem.mapAnonymous(0x4000));
      assert.equal(hva % 4096, 0);
      assert.deepEqual(mem.describe(hva + 0x1234), {
        state: 'anonymous',
        prot: PROT_READ | PROT_WRITE,
        start: hva,
        end: hva + 0x4000,
      });
      assert.equal(
        mem.write(
          hva + 0xff0,
          Uint8Array.from({ length: 32 }, (_, i) => i),
        ),
        undefined,
      );
      const back = new Uint8Array(32);
      assert.equal(mem.read(hva + 0xff0, back), undefined);
      assert.deepEqual(
        [...back],
        Array.from({ length: 32 }, (_, i) => i),
      );

      ok(mem.protect(hva + 0x1000, 0x1000, PROT_READ));
      assert.deepEqual(mem.describe(hva + 0x1000), {
        state: 'anonymous',
        prot: PROT_READ,
        start: hva + 0x1000,
        end: hva + 0x2000,
      });
      assert.deepEqual(mem.write(hva + 0xffc, new Uint8Array(8)), { kind: 'protection', hva: hva + 0x1000 });
      assert.equal(mem.read(hva + 0x1000, back), undefined);
      ok(mem.protect(hva + 0x2000, 0x1000, PROT_NONE));
      assert.deepEqual(mem.read(hva + 0x1ff0, back), { kind: 'protection', hva: hva + 0x2000 });
      ok(mem.protect(hva, 0x4000, PROT_READ | PROT_WRITE));
      assert.deepEqual(mem.describe(hva), {
        state: 'anonymous',
        prot: PROT_READ | PROT_WRITE,
        start: hva,
        end: hva + 0x4000,
      });

      assert.equal(mem.unmap(hva + 0x3000, 0x1000), undefined);
      assert.deepEqual(mem.describe(hva + 0x3000), { state: 'unmapped' });
      assert.deepEqual(mem.read(hva + 0x2ff8, new Uint8Array(16)), { kind: 'unmapped', hva: hva + 0x3000 });
      assert.deepEqual(mem.write(hva + 0x3000, new Uint8Array(1)), { kind: 'unmapped', hva: hva + 0x3000 });
      assert.deepEqual(mem.describe(hva), {
        state: 'anonymous',
        prot: PROT_READ | PROT_WRITE,
        start: hva,
        end: hva + 0x3000,
      });
      assert.ok(isErrno(mem.protect(hva + 0x2000, 0x2000, PROT_READ), 'ENOMEM'), 'a hole');
      assert.equal(
        (mem.describe(hva + 0x2000) as { prot: number }).prot,
        PROT_READ,
        'changed up to the hole',
      );
      assert.equal(mem.unmap(hva + 0x3000, 0x1000), undefined, 'unmapping a hole again is fine');

      assert.ok(isErrno(mem.mapAnonymous(100), 'EINVAL'));
      assert.ok(isErrno(mem.unmap(hva + 1, 0x1000), 'EINVAL'));
      assert.ok(isErrno(mem.unmap(hva, 0x8000), 'EINVAL'), 'not all of it is ours');
      assert.ok(isErrno(mem.mapMissing(0x1000), 'ENOSYS'));
      assert.ok(isErrno(mem.populate(hva, new Uint8Array(4096)), 'ENOSYS'));
      assert.deepEqual(mem.describe(8), { state: 'unmapped' });
    } finally {
      mem.close();
    }
    assert.deepEqual(mem.describe(0), { state: 'unmapped' });
    assert.ok(isErrno(mem.mapAnonymous(0x1000), 'EBADF'));
  });

  await t.test('a guest access to an unmapped hva behind a memslot does not succeed', () => {
    // Unmapped after the memslot was made (KVM's MMU notifier path).
    using g = guest(kvm, asm().load(1, 0x2000).hlt().bytes(), 0x3000);
    assert.equal(g.mem.unmap(g.ram + 0x2000, 0x1000), undefined);
    assert.ok(g.mem.read(g.ram + 0x2000, new Uint8Array(1)));
    const after = g.vcpu.run();
    t.diagnostic(`load from a page unmapped after KVM_SET_USER_MEMORY_REGION: ${describeRun(after)}`);
    assert.notEqual(after.kind, 'Hlt');
    assert.ok(after.kind !== 'IoOut' && after.kind !== 'IoIn');

    // Unmapped before the memslot was made.
    const mem = kvm.processMemory();
    const vm = ok(kvm.createVm());
    try {
      const hva = ok(mem.mapAnonymous(0x3000));
      assert.equal(mem.write(hva + TINY_GUEST_CODE, asm().store(1, 0x2000).hlt().bytes()), undefined);
      ok(mem.unmap(hva + 0x2000, 0x1000));
      ok(
        vm.setUserMemoryRegion({
          slot: 0,
          flags: 0,
          guestPhysAddr: 0n,
          memorySize: 0x3000n,
          userspaceAddr: BigInt(hva),
        }),
      );
      const vcpu = ok(vm.createVcpu(0));
      try {
        ok(resetRealMode(vcpu, TINY_GUEST_CODE, TINY_GUEST_RAM));
        const before = vcpu.run();
        t.diagnostic(`store to a page unmapped before KVM_SET_USER_MEMORY_REGION: ${describeRun(before)}`);
        assert.notEqual(before.kind, 'Hlt');
      } finally {
        vcpu.close();
      }
    } finally {
      vm.close();
      mem.close();
    }
  });

  await t.test(
    'KVM_CREATE_GUEST_MEMFD answers with an fd or an errno',
    withVm((vm) => {
      const fd = vm.createGuestMemfd(0x10000n);
      t.diagnostic(
        `KVM_CREATE_GUEST_MEMFD on KVM_X86_DEFAULT_VM: ${fd instanceof Errno ? fd.errno : 'an fd'}`,
      );
      if (typeof fd === 'number') {
        assert.ok(fd >= 0);
        assert.equal(vm.closeGuestMemfd(fd), undefined);
        assert.ok(isErrno(vm.closeGuestMemfd(fd), 'EBADF'));
      }
      assert.ok(isErrno(vm.createGuestMemfd(-1n), 'EINVAL'), 'not a u64: refused before the ioctl');
    }),
  );
});
