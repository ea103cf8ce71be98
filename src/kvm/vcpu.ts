/**
 * A vCPU inside KVM (struct kvm_vcpu with its vcpu_svm): the VMCB it shares with the CPU, the
 * register array vcpu->arch.regs, the events waiting for injection, the kvm_run page, and
 * `run()` = KVM_RUN's vcpu_run loop: finish the previous exit's completion, inject pending events,
 * VMRUN, handle #VMEXITs in the kernel until one needs userspace.
 *
 * Everything here is KVM-internal (used by src/kvm and src/sev); a VMM reaches a vCPU only through
 * the VcpuFd of src/kvm/fd.ts.
 */
import {
  type CpuBackend,
  type Gprs,
  newGprs,
  resetFpu,
  SAVE_RFLAGS,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_TYPE_INTR,
  SVM_EVTINJ_TYPE_NMI,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VALID_ERR,
  Vmcb,
  writeResetState,
} from '../cpu/backend.js';
import { TLB_CONTROL_DO_NOTHING } from '../cpu/vmcb.js';
import { PAGE_SIZE } from '../host/page.js';
import { KVM_EXIT_INTR, KVM_EXIT_IRQ_WINDOW_OPEN, KVM_EXIT_UNKNOWN } from '../uapi/exit-reasons.js';
import type { KvmFpu } from '../uapi/fpu.js';
import {
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_UNINITIALIZED,
} from '../uapi/irq.js';
import { KVM_VCPU_MMAP_SIZE, KvmRun } from '../uapi/kvm-run.js';
import { MSR_IA32_APICBASE, MSR_IA32_APICBASE_BSP } from '../uapi/msr-index.js';
import { SVM_EXIT_INTR, SVM_EXIT_IRET } from '../uapi/svm.js';
import { kvmRipRead, X86_EFLAGS_RF } from './cache-regs.js';
import type { CpuidEntry } from './cpuid.js';
import { syncLapicToCr8 } from './cr.js';
import { DR6_ACTIVE_LOW } from './debugreg.js';
import { svmLoadDebugRegs, svmSyncDirtyDebugRegs } from './dr.js';
import { NestedPageTable } from './guest-memory.js';
import { initVmcb } from './init-vmcb.js';
import { disableIrqWindow, enableIrqWindow, interruptAllowed, kvmDeliverSipiVector } from './interrupts.js';
import type { Irqchip, Lapic } from './irqchip.js';
import { MsrStore } from './msr.js';
import { MtrrState } from './mtrr.js';
import { storeRegs, syncRegs } from './sync-regs.js';
import { failEntry, unexpectedExit } from './userspace-exits.js';
import type { Vm } from './vm.js';
import type { ExitHandler, VcpuTypeOps } from './vm-type.js';
import { svmExitHandlers } from './x86.js';

/** exception_type: #DB, #BP and #OF are traps, #DF and #MC aborts; every other vector a fault. */
const EXCEPTIONS_NOT_FAULTS = (1 << 1) | (1 << 3) | (1 << 4) | (1 << 8) | (1 << 18);
/** SVM exit codes with a handler are below this (VMGEXIT, 0x403, is the last): svm_exit_handlers' size. */
const HANDLER_TABLE_SIZE = 0x410;

/** Guest instructions a CPU runs between two host timer interrupts (SVM_EXIT_INTR). */
export const HOST_TICK_INSTRUCTIONS = 1 << 16;

/** #VMEXITs handled in the kernel in one KVM_RUN before the VMM's watchdog signal arrives (EINTR). */
export const DEFAULT_MAX_VMEXITS_PER_RUN = 10_000_000;

const EINTR = -4;
const EIO = -5;
const EAGAIN = -11;

