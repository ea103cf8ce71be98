// SPDX-License-Identifier: MIT
/*
 * twin-msr-protocol: the machine-code twin of examples/msr-protocol.yaml
 * (examples/machine-code/msr-protocol.yaml runs it), on lib/. No GHCB page: every step is a GHCB
 * MSR protocol request the guest writes into the GHCB MSR before VMGEXIT (sev_es_msr_call), as the
 * scripted steps do; the guest makes no #VC.
 *
 *   step 0  SEV_INFO: the hypervisor's protocol versions and C-bit position.
 *   step 1  CPUID_REQ for leaf 0, EBX (__sev_cpuid_hv).
 *   step 2  CPUID_REQ for leaf 0x8000001f, EAX.
 *   step 3  HV_FT_REQ: a GHCB v2 request; the seed kernel does not know it.
 *   step 4  request code 0x7fe, which KVM does not know.
 *
 * Then HLT: the run ends (guest-done). results (GPA 0x40000): the GHCB MSR after each request.
 */
#include "lib/ghcb.h"
#include "lib/x86.h"

static struct {
	u64 sev_info; /* 0x00 */
	u64 cpuid_0_ebx; /* 0x08 */
	u64 cpuid_8000001f_eax; /* 0x10 */
	u64 hv_features; /* 0x18 */
	u64 unknown; /* 0x20 */
} results __section(".results") __used;

int main(void)
{
	results.sev_info = sev_es_msr_call(GHCB_MSR_SEV_INFO_REQ);
	results.cpuid_0_ebx = sev_es_msr_call(GHCB_CPUID_REQ(0, GHCB_CPUID_REQ_EBX));
	results.cpuid_8000001f_eax = sev_es_msr_call(GHCB_CPUID_REQ(0x8000001f, GHCB_CPUID_REQ_EAX));
	results.hv_features = sev_es_msr_call(GHCB_MSR_HV_FT_REQ);
	results.unknown = sev_es_msr_call(0x7fe);
	for (;;)
		halt(); /* the end of the steps: guest-done */
}
