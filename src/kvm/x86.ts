/**
 * The generic SVM exit handlers (svm_exit_handlers in arch/x86/kvm/svm/svm.c, with the x86.c helpers
 * they call): port I/O, nested page faults (RAM, MMIO emulation, host faults), HLT, MSRs, CPUID,
 * VMMCALL and shutdown. Each returns 1 (re-enter), 0 (exit to userspace) or -errno, as in Linux.
 * They work on vcpu.regs, so SEV-ES reuses them with registers loaded from the GHCB.
 */
import {
  PFERR_WRITE_MASK,
  REG_HI,
  REG_LO,
  VCPU_REGS_RAX,
  VCPU_REGS_RBX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDX,
} from '../cpu/backend.js';
import {
  KVM_EXIT_HLT,
  KVM_EXIT_HYPERCALL,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_IO,
  KVM_EXIT_IO_IN,
  KVM_EXIT_IO_OUT,
  KVM_EXIT_MEMORY_FAULT,
  KVM_EXIT_MMIO,
  KVM_EXIT_SHUTDOWN,
  KVM_EXIT_X86_RDMSR,
  KVM_EXIT_X86_WRMSR,
  KVM_INTERNAL_ERROR_EMULATION,
  KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
} from '../uapi/exit-reasons.js';
import {
  KVM_PIO_DATA_OFFSET,
  KVM_RUN_OFF_HYPERCALL_ARGS,
  KVM_RUN_OFF_HYPERCALL_FLAGS,
  KVM_RUN_OFF_HYPERCALL_NR,
  KVM_RUN_OFF_HYPERCALL_RET,
  KVM_RUN_OFF_INTERNAL_NDATA,
  KVM_RUN_OFF_INTERNAL_SUBERROR,
  KVM_RUN_OFF_IO_COUNT,
  KVM_RUN_OFF_IO_DATA_OFFSET,
  KVM_RUN_OFF_IO_DIRECTION,
  KVM_RUN_OFF_IO_PORT,
  KVM_RUN_OFF_IO_SIZE,
  KVM_RUN_OFF_MEMORY_FAULT_FLAGS,
  KVM_RUN_OFF_MEMORY_FAULT_GPA,
  KVM_RUN_OFF_MEMORY_FAULT_SIZE,
  KVM_RUN_OFF_MMIO_IS_WRITE,
  KVM_RUN_OFF_MMIO_LEN,
  KVM_RUN_OFF_MMIO_PHYS_ADDR,
  KVM_RUN_OFF_MSR_DATA,
  KVM_RUN_OFF_MSR_ERROR,
  KVM_RUN_OFF_MSR_INDEX,
  KVM_RUN_OFF_MSR_REASON,
} from '../uapi/kvm-run.js';
import { KVM_MEM_READONLY } from '../uapi/memslot.js';
import {
  SVM_EXIT_CPUID,
  SVM_EXIT_HLT,
  SVM_EXIT_INVD,
  SVM_EXIT_IOIO,
  SVM_EXIT_IRET,
  SVM_EXIT_MONITOR,
  SVM_EXIT_MSR,
  SVM_EXIT_MWAIT,
  SVM_EXIT_NPF,
  SVM_EXIT_RDPMC,
  SVM_EXIT_RDTSCP,
  SVM_EXIT_READ_DR7,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_VMMCALL,
  SVM_EXIT_WBINVD,
  SVM_EXIT_WRITE_DR7,
  SVM_IOIO_STR_MASK,
  SVM_IOIO_TYPE_MASK,
} from '../uapi/svm.js';
import { kvmCpuid } from './cpuid.js';
import {
  KVM_MSR_FILTER_READ,
  KVM_MSR_FILTER_WRITE,
  KVM_MSR_RET_FILTERED,
  KVM_MSR_RET_OK,
  KVM_MSR_RET_UNSUPPORTED,
  kvmMsrAllowed,
  kvmMsrReason,
} from './msr.js';
import type { Vcpu } from './vcpu.js';
import type { ExitHandler } from './vm-type.js';

const MASK32 = 0xffff_ffffn;
const GP_VECTOR = 13;
const UD_VECTOR = 6;
/** KVM_HC_MAP_GPA_RANGE, the one hypercall KVM can forward to userspace. */
export const KVM_HC_MAP_GPA_RANGE = 12;
/** -KVM_ENOSYS as the guest sees it in RAX. */
const KVM_ENOSYS_RET = BigInt.asUintN(64, -1000n);
/** -KVM_EPERM: a hypercall from CPL > 0. */
const KVM_EPERM_RET = BigInt.asUintN(64, -1n);
const EFAULT = -14;

