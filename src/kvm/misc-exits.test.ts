/**
 * The rest of the intercepts a default vCPU's VMCB has (xcr.ts, svm-insns.ts, misc-exits.ts),
 * against the current kernel: kvm_emulate_xsetbv with __kvm_set_xcr's checks; the SVM instructions
 * (nested_svm_check_permissions: #UD, since the model offers no nested SVM; SKINIT always #UD);
 * RDPRU and INVPCID as invalid opcodes for the default CPUID; PAUSE, INVLPG retired; RSM (#UD
 * outside SMM); host NMIs and SMIs; a task switch KVM cannot emulate; IDLE_HLT as HLT.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  SAVE_CPL,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VALID_ERR,
  VCPU_REGS_RAX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDX,
} from '../cpu/backend.js';
import { KVM_INTERNAL_ERROR_EMULATION } from '../uapi/exit-reasons.js';
import {
  GP_VECTOR,
  SVM_EXIT_CLGI,
  SVM_EXIT_IDLE_HLT,
  SVM_EXIT_INVLPG,
  SVM_EXIT_INVLPGA,
  SVM_EXIT_INVPCID,
  SVM_EXIT_NMI,
  SVM_EXIT_PAUSE,
  SVM_EXIT_RDPRU,
  SVM_EXIT_RSM,
  SVM_EXIT_SKINIT,
  SVM_EXIT_SMI,
  SVM_EXIT_STGI,
  SVM_EXIT_TASK_SWITCH,
  SVM_EXIT_VMLOAD,
  SVM_EXIT_VMRUN,
  SVM_EXIT_VMSAVE,
  SVM_EXIT_XSETBV,
  svmExitCodeName,
  UD_VECTOR,
} from '../uapi/svm.js';
import { DEFAULT_CPUID, DEFAULT_HOST_XCR0, KVM_SUPPORTED_XCR0, kvmCpuid } from './cpuid.js';
import { expectExit, type HwExit, hardwareExitsVm, ok } from './test-util.js';

const RIP0 = 0xfff0n;
const UD = (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | UD_VECTOR) >>> 0;
const GP0 = (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID_ERR | GP_VECTOR) >>> 0;

/** Replay `exit`, then HLT; the RIP the guest ended at and what the CPU found in event_inj after the exit. */
function after(exit: HwExit, mode?: 16 | 32 | 64) {
  const env = hardwareExitsVm([exit], mode === undefined ? {} : { mode });
  expectExit(env.vcpuFd, 'Hlt');
  return { env, rip: ok(env.vcpuFd.getRegs()).rip, injected: env.cpu.entries[1]!.eventInj >>> 0 };
}

/** An XSETBV exit with ECX, EDX:EAX as the guest set them (and CPL 3 if `user`). */
function xsetbv(ecx: number, value: bigint, user = false): HwExit {
  return {
    code: SVM_EXIT_XSETBV,
    len: 3,
    before: (hw) => {
      const r = hw.regs!;
      r[2 * VCPU_REGS_RCX] = ecx;
      r[2 * VCPU_REGS_RAX] = Number(value & 0xffff_ffffn);
      r[2 * VCPU_REGS_RDX] = Number(value >> 32n);
      if (user) hw.vmcb.save.setUint8(SAVE_CPL, 3);
    },
  };
}

describe('xsetbv_interception (kvm_emulate_xsetbv, __kvm_set_xcr)', () => {
  it('XCR0 = x87 | SSE | AVX (what the default CPUID 0xD.0 offers): set, RIP past XSETBV', () => {
    const { env, rip, injected } = after(xsetbv(0, 7n));
    assert.equal(env.vcpu.xcr0, 7n);
    assert.equal(ok(env.vcpuFd.getXcrs()).xcrs[0]!.value, 7n);
    assert.equal(rip, RIP0 + 4n);
    assert.equal(injected, 0);
  });

  for (const [what, exit] of [
    ['XCR1 (only XCR0 exists)', xsetbv(1, 1n)],
    ['x87 state off', xsetbv(0, 2n)],
    ['AVX without SSE', xsetbv(0, 5n)],
    ['a feature the guest’s CPUID does not offer (AVX-512)', xsetbv(0, 0xe7n)],
    ['CPL 3', xsetbv(0, 3n, true)],
  ] as const) {
    it(`#GP(0) for ${what}: XCR0 unchanged, RIP stays`, () => {
      const { env, rip, injected } = after(exit);
      assert.equal(env.vcpu.xcr0, 1n);
      assert.equal(injected, GP0);
      assert.equal(rip, RIP0 + 1n);
    });
  }
});

