// SPDX-License-Identifier: MIT
/*
 * twin-hostile-ghcb: the machine-code twin of examples/hostile-ghcb.yaml
 * (examples/machine-code/hostile-ghcb.yaml runs it), on lib/ and twin.h.
 *
 * Steps 0-5 are the scripted `raw` steps: the guest builds the whole GHCB page itself (zeros, then
 * the fields with their valid bits, exit code and infos, protocol version 1, usage) and VMGEXITs
 * with sev_es_ghcb_hv_call_raw, which adds nothing. No #VC makes such a page.
 *
 *   step 0  CPUID with ghcb_usage 1: reflected, GHCB_ERR_INVALID_USAGE.
 *   step 1  CPUID without RAX: reflected, GHCB_ERR_MISSING_INPUT.
 *   step 2  CPUID with sw_exit_info_2 not marked valid: reflected, GHCB_ERR_MISSING_INPUT.
 *   step 3  exit code 0x1234: reflected, GHCB_ERR_INVALID_EVENT.
 *   step 4  MMIO read with sw_scratch at the GHCB's start: reflected, GHCB_ERR_INVALID_SCRATCH_AREA.
 *   step 5  a CPUID request with 0 in the GHCB MSR: KVM ignores it (no VMGEXIT of the table).
 *   step 6  cpuid 0, well-formed: the CPUID instruction through the #VC handler: handled.
 *
 * Then HLT: the run ends (guest-done). results (GPA 0x40000): sw_exit_info_1/2 after steps 0-5,
 * and EAX-EDX of step 6.
 */
#include "twin.h"

static struct {
	struct hv_answer raw[6]; /* 0x00: 2 and the GHCB_ERR_* above; step 5: the page as written (0, 0) */
	u32 leaf_0[4]; /* 0x60 */
} results __section(".results") __used;

/* A raw page: zeros, then exit code and infos (valid), protocol version 1 and usage 0. */
static struct ghcb *raw_page(struct ghcb *ghcb, u64 exit_code, u64 info1, u64 info2)
{
	memset(ghcb, 0, sizeof(*ghcb));
	ghcb_set_sw_exit_code(ghcb, exit_code);
	ghcb_set_sw_exit_info_1(ghcb, info1);
	ghcb_set_sw_exit_info_2(ghcb, info2);
	ghcb->protocol_version = 1;
	return ghcb;
}

int main(void)
{
	struct ghcb *ghcb = twin_setup_ghcb(1);
	u32 *r = results.leaf_0;

	/* 0: ghcb_usage 1 */
	raw_page(ghcb, SVM_EXIT_CPUID, 0, 0)->ghcb_usage = 1;
	ghcb_set_rax(ghcb, 0);
	ghcb_set_rcx(ghcb, 0);
	sev_es_ghcb_hv_call_raw(__pa(ghcb));
	results.raw[0] = hv_answer(ghcb);

	/* 1: CPUID without RAX */
	raw_page(ghcb, SVM_EXIT_CPUID, 0, 0);
	ghcb_set_rcx(ghcb, 0);
	sev_es_ghcb_hv_call_raw(__pa(ghcb));
	results.raw[1] = hv_answer(ghcb);

	/* 2: sw_exit_info_2 not valid */
	raw_page(ghcb, SVM_EXIT_CPUID, 0, 0);
	ghcb_set_rax(ghcb, 0);
	ghcb_set_rcx(ghcb, 0);
	ghcb->save.valid_bitmap[GHCB_BITMAP_IDX(sw_exit_info_2) / 8] &= (u8)~BIT(GHCB_BITMAP_IDX(sw_exit_info_2) % 8);
	sev_es_ghcb_hv_call_raw(__pa(ghcb));
	results.raw[2] = hv_answer(ghcb);

	/* 3: an exit code KVM does not know */
	raw_page(ghcb, 0x1234, 0, 0);
	sev_es_ghcb_hv_call_raw(__pa(ghcb));
	results.raw[3] = hv_answer(ghcb);

	/* 4: MMIO read, scratch at the GHCB's first byte */
	raw_page(ghcb, SVM_VMGEXIT_MMIO_READ, 0xfed00000, 4);
	ghcb_set_sw_scratch(ghcb, __pa(ghcb));
	sev_es_ghcb_hv_call_raw(__pa(ghcb));
	results.raw[4] = hv_answer(ghcb);

	/* 5: GHCB MSR 0 */
	raw_page(ghcb, SVM_EXIT_CPUID, 0, 0);
	ghcb_set_rax(ghcb, 0);
	ghcb_set_rcx(ghcb, 0);
	sev_es_ghcb_hv_call_raw(0);
	results.raw[5] = hv_answer(ghcb);

	/* 6: a well-formed request afterwards: the instruction */
	cpuid_count(0, 0, &r[0], &r[1], &r[2], &r[3]);
	twin_done();
}
