# SPDX-License-Identifier: MIT
#
# From the reset vector to C, for an SEV-ES guest whose image is a ROM at the top of 4 GiB (as
# OVMF's is): the vCPU starts in real mode with CS.base 0xffff0000 and IP 0xfff0, the ROM's last
# 16 bytes. 16-bit code loads a boot GDT and enters 32-bit protected mode; 32-bit code copies
# .data from ROM to RAM, clears .bss, builds page tables in RAM and enters long mode; 64-bit code
# takes the boot stack and calls sev_es_start (start.c), which never returns.
#
# The page tables identity-map the 4 GiB below 4 GiB with 2 MiB pages, and map its top GiB a
# second time at the top of the 64-bit address space (PML4[511] -> PDPT[511]): there the ROM's
# bytes at 0xffff0000 appear at 0xffffffff_ffff0000, their sign extension. C code is compiled for
# gcc's kernel code model (symbols are 32-bit sign-extended addresses, as Linux's kernel is) and
# runs from that alias, in place in the ROM, while its .data and .bss live in low RAM: both are
# in reach of 32-bit sign-extended addresses and RIP-relative displacements.
#
# Memory encryption, as Linux's startup_32 does it (arch/x86/boot/compressed/head_64.S and
# mem_encrypt.S): before paging, get_sev_encryption_bit runs CPUID 0x80000000 and 0x8000001f
# with a boot IDT whose #VC gate (startup32_vc_handler) answers CPUID through the GHCB MSR
# protocol, one request per register (an SEV-ES guest's CPUID raises #VC; there is no GHCB yet).
# The C-bit is CPUID 0x8000001f EBX[5:0] when EAX[1] (SEV) is set and the CPUID came through the
# #VC handler; in a VM without SEV-ES the CPUIDs go to the hypervisor, no #VC comes and no C-bit
# is used. (Linux checks MSR_AMD64_SEV instead, which sevbox's CPU does not model.) Every entry of
# the tables, page-table pointers included, then has the C-bit set (sme_me_mask): the guest's
# memory is private, the ROM's code and data (encrypted at launch) included. Pages the hypervisor
# must read or write are made shared later, in C (ident_map.c: set_page_decrypted, which splits a
# 2 MiB page into 4 KiB ones as Linux's does).
#
# Also here: the #VC entry (registers saved as a struct pt_regs for do_vc, vc.c) and the entries of
# the other exceptions (the same for do_exception, start.c).

	.set	BOOT_CS32, 0x08
	.set	BOOT_DS, 0x10
	.set	BOOT_CS64, 0x18
	.set	ROM_CS_BASE, 0xffff0000		# CS.base after RESET
	.set	PTE_P_RW, 0x003			# present, writable
	.set	PTE_PS, 0x080			# a 2 MiB page (in a page directory)
	.set	MSR_EFER, 0xc0000080
	.set	EFER_LME, 0x100
	.set	CR0_PE, 0x1
	.set	CR0_PG, 0x80000000
	.set	CR4_PAE, 0x20
	.set	MSR_AMD64_SEV_ES_GHCB, 0xc0010130
	.set	GHCB_MSR_CPUID_REQ, 0x004
	.set	GHCB_MSR_CPUID_RESP, 0x005
	.set	GHCB_MSR_TERM_REQ, 0x100
	.set	SVM_EXIT_CPUID, 0x72
	.set	X86_TRAP_VC, 29

	.section .reset, "ax"
	.code16
	.globl	reset_vector
reset_vector:				# 0xfffffff0
	jmp	start16
	.balign	16, 0xf4			# the rest of the 16 bytes: HLT

	.section .boot, "ax"
	.code16
start16:
	cli
	cld
	lgdtl	%cs:(boot_gdtr - ROM_CS_BASE)	# the ROM through CS: DS.base is still 0
	mov	%cr0, %eax
	or	$CR0_PE, %eax
	mov	%eax, %cr0			# an SEV-ES guest's CR0 write traps to KVM after it completes
	ljmpl	$BOOT_CS32, $start32

	.code32
start32:
	mov	$BOOT_DS, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	%eax, %fs
	mov	%eax, %gs

	# .data: its initial values, stored in ROM after .rodata, to its place in RAM
	mov	$__data_load, %esi
	mov	$__data_start, %edi
	mov	$__data_end, %ecx
	sub	%edi, %ecx
	rep movsb
	# .bss (the page tables and the boot stack included): zeros
	mov	$__bss_start, %edi
	mov	$__bss_end, %ecx
	sub	%edi, %ecx
	xor	%eax, %eax
	rep stosb

	# The C-bit: %edx = sme_me_mask's high half (the C-bit is always above bit 31), 0 without SEV.
	mov	$boot_stack_top, %esp		# for the #VC the CPUIDs may raise
	call	startup32_load_idt
	call	get_sev_encryption_bit
	xor	%edx, %edx
	test	%eax, %eax
	jz	1f
	sub	$32, %eax
	bts	%eax, %edx
