/**
 * KVM capabilities, VM types, the API version and ioctl numbers.
 * Values from include/uapi/linux/kvm.h, arch/x86/include/uapi/asm/kvm.h and
 * include/uapi/asm-generic/ioctl.h; see shared/spec/kvm-uapi.md sections 2 and 5.
 */

import { KVM_USERSPACE_MEMORY_REGION_SIZE, KVM_USERSPACE_MEMORY_REGION2_SIZE } from './memslot.js';

/** What KVM_GET_API_VERSION returns; userspace refuses to run on anything else. */
export const KVM_API_VERSION = 12;

// ---- capabilities (KVM_CHECK_EXTENSION argument) ----

/** KVM_SET_USER_MEMORY_REGION is available (always 1 today). */
export const KVM_CAP_USER_MEMORY = 3;
/** Returns the number of user memory slots per address space (32764 on x86). */
export const KVM_CAP_NR_MEMSLOTS = 10;
/** Changes to host mappings are reflected in the guest (MMU notifiers). */
export const KVM_CAP_SYNC_MMU = 16;
/** KVM_MEM_READONLY memslots are supported. */
export const KVM_CAP_READONLY_MEM = 81;
/** x86 System Management Mode is supported (and with it address space 1). */
export const KVM_CAP_X86_SMM = 117;
/** `kvm_run.immediate_exit` is honoured. */
export const KVM_CAP_IMMEDIATE_EXIT = 136;
/** RDMSR/WRMSR may exit to userspace (KVM_EXIT_X86_RDMSR/WRMSR). */
export const KVM_CAP_X86_USER_SPACE_MSR = 188;
/** Dirty ring; the value is the maximum ring size in bytes. */
export const KVM_CAP_DIRTY_LOG_RING = 192;
/** Hypercalls that may exit to userspace; the value is a bitmask of hypercall numbers. */
export const KVM_CAP_EXIT_HYPERCALL = 201;
/** KVM_SET_USER_MEMORY_REGION2 is available. */
export const KVM_CAP_USER_MEMORY2 = 231;
/** KVM may fill `kvm_run.memory_fault` on -EFAULT/-EHWPOISON (informational). */
export const KVM_CAP_MEMORY_FAULT_INFO = 232;
/** Supported memory attributes (KVM_MEMORY_ATTRIBUTE_*), 0 if none. */
export const KVM_CAP_MEMORY_ATTRIBUTES = 233;
/** guest_memfd is supported. */
export const KVM_CAP_GUEST_MEMFD = 234;
/** Bitmask of supported VM types (bit n = type n). */
export const KVM_CAP_VM_TYPES = 235;
/** KVM_X86_SET_MSR_FILTER is available. */
export const KVM_CAP_X86_MSR_FILTER = 189;

// ---- sevbox extensions (not Linux) ----
// Numbered in a private range (0x5eb0_xxxx) that Linux's capability numbers (< 1000) never reach.

/**
 * sevbox extension, not Linux. KVM_ENABLE_CAP on an SEV-ES VM (no args): when a host-side guest
 * memory access KVM makes for a VMGEXIT fails (scratch copy-in, bounce-buffer allocation, mapping
 * the GHCB page), KVM_RUN still fails with -EFAULT (or -ENOMEM) but `kvm_run` carries
 * KVM_EXIT_MEMORY_FAULT with gpa, size and flags, the flags carrying the cause
 * (KVM_MEMORY_EXIT_SEVBOX_CAUSE_*) and the access (KVM_MEMORY_EXIT_SEVBOX_ACCESS_*).
 * KVM_CHECK_EXTENSION: 1.
 */
export const KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO = 0x5eb0_0001;
/**
 * sevbox extension, not Linux. KVM_ENABLE_CAP on an SEV-ES VM (no args; requires
 * KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO first, else EINVAL): a VMGEXIT that failed that way is
 * restartable. KVM keeps a private copy of the request and, on the next KVM_RUN, processes the same
 * VMGEXIT again instead of resuming the guest past it, so the guest never sees the fault.
 * KVM_CHECK_EXTENSION: 1.
 */
export const KVM_CAP_SEVBOX_VMGEXIT_RESTART = 0x5eb0_0002;

