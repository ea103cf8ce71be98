/**
 * The generic SVM exit handlers (svm_exit_handlers in arch/x86/kvm/svm/svm.c, with the x86.c helpers
 * they call): port I/O, nested page faults (RAM, MMIO emulation, host faults), HLT, MSRs, CPUID,
 * VMMCALL, host interrupts, the interrupt window and shutdown here; control and debug registers
 * (cr.ts, dr.ts), exception intercepts (exceptions.ts), XSETBV (xcr.ts), the SVM instructions
 * (svm-insns.ts) and the rest of init_vmcb's intercepts (misc-exits.ts) in their own modules. Each
 * returns 1 (re-enter), 0 (exit to userspace) or -errno, as in Linux. They read the #VMEXIT from the
 * VMCB and work on vcpu.regs, so SEV-ES reuses them with registers loaded from the GHCB.
 */
import {
  gpr32,
  PFERR_WRITE_MASK,
  setGpr32,
  VCPU_REGS_RAX,
  VCPU_REGS_RBX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDX,
  VMCB_NEXT_RIP,
} from '../cpu/backend.js';
import { PAGE_SIZE } from '../host/page.js';
import {
  KVM_EXIT_HLT,
  KVM_EXIT_SHUTDOWN,
  KVM_EXIT_X86_RDMSR,
  KVM_EXIT_X86_WRMSR,
} from '../uapi/exit-reasons.js';
import {
  KVM_RUN_OFF_IO_SIZE,
  KVM_RUN_OFF_MSR_DATA,
  KVM_RUN_OFF_MSR_ERROR,
  KVM_RUN_OFF_MSR_INDEX,
  KVM_RUN_OFF_MSR_REASON,
} from '../uapi/kvm-run.js';
import { KVM_MEM_READONLY } from '../uapi/memslot.js';
import { KVM_MSR_FILTER_READ, KVM_MSR_FILTER_WRITE } from '../uapi/msr-filter.js';
import {
  AC_VECTOR,
  DB_VECTOR,
  MC_VECTOR,
  SVM_EXIT_CLGI,
  SVM_EXIT_CPUID,
  SVM_EXIT_CR0_SEL_WRITE,
  SVM_EXIT_EXCP_BASE,
  SVM_EXIT_HLT,
  SVM_EXIT_IDLE_HLT,
  SVM_EXIT_INTR,
  SVM_EXIT_INVD,
  SVM_EXIT_INVLPG,
  SVM_EXIT_INVLPGA,
  SVM_EXIT_INVPCID,
  SVM_EXIT_IOIO,
  SVM_EXIT_IRET,
  SVM_EXIT_MONITOR,
  SVM_EXIT_MSR,
  SVM_EXIT_MWAIT,
  SVM_EXIT_NMI,
  SVM_EXIT_NPF,
  SVM_EXIT_PAUSE,
  SVM_EXIT_RDPMC,
  SVM_EXIT_RDPRU,
  SVM_EXIT_RDTSCP,
  SVM_EXIT_READ_CR0,
  SVM_EXIT_READ_CR3,
  SVM_EXIT_READ_CR4,
  SVM_EXIT_READ_CR8,
  SVM_EXIT_READ_DR0,
  SVM_EXIT_RSM,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_SKINIT,
  SVM_EXIT_SMI,
  SVM_EXIT_STGI,
  SVM_EXIT_TASK_SWITCH,
  SVM_EXIT_VINTR,
  SVM_EXIT_VMLOAD,
  SVM_EXIT_VMMCALL,
  SVM_EXIT_VMRUN,
  SVM_EXIT_VMSAVE,
  SVM_EXIT_WBINVD,
  SVM_EXIT_WRITE_CR0,
  SVM_EXIT_WRITE_CR3,
  SVM_EXIT_WRITE_CR4,
  SVM_EXIT_WRITE_CR8,
  SVM_EXIT_WRITE_DR0,
  SVM_EXIT_XSETBV,
  SVM_IOIO_STR_MASK,
  SVM_IOIO_TYPE_MASK,
  UD_VECTOR,
} from '../uapi/svm.js';
import {
  kvmCompleteInsnGp,
  kvmQueueException,
  kvmRegisterWriteRaw,
  kvmRipRead,
  kvmSkipEmulatedInstruction,
} from './cache-regs.js';
import { kvmCpuid } from './cpuid.js';
import { cr8WriteInterception, crInterception } from './cr.js';
import { drInterception } from './dr.js';
import { acInterception, dbInterception, mcInterception, udInterception } from './exceptions.js';
import { kvmEmulateHypercall } from './hypercall.js';
import { disableIrqWindow } from './interrupts.js';
import { gfnToHva } from './memslots.js';
import {
  invlpgInterception,
  invpcidInterception,
  nmiInterception,
  pauseInterception,
  rsmInterception,
  smiInterception,
  taskSwitchInterception,
} from './misc-exits.js';
import { emulateMmio } from './mmio-emulation.js';
import {
  KVM_MSR_RET_FILTERED,
  KVM_MSR_RET_OK,
  kvmMsrAllowed,
  kvmMsrReason,
  svmGetMsr,
  svmSetMsr,
} from './msr.js';
import { kvmEmulateStringIo } from './pio-emulation.js';
import { rdpmcInterception } from './pmu.js';
import {
  gifInterception,
  invlpgaInterception,
  skinitInterception,
  vmloadVmsaveInterception,
  vmrunInterception,
} from './svm-insns.js';
import { emulationFailure, prepareMemoryFaultExit, preparePioExit } from './userspace-exits.js';
import type { Vcpu } from './vcpu.js';
import type { ExitHandler } from './vm-type.js';
import { kvmEmulateXsetbv } from './xcr.js';

