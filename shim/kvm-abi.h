/*
 * The slice of the KVM and SEV uapi the shim marshals, copied from the kernel's headers
 * (include/uapi/linux/kvm.h, arch/x86/include/uapi/asm/kvm.h as vendored under
 * ../shared/vendor/kvm-selftests/tools) so the shim builds against any libc's headers: the
 * distribution's <linux/kvm.h> is older than KVM_SET_USER_MEMORY_REGION2 and KVM_SEV_INIT2.
 * The sizes are checked below; the names are the kernel's.
 */
#ifndef SEVBOX_KVM_ABI_H
#define SEVBOX_KVM_ABI_H

#include <linux/ioctl.h>
#include <stdint.h>

#define KVMIO 0xAE

/* /dev/kvm */
#define KVM_GET_API_VERSION _IO(KVMIO, 0x00)
#define KVM_CREATE_VM _IO(KVMIO, 0x01)
#define KVM_GET_MSR_INDEX_LIST _IOWR(KVMIO, 0x02, struct kvm_msr_list)
#define KVM_CHECK_EXTENSION _IO(KVMIO, 0x03)
#define KVM_GET_VCPU_MMAP_SIZE _IO(KVMIO, 0x04)
#define KVM_GET_SUPPORTED_CPUID _IOWR(KVMIO, 0x05, struct kvm_cpuid2)
#define KVM_GET_EMULATED_CPUID _IOWR(KVMIO, 0x09, struct kvm_cpuid2)
#define KVM_GET_MSR_FEATURE_INDEX_LIST _IOWR(KVMIO, 0x0a, struct kvm_msr_list)

/* VM fds */
#define KVM_CREATE_VCPU _IO(KVMIO, 0x41)
#define KVM_GET_DIRTY_LOG _IOW(KVMIO, 0x42, struct kvm_dirty_log)
#define KVM_SET_USER_MEMORY_REGION _IOW(KVMIO, 0x46, struct kvm_userspace_memory_region)
#define KVM_SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct kvm_userspace_memory_region2)
#define KVM_SET_GSI_ROUTING _IOW(KVMIO, 0x6a, struct kvm_irq_routing)
#define KVM_ENABLE_CAP _IOW(KVMIO, 0xa3, struct kvm_enable_cap)
#define KVM_MEMORY_ENCRYPT_OP _IOWR(KVMIO, 0xba, unsigned long)
#define KVM_CLEAR_DIRTY_LOG _IOWR(KVMIO, 0xc0, struct kvm_clear_dirty_log)
#define KVM_X86_SET_MSR_FILTER _IOW(KVMIO, 0xc6, struct kvm_msr_filter)
#define KVM_GET_STATS_FD _IO(KVMIO, 0xce)
#define KVM_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd)
#define KVM_CREATE_DEVICE _IOWR(KVMIO, 0xe0, struct kvm_create_device)
/* Any fd: /dev/kvm (KVM_X86_GRP_SEV), VM and vCPU attributes. */
#define KVM_GET_DEVICE_ATTR _IOW(KVMIO, 0xe2, struct kvm_device_attr)

/* vCPU fds */
#define KVM_RUN _IO(KVMIO, 0x80)
#define KVM_GET_MSRS _IOWR(KVMIO, 0x88, struct kvm_msrs)
#define KVM_SET_MSRS _IOW(KVMIO, 0x89, struct kvm_msrs)
#define KVM_SET_SIGNAL_MASK _IOW(KVMIO, 0x8b, struct kvm_signal_mask)
#define KVM_SET_CPUID2 _IOW(KVMIO, 0x90, struct kvm_cpuid2)
#define KVM_GET_CPUID2 _IOWR(KVMIO, 0x91, struct kvm_cpuid2)

#define KVM_MEM_GUEST_MEMFD (1u << 2)
#define KVM_CREATE_DEVICE_TEST 1
#define KVM_CAP_VM_COPY_ENC_CONTEXT_FROM 197
#define KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM 206
#define KVM_CPUID_FLAG_SIGNIFCANT_INDEX (1u << 0)
#define KVM_MSR_FILTER_MAX_RANGES 16
#define KVM_MSR_FILTER_RANGE_VALID_MASK 3u

