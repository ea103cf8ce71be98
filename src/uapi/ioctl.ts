/**
 * KVM ioctl request numbers and the encoder that makes them (include/uapi/asm-generic/ioctl.h, as
 * x86 uses it). Numbers from include/uapi/linux/kvm.h; see shared/spec/kvm-uapi.md section 5.
 */

import { KVM_USERSPACE_MEMORY_REGION_SIZE, KVM_USERSPACE_MEMORY_REGION2_SIZE } from './memslot.js';

// ---- ioctl encoding ----

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
