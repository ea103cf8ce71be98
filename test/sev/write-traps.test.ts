/**
 * The automatic exits sev_es_init_vmcb asks for, against the current kernel's svm.c: cr_trap (CR0
 * through svm_set_cr0 with EFER.LMA following paging, CR4 through svm_set_cr4, CR8 through
 * kvm_set_cr8 with #GP for bits above 3:0) and efer_trap (set_efer without EFER.SVME; #GP for
 * toggling LME while paging). The CPU has already done the write and moved RIP; KVM only records the
 * value (exit_info_1) and never moves an SEV-ES RIP. A DR7 intercept is dropped (dr_interception).
 * The CPU is a protected-state HardwareExits replaying what SVM hardware reports.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  INTERCEPT_CR0_READ,
  INTERCEPT_CR0_WRITE,
  INTERCEPT_DR7_READ,
  SAVE_CR0,
  SAVE_EFER,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VALID_ERR,
} from '../../src/cpu/backend.js';
import { HostAddressSpace } from '../../src/host/address-space.js';
import { kvmCpuid } from '../../src/kvm/cpuid.js';
import { openKvm } from '../../src/kvm/fd.js';
import { expectExit, HardwareExits, type HwExit, ok } from '../../src/kvm/test-util.js';
import { sevKvmOptions } from '../../src/sev/sev-es-vm.js';
import {
  GP_VECTOR,
  SVM_EXIT_CR0_WRITE_TRAP,
  SVM_EXIT_CR4_WRITE_TRAP,
  SVM_EXIT_CR8_WRITE_TRAP,
  SVM_EXIT_EFER_WRITE_TRAP,
  SVM_EXIT_READ_DR7,
} from '../../src/uapi/svm.js';
import { createSevEsVm, launchSevEsVm, type Profile } from './kit.js';

const GP0 = (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID_ERR | GP_VECTOR) >>> 0;
const EFER_SCE = 1n;
const EFER_LME = 0x100n;
const EFER_LMA = 0x400n;
const EFER_SVME = 0x1000n;
const CR0_PE_PG_ET = 0x8000_0011n;
const CR4_PAE_OSXSAVE = 0x4_0020n;

/** vCPU 0 of an SEV-ES VM of `profile` whose CPU replays `exits` (then halts), run to its HLT. */
function sevEsRun(exits: HwExit[], profile: Profile = 'current') {
  const cpu = new HardwareExits(exits, true);
  const host = new HostAddressSpace();
  const { sevHost, ...sev } = sevKvmOptions(profile);
  const kvm = openKvm({ ...sev, host, cpus: () => cpu });
  const vm = createSevEsVm({ kvm, host });
  const vcpuFd = ok(vm.createVcpu(0), 'KVM_CREATE_VCPU');
  launchSevEsVm({ kvm, host, sevHost }, vm);
  expectExit(vcpuFd, 'Hlt');
  return { cpu, vcpuFd, vcpu: vcpuFd.vcpu, save: vcpuFd.vcpu.vmcb.save };
}

const trap = (code: number, value: bigint): HwExit => ({ code, info1: value });

