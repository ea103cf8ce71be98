/**
 * sev_handle_vmgexit: a VMGEXIT with the GHCB MSR naming a GHCB page. Map the page, take what KVM
 * acts on (live page or snapshot, per profile), validate (sev_es_validate_vmgexit), load registers
 * (sev_es_sync_from_ghcb), preset success, dispatch. The page stays mapped until the next entry.
 */
import { VCPU_REGS_RAX, VCPU_REGS_RBX, VCPU_REGS_RCX, VCPU_REGS_RDX, VCPU_REGS_RSI } from '../cpu/backend.js';
import {
  KVM_EXIT_AP_RESET_HOLD,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_SYSTEM_EVENT_SEV_TERM,
} from '../uapi/exit-reasons.js';
import {
  GHCB_ERR_INVALID_EVENT,
  GHCB_ERR_INVALID_INPUT,
  GHCB_ERR_INVALID_USAGE,
  GHCB_ERR_MISSING_INPUT,
  GHCB_HV_FT_SUPPORTED,
  GHCB_MSR_INFO_MASK,
  GHCB_OFF_CPL,
  GHCB_OFF_RAX,
  GHCB_OFF_RBX,
  GHCB_OFF_RCX,
  GHCB_OFF_RDX,
  GHCB_OFF_RSI,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_SW_SCRATCH,
  GHCB_OFF_USAGE,
  GHCB_OFF_XCR0,
} from '../uapi/ghcb.js';
import { KVM_RUN_OFF_SYSTEM_EVENT_NDATA, KVM_RUN_OFF_SYSTEM_EVENT_TYPE } from '../uapi/kvm-run.js';
import {
  SVM_EXIT_CPUID,
  SVM_EXIT_INVD,
  SVM_EXIT_IOIO,
  SVM_EXIT_IRET,
  SVM_EXIT_MONITOR,
  SVM_EXIT_MSR,
  SVM_EXIT_MWAIT,
  SVM_EXIT_RDPMC,
  SVM_EXIT_RDTSC,
  SVM_EXIT_RDTSCP,
  SVM_EXIT_READ_DR7,
  SVM_EXIT_VMMCALL,
  SVM_EXIT_WBINVD,
  SVM_EXIT_WRITE_DR7,
  SVM_IOIO_STR_MASK,
  SVM_IOIO_TYPE_MASK,
  SVM_VMGEXIT_AP_CREATION,
  SVM_VMGEXIT_AP_HLT_LOOP,
  SVM_VMGEXIT_AP_JUMP_TABLE,
  SVM_VMGEXIT_EXT_GUEST_REQUEST,
  SVM_VMGEXIT_GUEST_REQUEST,
  SVM_VMGEXIT_HV_FEATURES,
  SVM_VMGEXIT_MMIO_READ,
  SVM_VMGEXIT_MMIO_WRITE,
  SVM_VMGEXIT_NMI_COMPLETE,
  SVM_VMGEXIT_PSC,
  SVM_VMGEXIT_TERM_REQUEST,
  SVM_VMGEXIT_UNSUPPORTED_EVENT,
} from '../uapi/svm.js';
import { u64Lo } from '../uapi/u64.js';
import { GhcbAccess } from './ghcb-access.js';
import { sevEsMmio } from './mmio.js';
import { sevHandleVmgexitMsrProtocol } from './msr-protocol.js';
import type { SevEsVcpu } from './sev-es-vcpu.js';

const EINVAL = -22;
const TWO53 = 2n ** 53n;

/**
 * A 64-bit VMCB field as the number the generic handlers read: exact below 2^53; above, the low 32
 * bits are kept (all that IOIO decoding reads) and the value stays non-zero (all MSR reads test).
 */
function controlNumber(v: bigint): number {
  return v < TWO53 ? Number(v) : Number(v & 0xffff_ffffn) + 2 ** 52;
}