const CAP_NAMES: ReadonlyMap<number, string> = new Map([
  [KVM_CAP_USER_MEMORY, 'KVM_CAP_USER_MEMORY'],
  [KVM_CAP_NR_MEMSLOTS, 'KVM_CAP_NR_MEMSLOTS'],
  [KVM_CAP_SYNC_MMU, 'KVM_CAP_SYNC_MMU'],
  [KVM_CAP_READONLY_MEM, 'KVM_CAP_READONLY_MEM'],
  [KVM_CAP_X86_SMM, 'KVM_CAP_X86_SMM'],
  [KVM_CAP_IMMEDIATE_EXIT, 'KVM_CAP_IMMEDIATE_EXIT'],
  [KVM_CAP_X86_USER_SPACE_MSR, 'KVM_CAP_X86_USER_SPACE_MSR'],
  [KVM_CAP_X86_MSR_FILTER, 'KVM_CAP_X86_MSR_FILTER'],
  [KVM_CAP_DIRTY_LOG_RING, 'KVM_CAP_DIRTY_LOG_RING'],
  [KVM_CAP_EXIT_HYPERCALL, 'KVM_CAP_EXIT_HYPERCALL'],
  [KVM_CAP_USER_MEMORY2, 'KVM_CAP_USER_MEMORY2'],
  [KVM_CAP_MEMORY_FAULT_INFO, 'KVM_CAP_MEMORY_FAULT_INFO'],
  [KVM_CAP_MEMORY_ATTRIBUTES, 'KVM_CAP_MEMORY_ATTRIBUTES'],
  [KVM_CAP_GUEST_MEMFD, 'KVM_CAP_GUEST_MEMFD'],
  [KVM_CAP_VM_TYPES, 'KVM_CAP_VM_TYPES'],
  [KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO, 'KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO'],
  [KVM_CAP_SEVBOX_VMGEXIT_RESTART, 'KVM_CAP_SEVBOX_VMGEXIT_RESTART'],
]);

/** Printable name of a capability sevbox knows, or "KVM_CAP_#<n>". */
export function kvmCapName(n: number): string {
  return CAP_NAMES.get(n) ?? `KVM_CAP_#${n}`;
}

// ---- VM types (KVM_CREATE_VM argument on x86, arch/x86/include/uapi/asm/kvm.h) ----

/** Ordinary VM. */
export const KVM_X86_DEFAULT_VM = 0;
/** Software-protected VM (guest_memfd without hardware encryption; testing). */
export const KVM_X86_SW_PROTECTED_VM = 1;
/** SEV VM (created with KVM_SEV_INIT2). */
export const KVM_X86_SEV_VM = 2;
/** SEV-ES VM (created with KVM_SEV_INIT2). */
export const KVM_X86_SEV_ES_VM = 3;
/** SEV-SNP VM. */
export const KVM_X86_SNP_VM = 4;
/** Intel TDX VM. */
export const KVM_X86_TDX_VM = 5;

const VM_TYPE_NAMES: readonly string[] = [
  'KVM_X86_DEFAULT_VM',
  'KVM_X86_SW_PROTECTED_VM',
  'KVM_X86_SEV_VM',
  'KVM_X86_SEV_ES_VM',
  'KVM_X86_SNP_VM',
  'KVM_X86_TDX_VM',
];

/** Printable name of an x86 VM type, or "KVM_X86_VM_#<n>". */
export function kvmVmTypeName(n: number): string {
  return (Number.isInteger(n) && VM_TYPE_NAMES[n]) || `KVM_X86_VM_#${n}`;
}

// ---- vCPU mmap layout (in pages) ----

/** Page of the vCPU mmap holding PIO data (`io.data_offset` normally = 1 * 4096). */
export const KVM_PIO_PAGE_OFFSET = 1;
/** Page of the vCPU mmap holding the coalesced MMIO ring. */
export const KVM_COALESCED_MMIO_PAGE_OFFSET = 2;
/** First page of the dirty ring in the vCPU mmap (x86 asm/kvm.h). */
export const KVM_DIRTY_LOG_PAGE_OFFSET = 64;

// ---- ioctl encoding (include/uapi/asm-generic/ioctl.h) ----

