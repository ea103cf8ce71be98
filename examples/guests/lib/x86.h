/* SPDX-License-Identifier: MIT */
/*
 * The x86 instructions a guest uses, as inline functions with Linux's names and argument order
 * (arch/x86/include/asm/io.h, msr.h, processor.h, special_insns.h). In an SEV-ES guest each of
 * CPUID, IN/OUT (and INS/OUTS), RDMSR/WRMSR of an intercepted MSR and WBINVD raises #VC, which vc.c
 * handles; the GHCB MSR itself is never intercepted (the hardware keeps it in the VMCB).
 */
#ifndef SEVG_X86_H
#define SEVG_X86_H

#include "types.h"

#define X86_TRAP_PF 14
#define X86_TRAP_GP 13
#define X86_TRAP_UD 6
#define X86_TRAP_VC 29

#define X86_CR4_OSXSAVE BIT(18)
#define X86_EFLAGS_DF BIT(10)

#define MSR_IA32_APICBASE 0x0000001b
#define MSR_AMD64_SEV_ES_GHCB 0xc0010130

/* VMGEXIT is REP VMMCALL: f3 0f 01 d9 (the assembler may not know the name). */
#define VMGEXIT() asm volatile(".byte 0xf3, 0x0f, 0x01, 0xd9" ::: "memory")

/*
 * An exception-table entry, as Linux's _ASM_EXTABLE: if the instruction at `from` gets an
 * exception the hypervisor asked the #VC handler to inject, execution resumes at `to`
 * (vc.c's fixup_exception) instead of the guest terminating.
 */
#define _ASM_EXTABLE(from, to) \
	".pushsection __ex_table, \"a\"\n\t.balign 8\n\t.quad " #from ", " #to "\n\t.popsection\n\t"

static inline void outb(u8 value, u16 port)
{
	asm volatile("outb %b0, %w1" : : "a"(value), "Nd"(port));
}

static inline u8 inb(u16 port)
{
	u8 value;

	asm volatile("inb %w1, %b0" : "=a"(value) : "Nd"(port));
	return value;
}

/* REP OUTSB: `count` bytes from `addr` to `port`. */
static inline void outsb(u16 port, const void *addr, unsigned long count)
{
	asm volatile("rep outsb" : "+S"(addr), "+c"(count) : "d"(port) : "memory");
}

/* REP INSB: `count` bytes from `port` to `addr`. */
static inline void insb(u16 port, void *addr, unsigned long count)
{
	asm volatile("rep insb" : "+D"(addr), "+c"(count) : "d"(port) : "memory");
}

/* REP INSW: `count` words from `port` to `addr`. */
static inline void insw(u16 port, void *addr, unsigned long count)
{
	asm volatile("rep insw" : "+D"(addr), "+c"(count) : "d"(port) : "memory");
}

static inline void cpuid_count(u32 op, u32 count, u32 *eax, u32 *ebx, u32 *ecx, u32 *edx)
{
	asm volatile("cpuid" : "=a"(*eax), "=b"(*ebx), "=c"(*ecx), "=d"(*edx) : "0"(op), "2"(count));
}

static inline u64 native_read_msr(u32 msr)
{
	u32 lo, hi;

	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}

static inline void native_write_msr(u32 msr, u64 val)
{
	asm volatile("wrmsr" : : "c"(msr), "a"((u32)val), "d"((u32)(val >> 32)) : "memory");
}

/*
 * RDMSR / WRMSR that survive an MSR the hypervisor refuses: 0, or the vector of the exception it
 * asked to inject (X86_TRAP_GP); a failed read gives 0 (Linux's rdmsr_safe / wrmsr_safe).
 */
int rdmsr_safe(u32 msr, u64 *val);
int wrmsr_safe(u32 msr, u64 val);

/*
 * VMGEXIT that survives an exception the hypervisor injects with its answer (KVM queues #UD for an
 * event it does not expose to the guest, RDTSCP for one): taken at the instruction after VMGEXIT,
 * it resumes there. 0, or the vector.
 */
int vmgexit_safe(void);

static inline u64 read_cr3(void)
{
	u64 v;

	asm volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

static inline void write_cr3(u64 v)
{
	asm volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

static inline void clflush(const volatile void *p)
{
	asm volatile("clflush %0" : "+m"(*(volatile char *)p));
}

static inline u64 read_cr4(void)
{
	u64 v;

	asm volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static inline u64 xgetbv(u32 index)
{
	u32 lo, hi;

	asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(index));
	return ((u64)hi << 32) | lo;
}

static inline void wbinvd(void)
{
	asm volatile("wbinvd" ::: "memory");
}

static inline void halt(void)
{
	asm volatile("hlt" ::: "memory");
}

#endif
