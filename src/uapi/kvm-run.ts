/**
 * `struct kvm_run` as the real byte buffer a VMM mmaps from the vCPU fd (x86-64 layout, see
 * ../shared/spec/kvm-uapi.md section 2): page 0 is kvm_run, page 1 the PIO data page, page 2 the
 * coalesced-MMIO ring. Offsets are exported so a binding to a real /dev/kvm uses the same numbers.
 */

/** Bytes KVM_GET_VCPU_MMAP_SIZE reports on x86: kvm_run + PIO page + coalesced MMIO page. */
export const KVM_VCPU_MMAP_SIZE = 3 * 4096;
/** sizeof(struct kvm_run) as compiled on x86-64. */
export const KVM_RUN_SIZE = 2352;
/** Where KVM puts port I/O data: kvm_run + KVM_PIO_PAGE_OFFSET pages. */
export const KVM_PIO_DATA_OFFSET = 4096;

export const KVM_RUN_OFF_REQUEST_INTERRUPT_WINDOW = 0;
export const KVM_RUN_OFF_IMMEDIATE_EXIT = 1;
export const KVM_RUN_OFF_EXIT_REASON = 8;
export const KVM_RUN_OFF_READY_FOR_INTERRUPT_INJECTION = 12;
export const KVM_RUN_OFF_IF_FLAG = 13;
export const KVM_RUN_OFF_FLAGS = 14;
export const KVM_RUN_OFF_CR8 = 16;
export const KVM_RUN_OFF_APIC_BASE = 24;
/** Start of the exit union (256 bytes). */
export const KVM_RUN_OFF_EXIT_UNION = 32;
export const KVM_RUN_EXIT_UNION_SIZE = 256;
export const KVM_RUN_OFF_KVM_VALID_REGS = 288;
export const KVM_RUN_OFF_KVM_DIRTY_REGS = 296;
export const KVM_RUN_OFF_SYNC_REGS = 304;
/** struct kvm_sync_regs inside s.regs: kvm_regs, then kvm_sregs, then kvm_vcpu_events (x86). */
export const KVM_SYNC_REGS_OFF_REGS = KVM_RUN_OFF_SYNC_REGS;
export const KVM_SYNC_REGS_OFF_SREGS = KVM_RUN_OFF_SYNC_REGS + 144;
export const KVM_SYNC_REGS_OFF_EVENTS = KVM_RUN_OFF_SYNC_REGS + 144 + 312;
/** kvm_valid_regs / kvm_dirty_regs bits (arch/x86/include/uapi/asm/kvm.h). */
export const KVM_SYNC_X86_REGS = 1 << 0;
export const KVM_SYNC_X86_SREGS = 1 << 1;
export const KVM_SYNC_X86_EVENTS = 1 << 2;
export const KVM_SYNC_X86_VALID_FIELDS = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;

// io
export const KVM_RUN_OFF_IO_DIRECTION = 32;
export const KVM_RUN_OFF_IO_SIZE = 33;
export const KVM_RUN_OFF_IO_PORT = 34;
export const KVM_RUN_OFF_IO_COUNT = 36;
export const KVM_RUN_OFF_IO_DATA_OFFSET = 40;
// mmio
export const KVM_RUN_OFF_MMIO_PHYS_ADDR = 32;
export const KVM_RUN_OFF_MMIO_DATA = 40;
export const KVM_RUN_OFF_MMIO_LEN = 48;
export const KVM_RUN_OFF_MMIO_IS_WRITE = 52;
// hypercall
export const KVM_RUN_OFF_HYPERCALL_NR = 32;
export const KVM_RUN_OFF_HYPERCALL_ARGS = 40;
export const KVM_RUN_OFF_HYPERCALL_RET = 88;
export const KVM_RUN_OFF_HYPERCALL_FLAGS = 96;
// internal / emulation_failure
export const KVM_RUN_OFF_INTERNAL_SUBERROR = 32;
export const KVM_RUN_OFF_INTERNAL_NDATA = 36;
export const KVM_RUN_OFF_INTERNAL_DATA = 40;
// system_event
export const KVM_RUN_OFF_SYSTEM_EVENT_TYPE = 32;
export const KVM_RUN_OFF_SYSTEM_EVENT_NDATA = 36;
export const KVM_RUN_OFF_SYSTEM_EVENT_DATA = 40;
// msr
export const KVM_RUN_OFF_MSR_ERROR = 32;
export const KVM_RUN_OFF_MSR_REASON = 40;
export const KVM_RUN_OFF_MSR_INDEX = 44;
export const KVM_RUN_OFF_MSR_DATA = 48;
// fail_entry
export const KVM_RUN_OFF_FAIL_ENTRY_REASON = 32;
export const KVM_RUN_OFF_FAIL_ENTRY_CPU = 40;
// ex
export const KVM_RUN_OFF_EX_EXCEPTION = 32;
export const KVM_RUN_OFF_EX_ERROR_CODE = 36;
// debug (struct kvm_debug_exit_arch)
export const KVM_RUN_OFF_DEBUG_EXCEPTION = 32;
export const KVM_RUN_OFF_DEBUG_PC = 40;
export const KVM_RUN_OFF_DEBUG_DR6 = 48;
export const KVM_RUN_OFF_DEBUG_DR7 = 56;
// memory_fault
export const KVM_RUN_OFF_MEMORY_FAULT_FLAGS = 32;
export const KVM_RUN_OFF_MEMORY_FAULT_GPA = 40;
export const KVM_RUN_OFF_MEMORY_FAULT_SIZE = 48;