/** Bits of the ioctl number field. */
export const _IOC_NRBITS = 8;
/** Bits of the ioctl type (magic) field. */
export const _IOC_TYPEBITS = 8;
/** Bits of the ioctl argument-size field. */
export const _IOC_SIZEBITS = 14;
/** Bits of the ioctl direction field. */
export const _IOC_DIRBITS = 2;
/** Shift of the number field. */
export const _IOC_NRSHIFT = 0;
/** Shift of the type field. */
export const _IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS;
/** Shift of the size field. */
export const _IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS;
/** Shift of the direction field. */
export const _IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS;
/** Direction: no argument data. */
export const _IOC_NONE = 0;
/** Direction: userspace writes (kernel reads the argument). */
export const _IOC_WRITE = 1;
/** Direction: userspace reads (kernel writes the argument). */
export const _IOC_READ = 2;

function checkField(name: string, v: number, bits: number): number {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) {
    throw new RangeError(`ioctl ${name} ${v} does not fit in ${bits} bits`);
  }
  return v;
}

/** Linux `_IOC(dir, type, nr, size)`: packs an ioctl request number (as an unsigned 32-bit value). */
export function _IOC(dir: number, type: number, nr: number, size: number): number {
  return (
    ((checkField('dir', dir, _IOC_DIRBITS) << _IOC_DIRSHIFT) |
      (checkField('type', type, _IOC_TYPEBITS) << _IOC_TYPESHIFT) |
      (checkField('nr', nr, _IOC_NRBITS) << _IOC_NRSHIFT) |
      (checkField('size', size, _IOC_SIZEBITS) << _IOC_SIZESHIFT)) >>>
    0
  );
}

/** Linux `_IO(type, nr)`: an ioctl without argument data. */
export function _IO(type: number, nr: number): number {
  return _IOC(_IOC_NONE, type, nr, 0);
}

/** Linux `_IOR(type, nr, T)`: the kernel writes `size` bytes back to userspace. */
export function _IOR(type: number, nr: number, size: number): number {
  return _IOC(_IOC_READ, type, nr, size);
}

/** Linux `_IOW(type, nr, T)`: the kernel reads `size` bytes from userspace. */
export function _IOW(type: number, nr: number, size: number): number {
  return _IOC(_IOC_WRITE, type, nr, size);
}

/** Linux `_IOWR(type, nr, T)`: both directions. */
export function _IOWR(type: number, nr: number, size: number): number {
  return _IOC(_IOC_READ | _IOC_WRITE, type, nr, size);
}

/** Linux `_IOC_DIR(cmd)`: the direction field of a request number. */
export function _IOC_DIR(cmd: number): number {
  return (cmd >>> _IOC_DIRSHIFT) & ((1 << _IOC_DIRBITS) - 1);
}

/** Linux `_IOC_TYPE(cmd)`: the type (magic) field of a request number. */
export function _IOC_TYPE(cmd: number): number {
  return (cmd >>> _IOC_TYPESHIFT) & ((1 << _IOC_TYPEBITS) - 1);
}

/** Linux `_IOC_NR(cmd)`: the number field of a request number. */
export function _IOC_NR(cmd: number): number {
  return (cmd >>> _IOC_NRSHIFT) & ((1 << _IOC_NRBITS) - 1);
}

/** Linux `_IOC_SIZE(cmd)`: the argument-size field of a request number. */
export function _IOC_SIZE(cmd: number): number {
  return (cmd >>> _IOC_SIZESHIFT) & ((1 << _IOC_SIZEBITS) - 1);
}

/** The KVM ioctl type (magic). */
export const KVMIO = 0xae;

/** sizeof(struct kvm_dirty_log) on x86-64. */
export const KVM_DIRTY_LOG_SIZE = 16;
/** sizeof(struct kvm_regs) on x86-64. */
export const KVM_REGS_SIZE = 144;
/** sizeof(struct kvm_sregs) on x86-64. */
export const KVM_SREGS_SIZE = 312;
/** sizeof(struct kvm_enable_cap). */
export const KVM_ENABLE_CAP_SIZE = 104;

