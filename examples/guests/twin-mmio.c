// SPDX-License-Identifier: MIT
/*
 * twin-mmio: the machine-code twin of examples/mmio.yaml (examples/machine-code/mmio.yaml runs it),
 * on lib/ and twin.h.
 *
 *   step 0  mmio-read of 8 bytes at 0xfed00000: a MOV of RAX from the device (#VC(NPF), the
 *           handler's SVM_VMGEXIT_MMIO_READ of 8 bytes through the shared buffer).
 *   step 1  mmio-write of cafef00d at 0xfee00000: a MOV of an imm32 to the device (#VC(NPF),
 *           SVM_VMGEXIT_MMIO_WRITE of 4 bytes).
 *   step 2  mmio-read of 4 bytes at 0xfee00000 with the scratch area at GPA 0x4000: a request the
 *           guest writes into its GHCB (no #VC puts the scratch area outside the GHCB).
 *   step 3  mmio-read of 16 bytes at 0xfed00000: a request too (no general-register MOV reads 16
 *           bytes, and the handler sends at most 8); KVM exits to userspace twice.
 *
 * Then HLT: the run ends (guest-done). results (GPA 0x40000): what each read returned.
 */
#include "twin.h"

static struct {
	u64 regs; /* 0x00: 0x1122334455667788 */
	u32 window; /* 0x08: cafef00d, through 0x4000 */
	u32 pad;
	u8 two_fragments[16]; /* 0x10: the register twice */
} results __section(".results") __used;

int main(void)
{
	struct ghcb *ghcb = twin_setup_ghcb(1);

	results.regs = *(volatile u64 *)0xfed00000UL;
	*(volatile u32 *)0xfee00000UL = 0x0df0feca; /* bytes ca fe f0 0d */
	twin_mmio_read(ghcb, 0xfee00000, 4, 0x4000, &results.window);
	twin_mmio_read(ghcb, 0xfed00000, 16, ghcb_shared_buffer_pa(ghcb, 0), results.two_fragments);
	twin_done();
}
