/**
 * Per-vCPU SEV-ES state (struct vcpu_sev_es_state): the mapped GHCB, the private snapshot current
 * kernels take, the scratch area (ghcb_sa, ghcb_sa_len, ghcb_sa_sync, ghcb_sa_free) and the
 * in-flight MMIO / string-I/O progress. Wires the VMGEXIT handler and the guest-entry hook into the
 * KVM core.
 */
import { SAVE_XCR0 } from '../cpu/vmcb.js';
import type { HostAllocation } from '../host/allocator.js';
import { kvmQueueException } from '../kvm/cache-regs.js';
import { crTrap, eferTrap } from '../kvm/cr.js';
import { GPA_NUMBER_LIMIT } from '../kvm/memslots.js';
import type { Vcpu } from '../kvm/vcpu.js';
import { GuestPageCache, type GuestPageMapping } from '../kvm/vm.js';
import type { ExitHandler, VcpuTypeOps } from '../kvm/vm-type.js';
import { KVM_EXIT_INTR } from '../uapi/exit-reasons.js';
import {
  GHCB_HV_RESP_ISSUE_EXCEPTION,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_SW_SCRATCH,
} from '../uapi/ghcb.js';
import {
  GP_VECTOR,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_VALID,
  SVM_EXIT_CR0_WRITE_TRAP,
  SVM_EXIT_CR4_WRITE_TRAP,
  SVM_EXIT_CR8_WRITE_TRAP,
  SVM_EXIT_EFER_WRITE_TRAP,
  SVM_EXIT_VMGEXIT,
} from '../uapi/svm.js';
import { u64Join } from '../uapi/u64.js';
import { GhcbAccess } from './ghcb-access.js';
import type { SevProfile } from './profiles.js';
import type { PendingRestart } from './restart.js';
import type { SevEsVm } from './sev-es-vm.js';
import { sevVcpuDeliverSipiVector } from './sipi.js';
import { sevEsStringIo } from './string-io.js';
import { sevHandleVmgexit } from './vmgexit.js';

/** Identical nested page faults KVM resumes before the model calls it a livelock. */
export const LIVELOCK_NPF_REPEATS = 1000;

/** Size of the save area KVM snapshots (current): everything up to and including valid_bitmap. */
export const GHCB_SNAPSHOT_SIZE = 0x408;

/** Which request put the vCPU into AP reset hold (current's ap_reset_hold_type). */
export type ApResetHoldType = 'none' | 'nae-event' | 'msr-protocol';

/** SEV-ES state of one vCPU. */
export class SevEsVcpu implements VcpuTypeOps {
  readonly vcpu: Vcpu;
  readonly vm: SevEsVm;
  readonly profile: SevProfile;
  readonly exitHandlers: ReadonlyMap<number, ExitHandler>;

  /** svm->sev_es.ghcb_map / ghcb: the guest's GHCB page while a VMGEXIT is in progress. */
  ghcbMap: GuestPageMapping | undefined;
  ghcb: GhcbAccess | undefined;
  /**
   * current's private copy of the save area (svm->sev_es.valid_bitmap): sync copies the valid
   * bitmap here; the fields KVM reads land in the registers and the exit fields instead.
   */
  readonly snapshot: GhcbAccess;
  /**
   * The GHCB valid bitmap of the VMGEXIT being handled, as four little-endian u32 words (bit i in
   * word i >> 5), read when it began: what current snapshots and every kernel validates against.
   */
  readonly validBits = new Uint32Array(4);
  /** current: svm->sev_es.sw_scratch, copied at sync time (as halves; `swScratch` reads it). */
  swScratchLo = 0;
  swScratchHi = 0;
  /**
   * The GHCB MSR value (halves; -1: none yet) of the last VMGEXIT that named a GHCB page, and the
   * gfn it names, so a guest re-registering the same GHCB costs one comparison, not a decode.
   */
  ghcbMsrSeenLo = -1;
  ghcbMsrSeenHi = -1;
  ghcbMsrGfn = -1;

  /** Scratch area: a view of the GHCB shared buffer, or of a bounce buffer. */
  ghcbSa: Uint8Array | undefined;
  ghcbSaLen = 0;
  ghcbSaSync = false;
  ghcbSaFree = false;
  /** The bounce buffer's allocation, charged to the host allocator. */
  ghcbSaAlloc: HostAllocation | undefined;

  /** sevbox extension: the VMGEXIT KVM will process again on the next KVM_RUN (restart.ts). */
  pendingRestart: PendingRestart | undefined;

  apResetHoldType: ApResetHoldType = 'none';
  receivedFirstSipi = false;

