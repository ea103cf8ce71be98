/* SPDX-License-Identifier: MIT */
/*
 * Memory encryption from the guest's side (AMD SEV): the C-bit entry.s found, and pages made
 * shared with the hypervisor or private again. After Linux's sme_me_mask, __sme_clr and the
 * boot-time set_page_decrypted / set_page_encrypted (arch/x86/boot/compressed/ident_map_64.c).
 */
#ifndef SEVG_MEM_ENCRYPT_H
#define SEVG_MEM_ENCRYPT_H

#include "types.h"

/*
 * The C-bit as a page-table-entry mask (CPUID 0x8000001f EBX[5:0]), 0 in a VM without SEV-ES:
 * set in every entry of the library's page tables except those of shared pages. entry.s sets it.
 */
extern u64 sme_me_mask;

/* An address (or an entry's address bits) without the C-bit (Linux's __sme_clr). */
static inline u64 __sme_clr(u64 x)
{
	return x & ~sme_me_mask;
}

/*
 * Map the 4 KiB page holding `address` shared (C-bit clear): the hypervisor and the guest then
 * see the same bytes. A 2 MiB page holding it is split into 4 KiB pages first. Its private
 * contents are not carried over: the guest sees what host memory holds. 0, or -1 when the page is
 * not mapped or no page table is left for the split. Nothing to do without SEV.
 */
int set_page_decrypted(unsigned long address);
/* The opposite: map the page private again (C-bit set). */
int set_page_encrypted(unsigned long address);

#endif