describe('SEV-ES write traps (cr_trap, efer_trap)', () => {
  it('EFER: recorded without SVME; CR0.PG with LME then activates long mode (EFER.LMA)', () => {
    const { save, vcpu, cpu } = sevEsRun([
      trap(SVM_EXIT_EFER_WRITE_TRAP, EFER_SVME | EFER_LME | EFER_SCE),
      trap(SVM_EXIT_CR4_WRITE_TRAP, CR4_PAE_OSXSAVE),
      trap(SVM_EXIT_CR0_WRITE_TRAP, CR0_PE_PG_ET),
    ]);
    assert.equal(save.getBigUint64(SAVE_EFER, true), EFER_LMA | EFER_LME | EFER_SCE);
    assert.equal(save.getBigUint64(SAVE_CR0, true), CR0_PE_PG_ET);
    assert.equal(vcpu.cr4, Number(CR4_PAE_OSXSAVE));
    assert.deepEqual(
      cpu.entries.map((e) => e.eventInj),
      [0, 0, 0, 0],
      'nothing injected',
    );
    // SEV-ES keeps the CR intercepts clear whatever CR0 is.
    assert.equal(vcpu.vmcb.isIntercept(INTERCEPT_CR0_READ), false);
    assert.equal(vcpu.vmcb.isIntercept(INTERCEPT_CR0_WRITE), false);
  });

  it('CR4: CPUID.1:ECX.OSXSAVE follows the trapped CR4 (kvm_read_cr4 = vcpu->arch.cr4)', () => {
    const { vcpu } = sevEsRun([trap(SVM_EXIT_CR4_WRITE_TRAP, CR4_PAE_OSXSAVE)]);
    assert.equal((kvmCpuid(vcpu, 1, 0).ecx >>> 27) & 1, 1);
  });

  it('CR0.PG off with LME: long mode deactivated', () => {
    const { save } = sevEsRun([
      trap(SVM_EXIT_EFER_WRITE_TRAP, EFER_LME),
      trap(SVM_EXIT_CR4_WRITE_TRAP, 0x20n),
      trap(SVM_EXIT_CR0_WRITE_TRAP, CR0_PE_PG_ET),
      trap(SVM_EXIT_CR0_WRITE_TRAP, 0x11n),
    ]);
    assert.equal(save.getBigUint64(SAVE_EFER, true), EFER_LME);
  });

  it('EFER: toggling LME while paging is #GP(0), injected at the next entry; EFER unchanged', () => {
    const { save, cpu } = sevEsRun([
      trap(SVM_EXIT_CR0_WRITE_TRAP, CR0_PE_PG_ET),
      trap(SVM_EXIT_EFER_WRITE_TRAP, EFER_LME),
    ]);
    assert.equal(save.getBigUint64(SAVE_EFER, true), 0n);
    assert.equal(cpu.entries[2]!.eventInj >>> 0, GP0);
  });

  it('CR8: V_TPR; bits above 3:0 are #GP(0) (kvm_set_cr8)', () => {
    const { vcpu, cpu } = sevEsRun([trap(SVM_EXIT_CR8_WRITE_TRAP, 6n), trap(SVM_EXIT_CR8_WRITE_TRAP, 0x16n)]);
    assert.equal(vcpu.vmcb.intCtl & 0xf, 6);
    assert.equal(cpu.entries[1]!.eventInj, 0);
    assert.equal(cpu.entries[2]!.eventInj >>> 0, GP0);
  });

  it('v5.17 (seed): KVM_GET_SREGS reports CR0, CR4, CR8 and EFER as the traps left them', () => {
    const { vcpuFd } = sevEsRun(
      [
        trap(SVM_EXIT_EFER_WRITE_TRAP, EFER_LME | EFER_SCE),
        trap(SVM_EXIT_CR4_WRITE_TRAP, CR4_PAE_OSXSAVE),
        trap(SVM_EXIT_CR0_WRITE_TRAP, CR0_PE_PG_ET),
        trap(SVM_EXIT_CR8_WRITE_TRAP, 3n),
      ],
      'seed',
    );
    const s = ok(vcpuFd.getSregs());
    assert.deepEqual(
      [s.cr0, s.cr4, s.cr8, s.efer],
      [CR0_PE_PG_ET, CR4_PAE_OSXSAVE, 3n, EFER_LMA | EFER_LME | EFER_SCE],
    );
  });

  it('a DR7 intercept of an SEV-ES guest changes nothing (dr_interception returns at once)', () => {
    const { vcpu, cpu } = sevEsRun([{ code: SVM_EXIT_READ_DR7 }]);
    assert.equal(vcpu.vmcb.isIntercept(INTERCEPT_DR7_READ), true);
    assert.equal(vcpu.dbRegsWontExit, false);
    assert.equal(cpu.entries[1]!.eventInj, 0);
  });
});
