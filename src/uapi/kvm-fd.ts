/**
 * The KVM file-descriptor ABI as a VMM uses it, after rust-vmm's kvm-ioctls: one object per fd
 * (`KvmFd` = /dev/kvm, `VmFd`, `VcpuFd`), one method per ioctl, the uapi structs in and out (their
 * byte-exact codecs live beside this file), and every failure a value: an `Errno` carrying the
 * errno's name, never an exception. The model (src/kvm) and the machine's real /dev/kvm
 * (src/hostkvm) both implement it, so one VMM runs on either.
 *
 * What crosses this boundary is what crosses the real one: ioctl arguments and results, the
 * mmap'ed `kvm_run` page (`VcpuFd.runArea`), and errno. Pointers inside structs (`kvm_sev_cmd.data`)
 * are addresses in the VMM process; arrays behind pointers that the ioctl only reads or fills
 * (dirty bitmaps, MSR filter bitmaps) are passed as bytes.
 */
import type { KvmCpuidEntry2 } from './cpuid.js';
import type { KvmDebugregs } from './debugregs.js';
import type { KvmEnableCap } from './enable-cap.js';
import type { Errno } from './errno.js';
import type { KvmFpu } from './fpu.js';
import type { KvmIrqchip } from './irq.js';
import type { KvmRun } from './kvm-run.js';
import type { KvmLapicState } from './lapic.js';
import type { UserspaceMemoryRegion } from './memslot.js';
import type { KvmMsrEntry } from './msrs.js';
import type { KvmRegs } from './regs.js';
import type { KvmEncRegion, KvmSevCmd } from './sev-cmd.js';
import type { KvmSregs } from './sregs.js';
import type { KvmVcpuEvents } from './vcpu-events.js';
import type { VcpuExit } from './vcpu-exit.js';
import type { KvmXcrs, KvmXsave } from './xsave.js';

/** An ioctl's result: its value, or the errno it failed with. */
export type IoctlResult<T> = T | Errno;

/**
 * KVM_RUN's result: the exit to userspace, or the errno together with what KVM left in kvm_run
 * (a KVM_EXIT_MEMORY_FAULT beside EFAULT, KVM_EXIT_INTR beside EINTR, or a stale earlier exit).
 */
export type RunResult = VcpuExit | RunFailure;

/** A failed KVM_RUN: the errno, and kvm_run decoded as KVM left it. */
export interface RunFailure {
  readonly kind: 'Failed';
  readonly error: Errno;
  readonly left: VcpuExit;
  /**
   * The host kernel crashed handling this KVM_RUN (an oops, such as the seed kernel's division by
   * zero on a 0-byte string I/O element). In Linux the calling thread dies and the ioctl never
   * returns; the model reports it here, with EIO, and the VM is dead from then on.
   */
  readonly oops?: string;
}

/** One range of KVM_X86_SET_MSR_FILTER, with its bitmap as bytes (bit i: MSR base + i allowed). */
export interface MsrFilterRangeSpec {
  readonly flags: number;
  readonly base: number;
  readonly nmsrs: number;
  readonly bitmap: Uint8Array;
}

/** KVM_X86_SET_MSR_FILTER's argument: kvm_msr_filter.flags and the ranges in use. */
export interface MsrFilterSpec {
  readonly flags: number;
  readonly ranges: readonly MsrFilterRangeSpec[];
}

/** KVM_CLEAR_DIRTY_LOG's argument, with the bitmap as bytes. */
export interface ClearDirtyLog {
  readonly slot: number;
  readonly firstPage: number;
  readonly numPages: number;
  readonly bitmap: Uint8Array;
}

/** The system fd (/dev/kvm). */
export interface KvmFd {
  /** KVM_GET_API_VERSION (12). */
  getApiVersion(): number;
  /** KVM_CHECK_EXTENSION on the system fd: 0 for an unknown capability. */
  checkExtension(cap: number): number;
  /** KVM_GET_VCPU_MMAP_SIZE. */
  getVcpuMmapSize(): IoctlResult<number>;
  /** KVM_CREATE_VM with a machine type (KVM_X86_DEFAULT_VM, KVM_X86_SEV_ES_VM, ...). */
  createVm(type?: number): IoctlResult<VmFd>;
  /** KVM_GET_SUPPORTED_CPUID with room for `maxEntries` (E2BIG when they do not fit). */
  getSupportedCpuid(maxEntries: number): IoctlResult<KvmCpuidEntry2[]>;
  /** KVM_GET_MSR_INDEX_LIST: the MSRs KVM_GET/SET_MSRS know. */
  getMsrIndexList(): IoctlResult<number[]>;
  /** KVM_GET_MSR_FEATURE_INDEX_LIST: the feature MSRs KVM_GET_MSRS on the system fd reads. */
  getMsrFeatureIndexList(): IoctlResult<number[]>;
  /**
   * KVM_GET_DEVICE_ATTR on the system fd: the u64 KVM writes for (group, attr), e.g.
   * (KVM_X86_GRP_SEV, KVM_X86_SEV_VMSA_FEATURES); ENXIO for an attribute this KVM does not have.
   */
  getDeviceAttr(group: number, attr: number): IoctlResult<bigint>;
  /** KVM_HAS_DEVICE_ATTR on the system fd: undefined when KVM has (group, attr), else ENXIO. */
  hasDeviceAttr(group: number, attr: number): IoctlResult<void>;
  /** close(2): the VMs stay until their own fds close. */
  close(): void;
}

