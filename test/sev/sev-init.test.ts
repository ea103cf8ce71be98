/**
 * How an SEV-ES VM comes to be, and the errnos of KVM_MEMORY_ENCRYPT_OP on the way
 * (/work/research/kernel-rules.md section 8, KVM_MEMORY_ENCRYPT_OP row; section 10, VM types).
 *
 * current (6.10+, arch/x86/kvm/svm/sev.c): KVM_CREATE_VM(KVM_X86_SEV_ES_VM), then
 * sev_guest_init2(): `if (!sev->need_init) return -EINVAL;` (a second init), the VM type check,
 * `copy_from_user(&data, argp->data, sizeof(struct kvm_sev_init))` (-EFAULT), then
 * __sev_guest_init(): `kvm->created_vcpus` → -EINVAL, `data->flags` → -EINVAL,
 * `data->vmsa_features & ~valid_vmsa_features` → -EINVAL, `data->ghcb_version > GHCB_VERSION_MAX`
 * → -EINVAL; ghcb_version 0 means GHCB_VERSION_DEFAULT (2). sev_guest_init() (KVM_SEV_INIT,
 * KVM_SEV_ES_INIT) refuses a VM with a type: `kvm->arch.vm_type != KVM_X86_DEFAULT_VM` → -EINVAL.
 * Every other command on a VM that is no SEV guest is -ENOTTY (`if (!sev_guest(kvm)) return
 * -ENOTTY;` in each handler); an id past the last command is -EINVAL.
 *
 * v5.17 (prefix, seed): kvm_arch_init_vm `if (type) return -EINVAL;` (no VM types), and
 * sev_mem_enc_ioctl has no KVM_SEV_INIT2 (the switch's default: -EINVAL). KVM_SEV_ES_INIT on a default
 * VM is the only way in, GHCB version 1.
 *
 * A vCPU takes its SEV-ES-ness from the VM when it is created (sev_es_guest(kvm) in
 * svm_vcpu_create / sev_es_vcpu_reset, which presets the GHCB MSR to the SEV_INFO response); the
 * inits refuse to run once a vCPU exists.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelVmFd } from '../../src/kvm/fd.js';
import { KVM_CAP_VM_TYPES, KVM_X86_DEFAULT_VM, KVM_X86_SEV_ES_VM } from '../../src/uapi/caps.js';
import { Errno } from '../../src/uapi/errno.js';
import {
  encodeSevInit,
  KVM_SEV_INIT,
  KVM_SEV_INIT2,
  KVM_SEV_LAUNCH_MEASURE,
  KVM_SEV_LAUNCH_START,
  KVM_SEV_LAUNCH_UPDATE_VMSA,
  KVM_SEV_NR_MAX,
} from '../../src/uapi/sev-cmd.js';
import { launchSevEsVm, openSevKvm, PAGE, PROFILES, runExits, sevEsInit, sevInit2 } from './kit.js';

/** SEV_INFO as KVM presets the GHCB MSR: [63:48] max version, [47:32] min 1, [31:24] C-bit 51, 0x001. */
const sevInfo = (max: number): bigint => (BigInt(max) << 48n) | 0x0001_3300_0001n;

/** KVM_MEMORY_ENCRYPT_OP of a command without data: the errno, or undefined. */
function encOp(vm: ModelVmFd, id: number, data = 0n): Errno | undefined {
  const r = vm.memoryEncryptOp({ id, data, error: 0, sevFd: 0 });
  return r instanceof Errno ? r : undefined;
}

const errnoOf = (r: unknown): string => (r instanceof Errno ? r.errno : 'ok');

