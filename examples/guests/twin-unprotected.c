// SPDX-License-Identifier: MIT
/*
 * twin-unprotected: the machine-code twin of examples/unprotected.yaml
 * (examples/machine-code/unprotected.yaml runs it), on lib/ in a VM without SEV: the same boot from
 * the reset vector to long mode, but no #VC and no GHCB. KVM sees each instruction itself (IOIO,
 * CPUID, MSR, the nested page fault of the MMIO load) and emulates it or exits with it; no VMGEXIT.
 *
 *   step 0  print "plain\n": OUT of each byte to COM1.
 *   step 1  cpuid 0: CPUID, answered by KVM.
 *   step 2  rdmsr IA32_APIC_BASE: RDMSR, answered by KVM.
 *   step 3  mmio-read 4 bytes at 0xfed00000: a MOV, which KVM emulates: KVM_EXIT_MMIO.
 *   step 4  rdmsr 0x12345678: rdmsr_safe; KVM exits to userspace, the VMM refuses, KVM injects
 *           #GP, and the exception table's fixup takes it (do_exception).
 *
 * Then HLT: the run ends (guest-done). results (GPA 0x40000): what each step read, for the
 * scenario's expect.memory to check what the scripted steps expect.
 */
#include "lib/x86.h"

#define COM1 0x3f8

static struct {
	u32 cpuid_0[4]; /* 0x00: EAX 0xd, EBX ECX EDX "AuthenticAMD" */
	u64 apic_base; /* 0x10: 0xfee00900 */
	u32 mmio; /* 0x18: 0xdeadbeef */
	u32 unknown_msr_vector; /* 0x1c: X86_TRAP_GP */
} results __section(".results") __used;

int main(void)
{
	const char *s = "plain\n";
	u32 *c = results.cpuid_0;
	u64 val;

	while (*s)
		outb(*s++, COM1);
	cpuid_count(0, 0, &c[0], &c[1], &c[2], &c[3]);
	results.apic_base = native_read_msr(MSR_IA32_APICBASE);
	results.mmio = *(volatile u32 *)0xfed00000UL;
	results.unknown_msr_vector = (u32)rdmsr_safe(0x12345678, &val);
	for (;;)
		halt(); /* the end of the steps: guest-done */
}
