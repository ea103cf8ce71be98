/**
 * KVM ioctl request numbers and the encoder that makes them (include/uapi/asm-generic/ioctl.h, as
 * x86 uses it). Numbers from include/uapi/linux/kvm.h (Linux 6.12); see shared/spec/kvm-uapi.md
 * section 5. Every number is computed here with `_IO`/`_IOR`/`_IOW`/`_IOWR` from the argument's
 * sizeof, exactly as the header's macro does, taking the sizes from the struct codecs; layout.test.ts
 * compares each one with the C header's value.
 *
 * Header quirks carried over as they are (the number is ABI, not documentation):
 * - KVM_SET_IRQCHIP is _IOR although userspace writes the chip state; KVM_GET_DEVICE_ATTR is _IOW
 *   although KVM writes the attribute (through `addr`); KVM_MEMORY_ENCRYPT_REG_REGION/UNREG_REGION
 *   are _IOR although userspace only passes the region.
 * - KVM_MEMORY_ENCRYPT_OP is declared with `unsigned long` (8 bytes), not struct kvm_sev_cmd (24);
 *   KVM_SET_IDENTITY_MAP_ADDR with __u64.
 * - Flexible-array structs contribute their header size only: KVM_GET_MSRS encodes 8 (kvm_msrs),
 *   KVM_GET_MSR_INDEX_LIST 4 (kvm_msr_list), KVM_SET_CPUID2 8 (kvm_cpuid2), KVM_SET_SIGNAL_MASK 4.
 * - Some ioctls share a number field and differ only in direction or size (KVM_SET_TSC_KHZ = _IO 0xa2
 *   vs KVM_SET_DEBUGREGS = _IOW 0xa2; KVM_GET_TSC_KHZ = _IO 0xa3 vs KVM_ENABLE_CAP = _IOW 0xa3).
 *   KVM_ENABLE_CAP is one number for the VM and the vCPU fd.
 *
 * Offset-exposure scheme of the struct codecs in src/uapi (regs.ts, sregs.ts, msrs.ts, ...): each
 * struct has `KVM_<STRUCT>_SIZE` (its sizeof; the header only for a flexible-array struct) and
 * `KVM_<STRUCT>_OFFSETS`, a frozen object mapping every C member designator (the C spelling,
 * snake_case; "outer.inner" for a member of a nested anonymous struct, e.g. "exception.nr"; an array
 * member by its name, at its first element) to its offsetof. The codecs read and write through these
 * tables, and layout.test.ts checks every entry against offsetof() in the C headers.
 */

import { KVM_CLOCK_DATA_SIZE } from './clock.js';
import { KVM_CPUID2_SIZE } from './cpuid.js';
import { KVM_DEBUGREGS_SIZE } from './debugregs.js';
import { KVM_DEVICE_ATTR_SIZE } from './device-attr.js';
import { KVM_CLEAR_DIRTY_LOG_SIZE, KVM_DIRTY_LOG_SIZE } from './dirty-log.js';
import { KVM_ENABLE_CAP_SIZE } from './enable-cap.js';
import { KVM_FPU_SIZE } from './fpu.js';
import { KVM_GUEST_DEBUG_SIZE } from './guest-debug.js';
import { KVM_CREATE_GUEST_MEMFD_SIZE, KVM_MEMORY_ATTRIBUTES_SIZE } from './guest-memfd.js';
import { KVM_INTERRUPT_SIZE, KVM_IRQ_LEVEL_SIZE, KVM_IRQCHIP_SIZE, KVM_MP_STATE_SIZE } from './irq.js';
import { KVM_LAPIC_STATE_SIZE } from './lapic.js';
import { KVM_USERSPACE_MEMORY_REGION_SIZE, KVM_USERSPACE_MEMORY_REGION2_SIZE } from './memslot.js';
import { KVM_MSR_FILTER_SIZE } from './msr-filter.js';
import { KVM_MSR_LIST_SIZE, KVM_MSRS_SIZE } from './msrs.js';
import { KVM_REGS_SIZE } from './regs.js';
import { KVM_ENC_REGION_SIZE } from './sev-cmd.js';
import { KVM_SIGNAL_MASK_SIZE } from './signal-mask.js';
import { KVM_SREGS_SIZE } from './sregs.js';
import { KVM_TRANSLATION_SIZE } from './translate.js';
import { KVM_VCPU_EVENTS_SIZE } from './vcpu-events.js';
import { KVM_XCRS_SIZE, KVM_XSAVE_SIZE } from './xsave.js';

