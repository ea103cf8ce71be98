// SPDX-License-Identifier: MIT
/*
 * twin-termination: the machine-code twin of examples/termination.yaml
 * (examples/machine-code/termination.yaml runs it), on lib/. Two GHCB MSR protocol requests, as
 * the scripted steps:
 *
 *   step 0  SEV_INFO (sev_es_negotiate_protocol).
 *   step 1  TERM_REQ, reason set 1 code 4 (sev_es_terminate). Today's kernel stops the guest with
 *           KVM_EXIT_SYSTEM_EVENT (SEV_TERM); earlier ones fail KVM_RUN with EINVAL.
 */
#include "lib/ghcb.h"

int main(void)
{
	sev_es_negotiate_protocol();
	sev_es_terminate(1, 4);
}
