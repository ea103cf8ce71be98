// SPDX-License-Identifier: MIT
/*
 * twin-ap-jump-table: the machine-code twin of examples/ap-jump-table.yaml
 * (examples/machine-code/ap-jump-table.yaml runs it), on lib/ and twin.h. No instruction raises
 * these events: every step is a GHCB request the guest writes itself and VMGEXITs, as Linux's
 * sev_es_setup_ap_jump_table, get_jump_table_addr and sev_es_ap_hlt_loop do.
 *
 *   step 0  AP_JUMP_TABLE SET (exit_info_1 0) of GPA 0x9000: handled.
 *   step 1  AP_JUMP_TABLE GET (exit_info_1 1): handled, the table in sw_exit_info_2.
 *   step 2  AP_JUMP_TABLE with sub-code 7: reflected, GHCB_ERR_INVALID_INPUT.
 *   step 3  one AP_HLT_LOOP (Linux loops on it until woken): KVM parks the vCPU in the kernel
 *           (AP_RESET_HOLD), the VMM's SIPI resumes it; the first SIPI does not count as a wake-up,
 *           so sw_exit_info_2 stays 0.
 *
 * Then HLT: the run ends (guest-done). results (GPA 0x40000): each step's sw_exit_info_1/2.
 */
#include "twin.h"

static struct {
	struct hv_answer set; /* 0x00: 0, 0 */
	struct hv_answer get; /* 0x10: 0, 0x9000 */
	struct hv_answer bad; /* 0x20: 2, GHCB_ERR_INVALID_INPUT (5) */
	struct hv_answer hlt_loop; /* 0x30: 0, 0 (not woken) */
} results __section(".results") __used;

int main(void)
{
	struct ghcb *ghcb = twin_setup_ghcb(1);

	results.set = twin_request(ghcb, SVM_VMGEXIT_AP_JUMP_TABLE, SVM_VMGEXIT_SET_AP_JUMP_TABLE, 0x9000);
	results.get = twin_request(ghcb, SVM_VMGEXIT_AP_JUMP_TABLE, SVM_VMGEXIT_GET_AP_JUMP_TABLE, 0);
	results.bad = twin_request(ghcb, SVM_VMGEXIT_AP_JUMP_TABLE, 7, 0);
	results.hlt_loop = twin_request(ghcb, SVM_VMGEXIT_AP_HLT_LOOP, 0, 0);
	twin_done();
}