1:	mov	%edx, sme_me_mask + 4

	# PML4[0] -> the low PDPT; PML4[511] -> the high one
	movl	$boot_pdpt_low + PTE_P_RW, boot_pml4
	mov	%edx, boot_pml4 + 4
	movl	$boot_pdpt_high + PTE_P_RW, boot_pml4 + 511 * 8
	mov	%edx, boot_pml4 + 511 * 8 + 4
	# low PDPT[0..3] -> the four page directories (0-4 GiB); high PDPT[511] -> the last one
	mov	$boot_pd + PTE_P_RW, %eax
	mov	$boot_pdpt_low, %edi
	mov	$4, %ecx
1:	mov	%eax, (%edi)
	mov	%edx, 4(%edi)
	add	$4096, %eax
	add	$8, %edi
	dec	%ecx
	jnz	1b
	movl	$boot_pd + 3 * 4096 + PTE_P_RW, boot_pdpt_high + 511 * 8
	mov	%edx, boot_pdpt_high + 511 * 8 + 4
	# 2048 page-directory entries: the 2 MiB page at index << 21, with the C-bit
	mov	$PTE_P_RW | PTE_PS, %eax
	mov	$boot_pd, %edi
	mov	$2048, %ecx
2:	mov	%eax, (%edi)
	mov	%edx, 4(%edi)
	add	$0x200000, %eax
	add	$8, %edi
	dec	%ecx
	jnz	2b

	# Long mode: PAE, the tables, EFER.LME, then paging (each write traps to KVM after it completes)
	mov	%cr4, %eax
	or	$CR4_PAE, %eax
	mov	%eax, %cr4
	mov	$boot_pml4, %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx			# not intercepted for SEV-ES: no #VC
	rdmsr
	or	$EFER_LME, %eax
	wrmsr
	mov	%cr0, %eax
	or	$CR0_PG, %eax
	mov	%eax, %cr0
	ljmpl	$BOOT_CS64, $start64

	.code64
start64:
	mov	$boot_stack_top, %rsp
	mov	$sev_es_start, %rax		# in the ROM's alias at the top of the address space
	call	*%rax
	ud2					# sev_es_start never returns

	.code32
# The boot IDT (Linux's startup32_load_idt): only the #VC gate, a 32-bit interrupt gate to
# startup32_vc_handler, built in .bss (the ROM's address cannot be split into a gate's halves at
# link time).
startup32_load_idt:
	mov	$startup32_vc_handler, %eax
	mov	$boot_idt32 + X86_TRAP_VC * 8, %edi
	mov	%ax, (%edi)
	movw	$BOOT_CS32, 2(%edi)
	movw	$0x8e00, 4(%edi)		# present, DPL 0, 32-bit interrupt gate
	shr	$16, %eax
	mov	%ax, 6(%edi)
	lidtl	boot_idtr32
	ret

# The C-bit position, or 0 for no memory encryption (Linux's get_sev_encryption_bit): CPUID
# 0x80000000 says whether leaf 0x8000001f exists, 0x8000001f's EAX[1] whether SEV is, EBX[5:0]
# where the C-bit is. Only an SEV-ES guest's (startup32_vc_handler answered the CPUIDs) counts.
get_sev_encryption_bit:
	push	%ebx
	mov	$0x80000000, %eax
	cpuid
	cmp	$0x8000001f, %eax
	jb	.Lno_sev
	mov	$0x8000001f, %eax
	cpuid
	bt	$1, %eax
	jnc	.Lno_sev
	cmpb	$0, sev_es_vc_seen
	je	.Lno_sev
	mov	%ebx, %eax
	and	$0x3f, %eax
	jmp	.Lsev_exit
.Lno_sev:
	xor	%eax, %eax
.Lsev_exit:
	pop	%ebx
	ret

# #VC before long mode (Linux's startup32_vc_handler): a CPUID (error code SVM_EXIT_CPUID) is
# answered register by register through the GHCB MSR protocol (sev_es_req_cpuid), then IRET past
# the two bytes of CPUID. Anything else, or a bad answer, ends the guest: the termination request,
# set 2 (the library's), reason LIB_TERM_VC_UNSUPPORTED.
startup32_vc_handler:
	push	%eax
	push	%ebx
	push	%ecx
	push	%edx
	mov	%eax, %ebx			# the CPUID function
	cmpl	$SVM_EXIT_CPUID, 16(%esp)	# the error code
	jne	.Lfail
	movb	$1, sev_es_vc_seen
	mov	$0, %eax			# EAX
	mov	%ebx, %edx
	call	sev_es_req_cpuid
	test	%eax, %eax
	jnz	.Lfail
	mov	%edx, 12(%esp)
	mov	$1, %eax			# EBX
	mov	%ebx, %edx
	call	sev_es_req_cpuid
	test	%eax, %eax
	jnz	.Lfail
	mov	%edx, 8(%esp)
	mov	$2, %eax			# ECX
	mov	%ebx, %edx
	call	sev_es_req_cpuid
	test	%eax, %eax
	jnz	.Lfail
	mov	%edx, 4(%esp)
	mov	$3, %eax			# EDX
	mov	%ebx, %edx
	call	sev_es_req_cpuid
	test	%eax, %eax
	jnz	.Lfail
	mov	%edx, (%esp)
	pop	%edx
	pop	%ecx
	pop	%ebx
	pop	%eax
	add	$4, %esp			# the error code
	addl	$2, (%esp)			# past CPUID
	iretl
