/**
 * sevbox's extension beyond KVM (not Linux): memory-fault exits with metadata for the host-side
 * guest memory accesses KVM makes for a VMGEXIT, and VMGEXITs that KVM processes again after the
 * VMM has fixed the cause.
 *
 * - KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO: when the scratch copy-in fails (kvm_read_guest), the bounce
 *   buffer cannot be allocated, or the GHCB page cannot be mapped, KVM_RUN still fails with -EFAULT
 *   (-ENOMEM for the allocation) but kvm_run holds KVM_EXIT_MEMORY_FAULT: gpa = the first page KVM
 *   could not access (page aligned, as Linux's page-fault path reports it), size = from that page to
 *   the end of the access in whole pages (so one fix can cover the rest of a multi-page scratch
 *   area), flags = the cause code (bits 32-39), the access (bits 48-55), write (bit 41) and
 *   restartable (bit 40). Without KVM_CAP_SEVBOX_VMGEXIT_RESTART the next KVM_RUN resumes the guest
 *   past its VMGEXIT exactly as KVM does (vmgexit.md section 6): the report is informational.
 * - KVM_CAP_SEVBOX_VMGEXIT_RESTART: KVM keeps a private copy of the request (exit code and infos,
 *   valid bits, the registers it loaded, sw_scratch, current's snapshot) — taken from KVM's own
 *   copies, which hold everything the guest's page held before sync cleared it — and arms it as the
 *   completion of the failed KVM_RUN: the next KVM_RUN processes the same VMGEXIT again from that
 *   copy (no re-validation: KVM accepted it once) instead of unmapping the GHCB and resuming the
 *   guest. If the cause persists it fails again, restartable again; the VMM bounds its retries.
 */

import { VMCB_EXIT_CODE, VMCB_EXIT_INT_INFO } from '../cpu/backend.js';
import type { GuestMemoryFault } from '../kvm/guest-memory.js';
import { KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO, KVM_CAP_SEVBOX_VMGEXIT_RESTART } from '../uapi/caps.js';
import { Errno } from '../uapi/errno.js';
import {
  KVM_EXIT_MEMORY_FAULT,
  type SevboxFaultAccess,
  type SevboxFaultCause,
  sevboxMemoryFaultFlags,
} from '../uapi/exit-reasons.js';
import {
  KVM_RUN_OFF_MEMORY_FAULT_FLAGS,
  KVM_RUN_OFF_MEMORY_FAULT_GPA,
  KVM_RUN_OFF_MEMORY_FAULT_SIZE,
} from '../uapi/kvm-run.js';
import { KVM_MEM_READONLY } from '../uapi/memslot.js';
import type { SevEsVcpu } from './sev-es-vcpu.js';

const PAGE = 4096n;
const EFAULT = -14;

/** The sevbox capabilities enabled on one SEV-ES VM. */
export interface SevboxCaps {
  faultInfo: boolean;
  restart: boolean;
}

/** KVM_ENABLE_CAP for the sevbox capabilities; EINVAL for anything else, non-zero args, or RESTART first. */
export function sevboxEnableCap(caps: SevboxCaps, cap: number, args: readonly bigint[]): Errno | undefined {
  if (args.some((a) => a !== 0n)) return new Errno('EINVAL', `KVM_ENABLE_CAP ${cap}: args must be 0`);
  if (cap === KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO) {
    caps.faultInfo = true;
    return undefined;
  }
  if (cap === KVM_CAP_SEVBOX_VMGEXIT_RESTART) {
    if (!caps.faultInfo)
      return new Errno('EINVAL', 'KVM_CAP_SEVBOX_VMGEXIT_RESTART needs KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO');
    caps.restart = true;
    return undefined;
  }
  return new Errno('EINVAL', `KVM_ENABLE_CAP: capability ${cap} not supported by this VM`);
}

/** KVM's private copy of a VMGEXIT request that failed on the scratch path. */
export interface PendingRestart {
  readonly kind: 'scratch' | 'ghcb-map';
  /** Handles the event again: from the scratch setup with this GPA, or the whole VMGEXIT. */
  readonly again: (scratchGpa: bigint) => number;
  /** The scratch GPA setupScratch used (read live from the page by prefix/seed). */
  readonly scratchGpa: bigint;
  readonly regs: Uint32Array;
  readonly cpl: number;
  /** The VMCB's exit_code, exit_code_hi, exit_info_1 and exit_info_2 as sync wrote them. */
  readonly exitFields: Uint8Array;
  readonly validBits: Uint32Array;
  readonly snapshot: Uint8Array;
  /** current's copy of sw_scratch, as halves. */
  readonly swScratch: readonly [number, number];
}

function capture(
  sev: SevEsVcpu,
  kind: PendingRestart['kind'],
  scratchGpa: bigint,
  again: PendingRestart['again'],
): PendingRestart {
  const v = sev.vcpu;
  const c = v.vmcb.control;
  return {
    kind,
    again,
    scratchGpa,
    regs: v.regs.slice(),
    cpl: v.cpl,
    exitFields: new Uint8Array(
      c.buffer.slice(c.byteOffset + VMCB_EXIT_CODE, c.byteOffset + VMCB_EXIT_INT_INFO),
    ),
    validBits: sev.validBits.slice(),
    snapshot: sev.snapshot.bytes.slice(),
    swScratch: [sev.swScratchLo, sev.swScratchHi],
  };
}