const MASK32 = 0xffff_ffffn;
const EFAULT = -14;

/** Bytes of RAX as little-endian (the data of an OUT or an MMIO write), at most 8. */
function raxBytes(vcpu: Vcpu, dst: Uint8Array, size: number): void {
  const lo = vcpu.regs[2 * VCPU_REGS_RAX]!;
  const hi = vcpu.regs[2 * VCPU_REGS_RAX + 1]!;
  for (let i = 0; i < size; i++) dst[i] = (i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4))) & 0xff;
}

/**
 * Retire the instruction and re-enter: complete_fast_pio_out (the OUT is done; no per-exit closure),
 * and the instructions KVM retires without doing anything (kvm_emulate_as_nop: INVD, WBINVD,
 * MONITOR, MWAIT).
 */
function skipAsNop(vcpu: Vcpu): number {
  return kvmSkipEmulatedInstruction(vcpu);
}

/** complete_fast_pio_in: sizes below 4 merge into EAX, a 4-byte IN zero-extends into RAX. */
function completeFastPioIn(vcpu: Vcpu): number {
  const run = vcpu.runArea;
  const size = run.u8(KVM_RUN_OFF_IO_SIZE);
  const data = run.pioPage;
  const regs = vcpu.regs;
  const v = data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24);
  if (size === 4) {
    setGpr32(regs, VCPU_REGS_RAX, v >>> 0);
  } else {
    const mask = size === 1 ? 0xff : 0xffff;
    regs[2 * VCPU_REGS_RAX] = ((regs[2 * VCPU_REGS_RAX]! & ~mask) | (v & mask)) >>> 0;
  }
  return kvmSkipEmulatedInstruction(vcpu);
}

/**
 * kvm_fast_pio: one non-string IN/OUT of `size` bytes. No in-kernel port devices are modelled, so
 * it always exits KVM_EXIT_IO; the completion loads IN data into RAX and retires the instruction.
 */
export function kvmFastPio(vcpu: Vcpu, size: number, port: number, isIn: boolean): number {
  preparePioExit(vcpu, isIn, size, port, 1);
  if (isIn) {
    vcpu.completeUserspaceIo = completeFastPioIn;
  } else {
    raxBytes(vcpu, vcpu.runArea.pioPage, size);
    vcpu.completeUserspaceIo = skipAsNop;
  }
  return 0;
}

/**
 * io_interception: string I/O goes to the VM type (SEV-ES: sev_es_string_io) or, for an
 * unprotected guest, to the instruction emulator (kvm_emulate_instruction: pio-emulation.ts). SVM
 * puts the next RIP in exit_info_2 for IOIO; KVM uses it as next_rip.
 */