/** Bytes of RAX as little-endian (the data of an OUT or an MMIO write), at most 8. */
function raxBytes(vcpu: Vcpu, dst: Uint8Array, size: number): void {
  const r = vcpu.regs32;
  const lo = r[2 * VCPU_REGS_RAX + REG_LO]!;
  const hi = r[2 * VCPU_REGS_RAX + REG_HI]!;
  for (let i = 0; i < size; i++) dst[i] = (i < 4 ? lo >>> (8 * i) : hi >>> (8 * (i - 4))) & 0xff;
}

/** complete_fast_pio_out: the OUT is done, retire it (no per-exit closure). */
function completeFastPioOut(vcpu: Vcpu): number {
  vcpu.skipInstruction();
  return 1;
}

/** Little-endian bytes as an unsigned value. */
function leValue(src: Uint8Array, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(src[i] ?? 0);
  return v;
}

/**
 * kvm_fast_pio: one non-string IN/OUT of `size` bytes. No in-kernel port devices are modelled, so
 * it always exits KVM_EXIT_IO; the completion loads IN data into RAX and retires the instruction.
 */
export function kvmFastPio(vcpu: Vcpu, size: number, port: number, isIn: boolean): number {
  const run = vcpu.runArea;
  run.exitReason = KVM_EXIT_IO;
  run.setU8(KVM_RUN_OFF_IO_DIRECTION, isIn ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT);
  run.setU8(KVM_RUN_OFF_IO_SIZE, size);
  run.setU16(KVM_RUN_OFF_IO_PORT, port);
  run.setU32(KVM_RUN_OFF_IO_COUNT, 1);
  run.setU64n(KVM_RUN_OFF_IO_DATA_OFFSET, KVM_PIO_DATA_OFFSET);
  if (isIn) {
    // emulator_pio_in_out clears the data it hands to userspace for an IN.
    run.pioPage.fill(0, 0, size);
    vcpu.completeUserspaceIo = () => {
      // complete_fast_pio_in: sizes below 4 merge into RAX, a 4-byte IN zero-extends.
      const data = leValue(run.pioPage, size);
      const rax = vcpu.regs[VCPU_REGS_RAX]!;
      const mask = (1n << BigInt(size * 8)) - 1n;
      vcpu.regs[VCPU_REGS_RAX] = size < 4 ? (rax & ~mask) | data : data;
      vcpu.skipInstruction();
      return 1;
    };
  } else {
    raxBytes(vcpu, run.pioPage, size);
    vcpu.completeUserspaceIo = completeFastPioOut;
  }
  return 0;
}

/**
 * io_interception: string I/O goes to the VM type (SEV-ES: sev_es_string_io; unprotected guests
 * would need the instruction emulator, which is not modelled).
 */
function ioInterception(vcpu: Vcpu): number {
  const io = vcpu.exitInfo1 % 0x1_0000_0000;
  const size = (io & 0x70) >>> 4;
  const port = io >>> 16;
  const isIn = (io & SVM_IOIO_TYPE_MASK) !== 0;
  if (io & SVM_IOIO_STR_MASK) {
    const stringIo = vcpu.typeOps.stringIo;
    return stringIo ? stringIo.call(vcpu.typeOps, size, port, isIn) : emulationFailure(vcpu);
  }
  return kvmFastPio(vcpu, size, port, isIn);
}

/** KVM_EXIT_INTERNAL_ERROR / EMULATION: the instruction emulator gave up. */
export function emulationFailure(vcpu: Vcpu): number {
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_INTERNAL_ERROR;
  run.setU32(KVM_RUN_OFF_INTERNAL_SUBERROR, KVM_INTERNAL_ERROR_EMULATION);
  run.setU32(KVM_RUN_OFF_INTERNAL_NDATA, 0);
  return 0;
}

/** kvm_prepare_unexpected_reason_exit: an exit code KVM has no handler for. */
export function unexpectedExit(vcpu: Vcpu): number {
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_INTERNAL_ERROR;
  run.setU32(KVM_RUN_OFF_INTERNAL_SUBERROR, KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON);
  run.setU32(KVM_RUN_OFF_INTERNAL_NDATA, 2);
  run.setDataWord(0, BigInt(vcpu.exitCode));
  run.setDataWord(1, 0n); // last VM-entry CPU
  return 0;
}