describe('current: KVM_SEV_INIT2 on a KVM_X86_SEV_ES_VM (sev_guest_init2, __sev_guest_init)', () => {
  it('[current] KVM_CAP_VM_TYPES offers KVM_X86_SEV_ES_VM; INIT2 with ghcb_version 0 gives the default, 2', () => {
    const w = openSevKvm('current');
    assert.equal(w.kvm.checkExtension(KVM_CAP_VM_TYPES) & (1 << KVM_X86_SEV_ES_VM), 1 << KVM_X86_SEV_ES_VM);
    const vm = w.kvm.createVm(KVM_X86_SEV_ES_VM) as ModelVmFd;
    assert.equal(sevInit2(vm, w.host, { ghcbVersion: 0 }), undefined);
    vm.createVcpu(0);
    const cpu = w.guests.cpu(0)!;
    assert.equal(cpu.protectedState, true);
    assert.equal(cpu.ghcbMsr, sevInfo(2), 'sev_es_vcpu_reset: GHCB MSR = SEV_INFO(ghcb_version 2)');
    vm.close();
  });

  it('[current] flags, vmsa_features, ghcb_version 3: EINVAL, and the VM can still be initialised', () => {
    const w = openSevKvm('current');
    const vm = w.kvm.createVm(KVM_X86_SEV_ES_VM) as ModelVmFd;
    assert.equal(errnoOf(sevInit2(vm, w.host, { flags: 1 })), 'EINVAL');
    assert.equal(errnoOf(sevInit2(vm, w.host, { vmsaFeatures: 1n })), 'EINVAL');
    assert.equal(errnoOf(sevInit2(vm, w.host, { vmsaFeatures: 1n << 63n })), 'EINVAL');
    assert.equal(errnoOf(sevInit2(vm, w.host, { ghcbVersion: 3 })), 'EINVAL');
    // need_init is still set: a valid init succeeds, with the version it asked for.
    assert.equal(sevInit2(vm, w.host, { ghcbVersion: 1 }), undefined);
    vm.createVcpu(0);
    assert.equal(w.guests.cpu(0)!.ghcbMsr, sevInfo(1));
    vm.close();
  });

  it('[current] a second KVM_SEV_INIT2 is EINVAL (need_init cleared)', () => {
    const w = openSevKvm('current');
    const vm = w.kvm.createVm(KVM_X86_SEV_ES_VM) as ModelVmFd;
    assert.equal(sevInit2(vm, w.host), undefined);
    assert.equal(errnoOf(sevInit2(vm, w.host)), 'EINVAL');
    assert.equal(errnoOf(sevInit2(vm, w.host, { ghcbVersion: 1 })), 'EINVAL');
    vm.close();
  });

  it('[current] KVM_SEV_INIT2 after KVM_CREATE_VCPU is EINVAL (kvm->created_vcpus)', () => {
    const w = openSevKvm('current');
    const vm = w.kvm.createVm(KVM_X86_SEV_ES_VM) as ModelVmFd;
    vm.createVcpu(0);
    assert.equal(errnoOf(sevInit2(vm, w.host)), 'EINVAL');
    vm.close();
  });

  it('[current] a struct kvm_sev_init KVM cannot copy is EFAULT: NULL, unmapped, or running into an unmapped page', () => {
    const w = openSevKvm('current');
    const vm = w.kvm.createVm(KVM_X86_SEV_ES_VM) as ModelVmFd;
    assert.equal(errnoOf(encOp(vm, KVM_SEV_INIT2, 0n)), 'EFAULT');
    const hva = w.host.findFree(2 * PAGE);
    assert.equal(errnoOf(encOp(vm, KVM_SEV_INIT2, BigInt(hva))), 'EFAULT', 'nothing mapped there');
    // 48 bytes starting 16 bytes before the end of a mapped page: the copy faults half-way.
    w.host.mapAnonymous(hva, PAGE);
    w.host.write(
      hva + PAGE - 16,
      encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 0 }).subarray(0, 16),
    );
    assert.equal(errnoOf(encOp(vm, KVM_SEV_INIT2, BigInt(hva + PAGE - 16))), 'EFAULT');
    // None of it initialised the VM.
    assert.equal(sevInit2(vm, w.host), undefined);
    vm.close();
  });

  it('[current] KVM_SEV_INIT2 copies struct kvm_sev_init before looking at created_vcpus: EFAULT, not EINVAL', () => {
    const w = openSevKvm('current');
    const vm = w.kvm.createVm(KVM_X86_SEV_ES_VM) as ModelVmFd;
    vm.createVcpu(0);
    assert.equal(errnoOf(encOp(vm, KVM_SEV_INIT2, 0n)), 'EFAULT');
    assert.equal(errnoOf(sevInit2(vm, w.host)), 'EINVAL');
    vm.close();
  });

  it('[current] LAUNCH_START on a KVM_X86_SEV_ES_VM: ENOTTY before KVM_SEV_INIT2 (no SEV guest yet), not ENOTTY after', () => {
    const w = openSevKvm('current');
    const vm = w.kvm.createVm(KVM_X86_SEV_ES_VM) as ModelVmFd;
    assert.equal(errnoOf(encOp(vm, KVM_SEV_LAUNCH_START)), 'ENOTTY');
    assert.equal(sevInit2(vm, w.host), undefined);
    // Now sev_launch_start gets past sev_guest() to copy_from_user of a NULL data pointer (EFAULT;
    // src/sev/launch.test.ts has the launch itself).
    assert.equal(errnoOf(encOp(vm, KVM_SEV_LAUNCH_START)), 'EFAULT');
    vm.close();
  });

  it('[current] KVM_SEV_INIT and KVM_SEV_ES_INIT on a VM with a type: EINVAL (sev_guest_init)', () => {
    const w = openSevKvm('current');
    const vm = w.kvm.createVm(KVM_X86_SEV_ES_VM) as ModelVmFd;
    assert.equal(errnoOf(sevEsInit(vm)), 'EINVAL');
    assert.equal(errnoOf(encOp(vm, KVM_SEV_INIT)), 'EINVAL');
    assert.equal(sevInit2(vm, w.host), undefined, 'INIT2 is the way in');
    assert.equal(errnoOf(sevEsInit(vm)), 'EINVAL');
    vm.close();
  });

  it('[current] KVM_SEV_INIT2 on a default VM: EINVAL (no need_init, no SEV VM type)', () => {
    const w = openSevKvm('current');
    const vm = w.kvm.createVm(KVM_X86_DEFAULT_VM) as ModelVmFd;
    assert.equal(errnoOf(sevInit2(vm, w.host)), 'EINVAL');
    vm.close();
  });

  it('[current] a vCPU created before KVM_SEV_INIT2 is a plain (unprotected) vCPU, and INIT2 then fails', () => {
    const w = openSevKvm('current');
    const vm = w.kvm.createVm(KVM_X86_SEV_ES_VM) as ModelVmFd;
    const vcpu = vm.createVcpu(0);
    if (vcpu instanceof Errno) assert.fail(`KVM_CREATE_VCPU: ${vcpu}`);
    const cpu = w.guests.cpu(0)!;
    assert.equal(cpu.protectedState, false, 'no VMSA: the hardware runs it as an unprotected guest');
    assert.equal(cpu.ghcbMsr, 0n, 'sev_es_vcpu_reset did not run: no SEV_INFO preset');
    // guest_state_protected is false: the register ioctls work (has_protected_state alone does not refuse them).
    assert.equal(errnoOf(vcpu.getRegs()), 'ok');
    assert.equal(errnoOf(vcpu.getFpu()), 'ok');
    assert.equal(errnoOf(sevInit2(vm, w.host)), 'EINVAL');
    vm.close();
  });

  it('[current] ...and KVM_RUN on it is EINVAL (svm_vcpu_pre_run: need_init)', () => {
    const w = openSevKvm('current');
    const vm = w.kvm.createVm(KVM_X86_SEV_ES_VM) as ModelVmFd;
    const vcpu = vm.createVcpu(0);
    if (vcpu instanceof Errno) assert.fail(`KVM_CREATE_VCPU: ${vcpu}`);
    const r = vcpu.run();
    try {
      assert.equal(r.kind, 'Failed');
      assert.equal(r.kind === 'Failed' && r.error.errno, 'EINVAL');
    } finally {
      vm.close();
    }
  });
});

