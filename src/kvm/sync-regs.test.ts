/**
 * KVM_CAP_SYNC_REGS through KVM_RUN (sync_regs, store_regs of arch/x86/kvm/x86.c), with the guest
 * of Linux's x86_64/sync_regs_test on the x86 interpreter, in real mode at 0x1000:
 *
 *   1: in al, dx        ; EC          (port 0x1000: an IN exit)
 *      add ebx, 1       ; 66 83 C3 01
 *      jmp 1b           ; EB F9
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { X86Cpu } from '../cpu/x86/cpu.js';
import { X86_XCR0_SUPPORTED } from '../cpu/x86/ops/xsave.js';
import { KVM_CAP_SYNC_REGS, KVM_X86_SEV_ES_VM } from '../uapi/caps.js';
import { KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_IO, KVM_INTERNAL_ERROR_EMULATION } from '../uapi/exit-reasons.js';
import {
  KVM_RUN_OFF_INTERNAL_SUBERROR,
  KVM_SYNC_REGS_OFF_EVENTS,
  KVM_SYNC_REGS_OFF_REGS,
  KVM_SYNC_REGS_OFF_SREGS,
  KVM_SYNC_X86_EVENTS,
  KVM_SYNC_X86_REGS,
  KVM_SYNC_X86_SREGS,
  KVM_SYNC_X86_VALID_FIELDS,
} from '../uapi/kvm-run.js';
import { decodeRegs, encodeRegs } from '../uapi/regs.js';
import { decodeSregs, encodeSregs } from '../uapi/sregs.js';
import { decodeVcpuEvents, encodeVcpuEvents } from '../uapi/vcpu-events.js';
import { openKvm } from './fd.js';
import { KVM_CORE_5_17 } from './profile.js';
import { HVA, newVm, ok, vmWithRam } from './test-util.js';

const GUEST = Uint8Array.of(0xec, 0x66, 0x83, 0xc3, 0x01, 0xeb, 0xf9);
const ALL = BigInt(KVM_SYNC_X86_VALID_FIELDS);
const INVALID_SYNC_FIELD = 0x8000_0000n;

/** vCPU 0 at the guest above (CS base 0, RIP 0x1000, DX = the port). */
function syncGuest() {
  const env = vmWithRam(16, {
    cpus: (_id, p) => new X86Cpu(p),
    hostXcr0: BigInt(X86_XCR0_SUPPORTED),
  });
  env.host.write(HVA + 0x1000, GUEST);
  const vcpuFd = ok(env.vmFd.createVcpu(0));
  const s = ok(vcpuFd.getSregs());
  ok(vcpuFd.setSregs({ ...s, cs: { ...s.cs, base: 0n, selector: 0 } }));
  const r = ok(vcpuFd.getRegs());
  ok(vcpuFd.setRegs({ ...r, rip: 0x1000n, rdx: 0x1000n, rbx: 0n, rflags: 2n }));
  const run = vcpuFd.runArea;
  const sRegs = () => decodeRegs(run.bytes.subarray(KVM_SYNC_REGS_OFF_REGS));
  const sSregs = () => decodeSregs(run.bytes.subarray(KVM_SYNC_REGS_OFF_SREGS));
  const sEvents = () => decodeVcpuEvents(run.bytes.subarray(KVM_SYNC_REGS_OFF_EVENTS));
  return { ...env, vcpuFd, run, sRegs, sSregs, sEvents };
}

