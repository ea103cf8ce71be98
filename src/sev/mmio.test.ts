/**
 * kvm_run.mmio.data on the SEV-ES MMIO exits: KVM fills it for a write only (kvm_sev_es_mmio_write /
 * _read, complete_sev_es_emulated_mmio in x86.c). A read exit, and the seed quirk's is_write=0
 * follow-up fragment of a write, leave what the previous exit or userspace put there.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GuestOp } from '../cpu/scripted.js';
import { GhcbClient } from '../guest/ghcb-client.js';
import { KVM_EXIT_MMIO } from '../uapi/exit-reasons.js';
import { KVM_RUN_OFF_MMIO_IS_WRITE, KVM_RUN_OFF_MMIO_LEN } from '../uapi/kvm-run.js';
import { isVmmError } from '../vmm/errors.js';
import { DEVICE_GPA, GHCB_GPA, mustAddVcpu, mustCreate, sevMachine } from '../vmm/test-util.js';

const WRITTEN = Uint8Array.of(0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18);
/** What userspace leaves in mmio.data before the next KVM_RUN. */
const LEFT = Uint8Array.of(0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7);

/** A launched machine whose one vCPU runs `program`; KVM_RUN by hand, so each exit is seen as KVM left it. */
function machine(
  profile: 'prefix' | 'seed' | 'current',
  program: (g: GhcbClient) => Generator<GuestOp, void, unknown>,
) {
  const vmm = mustCreate(sevMachine(profile));
  const v = mustAddVcpu(vmm, function* (cpu) {
    const g = new GhcbClient(cpu, GHCB_GPA);
    g.register();
    yield* program(g);
  });
  const launched = vmm.launchGuest();
  assert.ok(!isVmmError(launched), 'launched');
  const run = v.fd.runArea;
  const exit = () => {
    const e = v.fd.run();
    assert.equal(run.exitReason, KVM_EXIT_MMIO, `an MMIO exit, got ${e.kind}`);
    return {
      isWrite: run.u8(KVM_RUN_OFF_MMIO_IS_WRITE),
      len: run.u32(KVM_RUN_OFF_MMIO_LEN),
      data: Uint8Array.from(run.mmioData),
    };
  };
  return { vmm, run, exit };
}

describe('kvm_run.mmio.data on SEV-ES MMIO exits', () => {
  for (const profile of ['prefix', 'seed', 'current'] as const) {
    it(`[${profile}] a read exit keeps the bytes the previous exit and userspace left`, () => {
      const m = machine(profile, function* (g) {
        yield* g.mmioWrite(DEVICE_GPA, WRITTEN);
        yield* g.mmioRead(DEVICE_GPA, 4);
      });
      assert.deepEqual(m.exit(), { isWrite: 1, len: 8, data: WRITTEN }, 'the write carries its data');
      m.run.mmioData.set(LEFT);
      assert.deepEqual(m.exit(), { isWrite: 0, len: 4, data: LEFT }, 'the read writes no data');
      m.vmm.destroy();
    });
  }

  it("[seed] the quirk's is_write=0 follow-up of a write leaves mmio.data as it was", () => {
    const m = machine('seed', function* (g) {
      yield* g.mmioWrite(DEVICE_GPA, Uint8Array.of(...WRITTEN, ...WRITTEN));
    });
    assert.deepEqual(m.exit(), { isWrite: 1, len: 8, data: WRITTEN });
    m.run.mmioData.set(LEFT);
    assert.deepEqual(m.exit(), { isWrite: 0, len: 8, data: LEFT });
    m.vmm.destroy();
  });
});
