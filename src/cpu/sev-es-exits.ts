/**
 * What an intercepted event does in an SEV-ES guest (AMD APM vol. 2, 15.35.4 "Types of Exits" and
 * 15.35.5 "#VC Exception"). Every #VMEXIT is either an automatic exit (AE), which leaves the guest
 * as usual (state saved to the encrypted VMSA, exit_code in the VMCB), or a non-automatic exit
 * (NAE), which instead raises #VC (vector 29) inside the guest with error code = the exit code, so
 * the guest's #VC handler can put what the hypervisor needs into the GHCB and VMGEXIT. Either kind
 * happens only where the VMCB intercepts the event (VMGEXIT itself has no intercept bit). See
 * docs/x86-intercepts.md for the table per exit code and where each fact comes from.
 */
import {
  MC_VECTOR,
  SVM_EXIT_BUS_LOCK,
  SVM_EXIT_CR0_WRITE_TRAP,
  SVM_EXIT_EFER_WRITE_TRAP,
  SVM_EXIT_ERR,
  SVM_EXIT_EXCP_BASE,
  SVM_EXIT_HLT,
  SVM_EXIT_IDLE_HLT,
  SVM_EXIT_INIT,
  SVM_EXIT_INTR,
  SVM_EXIT_NMI,
  SVM_EXIT_NPF,
  SVM_EXIT_PAUSE,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_SMI,
  SVM_EXIT_VINTR,
  SVM_EXIT_VMGEXIT,
} from '../uapi/svm.js';

/** The #VC exception vector (X86_TRAP_VC). */
export const X86_TRAP_VC = 29;

/** APM VMEXIT_BUSY: VMRUN found the VMSA's BUSY bit set. No Linux name. */
export const VMEXIT_BUSY = -2;
/** APM VMEXIT_IDLE_REQUIRED: the sibling thread is not idle. No Linux name. */
export const VMEXIT_IDLE_REQUIRED = -3;
/** APM VMEXIT_INVALID_PMC: invalid PMC state. No Linux name. */
export const VMEXIT_INVALID_PMC = -4;

/**
 * The automatic exits of an SEV-ES guest: AMD APM vol. 2, 15.35.4, Table 15-33 "AE Exitcodes" (read
 * from a transcription of the manual; the AMD PDF itself was not at hand). Every other exit code
 * is a non-automatic exit: where the VMCB intercepts it, the CPU raises #VC with that exit code as
 * the error code instead of exiting. The CR write traps are 0x90-0x9f (CR0-CR15); the negative
 * codes are VMRUN failures (SVM_EXIT_ERR = VMEXIT_INVALID = -1), not intercepts.
 *
 * SVM_EXIT_NPF is automatic only when the fault's error code has no reserved-bit error
 * (PFCODE[3] = 0); a reserved-bit NPF, which KVM arranges for MMIO, is a NAE (#VC with error code
 * 0x400): use {@link sevEsExitIsAutomatic}, which knows this.
 */
export const SEV_ES_AUTOMATIC_EXITS: ReadonlySet<number> = new Set([
  SVM_EXIT_EXCP_BASE + MC_VECTOR,
  SVM_EXIT_INTR,
  SVM_EXIT_NMI,
  SVM_EXIT_SMI,
  SVM_EXIT_INIT,
  SVM_EXIT_VINTR,
  SVM_EXIT_PAUSE,
  SVM_EXIT_HLT,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_EFER_WRITE_TRAP,
  ...Array.from({ length: 16 }, (_, n) => SVM_EXIT_CR0_WRITE_TRAP + n),
  SVM_EXIT_BUS_LOCK,
  SVM_EXIT_IDLE_HLT,
  SVM_EXIT_NPF,
  SVM_EXIT_VMGEXIT,
  SVM_EXIT_ERR,
  VMEXIT_BUSY,
  VMEXIT_IDLE_REQUIRED,
  VMEXIT_INVALID_PMC,
]);

/** PFCODE[3] (the RSV bit of the #PF-style error code in exit_info_1 of SVM_EXIT_NPF). */
const NPF_RSVD = 1 << 3;

/**
 * Is an intercepted event an automatic exit for an SEV-ES guest? `exitInfo1Lo` (bits 31:0 of
 * exit_info_1, the fault's error code) matters for SVM_EXIT_NPF only: a reserved-bit NPF is a NAE.
 * False means the CPU raises #VC(exitCode) in the guest instead of exiting.
 */
export function sevEsExitIsAutomatic(exitCode: number, exitInfo1Lo = 0): boolean {
  if (exitCode === SVM_EXIT_NPF) return (exitInfo1Lo & NPF_RSVD) === 0;
  return SEV_ES_AUTOMATIC_EXITS.has(exitCode);
}
