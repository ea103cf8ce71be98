/* SPDX-License-Identifier: MIT */
/*
 * The GHCB page and the GHCB MSR protocol from the guest's side, after Linux's struct ghcb and
 * accessors (arch/x86/include/asm/svm.h), GHCB MSR macros (asm/sev-common.h) and
 * sev_es_ghcb_hv_call (arch/x86/coco/sev/). Offsets are checked below against the layout
 * ../shared/spec/ghcb.md gives (and src/uapi/ghcb.ts models).
 */
#ifndef SEVG_GHCB_H
#define SEVG_GHCB_H

#include "types.h"

/* SVM exit codes a #VC carries as its error code, and the VMGEXIT-only ones (uapi/asm/svm.h). */
#define SVM_EXIT_READ_DR7 0x027
#define SVM_EXIT_WRITE_DR7 0x037
#define SVM_EXIT_RDTSC 0x06e
#define SVM_EXIT_CPUID 0x072
#define SVM_EXIT_INVD 0x076
#define SVM_EXIT_IOIO 0x07b
#define SVM_EXIT_MSR 0x07c
#define SVM_EXIT_RDTSCP 0x087
#define SVM_EXIT_WBINVD 0x089
#define SVM_EXIT_MONITOR 0x08a
#define SVM_EXIT_MWAIT 0x08b
#define SVM_EXIT_NPF 0x400
#define SVM_VMGEXIT_MMIO_READ 0x80000001
#define SVM_VMGEXIT_MMIO_WRITE 0x80000002
#define SVM_VMGEXIT_NMI_COMPLETE 0x80000003
#define SVM_VMGEXIT_AP_HLT_LOOP 0x80000004
#define SVM_VMGEXIT_AP_JUMP_TABLE 0x80000005
#define SVM_VMGEXIT_SET_AP_JUMP_TABLE 0
#define SVM_VMGEXIT_GET_AP_JUMP_TABLE 1

/* sw_exit_info_1 of an answer: 0 done, 1 an exception to take, 2 an error (GHCB_ERR_* in info 2). */
#define GHCB_HV_RESP_NO_ACTION 0
#define GHCB_HV_RESP_ISSUE_EXCEPTION 1
#define GHCB_HV_RESP_MALFORMED_INPUT 2
/* sw_exit_info_2 of a malformed-input answer (Linux's GHCB_ERR_*). */
#define GHCB_ERR_NOT_REGISTERED 1
#define GHCB_ERR_INVALID_USAGE 2
#define GHCB_ERR_INVALID_SCRATCH_AREA 3
#define GHCB_ERR_MISSING_INPUT 4
#define GHCB_ERR_INVALID_INPUT 5
#define GHCB_ERR_INVALID_EVENT 6

/* An exception the hypervisor asks the guest to take (sw_exit_info_2 when sw_exit_info_1 is 1). */
#define SVM_EVTINJ_VEC_MASK 0xff
#define SVM_EVTINJ_TYPE_MASK (7 << 8)
#define SVM_EVTINJ_TYPE_EXEPT (3 << 8)
#define SVM_EVTINJ_VALID_ERR BIT(11)
#define SVM_EVTINJ_VALID BIT(31)

#define GHCB_PROTOCOL_MIN 1
#define GHCB_PROTOCOL_MAX 2
#define GHCB_DEFAULT_USAGE 0
#define GHCB_SHARED_BUF_SIZE 2032

/* struct ghcb_save_area: the fields a VMGEXIT exchanges, padded to the Linux offsets. */
struct ghcb_save_area {
	u8 reserved_0x0[203];
	u8 cpl;
	u8 reserved_0xcc[116];
	u64 xss;
	u8 reserved_0x148[24];
	u64 dr7;
	u8 reserved_0x168[16];
	u64 rip;
	u8 reserved_0x180[88];
	u64 rsp;
	u8 reserved_0x1e0[24];
	u64 rax;
	u8 reserved_0x200[264];
	u64 rcx;
	u64 rdx;
	u64 rbx;
	u8 reserved_0x320[8];
	u64 rbp;
	u64 rsi;
	u64 rdi;
	u64 r8, r9, r10, r11, r12, r13, r14, r15;
	u8 reserved_0x380[16];
	u64 sw_exit_code;
	u64 sw_exit_info_1;
	u64 sw_exit_info_2;
	u64 sw_scratch;
	u8 reserved_0x3b0[56];
	u64 xcr0;
	u8 valid_bitmap[16];
	u64 x87_state_gpa;
} __packed;

/* The 4 KiB GHCB page, shared with the hypervisor. */
struct ghcb {
	struct ghcb_save_area save;
	u8 reserved_save[2048 - sizeof(struct ghcb_save_area)];
	u8 shared_buffer[GHCB_SHARED_BUF_SIZE];
	u8 reserved_0xff0[10];
	u16 protocol_version;
	u32 ghcb_usage;
} __packed;

