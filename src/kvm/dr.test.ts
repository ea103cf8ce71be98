/**
 * Debug-register intercepts (dr.ts) against the current kernel's dr_interception: without a
 * debugger (vcpu->guest_debug == 0, always so through the model's fds) the first DR access drops
 * every DR intercept and runs again natively (KVM_DEBUGREG_WONT_EXIT) until the next #VMEXIT, when
 * svm_sync_dirty_debug_regs takes the registers back and intercepts again; with one, KVM emulates
 * the access from decode assist (kvm_get_dr / kvm_set_dr: DR4/DR5 alias DR6/DR7, #GP for DR6/DR7
 * bits 63:32, DR6/DR7 fixed bits). SEV-ES: dr_interception does nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  INTERCEPT_DR0_READ,
  INTERCEPT_DR0_WRITE,
  INTERCEPT_DR7_READ,
  SAVE_DR6,
  SAVE_DR7,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VALID_ERR,
  VCPU_REGS_RAX,
  VCPU_REGS_RBX,
} from '../cpu/backend.js';
import { KVM_GUESTDBG_ENABLE } from '../uapi/guest-debug.js';
import {
  GP_VECTOR,
  SVM_EXIT_HLT,
  SVM_EXIT_READ_DR0,
  SVM_EXIT_READ_DR4,
  SVM_EXIT_READ_DR7,
  SVM_EXIT_WRITE_DR0,
  SVM_EXIT_WRITE_DR5,
  SVM_EXIT_WRITE_DR6,
  SVM_EXIT_WRITE_DR7,
} from '../uapi/svm.js';
import { DR6_ACTIVE_LOW } from './debugreg.js';
import { expectExit, type HwExit, hardwareExitsVm, ok } from './test-util.js';

const RIP0 = 0xfff0n;
const GP0 = (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID_ERR | GP_VECTOR) >>> 0;
/** exit_info_1 of a MOV DRn: the GPR in bits 3:0 (decode assist). */
const gpr = (reg: number): bigint => BigInt(reg);

/** Every DR0-DR7 read and write intercept bit, as set_dr_intercepts leaves them. */
function drIntercepts(vmcb: { isIntercept(bit: number): boolean }): boolean[] {
  return Array.from({ length: 8 }, (_, dr) => [
    vmcb.isIntercept(INTERCEPT_DR0_READ + dr),
    vmcb.isIntercept(INTERCEPT_DR0_WRITE + dr),
  ]).flat();
}

describe('dr_interception without a debugger (KVM_DEBUGREG_WONT_EXIT)', () => {
  it('the first DR access drops every DR intercept and runs again natively; the next #VMEXIT intercepts again', () => {
    const seen: { intercepted: boolean; dr7: bigint; dr6: bigint }[] = [];
    const env = hardwareExitsVm([
      { code: SVM_EXIT_READ_DR7, info1: gpr(VCPU_REGS_RBX), len: 3 },
      {
        // The MOV again, now without an exit: the CPU reads DR7 from the save area, writes DR0
        // and DR6 natively, then halts.
        code: SVM_EXIT_HLT,
        len: 1,
        before: (hw) => {
          const save = hw.vmcb.save;
          seen.push({
            intercepted: hw.vmcb.isIntercept(INTERCEPT_DR7_READ),
            dr7: save.getBigUint64(SAVE_DR7, true),
            dr6: save.getBigUint64(SAVE_DR6, true),
          });
          hw.db![0] = 0x1234n;
          save.setBigUint64(SAVE_DR6, 0xffff4ff0n, true);
        },
      },
    ]);
    const vcpu = env.vcpu;
    vcpu.dr6 = 0xffff0ff1n; // a B0 the guest left in DR6
    expectExit(env.vcpuFd, 'Hlt');
    assert.deepEqual(
      seen,
      [{ intercepted: false, dr7: 0x400n, dr6: 0xffff0ff1n }],
      'the guest ran with its own DR6',
    );
    assert.equal(ok(env.vcpuFd.getRegs()).rip, RIP0 + 1n, 'the MOV was not retired by KVM, only the HLT');
    assert.deepEqual(
      drIntercepts(vcpu.vmcb),
      Array(16).fill(true),
      'svm_sync_dirty_debug_regs: intercepted again',
    );
    assert.equal(vcpu.db[0], 0x1234n);
    assert.equal(vcpu.dr6, 0xffff4ff0n, 'DR6 taken back from the VMCB');
    assert.equal(vcpu.dbRegsWontExit, false);
  });

  it('while DR accesses exit, the CPU runs with DR6 = DR6_ACTIVE_LOW (svm_vcpu_run), not the guest’s', () => {
    const env = hardwareExitsVm([]);
    env.vcpu.dr6 = 0xffff0ff2n;
    expectExit(env.vcpuFd, 'Hlt');
    assert.equal(env.cpu.entries[0]!.dr6, DR6_ACTIVE_LOW);
  });
});