/**
 * kvm_prepare_memory_fault_exit: KVM_EXIT_MEMORY_FAULT with the page's gpa and size, when the
 * kernel has KVM_CAP_MEMORY_FAULT_INFO; the caller then returns -EFAULT.
 */
export function prepareMemoryFaultExit(vcpu: Vcpu, gpa: number, size: number, flags = 0n): void {
  if (!vcpu.vm.core.memoryFaultInfo) return;
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_MEMORY_FAULT;
  run.setU64(KVM_RUN_OFF_MEMORY_FAULT_FLAGS, flags);
  run.setU64n(KVM_RUN_OFF_MEMORY_FAULT_GPA, gpa);
  run.setU64n(KVM_RUN_OFF_MEMORY_FAULT_SIZE, size);
}

/**
 * npf_interception: the CPU could not complete an access through the nested page table. No memslot
 * (or a write to a read-only one) is MMIO, emulated with a KVM_EXIT_MMIO; a memslot whose host page
 * cannot be faulted in fails KVM_RUN with EFAULT (kvm_handle_error_pfn).
 */
function npfInterception(vcpu: Vcpu): number {
  const gpa = vcpu.exitInfo2;
  const write = (vcpu.exitInfo1 & PFERR_WRITE_MASK) !== 0;
  const size = Math.max(vcpu.accessSize, 1);
  const vm = vcpu.vm;
  // Walk the access page by page as the MMU faults pages in: the first page that is not RAM the
  // guest may access this way decides.
  for (let page = gpa - (gpa % 4096); page < gpa + size; page += 4096) {
    const slot = vm.memslotForGpa(page);
    if (!slot || (write && slot.flags & KVM_MEM_READONLY))
      return emulateMmio(vcpu, gpa, vcpu.accessSize, write);
    const hva = slot.userspaceAddr + (page - slot.baseGfn * 4096);
    if (!(vm.host.view(hva, 1, write) instanceof Uint8Array)) {
      prepareMemoryFaultExit(vcpu, page, 4096, 0n);
      return EFAULT;
    }
  }
  // Every page is there now (the VMM fixed it since): the CPU retries the access.
  return 1;
}

/**
 * The emulator's path for a simple load/store that missed RAM (emulator_read_write): the access is
 * split at a page boundary; a piece that is RAM after all is done with kvm_read/write_guest, the
 * others become MMIO fragments, each handed to userspace as one KVM_EXIT_MMIO (the access is at
 * most 8 bytes, so a fragment never needs more than one exit), completed on the following runs.
 */
function emulateMmio(vcpu: Vcpu, gpa: number, size: number, write: boolean): number {
  if (size === 0 || size > 8) return emulationFailure(vcpu);
  const data = new Uint8Array(size);
  if (write) raxBytes(vcpu, data, size);
  const vm = vcpu.vm;
  const frags: { gpa: number; off: number; len: number }[] = [];
  const first = Math.min(size, 4096 - (gpa % 4096));
  for (const [at, off, len] of [
    [gpa, 0, first],
    [gpa + first, first, size - first],
  ] as const) {
    if (len === 0) continue;
    const piece = data.subarray(off, off + len);
    const fault = write ? vm.writeGuest(at, piece) : vm.readGuest(at, piece);
    if (fault) frags.push({ gpa: at, off, len });
  }
  vcpu.mmioIsWrite = write;
  if (frags.length === 0) {
    // Every piece turned out to be RAM: done without userspace.
    if (!write) vcpu.regs[VCPU_REGS_RAX] = leValue(data, size);
    vcpu.skipInstruction();
    return 1;
  }
  const run = vcpu.runArea;
  let cur = 0;
  const exitFor = (f: { gpa: number; off: number; len: number }): number => {
    run.clearExitUnion();
    run.exitReason = KVM_EXIT_MMIO;
    run.setU64n(KVM_RUN_OFF_MMIO_PHYS_ADDR, f.gpa);
    run.setU32(KVM_RUN_OFF_MMIO_LEN, f.len);
    run.setU8(KVM_RUN_OFF_MMIO_IS_WRITE, write ? 1 : 0);
    if (write) run.mmioData.set(data.subarray(f.off, f.off + f.len));
    vcpu.completeUserspaceIo = complete;
    return 0;
  };
  // complete_emulated_mmio: take this fragment's answer, exit for the next, or finish the instruction.
  const complete = (): number => {
    const f = frags[cur]!;
    if (!write) data.set(run.mmioData.subarray(0, f.len), f.off);
    cur++;
    if (cur < frags.length) return exitFor(frags[cur]!);
    if (!write) vcpu.regs[VCPU_REGS_RAX] = leValue(data, size);
    vcpu.skipInstruction();
    return 1;
  };
  return exitFor(frags[0]!);
}

