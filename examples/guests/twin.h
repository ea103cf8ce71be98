/* SPDX-License-Identifier: MIT */
/*
 * What the twin-<family>.c guests share: each is the machine-code twin of a scripted scenario
 * family (examples/<family>.yaml, examples/demo/<n>-*.yaml), run by examples/machine-code/<family>.yaml,
 * and must make the same VMGEXITs with the same outcomes. So a twin
 *
 *   - registers its GHCB where the scripted guest has it (guest.ghcb, default GPA 0x1000) at the
 *     scenario's protocol version, without the SEV_INFO negotiation the scripted guest never makes;
 *   - halts (HLT) before a step with host actions, as the scripted guest does: the scenario's
 *     guest.halts[n] holds them;
 *   - ends with a HLT the VMM does not answer (the run's guest-done), not by returning from main,
 *     which would add the termination request.
 *
 * What the guest saw goes to struct results in .results (each twin's linker script puts it at
 * RESULTS_BASE, and the library maps it shared), where the scenario's expect.memory reads it.
 *
 * Under SEV the library maps every page private but its own shared ones; the twins' GHCB and
 * scratch areas are at the GPAs the scripted guests use, outside the library's .shared section,
 * so a twin maps those pages shared itself (set_page_decrypted: sev_es_setup_ghcb for the GHCB,
 * twin_mmio_read for a scratch area) before handing them to KVM. Neither makes a VMGEXIT.
 */
#ifndef TWIN_H
#define TWIN_H

#include "lib/ghcb.h"
#include "lib/mem_encrypt.h"
#include "lib/vc.h"
#include "lib/x86.h"

/* The scripted guests' GHCB page (a scenario's guest.ghcb default). */
#define TWIN_GHCB ((struct ghcb *)0x1000UL)

#define COM1 0x3f8

/* The GHCB at TWIN_GHCB (mapped shared), protocol `version`: from now on #VCs go through it. */
static inline struct ghcb *twin_setup_ghcb(u16 version)
{
	sev_es_setup_ghcb(TWIN_GHCB, version);
	return TWIN_GHCB;
}

/* The end of the steps: HLT, which the VMM does not answer. */
static inline void __noreturn twin_done(void)
{
	for (;;)
		halt();
}

/* What sw_exit_info_1/2 said about a request: 0/0 done, 2/GHCB_ERR_* reflected, 1/event injected. */
struct hv_answer {
	u64 info1, info2;
};

static inline struct hv_answer hv_answer(const struct ghcb *ghcb)
{
	return (struct hv_answer){ ghcb->save.sw_exit_info_1, ghcb->save.sw_exit_info_2 };
}

/*
 * A GHCB request no instruction's #VC makes (an event only VMGEXIT raises, or one whose instruction
 * KVM does not intercept for an SEV-ES guest): the fields the caller set after
 * vc_ghcb_invalidate(), then exit code and infos, VMGEXIT (sev_es_ghcb_hv_call). The answer.
 */
static inline struct hv_answer twin_hv_call(struct ghcb *ghcb, u64 exit_code, u64 info1, u64 info2)
{
	struct es_fault_info fi;

	sev_es_ghcb_hv_call(ghcb, &fi, exit_code, info1, info2);
	return hv_answer(ghcb);
}

/* The same with no fields but the exit code and infos. */
static inline struct hv_answer twin_request(struct ghcb *ghcb, u64 exit_code, u64 info1, u64 info2)
{
	vc_ghcb_invalidate(ghcb);
	return twin_hv_call(ghcb, exit_code, info1, info2);
}

/* The GPA of the GHCB's shared buffer, `offset` bytes in: where the #VC handler puts its scratch area. */
static inline u64 ghcb_shared_buffer_pa(struct ghcb *ghcb, u64 offset)
{
	return __pa(ghcb) + offsetof(struct ghcb, shared_buffer) + offset;
}

/*
 * An MMIO read through the GHCB with the scratch area at GPA `scratch` (the shared buffer, or guest
 * memory outside the GHCB, which GHCB v1 allows: KVM uses a bounce buffer), as the scripted
 * mmio-read step makes it. The scratch area's pages are mapped shared first (KVM writes the data
 * there as host memory holds it). On success the `len` bytes are copied from the scratch area to
 * `data` with ordinary loads (the scripted guest, too, reads its scratch area only then).
 */
static inline struct hv_answer twin_mmio_read(struct ghcb *ghcb, u64 gpa, u64 len, u64 scratch, void *data)
{
	struct hv_answer a;
	u64 p;

	for (p = scratch & ~0xfffUL; p < scratch + len; p += 4096)
		set_page_decrypted(p);
	vc_ghcb_invalidate(ghcb);
	ghcb_set_sw_scratch(ghcb, scratch);
	a = twin_hv_call(ghcb, SVM_VMGEXIT_MMIO_READ, gpa, len);
	if ((u32)a.info1 == GHCB_HV_RESP_NO_ACTION)
		memcpy(data, (const void *)scratch, len);
	return a;
}

#endif