/* The kernel's limits on the counted structs (what it would copy at most). */
#define KVM_MAX_CPUID_ENTRIES 256
#define MAX_IO_MSRS 256
#define KVM_MAX_IRQ_ROUTES 4096
#define MSR_LIST_MAX 4096

struct kvm_userspace_memory_region {
  uint32_t slot; /* as_id << 16 | id */
  uint32_t flags;
  uint64_t guest_phys_addr;
  uint64_t memory_size;
  uint64_t userspace_addr;
};

struct kvm_userspace_memory_region2 {
  uint32_t slot;
  uint32_t flags;
  uint64_t guest_phys_addr;
  uint64_t memory_size;
  uint64_t userspace_addr;
  uint64_t guest_memfd_offset;
  uint32_t guest_memfd;
  uint32_t pad1;
  uint64_t pad2[14];
};

struct kvm_dirty_log {
  uint32_t slot;
  uint32_t padding1;
  uint64_t dirty_bitmap;
};

struct kvm_clear_dirty_log {
  uint32_t slot;
  uint32_t num_pages;
  uint64_t first_page;
  uint64_t dirty_bitmap;
};

struct kvm_enable_cap {
  uint32_t cap;
  uint32_t flags;
  uint64_t args[4];
  uint8_t pad[64];
};

struct kvm_create_device {
  uint32_t type;
  uint32_t fd; /* out */
  uint32_t flags;
};

/* KVM_GET_DEVICE_ATTR's argument: the value goes to the u64 at `addr`. */
struct kvm_device_attr {
  uint32_t flags;
  uint32_t group;
  uint64_t attr;
  uint64_t addr;
};

struct kvm_create_guest_memfd {
  uint64_t size;
  uint64_t flags;
  uint64_t reserved[6];
};

struct kvm_cpuid_entry2 {
  uint32_t function;
  uint32_t index;
  uint32_t flags;
  uint32_t eax, ebx, ecx, edx;
  uint32_t padding[3];
};

struct kvm_cpuid2 {
  uint32_t nent;
  uint32_t padding;
  /* struct kvm_cpuid_entry2 entries[nent] */
};

struct kvm_msr_entry {
  uint32_t index;
  uint32_t reserved;
  uint64_t data;
};

struct kvm_msrs {
  uint32_t nmsrs;
  uint32_t pad;
  /* struct kvm_msr_entry entries[nmsrs] */
};

struct kvm_msr_list {
  uint32_t nmsrs;
  /* uint32_t indices[nmsrs] */
};

struct kvm_signal_mask {
  uint32_t len;
  /* uint8_t sigset[len] */
};

struct kvm_irq_routing_entry {
  uint32_t gsi, type, flags, pad;
  uint32_t u[8];
};

struct kvm_irq_routing {
  uint32_t nr;
  uint32_t flags;
  /* struct kvm_irq_routing_entry entries[nr] */
};

struct kvm_msr_filter_range {
  uint32_t flags;
  uint32_t nmsrs;
  uint32_t base;
  uint64_t bitmap;
};

struct kvm_msr_filter {
  uint32_t flags;
  struct kvm_msr_filter_range ranges[KVM_MSR_FILTER_MAX_RANGES];
};

/* KVM_MEMORY_ENCRYPT_OP (AMD SEV) */
enum sev_cmd_id {
  KVM_SEV_INIT = 0,
  KVM_SEV_ES_INIT,
  KVM_SEV_LAUNCH_START,
  KVM_SEV_LAUNCH_UPDATE_DATA,
  KVM_SEV_LAUNCH_UPDATE_VMSA,
  KVM_SEV_LAUNCH_SECRET,
  KVM_SEV_LAUNCH_MEASURE,
  KVM_SEV_LAUNCH_FINISH,
  KVM_SEV_SEND_START,
  KVM_SEV_SEND_UPDATE_DATA,
  KVM_SEV_SEND_UPDATE_VMSA,
  KVM_SEV_SEND_FINISH,
  KVM_SEV_RECEIVE_START,
  KVM_SEV_RECEIVE_UPDATE_DATA,
  KVM_SEV_RECEIVE_UPDATE_VMSA,
  KVM_SEV_RECEIVE_FINISH,
  KVM_SEV_GUEST_STATUS,
  KVM_SEV_DBG_DECRYPT,
  KVM_SEV_DBG_ENCRYPT,
  KVM_SEV_CERT_EXPORT,
  KVM_SEV_GET_ATTESTATION_REPORT,
  KVM_SEV_SEND_CANCEL,
  KVM_SEV_INIT2,
};