_Static_assert(offsetof(struct ghcb, save.cpl) == 0x0cb, "cpl");
_Static_assert(offsetof(struct ghcb, save.rax) == 0x1f8, "rax");
_Static_assert(offsetof(struct ghcb, save.rcx) == 0x308, "rcx");
_Static_assert(offsetof(struct ghcb, save.r15) == 0x378, "r15");
_Static_assert(offsetof(struct ghcb, save.sw_exit_code) == 0x390, "sw_exit_code");
_Static_assert(offsetof(struct ghcb, save.sw_scratch) == 0x3a8, "sw_scratch");
_Static_assert(offsetof(struct ghcb, save.xcr0) == 0x3e8, "xcr0");
_Static_assert(offsetof(struct ghcb, save.valid_bitmap) == 0x3f0, "valid_bitmap");
_Static_assert(offsetof(struct ghcb, shared_buffer) == 0x800, "shared_buffer");
_Static_assert(offsetof(struct ghcb, protocol_version) == 0xffa, "protocol_version");
_Static_assert(offsetof(struct ghcb, ghcb_usage) == 0xffc, "ghcb_usage");
_Static_assert(sizeof(struct ghcb) == 4096, "one page");

/* A field's valid bit is its quadword index in the save area (GHCB_BITMAP_IDX). */
#define GHCB_BITMAP_IDX(field) (offsetof(struct ghcb_save_area, field) / sizeof(u64))

/*
 * Linux's DEFINE_GHCB_ACCESSORS: ghcb_set_<field> stores the value and sets its valid bit,
 * ghcb_<field>_is_valid tests the bit (the hypervisor sets the bits of what it answers).
 */
#define DEFINE_GHCB_ACCESSORS(field)                                                   \
	static inline bool ghcb_##field##_is_valid(const struct ghcb *ghcb)            \
	{                                                                               \
		unsigned int i = GHCB_BITMAP_IDX(field);                                \
		return (ghcb->save.valid_bitmap[i / 8] >> (i % 8)) & 1;                 \
	}                                                                               \
	static inline void ghcb_set_##field(struct ghcb *ghcb, u64 value)              \
	{                                                                               \
		unsigned int i = GHCB_BITMAP_IDX(field);                                \
		ghcb->save.valid_bitmap[i / 8] |= (u8)(1 << (i % 8));                   \
		ghcb->save.field = value;                                               \
	}

DEFINE_GHCB_ACCESSORS(cpl)
DEFINE_GHCB_ACCESSORS(rax)
DEFINE_GHCB_ACCESSORS(rbx)
DEFINE_GHCB_ACCESSORS(rcx)
DEFINE_GHCB_ACCESSORS(rdx)
DEFINE_GHCB_ACCESSORS(sw_exit_code)
DEFINE_GHCB_ACCESSORS(sw_exit_info_1)
DEFINE_GHCB_ACCESSORS(sw_exit_info_2)
DEFINE_GHCB_ACCESSORS(sw_scratch)
DEFINE_GHCB_ACCESSORS(xcr0)

/*
 * The GHCB MSR protocol (GHCB spec section 2.3.1): GHCBInfo in bits 11:0 of MSR 0xc0010130 names
 * the request, GHCBData in bits 63:12 carries its data; the answer comes back in the same MSR.
 */
#define GHCB_MSR_INFO_MASK 0xfffUL
#define GHCB_RESP_CODE(v) ((v) & GHCB_MSR_INFO_MASK)

#define GHCB_MSR_SEV_INFO_RESP 0x001
#define GHCB_MSR_SEV_INFO_REQ 0x002
#define GHCB_MSR_PROTO_MAX(v) (((v) >> 48) & 0xffff)
#define GHCB_MSR_PROTO_MIN(v) (((v) >> 32) & 0xffff)

#define GHCB_MSR_CPUID_REQ 0x004
#define GHCB_MSR_CPUID_RESP 0x005
#define GHCB_CPUID_REQ_EAX 0
#define GHCB_CPUID_REQ_EBX 1
#define GHCB_CPUID_REQ_ECX 2
#define GHCB_CPUID_REQ_EDX 3
#define GHCB_CPUID_REQ(fn, reg) \
	(GHCB_MSR_CPUID_REQ | ((u64)((reg) & 3) << 30) | ((u64)((fn) & 0xffffffff) << 32))

#define GHCB_MSR_HV_FT_REQ 0x080 /* GHCB v2: the hypervisor's features */
#define GHCB_MSR_HV_FT_RESP 0x081

#define GHCB_MSR_TERM_REQ 0x100
#define GHCB_SEV_TERM_REASON(set, reason) (((u64)((set) & 0xf) << 12) | ((u64)((reason) & 0xff) << 16))

/*
 * Termination reason codes: set 0 is the GHCB spec's general set (Linux's SEV_TERM_SET_GEN), set 1
 * is Linux's own; this library reports its failures in set 2 and main's return value in set 3.
 */
