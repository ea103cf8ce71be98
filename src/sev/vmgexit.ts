/**
 * sev_handle_vmgexit: a VMGEXIT with the GHCB MSR naming a GHCB page. Map the page, take what KVM
 * acts on (live page or snapshot, per profile), validate (sev_es_validate_vmgexit), load registers
 * (sev_es_sync_from_ghcb), preset success, dispatch. The page stays mapped until the next entry.
 */
import {
  clearGprs,
  VCPU_REGS_RAX,
  VCPU_REGS_RBX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDX,
  VCPU_REGS_RSI,
} from '../cpu/backend.js';
import { kvmSetXcr0 } from '../kvm/xcr.js';
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
  GHCB_OFF_XSS,
} from '../uapi/ghcb.js';
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
  SVM_IOIO_SIZE_MASK,
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
import { kvmEmulateApResetHold, sevTerminate } from './exits.js';
import { bitMask, bitWord, type GhcbAccess } from './ghcb-access.js';
import { sevEsMmio } from './mmio.js';
import { sevHandleVmgexitMsrProtocol } from './msr-protocol.js';
import { reportGhcbMapFault } from './restart.js';
import type { SevEsVcpu } from './sev-es-vcpu.js';

const EINVAL = -22;
// The valid bit of each field KVM tests, as a bitmap word and a mask (ghcb-access.ts).
const W_RAX = bitWord(GHCB_OFF_RAX);
const M_RAX = bitMask(GHCB_OFF_RAX);
const W_RBX = bitWord(GHCB_OFF_RBX);
const M_RBX = bitMask(GHCB_OFF_RBX);
const W_RCX = bitWord(GHCB_OFF_RCX);
const M_RCX = bitMask(GHCB_OFF_RCX);
const W_RDX = bitWord(GHCB_OFF_RDX);
const M_RDX = bitMask(GHCB_OFF_RDX);
const W_RSI = bitWord(GHCB_OFF_RSI);
const M_RSI = bitMask(GHCB_OFF_RSI);
const W_CPL = bitWord(GHCB_OFF_CPL);
const M_CPL = bitMask(GHCB_OFF_CPL);
const W_XCR0 = bitWord(GHCB_OFF_XCR0);
const M_XCR0 = bitMask(GHCB_OFF_XCR0);
const W_SCRATCH = bitWord(GHCB_OFF_SW_SCRATCH);
const M_SCRATCH = bitMask(GHCB_OFF_SW_SCRATCH);
/** sw_exit_code, sw_exit_info_1 and sw_exit_info_2: three bits of one word. */
const W_EXIT = bitWord(GHCB_OFF_SW_EXIT_CODE);
const M_EXIT =
  bitMask(GHCB_OFF_SW_EXIT_CODE) | bitMask(GHCB_OFF_SW_EXIT_INFO_1) | bitMask(GHCB_OFF_SW_EXIT_INFO_2);
if (bitWord(GHCB_OFF_SW_EXIT_INFO_1) !== W_EXIT || bitWord(GHCB_OFF_SW_EXIT_INFO_2) !== W_EXIT) {
  throw new Error('sw_exit_code/info_1/info_2 valid bits are expected in one bitmap word');
}
const W_XSS = bitWord(GHCB_OFF_XSS);
const M_XSS = bitMask(GHCB_OFF_XSS);