function ioInterception(vcpu: Vcpu): number {
  const io = vcpu.vmcb.exitInfo1Lo;
  const size = (io & 0x70) >>> 4;
  const port = io >>> 16;
  const isIn = (io & SVM_IOIO_TYPE_MASK) !== 0;
  if (io & SVM_IOIO_STR_MASK) {
    const stringIo = vcpu.typeOps.stringIo;
    if (stringIo) return stringIo.call(vcpu.typeOps, size, port, isIn);
    return vcpu.guestStateProtected ? emulationFailure(vcpu) : kvmEmulateStringIo(vcpu);
  }
  if (!vcpu.guestStateProtected) {
    const c = vcpu.vmcb.control;
    c.setUint32(VMCB_NEXT_RIP, vcpu.vmcb.exitInfo2Lo, true);
    c.setUint32(VMCB_NEXT_RIP + 4, vcpu.vmcb.exitInfo2Hi, true);
  }
  return kvmFastPio(vcpu, size, port, isIn);
}

/**
 * npf_interception: the CPU could not complete an access through the nested page table. No memslot
 * (or a write to a read-only one) is MMIO, emulated from the instruction bytes decode assist gave;
 * a memslot whose host page cannot be faulted in fails KVM_RUN with EFAULT (kvm_handle_error_pfn).
 */
function npfInterception(vcpu: Vcpu): number {
  const vmcb = vcpu.vmcb;
  const gpa = vmcb.exitInfo2Gpa;
  const write = (vmcb.exitInfo1Lo & PFERR_WRITE_MASK) !== 0;
  const vm = vcpu.vm;
  const slot = vm.memslotForGpa(gpa);
  if (!slot || (write && slot.flags & KVM_MEM_READONLY)) {
    const hook = vcpu.typeOps.cannotEmulate;
    if (hook) return hook.call(vcpu.typeOps, gpa, write);
    return emulateMmio(vcpu, gpa);
  }
  const gfn = Math.floor(gpa / PAGE_SIZE);
  if (!(vm.host.view(gfnToHva(slot, gfn), 1, write) instanceof Uint8Array)) {
    prepareMemoryFaultExit(vcpu, gfn * PAGE_SIZE, PAGE_SIZE, 0n);
    return EFAULT;
  }
  // The page is there now (the VMM fixed it since): the CPU retries the access.
  return 1;
}

/** kvm_emulate_halt: retire HLT, then (no in-kernel LAPIC) exit KVM_EXIT_HLT. */
function haltInterception(vcpu: Vcpu): number {
  const r = kvmSkipEmulatedInstruction(vcpu);
  const halt = vcpu.vm.irqchip?.halt;
  if (halt) return halt(vcpu) && r;
  vcpu.runArea.exitReason = KVM_EXIT_HLT;
  return 0;
}

/** complete_emulated_msr: #GP on error (SEV-ES reports it through the GHCB instead), else retire. */
function completeEmulatedMsr(vcpu: Vcpu, err: boolean): number {
  const hook = vcpu.typeOps.completeEmulatedMsr;
  if (hook) return hook.call(vcpu.typeOps, err);
  return kvmCompleteInsnGp(vcpu, err);
}

/**
 * kvm_msr_user_space: hand a failed MSR access to userspace when it asked for this reason
 * (KVM_CAP_X86_USER_SPACE_MSR); the completion applies userspace's answer.
 */
function msrUserSpace(vcpu: Vcpu, index: number, exitReason: number, data: bigint, ret: number): boolean {
  const reason = kvmMsrReason(ret);
  if (!(vcpu.vm.userSpaceMsrMask & reason)) return false;
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = exitReason;
  run.setU8(KVM_RUN_OFF_MSR_ERROR, 0);
  run.setU32(KVM_RUN_OFF_MSR_REASON, reason);
  run.setU32(KVM_RUN_OFF_MSR_INDEX, index);
  run.setU64(KVM_RUN_OFF_MSR_DATA, data);
  vcpu.completeUserspaceIo = () => {
    const err = run.u8(KVM_RUN_OFF_MSR_ERROR) !== 0;
    if (!err && exitReason === KVM_EXIT_X86_RDMSR) {
      const v = run.u64(KVM_RUN_OFF_MSR_DATA);
      kvmRegisterWriteRaw(vcpu, VCPU_REGS_RAX, v & MASK32);
      kvmRegisterWriteRaw(vcpu, VCPU_REGS_RDX, v >> 32n);
    }
    return completeEmulatedMsr(vcpu, err);
  };
  return true;
}