#define SEV_TERM_SET_GEN 0
#define GHCB_SEV_ES_GEN_REQ 0
#define GHCB_SEV_ES_PROT_UNSUPPORTED 1
#define SEV_TERM_SET_LIB 2
#define LIB_TERM_VC_UNSUPPORTED 1 /* a #VC for an exit code vc_handle_exitcode does not handle */
#define LIB_TERM_VC_DECODE 2 /* an instruction the #VC decoder does not know */
#define LIB_TERM_VMM_ERROR 3 /* sw_exit_info_1 = 2, or an answer missing a field */
#define LIB_TERM_NO_GHCB 4 /* a #VC other than CPUID before setup_ghcb() */
#define LIB_TERM_EXCEPTION 0x80 /* | vector: an exception no handler or fixup took */
#define SEV_TERM_SET_EXIT 3 /* reason code = main()'s return value & 0xff */

/* The outcome of handling a #VC (Linux's enum es_result). */
enum es_result {
	ES_OK, /* done: RIP moves past the instruction */
	ES_UNSUPPORTED, /* an exit code or operand the handler does not support */
	ES_VMM_ERROR, /* the hypervisor answered with an error, or without what it owes */
	ES_DECODE_FAILED, /* the instruction could not be decoded */
	ES_EXCEPTION, /* the guest must take an exception (es_fault_info) */
	ES_RETRY, /* run the instruction again (a REP string I/O larger than the shared buffer) */
};

/* The exception to take when a handler returns ES_EXCEPTION. */
struct es_fault_info {
	unsigned long vector;
	unsigned long error_code;
	unsigned long cr2;
};

/* The GHCB the #VC handler uses once setup_ghcb() published it; NULL before (MSR protocol only). */
extern struct ghcb *boot_ghcb;
/* The GHCB protocol version negotiated with the hypervisor (0 before setup_ghcb()). */
extern u16 ghcb_version;

/* The GHCB MSR, read and written with RDMSR/WRMSR: never intercepted. */
u64 sev_es_rd_ghcb_msr(void);
void sev_es_wr_ghcb_msr(u64 val);

/* One GHCB MSR protocol exchange: `request` into the GHCB MSR, VMGEXIT, the response. */
u64 sev_es_msr_call(u64 request);
/* The SEV_INFO request: the hypervisor's protocol range; false when it shares none with us. */
bool sev_es_negotiate_protocol(void);
/* HV_FT_REQ (GHCB v2): the hypervisor's feature bitmap, 0 if the answer is not HV_FT_RESP. */
u64 get_hv_features(void);
/*
 * Negotiate the protocol, map the GHCB page shared, clear it and make it the #VC handler's (Linux's
 * setup_ghcb and early_setup_ghcb).
 */
void setup_ghcb(void);
/*
 * setup_ghcb without the negotiation: map `ghcb` shared (set_page_decrypted; the guest ends with
 * the general termination reason if it cannot), clear it and make it the #VC handler's GHCB, speaking
 * protocol `version`. For a guest that already knows both (the scenario twins, whose scripted
 * originals register a GHCB at a given GPA without asking).
 */
void sev_es_setup_ghcb(struct ghcb *ghcb, u16 version);
/* One CPUID register through the MSR protocol (__sev_cpuid_hv): 0, or -1 for a bad response. */
int __sev_cpuid_hv(u32 fn, int reg_idx, u32 *reg);
/* The termination request: the hypervisor stops the guest with `set` and `reason`. */
void __noreturn sev_es_terminate(unsigned int set, unsigned int reason);
/*
 * A VMGEXIT through the GHCB: exit code and infos with their valid bits, protocol version and
 * usage, the GHCB GPA into the GHCB MSR, VMGEXIT; then sw_exit_info_1 says how it went (0 done,
 * 1 an exception to take, described in `fi`, anything else a VMM error).
 */
enum es_result sev_es_ghcb_hv_call(struct ghcb *ghcb, struct es_fault_info *fi, u64 exit_code,
				   u64 exit_info_1, u64 exit_info_2);
/*
 * A VMGEXIT with the GHCB page exactly as the caller filled it (no protocol version, usage or exit
 * fields added) and `ghcb_msr` in the GHCB MSR, normally the page's GPA: for requests outside the
 * protocol, as a hostile guest makes them. The answer is in the page.
 */
void sev_es_ghcb_hv_call_raw(u64 ghcb_msr);
/* NMI_COMPLETE: the guest's NMI handler is done (Linux's sev_es_nmi_complete). */
enum es_result sev_es_nmi_complete(void);

/* A guest-physical address: the library's memory is identity mapped (and no C-bit in a GPA). */
static inline u64 __pa(const void *p)
{
	return (u64)p;
}

/* Forget the last request: no exit code, no valid bits (Linux's vc_ghcb_invalidate). */
static inline void vc_ghcb_invalidate(struct ghcb *ghcb)
{
	ghcb->save.sw_exit_code = 0;
	__builtin_memset(ghcb->save.valid_bitmap, 0, sizeof(ghcb->save.valid_bitmap));
}

#endif
