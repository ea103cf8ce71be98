/**
 * Nothing KVM allocates for a guest outlives its use (docs/ARCHITECTURE.md: "nothing leaks when it
 * does"). Every test in test/sev already ends with finish() (vCPU and VM fds closed + allocator empty); these
 * tests look at the moments in between: a bounce buffer held while the vCPU is out in userspace and
 * the vCPU fd closed then, the failure paths, and many VMGEXITs in a row.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  drive,
  finish,
  hostRead,
  leakGuard,
  type Machine,
  MMIO_GPA,
  NO_SLOT_GPA,
  PORT,
  PROFILES,
  RAM_HVA,
  rawMmio,
  runExits,
  runFails,
  SCRATCH_GPA,
  sevMachine,
} from './kit.js';

leakGuard();

for (const profile of PROFILES) {
  describe(`[${profile}] leaks`, () => {
    it('vCPU fd closed while an MMIO read holds a bounce buffer: held with the VM (the vCPU lives as long as it), freed with it, never written back', () => {
      const m = sevMachine({
        profile,
        host: (host) => host.write(RAM_HVA + SCRATCH_GPA, new Uint8Array(16).fill(0xcc)),
        guest: (c) => c.mmioRead(MMIO_GPA, 16, { gpa: BigInt(SCRATCH_GPA) }),
      });
      const exit = runExits(m.vcpu, 'MmioRead');
      exit.data.fill(0x11);
      assert.equal(m.allocator.inUse(), 16, 'the bounce buffer is held while out in userspace');
      m.vcpu.close();
      // kvm_vcpu_release drops the vCPU's reference to the VM; the vCPU itself goes with the VM.
      assert.equal(m.allocator.inUse(), 16);
      // The fd is gone: KVM_RUN on it is EBADF (the VM itself lives on until its fd closes).
      runFails(m.vcpu, 'EBADF');
      assert.equal(m.vm.createIrqchip()?.errno, 'EINVAL', 'the VM fd still answers (a vCPU was created)');
      m.vm.close();
      assert.equal(m.allocator.inUse(), 0);
      assert.equal(m.allocator.liveCount(), 0);
      assert.deepEqual([...hostRead(m as Machine<unknown>, SCRATCH_GPA, 16)], Array(16).fill(0xcc));
      finish(m as Machine<unknown>);
    });

    it('VM fd closed while a string INS holds a bounce buffer (between two chunks): freed', () => {
      const m = sevMachine({
        profile,
        guest: (c) => c.ioInString(PORT, 1, 5000, { gpa: BigInt(SCRATCH_GPA) }),
      });
      runExits(m.vcpu, 'IoIn');
      runExits(m.vcpu, 'IoIn');
      assert.equal(m.allocator.inUse(), 5000);
      finish(m as Machine<unknown>); // vCPU and VM fds closed + allocator empty
    });

    it('ENOMEM / EFAULT paths hold nothing once KVM_RUN has returned', () => {
      for (const [setup, scratch, errno] of [
        [{ budget: 8 }, SCRATCH_GPA, 'ENOMEM'],
        [{}, NO_SLOT_GPA, 'EFAULT'],
      ] as const) {
        const m = sevMachine({ profile, ...setup, guest: (c) => rawMmio(c, 'read', MMIO_GPA, 16, scratch) });
        const r = drive(m, { maxRuns: 1 });
        // The one KVM_RUN failed with the errno (prefix reflects the failure: the guest ran on to its HLT).
        assert.deepEqual(
          r.runs.map((x) => ('errno' in x ? x.errno : x.exit)),
          [profile === 'prefix' ? 'Hlt' : errno],
        );
        assert.equal(m.allocator.liveCount(), 0);
        finish(m as Machine<unknown>);
      }
    });

    it('200 MMIO reads through bounce buffers: one buffer at a time, none left', () => {
      const m = sevMachine({
        profile,
        guest: function* (c) {
          for (let i = 0; i < 200; i++)
            yield* c.mmioRead(MMIO_GPA, 8, { gpa: BigInt(SCRATCH_GPA + 8 * (i % 16)) });
        },
      });
      const r = drive(m, { maxRuns: 1000 });
      assert.equal(r.guestReturned, true);
      assert.equal(m.allocator.stats.allocs, 200);
      assert.equal(m.allocator.peak(), 8);
      assert.equal(m.allocator.inUse(), 0);
      finish(m as Machine<unknown>);
    });
  });
}
