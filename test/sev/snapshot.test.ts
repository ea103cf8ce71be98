/**
 * Live GHCB vs snapshot (shared/spec/vmgexit.md sections 1-2): prefix/seed read sw_scratch from the
 * live GHCB page again at write-back time; current copied it at sync time and uses the copy. And
 * nothing written into the GHCB while a VMGEXIT is in progress changes what KVM acts on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KVM_EXIT_MMIO } from '../../src/uapi/exit-reasons.js';
import { GHCB_OFF_SW_EXIT_CODE, GHCB_OFF_SW_EXIT_INFO_2, GHCB_OFF_SW_SCRATCH } from '../../src/uapi/ghcb.js';
import { SVM_EXIT_CPUID, SVM_VMGEXIT_MMIO_READ } from '../../src/uapi/svm.js';
import {
  assertGuestSaw,
  assertOutcome,
  drive,
  finish,
  GHCB_GPA,
  GHCB_HVA,
  le64,
  leakGuard,
  type Machine,
  MMIO_GPA,
  mmioBytes,
  PROFILES,
  RAM_HVA,
  runExits,
  SCRATCH_GPA,
  SCRATCH2_GPA,
  sevMachine,
  userspace,
} from './kit.js';

leakGuard();

describe('sw_scratch rewritten in the GHCB page while an MMIO read is out in userspace', () => {
  for (const profile of PROFILES) {
    const live = profile !== 'current';
    it(`[${profile}] write-back goes to the ${live ? 'new address (re-read live)' : 'original address (snapshot)'}`, () => {
      const m = sevMachine({
        profile,
        host: (host) => {
          host.write(RAM_HVA + SCRATCH_GPA, new Uint8Array(8).fill(0xcc));
          host.write(RAM_HVA + SCRATCH2_GPA, new Uint8Array(8).fill(0xdd));
        },
        guest: function* (c, cpu) {
          const r = yield* c.mmioRead(MMIO_GPA, 8, { gpa: BigInt(SCRATCH_GPA) });
          const other = new Uint8Array(8);
          cpu.mem.read(SCRATCH2_GPA, other);
          return { result: r.result, original: [...r.data], other: [...other] };
        },
      });
      const r = drive(m, {
        onExit: (exit, mm) => {
          // The VMM (or another vCPU) rewrites sw_scratch through host memory.
          if (exit.kind === 'MmioRead')
            mm.host.write(GHCB_HVA + GHCB_OFF_SW_SCRATCH, le64(BigInt(SCRATCH2_GPA)));
          return undefined;
        },
      });
      assertOutcome(r, userspace(KVM_EXIT_MMIO));
      assertGuestSaw(r.guest!.result, { ok: true });
      const data = mmioBytes(MMIO_GPA, 8);
      assert.deepEqual(r.guest!.original, live ? Array(8).fill(0xcc) : data);
      assert.deepEqual(r.guest!.other, live ? data : Array(8).fill(0xdd));
      finish(m as Machine<unknown>);
    });
  }
});

describe('a guest rewriting the GHCB exit code between exits does not change what KVM acts on', () => {
  for (const profile of PROFILES) {
    it(`[${profile}] vCPU 1 turns vCPU 0's in-flight 16-byte MMIO read into a CPUID of 64 bytes: KVM finishes the read`, () => {
      const m = sevMachine({
        profile,
        guest: function* (c) {
          const r = yield* c.mmioRead(MMIO_GPA, 16);
          return { result: r.result, data: [...r.data] };
        },
        // vCPU 1: a second guest CPU sharing the (unencrypted) GHCB page of vCPU 0.
        aps: [
          function* (cpu) {
            cpu.mem.write(GHCB_GPA + GHCB_OFF_SW_EXIT_CODE, le64(BigInt(SVM_EXIT_CPUID)));
            cpu.mem.write(GHCB_GPA + GHCB_OFF_SW_EXIT_INFO_2, le64(64n));
            yield* cpu.hlt();
          },
        ],
      });
      const vcpu1 = m.aps[0]!;
      const first = runExits(m.vcpu, 'MmioRead');
      first.data.set(mmioBytes(MMIO_GPA, 8));
      runExits(vcpu1, 'Hlt'); // vCPU 1 did its rewrite and finished
      const second = runExits(m.vcpu, 'MmioRead');
      assert.equal(second.addr, MMIO_GPA + 8, 'the second fragment of the read, not a CPUID');
      assert.equal(second.data.length, 8);
      second.data.set(mmioBytes(MMIO_GPA + 8, 8));
      runExits(m.vcpu, 'Hlt');
      const g = m.guestResult!;
      assertGuestSaw(g.result, { ok: true });
      assert.deepEqual(g.data, mmioBytes(MMIO_GPA, 16));
      const records = drive(m).outcomes.filter((o) => o.vcpu === 0);
      assert.deepEqual(
        records.map((o) => [o.exitCode, o.outcome]),
        [[BigInt(SVM_VMGEXIT_MMIO_READ), { kind: 'userspace', reasons: [KVM_EXIT_MMIO, KVM_EXIT_MMIO] }]],
      );
      finish(m as Machine<unknown>);
    });
  }
});
