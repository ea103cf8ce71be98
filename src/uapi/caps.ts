/**
 * KVM capabilities, VM types, the API version and the vCPU mmap page offsets.
 * Values from include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h; see
 * shared/spec/kvm-uapi.md sections 2 and 5. Ioctl numbers are in ioctl.ts.
 */

/** What KVM_GET_API_VERSION returns; userspace refuses to run on anything else. */
export const KVM_API_VERSION = 12;

// ---- capabilities (KVM_CHECK_EXTENSION argument) ----

/** CPUID 0x80000000+ leaves in KVM_SET_CPUID2 (always 1; QEMU refuses to run without it). */
export const KVM_CAP_EXT_CPUID = 7;
/** Deleting a memslot works (always 1; an old-QEMU requirement still checked). */
export const KVM_CAP_DESTROY_MEMORY_REGION_WORKS = 21;
/** Interrupt routing (KVM_SET_GSI_ROUTING); the value is KVM_MAX_IRQ_ROUTES. */
export const KVM_CAP_IRQ_ROUTING = 25;
/** KVM_MAX_IRQ_ROUTES, what KVM_CAP_IRQ_ROUTING answers. */
export const KVM_MAX_IRQ_ROUTES = 4096;
/** Adjacent memslots may be joined (always 1). */
export const KVM_CAP_JOIN_MEMORY_REGIONS_WORKS = 30;
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
/** KVM_ENABLE_CAP on a VM with args[0] another VM's fd: make this VM a mirror of its SEV context (5.13+). */
export const KVM_CAP_VM_COPY_ENC_CONTEXT_FROM = 197;
/** Hypercalls that may exit to userspace; the value is a bitmask of hypercall numbers. */
export const KVM_CAP_EXIT_HYPERCALL = 201;
/** KVM_ENABLE_CAP on a VM with args[0] another VM's fd: move its SEV context here (intra-host migration, 5.16+). */
export const KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM = 206;
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