/** kvm_emulate_rdmsr / kvm_emulate_wrmsr. */
export function msrInterception(vcpu: Vcpu): number {
  const regs = vcpu.regs;
  const index = gpr32(regs, VCPU_REGS_RCX);
  const vm = vcpu.vm;
  const isWrite = (vcpu.vmcb.exitInfo1Lo | vcpu.vmcb.exitInfo1Hi) !== 0;
  if (!isWrite) {
    let ret: number;
    let value = 0n;
    if (!kvmMsrAllowed(vm.msrFilter, index, KVM_MSR_FILTER_READ)) ret = KVM_MSR_RET_FILTERED;
    else {
      const r = svmGetMsr(vcpu, index);
      ret = r.ret;
      value = r.value;
    }
    if (ret === KVM_MSR_RET_OK) {
      kvmRegisterWriteRaw(vcpu, VCPU_REGS_RAX, value & MASK32);
      kvmRegisterWriteRaw(vcpu, VCPU_REGS_RDX, value >> 32n);
      return completeEmulatedMsr(vcpu, false);
    }
    if (msrUserSpace(vcpu, index, KVM_EXIT_X86_RDMSR, 0n, ret)) return 0;
    return completeEmulatedMsr(vcpu, true);
  }
  const value = (BigInt(gpr32(regs, VCPU_REGS_RDX)) << 32n) | BigInt(gpr32(regs, VCPU_REGS_RAX));
  const ret = !kvmMsrAllowed(vm.msrFilter, index, KVM_MSR_FILTER_WRITE)
    ? KVM_MSR_RET_FILTERED
    : svmSetMsr(vcpu, index, value);
  if (ret === KVM_MSR_RET_OK) return completeEmulatedMsr(vcpu, false);
  if (msrUserSpace(vcpu, index, KVM_EXIT_X86_WRMSR, value, ret)) return 0;
  return completeEmulatedMsr(vcpu, true);
}

/** kvm_emulate_cpuid: RAX = function, RCX = index; results in RAX..RDX (32-bit, zero-extended). */
export function cpuidInterception(vcpu: Vcpu): number {
  const r = vcpu.regs;
  const e = kvmCpuid(vcpu, gpr32(r, VCPU_REGS_RAX), gpr32(r, VCPU_REGS_RCX));
  setGpr32(r, VCPU_REGS_RAX, e.eax);
  setGpr32(r, VCPU_REGS_RBX, e.ebx);
  setGpr32(r, VCPU_REGS_RCX, e.ecx);
  setGpr32(r, VCPU_REGS_RDX, e.edx);
  return kvmSkipEmulatedInstruction(vcpu);
}

/** kvm_handle_invalid_op (RDTSCP and RDPRU are not exposed to guests here): #UD by event injection. */
function invalidOp(vcpu: Vcpu): number {
  kvmQueueException(vcpu, UD_VECTOR);
  return 1;
}

/**
 * iret_interception: the NMI handler's IRET is about to run (the intercept is fault-like). NMIs are
 * unmasked once it has (svm_complete_interrupts sees RIP move); the IRET itself runs unintercepted.
 * v5.17 also gets here from an SEV-ES guest's NMI_COMPLETE, where RIP cannot be read.
 */
function iretInterception(vcpu: Vcpu): number {
  vcpu.awaitingIretCompletion = true;
  if (!vcpu.guestStateProtected) {
    vcpu.vmcb.setIntercept(SVM_EXIT_IRET, false);
    vcpu.nmiIretRip = kvmRipRead(vcpu);
  }
  return 1;
}

/** intr_interception: a host interrupt; the run loop looks for pending signals, then re-enters. */
function intrInterception(_vcpu: Vcpu): number {
  return 1;
}

/**
 * interrupt_window_interception: the guest can take interrupts; the next entry injects what is
 * pending, and the run loop tells a VMM that asked for the window (KVM_EXIT_IRQ_WINDOW_OPEN).
 */
function interruptWindowInterception(vcpu: Vcpu): number {
  disableIrqWindow(vcpu);
  return 1;
}

