/**
 * sev_handle_vmgexit: a VMGEXIT with the GHCB MSR naming a GHCB page. Map the page, take what KVM
 * acts on (live page or snapshot, per profile), validate (sev_es_validate_vmgexit), load registers
 * (sev_es_sync_from_ghcb), preset success, dispatch. The page stays mapped until the next entry.
 */
import {
  NR_VCPU_REGS,
  REG_HI,
  REG_LO,
  VCPU_REGS_RAX,
  VCPU_REGS_RBX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDX,
  VCPU_REGS_RSI,
} from '../cpu/backend.js';
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
import { isU64, u64Split, u64SplitHi } from '../uapi/u64.js';
import type { GhcbAccess } from './ghcb-access.js';
import { sevEsMmio } from './mmio.js';
import { sevHandleVmgexitMsrProtocol } from './msr-protocol.js';
import { reportGhcbMapFault } from './restart.js';
import type { SevEsVcpu } from './sev-es-vcpu.js';

const EINVAL = -22;
const TWO53 = 2n ** 53n;

/**
 * A 64-bit VMCB field (as halves) as the number the generic handlers read: exact below 2^53; above,
 * the low 32 bits are kept (all that IOIO decoding reads) and the value stays non-zero (all MSR
 * reads test).
 */
function controlNumber(lo: number, hi: number): number {
  return hi < 0x20_0000 ? hi * 0x1_0000_0000 + lo : lo + 2 ** 52;
}

/** The SVM exit handler for SVM_EXIT_VMGEXIT. */
export function sevHandleVmgexit(sev: SevEsVcpu): number {
  const vcpu = sev.vcpu;
  const msr = vcpu.backend.ghcbMsr;
  const lo = u64Split(msr);
  if (lo & GHCB_MSR_INFO_MASK) return sevHandleVmgexitMsrProtocol(sev, lo, u64SplitHi());
  // No GHCB, or one KVM cannot map: log and resume the guest, writing nothing.
  if (msr === 0n) return 1;
  let gfn: number;
  if (isU64(msr)) {
    gfn = u64SplitHi() * 0x10_0000 + (lo >>> 12);
  } else {
    // Not a u64 (a hostile backend value): the gfn as the BigInt shift gives it, if it is a number.
    const g = msr >> 12n;
    gfn = g < TWO53 ? Number(g) : -1;
  }
  if (gfn < 0) return 1;
  // sevbox extension: with KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO an unmappable GHCB is reported (else 1).
  if (!sev.mapGhcb(gfn)) return reportGhcbMapFault(sev, gfn);
  const ghcb = sev.ghcb!;
  // The valid bitmap as it is now: what sync snapshots (current) and validation reads (all kernels;
  // prefix/seed read the live page, which nothing changes before sync).
  ghcb.readBitmap(sev.validBits);
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
    loadExitFields(sev, ghcb);
    if (!sevEsValidateVmgexit(sev)) return 1;
    sevEsSyncFromGhcb(sev);
  }
  sev.setExitInfoZero();
  return sevDispatchVmgexit(sev);
}

/** sw_exit_code, sw_exit_info_1 and sw_exit_info_2 from the page into the vCPU's SEV-ES state. */
function loadExitFields(sev: SevEsVcpu, ghcb: GhcbAccess): void {
  const dv = ghcb.view;
  sev.exitCodeLo = dv.getUint32(GHCB_OFF_SW_EXIT_CODE, true);
  sev.exitCodeHi = dv.getUint32(GHCB_OFF_SW_EXIT_CODE + 4, true);
  sev.exitInfo1Lo = dv.getUint32(GHCB_OFF_SW_EXIT_INFO_1, true);
  sev.exitInfo1Hi = dv.getUint32(GHCB_OFF_SW_EXIT_INFO_1 + 4, true);
  sev.exitInfo2Lo = dv.getUint32(GHCB_OFF_SW_EXIT_INFO_2, true);
  sev.exitInfo2Hi = dv.getUint32(GHCB_OFF_SW_EXIT_INFO_2 + 4, true);
}

/** What sync leaves in the registers it does not load. */
const ZERO_REGS = new Uint32Array(2 * NR_VCPU_REGS);

/** Whether the field at `offset` is marked in `bits` (valid_bitmap as from GhcbAccess.readBitmap). */
function isSet(bits: Uint32Array, offset: number): boolean {
  return (bits[offset >>> 8]! & (1 << ((offset >>> 3) & 31))) !== 0;
}

/** Load register `reg` from the page's field at `offset` when its valid bit is set (else it stays 0). */
function loadReg(r: Uint32Array, reg: number, bits: Uint32Array, dv: DataView, offset: number): void {
  if (!isSet(bits, offset)) return;
  r[2 * reg + REG_LO] = dv.getUint32(offset, true);
  r[2 * reg + REG_HI] = dv.getUint32(offset + 4, true);
}

