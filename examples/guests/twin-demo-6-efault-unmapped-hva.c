// SPDX-License-Identifier: MIT
/*
 * twin-demo-6-efault-unmapped-hva: the machine-code twin of
 * examples/demo/6-efault-unmapped-hva.yaml (examples/machine-code/demo/6-efault-unmapped-hva.yaml
 * runs it), on lib/ and twin.h.
 *
 *   step 0  HLT first, as the scripted step with host actions: the VMM unmaps the host page
 *           behind GPA 0x8000 (guest.halts[0]). Then mmio-read 4 bytes at 0xfed00000 with the
 *           scratch area at 0x8000: a request the guest writes into its GHCB. KVM's copy from the
 *           scratch area faults: KVM_RUN fails with EFAULT; the VMM runs the vCPU again; the guest,
 *           resumed with "success", loads from 0x8000, a nested page fault KVM cannot resolve:
 *           EFAULT again, and the VMM stops.
 */
#include "twin.h"

static struct {
	struct hv_answer answer;
	u32 data;
} results __section(".results") __used;

int main(void)
{
	struct ghcb *ghcb = twin_setup_ghcb(1);

	halt(); /* the step's host actions */
	results.answer = twin_mmio_read(ghcb, 0xfed00000, 4, 0x8000, &results.data);
	twin_done();
}