/** The SVM exit handler for SVM_EXIT_VMGEXIT. */
export function sevHandleVmgexit(sev: SevEsVcpu): number {
  const vcpu = sev.vcpu;
  const msr = vcpu.backend.ghcbMsr;
  if (u64Lo(msr) & GHCB_MSR_INFO_MASK) return sevHandleVmgexitMsrProtocol(sev);
  // No GHCB, or one KVM cannot map: log and resume the guest, writing nothing.
  if (msr === 0n) return 1;
  const gfn = msr >> 12n;
  const map = gfn < TWO53 ? vcpu.vm.mapGuestPage(Number(gfn)) : undefined;
  if (!map) return 1;
  const ghcb = new GhcbAccess(map.page);
  sev.ghcbMap = map;
  sev.ghcb = ghcb;
  const trace = vcpu.vm.trace;
  if (trace) {
    trace({
      name: 'kvm_vmgexit_enter',
      vcpu: vcpu.id,
      exitCode: ghcb.get(GHCB_OFF_SW_EXIT_CODE),
      info1: ghcb.get(GHCB_OFF_SW_EXIT_INFO_1),
      info2: ghcb.get(GHCB_OFF_SW_EXIT_INFO_2),
    });
  }
  if (sev.profile.snapshotGhcb) {
    sevEsSyncFromGhcb(sev);
    if (!sevEsValidateVmgexit(sev)) return 1;
  } else {
    sev.exitCode = ghcb.get(GHCB_OFF_SW_EXIT_CODE);
    sev.exitInfo1 = ghcb.get(GHCB_OFF_SW_EXIT_INFO_1);
    sev.exitInfo2 = ghcb.get(GHCB_OFF_SW_EXIT_INFO_2);
    if (!sevEsValidateVmgexit(sev)) return 1;
    sevEsSyncFromGhcb(sev);
  }
  sev.setExitInfo(0n, 0n);
  return dispatch(sev);
}

/**
 * sev_es_sync_from_ghcb: zero the register array, load RAX/RBX/RCX/RDX/RSI (when valid), CPL, the
 * exit code and infos; current first copies the save area into the private snapshot. The GHCB
 * valid bitmap is cleared in the guest's page.
 */
export function sevEsSyncFromGhcb(sev: SevEsVcpu): void {
  const ghcb = sev.ghcb!;
  if (sev.profile.snapshotGhcb) {
    sev.snapshot.bytes.set(ghcb.bytes.subarray(0, sev.snapshot.bytes.length));
  }
  const src = sev.source;
  const vcpu = sev.vcpu;
  const regs = vcpu.regs;
  regs.fill(0n);
  regs[VCPU_REGS_RAX] = src.getIfValid(GHCB_OFF_RAX);
  regs[VCPU_REGS_RBX] = src.getIfValid(GHCB_OFF_RBX);
  regs[VCPU_REGS_RCX] = src.getIfValid(GHCB_OFF_RCX);
  regs[VCPU_REGS_RDX] = src.getIfValid(GHCB_OFF_RDX);
  regs[VCPU_REGS_RSI] = src.getIfValid(GHCB_OFF_RSI);
  vcpu.cpl = src.isValid(GHCB_OFF_CPL) ? src.getU8(GHCB_OFF_CPL) : 0;
  // XCR0 (and XSS in current) would be loaded here; sevbox's CPUID table does not depend on them.
  sev.exitCode = src.get(GHCB_OFF_SW_EXIT_CODE);
  sev.exitInfo1 = src.get(GHCB_OFF_SW_EXIT_INFO_1);
  sev.exitInfo2 = src.get(GHCB_OFF_SW_EXIT_INFO_2);
  vcpu.exitCode = controlNumber(sev.exitCode);
  vcpu.exitInfo1 = controlNumber(sev.exitInfo1);
  vcpu.exitInfo2 = controlNumber(sev.exitInfo2);
  if (sev.profile.snapshotGhcb) sev.swScratch = src.getIfValid(GHCB_OFF_SW_SCRATCH);
  ghcb.clearValidBitmap();
}

