// SPDX-License-Identifier: MIT
/*
 * twin-demo-1-scratch-in-ghcb: the machine-code twin of examples/demo/1-scratch-in-ghcb.yaml
 * (examples/machine-code/demo/1-scratch-in-ghcb.yaml runs it), on lib/ and twin.h.
 *
 *   step 0  mmio-read 4 bytes at 0xfed00000, scratch in the GHCB: an instruction, MOV r32 from the
 *           device, whose #VC(NPF) the handler turns into SVM_VMGEXIT_MMIO_READ with the scratch
 *           area at the start of the shared buffer (GHCB + 0x800), as the scripted step has it.
 *
 * Then HLT: the run ends (guest-done). results (GPA 0x40000): the value the load read.
 */
#include "twin.h"

static struct {
	u32 value; /* 0x00: the MMIO read's value */
} results __section(".results") __used;

int main(void)
{
	twin_setup_ghcb(1);
	results.value = *(volatile u32 *)0xfed00000UL;
	twin_done();
}
