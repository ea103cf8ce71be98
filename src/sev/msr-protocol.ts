/**
 * sev_handle_vmgexit_msr_protocol: a VMGEXIT with GHCBInfo (MSR bits 11:0) non-zero. Request and
 * response travel in the GHCB MSR itself (VMCB control ghcb_gpa); nothing touches guest memory.
 * A CPUID response is a read-modify-write of named bit fields, so its other bits keep the request's
 * value; the AP reset hold and hypervisor feature responses (GHCBData [63:12] and GHCBInfo) replace
 * the whole MSR.
 */
import { VCPU_REGS_RAX, VCPU_REGS_RBX, VCPU_REGS_RCX, VCPU_REGS_RDX } from '../cpu/backend.js';
import {
  DEFAULT_CBIT,
  GHCB_HV_FT_SUPPORTED,
  GHCB_MSR_AP_RESET_HOLD_REQ,
  GHCB_MSR_CPUID_REQ,
  GHCB_MSR_CPUID_RESP,
  GHCB_MSR_HV_FT_REQ,
  GHCB_MSR_INFO_MASK,
  GHCB_MSR_PREF_GPA_REQ,
  GHCB_MSR_PSC_REQ,
  GHCB_MSR_REG_GPA_REQ,
  GHCB_MSR_SEV_INFO_REQ,
  GHCB_MSR_TERM_REQ,
  GHCB_VERSION_MIN,
  ghcbMsrApResetHoldResp,
  ghcbMsrHvFtResp,
  ghcbMsrSevInfo,
} from '../uapi/ghcb.js';
import { SVM_EXIT_CPUID } from '../uapi/svm.js';
import { kvmEmulateApResetHold, sevTerminate } from './exits.js';
import type { SevEsVcpu } from './sev-es-vcpu.js';

const EINVAL = -22;
/** The register a CPUID_REQ's [31:30] selects. */
const CPUID_REGS: readonly number[] = [VCPU_REGS_RAX, VCPU_REGS_RBX, VCPU_REGS_RCX, VCPU_REGS_RDX];

/**
 * KVM's AP_RESET_HOLD_RESP preset, "not woken by SIPI": set_ghcb_msr_bits of result [63:12] := 0
 * and GHCBInfo [11:0], which between them cover the whole MSR.
 */
const AP_RESET_HOLD_RESP_NOT_WOKEN = ghcbMsrApResetHoldResp(0n);
/** KVM's HV_FT_RESP: features [63:12] := GHCB_HV_FT_SUPPORTED and GHCBInfo, the whole MSR. */
const HV_FT_RESP_SUPPORTED = ghcbMsrHvFtResp(GHCB_HV_FT_SUPPORTED);

/**
 * Handle one MSR-protocol request; returns 1 (resume), 0 (exit to userspace) or -errno. `lo` and
 * `hi` are bits 31:0 and 63:32 of the GHCB MSR when the caller has split it already.
 */
export function sevHandleVmgexitMsrProtocol(
  sev: SevEsVcpu,
  lo: number = sev.vcpu.vmcb.ghcbGpaLo,
  hi: number = sev.vcpu.vmcb.ghcbGpaHi,
): number {
  const vcpu = sev.vcpu;
  // The GHCB MSR is a VMCB control field: hardware keeps it there, KVM answers in place.
  const vmcb = vcpu.vmcb;
  const profile = sev.profile;
  // GHCBInfo and GHCBData's high half are numbers: no BigInt arithmetic on the common requests.
  const info = lo & GHCB_MSR_INFO_MASK;
  const trace = vcpu.vm.trace;
  if (trace) trace({ name: 'kvm_vmgexit_msr_protocol_enter', vcpu: vcpu.id, ghcbGpa: vmcb.ghcbGpa });
  let ret = 1;
  switch (info) {
    case GHCB_MSR_SEV_INFO_REQ:
      vmcb.ghcbGpa = ghcbMsrSevInfo(sev.vm.ghcbVersion, GHCB_VERSION_MIN, DEFAULT_CBIT);
      break;
    case GHCB_MSR_CPUID_REQ: {
      const r = vcpu.regs;
      r[2 * VCPU_REGS_RAX] = hi;
      r[2 * VCPU_REGS_RAX + 1] = 0;
      r[2 * VCPU_REGS_RCX] = 0;
      r[2 * VCPU_REGS_RCX + 1] = 0;
      ret = vcpu.invokeExitHandler(SVM_EXIT_CPUID);
      if (!ret) break; // error: keep the MSR as it is
      const value = r[2 * CPUID_REGS[(lo >>> 30) & 3]!]!;
      // [63:32] := value, [11:0] := CPUID_RESP; the other bits keep the request's value.
      vmcb.setGhcbGpa((lo & ~GHCB_MSR_INFO_MASK) | GHCB_MSR_CPUID_RESP, value);
      break;
    }
    case GHCB_MSR_AP_RESET_HOLD_REQ:
      if (!profile.msrV2Requests) break;
      sev.apResetHoldType = 'msr-protocol';
      ret = kvmEmulateApResetHold(vcpu);
      // Preset "not woken by SIPI"; a SIPI later sets the result to 1.
      vmcb.ghcbGpa = AP_RESET_HOLD_RESP_NOT_WOKEN;
      break;
    case GHCB_MSR_HV_FT_REQ:
      if (!profile.msrV2Requests) break;
      vmcb.ghcbGpa = HV_FT_RESP_SUPPORTED;
      break;
    case GHCB_MSR_PREF_GPA_REQ:
    case GHCB_MSR_REG_GPA_REQ:
    case GHCB_MSR_PSC_REQ:
      // SNP requests; sevbox guests are SEV-ES, so current terminates them.
      if (profile.msrSnpRequestsTerminate) return traced(sev, terminate(sev));
      break;
    case GHCB_MSR_TERM_REQ:
      return traced(sev, terminate(sev));
    default:
      // Unknown request: the MSR stays as it is and the guest resumes.
      break;
  }
  return traced(sev, ret);
}

/** A termination request: KVM_RUN fails -EINVAL, or KVM_EXIT_SYSTEM_EVENT, per profile. */
function terminate(sev: SevEsVcpu): number {
  if (sev.profile.termination === 'einval') return EINVAL;
  return sevTerminate(sev.vcpu, sev.vcpu.vmcb.ghcbGpa);
}

function traced(sev: SevEsVcpu, ret: number): number {
  const trace = sev.vcpu.vm.trace;
  if (trace) {
    trace({
      name: 'kvm_vmgexit_msr_protocol_exit',
      vcpu: sev.vcpu.id,
      ghcbGpa: sev.vcpu.vmcb.ghcbGpa,
      result: ret,
    });
  }
  return ret;
}
