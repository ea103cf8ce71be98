/**
 * The exception intercepts of init_vmcb (exceptions.ts) against the current kernel: db_interception
 * (the #DB is the guest's, its cause delivered into DR6 by kvm_deliver_exception_payload; a debugger
 * gets KVM_EXIT_DEBUG), ud_interception → handle_ud (the model's emulator emulates nothing on #UD:
 * re-injected), ac_interception (#AC(0)), mc_interception (the host's), and the single-step #DB of
 * kvm_skip_emulated_instruction when an intercepted instruction ran with RFLAGS.TF.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SAVE_DR6, SVM_EVTINJ_TYPE_EXEPT, SVM_EVTINJ_VALID, SVM_EVTINJ_VALID_ERR } from '../cpu/backend.js';
import { KVM_EXIT_DEBUG } from '../uapi/exit-reasons.js';
import { KVM_GUESTDBG_ENABLE, KVM_GUESTDBG_SINGLESTEP } from '../uapi/guest-debug.js';
import { KVM_RUN_OFF_DEBUG_DR6, KVM_RUN_OFF_DEBUG_EXCEPTION, KVM_RUN_OFF_DEBUG_PC } from '../uapi/kvm-run.js';
import {
  AC_VECTOR,
  DB_VECTOR,
  MC_VECTOR,
  SVM_EXIT_CPUID,
  SVM_EXIT_EXCP_BASE,
  UD_VECTOR,
} from '../uapi/svm.js';
import { expectExit, hardwareExitsVm, ok } from './test-util.js';

const RIP0 = 0xfff0n;
const EXCEPTION = (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT) >>> 0;

/** A #DB intercept whose cause the CPU wrote into the VMCB's DR6, as hardware does. */
const debugTrap = (dr6: bigint) => ({
  code: SVM_EXIT_EXCP_BASE + DB_VECTOR,
  before: (hw: { vmcb: { save: DataView } }) => hw.vmcb.save.setBigUint64(SAVE_DR6, dr6, true),
});

describe('exception intercepts', () => {
  it('#UD (handle_ud): re-injected without an error code; the instruction is not retired', () => {
    const env = hardwareExitsVm([{ code: SVM_EXIT_EXCP_BASE + UD_VECTOR }]);
    expectExit(env.vcpuFd, 'Hlt');
    assert.equal(env.cpu.entries[1]!.eventInj >>> 0, (EXCEPTION | UD_VECTOR) >>> 0);
    assert.equal(ok(env.vcpuFd.getRegs()).rip, RIP0 + 1n, 'only the HLT after it retired');
  });

  it('#AC: injected with error code 0', () => {
    const env = hardwareExitsVm([{ code: SVM_EXIT_EXCP_BASE + AC_VECTOR, info1: 0n }]);
    expectExit(env.vcpuFd, 'Hlt');
    const e = env.cpu.entries[1]!;
    assert.equal(e.eventInj >>> 0, (EXCEPTION | SVM_EVTINJ_VALID_ERR | AC_VECTOR) >>> 0);
    assert.equal(e.eventInjErr, 0);
  });

  it('#MC: the host’s; the guest re-enters with nothing injected', () => {
    const env = hardwareExitsVm([{ code: SVM_EXIT_EXCP_BASE + MC_VECTOR }]);
    expectExit(env.vcpuFd, 'Hlt');
    assert.equal(env.cpu.entries[1]!.eventInj, 0);
    assert.equal(env.vcpu.exception, undefined);
  });

  it('#DB: re-injected, its cause (B0) delivered into the guest’s DR6; the CPU runs with DR6_ACTIVE_LOW again', () => {
    const env = hardwareExitsVm([debugTrap(0xffff_0ff1n)]);
    env.vcpu.dr6 = 0xffff_0ff2n; // B1 from an earlier #DB: B0-B3 are replaced, not accumulated
    expectExit(env.vcpuFd, 'Hlt');
    assert.equal(env.cpu.entries[1]!.eventInj >>> 0, (EXCEPTION | DB_VECTOR) >>> 0);
    assert.equal(env.vcpu.dr6, 0xffff_0ff1n);
    assert.equal(env.cpu.entries[1]!.dr6, 0xffff_0ff0n);
  });

  it('#DB: active-low bits (RTM, bit 16) come out cleared, active-high ones (BS) set; bit 12 never', () => {
    const env = hardwareExitsVm([debugTrap(0xfffe_5ff0n)]);
    expectExit(env.vcpuFd, 'Hlt');
    assert.equal(env.vcpu.dr6, 0xfffe_4ff0n);
  });

  it('#DB while userspace single-steps: KVM_EXIT_DEBUG with DR6 and CS.base + RIP', () => {
    const env = hardwareExitsVm([debugTrap(0xffff_4ff0n)]);
    env.vcpu.guestDebug = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
    const exit = env.vcpuFd.run();
    assert.equal(exit.kind === 'Failed' ? -1 : exit.reason, KVM_EXIT_DEBUG);
    const run = env.vcpuFd.runArea;
    assert.equal(run.u32(KVM_RUN_OFF_DEBUG_EXCEPTION), DB_VECTOR);
    assert.equal(run.u64(KVM_RUN_OFF_DEBUG_DR6), 0xffff_4ff0n);
    assert.equal(run.u64(KVM_RUN_OFF_DEBUG_PC), 0xffff_0000n + RIP0);
    assert.equal(env.vcpu.exception, undefined, 'nothing for the guest');
  });
});

describe('kvm_skip_emulated_instruction with RFLAGS.TF (kvm_vcpu_do_singlestep)', () => {
  it('an intercepted CPUID that ran with TF is retired, then the guest takes the single-step #DB (DR6.BS)', () => {
    const env = hardwareExitsVm([{ code: SVM_EXIT_CPUID, len: 2 }]);
    ok(env.vcpuFd.setRegs({ ...ok(env.vcpuFd.getRegs()), rflags: 0x102n }));
    expectExit(env.vcpuFd, 'Hlt');
    assert.equal(env.cpu.entries[1]!.eventInj >>> 0, (EXCEPTION | DB_VECTOR) >>> 0);
    assert.equal(env.vcpu.dr6, 0xffff_4ff0n);
  });
});