struct kvm_sev_cmd {
  uint32_t id;
  uint32_t pad0;
  uint64_t data;
  uint32_t error;
  uint32_t sev_fd;
};

struct kvm_sev_init {
  uint64_t vmsa_features;
  uint32_t flags;
  uint16_t ghcb_version;
  uint16_t pad1;
  uint32_t pad2[8];
};

struct kvm_sev_launch_start {
  uint32_t handle;
  uint32_t policy;
  uint64_t dh_uaddr;
  uint32_t dh_len;
  uint32_t pad0;
  uint64_t session_uaddr;
  uint32_t session_len;
  uint32_t pad1;
};

struct kvm_sev_launch_update_data {
  uint64_t uaddr;
  uint32_t len;
  uint32_t pad0;
};

struct kvm_sev_launch_secret {
  uint64_t hdr_uaddr;
  uint32_t hdr_len;
  uint32_t pad0;
  uint64_t guest_uaddr;
  uint32_t guest_len;
  uint32_t pad1;
  uint64_t trans_uaddr;
  uint32_t trans_len;
  uint32_t pad2;
};

struct kvm_sev_launch_measure {
  uint64_t uaddr;
  uint32_t len;
  uint32_t pad0;
};

struct kvm_sev_guest_status {
  uint32_t handle;
  uint32_t policy;
  uint32_t state;
};

struct kvm_sev_dbg {
  uint64_t src_uaddr;
  uint64_t dst_uaddr;
  uint32_t len;
  uint32_t pad0;
};

struct kvm_sev_attestation_report {
  uint8_t mnonce[16];
  uint64_t uaddr;
  uint32_t len;
  uint32_t pad0;
};

_Static_assert(sizeof(struct kvm_userspace_memory_region) == 32, "uapi");
_Static_assert(sizeof(struct kvm_userspace_memory_region2) == 160, "uapi");
_Static_assert(sizeof(struct kvm_dirty_log) == 16, "uapi");
_Static_assert(sizeof(struct kvm_clear_dirty_log) == 24, "uapi");
_Static_assert(sizeof(struct kvm_enable_cap) == 104, "uapi");
_Static_assert(sizeof(struct kvm_create_device) == 12, "uapi");
_Static_assert(sizeof(struct kvm_cpuid_entry2) == 40, "uapi");
_Static_assert(sizeof(struct kvm_irq_routing_entry) == 48, "uapi");
_Static_assert(sizeof(struct kvm_msr_filter_range) == 24, "uapi");
_Static_assert(sizeof(struct kvm_msr_filter) == 392, "uapi");
_Static_assert(sizeof(struct kvm_sev_cmd) == 24, "uapi");
_Static_assert(sizeof(struct kvm_sev_init) == 48, "uapi");
_Static_assert(sizeof(struct kvm_sev_launch_start) == 40, "uapi");
_Static_assert(sizeof(struct kvm_sev_launch_update_data) == 16, "uapi");
_Static_assert(sizeof(struct kvm_sev_launch_secret) == 48, "uapi");
_Static_assert(sizeof(struct kvm_sev_launch_measure) == 16, "uapi");
_Static_assert(sizeof(struct kvm_sev_guest_status) == 12, "uapi");
_Static_assert(sizeof(struct kvm_sev_dbg) == 24, "uapi");
_Static_assert(sizeof(struct kvm_sev_attestation_report) == 32, "uapi");
_Static_assert(KVM_SEV_INIT2 == 22 && KVM_SEV_GUEST_STATUS == 16, "uapi");

#endif
