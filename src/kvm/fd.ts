/**
 * The model's file descriptors: KvmFd, VmFd and VcpuFd (src/uapi/kvm-fd.ts) over the KVM internals,
 * as kvm_dev_ioctl, kvm_vm_ioctl (+ kvm_arch_vm_ioctl) and kvm_vcpu_ioctl (+ kvm_arch_vcpu_ioctl)
 * are over struct kvm: argument checks in the kernel's order, then the work, with every failure an
 * Errno. This is all a VMM reaches; the objects behind (Vm, Vcpu) stay inside src/kvm and src/sev.
 */

import {
  KVM_API_VERSION,
  KVM_CAP_ENFORCE_PV_FEATURE_CPUID,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_CAP_MEMORY_FAULT_INFO,
  KVM_CAP_VM_COPY_ENC_CONTEXT_FROM,
  KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM,
  KVM_CAP_X86_USER_SPACE_MSR,
} from '../uapi/caps.js';
import type { KvmCpuidEntry2 } from '../uapi/cpuid.js';
import type { KvmDebugregs } from '../uapi/debugregs.js';
import type { KvmEnableCap } from '../uapi/enable-cap.js';
import { Errno } from '../uapi/errno.js';
import {
  KVM_MSR_EXIT_REASON_FILTER,
  KVM_MSR_EXIT_REASON_INVAL,
  KVM_MSR_EXIT_REASON_UNKNOWN,
} from '../uapi/exit-reasons.js';
import type { KvmFpu } from '../uapi/fpu.js';
import {
  KVM_IRQCHIP_IOAPIC,
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_SIPI_RECEIVED,
  KVM_MP_STATE_UNINITIALIZED,
  type KvmIrqchip,
} from '../uapi/irq.js';
import type {
  ClearDirtyLog,
  IoctlResult,
  KvmFd,
  MsrFilterSpec,
  RunResult,
  VcpuFd,
  VmFd,
} from '../uapi/kvm-fd.js';
import {
  KVM_RUN_OFF_APIC_BASE,
  KVM_RUN_OFF_CR8,
  KVM_RUN_OFF_IF_FLAG,
  KVM_RUN_OFF_READY_FOR_INTERRUPT_INJECTION,
  KVM_VCPU_MMAP_SIZE,
  type KvmRun,
} from '../uapi/kvm-run.js';
import type { KvmLapicState } from '../uapi/lapic.js';
import { KVM_LAPIC_STATE_SIZE } from '../uapi/lapic.js';
import type { UserspaceMemoryRegion } from '../uapi/memslot.js';
import {
  KVM_MSR_FILTER_DEFAULT_DENY,
  KVM_MSR_FILTER_MAX_BITMAP_SIZE,
  KVM_MSR_FILTER_MAX_RANGES,
  KVM_MSR_FILTER_RANGE_VALID_MASK,
  KVM_MSR_FILTER_VALID_MASK,
} from '../uapi/msr-filter.js';
import { MSR_IA32_APICBASE } from '../uapi/msr-index.js';
import type { KvmMsrEntry } from '../uapi/msrs.js';
import type { KvmRegs } from '../uapi/regs.js';
import type { KvmEncRegion, KvmSevCmd } from '../uapi/sev-cmd.js';
import type { KvmSregs } from '../uapi/sregs.js';
import type { KvmVcpuEvents } from '../uapi/vcpu-events.js';
import { decodeExit } from '../uapi/vcpu-exit.js';
import type { KvmXcrs, KvmXsave } from '../uapi/xsave.js';
import { kvmGetCr8 } from './cache-regs.js';
import { kvmCpuid } from './cpuid.js';
import { KVM_HC_MAP_GPA_RANGE } from './hypercall.js';
import { svmRecalcIntercepts, svmRecalcMsrIntercepts } from './init-vmcb.js';
import { interruptAllowed, svmGetIfFlag } from './interrupts.js';
import { Irqchip } from './irqchip.js';
import { Kvm, type KvmOptions } from './kvm.js';
import { KVM_MSR_INDEX_LIST, KVM_MSR_RET_OK, svmGetMsr, svmSetMsr } from './msr.js';
import { KernelOops } from './oops.js';
import type { Vcpu } from './vcpu.js';
import * as state from './vcpu-state.js';
import type { Vm } from './vm.js';
import { getDebugregs, getXsave, setDebugregs, setXsave } from './xsave-state.js';

/** KVM_MAX_CPUID_ENTRIES. */
const KVM_MAX_CPUID_ENTRIES = 256;
/** KVM_MIN_ALLOC_MMU_PAGES: the least KVM_SET_NR_MMU_PAGES accepts. */
const KVM_MIN_ALLOC_MMU_PAGES = 64n;
/** MAX_IO_MSRS: KVM_GET/SET_MSRS refuse this many entries or more. */
const MAX_IO_MSRS = 256;
/** KVM_MSR_EXIT_REASON_VALID_MASK. */
const KVM_MSR_EXIT_REASON_VALID_MASK =
  KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER;