describe('v5.17: no VM types, no KVM_SEV_INIT2; KVM_SEV_ES_INIT on a default VM', () => {
  for (const profile of ['prefix', 'seed'] as const) {
    it(`[${profile}] KVM_CAP_VM_TYPES is 0 and KVM_CREATE_VM(KVM_X86_SEV_ES_VM) is EINVAL (kvm_arch_init_vm)`, () => {
      const w = openSevKvm(profile);
      assert.equal(w.kvm.checkExtension(KVM_CAP_VM_TYPES), 0);
      assert.equal(errnoOf(w.kvm.createVm(KVM_X86_SEV_ES_VM)), 'EINVAL');
    });

    it(`[${profile}] KVM_SEV_INIT2 is an unknown command: EINVAL, even with a valid struct kvm_sev_init`, () => {
      const w = openSevKvm(profile);
      const vm = w.kvm.createVm() as ModelVmFd;
      assert.equal(errnoOf(sevInit2(vm, w.host)), 'EINVAL');
      assert.equal(errnoOf(sevInit2(vm, w.host, { ghcbVersion: 1 })), 'EINVAL');
      assert.equal(sevEsInit(vm), undefined, 'the VM was left uninitialised');
      vm.close();
    });

    it(`[${profile}] KVM_SEV_ES_INIT: GHCB version 1 (SEV_INFO max 1); after KVM_CREATE_VCPU it is EINVAL`, () => {
      const w = openSevKvm(profile);
      const vm = w.kvm.createVm() as ModelVmFd;
      assert.equal(sevEsInit(vm), undefined);
      vm.createVcpu(0);
      assert.equal(w.guests.cpu(0)!.protectedState, true);
      assert.equal(w.guests.cpu(0)!.ghcbMsr, sevInfo(1));
      vm.close();
      const late = w.kvm.createVm() as ModelVmFd;
      late.createVcpu(0);
      assert.equal(errnoOf(sevEsInit(late)), 'EINVAL');
      assert.equal(w.guests.cpu(0)!.protectedState, false, 'its vCPU was created as a plain one');
      late.close();
    });
  }

  for (const [profile, errno] of [
    ['seed', 'EBUSY'],
    ['current', 'EINVAL'],
  ] as const) {
    it(`[${profile}] a second KVM_SEV_ES_INIT is ${errno} (v5.17 sev_guest_init: \`ret = -EBUSY; if (sev->active)\`; 6.10+ __sev_guest_init: -EINVAL)`, () => {
      const w = openSevKvm(profile);
      const vm = w.kvm.createVm() as ModelVmFd;
      assert.equal(sevEsInit(vm), undefined);
      try {
        assert.equal(errnoOf(sevEsInit(vm)), errno);
        // created_vcpus is checked before sev->active: EINVAL on every kernel.
        vm.createVcpu(0);
        assert.equal(errnoOf(sevEsInit(vm)), 'EINVAL');
      } finally {
        vm.close();
      }
    });
  }
});