/** an in-kernel irqchip can be created (KVM_CREATE_IRQCHIP). */
export const KVM_CAP_IRQCHIP = 0;
/** HLT is handled. */
export const KVM_CAP_HLT = 1;
/** KVM_SET_TSS_ADDR exists. */
export const KVM_CAP_SET_TSS_ADDR = 4;
/** recommended maximum vCPUs. */
export const KVM_CAP_NR_VCPUS = 9;
/** KVM_GET/SET_MP_STATE. */
export const KVM_CAP_MP_STATE = 14;
/** KVM_NMI. */
export const KVM_CAP_USER_NMI = 22;
/** KVM_IRQ_LINE_STATUS. */
export const KVM_CAP_IRQ_INJECT_STATUS = 26;
/** KVM_SET_IDENTITY_MAP_ADDR. */
export const KVM_CAP_SET_IDENTITY_MAP_ADDR = 37;
/** KVM_GET/SET_VCPU_EVENTS. */
export const KVM_CAP_VCPU_EVENTS = 41;
/** KVM_GET/SET_DEBUGREGS. */
export const KVM_CAP_DEBUGREGS = 50;
/** KVM_GET/SET_XSAVE. */
export const KVM_CAP_XSAVE = 55;
/** KVM_GET/SET_XCRS. */
export const KVM_CAP_XCRS = 56;
/** KVM_GET_XSAVE2: the bytes of struct kvm_xsave it copies (at least 4096). */
export const KVM_CAP_XSAVE2 = 208;
/** KVM_GET_TSC_KHZ. */
export const KVM_CAP_GET_TSC_KHZ = 61;
/** maximum vCPUs per VM. */
export const KVM_CAP_MAX_VCPUS = 66;
/** kvm_run sync_regs: the register sets it can carry. */
export const KVM_CAP_SYNC_REGS = 74;
/** KVM_ENABLE_CAP on the VM fd. */
export const KVM_CAP_ENABLE_CAP_VM = 98;
/** memslot address spaces (2 with SMM). */
export const KVM_CAP_MULTI_ADDRESS_SPACE = 118;
/** split irqchip (local APIC in the kernel only). */
export const KVM_CAP_SPLIT_IRQCHIP = 121;
/** the vCPU id limit. */
export const KVM_CAP_MAX_VCPU_ID = 128;
/** KVM_GET_MSR_FEATURE_INDEX_LIST. */
export const KVM_CAP_GET_MSR_FEATURES = 153;
/** KVM_CLEAR_DIRTY_LOG. */
export const KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = 168;
/** hypercalls and PV MSRs checked against guest CPUID when enabled. */
export const KVM_CAP_ENFORCE_PV_FEATURE_CPUID = 190;

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
  [KVM_CAP_IRQCHIP, 'KVM_CAP_IRQCHIP'],
  [KVM_CAP_HLT, 'KVM_CAP_HLT'],
  [KVM_CAP_SET_TSS_ADDR, 'KVM_CAP_SET_TSS_ADDR'],
  [KVM_CAP_NR_VCPUS, 'KVM_CAP_NR_VCPUS'],
  [KVM_CAP_MP_STATE, 'KVM_CAP_MP_STATE'],
  [KVM_CAP_USER_NMI, 'KVM_CAP_USER_NMI'],
  [KVM_CAP_IRQ_INJECT_STATUS, 'KVM_CAP_IRQ_INJECT_STATUS'],
  [KVM_CAP_SET_IDENTITY_MAP_ADDR, 'KVM_CAP_SET_IDENTITY_MAP_ADDR'],
  [KVM_CAP_VCPU_EVENTS, 'KVM_CAP_VCPU_EVENTS'],
  [KVM_CAP_DEBUGREGS, 'KVM_CAP_DEBUGREGS'],
  [KVM_CAP_XSAVE, 'KVM_CAP_XSAVE'],
  [KVM_CAP_XCRS, 'KVM_CAP_XCRS'],
  [KVM_CAP_XSAVE2, 'KVM_CAP_XSAVE2'],
  [KVM_CAP_GET_TSC_KHZ, 'KVM_CAP_GET_TSC_KHZ'],
  [KVM_CAP_MAX_VCPUS, 'KVM_CAP_MAX_VCPUS'],
  [KVM_CAP_SYNC_REGS, 'KVM_CAP_SYNC_REGS'],
  [KVM_CAP_ENABLE_CAP_VM, 'KVM_CAP_ENABLE_CAP_VM'],
  [KVM_CAP_MULTI_ADDRESS_SPACE, 'KVM_CAP_MULTI_ADDRESS_SPACE'],
  [KVM_CAP_SPLIT_IRQCHIP, 'KVM_CAP_SPLIT_IRQCHIP'],
  [KVM_CAP_MAX_VCPU_ID, 'KVM_CAP_MAX_VCPU_ID'],
  [KVM_CAP_GET_MSR_FEATURES, 'KVM_CAP_GET_MSR_FEATURES'],
  [KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 'KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2'],
  [KVM_CAP_ENFORCE_PV_FEATURE_CPUID, 'KVM_CAP_ENFORCE_PV_FEATURE_CPUID'],
  [KVM_CAP_USER_MEMORY, 'KVM_CAP_USER_MEMORY'],
  [KVM_CAP_NR_MEMSLOTS, 'KVM_CAP_NR_MEMSLOTS'],
  [KVM_CAP_SYNC_MMU, 'KVM_CAP_SYNC_MMU'],
  [KVM_CAP_READONLY_MEM, 'KVM_CAP_READONLY_MEM'],
  [KVM_CAP_X86_SMM, 'KVM_CAP_X86_SMM'],
  [KVM_CAP_IMMEDIATE_EXIT, 'KVM_CAP_IMMEDIATE_EXIT'],
  [KVM_CAP_X86_USER_SPACE_MSR, 'KVM_CAP_X86_USER_SPACE_MSR'],
  [KVM_CAP_X86_MSR_FILTER, 'KVM_CAP_X86_MSR_FILTER'],
  [KVM_CAP_DIRTY_LOG_RING, 'KVM_CAP_DIRTY_LOG_RING'],
  [KVM_CAP_VM_COPY_ENC_CONTEXT_FROM, 'KVM_CAP_VM_COPY_ENC_CONTEXT_FROM'],
  [KVM_CAP_EXIT_HYPERCALL, 'KVM_CAP_EXIT_HYPERCALL'],
  [KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM, 'KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM'],
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