/** KVM_GET_TSC_KHZ of the model's host. */
export const MODEL_TSC_KHZ = 2_500_000;
/** The feature MSRs KVM_GET_MSR_FEATURE_INDEX_LIST reports on an AMD host: UCODE_REV, ARCH_CAPABILITIES, DE_CFG. */
const FEATURE_MSRS: readonly number[] = [0x8b, 0x10a, 0xc001_1029];

const ebadf = (what: string): Errno => new Errno('EBADF', `${what} on a closed fd`);

/** Open the model's /dev/kvm. */
export function openKvm(opts: KvmOptions = {}): ModelKvmFd {
  return new ModelKvmFd(new Kvm(opts));
}

/** The system fd of the model. */
export class ModelKvmFd implements KvmFd {
  #closed = false;

  constructor(
    /** KVM-internal: the kernel side (src/kvm and src/sev tests only). */
    readonly kvm: Kvm,
  ) {}

  getApiVersion(): number {
    return KVM_API_VERSION;
  }

  checkExtension(cap: number): number {
    return this.kvm.checkExtension(cap);
  }

  getVcpuMmapSize(): IoctlResult<number> {
    return this.#closed ? ebadf('KVM_GET_VCPU_MMAP_SIZE') : KVM_VCPU_MMAP_SIZE;
  }