/**
 * sev_es_sync_from_ghcb: zero the register array, load RAX/RBX/RCX/RDX/RSI (when valid), CPL, the
 * exit code and infos; current first copies the valid bitmap into its private snapshot and takes
 * sw_scratch, and every later check uses those copies. The GHCB valid bitmap is cleared in the
 * guest's page.
 *
 * current's snapshot holds what KVM reads afterwards: the valid bitmap in `sev.snapshot`, the fields
 * in the registers and the exit fields (read from the page here, so equal to a copy taken now).
 * The valid bits come from `sev.validBits`, read from the page when this VMGEXIT began.
 */
export function sevEsSyncFromGhcb(sev: SevEsVcpu): void {
  const ghcb = sev.ghcb!;
  const dv = ghcb.view;
  const bits = sev.validBits;
  const snapshot = sev.profile.snapshotGhcb;
  if (snapshot) sev.snapshot.writeBitmap(bits);
  const vcpu = sev.vcpu;
  const r = vcpu.regs32;
  r.set(ZERO_REGS);
  loadReg(r, VCPU_REGS_RAX, bits, dv, GHCB_OFF_RAX);
  loadReg(r, VCPU_REGS_RBX, bits, dv, GHCB_OFF_RBX);
  loadReg(r, VCPU_REGS_RCX, bits, dv, GHCB_OFF_RCX);
  loadReg(r, VCPU_REGS_RDX, bits, dv, GHCB_OFF_RDX);
  loadReg(r, VCPU_REGS_RSI, bits, dv, GHCB_OFF_RSI);
  vcpu.cpl = isSet(bits, GHCB_OFF_CPL) ? dv.getUint8(GHCB_OFF_CPL) : 0;
  // XCR0 (and XSS in current) would be loaded here; sevbox's CPUID table does not depend on them.
  loadExitFields(sev, ghcb);
  vcpu.exitCode = controlNumber(sev.exitCodeLo, sev.exitCodeHi);
  vcpu.exitInfo1 = controlNumber(sev.exitInfo1Lo, sev.exitInfo1Hi);
  vcpu.exitInfo2 = controlNumber(sev.exitInfo2Lo, sev.exitInfo2Hi);
  if (snapshot) {
    const scratch = isSet(bits, GHCB_OFF_SW_SCRATCH);
    sev.swScratchLo = scratch ? dv.getUint32(GHCB_OFF_SW_SCRATCH, true) : 0;
    sev.swScratchHi = scratch ? dv.getUint32(GHCB_OFF_SW_SCRATCH + 4, true) : 0;
  }
  ghcb.clearValidBitmap();
}

/** RAX == 0xD for the CPUID check: the loaded register (current) or the page's field (prefix/seed). */
function raxIs0xd(sev: SevEsVcpu): boolean {
  if (sev.profile.snapshotGhcb) {
    const r = sev.vcpu.regs32;
    return r[2 * VCPU_REGS_RAX + REG_LO] === 0xd && r[2 * VCPU_REGS_RAX + REG_HI] === 0;
  }
  const g = sev.ghcb!;
  return g.lo(GHCB_OFF_RAX) === 0xd && g.hi(GHCB_OFF_RAX) === 0;
}

/** Reflect a validation error; prefix/seed also clear the valid bitmap. Returns false. */
function fail(sev: SevEsVcpu, error: number, why: string): boolean {
  if (!sev.profile.snapshotGhcb) sev.ghcb!.clearValidBitmap();
  sev.badInput(error, why);
  return false;
}

function missing(sev: SevEsVcpu): boolean {
  return fail(sev, GHCB_ERR_MISSING_INPUT, 'missing-input');
}

/**
 * sev_es_validate_vmgexit: usage, the three always-required fields, per-exit required fields, known
 * exit code. On failure the error is reflected (prefix/seed also clear the valid bitmap) and false
 * is returned: the handler then resumes the guest.
 */