/**
 * sev_es_validate_vmgexit: usage, the three always-required fields, per-exit required fields, known
 * exit code. On failure the error is reflected (prefix/seed also clear the valid bitmap) and false
 * is returned: the handler then resumes the guest.
 */
export function sevEsValidateVmgexit(sev: SevEsVcpu): boolean {
  const profile = sev.profile;
  const src = sev.source;
  const fail = (error: number, why: string): boolean => {
    if (!profile.snapshotGhcb) sev.ghcb!.clearValidBitmap();
    sev.badInput(error, why);
    return false;
  };
  // ghcb_usage is read from the mapped page in every kernel.
  if (sev.ghcb!.getU32(GHCB_OFF_USAGE) !== 0) return fail(GHCB_ERR_INVALID_USAGE, 'usage');
  if (
    !src.isValid(GHCB_OFF_SW_EXIT_CODE) ||
    !src.isValid(GHCB_OFF_SW_EXIT_INFO_1) ||
    !src.isValid(GHCB_OFF_SW_EXIT_INFO_2)
  ) {
    return fail(GHCB_ERR_MISSING_INPUT, 'missing-input');
  }
  const code = sev.exitCode;
  const info1 = sev.exitInfo1;
  const need = (...offsets: number[]): boolean => offsets.every((o) => src.isValid(o));
  const missing = (): boolean => fail(GHCB_ERR_MISSING_INPUT, 'missing-input');
  if (code > 0xffff_ffffn) return fail(GHCB_ERR_INVALID_EVENT, 'invalid-event');
  switch (Number(code)) {
    case SVM_EXIT_READ_DR7:
    case SVM_EXIT_RDTSC:
    case SVM_EXIT_INVD:
    case SVM_EXIT_RDTSCP:
    case SVM_EXIT_WBINVD:
    case SVM_VMGEXIT_NMI_COMPLETE:
    case SVM_VMGEXIT_AP_HLT_LOOP:
    case SVM_VMGEXIT_AP_JUMP_TABLE:
    case SVM_VMGEXIT_UNSUPPORTED_EVENT:
      return true;
    case SVM_EXIT_WRITE_DR7:
      return need(GHCB_OFF_RAX) || missing();
    case SVM_EXIT_RDPMC:
      return need(GHCB_OFF_RCX) || missing();
    case SVM_EXIT_CPUID: {
      if (!need(GHCB_OFF_RAX, GHCB_OFF_RCX)) return missing();
      // prefix/seed test the raw RAX in the page; current the RAX just loaded (valid, so equal).
      if (src.get(GHCB_OFF_RAX) === 0xdn && !need(GHCB_OFF_XCR0)) return missing();
      return true;
    }
    case SVM_EXIT_IOIO:
      if (info1 & BigInt(SVM_IOIO_STR_MASK)) return need(GHCB_OFF_SW_SCRATCH) || missing();
      if (!(info1 & BigInt(SVM_IOIO_TYPE_MASK))) return need(GHCB_OFF_RAX) || missing();
      return true;
    case SVM_EXIT_MSR:
      if (!need(GHCB_OFF_RCX)) return missing();
      if (info1 !== 0n && !need(GHCB_OFF_RAX, GHCB_OFF_RDX)) return missing();
      return true;
    case SVM_EXIT_VMMCALL:
      return need(GHCB_OFF_RAX, GHCB_OFF_CPL) || missing();
    case SVM_EXIT_MONITOR:
      return need(GHCB_OFF_RAX, GHCB_OFF_RCX, GHCB_OFF_RDX) || missing();
    case SVM_EXIT_MWAIT:
      return need(GHCB_OFF_RAX, GHCB_OFF_RCX) || missing();
    case SVM_VMGEXIT_MMIO_READ:
    case SVM_VMGEXIT_MMIO_WRITE:
      return need(GHCB_OFF_SW_SCRATCH) || missing();
    case SVM_VMGEXIT_HV_FEATURES:
    case SVM_VMGEXIT_TERM_REQUEST:
      return profile.v2Events || fail(GHCB_ERR_INVALID_EVENT, 'invalid-event');
    case SVM_VMGEXIT_PSC:
    case SVM_VMGEXIT_GUEST_REQUEST:
    case SVM_VMGEXIT_EXT_GUEST_REQUEST:
    case SVM_VMGEXIT_AP_CREATION:
      // SNP-only events; sevbox models SEV-ES guests, never SNP ones.
      return profile.snpEventsFromEs === 'missing-input'
        ? missing()
        : fail(GHCB_ERR_INVALID_EVENT, 'invalid-event');
    default:
      return fail(GHCB_ERR_INVALID_EVENT, 'invalid-event');
  }
}

