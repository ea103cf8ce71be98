// SPDX-License-Identifier: MIT
/*
 * twin-demo-2-scratch-outside-ghcb: the machine-code twin of
 * examples/demo/2-scratch-outside-ghcb.yaml (examples/machine-code/demo/2-scratch-outside-ghcb.yaml
 * runs it), on lib/ and twin.h.
 *
 *   step 0  mmio-read 4 bytes at 0xfed00000 with the scratch area at GPA 0x4000, outside the GHCB:
 *           no instruction's #VC makes that (the handler's scratch is the shared buffer), so the
 *           guest writes the request into its GHCB and VMGEXITs; KVM bounces the data through a
 *           buffer of its own. Then the guest reads 0x4000.
 *
 * Then HLT: the run ends (guest-done). results (GPA 0x40000): what the guest read at 0x4000.
 */
#include "twin.h"

static struct {
	u32 data; /* 0x00: the 4 bytes at the scratch area after the request */
} results __section(".results") __used;

int main(void)
{
	struct ghcb *ghcb = twin_setup_ghcb(1);

	twin_mmio_read(ghcb, 0xfed00000, 4, 0x4000, &results.data);
	twin_done();
}