/** A VM fd. */
export interface VmFd {
  /** KVM_CHECK_EXTENSION on the VM fd (answers for this VM's type). */
  checkExtension(cap: number): number;
  /** KVM_SET_USER_MEMORY_REGION: create, move, change flags of or (size 0) delete a memslot. */
  setUserMemoryRegion(region: UserspaceMemoryRegion): IoctlResult<void>;
  /** KVM_SET_USER_MEMORY_REGION2 (the guest_memfd fields). */
  setUserMemoryRegion2(region: UserspaceMemoryRegion): IoctlResult<void>;
  /** KVM_GET_DIRTY_LOG: the slot's bitmap (bit n = page n, u64 words), fetched and cleared. */
  getDirtyLog(slot: number): IoctlResult<Uint8Array>;
  /** KVM_CLEAR_DIRTY_LOG (with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 semantics for the range checks). */
  clearDirtyLog(log: ClearDirtyLog): IoctlResult<void>;
  /** KVM_ENABLE_CAP on the VM fd. */
  enableCap(cap: KvmEnableCap): IoctlResult<void>;
  /** KVM_X86_SET_MSR_FILTER. */
  setMsrFilter(filter: MsrFilterSpec): IoctlResult<void>;
  /** KVM_CREATE_GUEST_MEMFD: a guest_memfd of `size` bytes for this VM, as its fd. */
  createGuestMemfd(size: bigint, flags?: bigint): IoctlResult<number>;
  /** KVM_CREATE_VCPU with the vCPU id, and the mmap of its kvm_run page. */
  createVcpu(id: number): IoctlResult<VcpuFd>;
  /** KVM_SET_TSS_ADDR (three pages KVM may use for real-mode emulation on VMX; SVM ignores it). */
  setTssAddress(addr: number): IoctlResult<void>;
  /** KVM_SET_IDENTITY_MAP_ADDR (before any vCPU exists). */
  setIdentityMapAddress(addr: bigint): IoctlResult<void>;
  /** KVM_CREATE_IRQCHIP: in-kernel PIC, IOAPIC and a local APIC per vCPU. */
  createIrqchip(): IoctlResult<void>;
  /** KVM_IRQ_LINE: raise (level 1) or lower a GSI of the in-kernel irqchip. */
  irqLine(irq: number, level: number): IoctlResult<void>;
  /** KVM_GET_IRQCHIP: one chip's state (PIC master/slave, IOAPIC). */
  getIrqchip(chipId: number): IoctlResult<KvmIrqchip>;
  /** KVM_SET_IRQCHIP. */
  setIrqchip(chip: KvmIrqchip): IoctlResult<void>;
  /**
   * KVM_MEMORY_ENCRYPT_OP: dispatched to the VM type (SEV's commands). `cmd.data` is an address in
   * the VMM's memory; the returned struct carries the firmware `error` KVM wrote back, and so does a
   * failure after which KVM copied it back (a SevCmdErrno: EIO with the firmware status, or any
   * other errno with `error` as passed in).
   */
  memoryEncryptOp(cmd: KvmSevCmd): IoctlResult<KvmSevCmd>;
  /**
   * KVM_MEMORY_ENCRYPT_REG_REGION: pin [addr, addr+size) of the VMM's memory for an SEV guest
   * (ENOTTY on a VM that is none; EINVAL for size 0 or a wrapping range; ENOMEM past RLIMIT_MEMLOCK).
   */
  memoryEncryptRegRegion(range: KvmEncRegion): IoctlResult<void>;
  /** KVM_MEMORY_ENCRYPT_UNREG_REGION: unpin a registered region (EINVAL unless addr and size match one exactly). */
  memoryEncryptUnregRegion(range: KvmEncRegion): IoctlResult<void>;
  /**
   * KVM_SET_NR_MMU_PAGES: the shadow MMU's page limit (EINVAL below KVM_MIN_ALLOC_MMU_PAGES, 64).
   * KVM_GET_NR_MMU_PAGES was removed in 6.4 (ENOTTY) and has no method.
   */
  setNrMmuPages(pages: bigint): IoctlResult<void>;
  /** KVM_GET_TSC_KHZ on the VM: kvm->arch.default_tsc_khz, what new vCPUs start with (5.x+). */
  getTscKhz(): IoctlResult<number>;
  /** close(2) of the VM fd: the VM is destroyed once no vCPU fd holds it. */
  close(): void;
}

