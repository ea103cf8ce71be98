// SPDX-License-Identifier: MIT
/*
 * twin-misc: the machine-code twin of examples/misc.yaml (examples/machine-code/misc.yaml runs it),
 * on lib/ and twin.h. One instruction raises its own #VC; the others are GHCB requests the guest
 * writes, each for a reason:
 *
 *   step 0  RDTSCP: a request (KVM does not intercept RDTSCP: the instruction makes no #VC). KVM
 *           does not expose RDTSCP either: it answers by injecting #UD, which the guest takes at the
 *           instruction after its VMGEXIT (vmgexit_safe's exception-table entry) and goes on, as the
 *           scripted guest does.
 *   step 1  DR7 write of 0x400: a request (KVM clears an SEV-ES guest's DR intercepts).
 *   step 2  DR7 read: a request, as step 1.
 *   step 3  INVD: a request (Linux's #VC handler refuses INVD, and so does this one).
 *   step 4  WBINVD: the instruction; its #VC handler (vc_handle_wbinvd) sends SVM_EXIT_WBINVD.
 *   step 5  MONITOR with RAX 0x2000: a request (the interpreter has no MONITOR).
 *   step 6  MWAIT: a request, as step 5.
 *   step 7  NMI_COMPLETE: sev_es_nmi_complete, a request as in Linux.
 *   step 8  RDTSC: a request (not intercepted either). KVM has no handler for it through the GHCB:
 *           KVM_EXIT_INTERNAL_ERROR, which ends the run.
 *
 * results (GPA 0x40000): the vector of step 0's exception (#UD, 6), then sw_exit_info_1/2 of
 * steps 1-3 and 5-7, all 0.
 */
#include "twin.h"

static struct {
	u64 rdtscp_vector; /* 0x00: X86_TRAP_UD */
	struct hv_answer answer[6]; /* 0x08: steps 1-3, 5-7 */
} results __section(".results") __used;

int main(void)
{
	struct ghcb *ghcb = twin_setup_ghcb(1);
	struct hv_answer *a = results.answer;

	vc_ghcb_invalidate(ghcb);
	ghcb_set_sw_exit_code(ghcb, SVM_EXIT_RDTSCP);
	ghcb_set_sw_exit_info_1(ghcb, 0);
	ghcb_set_sw_exit_info_2(ghcb, 0);
	ghcb->protocol_version = ghcb_version;
	ghcb->ghcb_usage = GHCB_DEFAULT_USAGE;
	sev_es_wr_ghcb_msr(__pa(ghcb));
	results.rdtscp_vector = (u64)vmgexit_safe();
	vc_ghcb_invalidate(ghcb);
	ghcb_set_rax(ghcb, 0x400);
	*a++ = twin_hv_call(ghcb, SVM_EXIT_WRITE_DR7, 0, 0);
	*a++ = twin_request(ghcb, SVM_EXIT_READ_DR7, 0, 0);
	*a++ = twin_request(ghcb, SVM_EXIT_INVD, 0, 0);
	wbinvd();
	vc_ghcb_invalidate(ghcb);
	ghcb_set_rax(ghcb, 0x2000);
	ghcb_set_rcx(ghcb, 0);
	ghcb_set_rdx(ghcb, 0);
	*a++ = twin_hv_call(ghcb, SVM_EXIT_MONITOR, 0, 0);
	vc_ghcb_invalidate(ghcb);
	ghcb_set_rax(ghcb, 0);
	ghcb_set_rcx(ghcb, 0);
	*a++ = twin_hv_call(ghcb, SVM_EXIT_MWAIT, 0, 0);
	sev_es_nmi_complete();
	*a++ = hv_answer(ghcb);
	twin_request(ghcb, SVM_EXIT_RDTSC, 0, 0);
	twin_done();
}
