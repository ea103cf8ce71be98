// SPDX-License-Identifier: MIT
/*
 * twin-postcopy-restart: the machine-code twin of examples/postcopy-restart.yaml
 * (examples/machine-code/postcopy-restart.yaml runs it), on lib/ and twin.h.
 *
 *   step 0  mmio-read 4 bytes at 0xfed00000 with the scratch area at GPA 0x12000, in the post-copy
 *           region whose pages have not arrived: a request the guest writes into its GHCB (no #VC
 *           puts a scratch area outside it). With the sevbox capabilities KVM_RUN fails EFAULT
 *           with KVM_EXIT_MEMORY_FAULT, the VMM populates the page, and the next KVM_RUN processes
 *           the same VMGEXIT again: the guest reads the device's value. Then HLT: guest-done.
 *
 * results (GPA 0x40000): the answer and the 4 bytes read from the scratch area on success.
 */
#include "twin.h"

static struct {
	struct hv_answer answer; /* 0x00 */
	u32 data; /* 0x10 */
} results __section(".results") __used;

int main(void)
{
	struct ghcb *ghcb = twin_setup_ghcb(1);

	results.answer = twin_mmio_read(ghcb, 0xfed00000, 4, 0x12000, &results.data);
	twin_done();
}