/** The switch on the exit code after validation; everything else goes to the SVM exit handlers. */
function dispatch(sev: SevEsVcpu): number {
  const vcpu = sev.vcpu;
  const profile = sev.profile;
  const code = Number(sev.exitCode);
  switch (code) {
    case SVM_VMGEXIT_MMIO_READ:
    case SVM_VMGEXIT_MMIO_WRITE: {
      const len = sev.exitInfo2;
      if (profile.ignoreZeroLength && len === 0n) return 1;
      if (profile.v2Restrictions && sev.vm.ghcbVersion >= 2 && len > 8n) {
        sev.badInput(GHCB_ERR_INVALID_INPUT, 'mmio-length');
        return 1;
      }
      return sevEsMmio(sev, code === SVM_VMGEXIT_MMIO_WRITE, sev.exitInfo1, len);
    }
    case SVM_VMGEXIT_NMI_COMPLETE:
      return profile.nmiComplete === 'iret' ? vcpu.invokeExitHandler(SVM_EXIT_IRET) : 1;
    case SVM_VMGEXIT_AP_HLT_LOOP:
      sev.apResetHoldType = 'nae-event';
      return kvmEmulateApResetHold(sev);
    case SVM_VMGEXIT_AP_JUMP_TABLE:
      if (sev.exitInfo1 === 0n) sev.vm.apJumpTable = sev.exitInfo2;
      else if (sev.exitInfo1 === 1n) sev.setExitInfo(0n, sev.vm.apJumpTable);
      else sev.badInput(GHCB_ERR_INVALID_INPUT, 'ap-jump-table');
      return 1;
    case SVM_VMGEXIT_HV_FEATURES:
      sev.setExitInfo(0n, GHCB_HV_FT_SUPPORTED);
      return 1;
    case SVM_VMGEXIT_TERM_REQUEST:
      return sevTerminate(sev, vcpu.backend.ghcbMsr);
    case SVM_VMGEXIT_UNSUPPORTED_EVENT:
      return EINVAL;
    case SVM_EXIT_IOIO:
      // current, May 2026: a size field of 0 is ignored before io_interception runs.
      if (profile.ignoreZeroLength && (sev.exitInfo1 & 0x70n) === 0n) return 1;
      return vcpu.invokeExitHandler(code);
    default:
      return vcpu.invokeExitHandler(code);
  }
}

/**
 * kvm_emulate_ap_reset_hold: without an in-kernel local APIC (sevbox's vCPUs have none) the hold
 * is an exit to userspace, KVM_EXIT_AP_RESET_HOLD; the VMM re-runs the vCPU when it is woken.
 */
export function kvmEmulateApResetHold(sev: SevEsVcpu): number {
  sev.vcpu.runArea.exitReason = KVM_EXIT_AP_RESET_HOLD;
  return 0;
}

/** KVM_EXIT_SYSTEM_EVENT / KVM_SYSTEM_EVENT_SEV_TERM with data[0] = the GHCB MSR value. */
export function sevTerminate(sev: SevEsVcpu, ghcbMsr: bigint): number {
  const run = sev.vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_SYSTEM_EVENT;
  run.setU32(KVM_RUN_OFF_SYSTEM_EVENT_TYPE, KVM_SYSTEM_EVENT_SEV_TERM);
  run.setU32(KVM_RUN_OFF_SYSTEM_EVENT_NDATA, 1);
  run.setDataWord(0, ghcbMsr);
  return 0;
}