/** kvm_emulate_halt: retire HLT, then (no in-kernel LAPIC) exit KVM_EXIT_HLT. */
function haltInterception(vcpu: Vcpu): number {
  vcpu.skipInstruction();
  vcpu.runArea.exitReason = KVM_EXIT_HLT;
  return 0;
}

/** complete_emulated_msr: #GP on error (SEV-ES reports it through the GHCB instead), else retire. */
function completeEmulatedMsr(vcpu: Vcpu, err: boolean): number {
  const hook = vcpu.typeOps.completeEmulatedMsr;
  if (hook) return hook.call(vcpu.typeOps, err);
  if (err) vcpu.backend.injectException(GP_VECTOR, 0);
  else vcpu.skipInstruction();
  return 1;
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
      vcpu.regs[VCPU_REGS_RAX] = v & MASK32;
      vcpu.regs[VCPU_REGS_RDX] = v >> 32n;
    }
    return completeEmulatedMsr(vcpu, err);
  };
  return true;
}

/** kvm_emulate_rdmsr / kvm_emulate_wrmsr. */
export function msrInterception(vcpu: Vcpu): number {
  const regs = vcpu.regs;
  const index = Number(regs[VCPU_REGS_RCX]! & MASK32);
  const vm = vcpu.vm;
  if (vcpu.exitInfo1 === 0) {
    let ret: number;
    let value = 0n;
    if (!kvmMsrAllowed(vm.msrFilter, index, KVM_MSR_FILTER_READ)) ret = KVM_MSR_RET_FILTERED;
    else {
      const v = vcpu.msrs.get(index);
      ret = v === undefined ? KVM_MSR_RET_UNSUPPORTED : KVM_MSR_RET_OK;
      value = v ?? 0n;
    }
    if (ret === KVM_MSR_RET_OK) {
      regs[VCPU_REGS_RAX] = value & MASK32;
      regs[VCPU_REGS_RDX] = value >> 32n;
      return completeEmulatedMsr(vcpu, false);
    }
    if (msrUserSpace(vcpu, index, KVM_EXIT_X86_RDMSR, 0n, ret)) return 0;
    return completeEmulatedMsr(vcpu, true);
  }
  const value = ((regs[VCPU_REGS_RDX]! & MASK32) << 32n) | (regs[VCPU_REGS_RAX]! & MASK32);
  const ret = !kvmMsrAllowed(vm.msrFilter, index, KVM_MSR_FILTER_WRITE)
    ? KVM_MSR_RET_FILTERED
    : vcpu.msrs.set(index, value);
  if (ret === KVM_MSR_RET_OK) return completeEmulatedMsr(vcpu, false);
  if (msrUserSpace(vcpu, index, KVM_EXIT_X86_WRMSR, value, ret)) return 0;
  return completeEmulatedMsr(vcpu, true);
}

/** kvm_emulate_cpuid: RAX = function, RCX = index; results in RAX..RDX. */
export function cpuidInterception(vcpu: Vcpu): number {
  // On 32-bit halves: EAX..EDX zero-extend into RAX..RDX, no BigInt needed.
  const r = vcpu.regs32;
  const e = kvmCpuid(vcpu.cpuid, r[2 * VCPU_REGS_RAX + REG_LO]!, r[2 * VCPU_REGS_RCX + REG_LO]!);
  r[2 * VCPU_REGS_RAX + REG_LO] = e.eax;
  r[2 * VCPU_REGS_RAX + REG_HI] = 0;
  r[2 * VCPU_REGS_RBX + REG_LO] = e.ebx;
  r[2 * VCPU_REGS_RBX + REG_HI] = 0;
  r[2 * VCPU_REGS_RCX + REG_LO] = e.ecx;
  r[2 * VCPU_REGS_RCX + REG_HI] = 0;
  r[2 * VCPU_REGS_RDX + REG_LO] = e.edx;
  r[2 * VCPU_REGS_RDX + REG_HI] = 0;
  vcpu.skipInstruction();
  return 1;
}