/** sizeof(__u64), the argument type of KVM_SET_IDENTITY_MAP_ADDR. */
export const SIZEOF_U64 = 8;
/** sizeof(unsigned long) on x86-64, the declared argument type of KVM_MEMORY_ENCRYPT_OP. */
const SIZEOF_ULONG = 8;

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

// ---- /dev/kvm ----

/** /dev/kvm: returns KVM_API_VERSION (12). */
export const KVM_GET_API_VERSION = _IO(KVMIO, 0x00);
/** /dev/kvm: creates a VM; the argument is the VM type. Returns the VM fd. */
export const KVM_CREATE_VM = _IO(KVMIO, 0x01);
/** /dev/kvm: the MSRs KVM saves/restores (struct kvm_msr_list). */
export const KVM_GET_MSR_INDEX_LIST = _IOWR(KVMIO, 0x02, KVM_MSR_LIST_SIZE);
/** /dev/kvm or VM fd: queries a capability; the argument is the KVM_CAP_* number. */
export const KVM_CHECK_EXTENSION = _IO(KVMIO, 0x03);
/** /dev/kvm: size of the vCPU mmap area. */
export const KVM_GET_VCPU_MMAP_SIZE = _IO(KVMIO, 0x04);
/** /dev/kvm: the CPUID leaves KVM supports (struct kvm_cpuid2). */
export const KVM_GET_SUPPORTED_CPUID = _IOWR(KVMIO, 0x05, KVM_CPUID2_SIZE);
/** /dev/kvm: the CPUID leaves KVM emulates (struct kvm_cpuid2). */
export const KVM_GET_EMULATED_CPUID = _IOWR(KVMIO, 0x09, KVM_CPUID2_SIZE);
/** /dev/kvm: the feature MSRs readable with KVM_GET_MSRS on /dev/kvm (struct kvm_msr_list). */
export const KVM_GET_MSR_FEATURE_INDEX_LIST = _IOWR(KVMIO, 0x0a, KVM_MSR_LIST_SIZE);

// ---- VM fd ----