describe('KVM_CAP_SYNC_REGS', () => {
  it('the capability is REGS|SREGS|EVENTS', () => {
    assert.equal(openKvm().checkExtension(KVM_CAP_SYNC_REGS), 7);
    assert.equal(openKvm({ core: KVM_CORE_5_17 }).checkExtension(KVM_CAP_SYNC_REGS), 7);
  });

  it('a VM type with protected state offers none: the capability is 0 and any bit is EINVAL', () => {
    const sevEs = {
      type: KVM_X86_SEV_ES_VM,
      init: () => ({ protectedState: true, sevEs: true, createVcpu: () => ({}) }),
    };
    const kvm = openKvm({ vmTypes: [sevEs] });
    const vmFd = ok(kvm.createVm(KVM_X86_SEV_ES_VM));
    assert.equal(vmFd.checkExtension(KVM_CAP_SYNC_REGS), 0);
    assert.equal(ok(kvm.createVm(0)).checkExtension(KVM_CAP_SYNC_REGS), 7);
    const vcpuFd = ok(vmFd.createVcpu(0));
    vcpuFd.runArea.kvmValidRegs = BigInt(KVM_SYNC_X86_REGS);
    assert.equal(vcpuFd.runRaw(), -22);
    // Before LAUNCH_UPDATE_VMSA the state is not yet protected: store_regs still runs.
    assert.equal(decodeRegs(vcpuFd.runArea.bytes.subarray(KVM_SYNC_REGS_OFF_REGS)).rip, 0xfff0n);
  });

  it('an unknown bit in kvm_valid_regs or kvm_dirty_regs is EINVAL, and s.regs is stored anyway', () => {
    const { vcpuFd, run, sRegs } = syncGuest();
    run.kvmValidRegs = INVALID_SYNC_FIELD | ALL;
    assert.equal(vcpuFd.runRaw(), -22);
    // store_regs ran on the way out: RIP is where the guest has not yet started.
    assert.equal(sRegs().rip, 0x1000n);
    assert.equal(sRegs().rdx, 0x1000n);
    run.kvmValidRegs = 0n;
    run.kvmDirtyRegs = INVALID_SYNC_FIELD;
    assert.equal(vcpuFd.runRaw(), -22);
    assert.equal(run.kvmDirtyRegs, INVALID_SYNC_FIELD, 'nothing applied, nothing cleared');
    run.kvmDirtyRegs = 0n;
    assert.equal(vcpuFd.runRaw(), 0);
    assert.equal(run.exitReason, KVM_EXIT_IO);
  });

  it('after a run s.regs holds what KVM_GET_REGS, KVM_GET_SREGS and KVM_GET_VCPU_EVENTS return', () => {
    const { vcpuFd, run, sRegs, sSregs, sEvents } = syncGuest();
    run.kvmValidRegs = ALL;
    assert.equal(vcpuFd.runRaw(), 0);
    assert.equal(run.exitReason, KVM_EXIT_IO);
    assert.equal(vcpuFd.runRaw(), 0);
    assert.deepEqual(sRegs(), ok(vcpuFd.getRegs()));
    assert.equal(sRegs().rbx, 1n, 'the add after the first IN ran');
    assert.deepEqual(sSregs(), ok(vcpuFd.getSregs()));
    assert.deepEqual(sEvents(), ok(vcpuFd.getVcpuEvents()));
  });

  it('a dirty REGS set is applied before the run and its bit cleared; without valid bits s.regs is left alone', () => {
    const { vcpuFd, run, sRegs } = syncGuest();
    run.kvmValidRegs = ALL;
    assert.equal(vcpuFd.runRaw(), 0);
    const regs = sRegs();
    encodeRegs({ ...regs, rbx: 0xbad1dean }, run.bytes.subarray(KVM_SYNC_REGS_OFF_REGS));
    run.kvmDirtyRegs = BigInt(KVM_SYNC_X86_REGS);
    assert.equal(vcpuFd.runRaw(), 0);
    assert.equal(run.kvmDirtyRegs, 0n);
    assert.equal(sRegs().rbx, 0xbad1dean + 1n);
    assert.equal(ok(vcpuFd.getRegs()).rbx, 0xbad1dean + 1n);
    // clear_kvm_valid_and_dirty_regs: s.regs is the VMM's, KVM neither reads nor writes it.
    run.kvmValidRegs = 0n;
    encodeRegs({ ...regs, rbx: 0xaaaan }, run.bytes.subarray(KVM_SYNC_REGS_OFF_REGS));
    assert.equal(vcpuFd.runRaw(), 0);
    assert.equal(sRegs().rbx, 0xaaaan);
    assert.equal(ok(vcpuFd.getRegs()).rbx, 0xbad1dean + 2n);
  });

  it('a dirty SREGS with EFER.LMA outside paging is EINVAL; the REGS before it are applied and cleared', () => {
    const { vcpuFd, run, sRegs } = syncGuest();
    run.kvmValidRegs = ALL;
    assert.equal(vcpuFd.runRaw(), 0);
    const before = ok(vcpuFd.getSregs());
    encodeRegs({ ...sRegs(), rbx: 0x55n }, run.bytes.subarray(KVM_SYNC_REGS_OFF_REGS));
    // kvm_is_valid_sregs: LMA (0x400) without CR0.PG and LME.
    encodeSregs({ ...before, efer: before.efer | 0x400n }, run.bytes.subarray(KVM_SYNC_REGS_OFF_SREGS));
    run.kvmDirtyRegs = BigInt(KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);
    assert.equal(vcpuFd.runRaw(), -22);
    assert.equal(run.kvmDirtyRegs, BigInt(KVM_SYNC_X86_SREGS), 'REGS applied and cleared, SREGS not');
    assert.equal(ok(vcpuFd.getRegs()).rbx, 0x55n);
    assert.deepEqual(ok(vcpuFd.getSregs()), before);
    // store_regs overwrote the rejected set with the vCPU's own.
    assert.deepEqual(decodeSregs(run.bytes.subarray(KVM_SYNC_REGS_OFF_SREGS)), before);
  });

  it('a dirty EVENTS set with exception vector 255 is EINVAL (race_exc of sync_regs_test)', () => {
    const { vcpuFd, run, sEvents } = syncGuest();
    run.kvmValidRegs = BigInt(KVM_SYNC_X86_EVENTS);
    assert.equal(vcpuFd.runRaw(), 0);
    const ev = sEvents();
    encodeVcpuEvents(
      { ...ev, flags: 0, exception: { ...ev.exception, injected: 1, nr: 255 } },
      run.bytes.subarray(KVM_SYNC_REGS_OFF_EVENTS),
    );
    run.kvmDirtyRegs = BigInt(KVM_SYNC_X86_EVENTS);
    assert.equal(vcpuFd.runRaw(), -22);
    assert.equal(run.kvmDirtyRegs, BigInt(KVM_SYNC_X86_EVENTS));
    assert.equal(sEvents().exception.injected, 0, 'stored back: nothing was queued');
  });

  it('immediate_exit (EINTR) applies the dirty set, then stores s.regs over what the VMM left there', () => {
    const { vcpuFd, run, sRegs } = syncGuest();
    run.kvmValidRegs = ALL;
    assert.equal(vcpuFd.runRaw(), 0);
    encodeRegs({ ...sRegs(), rcx: 0x77n }, run.bytes.subarray(KVM_SYNC_REGS_OFF_REGS));
    run.kvmDirtyRegs = BigInt(KVM_SYNC_X86_REGS);
    run.immediateExit = 1;
    assert.equal(vcpuFd.runRaw(), -4);
    assert.equal(run.kvmDirtyRegs, 0n);
    assert.equal(ok(vcpuFd.getRegs()).rcx, 0x77n);
    // Not dirty: KVM does not load it, and store_regs puts the vCPU's RCX back.
    encodeRegs({ ...sRegs(), rcx: 0xdeadn }, run.bytes.subarray(KVM_SYNC_REGS_OFF_REGS));
    assert.equal(vcpuFd.runRaw(), -4);
    assert.equal(run.exitReason, KVM_EXIT_IO, 'immediate_exit leaves exit_reason as it was');
    assert.equal(sRegs().rcx, 0x77n);
  });
});

