// SPDX-License-Identifier: MIT
/*
 * From entry.s to main(): the long-mode descriptor tables (a GDT with a 64-bit TSS, the TSS's IST
 * stacks, an IDT whose #VC gate runs on IST1 as Linux's and OVMF's do), then main(), whose return
 * value ends the guest with a termination request (set SEV_TERM_SET_EXIT). Exceptions other than
 * #VC end it too, naming the vector (LIB_TERM_EXCEPTION | vector), unless the exception table has
 * a fixup for the instruction.
 */
#include "ghcb.h"
#include "mem_encrypt.h"
#include "vc.h"
#include "x86.h"

int main(void);

/* Selectors: the same as entry.s's boot GDT, so CS and SS stay valid across the switch. */
#define KERNEL_CS 0x18
#define TSS_SEL 0x20

/* The 64-bit TSS: only the IST pointers matter here (no ring changes, no I/O bitmap). */
struct tss64 {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3;
	u16 io_bitmap_base;
} __packed;

/* A 16-byte long-mode IDT gate. */
struct idt_gate {
	u16 offset_low;
	u16 selector;
	u8 ist;
	u8 type_attr;
	u16 offset_mid;
	u32 offset_high;
	u32 reserved;
} __packed;

#define IST_VC 1 /* #VC: its own stack, so it may interrupt anything (Linux: IST_INDEX_VC) */
#define IST_EXC 2 /* every other exception: a fresh stack even if RSP is bad */

static u64 gdt[6] __aligned(16) = {
	0,
	0x00cf9a000000ffff, /* 0x08: 32-bit code */
	0x00cf92000000ffff, /* 0x10: data */
	0x00af9a000000ffff, /* 0x18: 64-bit code */
	/* 0x20: the TSS, filled in by cpu_init */
};
static struct tss64 tss __aligned(16);
static struct idt_gate idt[32] __aligned(16);
static u8 vc_stack[8192] __aligned(16);
static u8 exception_stack[4096] __aligned(16);

/* entry.s: the #VC entry and 32 exception stubs, 16 bytes apart. */
extern const u8 vc_entry[], exception_stubs[];

static void set_gate(unsigned int vector, const void *handler, unsigned int ist)
{
	u64 a = (u64)handler;

	idt[vector] = (struct idt_gate){
		.offset_low = (u16)a,
		.selector = KERNEL_CS,
		.ist = (u8)ist,
		.type_attr = 0x8e, /* present, DPL 0, 64-bit interrupt gate */
		.offset_mid = (u16)(a >> 16),
		.offset_high = (u32)(a >> 32),
	};
}

static void cpu_init(void)
{
	u64 base = (u64)&tss, limit = sizeof(tss) - 1;
	struct {
		u16 limit;
		u64 base;
	} __packed gdtr = { sizeof(gdt) - 1, (u64)gdt }, idtr = { sizeof(idt) - 1, (u64)idt };
	unsigned int v;

	tss.ist[IST_VC - 1] = (u64)(vc_stack + sizeof(vc_stack));
	tss.ist[IST_EXC - 1] = (u64)(exception_stack + sizeof(exception_stack));
	tss.io_bitmap_base = sizeof(tss); /* none */
	/* A 16-byte available 64-bit TSS descriptor (type 9, present). */
	gdt[4] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89UL << 40) | ((limit >> 16) << 48) |
		 ((base >> 24 & 0xff) << 56);
	gdt[5] = base >> 32;

	for (v = 0; v < 32; v++)
		set_gate(v, exception_stubs + 16 * v, IST_EXC);
	set_gate(X86_TRAP_VC, vc_entry, IST_VC);

	asm volatile("lgdt %0" : : "m"(gdtr));
	asm volatile("ltr %w0" : : "r"(TSS_SEL));
	asm volatile("lidt %0" : : "m"(idtr));
}

/*
 * entry.s's exception stubs come here with the interrupted registers: an instruction with an
 * exception-table entry resumes at its fixup (rdmsr_safe in a VM without SEV, where the CPU
 * raises the #GP itself); anything else ends the guest, saying which vector.
 */
void do_exception(unsigned long vector, struct pt_regs *regs)
{
	if (fixup_exception(regs, (int)vector))
		return;
	sev_es_terminate(SEV_TERM_SET_LIB, LIB_TERM_EXCEPTION | vector);
}

/* sev-es.ld: the pages shared with the hypervisor. */
extern u8 __shared_start[], __shared_end[], __results_start[], __results_end[];

/* Map [start, end) shared, page by page; the guest ends if a page cannot be. */
static void share_pages(const u8 *start, const u8 *end)
{
	unsigned long p;

	for (p = (unsigned long)start & ~0xfffUL; p < (unsigned long)end; p += 4096)
		if (set_page_decrypted(p))
			sev_es_terminate(SEV_TERM_SET_GEN, GHCB_SEV_ES_GEN_REQ);
}

/*
 * entry.s jumps here in long mode, on the boot stack, with .data and .bss in place and every page
 * private. .shared (the GHCB page, buffers for the hypervisor) and .results (what the VMM reads)
 * become shared; .shared is cleared through its shared mapping.
 */
void __noreturn sev_es_start(void)
{
	cpu_init();
	share_pages(__shared_start, __shared_end);
	memset(__shared_start, 0, (unsigned long)(__shared_end - __shared_start));
	share_pages(__results_start, __results_end);
	sev_es_terminate(SEV_TERM_SET_EXIT, (unsigned int)main() & 0xff);
}

/* REP STOSB / MOVSB: also what gcc calls for struct zeroing and copies. */
void *memset(void *s, int c, unsigned long n)
{
	void *d = s;

	asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return s;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	void *r = d;

	asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return r;
}
