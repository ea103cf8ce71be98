// SPDX-License-Identifier: MIT
/*
 * twin-demo-4-bounce-buffer-enomem: the machine-code twin of
 * examples/demo/4-bounce-buffer-enomem.yaml (examples/machine-code/demo/4-bounce-buffer-enomem.yaml
 * runs it), on lib/ and twin.h.
 *
 *   step 0  mmio-read 4 bytes at 0xfed00000 with the scratch area at GPA 0x4000: a request the
 *           guest writes into its GHCB (no #VC makes a scratch area outside it). KVM cannot
 *           allocate the bounce buffer (the host's budget is 0): KVM_RUN fails with ENOMEM, the VMM
 *           runs the vCPU again, and the guest, resumed past its VMGEXIT with sw_exit_info_1 still
 *           0, reads its scratch area: zeros.
 *
 * Then HLT: the run ends (guest-done). results (GPA 0x40000): the answer and what the guest read.
 */
#include "twin.h"

static struct {
	struct hv_answer answer; /* 0x00: 0, 0: "success" */
	u32 data; /* 0x10: 0: the MMIO read never happened */
} results __section(".results") __used;

int main(void)
{
	struct ghcb *ghcb = twin_setup_ghcb(1);

	results.answer = twin_mmio_read(ghcb, 0xfed00000, 4, 0x4000, &results.data);
	twin_done();
}