/** /dev/kvm: returns KVM_API_VERSION. */
export const KVM_GET_API_VERSION = _IO(KVMIO, 0x00);
/** /dev/kvm: creates a VM; the argument is the VM type. */
export const KVM_CREATE_VM = _IO(KVMIO, 0x01);
/** /dev/kvm or VM fd: queries a capability. */
export const KVM_CHECK_EXTENSION = _IO(KVMIO, 0x03);
/** /dev/kvm: size of the vCPU mmap area. */
export const KVM_GET_VCPU_MMAP_SIZE = _IO(KVMIO, 0x04);
/** VM fd: creates a vCPU; the argument is the vCPU id. */
export const KVM_CREATE_VCPU = _IO(KVMIO, 0x41);
/** VM fd: fetches and clears a slot's dirty bitmap (struct kvm_dirty_log). */
export const KVM_GET_DIRTY_LOG = _IOW(KVMIO, 0x42, KVM_DIRTY_LOG_SIZE);
/** VM fd: creates, modifies or deletes a memslot (struct kvm_userspace_memory_region). */
export const KVM_SET_USER_MEMORY_REGION = _IOW(KVMIO, 0x46, KVM_USERSPACE_MEMORY_REGION_SIZE);
/** VM fd: as KVM_SET_USER_MEMORY_REGION with guest_memfd fields (struct kvm_userspace_memory_region2). */
export const KVM_SET_USER_MEMORY_REGION2 = _IOW(KVMIO, 0x49, KVM_USERSPACE_MEMORY_REGION2_SIZE);
/** vCPU fd: runs the vCPU until an exit to userspace; the argument must be 0. */
export const KVM_RUN = _IO(KVMIO, 0x80);
/** vCPU fd: reads the general-purpose registers (struct kvm_regs). */
export const KVM_GET_REGS = _IOR(KVMIO, 0x81, KVM_REGS_SIZE);
/** vCPU fd: writes the general-purpose registers (struct kvm_regs). */
export const KVM_SET_REGS = _IOW(KVMIO, 0x82, KVM_REGS_SIZE);
/** vCPU fd: reads the special registers (struct kvm_sregs). */
export const KVM_GET_SREGS = _IOR(KVMIO, 0x83, KVM_SREGS_SIZE);
/** vCPU fd: writes the special registers (struct kvm_sregs). */
export const KVM_SET_SREGS = _IOW(KVMIO, 0x84, KVM_SREGS_SIZE);
/** VM or vCPU fd: enables a capability (struct kvm_enable_cap). */
export const KVM_ENABLE_CAP = _IOW(KVMIO, 0xa3, KVM_ENABLE_CAP_SIZE);

const IOCTL_NAMES: ReadonlyMap<number, string> = new Map([
  [KVM_GET_API_VERSION, 'KVM_GET_API_VERSION'],
  [KVM_CREATE_VM, 'KVM_CREATE_VM'],
  [KVM_CHECK_EXTENSION, 'KVM_CHECK_EXTENSION'],
  [KVM_GET_VCPU_MMAP_SIZE, 'KVM_GET_VCPU_MMAP_SIZE'],
  [KVM_CREATE_VCPU, 'KVM_CREATE_VCPU'],
  [KVM_GET_DIRTY_LOG, 'KVM_GET_DIRTY_LOG'],
  [KVM_SET_USER_MEMORY_REGION, 'KVM_SET_USER_MEMORY_REGION'],
  [KVM_SET_USER_MEMORY_REGION2, 'KVM_SET_USER_MEMORY_REGION2'],
  [KVM_RUN, 'KVM_RUN'],
  [KVM_GET_REGS, 'KVM_GET_REGS'],
  [KVM_SET_REGS, 'KVM_SET_REGS'],
  [KVM_GET_SREGS, 'KVM_GET_SREGS'],
  [KVM_SET_SREGS, 'KVM_SET_SREGS'],
  [KVM_ENABLE_CAP, 'KVM_ENABLE_CAP'],
]);

/** Printable name of a KVM ioctl request number, or "ioctl 0x<hex>" for one not listed here. */
export function kvmIoctlName(cmd: number): string {
  return IOCTL_NAMES.get(cmd) ?? `ioctl 0x${(cmd >>> 0).toString(16)}`;
}
