/**
 * The seed commit's point, end to end (shared/seed/aa9f58415a8e.txt, shared/spec/vmgexit.md section
 * 6): when the scratch area cannot be set up because of the host (allocation fails, guest memory
 * cannot be read), KVM_RUN fails with ENOMEM / EFAULT instead of blaming the guest. What happens when
 * the VMM runs the vCPU again is the ABI these tests pin down:
 *
 * - the VMGEXIT is not retried: the guest resumes after it and reads success (sw_exit_info_1 = 0),
 *   with no data (an MMIO read leaves its destination as it was);
 * - the GHCB valid bits it sees are exactly sw_exit_info_1/2 and RAX, RBX, RCX, RDX;
 * - kvm_run.exit_reason after the failure is 0 (current) or the previous exit's (seed);
 * - with immediate_exit set on the re-run, the GHCB is not touched until a later run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelVcpuFd } from '../../src/kvm/fd.js';
import { KVM_EXIT_IO, KVM_EXIT_UNKNOWN } from '../../src/uapi/exit-reasons.js';
import { GHCB_ERR_INVALID_SCRATCH_AREA, GHCB_OFF_RAX, GHCB_OFF_RCX } from '../../src/uapi/ghcb.js';
import { SVM_VMGEXIT_MMIO_READ } from '../../src/uapi/svm.js';
import type { VcpuExit } from '../../src/uapi/vcpu-exit.js';
import {
  assertGuestSaw,
  bitsOf,
  finish,
  GHCB_GPA,
  ghcbNow,
  guestValidBits,
  leakGuard,
  type Machine,
  type MachineOptions,
  MMIO_GPA,
  NO_SLOT_GPA,
  PORT,
  RAM_HVA,
  RESULT_BITS,
  rawMmio,
  request,
  runExits,
  runFails,
  SCRATCH_GPA,
  SPARE_GPA,
  SPARE_HVA,
  SPARE_SIZE,
  sevMachine,
} from './kit.js';

leakGuard();

/** KVM_RUN, expecting it to fail with `code`. */
function runExpectingErrno(vcpu: ModelVcpuFd, code: 'ENOMEM' | 'EFAULT' | 'EINTR'): void {
  runFails(vcpu, code);
}

/** KVM_RUN, expecting an exit of `kind`. */
function runExpecting(vcpu: ModelVcpuFd, kind: VcpuExit['kind']) {
  return runExits(vcpu, kind);
}

/** The two host-side failures of the scratch path, each as machine options. */
const FAILURES: {
  name: string;
  errno: 'ENOMEM' | 'EFAULT';
  setup: Omit<MachineOptions<unknown>, 'profile' | 'guest'>;
  scratch: number;
}[] = [
  { name: 'bounce buffer allocation fails', errno: 'ENOMEM', setup: { budget: 0 }, scratch: SCRATCH_GPA },
  { name: 'scratch GPA has no memslot', errno: 'EFAULT', setup: {}, scratch: NO_SLOT_GPA },
  {
    name: "scratch slot's hva is unmapped",
    errno: 'EFAULT',
    setup: { host: (host) => host.unmap(SPARE_HVA, SPARE_SIZE) },
    scratch: SPARE_GPA,
  },
];