/** The SVM exit handler for SVM_EXIT_VMGEXIT. */
export function sevHandleVmgexit(sev: SevEsVcpu): number {
  const vcpu = sev.vcpu;
  // The GHCB MSR in two 32-bit halves: GHCBInfo and the gfn need no BigInt.
  const lo = vcpu.vmcb.ghcbGpaLo;
  const hi = vcpu.vmcb.ghcbGpaHi;
  let gfn: number;
  if (lo === sev.ghcbMsrSeenLo && hi === sev.ghcbMsrSeenHi) {
    // The GHCB MSR of the last page-based VMGEXIT (a guest re-registers the same GPA every time):
    // known to name a page, and which.
    gfn = sev.ghcbMsrGfn;
  } else {
    if (lo & GHCB_MSR_INFO_MASK) return sevHandleVmgexitMsrProtocol(sev, lo, hi);
    // No GHCB: log and resume the guest, writing nothing.
    if (lo === 0 && hi === 0) return 1;
    gfn = hi * 0x10_0000 + (lo >>> 12);
    sev.ghcbMsrSeenLo = lo;
    sev.ghcbMsrSeenHi = hi;
    sev.ghcbMsrGfn = gfn;
  }
  // sevbox extension: with KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO an unmappable GHCB is reported (else 1).
  if (!sev.mapGhcb(gfn)) return reportGhcbMapFault(sev, gfn, () => sevHandleVmgexit(sev));
  const ghcb = sev.ghcb!;
  // The valid bitmap as it is now: what sync snapshots (current) and validation reads (all kernels;
  // prefix/seed read the live page, which nothing changes before sync).
  const bits = sev.validBits;
  ghcb.readBitmap(bits);
  const trace = vcpu.vm.trace;
  if (trace) {
    trace({
      name: 'kvm_vmgexit_enter',
      vcpu: vcpu.id,
      exitCode: ghcb.get(GHCB_OFF_SW_EXIT_CODE),
      info1: ghcb.get(GHCB_OFF_SW_EXIT_INFO_1),
      info2: ghcb.get(GHCB_OFF_SW_EXIT_INFO_2),
      ghcbGpa: gfn * 4096,
    });
  }
  // The exit fields go to the VMCB first, where validation reads them in every kernel (current's
  // sync writes them there; prefix/seed validate before syncing).
  loadExitFields(sev, ghcb);
  if (sev.profile.snapshotGhcb) {
    sevEsSyncFromGhcb(sev);
    if (!sevEsValidateVmgexit(sev)) return 1;
  } else {
    if (!sevEsValidateVmgexit(sev)) return 1;
    sevEsSyncFromGhcb(sev);
  }
  // svm_vmgexit_success with nothing to report: sw_exit_info_1 = sw_exit_info_2 = 0, both valid.
  sev.setExitInfoZero();
  return sevDispatchVmgexit(sev);
}

/**
 * sw_exit_code, sw_exit_info_1 and sw_exit_info_2 from the page into the VMCB's exit fields (what
 * sync writes to svm->vmcb->control), so validation reads them there in every kernel.
 */
function loadExitFields(sev: SevEsVcpu, ghcb: GhcbAccess): void {
  sev.vcpu.vmcb.setExit(
    ghcb.lo(GHCB_OFF_SW_EXIT_CODE),
    ghcb.lo(GHCB_OFF_SW_EXIT_INFO_1),
    ghcb.hi(GHCB_OFF_SW_EXIT_INFO_1),
    ghcb.lo(GHCB_OFF_SW_EXIT_INFO_2),
    ghcb.hi(GHCB_OFF_SW_EXIT_INFO_2),
    ghcb.hi(GHCB_OFF_SW_EXIT_CODE),
  );
}

/**
 * sev_es_sync_from_ghcb: zero the register array, load RAX/RBX/RCX/RDX/RSI (when valid), CPL,
 * XCR0/XSS; current first copies the valid bitmap into its private snapshot and takes sw_scratch,
 * and every later check uses those copies. The GHCB valid bitmap is cleared in the guest's page.
 * (The kernel's sync also copies the exit code and infos; sevHandleVmgexit has put them in the
 * VMCB before, from the same unchanged page.)
 *
 * current's snapshot holds what KVM reads afterwards: the valid bitmap in `sev.snapshot`, the fields
 * in the registers and the exit fields. The valid bits come from `sev.validBits`, read from the page
 * when this VMGEXIT began; bit tests use precomputed masks.
 */