/** svm_exit_handlers with a VM type's additions, indexed by exit code. */
function handlerTable(typeOps: VcpuTypeOps): (ExitHandler | undefined)[] {
  const table = new Array<ExitHandler | undefined>(HANDLER_TABLE_SIZE).fill(undefined);
  for (const [code, h] of [...svmExitHandlers, ...(typeOps.exitHandlers ?? [])]) {
    if (!(code >= 0 && code < HANDLER_TABLE_SIZE)) throw new RangeError(`no room for exit code ${code}`);
    table[code] = h;
  }
  return table;
}

/** struct kvm_queued_exception, as far as SVM injects it. */
export interface QueuedException {
  vector: number;
  errorCode: number | undefined;
}

/** A virtual CPU. */
/**
 * Where the model puts the physical addresses of KVM's own pages (VMSAs): above every host
 * address a VMM maps (the user address space ends below 2^47), so no guest page shares a tweak.
 */
const KERNEL_PAGES_SPA = 2 ** 48;
let nextKernelPage = 0;

export class Vcpu {
  /** The kvm_run page (and the PIO and coalesced-MMIO pages after it): shared memory, as mmap'ed. */
  readonly runArea: KvmRun;
  /** vcpu->arch.regs. For an unprotected guest the CPU works on this array in place. */
  readonly regs: Gprs = newGprs();
  /** The VMCB shared with the CPU (svm->vmcb). */
  readonly vmcb = new Vmcb();
  /** vcpu->arch.complete_userspace_io, run at the start of the next KVM_RUN. */
  completeUserspaceIo: ((vcpu: Vcpu) => number) | undefined;
  /** In-kernel MSR values (those not kept in the VMCB's save area). */
  readonly msrs = new MsrStore();
  /** KVM_SET_CPUID2 table (KVM_GET_SUPPORTED_CPUID's until the VMM sets one). */
  cpuid: readonly CpuidEntry[];
  /** The nested page table the CPU uses, and its last host fault. */
  readonly npt: NestedPageTable;
  /** The VM type's per-vCPU hooks. */
  typeOps: VcpuTypeOps;
  /** #VMEXITs allowed per KVM_RUN before it returns EINTR, as if the VMM's watchdog signalled. */
  maxVmexitsPerRun = DEFAULT_MAX_VMEXITS_PER_RUN;
  /** Every #VMEXIT handled, for statistics and benchmarks. */
  vmexits = 0;
  /** The guest's CPL as KVM knows it (from the save area; from the GHCB for SEV-ES). */
  cpl = 0;
  /**
   * vcpu->arch.xcr0 (the GHCB's XCR0 for SEV-ES), kept in `xcrs`: KVM loads it into the CPU's XCR0
   * before VMRUN (CpuAttachment.xcr0). XFEATURE_MASK_FP at RESET (kvm_vcpu_reset).
   */
  readonly xcrs = BigUint64Array.of(1n);
  get xcr0(): bigint {
    return this.xcrs[0]!;
  }
  set xcr0(v: bigint) {
    this.xcrs[0] = v;
  }
  /** vcpu->arch.mtrr_state. */
  readonly mtrr = new MtrrState();
  /** vcpu->arch.ia32_xss. */
  xss = 0n;
  /** vcpu->arch.cr4 of a protected guest, as its CR4 write traps reported it (unprotected: the save area). */
  cr4 = 0;
  /** vcpu->mmio_is_write, set only by the instruction emulator's MMIO path. */
  mmioIsWrite = false;
  /** vcpu->arch.exception: an exception to inject at the next entry. */
  exception: QueuedException | undefined;
  /** vcpu->arch.interrupt: an external interrupt to inject (KVM_INTERRUPT), by vector. */
  interrupt: number | undefined;
  /** vcpu->arch.nmi_pending / nmi_injected. */
  nmiPending = 0;
  nmiMasked = false;
  /** svm->awaiting_iret_completion and nmi_iret_rip: the NMI handler's IRET was intercepted at that RIP. */
  awaitingIretCompletion = false;
  nmiIretRip = 0;
  /** vcpu->arch.mp_state (KVM_MP_STATE_*). */
  mpState = 0;
  /** vcpu->arch.guest_state_protected: the VMSA is encrypted; KVM can read no register. */
  guestStateProtected: boolean;
  /** svm->sev_es.vmsa: an SEV-ES vCPU's VMSA page (KVM's memory), undefined otherwise. */
  vmsa: Uint8Array | undefined;
  /** The VMSA page's system physical address (the memory controller's tweak; vmsa_pa). */
  vmsaSpa = 0;
  /** The vPMU's general-purpose counters (never programmed in the model: they read 0). */
  readonly pmcs = new BigUint64Array(6);
  /** KVM_CAP_ENFORCE_PV_FEATURE_CPUID: PV hypercalls and MSRs only as the guest's KVM CPUID leaf offers. */
  enforcePvFeatureCpuid = false;
  /** vcpu->arch.pv.pv_unhalted: a KVM_HC_KICK_CPU arrived; a halted vCPU wakes. */
  pvUnhalted = false;
  /**
   * vcpu->arch.guest_fpu as KVM_GET/SET_FPU see it, which the CPU uses in place (CpuAttachment.fpu):
   * changed in place only, never replaced.
   */
  readonly fpu: KvmFpu = resetFpu();
  /**
   * The guest fpstate's YMM_Hi128 component (bits 255:128 of YMM0-15, 16 bytes each), which
   * KVM_GET/SET_XSAVE carry at offset 576 and the CPU uses in place (CpuAttachment.ymmHi).
   */
  readonly ymmHi = new Uint8Array(256);
  /** The vCPU has entered the guest once (kvm_vcpu_has_run): KVM_SET_CPUID2 must then change nothing. */
  hasRun = false;
  /** vcpu->arch.apic: the in-kernel local APIC (KVM_CREATE_IRQCHIP's, set as the vCPU joins it). */
  lapic: Lapic | undefined;
  /** vcpu->arch.db: DR0-DR3, which the CPU uses in place (CpuAttachment.db). */
  readonly db = new BigUint64Array(4);
  /** vcpu->arch.dr6 (the VMCB's DR6 is the CPU's; DR7 is kept in the save area). */
  dr6 = DR6_ACTIVE_LOW;
  /**
   * vcpu->guest_debug: KVM_SET_GUEST_DEBUG's control word. The model has no such ioctl, so this is 0
   * unless a test sets it: the guest owns its debug registers and #DB.
   */
  guestDebug = 0;
  /** vcpu->arch.switch_db_regs & KVM_DEBUGREG_WONT_EXIT: DR accesses run without exits until the next #VMEXIT. */
  dbRegsWontExit = false;

