/**
 * KVM_EXIT_SYSTEM_EVENT / KVM_SYSTEM_EVENT_SEV_TERM, decoded. KVM puts the GHCB MSR value in
 * data[0]. For the MSR protocol that value is the request itself (GHCB_MSR_TERM_REQ, reason set in
 * bits 15:12, code in 23:16). For the NAE TERM_REQUEST it is the GHCB's GPA, and the reason was in
 * the GHCB's sw_exit_info_1 ([3:0] set, [11:4] code): userspace may read the shared GHCB page, so
 * the VMM reads it through its own view of RAM. Note that KVM presets sw_exit_info_1/2 to 0
 * (success) before it dispatches the event, as Linux does, so the page no longer holds the
 * guest's reason when userspace looks; the description says so rather than invent one.
 */
import {
  decodeGhcbMsrTermReq,
  GHCB_MSR_INFO_MASK,
  GHCB_MSR_TERM_REQ,
  GHCB_OFF_SW_EXIT_INFO_1,
  sevTermReasonName,
} from '../uapi/ghcb.js';
import { decodeVmgexitTermReason } from '../uapi/svm.js';
import type { GuestRam } from './memory.js';

/** A decoded SEV termination request. */
export interface SevTermination {
  readonly protocol: 'msr' | 'ghcb';
  readonly reasonSet: number;
  readonly reasonCode: number;
  /** False when the reason could not be read (the GHCB page is not readable RAM, or KVM overwrote it). */
  readonly reasonKnown: boolean;
  /** The GHCB's GPA (NAE TERM_REQUEST only). */
  readonly ghcbGpa?: number;
  readonly description: string;
}

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

/** Decode data[0] of a SEV_TERM system event. */
export function decodeSevTermination(data0: bigint, ram: GuestRam): SevTermination {
  if ((data0 & BigInt(GHCB_MSR_INFO_MASK)) === BigInt(GHCB_MSR_TERM_REQ)) {
    const { reasonSet, reasonCode } = decodeGhcbMsrTermReq(data0);
    return {
      protocol: 'msr',
      reasonSet,
      reasonCode,
      reasonKnown: true,
      description: `${sevTermReasonName(reasonSet, reasonCode)} (reason set ${reasonSet}, code ${reasonCode}), requested through the GHCB MSR protocol`,
    };
  }
  const ghcbGpa = Number(data0 & ~0xfffn);
  const info = new Uint8Array(8);
  const err =
    data0 < 2n ** 53n ? ram.read(ghcbGpa + GHCB_OFF_SW_EXIT_INFO_1, info) : { message: 'GPA beyond 2^53' };
  const where = `NAE TERM_REQUEST with the GHCB at ${hex(ghcbGpa)}`;
  if (err) {
    return {
      protocol: 'ghcb',
      reasonSet: 0,
      reasonCode: 0,
      reasonKnown: false,
      ghcbGpa,
      description: `${where}; the reason is unknown: the VMM cannot read the GHCB (${err.message})`,
    };
  }
  const info1 = new DataView(info.buffer).getBigUint64(0, true);
  const { reasonSet, reasonCode } = decodeVmgexitTermReason(info1);
  if (info1 === 0n) {
    return {
      protocol: 'ghcb',
      reasonSet,
      reasonCode,
      reasonKnown: false,
      ghcbGpa,
      description: `${where}; the reason is lost: sw_exit_info_1 reads 0 because KVM wrote success (0) there before handling the request (the guest's reason went only to the host kernel log)`,
    };
  }
  return {
    protocol: 'ghcb',
    reasonSet,
    reasonCode,
    reasonKnown: true,
    ghcbGpa,
    description: `${sevTermReasonName(reasonSet, reasonCode)} (reason set ${reasonSet}, code ${reasonCode}), ${where}`,
  };
}