function sevEsSyncFromGhcb(sev: SevEsVcpu): void {
  const ghcb = sev.ghcb!;
  const bits = sev.validBits;
  const snapshot = sev.profile.snapshotGhcb;
  if (snapshot) sev.snapshot.writeBitmap(bits);
  const vcpu = sev.vcpu;
  const r = vcpu.regs;
  clearGprs(r);
  if (bits[W_RAX]! & M_RAX) {
    r[2 * VCPU_REGS_RAX] = ghcb.lo(GHCB_OFF_RAX);
    r[2 * VCPU_REGS_RAX + 1] = ghcb.hi(GHCB_OFF_RAX);
  }
  if (bits[W_RBX]! & M_RBX) {
    r[2 * VCPU_REGS_RBX] = ghcb.lo(GHCB_OFF_RBX);
    r[2 * VCPU_REGS_RBX + 1] = ghcb.hi(GHCB_OFF_RBX);
  }
  if (bits[W_RCX]! & M_RCX) {
    r[2 * VCPU_REGS_RCX] = ghcb.lo(GHCB_OFF_RCX);
    r[2 * VCPU_REGS_RCX + 1] = ghcb.hi(GHCB_OFF_RCX);
  }
  if (bits[W_RDX]! & M_RDX) {
    r[2 * VCPU_REGS_RDX] = ghcb.lo(GHCB_OFF_RDX);
    r[2 * VCPU_REGS_RDX + 1] = ghcb.hi(GHCB_OFF_RDX);
  }
  if (bits[W_RSI]! & M_RSI) {
    r[2 * VCPU_REGS_RSI] = ghcb.lo(GHCB_OFF_RSI);
    r[2 * VCPU_REGS_RSI + 1] = ghcb.hi(GHCB_OFF_RSI);
  }
  vcpu.cpl = bits[W_CPL]! & M_CPL ? ghcb.getU8(GHCB_OFF_CPL) : 0;
  // XCR0 as the guest sent it: stored as is (v5.17) or through __kvm_set_xcr's checks, an invalid
  // value silently not applied (6.18+); CPUID's runtime bits follow it (src/kvm/cpuid.ts).
  if (bits[W_XCR0]! & M_XCR0) {
    const xcr0 = ghcb.get(GHCB_OFF_XCR0);
    if (sev.profile.ghcbXcr0 === 'checked') kvmSetXcr0(vcpu, xcr0);
    else vcpu.xcr0 = xcr0;
  }
  if (sev.profile.ghcbXss && bits[W_XSS]! & M_XSS) vcpu.xss = ghcb.get(GHCB_OFF_XSS);
  if (snapshot) {
    const scratch = (bits[W_SCRATCH]! & M_SCRATCH) !== 0;
    sev.swScratchLo = scratch ? ghcb.lo(GHCB_OFF_SW_SCRATCH) : 0;
    sev.swScratchHi = scratch ? ghcb.hi(GHCB_OFF_SW_SCRATCH) : 0;
  }
  ghcb.clearValidBitmap();
}