/** A vCPU fd and its mmap'ed kvm_run page. */
export interface VcpuFd {
  /** The id KVM_CREATE_VCPU was given. */
  readonly id: number;
  /**
   * The kvm_run mapping (KVM_GET_VCPU_MMAP_SIZE bytes: kvm_run, the PIO data page, the coalesced
   * MMIO page). Another thread may write `immediate_exit` while a KVM_RUN is in progress.
   */
  readonly runArea: KvmRun;
  /**
   * KVM_RUN: the exit to userspace, decoded from kvm_run with data views into it (answer an IN, an
   * MMIO read or an RDMSR by writing there, then run again), or the failure with what kvm_run holds.
   */
  run(): RunResult;
  /** KVM_RUN without decoding: 0, or -errno. For loops that read kvm_run themselves. */
  runRaw(): number;
  /** KVM_GET_REGS. */
  getRegs(): IoctlResult<KvmRegs>;
  /** KVM_SET_REGS. */
  setRegs(regs: KvmRegs): IoctlResult<void>;
  /** KVM_GET_SREGS. */
  getSregs(): IoctlResult<KvmSregs>;
  /** KVM_SET_SREGS. */
  setSregs(sregs: KvmSregs): IoctlResult<void>;
  /**
   * KVM_GET_MSRS for these indices: the entries KVM read, in order, stopping at the first it could
   * not (the ioctl returns how many it processed).
   */
  getMsrs(indices: readonly number[]): IoctlResult<KvmMsrEntry[]>;
  /** KVM_SET_MSRS: how many entries KVM processed before the first it refused. */
  setMsrs(entries: readonly KvmMsrEntry[]): IoctlResult<number>;
  /** KVM_SET_CPUID2. */
  setCpuid2(entries: readonly KvmCpuidEntry2[]): IoctlResult<void>;
  /** KVM_GET_CPUID2 with room for `maxEntries` (the table with its runtime bits). */
  getCpuid2(maxEntries: number): IoctlResult<KvmCpuidEntry2[]>;
  /** KVM_GET_FPU. */
  getFpu(): IoctlResult<KvmFpu>;
  /** KVM_SET_FPU. */
  setFpu(fpu: KvmFpu): IoctlResult<void>;
  /** KVM_GET_XCRS. */
  getXcrs(): IoctlResult<KvmXcrs>;
  /** KVM_SET_XCRS. */
  setXcrs(xcrs: KvmXcrs): IoctlResult<void>;
  /** KVM_GET_XSAVE: the 4096-byte XSAVE image (standard format) of the guest's FPU state. */
  getXsave(): IoctlResult<KvmXsave>;
  /**
   * KVM_GET_XSAVE2: the image in the guest fpstate's uabi_size bytes (KVM_CHECK_EXTENSION
   * (KVM_CAP_XSAVE2) on the VM; 4096 unless dynamically enabled features such as AMX grow it).
   */
  getXsave2(): IoctlResult<KvmXsave>;
  /** KVM_SET_XSAVE (with `extra` when the uabi_size exceeds 4096). */
  setXsave(xsave: KvmXsave): IoctlResult<void>;
  /** KVM_GET_DEBUGREGS. */
  getDebugregs(): IoctlResult<KvmDebugregs>;
  /** KVM_SET_DEBUGREGS. */
  setDebugregs(regs: KvmDebugregs): IoctlResult<void>;
  /** KVM_GET_VCPU_EVENTS. */
  getVcpuEvents(): IoctlResult<KvmVcpuEvents>;
  /** KVM_SET_VCPU_EVENTS. */
  setVcpuEvents(events: KvmVcpuEvents): IoctlResult<void>;
  /** KVM_GET_MP_STATE. */
  getMpState(): IoctlResult<number>;
  /** KVM_SET_MP_STATE. */
  setMpState(state: number): IoctlResult<void>;
  /** KVM_INTERRUPT: queue an external interrupt vector (userspace irqchip). */
  interrupt(irq: number): IoctlResult<void>;
  /** KVM_NMI. */
  nmi(): IoctlResult<void>;
  /** KVM_GET_LAPIC (an in-kernel local APIC only). */
  getLapic(): IoctlResult<KvmLapicState>;
  /** KVM_SET_LAPIC. */
  setLapic(state: KvmLapicState): IoctlResult<void>;
  /** KVM_ENABLE_CAP on the vCPU fd. */
  enableCap(cap: KvmEnableCap): IoctlResult<void>;
  /** KVM_GET_TSC_KHZ. */
  getTscKhz(): IoctlResult<number>;
  /** close(2) of the vCPU fd (and munmap of kvm_run). */
  close(): void;
}
