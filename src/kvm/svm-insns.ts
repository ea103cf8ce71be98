/**
 * The SVM instructions a guest may try (arch/x86/kvm/svm/svm.c: vmrun_interception,
 * vmload/vmsave_interception, stgi/clgi_interception, skinit_interception, invlpga_interception;
 * nested.c: nested_svm_check_permissions). KVM intercepts them all, since their intercepts take
 * priority over the #UD the CPU raises when EFER.SVME is clear, and checks for itself.
 *
 * The model's KVM offers no nested SVM (kvm_amd's `nested` off: EFER.SVME stays in
 * efer_reserved_bits, so a guest can never set it), so every one of them ends in #UD.
 */
import { EFER_SVME, SAVE_CPL, SAVE_EFER } from '../cpu/backend.js';
import { UD_VECTOR } from '../uapi/svm.js';
import { isPaging, kvmInjectGp, kvmQueueException, kvmSkipEmulatedInstruction } from './cache-regs.js';
import { emulationFailure } from './userspace-exits.js';
import type { Vcpu } from './vcpu.js';

/**
 * nested_svm_check_permissions: true when the SVM instruction may run. #UD without EFER.SVME or
 * paging, #GP(0) above CPL 0.
 */
export function nestedSvmCheckPermissions(vcpu: Vcpu): boolean {
  const save = vcpu.vmcb.save;
  if (!(save.getUint32(SAVE_EFER, true) & EFER_SVME) || !isPaging(vcpu)) {
    kvmQueueException(vcpu, UD_VECTOR);
    return false;
  }
  if (save.getUint8(SAVE_CPL)) {
    kvmInjectGp(vcpu);
    return false;
  }
  return true;
}

/**
 * A guest allowed to run VMRUN/VMLOAD/VMSAVE: KVM would run a nested guest or copy VMCB state.
 * Unreachable here (EFER.SVME cannot be set); reported as the emulation failure it would be.
 */
function nestedSvmNotModelled(vcpu: Vcpu): number {
  return emulationFailure(vcpu);
}

/** vmrun_interception: nested_svm_vmrun after the permission check. */
export function vmrunInterception(vcpu: Vcpu): number {
  if (!nestedSvmCheckPermissions(vcpu)) return 1;
  return nestedSvmNotModelled(vcpu);
}

/** vmload_interception / vmsave_interception (vmload_vmsave_interception). */
export function vmloadVmsaveInterception(vcpu: Vcpu): number {
  if (!nestedSvmCheckPermissions(vcpu)) return 1;
  return nestedSvmNotModelled(vcpu);
}

/** stgi_interception / clgi_interception: retire, then set or clear the virtual GIF (svm_set_gif). */
export function gifInterception(vcpu: Vcpu): number {
  if (!nestedSvmCheckPermissions(vcpu)) return 1;
  // svm_set_gif: the model has no GIF (no nested SVM); the instruction is retired.
  return kvmSkipEmulatedInstruction(vcpu);
}

/** skinit_interception: SKINIT is never the guest's: #UD. */
export function skinitInterception(vcpu: Vcpu): number {
  kvmQueueException(vcpu, UD_VECTOR);
  return 1;
}

/**
 * invlpga_interception: #UD without EFER.SVME (the permission check "KVM: SVM: Inject #UD for
 * INVLPGA if EFER.SVME=0", 2026; before it KVM flushed and retired it); otherwise KVM treats it as
 * INVLPG of RAX (32 bits outside long mode), which with nested paging and no guest TLB in the model
 * leaves nothing to flush, and retires it.
 */
export function invlpgaInterception(vcpu: Vcpu): number {
  if (!nestedSvmCheckPermissions(vcpu)) return 1;
  return kvmSkipEmulatedInstruction(vcpu);
}