describe('kvm_caps.supported_xcr0: the host XCR0 & KVM_SUPPORTED_XCR0 bounds CPUID 0xD and guest_supported_xcr0', () => {
  it('a host that saves x87 and SSE only: KVM_GET_SUPPORTED_CPUID offers XCR0 3 (576 bytes), no AVX sub-leaf', () => {
    const env = hardwareExitsVm([], { kvm: { hostXcr0: 3n } });
    const d = ok(env.kvmFd.getSupportedCpuid(64)).filter((e) => e.function === 0xd);
    assert.deepEqual(
      d.map((e) => [e.index, e.eax, e.ebx, e.ecx, e.edx]),
      [[0, 3, 576, 576, 0]],
    );
    assert.deepEqual(env.vcpu.cpuid, env.kvm.supportedCpuid, 'a new vCPU starts from that table');
  });

  it('the default host (DEFAULT_HOST_XCR0) keeps DEFAULT_CPUID as it is', () => {
    const env = hardwareExitsVm([]);
    assert.equal(env.kvm.supportedXcr0, DEFAULT_HOST_XCR0 & KVM_SUPPORTED_XCR0);
    assert.deepEqual(ok(env.kvmFd.getSupportedCpuid(64)), DEFAULT_CPUID);
  });

  it('CPUID 0xD.0 EBX counts only the components the host CPU has (xstate_required_size reads its sub-leaves)', () => {
    const narrow = hardwareExitsVm([], { kvm: { hostXcr0: 3n } });
    const wide = hardwareExitsVm([]);
    for (const env of [narrow, wide]) env.vcpu.xcr0 = 7n; // as an unchecked GHCB XCR0 (v5.17) leaves it
    assert.equal(kvmCpuid(narrow.vcpu, 0xd, 0).ebx, 576);
    assert.equal(kvmCpuid(wide.vcpu, 0xd, 0).ebx, 0x340);
  });

  it('XSETBV of AVX on a host without it: #GP(0) even when the guest’s CPUID (KVM_SET_CPUID2) offers it', () => {
    const env = hardwareExitsVm([xsetbv(0, 7n)], { kvm: { hostXcr0: 3n } });
    ok(env.vcpuFd.setCpuid2(DEFAULT_CPUID));
    expectExit(env.vcpuFd, 'Hlt');
    assert.equal(env.vcpu.xcr0, 1n);
    assert.equal(env.cpu.entries[1]!.eventInj >>> 0, GP0);
    ok(env.vcpuFd.setXcrs({ nrXcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: 3n }] }));
    assert.equal(env.vcpu.xcr0, 3n);
  });
});

describe('SVM instructions without nested SVM (nested_svm_check_permissions)', () => {
  for (const code of [
    SVM_EXIT_VMRUN,
    SVM_EXIT_VMLOAD,
    SVM_EXIT_VMSAVE,
    SVM_EXIT_STGI,
    SVM_EXIT_CLGI,
    SVM_EXIT_INVLPGA,
    SVM_EXIT_SKINIT,
  ]) {
    it(`${svmExitCodeName(code)}: #UD (EFER.SVME clear), not retired`, () => {
      const { rip, injected } = after({ code, len: 3 }, 64);
      assert.equal(injected, UD);
      assert.equal(rip, RIP0 + 1n);
    });
  }
});

describe('other intercepts', () => {
  for (const [code, what] of [
    [SVM_EXIT_RDPRU, 'kvm_handle_invalid_op'],
    [SVM_EXIT_INVPCID, 'the guest’s CPUID lacks INVPCID'],
    [SVM_EXIT_RSM, 'em_rsm outside SMM'],
  ] as const) {
    it(`${svmExitCodeName(code)}: #UD (${what})`, () => {
      const { rip, injected } = after({ code, len: 3 });
      assert.equal(injected, UD);
      assert.equal(rip, RIP0 + 1n);
    });
  }

  for (const [code, len] of [
    [SVM_EXIT_PAUSE, 2],
    [SVM_EXIT_INVLPG, 3],
  ] as const) {
    it(`${svmExitCodeName(code)}: retired (RIP := next_rip), nothing injected`, () => {
      const { rip, injected } = after({ code, len });
      assert.equal(rip, RIP0 + BigInt(len) + 1n);
      assert.equal(injected, 0);
    });
  }

  for (const code of [SVM_EXIT_NMI, SVM_EXIT_SMI]) {
    it(`${svmExitCodeName(code)}: the host’s; the guest re-enters where it was`, () => {
      const { rip, injected } = after({ code });
      assert.equal(rip, RIP0 + 1n);
      assert.equal(injected, 0);
    });
  }

  it('SVM_EXIT_IDLE_HLT: kvm_emulate_halt, KVM_EXIT_HLT', () => {
    const env = hardwareExitsVm([{ code: SVM_EXIT_IDLE_HLT, len: 1 }]);
    expectExit(env.vcpuFd, 'Hlt');
    assert.equal(ok(env.vcpuFd.getRegs()).rip, RIP0 + 1n);
  });

  it('SVM_EXIT_TASK_SWITCH by a far JMP: retired, then KVM_EXIT_INTERNAL_ERROR (the switch needs the emulator)', () => {
    const env = hardwareExitsVm([{ code: SVM_EXIT_TASK_SWITCH, info1: 0x28n, info2: 1n << 38n, len: 7 }]);
    const exit = expectExit(env.vcpuFd, 'InternalError');
    assert.equal(exit.suberror, KVM_INTERNAL_ERROR_EMULATION);
    assert.equal(ok(env.vcpuFd.getRegs()).rip, RIP0 + 7n);
  });
});