/** shutdown_interception: a triple fault. */
function shutdownInterception(vcpu: Vcpu): number {
  vcpu.runArea.exitReason = KVM_EXIT_SHUTDOWN;
  return 0;
}

/** Exit codes n..n+count-1, all to one handler. */
function range(first: number, count: number, h: ExitHandler): [number, ExitHandler][] {
  return Array.from({ length: count }, (_, i): [number, ExitHandler] => [first + i, h]);
}

/**
 * svm_exit_handlers: the handler table for an unprotected guest, as the current kernel's (exits
 * KVM never intercepts here, #BP, #PF, #GP and AVIC's among them, stay out: unexpectedExit). VM
 * types add to it (SEV-ES: VMGEXIT, and the CR and EFER write traps).
 */
export const svmExitHandlers: ReadonlyMap<number, ExitHandler> = new Map<number, ExitHandler>([
  [SVM_EXIT_READ_CR0, crInterception],
  [SVM_EXIT_READ_CR3, crInterception],
  [SVM_EXIT_READ_CR4, crInterception],
  [SVM_EXIT_READ_CR8, crInterception],
  [SVM_EXIT_CR0_SEL_WRITE, crInterception],
  [SVM_EXIT_WRITE_CR0, crInterception],
  [SVM_EXIT_WRITE_CR3, crInterception],
  [SVM_EXIT_WRITE_CR4, crInterception],
  [SVM_EXIT_WRITE_CR8, cr8WriteInterception],
  ...range(SVM_EXIT_READ_DR0, 8, drInterception),
  ...range(SVM_EXIT_WRITE_DR0, 8, drInterception),
  [SVM_EXIT_EXCP_BASE + DB_VECTOR, dbInterception],
  [SVM_EXIT_EXCP_BASE + UD_VECTOR, udInterception],
  [SVM_EXIT_EXCP_BASE + MC_VECTOR, mcInterception],
  [SVM_EXIT_EXCP_BASE + AC_VECTOR, acInterception],
  [SVM_EXIT_INTR, intrInterception],
  [SVM_EXIT_NMI, nmiInterception],
  [SVM_EXIT_SMI, smiInterception],
  [SVM_EXIT_VINTR, interruptWindowInterception],
  [SVM_EXIT_RDPMC, rdpmcInterception],
  [SVM_EXIT_CPUID, cpuidInterception],
  [SVM_EXIT_IRET, iretInterception],
  [SVM_EXIT_INVD, skipAsNop],
  [SVM_EXIT_PAUSE, pauseInterception],
  [SVM_EXIT_HLT, haltInterception],
  [SVM_EXIT_INVLPG, invlpgInterception],
  [SVM_EXIT_INVLPGA, invlpgaInterception],
  [SVM_EXIT_IOIO, ioInterception],
  [SVM_EXIT_MSR, msrInterception],
  [SVM_EXIT_TASK_SWITCH, taskSwitchInterception],
  [SVM_EXIT_SHUTDOWN, shutdownInterception],
  [SVM_EXIT_VMRUN, vmrunInterception],
  // vmmcall_interception is kvm_emulate_hypercall (hypercall.ts).
  [SVM_EXIT_VMMCALL, kvmEmulateHypercall],
  [SVM_EXIT_VMLOAD, vmloadVmsaveInterception],
  [SVM_EXIT_VMSAVE, vmloadVmsaveInterception],
  [SVM_EXIT_STGI, gifInterception],
  [SVM_EXIT_CLGI, gifInterception],
  [SVM_EXIT_SKINIT, skinitInterception],
  [SVM_EXIT_RDTSCP, invalidOp],
  [SVM_EXIT_WBINVD, skipAsNop],
  [SVM_EXIT_MONITOR, skipAsNop],
  [SVM_EXIT_MWAIT, skipAsNop],
  [SVM_EXIT_XSETBV, kvmEmulateXsetbv],
  [SVM_EXIT_RDPRU, invalidOp],
  [SVM_EXIT_INVPCID, invpcidInterception],
  [SVM_EXIT_IDLE_HLT, haltInterception],
  [SVM_EXIT_NPF, npfInterception],
  [SVM_EXIT_RSM, rsmInterception],
]);