.Lfail:
	mov	$MSR_AMD64_SEV_ES_GHCB, %ecx
	mov	$GHCB_MSR_TERM_REQ | (2 << 12) | (1 << 16), %eax
	xor	%edx, %edx
	wrmsr
	.byte	0xf3, 0x0f, 0x01, 0xd9		# VMGEXIT
2:	hlt
	jmp	2b

# One CPUID register through the GHCB MSR protocol: %eax the register (0-3), %edx the function;
# returns %eax 0 and the value in %edx, or %eax 1 if the answer is not a CPUID response.
sev_es_req_cpuid:
	shll	$30, %eax
	orl	$GHCB_MSR_CPUID_REQ, %eax
	mov	$MSR_AMD64_SEV_ES_GHCB, %ecx
	wrmsr
	.byte	0xf3, 0x0f, 0x01, 0xd9		# VMGEXIT (REP VMMCALL)
	rdmsr
	and	$0xfff, %eax
	cmp	$GHCB_MSR_CPUID_RESP, %eax
	jne	1f
	xor	%eax, %eax
	ret
1:	mov	$1, %eax
	ret

	.balign	8
boot_gdt:
	.quad	0
	.quad	0x00cf9a000000ffff		# BOOT_CS32: 32-bit code, flat
	.quad	0x00cf92000000ffff		# BOOT_DS: data, flat
	.quad	0x00af9a000000ffff		# BOOT_CS64: 64-bit code
boot_gdtr:
	.word	4 * 8 - 1
	.long	boot_gdt
boot_idtr32:
	.word	(X86_TRAP_VC + 1) * 8 - 1
	.long	boot_idt32

	.text
	.code64
# struct pt_regs from RSI down to R15, pushed below RDI (which the caller saved first): the part of
# the frame vc_entry and exception_common both push.
	.macro	PUSH_PT_REGS_FROM_RSI
	push	%rsi
	push	%rdx
	push	%rcx
	push	%rax
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%rbx
	push	%rbp
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	.endm

# #VC, on IST1: the CPU pushed SS, RSP, RFLAGS, CS, RIP and the error code (the SVM exit code).
# Save the GPRs below them in struct pt_regs order, let do_vc emulate the instruction (it may
# change any of them, RIP included), restore them and return.
	.globl	vc_entry
vc_entry:
	cld					# the C ABI's DF; IRETQ restores the guest's
	push	%rdi
	PUSH_PT_REGS_FROM_RSI
	mov	%rsp, %rdi			# struct pt_regs *
	sub	$8, %rsp			# 21 quadwords below the 16-byte-aligned frame: realign for the call
	call	do_vc
	add	$8, %rsp
# Back from the C handler: the registers as struct pt_regs has them now (RIP included), then IRETQ.
pt_regs_iret:
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbp
	pop	%rbx
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rax
	pop	%rcx
	pop	%rdx
	pop	%rsi
	pop	%rdi
	add	$8, %rsp			# the error code
	iretq

# Vectors 0-31 (the IDT's #VC gate goes to vc_entry instead), 16 bytes each: an error code of 0
# where the CPU pushes none, RDI saved (the first field of struct pt_regs to be pushed) and the
# vector in it, then exception_common, on IST2.
	.balign	16
	.globl	exception_stubs
exception_stubs:
	.irp	vec, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
	.balign	16
	.if	!(\vec == 8 || (\vec >= 10 && \vec <= 14) || \vec == 17 || \vec == 21 || \vec == 29 || \vec == 30)
	push	$0
	.endif
	push	%rdi
	mov	$\vec, %edi
	jmp	exception_common
	.endr
# The rest of struct pt_regs, as vc_entry saves it, then do_exception(vector, regs) (start.c): it
# returns only if the instruction has an exception-table fixup, which it put in regs->ip.
exception_common:
	cld
	PUSH_PT_REGS_FROM_RSI
	mov	%rsp, %rsi			# struct pt_regs *
	sub	$8, %rsp			# as in vc_entry: realign for the call
	call	do_exception
	add	$8, %rsp
	jmp	pt_regs_iret

	.section .bss, "aw", @nobits
	.balign	8
	.globl	sme_me_mask
sme_me_mask:	.skip	8		# the C-bit as a PTE mask (Linux's), 0 without SEV
sev_es_vc_seen:	.skip	1		# startup32_vc_handler ran: an SEV-ES guest
	.balign	8
boot_idt32:	.skip	(X86_TRAP_VC + 1) * 8
	.balign	4096
boot_pml4:	.skip	4096
boot_pdpt_low:	.skip	4096
boot_pdpt_high:	.skip	4096
boot_pd:	.skip	4 * 4096
	.balign	16
boot_stack:	.skip	16384
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