/**
 * kvm_emulate_hypercall: KVM_HC_MAP_GPA_RANGE exits to userspace when enabled with
 * KVM_CAP_EXIT_HYPERCALL; every other number returns -KVM_ENOSYS in RAX.
 */
export function vmmcallInterception(vcpu: Vcpu): number {
  const regs = vcpu.regs;
  const nr = regs[VCPU_REGS_RAX]!;
  if (vcpu.cpl !== 0) {
    regs[VCPU_REGS_RAX] = KVM_EPERM_RET;
    vcpu.skipInstruction();
    return 1;
  }
  if (nr === BigInt(KVM_HC_MAP_GPA_RANGE) && vcpu.vm.exitHypercalls & (1 << KVM_HC_MAP_GPA_RANGE)) {
    const run = vcpu.runArea;
    run.clearExitUnion();
    run.exitReason = KVM_EXIT_HYPERCALL;
    run.setU64(KVM_RUN_OFF_HYPERCALL_NR, nr);
    [VCPU_REGS_RBX, VCPU_REGS_RCX, VCPU_REGS_RDX].forEach((r, i) => {
      run.setU64(KVM_RUN_OFF_HYPERCALL_ARGS + 8 * i, regs[r]!);
    });
    run.setU64(KVM_RUN_OFF_HYPERCALL_FLAGS, 1n); // KVM_EXIT_HYPERCALL_LONG_MODE
    vcpu.completeUserspaceIo = () => {
      regs[VCPU_REGS_RAX] = run.u64(KVM_RUN_OFF_HYPERCALL_RET);
      vcpu.skipInstruction();
      return 1;
    };
    return 0;
  }
  regs[VCPU_REGS_RAX] = KVM_ENOSYS_RET;
  vcpu.skipInstruction();
  return 1;
}

/** Instructions KVM retires without doing anything (INVD, WBINVD, MONITOR, MWAIT as NOPs; DR7 access). */
function skipAsNop(vcpu: Vcpu): number {
  vcpu.skipInstruction();
  return 1;
}

/** kvm_handle_invalid_op (RDTSCP is not exposed to guests here): #UD by event injection. */
function invalidOp(vcpu: Vcpu): number {
  vcpu.backend.injectException(UD_VECTOR);
  return 1;
}

/** kvm_emulate_rdpmc: no vPMU is modelled, so every counter is invalid: #GP by event injection. */
function rdpmcInterception(vcpu: Vcpu): number {
  vcpu.backend.injectException(GP_VECTOR, 0);
  return 1;
}

/** iret_interception: NMIs are unmasked at the IRET; nothing else to do here. */
function iretInterception(_vcpu: Vcpu): number {
  return 1;
}

/** shutdown_interception: a triple fault. */
function shutdownInterception(vcpu: Vcpu): number {
  vcpu.runArea.exitReason = KVM_EXIT_SHUTDOWN;
  return 0;
}

/** The handler table for an unprotected guest; VM types add to it (SEV-ES: VMGEXIT, IOIO). */
export const svmExitHandlers: ReadonlyMap<number, ExitHandler> = new Map<number, ExitHandler>([
  [SVM_EXIT_IOIO, ioInterception],
  [SVM_EXIT_NPF, npfInterception],
  [SVM_EXIT_HLT, haltInterception],
  [SVM_EXIT_MSR, msrInterception],
  [SVM_EXIT_CPUID, cpuidInterception],
  [SVM_EXIT_VMMCALL, vmmcallInterception],
  [SVM_EXIT_SHUTDOWN, shutdownInterception],
  [SVM_EXIT_INVD, skipAsNop],
  [SVM_EXIT_WBINVD, skipAsNop],
  [SVM_EXIT_MONITOR, skipAsNop],
  [SVM_EXIT_MWAIT, skipAsNop],
  [SVM_EXIT_READ_DR7, skipAsNop],
  [SVM_EXIT_WRITE_DR7, skipAsNop],
  [SVM_EXIT_RDTSCP, invalidOp],
  [SVM_EXIT_RDPMC, rdpmcInterception],
  [SVM_EXIT_IRET, iretInterception],
]);
