// SPDX-License-Identifier: MIT
/*
 * sev-es-vc: an SEV-ES guest in C on lib/ (the reset vector, long mode, the #VC handler), whose
 * every exit to the VMM comes from a #VC its handler turned into a VMGEXIT.
 *
 *   1. CPUID 0 before there is a GHCB: #VC, four GHCB MSR-protocol requests (one per register),
 *      no exit to the VMM. Then setup_ghcb(): the SEV_INFO request, no exit either.
 *   2. "Hello, SEV-ES\n" with OUT, one byte each: #VC -> GHCB IOIO -> 14 KVM_EXIT_IO (out, 0x3f8).
 *   3. CPUID 0x8000001f (the SEV leaf) and CPUID 0xd/0 (XCR0 = 1 in the GHCB) through the GHCB.
 *   4. IN from 0x3fd (line status) until THR is empty (reply 0x60: one IN); then
 *      "vendor AuthenticAMD\n" with one REP OUTSB: one #VC, the bytes in the GHCB shared buffer,
 *      one KVM_EXIT_IO with count 20.
 *   5. INSB (one byte) and REP INSB (three) from 0x3f8 into results.rx: two KVM_EXIT_IO (in).
 *   6. MMIO at 0xd0000000, where no memslot is: each load and store a #VC(NPF), decoded by the
 *      handler, then SVM_VMGEXIT_MMIO_READ/WRITE: one KVM_EXIT_MMIO each, with the values below.
 *      Then the forms gcc did not pick, in assembly (mmio_forms_gcc_did_not_pick): five more.
 *   7. RDMSR and WRMSR of IA32_APIC_BASE (in-kernel in KVM: no exit), and RDMSR of MSR 0x2000,
 *      which KVM refuses: the GHCB answers "inject #GP" (sw_exit_info_1 = 1), rdmsr_safe's
 *      exception-table fixup takes it.
 *   8. main returns 0: the termination request, set 3 (SEV_TERM_SET_EXIT) reason 0:
 *      KVM_EXIT_SYSTEM_EVENT (SEV_TERM) with the GHCB MSR 0x3100.
 *
 * struct results at GPA 0x40000 holds what the guest saw (sev-es-vc.expect.json checks it). The
 * encodings named in step 6 are what gcc 12.2 -O2 makes of it (objdump -d build/sev-es-vc.elf).
 */
#include "lib/ghcb.h"
#include "lib/x86.h"

#define COM1 0x3f8
#define COM1_LSR (COM1 + 5)
#define LSR_THRE 0x20 /* transmit holding register empty */
#define MMIO_BASE 0xd0000000UL
#define MSR_UNKNOWN 0x2000

struct results {
	u32 cpuid_0[4]; /* 0x00: CPUID 0 through the MSR protocol: EAX, EBX, ECX, EDX */
	u32 cpuid_8000001f[4]; /* 0x10: through the GHCB */
	u32 cpuid_d_ebx; /* 0x20: CPUID 0xd/0 EBX: the XSAVE size for XCR0 = 1 */
	u32 ghcb_version; /* 0x24: negotiated */
	u8 lsr; /* 0x28: the line status IN read */
	u8 rx[7]; /* 0x29: INSB then REP INSB */
	u32 mmio_u32; /* 0x30: MMIO loads: a dword */
	u16 mmio_u16; /* 0x34: a word */
	u8 mmio_u8; /* 0x36: a byte */
	u8 pad;
	s32 mmio_s8; /* 0x38: a byte, sign-extended */
	u32 pad2;
	u64 mmio_u64; /* 0x40: a qword */
	u64 apic_base; /* 0x48: RDMSR IA32_APIC_BASE */
	u64 apic_base_again; /* 0x50: after WRMSR of the same value */
	u32 unknown_msr_vector; /* 0x58: what rdmsr_safe(0x2000) returned: the vector KVM injected */
	u32 done; /* 0x5c: 1 when main got to the end */
	u64 asm_rcx; /* 0x60: RCX after MOV CH, [mmio] (0xa5a5 before) */
	u64 asm_rdx; /* 0x68: RDX after MOVSX r64, word [mmio + SIB] */
	u32 asm_alias; /* 0x70: MOV r32, [rip + disp32] through the alias of the top GiB */
	u32 pad3;
};

static struct results results __section(".results") __used;

static void puts_out(const char *s)
{
	while (*s)
		outb(*s++, COM1);
}

static u32 mmio_read32(unsigned long off)
{
	return *(volatile u32 *)(MMIO_BASE + off);
}

/*
 * 6b. MOV forms the C above does not compile to, in assembly: AH as a store's source and CH as a
 * load's destination (no REX: byte registers 4-7 are the high bytes), MOVSX of a word into a 64-bit
 * register through a SIB address (base, index * 8, disp8), a 16-bit immediate, and a RIP-relative
 * load from 0xffffffff_d0000040, which the page tables map to GPA 0xd0000040 (the top GiB's alias,
 * entry.s): the handler walks them to find the GPA.
 */
