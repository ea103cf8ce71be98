// SPDX-License-Identifier: MIT
/*
 * Changing the encryption of single pages in entry.s's identity map, after Linux's boot-time
 * ident_map_64.c (set_clr_page_flags, split_large_pmd): the page's entry found by walking the
 * tables from CR3; a 2 MiB page holding it is first split into a 4 KiB page table (from a small
 * pool in .bss, the tables being private like every other page-table page); the C-bit cleared or
 * set; the TLB flushed by reloading CR3. The page tables are RAM identity-mapped below 4 GiB, so
 * an entry's address (without the C-bit) is a pointer to the next table.
 */
#include "mem_encrypt.h"
#include "x86.h"

#define _PAGE_PRESENT BIT(0)
#define _PAGE_PSE BIT(7)
#define _PAGE_PAT_LARGE BIT(12)
#define PTE_PFN_MASK 0x000ffffffffff000UL
#define PMD_SIZE 0x200000UL

/* Page tables for split 2 MiB pages: one per 2 MiB region holding a shared page. */
#define SPLIT_TABLES 4
static u64 split_tables[SPLIT_TABLES][512] __aligned(4096);
static unsigned int split_used;

static u64 *table_at(u64 entry)
{
	return (u64 *)__sme_clr(entry & PTE_PFN_MASK);
}

/* A 2 MiB page-directory entry as 512 4 KiB entries with the same attributes (split_large_pmd). */
static u64 *split_large_pmd(u64 *pmdp)
{
	u64 pmd = *pmdp, flags, *pte;
	unsigned long base;
	unsigned int i;

	if (split_used == SPLIT_TABLES)
		return NULL;
	pte = split_tables[split_used++];
	/* Bits 11:0 but PSE (and PAT, bit 12 of a large page), and bits 63:52 with the C-bit. */
	flags = (pmd & 0xfffUL & ~_PAGE_PSE) | (pmd & (0xfff0000000000000UL | sme_me_mask));
	base = __sme_clr(pmd & PTE_PFN_MASK & ~_PAGE_PAT_LARGE) & ~(PMD_SIZE - 1);
	for (i = 0; i < 512; i++)
		pte[i] = (base + i * 4096UL) | flags;
	/* The new table is private, as every page-table page: the C-bit in its pointer too. */
	*pmdp = (u64)pte | (pmd & 0x63UL) /* P, RW, US, A, D */ | sme_me_mask;
	return pte;
}

/* The 4 KiB entry mapping `address`, splitting a 2 MiB page; NULL if there is none. */
static u64 *lookup_pte(unsigned long address)
{
	u64 *table = table_at(read_cr3());
	unsigned int shift;

	for (shift = 39; shift > 12; shift -= 9) {
		u64 *e = &table[(address >> shift) & 511];

		if (!(*e & _PAGE_PRESENT))
			return NULL;
		if (*e & _PAGE_PSE) {
			if (shift != 21)
				return NULL; /* the library maps no 1 GiB page */
			table = split_large_pmd(e);
			if (!table)
				return NULL;
			return &table[(address >> 12) & 511];
		}
		table = table_at(*e);
	}
	return &table[(address >> 12) & 511];
}

static int set_clr_page_flags(unsigned long address, u64 set, u64 clr)
{
	u64 *ptep;
	unsigned long p;

	if (!sme_me_mask)
		return 0;
	address &= ~0xfffUL;
	ptep = lookup_pte(address);
	if (!ptep)
		return -1;
	/*
	 * Going shared: write back and drop the cache lines the guest's key tagged, as Linux does
	 * (clflush_page), so no private line of the page lands in memory over the shared data later.
	 */
	if (clr)
		for (p = address; p < address + 4096; p += 64)
			clflush((const void *)p);
	*ptep = (*ptep & ~clr) | set;
	/* Flush the TLB: CR3 reloaded (not intercepted under nested paging). */
	write_cr3(read_cr3());
	return 0;
}

int set_page_decrypted(unsigned long address)
{
	return set_clr_page_flags(address, 0, sme_me_mask);
}

int set_page_encrypted(unsigned long address)
{
	return set_clr_page_flags(address, sme_me_mask, 0);
}
