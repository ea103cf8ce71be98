// SPDX-License-Identifier: MIT
/*
 * twin-cpuid: the machine-code twin of examples/cpuid.yaml (examples/machine-code/cpuid.yaml runs
 * it), on lib/ and twin.h.
 *
 *   step 0  cpuid 0: the CPUID instruction; its #VC handler sends RAX, RCX (and XCR0) through the
 *           GHCB: SVM_EXIT_CPUID, handled.
 *   step 1  cpuid 0xd/0 with XCR0 = 7: a request the guest writes into its GHCB. The instruction
 *           would send the guest's own XCR0 (1 here: the handler's value without CR4.OSXSAVE; and
 *           the interpreter has no AVX state, so its XSETBV of 7 is #GP), not the value the
 *           scripted step chose. KVM takes it unchecked (v5.17), but its host is the interpreter:
 *           leaf 0xD.0 offers XCR0 3 (EAX) and the area counts x87 and SSE only (EBX 0x240).
 *   step 2  the same with XCR0 = 3: written into the GHCB too.
 *   step 3  cpuid 0x8000001f: the instruction, through the #VC handler.
 *
 * Then HLT: the run ends (guest-done). results (GPA 0x40000): EAX, EBX, ECX, EDX of each step.
 */
#include "twin.h"

static struct {
	u32 leaf_0[4]; /* 0x00 */
	u32 leaf_d_xcr0_7[4]; /* 0x10: EAX 3, EBX 0x240 (a scripted CPU's host: EAX 7, EBX 0x340) */
	u32 leaf_d_xcr0_3[4]; /* 0x20: EAX 3, EBX 0x240 */
	u32 leaf_8000001f[4]; /* 0x30 */
} results __section(".results") __used;

/* CPUID fn/index through the GHCB with the XCR0 the caller chooses (vc_handle_cpuid's request). */
static void cpuid_with_xcr0(struct ghcb *ghcb, u32 fn, u32 index, u64 xcr0, u32 *r)
{
	vc_ghcb_invalidate(ghcb);
	ghcb_set_rax(ghcb, fn);
	ghcb_set_rcx(ghcb, index);
	ghcb_set_xcr0(ghcb, xcr0);
	twin_hv_call(ghcb, SVM_EXIT_CPUID, 0, 0);
	r[0] = (u32)ghcb->save.rax;
	r[1] = (u32)ghcb->save.rbx;
	r[2] = (u32)ghcb->save.rcx;
	r[3] = (u32)ghcb->save.rdx;
}

int main(void)
{
	struct ghcb *ghcb = twin_setup_ghcb(1);
	u32 *r;

	r = results.leaf_0;
	cpuid_count(0, 0, &r[0], &r[1], &r[2], &r[3]);
	cpuid_with_xcr0(ghcb, 0xd, 0, 0x7, results.leaf_d_xcr0_7);
	cpuid_with_xcr0(ghcb, 0xd, 0, 0x3, results.leaf_d_xcr0_3);
	r = results.leaf_8000001f;
	cpuid_count(0x8000001f, 0, &r[0], &r[1], &r[2], &r[3]);
	twin_done();
}