  /** vcpu->mmio_fragments[0] of an SEV-ES MMIO request in progress. */
  mmioFragment: { gpa: bigint; len: number; data: Uint8Array } | undefined;
  /** vcpu->arch.sev_pio_data / sev_pio_count of a string I/O request in progress. */
  pioData: Uint8Array = new Uint8Array(0);
  pioCount = 0;

  /** The GPA of the last nested page fault KVM could not emulate, and how often it repeated. */
  #npfGpa = -1;
  #npfRepeats = 0;

  /** The GHCB page mapping, kept across VMGEXITs while memslots and host mappings are unchanged. */
  readonly #ghcbCache: GuestPageCache;
  /** The GhcbAccess of the last mapping handed out (one word view per cached page, not per exit). */
  #access: GhcbAccess | undefined;
  #accessMap: GuestPageMapping | undefined;

  constructor(vcpu: Vcpu, vm: SevEsVm, snapshot: GhcbAccess) {
    this.vcpu = vcpu;
    this.vm = vm;
    this.profile = vm.profile;
    this.snapshot = snapshot;
    this.exitHandlers = new Map<number, ExitHandler>([
      [SVM_EXIT_VMGEXIT, () => sevHandleVmgexit(this)],
      // The automatic exits sev_es_init_vmcb asks for (svm_exit_handlers has them for every VM;
      // only an SEV-ES VMCB enables them).
      [SVM_EXIT_EFER_WRITE_TRAP, eferTrap],
      [SVM_EXIT_CR0_WRITE_TRAP, crTrap],
      [SVM_EXIT_CR4_WRITE_TRAP, crTrap],
      [SVM_EXIT_CR8_WRITE_TRAP, crTrap],
    ]);
    this.#ghcbCache = new GuestPageCache(vcpu.vm);
  }

  /** current: svm->sev_es.sw_scratch, copied at sync time. */
  get swScratch(): bigint {
    return u64Join(this.swScratchLo, this.swScratchHi);
  }

  /** sw_exit_code of this VMGEXIT, as sync put it in the VMCB (control.exit_code and exit_code_hi). */
  get exitCode(): bigint {
    const vmcb = this.vcpu.vmcb;
    return u64Join(vmcb.exitCode, vmcb.exitCodeHi);
  }

  /** sw_exit_info_1 of this VMGEXIT (control.exit_info_1). */
  get exitInfo1(): bigint {
    return this.vcpu.vmcb.exitInfo1;
  }

  /** sw_exit_info_2 of this VMGEXIT (control.exit_info_2). */
  get exitInfo2(): bigint {
    return this.vcpu.vmcb.exitInfo2;
  }

  /** The scratch GPA this kernel uses: current's copy of sw_scratch, or (prefix/seed) the live page's. */
  get scratchGpa(): bigint {
    return this.profile.snapshotGhcb ? this.swScratch : this.ghcb!.get(GHCB_OFF_SW_SCRATCH);
  }

  /**
   * kvm_vcpu_map of the GHCB page: sets ghcbMap and ghcb (reusing the cached mapping and its
   * GhcbAccess when still valid) and returns true, or false when the gfn cannot be mapped.
   */
  mapGhcb(gfn: number): boolean {
    const map = this.#ghcbCache.map(gfn);
    if (!map) return false;
    if (map !== this.#accessMap) {
      this.#access = new GhcbAccess(map.page);
      this.#accessMap = map;
    }
    this.ghcbMap = map;
    this.ghcb = this.#access;
    return true;
  }

  /** svm_vmgexit_success / ghcb_set_sw_exit_info_*: write a result into the live GHCB. */
  setExitInfo(info1: bigint, info2: bigint): void {
    const g = this.ghcb!;
    g.set(GHCB_OFF_SW_EXIT_INFO_1, info1);
    g.set(GHCB_OFF_SW_EXIT_INFO_2, info2);
  }

  /** setExitInfo(0, 0): svm_vmgexit_success with nothing to report, without BigInt. */
  setExitInfoZero(): void {
    this.ghcb!.setExitInfoZero();
  }

  /** svm_vmgexit_bad_input: reflect GHCB_ERR_* to the guest. */
  badInput(error: number, why: string): void {
    this.setExitInfo(2n, BigInt(error));
    const trace = this.vcpu.vm.trace;
    if (trace) trace({ name: 'sevbox_ghcb_error', vcpu: this.vcpu.id, exitCode: this.exitCode, error, why });
  }

  prepareSwitchToGuest(): void {
    // sev_es_sync_vmsa syncs the registers the VMCB's save area lacks into the VMSA before
    // LAUNCH_UPDATE_VMSA encrypts it, XCR0 among them (save->xcr0 = svm->vcpu.arch.xcr0). The model
    // launches at the first entry (the CPU takes its VMSA then), so KVM syncs it here once.
    const vcpu = this.vcpu;
    if (!vcpu.hasRun) vcpu.vmcb.save.setBigUint64(SAVE_XCR0, vcpu.xcr0, true);
    sevEsUnmapGhcb(this);
  }