/** VM fd: creates a vCPU; the argument is the vCPU id. Returns the vCPU fd. */
export const KVM_CREATE_VCPU = _IO(KVMIO, 0x41);
/** VM fd: how many shadow MMU pages KVM may use; the argument is the count. */
export const KVM_SET_NR_MMU_PAGES = _IO(KVMIO, 0x44);
/** VM fd: the shadow MMU page limit, as the return value (deprecated; removed in 6.4, ENOTTY since). */
export const KVM_GET_NR_MMU_PAGES = _IO(KVMIO, 0x45);
/** VM fd: fetches and clears a slot's dirty bitmap (struct kvm_dirty_log). */
export const KVM_GET_DIRTY_LOG = _IOW(KVMIO, 0x42, KVM_DIRTY_LOG_SIZE);
/** VM fd: creates, modifies or deletes a memslot (struct kvm_userspace_memory_region). */
export const KVM_SET_USER_MEMORY_REGION = _IOW(KVMIO, 0x46, KVM_USERSPACE_MEMORY_REGION_SIZE);
/** VM fd: guest-physical address of the 3-page TSS region (VMX); the argument is the address. */
export const KVM_SET_TSS_ADDR = _IO(KVMIO, 0x47);
/** VM fd: guest-physical address of the identity-map page (VMX; a __u64). */
export const KVM_SET_IDENTITY_MAP_ADDR = _IOW(KVMIO, 0x48, SIZEOF_U64);
/** VM fd: as KVM_SET_USER_MEMORY_REGION with guest_memfd fields (struct kvm_userspace_memory_region2). */
export const KVM_SET_USER_MEMORY_REGION2 = _IOW(KVMIO, 0x49, KVM_USERSPACE_MEMORY_REGION2_SIZE);
/** VM fd: creates the in-kernel PIC, IOAPIC and local APICs. */
export const KVM_CREATE_IRQCHIP = _IO(KVMIO, 0x60);
/** VM fd: sets an irqchip input line (struct kvm_irq_level). */
export const KVM_IRQ_LINE = _IOW(KVMIO, 0x61, KVM_IRQ_LEVEL_SIZE);
/** VM fd: reads PIC or IOAPIC state (struct kvm_irqchip). */
export const KVM_GET_IRQCHIP = _IOWR(KVMIO, 0x62, KVM_IRQCHIP_SIZE);
/** VM fd: writes PIC or IOAPIC state (struct kvm_irqchip; _IOR in the header, sic). */
export const KVM_SET_IRQCHIP = _IOR(KVMIO, 0x63, KVM_IRQCHIP_SIZE);
/** VM fd: as KVM_IRQ_LINE, returning the delivery status (struct kvm_irq_level). */
export const KVM_IRQ_LINE_STATUS = _IOWR(KVMIO, 0x67, KVM_IRQ_LEVEL_SIZE);
/** VM fd: sets kvmclock (struct kvm_clock_data). */
export const KVM_SET_CLOCK = _IOW(KVMIO, 0x7b, KVM_CLOCK_DATA_SIZE);
/** VM fd: reads kvmclock (struct kvm_clock_data). */
export const KVM_GET_CLOCK = _IOR(KVMIO, 0x7c, KVM_CLOCK_DATA_SIZE);
/** VM fd: an SEV command; the argument points to a struct kvm_sev_cmd (declared `unsigned long`). */
export const KVM_MEMORY_ENCRYPT_OP = _IOWR(KVMIO, 0xba, SIZEOF_ULONG);
/** VM fd: pins a range of guest memory for an SEV VM (struct kvm_enc_region; _IOR, sic). */
export const KVM_MEMORY_ENCRYPT_REG_REGION = _IOR(KVMIO, 0xbb, KVM_ENC_REGION_SIZE);
/** VM fd: unpins a range registered with KVM_MEMORY_ENCRYPT_REG_REGION (struct kvm_enc_region). */
export const KVM_MEMORY_ENCRYPT_UNREG_REGION = _IOR(KVMIO, 0xbc, KVM_ENC_REGION_SIZE);
/** VM fd: clears part of a slot's dirty bitmap (struct kvm_clear_dirty_log). */
export const KVM_CLEAR_DIRTY_LOG = _IOWR(KVMIO, 0xc0, KVM_CLEAR_DIRTY_LOG_SIZE);
/** VM fd: installs an MSR filter (struct kvm_msr_filter). */
export const KVM_X86_SET_MSR_FILTER = _IOW(KVMIO, 0xc6, KVM_MSR_FILTER_SIZE);
/** VM fd: sets memory attributes (private/shared) of a GPA range (struct kvm_memory_attributes). */
export const KVM_SET_MEMORY_ATTRIBUTES = _IOW(KVMIO, 0xd2, KVM_MEMORY_ATTRIBUTES_SIZE);
/** VM fd: creates a guest_memfd (struct kvm_create_guest_memfd). Returns its fd. */
export const KVM_CREATE_GUEST_MEMFD = _IOWR(KVMIO, 0xd4, KVM_CREATE_GUEST_MEMFD_SIZE);

// ---- VM or vCPU fd ----

/** VM or vCPU fd: sets the guest TSC frequency in kHz (the argument); VM-wide with KVM_CAP_VM_TSC_CONTROL. */
export const KVM_SET_TSC_KHZ = _IO(KVMIO, 0xa2);
/** VM or vCPU fd: returns the guest TSC frequency in kHz. */
export const KVM_GET_TSC_KHZ = _IO(KVMIO, 0xa3);
/** VM or vCPU fd: enables a capability (struct kvm_enable_cap). */
export const KVM_ENABLE_CAP = _IOW(KVMIO, 0xa3, KVM_ENABLE_CAP_SIZE);