  createVm(type = 0): IoctlResult<ModelVmFd> {
    if (this.#closed) return ebadf('KVM_CREATE_VM');
    const vm = this.kvm.createVm(type);
    return vm instanceof Errno ? vm : new ModelVmFd(this.kvm, vm);
  }

  /** KVM_GET_SUPPORTED_CPUID: E2BIG for room below 1 or below what there is (nent not written back). */
  getSupportedCpuid(maxEntries: number): IoctlResult<KvmCpuidEntry2[]> {
    if (this.#closed) return ebadf('KVM_GET_SUPPORTED_CPUID');
    if (maxEntries < 1) return new Errno('E2BIG', 'KVM_GET_SUPPORTED_CPUID: nent < 1');
    const room = Math.min(maxEntries, KVM_MAX_CPUID_ENTRIES);
    const table = this.kvm.supportedCpuid;
    if (table.length > room) return new Errno('E2BIG', 'KVM_GET_SUPPORTED_CPUID: too many entries');
    return table.map((e) => ({ ...e }));
  }

  getMsrIndexList(): IoctlResult<number[]> {
    return this.#closed ? ebadf('KVM_GET_MSR_INDEX_LIST') : [...KVM_MSR_INDEX_LIST];
  }

  getMsrFeatureIndexList(): IoctlResult<number[]> {
    return this.#closed ? ebadf('KVM_GET_MSR_FEATURE_INDEX_LIST') : [...FEATURE_MSRS];
  }

  getDeviceAttr(group: number, attr: number): IoctlResult<bigint> {
    return this.#closed ? ebadf('KVM_GET_DEVICE_ATTR') : this.kvm.devGetAttr(group, attr);
  }

  hasDeviceAttr(group: number, attr: number): IoctlResult<void> {
    if (this.#closed) return ebadf('KVM_HAS_DEVICE_ATTR');
    const r = this.kvm.devGetAttr(group, attr);
    return r instanceof Errno ? r : undefined;
  }

  close(): void {
    this.#closed = true;
  }
}

/** A VM fd of the model. */
export class ModelVmFd implements VmFd {
  #closed = false;
  /**
   * Its number in the process's fd table (Kvm.fds), where KVM_CAP_VM_MOVE/COPY_ENC_CONTEXT_FROM's
   * args[0] finds it (fdget + file_is_kvm).
   */
  readonly fd: number;

  constructor(
    readonly kvm: Kvm,
    /** KVM-internal: struct kvm (src/kvm and src/sev tests only). */
    readonly vm: Vm,
  ) {
    this.fd = kvm.fds.install(this);
  }

  #check(what: string): Errno | undefined {
    if (this.#closed) return ebadf(what);
    if (this.vm.dead) return new Errno('EIO', `${what}: the VM is dead`);
    return undefined;
  }

  checkExtension(cap: number): number {
    return this.kvm.checkExtension(cap, this.vm);
  }

  setUserMemoryRegion(region: UserspaceMemoryRegion): IoctlResult<void> {
    return this.#setRegion(region, true);
  }

  setUserMemoryRegion2(region: UserspaceMemoryRegion): IoctlResult<void> {
    return this.#setRegion(region, false);
  }

  #setRegion(region: UserspaceMemoryRegion, legacy: boolean): IoctlResult<void> {
    const bad = this.#check('KVM_SET_USER_MEMORY_REGION');
    if (bad) return bad;
    const r = this.vm.setMemoryRegion(region, legacy);
    return r instanceof Errno ? r : undefined;
  }

  getDirtyLog(slot: number): IoctlResult<Uint8Array> {
    return this.#check('KVM_GET_DIRTY_LOG') ?? this.vm.getDirtyLog(slot);
  }

  clearDirtyLog(log: ClearDirtyLog): IoctlResult<void> {
    return (
      this.#check('KVM_CLEAR_DIRTY_LOG') ??
      this.vm.clearDirtyLog(log.slot, log.firstPage, log.numPages, log.bitmap)
    );
  }

  /**
   * KVM_ENABLE_CAP (kvm_vm_ioctl_enable_cap): flags must be 0; KVM_CAP_X86_USER_SPACE_MSR takes the
   * exit reasons (unknown bits EINVAL since 6.0), KVM_CAP_EXIT_HYPERCALL the hypercall mask (only
   * MAP_GPA_RANGE), KVM_CAP_MEMORY_FAULT_INFO is report-only (EINVAL); the VM type knows the rest.
   */
  enableCap(cap: KvmEnableCap): IoctlResult<void> {
    const bad = this.#check('KVM_ENABLE_CAP');
    if (bad) return bad;
    if (cap.flags) return new Errno('EINVAL', 'KVM_ENABLE_CAP: flags');
    const vm = this.vm;
    const arg0 = cap.args[0] ?? 0n;
    switch (cap.cap) {
      case KVM_CAP_X86_USER_SPACE_MSR:
        if (vm.core.msrExitFlagChecks && arg0 & ~BigInt(KVM_MSR_EXIT_REASON_VALID_MASK))
          return new Errno('EINVAL', 'KVM_CAP_X86_USER_SPACE_MSR: unknown exit reasons');
        vm.userSpaceMsrMask = Number(arg0 & 0xffff_ffffn);
        return undefined;
      case KVM_CAP_EXIT_HYPERCALL:
        if (arg0 & ~(1n << BigInt(KVM_HC_MAP_GPA_RANGE)))
          return new Errno('EINVAL', 'KVM_CAP_EXIT_HYPERCALL: only KVM_HC_MAP_GPA_RANGE');
        vm.exitHypercalls = Number(arg0);
        return undefined;
      case KVM_CAP_MEMORY_FAULT_INFO:
        return new Errno('EINVAL', 'KVM_CAP_MEMORY_FAULT_INFO is reported, not enabled');
      case KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM:
      case KVM_CAP_VM_COPY_ENC_CONTEXT_FROM: {
        const kvm = this.kvm;
        const move = cap.cap === KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM;
        const op = move ? kvm.vmMoveEncContextFrom : kvm.vmCopyEncContextFrom;
        if (!op) return new Errno('EINVAL', `KVM_ENABLE_CAP ${cap.cap}: no memory encryption`);
        // The vendor op takes an unsigned int fd: fdget, then file_is_kvm (a VM fd), else EBADF.
        const src = kvm.fds.file(Number(BigInt.asUintN(32, arg0)));
        if (!(src instanceof ModelVmFd) || src.#closed)
          return new Errno('EBADF', `KVM_ENABLE_CAP ${cap.cap}: fd ${arg0} is no VM fd`);
        return op(vm, src.vm, kvm.cpus);
      }
      default: {
        const enable = vm.typeOps.enableCap;
        if (!enable)
          return new Errno('EINVAL', `KVM_ENABLE_CAP: capability ${cap.cap} not supported by this VM`);
        return enable.call(vm.typeOps, cap.cap, cap.args);
      }
    }
  }

  /**
   * KVM_X86_SET_MSR_FILTER (kvm_vm_ioctl_set_msr_filter): unknown flags (6.0+), an all-empty
   * default-deny filter, a used range with no or unknown access flags or a bitmap over 0x600 bytes
   * are EINVAL; a short bitmap EFAULT. Unused ranges (nmsrs 0) are skipped.
   */
  setMsrFilter(filter: MsrFilterSpec): IoctlResult<void> {
    const bad = this.#check('KVM_X86_SET_MSR_FILTER');
    if (bad) return bad;
    const vm = this.vm;
    if (filter.ranges.length > KVM_MSR_FILTER_MAX_RANGES)
      return new Errno('E2BIG', `KVM_X86_SET_MSR_FILTER: more than ${KVM_MSR_FILTER_MAX_RANGES} ranges`);
    if (vm.core.msrExitFlagChecks && filter.flags & ~KVM_MSR_FILTER_VALID_MASK)
      return new Errno('EINVAL', 'KVM_X86_SET_MSR_FILTER: flags');
    const used = filter.ranges.filter((r) => r.nmsrs !== 0);
    const deny = (filter.flags & KVM_MSR_FILTER_DEFAULT_DENY) !== 0;
    if (used.length === 0 && deny) return new Errno('EINVAL', 'KVM_X86_SET_MSR_FILTER: deny everything');
    for (const r of used) {
      if (r.flags & ~KVM_MSR_FILTER_RANGE_VALID_MASK || r.flags === 0)
        return new Errno('EINVAL', 'KVM_X86_SET_MSR_FILTER: range flags');
      const bytes = Math.ceil(r.nmsrs / 64) * 8;
      if (bytes > KVM_MSR_FILTER_MAX_BITMAP_SIZE)
        return new Errno('EINVAL', 'KVM_X86_SET_MSR_FILTER: bitmap size');
      // KVM copies the bitmap in whole longs (BITS_TO_LONGS(nmsrs) * 8 bytes).
      if (r.bitmap.length < bytes) return new Errno('EFAULT', 'KVM_X86_SET_MSR_FILTER: bitmap');
    }
    vm.msrFilter = {
      defaultAllow: !deny,
      ranges: used.map((r) => ({
        flags: r.flags,
        base: r.base >>> 0,
        nmsrs: r.nmsrs,
        bitmap: r.bitmap.slice(),
      })),
    };
    // KVM_REQ_MSR_FILTER_CHANGED: every vCPU recomputes which MSRs it passes through.
    for (const vcpu of vm.vcpus.values()) svmRecalcMsrIntercepts(vcpu);
    return undefined;
  }

  createGuestMemfd(size: bigint, flags = 0n): IoctlResult<number> {
    const bad = this.#check('KVM_CREATE_GUEST_MEMFD');
    if (bad) return bad;
    const vm = this.vm;
    if (!vm.core.guestMemfd || vm.typeOps.protectedState || flags !== 0n)
      return new Errno('EINVAL', 'KVM_CREATE_GUEST_MEMFD not supported');
    const f = vm.ctx.fds.createGuestMemfd(vm, size > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(size));
    return typeof f === 'string' ? new Errno(f, `KVM_CREATE_GUEST_MEMFD size ${size}`) : f.fd;
  }

  createVcpu(id: number): IoctlResult<ModelVcpuFd> {
    const bad = this.#check('KVM_CREATE_VCPU');
    if (bad) return bad;
    const vm = this.vm;
    if (!Number.isInteger(id) || id < 0 || id >= vm.ctx.maxVcpuId)
      return new Errno('EINVAL', `vcpu id ${id}`);
    if (vm.vcpus.has(id)) return new Errno('EEXIST', `vcpu ${id} exists`);
    const vcpu = vm.createVcpu(id, this.kvm.cpus(id, vm.typeOps.sevEs ?? false));
    if (vcpu instanceof Errno) return vcpu;
    vm.get();
    return new ModelVcpuFd(vcpu);
  }

  /** KVM_SET_TSS_ADDR: above 0xfffff000 - 2 pages is EINVAL; SVM has no use for it. */
  setTssAddress(addr: number): IoctlResult<void> {
    const bad = this.#check('KVM_SET_TSS_ADDR');
    if (bad) return bad;
    if (addr < 0 || addr > 0xffff_d000) return new Errno('EINVAL', 'KVM_SET_TSS_ADDR');
    return undefined;
  }

  /** KVM_SET_IDENTITY_MAP_ADDR: EINVAL once a vCPU exists; SVM ignores the address. */
  setIdentityMapAddress(_addr: bigint): IoctlResult<void> {
    const bad = this.#check('KVM_SET_IDENTITY_MAP_ADDR');
    if (bad) return bad;
    if (this.vm.vcpus.size > 0) return new Errno('EINVAL', 'KVM_SET_IDENTITY_MAP_ADDR after KVM_CREATE_VCPU');
    return undefined;
  }

  /** KVM_CREATE_IRQCHIP: EEXIST for a second one, EINVAL once a vCPU exists. */
  createIrqchip(): IoctlResult<void> {
    const bad = this.#check('KVM_CREATE_IRQCHIP');
    if (bad) return bad;
    const vm = this.vm;
    if (vm.irqchip) return new Errno('EEXIST', 'KVM_CREATE_IRQCHIP: already created');
    if (vm.vcpus.size > 0) return new Errno('EINVAL', 'KVM_CREATE_IRQCHIP after KVM_CREATE_VCPU');
    vm.irqchip = new Irqchip();
    return undefined;
  }

  /** KVM_IRQ_LINE: ENXIO without an in-kernel irqchip. */
  irqLine(irq: number, level: number): IoctlResult<void> {
    const bad = this.#check('KVM_IRQ_LINE');
    if (bad) return bad;
    const chip = this.vm.irqchip;
    if (!chip) return new Errno('ENXIO', 'KVM_IRQ_LINE without an in-kernel irqchip');
    chip.irqLine(irq, level);
    return undefined;
  }

  getIrqchip(chipId: number): IoctlResult<KvmIrqchip> {
    const bad = this.#check('KVM_GET_IRQCHIP');
    if (bad) return bad;
    const chip = this.vm.irqchip;
    if (!chip) return new Errno('ENXIO', 'KVM_GET_IRQCHIP without an in-kernel irqchip');
    return chip.getChip(chipId);
  }

  setIrqchip(c: KvmIrqchip): IoctlResult<void> {
    const bad = this.#check('KVM_SET_IRQCHIP');
    if (bad) return bad;
    const chip = this.vm.irqchip;
    if (!chip) return new Errno('ENXIO', 'KVM_SET_IRQCHIP without an in-kernel irqchip');
    if (c.chipId > KVM_IRQCHIP_IOAPIC) return new Errno('EINVAL', `irqchip ${c.chipId}`);
    return chip.setChip(c);
  }

  /** KVM_MEMORY_ENCRYPT_OP: the VM type's (or, for a default VM, the platform's) sev_mem_enc_ioctl; else ENOTTY. */
  memoryEncryptOp(cmd: KvmSevCmd): IoctlResult<KvmSevCmd> {
    const bad = this.#check('KVM_MEMORY_ENCRYPT_OP');
    if (bad) return bad;
    const vm = this.vm;
    const op = vm.typeOps.memEncOp;
    if (op) return op.call(vm.typeOps, cmd);
    if (this.kvm.memEncOp) return this.kvm.memEncOp(vm, cmd);
    return new Errno('ENOTTY', 'KVM_MEMORY_ENCRYPT_OP: memory encryption is not supported');
  }

  /** KVM_MEMORY_ENCRYPT_REG_REGION: the VM type's mem_enc_register_region; else ENOTTY. */
  memoryEncryptRegRegion(range: KvmEncRegion): IoctlResult<void> {
    const what = 'KVM_MEMORY_ENCRYPT_REG_REGION';
    const bad = this.#check(what);
    if (bad) return bad;
    const ops = this.vm.typeOps;
    if (!ops.memEncRegisterRegion) return new Errno('ENOTTY', `${what}: not an SEV guest`);
    return ops.memEncRegisterRegion(range);
  }

  /** KVM_MEMORY_ENCRYPT_UNREG_REGION: the VM type's mem_enc_unregister_region; else ENOTTY. */
  memoryEncryptUnregRegion(range: KvmEncRegion): IoctlResult<void> {
    const what = 'KVM_MEMORY_ENCRYPT_UNREG_REGION';
    const bad = this.#check(what);
    if (bad) return bad;
    const ops = this.vm.typeOps;
    if (!ops.memEncUnregisterRegion) return new Errno('ENOTTY', `${what}: not an SEV guest`);
    return ops.memEncUnregisterRegion(range);
  }

  /**
   * KVM_SET_NR_MMU_PAGES (kvm_vm_ioctl_set_nr_mmu_pages): below KVM_MIN_ALLOC_MMU_PAGES is EINVAL.
   * The limit bounds the shadow MMU; with NPT (tdp_mmu) nothing in the model consumes it.
   */
  setNrMmuPages(pages: bigint): IoctlResult<void> {
    const bad = this.#check('KVM_SET_NR_MMU_PAGES');
    if (bad) return bad;
    if (BigInt.asUintN(64, pages) < KVM_MIN_ALLOC_MMU_PAGES)
      return new Errno('EINVAL', `KVM_SET_NR_MMU_PAGES ${pages}: below ${KVM_MIN_ALLOC_MMU_PAGES}`);
    // Nothing to keep: the limit bounds the shadow MMU, and with NPT the model has none.
    return undefined;
  }

  getTscKhz(): IoctlResult<number> {
    return this.#check('KVM_GET_TSC_KHZ') ?? MODEL_TSC_KHZ;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.kvm.fds.close(this.fd);
    this.vm.put();
  }
}

/** A vCPU fd of the model. */
export class ModelVcpuFd implements VcpuFd {
  readonly id: number;
  readonly runArea: KvmRun;
  #closed = false;

  constructor(
    /** KVM-internal: struct kvm_vcpu (src/kvm and src/sev tests only). */
    readonly vcpu: Vcpu,
  ) {
    this.id = vcpu.id;
    this.runArea = vcpu.runArea;
  }

  #check(what: string): Errno | undefined {
    if (this.#closed) return ebadf(what);
    if (this.vcpu.vm.dead) return new Errno('EIO', `${what}: the VM is dead`);
    return undefined;
  }

  run(): RunResult {
    let r: number;
    let oops: string | undefined;
    try {
      r = this.runRaw();
    } catch (e) {
      if (!(e instanceof KernelOops)) throw e;
      r = -5;
      oops = e.oops;
    }
    const run = this.runArea;
    if (r >= 0) return decodeExit(run);
    const error = Errno.fromNegative(r, `KVM_RUN on vcpu ${this.id}`);
    return oops === undefined
      ? { kind: 'Failed', error, left: decodeExit(run) }
      : { kind: 'Failed', error, left: decodeExit(run), oops };
  }

  runRaw(): number {
    if (this.#closed) return -9;
    const vcpu = this.vcpu;
    const r = vcpu.run();
    postKvmRunSave(vcpu);
    return r;
  }

  getRegs(): IoctlResult<KvmRegs> {
    return this.#check('KVM_GET_REGS') ?? state.getRegs(this.vcpu);
  }

  setRegs(regs: KvmRegs): IoctlResult<void> {
    return this.#check('KVM_SET_REGS') ?? state.setRegs(this.vcpu, regs);
  }

  getSregs(): IoctlResult<KvmSregs> {
    return this.#check('KVM_GET_SREGS') ?? state.getSregs(this.vcpu);
  }

  setSregs(sregs: KvmSregs): IoctlResult<void> {
    return this.#check('KVM_SET_SREGS') ?? state.setSregs(this.vcpu, sregs);
  }

  /** KVM_GET_MSRS: E2BIG from 256 entries; the entries processed until the first KVM cannot read. */
  getMsrs(indices: readonly number[]): IoctlResult<KvmMsrEntry[]> {
    const bad = this.#check('KVM_GET_MSRS');
    if (bad) return bad;
    if (indices.length >= MAX_IO_MSRS) return new Errno('E2BIG', 'KVM_GET_MSRS: too many entries');
    const out: KvmMsrEntry[] = [];
    for (const index of indices) {
      // sev_es_prevent_msr_access (6.10+): an encrypted VMSA's MSRs (the save area's) are out of reach.
      if (state.vcpuStateProtected(this.vcpu)) break;
      const r = svmGetMsr(this.vcpu, index >>> 0);
      if (r.ret !== KVM_MSR_RET_OK) break;
      out.push({ index, data: r.value });
    }
    return out;
  }

  /** KVM_SET_MSRS: E2BIG from 256 entries; how many were written before the first KVM refused. */
  setMsrs(entries: readonly KvmMsrEntry[]): IoctlResult<number> {
    const bad = this.#check('KVM_SET_MSRS');
    if (bad) return bad;
    if (entries.length >= MAX_IO_MSRS) return new Errno('E2BIG', 'KVM_SET_MSRS: too many entries');
    let n = 0;
    for (const e of entries) {
      if (
        state.vcpuStateProtected(this.vcpu) ||
        svmSetMsr(this.vcpu, e.index >>> 0, e.data, true) !== KVM_MSR_RET_OK
      )
        break;
      n++;
    }
    return n;
  }

  /**
   * KVM_SET_CPUID2: E2BIG above 256 entries; after the vCPU ran, only the table it has (runtime
   * bits applied to both) is accepted, else EINVAL.
   */
  setCpuid2(entries: readonly KvmCpuidEntry2[]): IoctlResult<void> {
    const bad = this.#check('KVM_SET_CPUID2');
    if (bad) return bad;
    if (entries.length > KVM_MAX_CPUID_ENTRIES) return new Errno('E2BIG', 'KVM_SET_CPUID2: too many entries');
    const vcpu = this.vcpu;
    const next = entries.map((e) => ({ ...e }));
    if (vcpu.hasRun) {
      const cur = vcpu.cpuid;
      const same =
        cur.length === next.length &&
        cur.every((c, i) => {
          const n = next[i]!;
          if (c.function !== n.function || c.index !== n.index || c.flags !== n.flags) return false;
          const a = kvmCpuid(vcpu, c.function, c.index);
          const saved = vcpu.cpuid;
          vcpu.cpuid = next;
          const b = kvmCpuid(vcpu, n.function, n.index);
          vcpu.cpuid = saved;
          return a.eax === b.eax && a.ebx === b.ebx && a.ecx === b.ecx && a.edx === b.edx;
        });
      if (!same) return new Errno('EINVAL', 'KVM_SET_CPUID2 after KVM_RUN must not change CPUID');
      vcpu.cpuid = next;
      return undefined;
    }
    vcpu.cpuid = next;
    // kvm_vcpu_after_set_cpuid → svm_vcpu_after_set_cpuid: the intercepts that follow CPUID.
    svmRecalcIntercepts(vcpu);
    return undefined;
  }

  /** KVM_GET_CPUID2: the table with its runtime bits; E2BIG when it does not fit. */
  getCpuid2(maxEntries: number): IoctlResult<KvmCpuidEntry2[]> {
    const bad = this.#check('KVM_GET_CPUID2');
    if (bad) return bad;
    const vcpu = this.vcpu;
    if (maxEntries < vcpu.cpuid.length)
      return new Errno('E2BIG', 'KVM_GET_CPUID2: table larger than the buffer');
    return vcpu.cpuid.map((e) => ({
      ...kvmCpuid(vcpu, e.function, e.index),
      flags: e.flags,
      index: e.index,
    }));
  }

  getFpu(): IoctlResult<KvmFpu> {
    return this.#check('KVM_GET_FPU') ?? state.getFpu(this.vcpu);
  }

  setFpu(fpu: KvmFpu): IoctlResult<void> {
    return this.#check('KVM_SET_FPU') ?? state.setFpu(this.vcpu, fpu);
  }

  getXcrs(): IoctlResult<KvmXcrs> {
    return this.#check('KVM_GET_XCRS') ?? state.getXcrs(this.vcpu);
  }

  setXcrs(xcrs: KvmXcrs): IoctlResult<void> {
    return this.#check('KVM_SET_XCRS') ?? state.setXcrs(this.vcpu, xcrs);
  }

  getXsave(): IoctlResult<KvmXsave> {
    return this.#check('KVM_GET_XSAVE') ?? getXsave(this.vcpu);
  }

  /** KVM_GET_XSAVE2: uabi_size is sizeof(struct kvm_xsave); the model has no dynamic (AMX) state. */
  getXsave2(): IoctlResult<KvmXsave> {
    return this.#check('KVM_GET_XSAVE2') ?? getXsave(this.vcpu);
  }

  setXsave(xsave: KvmXsave): IoctlResult<void> {
    return this.#check('KVM_SET_XSAVE') ?? setXsave(this.vcpu, xsave);
  }

  getDebugregs(): IoctlResult<KvmDebugregs> {
    return this.#check('KVM_GET_DEBUGREGS') ?? getDebugregs(this.vcpu);
  }

  setDebugregs(regs: KvmDebugregs): IoctlResult<void> {
    return this.#check('KVM_SET_DEBUGREGS') ?? setDebugregs(this.vcpu, regs);
  }

  getVcpuEvents(): IoctlResult<KvmVcpuEvents> {
    return this.#check('KVM_GET_VCPU_EVENTS') ?? state.getVcpuEvents(this.vcpu);
  }

  setVcpuEvents(events: KvmVcpuEvents): IoctlResult<void> {
    return this.#check('KVM_SET_VCPU_EVENTS') ?? state.setVcpuEvents(this.vcpu, events);
  }

  /** KVM_GET_MP_STATE: pending INIT/SIPI are taken first; a kicked (pv_unhalted) waiting vCPU reads RUNNABLE. */
  getMpState(): IoctlResult<number> {
    const bad = this.#check('KVM_GET_MP_STATE');
    if (bad) return bad;
    const vcpu = this.vcpu;
    vcpu.acceptApicEvents();
    const waiting = vcpu.mpState === KVM_MP_STATE_HALTED || vcpu.mpState === KVM_MP_STATE_AP_RESET_HOLD;
    return waiting && vcpu.pvUnhalted ? KVM_MP_STATE_RUNNABLE : vcpu.mpState;
  }

  /**
   * KVM_SET_MP_STATE: without an in-kernel APIC only RUNNABLE; SIPI_RECEIVED becomes INIT_RECEIVED
   * with a SIPI pending (the next KVM_RUN delivers it, as kvm_apic_accept_events does).
   */
  setMpState(mpState: number): IoctlResult<void> {
    const bad = this.#check('KVM_SET_MP_STATE');
    if (bad) return bad;
    const vcpu = this.vcpu;
    const chip = vcpu.vm.irqchip;
    // x86 knows these states; all but RUNNABLE need the in-kernel APIC.
    if (!X86_MP_STATES.has(mpState)) return new Errno('EINVAL', `KVM_SET_MP_STATE ${mpState}`);
    if (!chip && mpState !== KVM_MP_STATE_RUNNABLE)
      return new Errno('EINVAL', 'KVM_SET_MP_STATE: only RUNNABLE without an in-kernel APIC');
    if (chip && mpState === KVM_MP_STATE_SIPI_RECEIVED) {
      const l = chip.lapic(vcpu);
      vcpu.mpState = KVM_MP_STATE_INIT_RECEIVED;
      l.sipiPending = true;
      return undefined;
    }
    vcpu.mpState = mpState;
    return undefined;
  }

  /** KVM_INTERRUPT: EINVAL for a vector above 255, ENXIO with an in-kernel irqchip. */
  interrupt(irq: number): IoctlResult<void> {
    const bad = this.#check('KVM_INTERRUPT');
    if (bad) return bad;
    if (!Number.isInteger(irq) || irq < 0 || irq >= 256) return new Errno('EINVAL', `KVM_INTERRUPT ${irq}`);
    const vcpu = this.vcpu;
    if (vcpu.vm.irqchip) return new Errno('ENXIO', 'KVM_INTERRUPT with an in-kernel irqchip');
    vcpu.interrupt = irq;
    return undefined;
  }

  nmi(): IoctlResult<void> {
    const bad = this.#check('KVM_NMI');
    if (bad) return bad;
    const vcpu = this.vcpu;
    vcpu.nmiPending = Math.min(vcpu.nmiPending + 1, 2);
    return undefined;
  }

  /** KVM_GET_LAPIC: EINVAL without an in-kernel local APIC. */
  getLapic(): IoctlResult<KvmLapicState> {
    const bad = this.#check('KVM_GET_LAPIC');
    if (bad) return bad;
    const chip = this.vcpu.vm.irqchip;
    if (!chip) return new Errno('EINVAL', 'KVM_GET_LAPIC without an in-kernel local APIC');
    return { regs: chip.lapic(this.vcpu).regs.slice() };
  }

  setLapic(s: KvmLapicState): IoctlResult<void> {
    const bad = this.#check('KVM_SET_LAPIC');
    if (bad) return bad;
    const chip = this.vcpu.vm.irqchip;
    if (!chip) return new Errno('EINVAL', 'KVM_SET_LAPIC without an in-kernel local APIC');
    if (s.regs.length < KVM_LAPIC_STATE_SIZE) return new Errno('EFAULT', 'KVM_SET_LAPIC: short state');
    chip.lapic(this.vcpu).regs.set(s.regs.subarray(0, KVM_LAPIC_STATE_SIZE));
    return undefined;
  }

  /**
   * KVM_ENABLE_CAP on the vCPU (kvm_vcpu_ioctl_enable_cap): flags must be 0;
   * KVM_CAP_ENFORCE_PV_FEATURE_CPUID (args[0] on or off); the Hyper-V ones are not modelled (EINVAL).
   */
  enableCap(cap: KvmEnableCap): IoctlResult<void> {
    const bad = this.#check('KVM_ENABLE_CAP');
    if (bad) return bad;
    if (cap.flags) return new Errno('EINVAL', 'KVM_ENABLE_CAP: flags');
    if (cap.cap === KVM_CAP_ENFORCE_PV_FEATURE_CPUID) {
      this.vcpu.enforcePvFeatureCpuid = (cap.args[0] ?? 0n) !== 0n;
      return undefined;
    }
    return new Errno('EINVAL', `KVM_ENABLE_CAP: vCPU capability ${cap.cap} not supported`);
  }

  getTscKhz(): IoctlResult<number> {
    return this.#check('KVM_GET_TSC_KHZ') ?? MODEL_TSC_KHZ;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // The vCPU lives as long as its VM (kvm_vcpu_release only drops the VM reference).
    this.vcpu.vm.put();
  }
}

/** The mp_states KVM_SET_MP_STATE accepts on x86. */
const X86_MP_STATES: ReadonlySet<number> = new Set([
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_UNINITIALIZED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_SIPI_RECEIVED,
  KVM_MP_STATE_AP_RESET_HOLD,
]);

/** post_kvm_run_save: the fields KVM writes into kvm_run on every return to userspace. */
function postKvmRunSave(vcpu: Vcpu): void {
  const run = vcpu.runArea;
  run.setU8(KVM_RUN_OFF_IF_FLAG, svmGetIfFlag(vcpu) ? 1 : 0);
  run.setU64n(KVM_RUN_OFF_CR8, kvmGetCr8(vcpu));
  run.setU64(KVM_RUN_OFF_APIC_BASE, vcpu.msrs.get(MSR_IA32_APICBASE) ?? 0n);
  const ready =
    vcpu.vm.irqchip !== undefined ||
    (interruptAllowed(vcpu) && vcpu.interrupt === undefined && !vcpu.exception);
  run.setU8(KVM_RUN_OFF_READY_FOR_INTERRUPT_INJECTION, ready ? 1 : 0);
}