  /** svm_complete_emulated_msr: an SEV-ES guest learns of #GP through the GHCB. */
  completeEmulatedMsr(err: boolean): number {
    if (!err || !this.ghcb) {
      if (err) kvmQueueException(this.vcpu, GP_VECTOR, 0);
      return 1;
    }
    this.setExitInfo(
      BigInt(GHCB_HV_RESP_ISSUE_EXCEPTION),
      BigInt((SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | GP_VECTOR) >>> 0),
    );
    return 1;
  }

  stringIo(size: number, port: number, isIn: boolean): number {
    return sevEsStringIo(this, size, port, isIn, this.scratchGpa);
  }

  deliverSipi(vector: number): void {
    sevVcpuDeliverSipiVector(this, vector);
  }

  /**
   * A write to a read-only memslot (an ordinary nested page fault, not #VC): KVM asks to emulate it
   * and svm_can_emulate_instruction refuses for SEV-ES, so KVM resumes the guest, which faults again,
   * forever (v5.17 and legacy SEV-ES VMs; current refuses such slots for its SEV-ES VM type). The
   * model follows the loop until it is plainly one, then reports it as the VMM's watchdog would see
   * it: KVM_RUN interrupted (EINTR) and a sevbox_livelock trace event.
   */
  cannotEmulate(gpa: number, write: boolean): number {
    const vcpu = this.vcpu;
    if (gpa === this.#npfGpa) this.#npfRepeats++;
    else {
      this.#npfGpa = gpa;
      this.#npfRepeats = 1;
    }
    if (this.#npfRepeats < LIVELOCK_NPF_REPEATS) return 1;
    this.#npfRepeats = 0;
    this.#npfGpa = -1;
    vcpu.vm.trace?.({ name: 'sevbox_livelock', vcpu: vcpu.id, gpa, write, repeats: LIVELOCK_NPF_REPEATS });
    vcpu.runArea.exitReason = KVM_EXIT_INTR;
    return -4; // EINTR
  }

  /** sev_free_vcpu: free a bounce buffer still held; no write-back, no register sync. */
  destroy(): void {
    releaseScratch(this);
    this.pendingRestart = undefined;
  }
}

/** kvfree(ghcb_sa) if KVM owns a bounce buffer. */
function releaseScratch(sev: SevEsVcpu): void {
  if (sev.ghcbSaFree && sev.ghcbSaAlloc) sev.vcpu.vm.allocator.free(sev.ghcbSaAlloc);
  sev.ghcbSaAlloc = undefined;
  sev.ghcbSa = undefined;
  sev.ghcbSaFree = false;
  sev.ghcbSaSync = false;
}

/**
 * sev_es_unmap_ghcb, run before every guest entry: copy a bounce buffer back to guest memory when
 * the event produced data (result ignored, as in Linux), free it, write RAX/RBX/RCX/RDX into the
 * GHCB (sev_es_sync_to_ghcb) and unmap the page.
 */
function sevEsUnmapGhcb(sev: SevEsVcpu): void {
  if (sev.profile.snapshotGhcb) sev.apResetHoldType = 'none';
  const ghcb = sev.ghcb;
  if (!ghcb || !sev.ghcbMap) return;
  const vcpu = sev.vcpu;
  if (sev.ghcbSaFree) {
    if (sev.ghcbSaSync && sev.ghcbSa) {
      // prefix/seed re-read sw_scratch from the page; current uses its copy.
      const gpa = sev.scratchGpa;
      if (gpa < GPA_NUMBER_LIMIT) vcpu.vm.writeGuest(Number(gpa), sev.ghcbSa.subarray(0, sev.ghcbSaLen));
    }
    releaseScratch(sev);
  }
  // sev_es_sync_to_ghcb: ghcb_set_rax/rbx/rcx/rdx (the values and their valid bits).
  ghcb.setGprs(vcpu.regs);
  const trace = vcpu.vm.trace;
  if (trace) {
    trace({
      name: 'kvm_vmgexit_exit',
      vcpu: vcpu.id,
      exitCode: ghcb.get(GHCB_OFF_SW_EXIT_CODE),
      info1: ghcb.get(GHCB_OFF_SW_EXIT_INFO_1),
      info2: ghcb.get(GHCB_OFF_SW_EXIT_INFO_2),
    });
  }
  vcpu.vm.unmapGuestPage(sev.ghcbMap);
  sev.ghcbMap = undefined;
  sev.ghcb = undefined;
}