static void mmio_forms_gcc_did_not_pick(void)
{
	u64 rax = 0x1122334455667788, rcx = 0xa5a5, rdx;
	u32 alias;

	asm volatile("movb %%ah, (%[p])\n\t"
		     "movb 1(%[p]), %%ch\n\t"
		     "movswq 0x10(%[p], %[i], 8), %%rdx\n\t"
		     "movw $0xbeef, 0x2a(%[p])\n\t"
		     "movl mmio_alias(%%rip), %[alias]" /* mmio_alias: sev-es-vc.ld */
		     : "+a"(rax), "+c"(rcx), "=&d"(rdx), [alias] "=&r"(alias)
		     : [p] "r"(MMIO_BASE + 0x28), [i] "r"(2UL)
		     : "memory");
	results.asm_rcx = rcx;
	results.asm_rdx = rdx;
	results.asm_alias = alias;
}

int main(void)
{
	static const char vendor_line[] = "vendor ____________\n";
	char line[sizeof(vendor_line)];
	volatile u8 *mmio8 = (volatile u8 *)MMIO_BASE;
	u32 *c = results.cpuid_0, eax, ecx, edx;
	u64 val;

	/* 1. No GHCB yet: CPUID through the MSR protocol. */
	cpuid_count(0, 0, &c[0], &c[1], &c[2], &c[3]);
	setup_ghcb();
	results.ghcb_version = ghcb_version;

	/* 2. One OUT per byte. */
	puts_out("Hello, SEV-ES\n");

	/* 3. CPUID through the GHCB. */
	c = results.cpuid_8000001f;
	cpuid_count(0x8000001f, 0, &c[0], &c[1], &c[2], &c[3]);
	cpuid_count(0xd, 0, &eax, &results.cpuid_d_ebx, &ecx, &edx);

	/* 4. Wait for the transmitter, then a whole line with one REP OUTSB. */
	while (!((results.lsr = inb(COM1_LSR)) & LSR_THRE))
		;
	memcpy(line, vendor_line, sizeof(line));
	memcpy(line + 7, &results.cpuid_0[1], 4); /* the vendor is EBX, EDX, ECX */
	memcpy(line + 11, &results.cpuid_0[3], 4);
	memcpy(line + 15, &results.cpuid_0[2], 4);
	outsb(COM1, line, sizeof(line) - 1);

	/* 5. INSB, then REP INSB. */
	asm volatile("insb" : : "D"(results.rx), "d"(COM1) : "memory");
	insb(COM1, results.rx + 1, 3);

	/* 6. MMIO: stores and loads of each size, each value derived from the last load. */
	mmio8[0] = 0x5a; /* c6: MOV byte [reg], imm8 */
	results.mmio_u32 = mmio_read32(4); /* 8b: MOV r32, [reg] */
	*(volatile u32 *)(MMIO_BASE + 4) = results.mmio_u32 + 1; /* 89: MOV [reg + disp8], r32 */
	*(volatile u16 *)(MMIO_BASE + 8) = (u16)(results.mmio_u32 >> 16); /* 66 89: MOV [reg], r16 */
	results.mmio_u16 = *(volatile u16 *)(MMIO_BASE + 8); /* 0f b7: MOVZX r32, word [reg] */
	results.mmio_u8 = mmio8[12]; /* 0f b6: MOVZX r32, byte [reg] */
	results.mmio_s8 = *(volatile s8 *)(MMIO_BASE + 13); /* 0f b6 [reg + disp8], then MOVSX r, r */
	*(volatile u64 *)(MMIO_BASE + 16) = ((u64)results.mmio_u16 << 32) | results.mmio_u8; /* 48 a3: MOV moffs64, RAX */
	results.mmio_u64 = *(volatile u64 *)(MMIO_BASE + 24); /* 48 a1: MOV RAX, moffs64 */
	*(volatile u32 *)(MMIO_BASE + 32) = 0x600dc0de; /* c7: MOV dword [reg], imm32 */
	mmio8[1] = (u8)results.mmio_s8; /* a2: MOV moffs64, AL */
	mmio_forms_gcc_did_not_pick();

	/* 7. MSRs: one KVM emulates, one it refuses. */
	results.apic_base = native_read_msr(MSR_IA32_APICBASE);
	native_write_msr(MSR_IA32_APICBASE, results.apic_base);
	results.apic_base_again = native_read_msr(MSR_IA32_APICBASE);
	results.unknown_msr_vector = (u32)rdmsr_safe(MSR_UNKNOWN, &val);

	results.done = 1;
	return 0;
}