/** Number of u64 entries in internal.data[] and system_event.data[]. */
export const KVM_RUN_DATA_WORDS = 16;

const TWO32 = 0x1_0000_0000;

/**
 * A typed window on the kvm_run mapping. Fields are read and written straight in `bytes`, so what a
 * VMM (or a future /dev/kvm shim) sees in the buffer is the truth; the accessors only spare callers
 * the offsets. u64 fields have a `number` accessor (exact below 2^53: addresses, sizes) and, where a
 * full 64-bit value can occur, a `bigint` one.
 */
export class KvmRun {
  /** The whole vCPU mapping (KVM_VCPU_MMAP_SIZE bytes). */
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** `mmio.data[8]`, aliasing the buffer. */
  readonly mmioData: Uint8Array;
  /** The PIO data page, aliasing the buffer. */
  readonly pioPage: Uint8Array;

  constructor(bytes: Uint8Array = new Uint8Array(KVM_VCPU_MMAP_SIZE)) {
    if (bytes.length < KVM_VCPU_MMAP_SIZE)
      throw new RangeError(`kvm_run mapping needs ${KVM_VCPU_MMAP_SIZE} bytes`);
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.mmioData = bytes.subarray(KVM_RUN_OFF_MMIO_DATA, KVM_RUN_OFF_MMIO_DATA + 8);
    this.pioPage = bytes.subarray(KVM_PIO_DATA_OFFSET, KVM_PIO_DATA_OFFSET + 4096);
  }

  u8(off: number): number {
    return this.view.getUint8(off);
  }
  setU8(off: number, v: number): void {
    this.view.setUint8(off, v);
  }
  u16(off: number): number {
    return this.view.getUint16(off, true);
  }
  setU16(off: number, v: number): void {
    this.view.setUint16(off, v, true);
  }
  u32(off: number): number {
    return this.view.getUint32(off, true);
  }
  setU32(off: number, v: number): void {
    this.view.setUint32(off, v >>> 0, true);
  }
  /** A u64 as a number; exact for values below 2^53. */
  u64n(off: number): number {
    return this.view.getUint32(off, true) + this.view.getUint32(off + 4, true) * TWO32;
  }
  /** Store a non-negative integer below 2^53 as a u64 without going through bigint. */
  setU64n(off: number, v: number): void {
    this.view.setUint32(off, v % TWO32, true);
    this.view.setUint32(off + 4, Math.floor(v / TWO32), true);
  }
  u64(off: number): bigint {
    return this.view.getBigUint64(off, true);
  }
  setU64(off: number, v: bigint): void {
    this.view.setBigUint64(off, BigInt.asUintN(64, v), true);
  }

  get immediateExit(): number {
    return this.bytes[KVM_RUN_OFF_IMMEDIATE_EXIT]!;
  }
  set immediateExit(v: number) {
    this.bytes[KVM_RUN_OFF_IMMEDIATE_EXIT] = v;
  }
  get requestInterruptWindow(): number {
    return this.bytes[KVM_RUN_OFF_REQUEST_INTERRUPT_WINDOW]!;
  }
  set requestInterruptWindow(v: number) {
    this.bytes[KVM_RUN_OFF_REQUEST_INTERRUPT_WINDOW] = v;
  }
  /** ready_for_interrupt_injection: KVM_INTERRUPT would be taken at the next entry. */
  get readyForInterruptInjection(): number {
    return this.bytes[KVM_RUN_OFF_READY_FOR_INTERRUPT_INJECTION]!;
  }
  /** if_flag: the guest's RFLAGS.IF at the exit. */
  get ifFlag(): number {
    return this.bytes[KVM_RUN_OFF_IF_FLAG]!;
  }
  get exitReason(): number {
    return this.u32(KVM_RUN_OFF_EXIT_REASON);
  }
  set exitReason(v: number) {
    this.setU32(KVM_RUN_OFF_EXIT_REASON, v);
  }
  /** kvm_valid_regs: the register sets KVM stores into s.regs on every return from KVM_RUN. */
  get kvmValidRegs(): bigint {
    return this.u64(KVM_RUN_OFF_KVM_VALID_REGS);
  }
  set kvmValidRegs(v: bigint) {
    this.setU64(KVM_RUN_OFF_KVM_VALID_REGS, v);
  }
  /** kvm_dirty_regs: the register sets KVM_RUN loads from s.regs first (each bit cleared once applied). */
  get kvmDirtyRegs(): bigint {
    return this.u64(KVM_RUN_OFF_KVM_DIRTY_REGS);
  }
  set kvmDirtyRegs(v: bigint) {
    this.setU64(KVM_RUN_OFF_KVM_DIRTY_REGS, v);
  }
  get flags(): number {
    return this.u16(KVM_RUN_OFF_FLAGS);
  }
  set flags(v: number) {
    this.setU16(KVM_RUN_OFF_FLAGS, v);
  }

  /** Zero the exit union, so stale fields of an earlier exit never leak into a new one. */
  clearExitUnion(): void {
    this.bytes.fill(0, KVM_RUN_OFF_EXIT_UNION, KVM_RUN_OFF_EXIT_UNION + KVM_RUN_EXIT_UNION_SIZE);
  }

  /** `internal.data[i]`, `system_event.data[i]` (same offsets). */
  dataWord(i: number): bigint {
    return this.u64(KVM_RUN_OFF_INTERNAL_DATA + 8 * i);
  }
  setDataWord(i: number, v: bigint): void {
    this.setU64(KVM_RUN_OFF_INTERNAL_DATA + 8 * i, v);
  }
}