/** RAX == 0xD for the CPUID check: the loaded register (current) or the page's field (prefix/seed). */
function raxIs0xd(sev: SevEsVcpu): boolean {
  if (sev.profile.snapshotGhcb) {
    const r = sev.vcpu.regs;
    return r[2 * VCPU_REGS_RAX] === 0xd && r[2 * VCPU_REGS_RAX + 1] === 0;
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
function sevEsValidateVmgexit(sev: SevEsVcpu): boolean {
  const profile = sev.profile;
  // The valid bits of this VMGEXIT: current's snapshot, or the live page (unchanged so far).
  const bits = sev.validBits;
  // ghcb_usage is read from the mapped page in every kernel.
  if (sev.ghcb!.getU32(GHCB_OFF_USAGE) !== 0) return fail(sev, GHCB_ERR_INVALID_USAGE, 'usage');
  if ((bits[W_EXIT]! & M_EXIT) !== M_EXIT) return missing(sev);
  const vmcb = sev.vcpu.vmcb;
  if (vmcb.exitCodeHi !== 0) return fail(sev, GHCB_ERR_INVALID_EVENT, 'invalid-event');
  const info1Lo = vmcb.exitInfo1Lo;
  const rax = (bits[W_RAX]! & M_RAX) !== 0;
  const rcx = (bits[W_RCX]! & M_RCX) !== 0;
  switch (vmcb.exitCode) {
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
      return rax || missing(sev);
    case SVM_EXIT_RDPMC:
      return rcx || missing(sev);
    case SVM_EXIT_CPUID: {
      if (!rax || !rcx) return missing(sev);
      // prefix/seed test the raw RAX in the page; current the RAX just loaded (valid, so equal).
      if (raxIs0xd(sev) && (bits[W_XCR0]! & M_XCR0) === 0) return missing(sev);
      return true;
    }
    case SVM_EXIT_IOIO:
      if (info1Lo & SVM_IOIO_STR_MASK) return (bits[W_SCRATCH]! & M_SCRATCH) !== 0 || missing(sev);
      if (!(info1Lo & SVM_IOIO_TYPE_MASK)) return rax || missing(sev);
      return true;
    case SVM_EXIT_MSR:
      if (!rcx) return missing(sev);
      if ((info1Lo | vmcb.exitInfo1Hi) !== 0 && !(rax && (bits[W_RDX]! & M_RDX) !== 0)) return missing(sev);
      return true;
    case SVM_EXIT_VMMCALL:
      return (rax && (bits[W_CPL]! & M_CPL) !== 0) || missing(sev);
    case SVM_EXIT_MONITOR:
      return (rax && rcx && (bits[W_RDX]! & M_RDX) !== 0) || missing(sev);
    case SVM_EXIT_MWAIT:
      return (rax && rcx) || missing(sev);
    case SVM_VMGEXIT_MMIO_READ:
    case SVM_VMGEXIT_MMIO_WRITE:
      return (bits[W_SCRATCH]! & M_SCRATCH) !== 0 || missing(sev);
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
function sevDispatchVmgexit(sev: SevEsVcpu): number {
  const vcpu = sev.vcpu;
  const profile = sev.profile;
  // Validation passed, so sw_exit_code fits in 32 bits.
  const code = vcpu.vmcb.exitCode;
  switch (code) {
    case SVM_VMGEXIT_MMIO_READ:
    case SVM_VMGEXIT_MMIO_WRITE: {
      const len = sev.exitInfo2;
      if (profile.ignoreZeroLength && len === 0n) return 1;
      if (profile.v2Restrictions && sev.vm.ghcbVersion >= 2 && len > 8n) {
        sev.badInput(GHCB_ERR_INVALID_INPUT, 'mmio-length');
        return 1;
      }
      return sevEsMmio(sev, code === SVM_VMGEXIT_MMIO_WRITE, sev.exitInfo1, len, sev.scratchGpa);
    }
    case SVM_VMGEXIT_NMI_COMPLETE:
      return profile.nmiComplete === 'iret' ? vcpu.invokeExitHandler(SVM_EXIT_IRET) : 1;
    case SVM_VMGEXIT_AP_HLT_LOOP:
      sev.apResetHoldType = 'nae-event';
      return kvmEmulateApResetHold(sev.vcpu);
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
      return sevTerminate(vcpu, vcpu.vmcb.ghcbGpa);
    case SVM_VMGEXIT_UNSUPPORTED_EVENT:
      return EINVAL;
    case SVM_EXIT_IOIO:
      // current, May 2026: a size field of 0 is ignored before io_interception runs.
      if (profile.ignoreZeroLength && (vcpu.vmcb.exitInfo1Lo & SVM_IOIO_SIZE_MASK) === 0) return 1;
      return vcpu.invokeExitHandler(code);
    default:
      return vcpu.invokeExitHandler(code);
  }
}