  /** svm_exit_handlers with the VM type's additions, indexed by exit code. */
  #table: (ExitHandler | undefined)[];
  #destroyed = false;

  constructor(
    readonly vm: Vm,
    readonly id: number,
    /** The CPU behind VMRUN (replaced only by retype). */
    public backend: CpuBackend,
  ) {
    this.cpuid = vm.ctx.supportedCpuid;
    this.runArea = new KvmRun(
      vm.ctx.runArea?.(id) ?? new Uint8Array(new SharedArrayBuffer(KVM_VCPU_MMAP_SIZE)),
    );
    this.npt = new NestedPageTable(vm.spaces[0]!, vm.host);
    writeResetState(this.vmcb.save);
    // kvm_arch_vcpu_create / kvm_lapic_reset: vCPU 0 (bsp_vcpu_id) is the BSP; with an in-kernel
    // APIC every other vCPU waits for INIT and SIPI.
    const bsp = id === 0;
    this.msrs.set(
      MSR_IA32_APICBASE,
      (this.msrs.get(MSR_IA32_APICBASE) ?? 0n) | (bsp ? MSR_IA32_APICBASE_BSP : 0n),
    );
    this.mpState = vm.irqchip && !bsp ? KVM_MP_STATE_UNINITIALIZED : KVM_MP_STATE_RUNNABLE;
    // An SEV-ES vCPU's state is KVM's until LAUNCH_UPDATE_VMSA encrypts it into the VMSA page
    // (zeroed at allocation, as snp_safe_alloc_page gives it; vmsa_pa in the VMCB names it).
    this.guestStateProtected = false;
    const prot = backend.protectedState;
    if (prot) {
      this.vmsa = new Uint8Array(PAGE_SIZE);
      this.vmsaSpa = KERNEL_PAGES_SPA + nextKernelPage++ * PAGE_SIZE;
      this.vmcb.vmsaPa = this.vmsaSpa;
    }
    initVmcb(this);
    this.#attach(backend);
    this.typeOps = vm.typeOps.createVcpu(this);
    this.#table = handlerTable(this.typeOps);
  }

