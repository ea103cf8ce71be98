// SPDX-License-Identifier: MIT
/*
 * twin-postcopy-naive-rerun: the machine-code twin of examples/postcopy-naive-rerun.yaml
 * (examples/machine-code/postcopy-naive-rerun.yaml runs it), on lib/ and twin.h.
 *
 *   step 0  mmio-read 4 bytes at 0xfed00000 with the scratch area at GPA 0x12000, in the post-copy
 *           region whose pages have not arrived: a request the guest writes into its GHCB (no #VC
 *           puts a scratch area outside it). KVM cannot copy the scratch area in:
 *           KVM_RUN fails with EFAULT; the VMM populates the page from the source image and runs
 *           the vCPU again. The VMGEXIT is not retried: the guest reads success and finds the
 *           migrated page's bytes ("migr"), not the device's. Then HLT: guest-done.
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
