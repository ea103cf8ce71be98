// SPDX-License-Identifier: MIT
/*
 * twin-demo-3-invalid-scratch: the machine-code twin of examples/demo/3-invalid-scratch.yaml
 * (examples/machine-code/demo/3-invalid-scratch.yaml runs it), on lib/ and twin.h.
 *
 *   step 0  mmio-read 4 bytes at 0xfed00000 with sw_scratch at GHCB + 0x10, in the save area: the
 *           guest writes that request into its GHCB (0x1000, so sw_scratch is 0x1010 as in the
 *           scripted step) and VMGEXITs; KVM reflects GHCB_ERR_INVALID_SCRATCH_AREA.
 *
 * Then HLT: the run ends (guest-done). results (GPA 0x40000): sw_exit_info_1/2 of the answer.
 */
#include "twin.h"

static struct {
	struct hv_answer answer; /* 0x00: 2, GHCB_ERR_INVALID_SCRATCH_AREA (3) */
	u32 data; /* 0x10: untouched: the guest reads no data after an error */
} results __section(".results") __used;

int main(void)
{
	struct ghcb *ghcb = twin_setup_ghcb(1);

	results.answer = twin_mmio_read(ghcb, 0xfed00000, 4, __pa(ghcb) + 0x10, &results.data);
	twin_done();
}
