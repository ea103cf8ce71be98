// SPDX-License-Identifier: MIT
/*
 * twin-demo-5-efault-no-memslot: the machine-code twin of examples/demo/5-efault-no-memslot.yaml
 * (examples/machine-code/demo/5-efault-no-memslot.yaml runs it), on lib/ and twin.h.
 *
 *   step 0  mmio-read 4 bytes at 0xfed00000 with the scratch area at GPA 0x20000000, where the VMM
 *           declared no RAM: a request the guest writes into its GHCB. KVM cannot read the scratch
 *           area: KVM_RUN fails with EFAULT and the VMM stops.
 *
 * The guest never runs again (its HLT after the step is not reached).
 */
#include "twin.h"

static struct {
	struct hv_answer answer;
	u32 data;
} results __section(".results") __used;

int main(void)
{
	struct ghcb *ghcb = twin_setup_ghcb(1);

	results.answer = twin_mmio_read(ghcb, 0xfed00000, 4, 0x20000000, &results.data);
	twin_done();
}