// ---- vCPU fd ----

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
/** vCPU fd: translates a guest virtual address (struct kvm_translation). */
export const KVM_TRANSLATE = _IOWR(KVMIO, 0x85, KVM_TRANSLATION_SIZE);
/** vCPU fd: injects an interrupt vector, userspace irqchip only (struct kvm_interrupt). */
export const KVM_INTERRUPT = _IOW(KVMIO, 0x86, KVM_INTERRUPT_SIZE);
/** vCPU fd (or /dev/kvm for feature MSRs): reads MSRs (struct kvm_msrs); returns how many were read. */
export const KVM_GET_MSRS = _IOWR(KVMIO, 0x88, KVM_MSRS_SIZE);
/** vCPU fd: writes MSRs (struct kvm_msrs); returns how many were written. */
export const KVM_SET_MSRS = _IOW(KVMIO, 0x89, KVM_MSRS_SIZE);
/** vCPU fd: signals blocked while in KVM_RUN (struct kvm_signal_mask). */
export const KVM_SET_SIGNAL_MASK = _IOW(KVMIO, 0x8b, KVM_SIGNAL_MASK_SIZE);
/** vCPU fd: reads x87/SSE state (struct kvm_fpu). */
export const KVM_GET_FPU = _IOR(KVMIO, 0x8c, KVM_FPU_SIZE);
/** vCPU fd: writes x87/SSE state (struct kvm_fpu). */
export const KVM_SET_FPU = _IOW(KVMIO, 0x8d, KVM_FPU_SIZE);
/** vCPU fd: reads the local APIC page (struct kvm_lapic_state). */
export const KVM_GET_LAPIC = _IOR(KVMIO, 0x8e, KVM_LAPIC_STATE_SIZE);
/** vCPU fd: writes the local APIC page (struct kvm_lapic_state). */
export const KVM_SET_LAPIC = _IOW(KVMIO, 0x8f, KVM_LAPIC_STATE_SIZE);
/** vCPU fd: sets the guest CPUID (struct kvm_cpuid2). */
export const KVM_SET_CPUID2 = _IOW(KVMIO, 0x90, KVM_CPUID2_SIZE);
/** vCPU fd: reads the guest CPUID (struct kvm_cpuid2). */
export const KVM_GET_CPUID2 = _IOWR(KVMIO, 0x91, KVM_CPUID2_SIZE);
/** vCPU fd: reads the multiprocessing state (struct kvm_mp_state). */
export const KVM_GET_MP_STATE = _IOR(KVMIO, 0x98, KVM_MP_STATE_SIZE);
/** vCPU fd: writes the multiprocessing state (struct kvm_mp_state). */
export const KVM_SET_MP_STATE = _IOW(KVMIO, 0x99, KVM_MP_STATE_SIZE);
/** vCPU fd: injects an NMI (in-kernel or userspace irqchip). */
export const KVM_NMI = _IO(KVMIO, 0x9a);
/** vCPU fd: sets up guest debugging (struct kvm_guest_debug). */
export const KVM_SET_GUEST_DEBUG = _IOW(KVMIO, 0x9b, KVM_GUEST_DEBUG_SIZE);
/** vCPU fd: reads pending/injected events (struct kvm_vcpu_events). */
export const KVM_GET_VCPU_EVENTS = _IOR(KVMIO, 0x9f, KVM_VCPU_EVENTS_SIZE);
/** vCPU fd: writes pending/injected events (struct kvm_vcpu_events). */
export const KVM_SET_VCPU_EVENTS = _IOW(KVMIO, 0xa0, KVM_VCPU_EVENTS_SIZE);
/** vCPU fd: reads the debug registers (struct kvm_debugregs). */
export const KVM_GET_DEBUGREGS = _IOR(KVMIO, 0xa1, KVM_DEBUGREGS_SIZE);
/** vCPU fd: writes the debug registers (struct kvm_debugregs). */
export const KVM_SET_DEBUGREGS = _IOW(KVMIO, 0xa2, KVM_DEBUGREGS_SIZE);
/** vCPU fd: reads the 4096-byte XSAVE image (struct kvm_xsave). */
export const KVM_GET_XSAVE = _IOR(KVMIO, 0xa4, KVM_XSAVE_SIZE);
/** vCPU fd: writes the XSAVE image (struct kvm_xsave; KVM_CAP_XSAVE2 bytes when that is larger). */
export const KVM_SET_XSAVE = _IOW(KVMIO, 0xa5, KVM_XSAVE_SIZE);
/** vCPU fd: reads the extended control registers (struct kvm_xcrs). */
export const KVM_GET_XCRS = _IOR(KVMIO, 0xa6, KVM_XCRS_SIZE);
/** vCPU fd: writes the extended control registers (struct kvm_xcrs). */
export const KVM_SET_XCRS = _IOW(KVMIO, 0xa7, KVM_XCRS_SIZE);
/** vCPU fd: reads the XSAVE image, KVM_CAP_XSAVE2 bytes (struct kvm_xsave). */
export const KVM_GET_XSAVE2 = _IOR(KVMIO, 0xcf, KVM_XSAVE_SIZE);

