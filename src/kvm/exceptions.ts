/**
 * The exception intercepts init_vmcb sets for every vCPU (arch/x86/kvm/svm/svm.c: db_interception,
 * ud_interception → handle_ud, ac_interception, mc_interception): the CPU reports exit code
 * SVM_EXIT_EXCP_BASE + vector instead of delivering the exception, with the error code in
 * exit_info_1. KVM gives the guest the exception it would have taken (or, for #MC, handles it on the
 * host), by event injection at the next entry.
 */
import { SAVE_CS, SAVE_DR6, SAVE_DR7, SAVE_RIP } from '../cpu/backend.js';
import { KVM_EXIT_DEBUG } from '../uapi/exit-reasons.js';
import { KVM_GUESTDBG_SINGLESTEP, KVM_GUESTDBG_USE_HW_BP } from '../uapi/guest-debug.js';
import {
  KVM_RUN_OFF_DEBUG_DR6,
  KVM_RUN_OFF_DEBUG_DR7,
  KVM_RUN_OFF_DEBUG_EXCEPTION,
  KVM_RUN_OFF_DEBUG_PC,
} from '../uapi/kvm-run.js';
import { AC_VECTOR, DB_VECTOR, UD_VECTOR } from '../uapi/svm.js';
import { kvmQueueException, kvmQueueExceptionP } from './cache-regs.js';
import { DR6_ACTIVE_LOW } from './debugreg.js';
import type { Vcpu } from './vcpu.js';

/**
 * db_interception: a #DB. Without a debugger single-stepping or using hardware breakpoints, it is the
 * guest's: re-injected, its cause (the CPU's DR6, which ran as DR6_ACTIVE_LOW) delivered into the
 * guest's DR6 (kvm_queue_exception_p). With one, KVM_EXIT_DEBUG with DR6, DR7 and CS.base + RIP.
 * (KVM also single-steps over an NMI-window IRET here; the model opens that window with the IRET
 * intercept instead.)
 */
export function dbInterception(vcpu: Vcpu): number {
  const save = vcpu.vmcb.save;
  if (!(vcpu.guestDebug & (KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_USE_HW_BP))) {
    const payload = BigInt(save.getUint32(SAVE_DR6, true)) ^ DR6_ACTIVE_LOW;
    kvmQueueExceptionP(vcpu, DB_VECTOR, payload);
    return 1;
  }
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_DEBUG;
  run.setU64(KVM_RUN_OFF_DEBUG_DR6, save.getBigUint64(SAVE_DR6, true));
  run.setU64(KVM_RUN_OFF_DEBUG_DR7, save.getBigUint64(SAVE_DR7, true));
  run.setU64(
    KVM_RUN_OFF_DEBUG_PC,
    BigInt.asUintN(64, save.getBigUint64(SAVE_CS + 8, true) + save.getBigUint64(SAVE_RIP, true)),
  );
  run.setU32(KVM_RUN_OFF_DEBUG_EXCEPTION, DB_VECTOR);
  return 0;
}

/**
 * ud_interception → handle_ud: KVM's emulator looks at the faulting instruction and emulates only
 * the few it marks EmulateOnUD (VMCALL/VMMCALL of the other vendor, cross-vendor SYSCALL/SYSENTER);
 * the model's emulator has none of them, so, as KVM does for every other instruction, the #UD goes
 * back to the guest (the instruction is not retired). Without force_emulation_prefix (off by
 * default) there is no "ud2; kvm" prefix to look for. KVM cannot look at an SEV-ES guest's
 * instruction (and does not intercept its #UD).
 */
export function udInterception(vcpu: Vcpu): number {
  if (vcpu.guestStateProtected) return 1;
  kvmQueueException(vcpu, UD_VECTOR);
  return 1;
}

/** ac_interception: an alignment check is the guest's: #AC(0) re-injected. */
export function acInterception(vcpu: Vcpu): number {
  kvmQueueException(vcpu, AC_VECTOR, 0);
  return 1;
}

/**
 * mc_interception: a machine check is the host's (svm_handle_mce runs the host's #MC handler right
 * after the #VMEXIT; the model's host has none); the guest gets nothing and re-enters.
 */
export function mcInterception(_vcpu: Vcpu): number {
  return 1;
}