describe('what the selftests around sync_regs_test rely on', () => {
  it('vcpu_save_state: KVM_GET_MSRS over all of KVM_GET_MSR_INDEX_LIST reads every entry', () => {
    const { kvmFd, vcpuFd } = syncGuest();
    const list = ok(kvmFd.getMsrIndexList());
    assert.ok(list.length > 0);
    assert.deepEqual(
      ok(vcpuFd.getMsrs(list)).map((e) => e.index),
      list,
    );
    // The same after the vCPU ran (the values come from the VMCB and KVM's store alike).
    assert.equal(vcpuFd.runRaw(), 0);
    assert.equal(ok(vcpuFd.getMsrs(list)).length, list.length);
  });

  it('set_memory_region_test test_zero_memory_regions: KVM_RUN with no memslot is an emulation internal error', () => {
    const env = newVm({ cpus: (_id, p) => new X86Cpu(p), hostXcr0: BigInt(X86_XCR0_SUPPORTED) });
    ok(env.vmFd.setNrMmuPages(64n));
    const vcpuFd = ok(env.vmFd.createVcpu(0));
    // RESET: the fetch at 0xfffffff0 finds no memslot, and KVM cannot emulate an instruction it cannot read.
    assert.equal(vcpuFd.runRaw(), 0);
    assert.equal(vcpuFd.runArea.exitReason, KVM_EXIT_INTERNAL_ERROR);
    assert.equal(vcpuFd.runArea.u32(KVM_RUN_OFF_INTERNAL_SUBERROR), KVM_INTERNAL_ERROR_EMULATION);
  });
});
