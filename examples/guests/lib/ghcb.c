// SPDX-License-Identifier: MIT
/*
 * Talking to the hypervisor: the GHCB MSR protocol (before there is a GHCB page, and for the
 * requests that need none) and VMGEXITs through the GHCB page. After Linux's
 * arch/x86/coco/sev/ (sev_es_negotiate_protocol, __sev_cpuid_hv, sev_es_terminate,
 * sev_es_ghcb_hv_call, verify_exception_info, setup_ghcb).
 */
#include "ghcb.h"
#include "mem_encrypt.h"
#include "x86.h"

/*
 * The GHCB page: page aligned, in .shared (never encrypted at launch nor written privately), and
 * mapped shared by sev_es_setup_ghcb, as Linux's early_setup_ghcb does with its boot_ghcb_page.
 */
static struct ghcb boot_ghcb_page __aligned(4096) __section(".shared");

struct ghcb *boot_ghcb;
u16 ghcb_version;

u64 sev_es_rd_ghcb_msr(void)
{
	return native_read_msr(MSR_AMD64_SEV_ES_GHCB);
}

void sev_es_wr_ghcb_msr(u64 val)
{
	native_write_msr(MSR_AMD64_SEV_ES_GHCB, val);
}

u64 sev_es_msr_call(u64 request)
{
	sev_es_wr_ghcb_msr(request);
	VMGEXIT();
	return sev_es_rd_ghcb_msr();
}

bool sev_es_negotiate_protocol(void)
{
	u64 val = sev_es_msr_call(GHCB_MSR_SEV_INFO_REQ);

	if (GHCB_RESP_CODE(val) != GHCB_MSR_SEV_INFO_RESP)
		return false;
	if (GHCB_MSR_PROTO_MAX(val) < GHCB_PROTOCOL_MIN || GHCB_MSR_PROTO_MIN(val) > GHCB_PROTOCOL_MAX)
		return false;
	/* The highest version both sides speak. */
	ghcb_version = GHCB_MSR_PROTO_MAX(val) < GHCB_PROTOCOL_MAX ? GHCB_MSR_PROTO_MAX(val)
								     : GHCB_PROTOCOL_MAX;
	return true;
}

u64 get_hv_features(void)
{
	u64 val = sev_es_msr_call(GHCB_MSR_HV_FT_REQ);

	return GHCB_RESP_CODE(val) == GHCB_MSR_HV_FT_RESP ? val >> 12 : 0;
}

void sev_es_setup_ghcb(struct ghcb *ghcb, u16 version)
{
	/* The hypervisor reads and writes the page as it is in memory: it must be shared. */
	if (set_page_decrypted((unsigned long)ghcb))
		sev_es_terminate(SEV_TERM_SET_GEN, GHCB_SEV_ES_GEN_REQ);
	/* Now mapped decrypted: clear it. */
	memset(ghcb, 0, sizeof(*ghcb));
	ghcb_version = version;
	/* From now on every #VC goes through the page (vc.c). */
	boot_ghcb = ghcb;
}

void setup_ghcb(void)
{
	if (!sev_es_negotiate_protocol())
		sev_es_terminate(SEV_TERM_SET_GEN, GHCB_SEV_ES_PROT_UNSUPPORTED);
	sev_es_setup_ghcb(&boot_ghcb_page, ghcb_version);
}

int __sev_cpuid_hv(u32 fn, int reg_idx, u32 *reg)
{
	u64 val = sev_es_msr_call(GHCB_CPUID_REQ(fn, reg_idx));

	if (GHCB_RESP_CODE(val) != GHCB_MSR_CPUID_RESP)
		return -1;
	*reg = (u32)(val >> 32);
	return 0;
}

void sev_es_terminate(unsigned int set, unsigned int reason)
{
	sev_es_wr_ghcb_msr(GHCB_MSR_TERM_REQ | GHCB_SEV_TERM_REASON(set, reason));
	VMGEXIT();
	/* A hypervisor that resumes a guest asking to end it gets nothing more. */
	for (;;)
		halt();
}

/*
 * sw_exit_info_1's low 32 bits: 0 success; 1 the hypervisor wants an exception injected, whose
 * event (SVM's EVENTINJ format) is sw_exit_info_2: only #GP and #UD are believed, as Linux does;
 * anything else (2 = an error, sw_exit_info_2 saying which) is a VMM error.
 */
static enum es_result verify_exception_info(struct ghcb *ghcb, struct es_fault_info *fi)
{
	u32 ret = (u32)ghcb->save.sw_exit_info_1;

	if (!ret)
		return ES_OK;
	if (ret == 1) {
		u64 info = ghcb->save.sw_exit_info_2;
		unsigned long v = info & SVM_EVTINJ_VEC_MASK;

		if ((info & SVM_EVTINJ_VALID) && (v == X86_TRAP_GP || v == X86_TRAP_UD) &&
		    (info & SVM_EVTINJ_TYPE_MASK) == SVM_EVTINJ_TYPE_EXEPT) {
			fi->vector = v;
			fi->error_code = (info & SVM_EVTINJ_VALID_ERR) ? info >> 32 : 0;
			return ES_EXCEPTION;
		}
	}
	return ES_VMM_ERROR;
}

enum es_result sev_es_ghcb_hv_call(struct ghcb *ghcb, struct es_fault_info *fi, u64 exit_code,
				   u64 exit_info_1, u64 exit_info_2)
{
	ghcb->protocol_version = ghcb_version;
	ghcb->ghcb_usage = GHCB_DEFAULT_USAGE;

	ghcb_set_sw_exit_code(ghcb, exit_code);
	ghcb_set_sw_exit_info_1(ghcb, exit_info_1);
	ghcb_set_sw_exit_info_2(ghcb, exit_info_2);

	sev_es_ghcb_hv_call_raw(__pa(ghcb));

	return verify_exception_info(ghcb, fi);
}

void sev_es_ghcb_hv_call_raw(u64 ghcb_msr)
{
	sev_es_wr_ghcb_msr(ghcb_msr);
	VMGEXIT();
}

enum es_result sev_es_nmi_complete(void)
{
	struct es_fault_info fi;

	vc_ghcb_invalidate(boot_ghcb);
	return sev_es_ghcb_hv_call(boot_ghcb, &fi, SVM_VMGEXIT_NMI_COMPLETE, 0, 0);
}
