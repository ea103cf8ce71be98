// SPDX-License-Identifier: MIT
/*
 * twin-msr: the machine-code twin of examples/msr.yaml (examples/machine-code/msr.yaml runs it), on
 * lib/ and twin.h.
 *
 *   step 0  rdmsr IA32_APIC_BASE (0x1b): RDMSR, which KVM intercepts: #VC, SVM_EXIT_MSR, handled.
 *   step 1  wrmsr KERNEL_GS_BASE (0xc0000102) = 0x1234567890: a request the guest writes into its
 *           GHCB. KVM passes KERNEL_GS_BASE through (no intercept), so WRMSR would make no #VC.
 *   step 2  rdmsr KERNEL_GS_BASE: a request too, for the same reason.
 *   step 3  rdmsr 0x12345678: RDMSR through rdmsr_safe: #VC, SVM_EXIT_MSR; KVM exits to userspace
 *           (KVM_EXIT_X86_RDMSR), the VMM refuses, KVM answers "inject #GP" and the exception-table
 *           fixup takes it.
 *
 * Then HLT: the run ends (guest-done). results (GPA 0x40000): the values read and the #GP's vector.
 */
#include "twin.h"

#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_UNKNOWN 0x12345678

static struct {
	u64 apic_base; /* 0x00: 0xfee00900 */
	struct hv_answer write; /* 0x08: 0, 0 */
	u64 kernel_gs_base; /* 0x18: 0x1234567890 */
	u64 unknown_vector; /* 0x20: X86_TRAP_GP */
} results __section(".results") __used;

int main(void)
{
	struct ghcb *ghcb = twin_setup_ghcb(1);
	u64 val;

	results.apic_base = native_read_msr(MSR_IA32_APICBASE);

	/* vc_handle_msr's requests, for an MSR whose instructions do not trap */
	vc_ghcb_invalidate(ghcb);
	ghcb_set_rcx(ghcb, MSR_KERNEL_GS_BASE);
	ghcb_set_rax(ghcb, 0x34567890);
	ghcb_set_rdx(ghcb, 0x12);
	results.write = twin_hv_call(ghcb, SVM_EXIT_MSR, 1, 0);
	vc_ghcb_invalidate(ghcb);
	ghcb_set_rcx(ghcb, MSR_KERNEL_GS_BASE);
	twin_hv_call(ghcb, SVM_EXIT_MSR, 0, 0);
	results.kernel_gs_base = (ghcb->save.rdx << 32) | (u32)ghcb->save.rax;

	results.unknown_vector = (u64)rdmsr_safe(MSR_UNKNOWN, &val);
	twin_done();
}
