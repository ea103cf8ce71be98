/**
 * What the hypervisor answered to a GHCB request, read from sw_exit_info_1/2 after VMGEXIT.
 * Linux's verify_exception_info (arch/x86/coco/sev/), but returning a value instead of an
 * es_result, and telling a reflected GHCB_ERR_* apart from other VMM errors.
 */
import {
  GP_VECTOR,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_TYPE_MASK,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VALID_ERR,
  SVM_EVTINJ_VEC_MASK,
  UD_VECTOR,
} from '../uapi/svm.js';

/** What the hypervisor answered in sw_exit_info_1/2 (Linux's verify_exception_info, as a value). */
export type GhcbResult =
  /** sw_exit_info_1[31:0] == 0 (GHCB_HV_RESP_NO_ACTION): success; info2 may carry event data. */
  | { readonly kind: 'ok'; readonly info1: bigint; readonly info2: bigint }
  /**
   * sw_exit_info_1[31:0] == 1 (GHCB_HV_RESP_ISSUE_EXCEPTION) and sw_exit_info_2 is a valid #GP or #UD
   * exception event (SVM_EVTINJ_VALID, type EXEPT): the guest must raise `vector`. `errorCode` is
   * sw_exit_info_2[63:32] when SVM_EVTINJ_VALID_ERR is set.
   */
  | {
      readonly kind: 'exception';
      readonly vector: number;
      readonly errorCode?: number;
      readonly info1: bigint;
      readonly info2: bigint;
    }
  /**
   * sw_exit_info_1[31:0] == 2 (GHCB_HV_RESP_MALFORMED_INPUT): the hypervisor refused the request;
   * `error` is sw_exit_info_2[31:0], a GHCB_ERR_* code when the hypervisor is KVM. Linux guests
   * treat this as ES_VMM_ERROR; it is told apart here because tests want the code.
   */
  | { readonly kind: 'reflected'; readonly error: number; readonly info1: bigint; readonly info2: bigint }
  /** Anything else (including ISSUE_EXCEPTION with an event Linux does not accept): ES_VMM_ERROR. */
  | { readonly kind: 'vmm-error'; readonly info1: bigint; readonly info2: bigint };

const MASK32 = 0xffff_ffffn;
const EVT_VALID = BigInt(SVM_EVTINJ_VALID);
const EVT_VALID_ERR = BigInt(SVM_EVTINJ_VALID_ERR);
const EVT_TYPE_MASK = BigInt(SVM_EVTINJ_TYPE_MASK);
const EVT_TYPE_EXEPT = BigInt(SVM_EVTINJ_TYPE_EXEPT);
const EVT_VEC_MASK = BigInt(SVM_EVTINJ_VEC_MASK);

/**
 * Classifies a response (Linux's verify_exception_info): only the low 32 bits of sw_exit_info_1
 * are looked at; an exception is accepted only for #GP and #UD, as Linux does.
 */
export function verifyExceptionInfo(info1: bigint, info2: bigint): GhcbResult {
  const code = info1 & MASK32;
  if (code === 0n) return { kind: 'ok', info1, info2 };
  if (code === 1n) {
    const vector = Number(info2 & EVT_VEC_MASK);
    if (
      (info2 & EVT_VALID) !== 0n &&
      (vector === GP_VECTOR || vector === UD_VECTOR) &&
      (info2 & EVT_TYPE_MASK) === EVT_TYPE_EXEPT
    ) {
      return (info2 & EVT_VALID_ERR) !== 0n
        ? { kind: 'exception', vector, errorCode: Number((info2 >> 32n) & MASK32), info1, info2 }
        : { kind: 'exception', vector, info1, info2 };
    }
  } else if (code === 2n) {
    return { kind: 'reflected', error: Number(info2 & MASK32), info1, info2 };
  }
  return { kind: 'vmm-error', info1, info2 };
}