  #attach(backend: CpuBackend): void {
    const prot = backend.protectedState;
    backend.attach({
      vmcb: this.vmcb,
      regs: prot ? null : this.regs,
      db: prot ? null : this.db,
      fpu: prot ? null : this.fpu,
      ymmHi: prot ? null : this.ymmHi,
      xcr0: prot ? null : this.xcrs,
      mem: this.npt,
      ...(this.vmsa ? { vmsa: { bytes: this.vmsa, spa: this.vmsaSpa } } : {}),
      ...(this.vm.ctx.memoryEncryption ? { memoryEncryption: this.vm.ctx.memoryEncryption } : {}),
    });
  }

  /**
   * The VM's type changed under this vCPU (sev_migrate_from: a destination VM's vCPUs join the SEV
   * context moved in): its per-vCPU hooks become the VM type's. With `cpu`, the vCPU takes over
   * another's VMSA page (svm->sev_es.vmsa handed over) and runs a new protected CPU on it, which
   * loads the page at its first VMRUN.
   */
  retype(cpu?: { readonly backend: CpuBackend; readonly vmsa: Uint8Array; readonly vmsaSpa: number }): void {
    if (cpu) {
      this.backend = cpu.backend;
      this.vmsa = cpu.vmsa;
      this.vmsaSpa = cpu.vmsaSpa;
      this.vmcb.vmsaPa = cpu.vmsaSpa;
      this.#attach(cpu.backend);
    }
    this.typeOps = this.vm.typeOps.createVcpu(this);
    this.#table = handlerTable(this.typeOps);
  }

  /** True once the vCPU or its VM is gone: every ioctl fails (EBADF / EIO). */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * KVM_RUN: 0 when kvm_run holds an exit to userspace, -errno on failure (kvm_run keeps what KVM
   * wrote, e.g. KVM_EXIT_MEMORY_FAULT beside -EFAULT).
   */
  run(): number {
    const r = this.#run();
    const trace = this.vm.trace;
    if (trace)
      trace({
        name: 'kvm_userspace_exit',
        vcpu: this.id,
        reason: this.runArea.exitReason,
        errno: r < 0 ? -r : 0,
      });
    return r;
  }

  #run(): number {
    if (this.#destroyed || this.vm.dead) return EIO;
    const r = this.#archVcpuIoctlRun();
    // kvm_arch_vcpu_ioctl_run's `out:` — every return, failures included.
    storeRegs(this);
    return r;
  }

  #archVcpuIoctlRun(): number {
    const run = this.runArea;
    run.flags = 0;
    // An AP that has seen no INIT/SIPI yet (kvm_arch_vcpu_ioctl_run): wait for one, take it, -EAGAIN.
    if (this.mpState === KVM_MP_STATE_UNINITIALIZED) return this.#runUninitialized();
    const synced = syncRegs(this);
    if (synced < 0) return synced;
    const cui = this.completeUserspaceIo;
    if (cui) {
      this.completeUserspaceIo = undefined;
      const r = cui(this);
      if (r <= 0) return r;
    }
    if (run.immediateExit) return EINTR; // exit_reason untouched
    const preRun = this.vm.typeOps.vcpuPreRun?.(this) ?? 1;
    if (preRun <= 0) return preRun;
    if (this.vm.core.presetExitReasonUnknown) run.exitReason = KVM_EXIT_UNKNOWN;
    const irqchip = this.vm.irqchip;
    const backend = this.backend;
    const typeOps = this.typeOps;
    const vmcb = this.vmcb;
    // dm_request_for_irq_injection: a VMM with its own PIC asked to be told when it can inject.
    const requestIrqWindow = !irqchip && run.requestInterruptWindow !== 0;
    for (let n = 0; ; n++) {
      if (n >= this.maxVmexitsPerRun) return this.#signalled();
      if (irqchip) {
        // vcpu_enter_guest's kvm_apic_accept_events, then kvm_vcpu_running or vcpu_block.
        irqchip.acceptApicEvents(this, this.#deliverSipi);
        if (this.mpState !== KVM_MP_STATE_RUNNABLE && !this.#vcpuBlock(irqchip)) return this.#blocked();
      }
      this.#injectPendingEvent();
      // kvm_cpu_accept_dm_intr: only while no KVM_INTERRUPT is waiting to be injected.
      if (requestIrqWindow && this.interrupt === undefined) enableIrqWindow(this);
      typeOps.prepareSwitchToGuest?.();
      // sync_lapic_to_cr8 and the debug registers (svm_vcpu_run, vcpu_enter_guest).
      syncLapicToCr8(this);
      svmLoadDebugRegs(this);
      this.hasRun = true;
      backend.vmrun(HOST_TICK_INSTRUCTIONS);
      // svm_vcpu_run: a requested flush is done once.
      vmcb.tlbCtl = TLB_CONTROL_DO_NOTHING;
      this.vmexits++;
      // Before the exit's handler, so a DR access exit finds the registers the guest last wrote.
      if (this.dbRegsWontExit) svmSyncDirtyDebugRegs(this);
      if (this.awaitingIretCompletion) this.#completeIret();
      const code = vmcb.exitCode;
      if (vmcb.vmrunFailed) return failEntry(this);
      const r = this.invokeExitHandler(code);
      if (r <= 0) return r;
      // kvm_vcpu_ready_for_interrupt_injection: the VMM may inject now.
      if (requestIrqWindow && this.interrupt === undefined && interruptAllowed(this)) {
        run.exitReason = KVM_EXIT_IRQ_WINDOW_OPEN;
        return 0;
      }
      // A host timer tick is where KVM sees a pending signal; the model takes a set immediate_exit
      // (which a VMM writes from another thread, or its timer's signal handler, then signals the
      // vCPU thread) as that signal.
      if (code === SVM_EXIT_INTR) {
        this.vm.ctx.clock?.tick();
        if (run.immediateExit) return this.#signalled();
      }
    }
  }

  /**
   * The vCPU waits in kvm_vcpu_block for an event only another vCPU or the VMM can raise. A real
   * KVM_RUN sleeps there until then (or until a signal); the model has no other thread to wait for,
   * so it returns as a signal would end the wait: EINTR with KVM_EXIT_INTR. The next KVM_RUN waits
   * again, or runs if the event came.
   */
  #blocked(): number {
    return this.#signalled();
  }

  /**
   * vcpu_block for a vCPU that is not running (halted, in AP reset hold, waiting for a SIPI): true
   * when an event lets it run now, false when it would sleep.
   */
  #vcpuBlock(irqchip: Irqchip): boolean {
    if (!irqchip.hasEvents(this)) return false;
    irqchip.acceptApicEvents(this, this.#deliverSipi);
    if (this.mpState === KVM_MP_STATE_HALTED || this.mpState === KVM_MP_STATE_AP_RESET_HOLD) {
      this.pvUnhalted = false;
      this.mpState = KVM_MP_STATE_RUNNABLE;
    }
    return this.mpState === KVM_MP_STATE_RUNNABLE;
  }

  /** kvm_apic_accept_events, for the ioctls that take pending INIT and SIPI first (KVM_GET_MP_STATE). */
  acceptApicEvents(): void {
    this.vm.irqchip?.acceptApicEvents(this, this.#deliverSipi);
  }

  /** KVM_RUN of a vCPU in UNINITIALIZED: block for an event, accept it, then -EAGAIN (run again). */
  #runUninitialized(): number {
    const irqchip = this.vm.irqchip;
    if (!irqchip?.hasEvents(this)) return this.#blocked();
    irqchip.acceptApicEvents(this, this.#deliverSipi);
    return EAGAIN;
  }

  readonly #deliverSipi = (vector: number): void => {
    const hook = this.typeOps.deliverSipi;
    if (hook) hook.call(this.typeOps, vector);
    else kvmDeliverSipiVector(this, vector);
  };

  /** kvm_handle_signal_exit: KVM_RUN fails with EINTR and kvm_run says KVM_EXIT_INTR. */
  #signalled(): number {
    this.runArea.exitReason = KVM_EXIT_INTR;
    return EINTR;
  }

  /**
   * inject_pending_event, as far as the model has events: a queued exception first, then an NMI,
   * then an external interrupt the guest can take now (else the interrupt window is requested).
   */
  #injectPendingEvent(): void {
    const vmcb = this.vmcb;
    if (vmcb.eventInj & SVM_EVTINJ_VALID) return;
    const e = this.exception;
    if (e) {
      this.exception = undefined;
      // kvm_check_and_inject_events: a fault (not #DB, #BP, #OF, #DF, #MC) is injected with
      // RFLAGS.RF set, which the frame the guest's handler sees carries.
      if (!this.guestStateProtected && !((1 << e.vector) & EXCEPTIONS_NOT_FAULTS)) {
        const save = vmcb.save;
        save.setUint32(SAVE_RFLAGS, save.getUint32(SAVE_RFLAGS, true) | X86_EFLAGS_RF, true);
      }
      vmcb.eventInjErr = e.errorCode ?? 0;
      vmcb.eventInj =
        SVM_EVTINJ_VALID |
        SVM_EVTINJ_TYPE_EXEPT |
        e.vector |
        (e.errorCode !== undefined ? SVM_EVTINJ_VALID_ERR : 0);
      return;
    }
    if (this.nmiPending > 0 && !this.nmiMasked) {
      // svm_inject_nmi: masked until the handler's IRET, which KVM intercepts to see it (SEV-ES: the
      // guest's NMI_COMPLETE instead).
      this.nmiPending--;
      this.nmiMasked = true;
      vmcb.eventInj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_NMI | 2;
      if (!this.guestStateProtected) vmcb.setIntercept(SVM_EXIT_IRET, true);
      return;
    }
    const lapic = this.lapic;
    if (lapic) {
      const vector = lapic.pendingVector();
      if (vector >= 0) {
        if (interruptAllowed(this)) {
          lapic.ack(vector);
          vmcb.eventInj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | vector;
          disableIrqWindow(this);
        } else {
          enableIrqWindow(this);
        }
      }
      return;
    }
    const irq = this.interrupt;
    if (irq !== undefined) {
      if (interruptAllowed(this)) {
        this.interrupt = undefined;
        vmcb.eventInj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | irq;
        disableIrqWindow(this);
      } else {
        enableIrqWindow(this);
      }
    }
  }

  /** svm_complete_interrupts: once RIP has moved past the intercepted IRET, NMIs are unmasked. */
  #completeIret(): void {
    if (this.guestStateProtected || kvmRipRead(this) !== this.nmiIretRip) {
      this.awaitingIretCompletion = false;
      this.nmiMasked = false;
    }
  }

  /** svm_invoke_exit_handler: the run loop's dispatch, and VM types' for codes of their own. */
  invokeExitHandler(exitCode: number): number {
    const handler = exitCode < HANDLER_TABLE_SIZE ? this.#table[exitCode] : undefined;
    return handler ? handler(this) : unexpectedExit(this);
  }

  /** Close the vCPU: the VM type frees what it holds for it. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.typeOps.destroy?.();
  }
}
