# protected-mode: from real mode into 32-bit protected mode (no paging) and a checksum there.
# LGDT a flat GDT, set CR0.PE, far jump to 32-bit code, load flat data segments, compute the
# Adler-32 of "The quick brown fox jumps over the lazy dog" (with DIV), report it twice: as one
# 32-bit OUT, then as text on COM1.
#
# Entry: flat real mode at _start = 0x1000 (see README.md, "Entry state").
#
# Exits a VMM sees, in order:
#   1.     KVM_EXIT_IO out, port 0xe9, size 4, count 1: da 0f dc 5b (Adler-32 0x5bdc0fda, little-endian)
#   2-18.  KVM_EXIT_IO out, port 0x3f8, size 1, count 1: "adler32=5bdc0fda\n", one exit per byte
#   19.    KVM_EXIT_HLT
# Final state: EAX = 0x5bdc0fda, CR0 = 0x60000011 (reset value + PE), CS = 0x08 (32-bit flat code),
# DS = ES = SS = 0x10 (flat data), RIP = the byte after the HLT.

	.set	CODE32, 0x08
	.set	DATA32, 0x10
	.set	ADLER_MOD, 65521

	.code16
	.text
	.globl	_start
_start:
	cli
	xor	%ax, %ax
	mov	%ax, %ds		# DS = 0: LGDT reads gdt_desc at its linked address
	lgdtl	gdt_desc
	mov	%cr0, %eax
	or	$1, %eax		# CR0.PE
	mov	%eax, %cr0
	ljmpl	$CODE32, $start32	# reloads CS from the GDT: 32-bit code from here

	.code32
start32:
	mov	$DATA32, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	$0x7000, %esp
	cld

	# Adler-32: a = 1 + sum of bytes, b = sum of the a's, both mod 65521; result b << 16 | a.
	mov	$text, %esi
	mov	$text_len, %ecx
	mov	$1, %ebx		# a
	xor	%edi, %edi		# b
	mov	$ADLER_MOD, %ebp
adler:	movzbl	(%esi), %eax
	inc	%esi
	add	%ebx, %eax
	xor	%edx, %edx
	div	%ebp
	mov	%edx, %ebx		# a = (a + byte) % 65521
	lea	(%edi,%ebx), %eax
	xor	%edx, %edx
	div	%ebp
	mov	%edx, %edi		# b = (b + a) % 65521
	loop	adler
	shl	$16, %edi
	or	%ebx, %edi		# EDI = Adler-32

	mov	%edi, %eax
	mov	$0xe9, %dx
	out	%eax, %dx		# the raw value, one 4-byte OUT

	mov	$0x3f8, %dx
	mov	$label, %esi
	call	puts
	mov	$8, %ecx		# then eight hex digits, most significant first
hex:	rol	$4, %edi
	mov	%edi, %eax
	and	$0xf, %eax
	movb	digits(%eax), %al
	out	%al, %dx
	loop	hex
	mov	$'\n', %al
	out	%al, %dx
	mov	%edi, %eax		# EDI has rotated back to the checksum
	hlt

# OUT each byte of the NUL-terminated string at ESI to port DX.
puts:	lodsb
	test	%al, %al
	jz	1f
	out	%al, %dx
	jmp	puts
1:	ret

text:	.ascii	"The quick brown fox jumps over the lazy dog"
	.set	text_len, . - text
label:	.asciz	"adler32="
digits:	.ascii	"0123456789abcdef"

	.balign	8
gdt:	.quad	0			# null
	.quad	0x00cf9a000000ffff	# 0x08: code, base 0, limit 4 GiB, 32-bit
	.quad	0x00cf92000000ffff	# 0x10: data, base 0, limit 4 GiB
gdt_end:
gdt_desc:
	.word	gdt_end - gdt - 1
	.long	gdt