for (const profile of ['seed', 'current'] as const) {
  describe(`[${profile}] the next KVM_RUN after ENOMEM / EFAULT from the scratch path`, () => {
    for (const f of FAILURES) {
      it(`${f.name}: KVM_RUN fails ${f.errno}; re-running resumes the guest after its VMGEXIT, which reads success`, () => {
        const m = sevMachine({
          profile,
          ...f.setup,
          host: (host, vm, allocator) => {
            f.setup.host?.(host, vm, allocator);
            host.write(RAM_HVA + SCRATCH_GPA, new Uint8Array(8).fill(0xcc));
          },
          guest: function* (c, cpu) {
            // A raw request: the guest does not read its (possibly unreadable) scratch area back.
            const result = yield* rawMmio(c, 'read', MMIO_GPA, 8, f.scratch);
            const dest = new Uint8Array(8);
            cpu.mem.read(SCRATCH_GPA, dest);
            return { result, dest: [...dest], bits: yield* guestValidBits(c) };
          },
        });
        runExpectingErrno(m.vcpu, f.errno);
        assert.equal(m.guestReturned, false, 'the guest has not run since its VMGEXIT');
        assert.equal(m.allocator.liveCount(), 0, 'nothing held while out in userspace');
        runExpecting(m.vcpu, 'Hlt'); // the guest resumed and ran to its end: no MMIO exit, no retry
        assert.equal(m.vmgexits, 1, 'the VMGEXIT was executed once');
        const g = m.guestResult!;
        assertGuestSaw(g.result, { ok: true, info2: 0n });
        assert.deepEqual(g.bits, RESULT_BITS, 'valid: sw_exit_info_1/2 and RAX, RBX, RCX, RDX only');
        if (f.scratch === SCRATCH_GPA) assert.deepEqual(g.dest, Array(8).fill(0xcc), 'no data delivered');
        finish(m as Machine<unknown>);
      });

      it(`${f.name}: RAX..RDX written back are the values loaded from this request (or 0)`, () => {
        const m = sevMachine({
          profile,
          ...f.setup,
          guest: function* (c) {
            yield* c.cpuid(0); // leaves non-zero RAX..RDX in the GHCB page
            yield* request(c, SVM_VMGEXIT_MMIO_READ, BigInt(MMIO_GPA), 8n, [
              [0x3a8, BigInt(f.scratch)],
              [GHCB_OFF_RAX, 0x77n],
            ]);
            return [0x1f8, 0x318, GHCB_OFF_RCX, 0x310].map((o) => c.getField(o));
          },
        });
        runExpectingErrno(m.vcpu, f.errno);
        runExpecting(m.vcpu, 'Hlt');
        assert.deepEqual(m.guestResult, [0x77n, 0n, 0n, 0n]);
        finish(m as Machine<unknown>);
      });

      it(`${f.name}: kvm_run.exit_reason after the failure is ${profile === 'current' ? '0 (KVM_EXIT_UNKNOWN)' : "the previous exit's (KVM_EXIT_IO)"}`, () => {
        const m = sevMachine({
          profile,
          ...f.setup,
          guest: function* (c) {
            yield* c.ioOut(PORT, 1, 0x41);
            return yield* rawMmio(c, 'read', MMIO_GPA, 8, f.scratch);
          },
        });
        runExpecting(m.vcpu, 'IoOut');
        assert.equal(m.vcpu.runArea.exitReason, KVM_EXIT_IO);
        runExpectingErrno(m.vcpu, f.errno);
        assert.equal(m.vcpu.runArea.exitReason, profile === 'current' ? KVM_EXIT_UNKNOWN : KVM_EXIT_IO);
        runExpecting(m.vcpu, 'Hlt');
        assertGuestSaw(m.guestResult, { ok: true, info2: 0n });
        finish(m as Machine<unknown>);
      });

      it(`${f.name}: with immediate_exit set on the re-run (EINTR) the GHCB stays untouched until a later run`, () => {
        const m = sevMachine({
          profile,
          ...f.setup,
          guest: function* (c) {
            yield* c.cpuid(0); // RAX in the page = 0xd
            return yield* rawMmio(c, 'read', MMIO_GPA, 8, f.scratch);
          },
        });
        runExpectingErrno(m.vcpu, f.errno);
        const atFailure = ghcbNow(m as Machine<unknown>);
        // KVM already preset the result (sw_exit_info_1/2 = 0, both valid) but has not synced registers.
        assert.deepEqual(atFailure.validBits, bitsOf(0x398, 0x3a0));
        assert.equal(atFailure.u64(GHCB_OFF_RAX), 0xdn, 'RAX still as the guest left it');

        m.vcpu.runArea.immediateExit = 1;
        runExpectingErrno(m.vcpu, 'EINTR');
        assert.deepEqual(
          ghcbNow(m as Machine<unknown>).bytes,
          atFailure.bytes,
          'GHCB untouched by the EINTR run',
        );
        assert.equal(m.guestReturned, false);

        m.vcpu.runArea.immediateExit = 0;
        runExpecting(m.vcpu, 'Hlt');
        const after = ghcbNow(m as Machine<unknown>);
        assert.deepEqual(after.validBits, RESULT_BITS);
        assert.equal(after.u64(GHCB_OFF_RAX), 0n, 'sync_to_ghcb wrote the (zeroed) RAX');
        assertGuestSaw(m.guestResult, { ok: true, info2: 0n });
        finish(m as Machine<unknown>);
      });
    }
  });
}