// ---- device attributes (/dev/kvm, vCPU or device fd) ----

/** Sets a device attribute (struct kvm_device_attr). */
export const KVM_SET_DEVICE_ATTR = _IOW(KVMIO, 0xe1, KVM_DEVICE_ATTR_SIZE);
/** Reads a device attribute into `addr` (struct kvm_device_attr; _IOW in the header). */
export const KVM_GET_DEVICE_ATTR = _IOW(KVMIO, 0xe2, KVM_DEVICE_ATTR_SIZE);
/** Whether a device attribute exists: 0, or ENXIO (struct kvm_device_attr). */
export const KVM_HAS_DEVICE_ATTR = _IOW(KVMIO, 0xe3, KVM_DEVICE_ATTR_SIZE);

/**
 * Every ioctl number above by its C name (the key is the macro in <linux/kvm.h>, the value the request
 * number). kvmIoctlName and layout.test.ts walk it.
 */
export const KVM_IOCTLS: Readonly<Record<string, number>> = Object.freeze({
  KVM_GET_API_VERSION,
  KVM_CREATE_VM,
  KVM_GET_MSR_INDEX_LIST,
  KVM_CHECK_EXTENSION,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_GET_SUPPORTED_CPUID,
  KVM_GET_EMULATED_CPUID,
  KVM_GET_MSR_FEATURE_INDEX_LIST,
  KVM_CREATE_VCPU,
  KVM_GET_DIRTY_LOG,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SET_TSS_ADDR,
  KVM_SET_IDENTITY_MAP_ADDR,
  KVM_SET_USER_MEMORY_REGION2,
  KVM_SET_NR_MMU_PAGES,
  KVM_GET_NR_MMU_PAGES,
  KVM_CREATE_IRQCHIP,
  KVM_IRQ_LINE,
  KVM_GET_IRQCHIP,
  KVM_SET_IRQCHIP,
  KVM_IRQ_LINE_STATUS,
  KVM_SET_CLOCK,
  KVM_GET_CLOCK,
  KVM_MEMORY_ENCRYPT_OP,
  KVM_MEMORY_ENCRYPT_REG_REGION,
  KVM_MEMORY_ENCRYPT_UNREG_REGION,
  KVM_CLEAR_DIRTY_LOG,
  KVM_X86_SET_MSR_FILTER,
  KVM_SET_MEMORY_ATTRIBUTES,
  KVM_CREATE_GUEST_MEMFD,
  KVM_SET_TSC_KHZ,
  KVM_GET_TSC_KHZ,
  KVM_ENABLE_CAP,
  KVM_RUN,
  KVM_GET_REGS,
  KVM_SET_REGS,
  KVM_GET_SREGS,
  KVM_SET_SREGS,
  KVM_TRANSLATE,
  KVM_INTERRUPT,
  KVM_GET_MSRS,
  KVM_SET_MSRS,
  KVM_SET_SIGNAL_MASK,
  KVM_GET_FPU,
  KVM_SET_FPU,
  KVM_GET_LAPIC,
  KVM_SET_LAPIC,
  KVM_SET_CPUID2,
  KVM_GET_CPUID2,
  KVM_GET_MP_STATE,
  KVM_SET_MP_STATE,
  KVM_NMI,
  KVM_SET_GUEST_DEBUG,
  KVM_GET_VCPU_EVENTS,
  KVM_SET_VCPU_EVENTS,
  KVM_GET_DEBUGREGS,
  KVM_SET_DEBUGREGS,
  KVM_GET_XSAVE,
  KVM_SET_XSAVE,
  KVM_GET_XCRS,
  KVM_SET_XCRS,
  KVM_GET_XSAVE2,
  KVM_SET_DEVICE_ATTR,
  KVM_GET_DEVICE_ATTR,
  KVM_HAS_DEVICE_ATTR,
});

const IOCTL_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(KVM_IOCTLS).map(([name, cmd]) => [cmd, name] as const),
);

/** Printable name of a KVM ioctl request number, or "ioctl 0x<hex>" for one not listed here. */
export function kvmIoctlName(cmd: number): string {
  return IOCTL_NAMES.get(cmd) ?? `ioctl 0x${(cmd >>> 0).toString(16)}`;
}