describe('commands on a VM that is no SEV guest: ENOTTY; unknown ids: EINVAL', () => {
  for (const profile of PROFILES) {
    it(`[${profile}] LAUNCH_START, LAUNCH_UPDATE_VMSA, LAUNCH_MEASURE on a default VM: ENOTTY (!sev_guest)`, () => {
      const w = openSevKvm(profile);
      const vm = w.kvm.createVm() as ModelVmFd;
      for (const id of [KVM_SEV_LAUNCH_START, KVM_SEV_LAUNCH_UPDATE_VMSA, KVM_SEV_LAUNCH_MEASURE]) {
        assert.equal(errnoOf(encOp(vm, id)), 'ENOTTY', `command ${id}`);
      }
      assert.equal(errnoOf(encOp(vm, KVM_SEV_NR_MAX)), 'EINVAL');
      assert.equal(errnoOf(encOp(vm, 0xffff)), 'EINVAL');
      vm.close();
    });
  }
});

describe('the path the VMM takes (src/vmm/vmm.ts createVm) works end to end', () => {
  for (const profile of PROFILES) {
    it(`[${profile}] ${profile === 'current' ? 'KVM_X86_SEV_ES_VM + KVM_SEV_INIT2' : 'KVM_CREATE_VM(0) + KVM_SEV_ES_INIT'}, then a vCPU: an SEV-ES vCPU that runs its guest to HLT`, () => {
      const w = openSevKvm(profile);
      const vm = w.kvm.createVm(profile === 'current' ? KVM_X86_SEV_ES_VM : KVM_X86_DEFAULT_VM) as ModelVmFd;
      assert.equal(profile === 'current' ? sevInit2(vm, w.host) : sevEsInit(vm), undefined);
      const vcpu = vm.createVcpu(0);
      if (vcpu instanceof Errno) assert.fail(`KVM_CREATE_VCPU: ${vcpu}`);
      assert.equal(w.guests.cpu(0)!.protectedState, true);
      launchSevEsVm(w, vm);
      runExits(vcpu, 'Hlt');
      assert.equal(w.guests.finished(0), true);
      vcpu.close();
      vm.close();
    });
  }
});