function restore(sev: SevEsVcpu, p: PendingRestart): void {
  const v = sev.vcpu;
  v.regs.set(p.regs);
  v.cpl = p.cpl;
  const c = v.vmcb.control;
  new Uint8Array(c.buffer, c.byteOffset + VMCB_EXIT_CODE, p.exitFields.length).set(p.exitFields);
  sev.swScratchLo = p.swScratch[0];
  sev.swScratchHi = p.swScratch[1];
  sev.validBits.set(p.validBits);
  sev.snapshot.bytes.set(p.snapshot);
}

/** A host fault kind (or no slot / read-only slot) as the cause code of the extension. */
function sevboxCause(cause: GuestMemoryFault['cause']): SevboxFaultCause {
  switch (cause) {
    case 'no-slot':
      return 'no-slot';
    case 'readonly':
      return 'readonly';
    case 'unmapped':
      return 'hva-unmapped';
    case 'missing':
      return 'userfault-missing';
    case 'beyond-eof':
      return 'beyond-eof';
    case 'protection':
      return 'protection';
    default: {
      const never: never = cause;
      return String(never) as SevboxFaultCause;
    }
  }
}

/** Fill kvm_run with KVM_EXIT_MEMORY_FAULT for [page of `gpa`, end) and the sevbox flags. */
function fillMemoryFault(
  sev: SevEsVcpu,
  gpa: bigint,
  end: bigint,
  cause: SevboxFaultCause,
  access: SevboxFaultAccess,
): void {
  const page = gpa - (gpa % PAGE);
  let size = ((end - page + PAGE - 1n) / PAGE) * PAGE;
  if (size < PAGE) size = PAGE;
  const run = sev.vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_MEMORY_FAULT;
  run.setU64(
    KVM_RUN_OFF_MEMORY_FAULT_FLAGS,
    sevboxMemoryFaultFlags(cause, access, { restartable: sev.vm.sevbox.restart }),
  );
  run.setU64(KVM_RUN_OFF_MEMORY_FAULT_GPA, page & 0xffff_ffff_ffff_ffffn);
  run.setU64(KVM_RUN_OFF_MEMORY_FAULT_SIZE, size & 0xffff_ffff_ffff_ffffn);
}

/** Arm the pending restart as the completion of this failed KVM_RUN. */
function arm(sev: SevEsVcpu, p: PendingRestart): void {
  sev.pendingRestart = p;
  sev.vcpu.completeUserspaceIo = () => restartVmgexit(sev);
}

/**
 * setupScratch failed on the host side (-ENOMEM before allocating, or -EFAULT copying in, buffer
 * already freed) on a VM with KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO: report it in kvm_run and, with
 * KVM_CAP_SEVBOX_VMGEXIT_RESTART, keep the request. Returns `errno` for KVM_RUN.
 */
export function reportScratchFault(
  sev: SevEsVcpu,
  errno: number,
  scratchGpa: bigint,
  len: number,
  fault: GuestMemoryFault | undefined,
  again: (scratchGpa: bigint) => number,
): number {
  const end = scratchGpa + BigInt(len);
  if (fault) {
    const at = Number.isSafeInteger(fault.gpa) ? BigInt(fault.gpa) : scratchGpa;
    fillMemoryFault(sev, at, end, sevboxCause(fault.cause), 'scratch-in');
  } else {
    fillMemoryFault(sev, scratchGpa, end, 'nomem', 'scratch-alloc');
  }
  if (sev.vm.sevbox.restart) arm(sev, capture(sev, 'scratch', scratchGpa, again));
  return errno;
}

/**
 * kvm_vcpu_map of the GHCB page failed. KVM logs and resumes the guest (returns 1) unless
 * KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO is on: then -EFAULT with the cause (and, with RESTART, the
 * VMGEXIT is handled from the start on the next KVM_RUN: nothing of it was consumed yet).
 */
export function reportGhcbMapFault(sev: SevEsVcpu, gfn: number, again: () => number): number {
  if (!sev.vm.sevbox.faultInfo) return 1;
  const vm = sev.vcpu.vm;
  const slot = vm.memslotForGpa(gfn * 4096);
  let cause: SevboxFaultCause = 'no-slot';
  if (slot) {
    if (slot.flags & KVM_MEM_READONLY) cause = 'readonly';
    else {
      const v = vm.host.view(slot.userspaceAddr + (gfn - slot.baseGfn) * 4096, 4096, true);
      cause = v instanceof Uint8Array ? 'hva-unmapped' : sevboxCause(v.kind);
    }
  }
  const gpa = BigInt(gfn) * PAGE;
  fillMemoryFault(sev, gpa, gpa + PAGE, cause, 'ghcb-map');
  if (sev.vm.sevbox.restart) arm(sev, capture(sev, 'ghcb-map', 0n, again));
  return EFAULT;
}

/** The completion of a failed VMGEXIT: process the same request again. */
function restartVmgexit(sev: SevEsVcpu): number {
  const p = sev.pendingRestart;
  sev.pendingRestart = undefined;
  if (!p) return 1;
  const vcpu = sev.vcpu;
  const trace = vcpu.vm.trace;
  if (trace) trace({ name: 'sevbox_vmgexit_restart', vcpu: vcpu.id, from: p.kind });
  if (p.kind === 'ghcb-map') return p.again(0n);
  // The GHCB stays mapped across the failed KVM_RUN (nothing unmaps it before the next entry).
  if (!sev.ghcb) return 1;
  restore(sev, p);
  sev.setExitInfoZero();
  return p.again(p.scratchGpa);
}