export function sevEsValidateVmgexit(sev: SevEsVcpu): boolean {
  const profile = sev.profile;
  // The valid bits of this VMGEXIT: current's snapshot, or the live page (unchanged so far).
  const bits = sev.validBits;
  // ghcb_usage is read from the mapped page in every kernel.
  if (sev.ghcb!.getU32(GHCB_OFF_USAGE) !== 0) return fail(sev, GHCB_ERR_INVALID_USAGE, 'usage');
  if (
    !isSet(bits, GHCB_OFF_SW_EXIT_CODE) ||
    !isSet(bits, GHCB_OFF_SW_EXIT_INFO_1) ||
    !isSet(bits, GHCB_OFF_SW_EXIT_INFO_2)
  ) {
    return missing(sev);
  }
  if (sev.exitCodeHi !== 0) return fail(sev, GHCB_ERR_INVALID_EVENT, 'invalid-event');
  const info1Lo = sev.exitInfo1Lo;
  switch (sev.exitCodeLo) {
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
      return isSet(bits, GHCB_OFF_RAX) || missing(sev);
    case SVM_EXIT_RDPMC:
      return isSet(bits, GHCB_OFF_RCX) || missing(sev);
    case SVM_EXIT_CPUID: {
      if (!isSet(bits, GHCB_OFF_RAX) || !isSet(bits, GHCB_OFF_RCX)) return missing(sev);
      // prefix/seed test the raw RAX in the page; current the RAX just loaded (valid, so equal).
      if (raxIs0xd(sev) && !isSet(bits, GHCB_OFF_XCR0)) return missing(sev);
      return true;
    }
    case SVM_EXIT_IOIO:
      if (info1Lo & SVM_IOIO_STR_MASK) return isSet(bits, GHCB_OFF_SW_SCRATCH) || missing(sev);
      if (!(info1Lo & SVM_IOIO_TYPE_MASK)) return isSet(bits, GHCB_OFF_RAX) || missing(sev);
      return true;
    case SVM_EXIT_MSR:
      if (!isSet(bits, GHCB_OFF_RCX)) return missing(sev);
      if ((info1Lo | sev.exitInfo1Hi) !== 0 && !(isSet(bits, GHCB_OFF_RAX) && isSet(bits, GHCB_OFF_RDX)))
        return missing(sev);
      return true;
    case SVM_EXIT_VMMCALL:
      return (isSet(bits, GHCB_OFF_RAX) && isSet(bits, GHCB_OFF_CPL)) || missing(sev);
    case SVM_EXIT_MONITOR:
      return (
        (isSet(bits, GHCB_OFF_RAX) && isSet(bits, GHCB_OFF_RCX) && isSet(bits, GHCB_OFF_RDX)) || missing(sev)
      );
    case SVM_EXIT_MWAIT:
      return (isSet(bits, GHCB_OFF_RAX) && isSet(bits, GHCB_OFF_RCX)) || missing(sev);
    case SVM_VMGEXIT_MMIO_READ:
    case SVM_VMGEXIT_MMIO_WRITE:
      return isSet(bits, GHCB_OFF_SW_SCRATCH) || missing(sev);
    case SVM_VMGEXIT_HV_FEATURES:
    case SVM_VMGEXIT_TERM_REQUEST:
      return profile.v2Events || fail(sev, GHCB_ERR_INVALID_EVENT, 'invalid-event');
    case SVM_VMGEXIT_PSC:
    case SVM_VMGEXIT_GUEST_REQUEST:
    case SVM_VMGEXIT_EXT_GUEST_REQUEST:
    case SVM_VMGEXIT_AP_CREATION:
      // SNP-only events; sevbox models SEV-ES guests, never SNP ones.
      return profile.snpEventsFromEs === 'missing-input'
        ? missing(sev)
        : fail(sev, GHCB_ERR_INVALID_EVENT, 'invalid-event');
    default:
      return fail(sev, GHCB_ERR_INVALID_EVENT, 'invalid-event');
  }
}

/** The switch on the exit code after validation; everything else goes to the SVM exit handlers. */
export function sevDispatchVmgexit(sev: SevEsVcpu): number {
  const vcpu = sev.vcpu;
  const profile = sev.profile;
  // Validation passed, so sw_exit_code fits in 32 bits.
  const code = sev.exitCodeLo;
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
    case SVM_VMGEXIT_AP_JUMP_TABLE: {
      const info1 = sev.exitInfo1;
      if (info1 === 0n) sev.vm.apJumpTable = sev.exitInfo2;
      else if (info1 === 1n) sev.setExitInfo(0n, sev.vm.apJumpTable);
      else sev.badInput(GHCB_ERR_INVALID_INPUT, 'ap-jump-table');
      return 1;
    }
    case SVM_VMGEXIT_HV_FEATURES:
      sev.setExitInfo(0n, GHCB_HV_FT_SUPPORTED);
      return 1;
    case SVM_VMGEXIT_TERM_REQUEST:
      return sevTerminate(sev, vcpu.backend.ghcbMsr);
    case SVM_VMGEXIT_UNSUPPORTED_EVENT:
      return EINVAL;
    case SVM_EXIT_IOIO:
      // current, May 2026: a size field of 0 is ignored before io_interception runs.
      if (profile.ignoreZeroLength && (sev.exitInfo1Lo & 0x70) === 0) return 1;
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