describe('dr_interception with a debugger attached (decode assist, kvm_get_dr / kvm_set_dr)', () => {
  /** A vCPU whose guest_debug is set, as KVM_SET_GUEST_DEBUG would leave it (the model has no ioctl). */
  function debugged(exits: HwExit[], mode: 16 | 32 | 64, regs: Partial<Record<'rax' | 'rbx', bigint>> = {}) {
    const env = hardwareExitsVm(exits, { mode });
    env.vcpu.guestDebug = KVM_GUESTDBG_ENABLE;
    ok(env.vcpuFd.setRegs({ ...ok(env.vcpuFd.getRegs()), ...regs }));
    expectExit(env.vcpuFd, 'Hlt');
    return env;
  }

  it('MOV RBX, DR7 returns DR7 (RESET: 0x400); RIP moves to next_rip', () => {
    const env = debugged([{ code: SVM_EXIT_READ_DR7, info1: gpr(VCPU_REGS_RBX), len: 3 }], 64, { rbx: 7n });
    const regs = ok(env.vcpuFd.getRegs());
    assert.equal(regs.rbx, 0x400n);
    assert.equal(regs.rip, RIP0 + 4n);
  });

  it('MOV DR7, RAX keeps the volatile bits and bit 10 in the save area', () => {
    const env = debugged([{ code: SVM_EXIT_WRITE_DR7, info1: gpr(VCPU_REGS_RAX), len: 3 }], 64, {
      rax: 0xffn | (1n << 12n),
    });
    assert.equal(env.vcpu.vmcb.save.getBigUint64(SAVE_DR7, true), 0x4ffn, 'bit 12 is not volatile');
  });

  it('#GP(0) for DR7 bits 63:32 in 64-bit mode; outside it only EAX is read, so no #GP', () => {
    const bad = debugged([{ code: SVM_EXIT_WRITE_DR7, info1: gpr(VCPU_REGS_RAX), len: 3 }], 64, {
      rax: (1n << 32n) | 1n,
    });
    assert.equal(bad.vcpu.vmcb.save.getBigUint64(SAVE_DR7, true), 0x400n);
    assert.equal(bad.cpu.entries[1]!.eventInj >>> 0, GP0);
    assert.equal(ok(bad.vcpuFd.getRegs()).rip, RIP0 + 1n);
    const ok32 = debugged([{ code: SVM_EXIT_WRITE_DR7, info1: gpr(VCPU_REGS_RAX), len: 3 }], 32, {
      rax: (1n << 32n) | 1n,
    });
    assert.equal(ok32.vcpu.vmcb.save.getBigUint64(SAVE_DR7, true), 0x401n);
    assert.equal(ok32.cpu.entries[1]!.eventInj, 0);
  });

  it('DR6 keeps its volatile bits; RTM and BLD read as 1 for a guest without TSX or bus-lock #DB; DR4 reads DR6', () => {
    const env = debugged(
      [
        { code: SVM_EXIT_WRITE_DR6, info1: gpr(VCPU_REGS_RAX), len: 3 },
        { code: SVM_EXIT_READ_DR4, info1: gpr(VCPU_REGS_RBX), len: 3 },
      ],
      64,
      { rax: 0x4001n },
    );
    // (0x4001 & DR6_VOLATILE) | DR6_FIXED_1 | DR6_RTM | DR6_BUS_LOCK
    assert.equal(env.vcpu.dr6, 0xffff4ff1n);
    assert.equal(ok(env.vcpuFd.getRegs()).rbx, 0xffff4ff1n);
  });

  it('DR5 is DR7; DR0-DR3 are vcpu->arch.db, all 64 bits', () => {
    const env = debugged(
      [
        { code: SVM_EXIT_WRITE_DR5, info1: gpr(VCPU_REGS_RAX), len: 3 },
        { code: SVM_EXIT_WRITE_DR0 + 3, info1: gpr(VCPU_REGS_RBX), len: 3 },
        { code: SVM_EXIT_READ_DR0 + 3, info1: gpr(VCPU_REGS_RAX), len: 3 },
      ],
      64,
      { rax: 2n, rbx: 0xffff_8000_0000_1000n },
    );
    assert.equal(env.vcpu.vmcb.save.getBigUint64(SAVE_DR7, true), 0x402n);
    assert.equal(env.vcpu.db[3], 0xffff_8000_0000_1000n);
    assert.equal(ok(env.vcpuFd.getRegs()).rax, 0xffff_8000_0000_1000n);
  });
});