/**
 * The seed's four cases, each on its own, under the seed kernel and the kernel before it (prefix),
 * with current alongside: what the VMM and the guest see.
 */
for (const profile of ['prefix', 'seed', 'current'] as const) {
  const prefix = profile === 'prefix';
  describe(`[${profile}] the seed commit's four cases`, () => {
    it('invalid scratch area (inside the GHCB page, outside the shared buffer): reflected, the guest continues', () => {
      const m = sevMachine({
        profile,
        guest: function* (c) {
          const bad = yield* rawMmio(c, 'read', MMIO_GPA, 8, GHCB_GPA + 0x10);
          const next = yield* c.ioOut(PORT, 1, 0x42);
          return { bad, next };
        },
      });
      runExpecting(m.vcpu, 'IoOut'); // no exit for the bad request: the guest went on to its OUT
      runExpecting(m.vcpu, 'Hlt');
      assertGuestSaw(m.guestResult!.bad, { reflected: GHCB_ERR_INVALID_SCRATCH_AREA });
      assertGuestSaw(m.guestResult!.next, { ok: true });
      finish(m as Machine<unknown>);
    });

    it(`bounce buffer allocation fails (allocator budget): ${prefix ? 'reflected to the guest' : 'ENOMEM out of run()'}`, () => {
      const m = sevMachine({
        profile,
        budget: 4,
        guest: (c) => c.mmioRead(MMIO_GPA, 8, { gpa: BigInt(SCRATCH_GPA) }),
      });
      if (prefix) {
        runExpecting(m.vcpu, 'Hlt');
        assertGuestSaw(m.guestResult!.result, { reflected: GHCB_ERR_INVALID_SCRATCH_AREA });
      } else {
        runExpectingErrno(m.vcpu, 'ENOMEM');
        // The VMM may free memory (here: raise the budget) and re-run; the request is not retried.
        m.allocator.budget = Infinity;
        runExpecting(m.vcpu, 'Hlt');
        assertGuestSaw(m.guestResult!.result, { ok: true, info2: 0n });
        assert.equal(m.allocator.stats.allocs, 0);
      }
      finish(m as Machine<unknown>);
    });

    it(`scratch GPA without a memslot: ${prefix ? 'reflected to the guest' : 'EFAULT out of run()'}`, () => {
      const m = sevMachine({ profile, guest: (c) => rawMmio(c, 'read', MMIO_GPA, 8, NO_SLOT_GPA) });
      if (prefix) runExpecting(m.vcpu, 'Hlt');
      else {
        runExpectingErrno(m.vcpu, 'EFAULT');
        runExpecting(m.vcpu, 'Hlt');
      }
      assertGuestSaw(
        m.guestResult,
        prefix ? { reflected: GHCB_ERR_INVALID_SCRATCH_AREA } : { ok: true, info2: 0n },
      );
      finish(m as Machine<unknown>);
    });

    it(`scratch slot's hva unmapped by the VMM: ${prefix ? 'reflected to the guest' : 'EFAULT out of run()'}`, () => {
      const m = sevMachine({
        profile,
        guest: function* (c) {
          yield* c.ioOut(PORT, 1, 0x43);
          return yield* rawMmio(c, 'write', MMIO_GPA, 8, SPARE_GPA + 0x100);
        },
      });
      runExpecting(m.vcpu, 'IoOut');
      m.host.unmap(SPARE_HVA, SPARE_SIZE); // the VMM drops the memory behind slot 1
      if (prefix) runExpecting(m.vcpu, 'Hlt');
      else {
        runExpectingErrno(m.vcpu, 'EFAULT');
        runExpecting(m.vcpu, 'Hlt');
      }
      assertGuestSaw(
        m.guestResult,
        prefix ? { reflected: GHCB_ERR_INVALID_SCRATCH_AREA } : { ok: true, info2: 0n },
      );
      assert.equal(m.allocator.liveCount(), 0);
      finish(m as Machine<unknown>);
    });
  });
}
