# long-mode: real mode -> 32-bit protected mode -> 64-bit long mode, then integer work in 64 bits.
# In 32-bit code: clear three page-table pages (REP STOSL), identity-map the first 2 MiB with one
# 2 MiB page (PML4[0] -> PDPT[0] -> PD[0], PS), load CR3, set CR4.PAE, EFER.LME (RDMSR/WRMSR),
# CR0.PG; far jump to a 64-bit code segment. In 64-bit code: CRC-32 (IEEE, bitwise) of "The quick
# brown fox jumps over the lazy dog", and Fibonacci(90) in a 64-bit register; report both with OUTs.
#
# Entry: flat real mode at _start = 0x1000 (see README.md, "Entry state"). The page tables are the
# image's .bss (p_memsz > p_filesz); the guest clears them itself, so a flat load works too.
#
# Exits a VMM sees, in order:
#   1. KVM_EXIT_IO out, port 0xe9, size 4, count 1: 39 a3 4f 41 (CRC-32 0x414fa339)
#   2. KVM_EXIT_IO out, port 0xe9, size 4, count 1: 78 78 ba a1 (Fibonacci(90), low dword)
#   3. KVM_EXIT_IO out, port 0xe9, size 4, count 1: da 0d f8 27 (Fibonacci(90), high dword)
#   4. KVM_EXIT_HLT
# Final state: RAX = 0x414fa339, RBX = 0x27f80ddaa1ba7878 (Fibonacci(90) = 2880067194370816120),
# CR0 = 0xe0000011 (reset value + PE + PG), CR4 = 0x20 (PAE), EFER = 0x500 (LME + LMA),
# CR3 = 0x2000 (pml4), CS = 0x18 (64-bit code), RIP = the byte after the HLT; the tables as
# written: PML4[0] = 0x3023, PDPT[0] = 0x4023, PD[0] = 0xe3.

	.set	CODE32, 0x08
	.set	DATA32, 0x10
	.set	CODE64, 0x18
	.set	MSR_EFER, 0xc0000080
	.set	EFER_LME, 0x100
	# Accessed (and, for the page, Dirty) are set up front: a CPU only ever sets them, so the
	# tables read back the same whatever the CPU's page walks did (a shadow MMU, an interpreter).
	.set	PTE_TABLE, 0x23		# present, writable, accessed
	.set	PDE_2M, 0xe3		# present, writable, accessed, dirty, page size (2 MiB)

	.code16
	.text
	.globl	_start
_start:
	cli
	xor	%ax, %ax
	mov	%ax, %ds
	lgdtl	gdt_desc
	mov	%cr0, %eax
	or	$1, %eax		# CR0.PE
	mov	%eax, %cr0
	ljmpl	$CODE32, $start32

	.code32
start32:
	mov	$DATA32, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	$0x7000, %esp
	cld

	mov	$pml4, %edi		# three zeroed pages: PML4, PDPT, PD
	xor	%eax, %eax
	mov	$(3 * 4096 / 4), %ecx
	rep stosl
	movl	$(pdpt + PTE_TABLE), pml4
	movl	$(pd + PTE_TABLE), pdpt
	movl	$(0 + PDE_2M), pd	# GPA 0..2 MiB at linear 0..2 MiB

	mov	$pml4, %eax
	mov	%eax, %cr3
	mov	%cr4, %eax
	or	$0x20, %eax		# CR4.PAE
	mov	%eax, %cr4
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$EFER_LME, %eax
	wrmsr
	mov	%cr0, %eax
	or	$0x80000000, %eax	# CR0.PG: with LME set, long mode becomes active (EFER.LMA)
	mov	%eax, %cr0
	ljmpl	$CODE64, $start64

	.code64
start64:
	# CRC-32, reflected polynomial 0xedb88320, init and final xor 0xffffffff.
	lea	text(%rip), %rsi
	mov	$text_len, %ecx
	mov	$0xffffffff, %eax
crc:	xorb	(%rsi), %al
	inc	%rsi
	mov	$8, %edx
bit:	shr	$1, %eax
	jnc	1f
	xor	$0xedb88320, %eax
1:	dec	%edx
	jnz	bit
	dec	%ecx
	jnz	crc
	not	%eax
	mov	%eax, %r8d

	# Fibonacci: RBX = F(n), R9 = F(n + 1), 90 steps from F(0) = 0.
	xor	%ebx, %ebx
	mov	$1, %r9d
	mov	$90, %ecx
fib:	lea	(%rbx,%r9), %r10
	mov	%r9, %rbx
	mov	%r10, %r9
	dec	%ecx
	jnz	fib

	mov	$0xe9, %dx
	mov	%r8d, %eax
	out	%eax, %dx		# CRC-32
	mov	%rbx, %rax
	out	%eax, %dx		# F(90) bits 0..31
	shr	$32, %rax
	out	%eax, %dx		# F(90) bits 32..63
	mov	%r8d, %eax
	hlt

text:	.ascii	"The quick brown fox jumps over the lazy dog"
	.set	text_len, . - text

	.balign	8
gdt:	.quad	0			# null
	.quad	0x00cf9a000000ffff	# 0x08: code, 32-bit, flat
	.quad	0x00cf92000000ffff	# 0x10: data, flat
	.quad	0x00af9a000000ffff	# 0x18: code, 64-bit (L)
gdt_end:
gdt_desc:
	.word	gdt_end - gdt - 1
	.long	gdt

	.bss
	.balign	4096
pml4:	.skip	4096
pdpt:	.skip	4096
pd:	.skip	4096
