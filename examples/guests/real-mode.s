# real-mode: the smallest guest. 16-bit real mode throughout: write a greeting to COM1 one byte at
# a time, read COM1's line status register, keep the answer in RAM, read it back, halt.
#
# Entry: flat real mode at _start = 0x1000 (see README.md, "Entry state").
#
# Exits a VMM sees, in order:
#   1-17. KVM_EXIT_IO out, port 0x3f8, size 1, count 1: the bytes of "Hello, real mode\n", one exit each
#   18.   KVM_EXIT_IO in,  port 0x3fd, size 1, count 1: the VMM answers 0x60 (THR empty, idle)
#   19.   KVM_EXIT_HLT
# Final state: EBX = 0x44332260 (the answer stored into `cell`, then the dword reloaded),
# RAM at `cell` = 60 22 33 44, RIP = the byte after the HLT.

	.code16
	.text
	.globl	_start
_start:
	cli
	cld
	xor	%ax, %ax
	mov	%ax, %ds		# flat: the data is where the linker put it
	mov	%ax, %ss
	mov	$0x7000, %sp

	mov	$0x3f8, %dx		# COM1 transmit holding register
	mov	$message, %si
next:	lodsb
	test	%al, %al
	jz	sent
	out	%al, %dx		# one KVM_EXIT_IO per byte
	jmp	next

sent:	mov	$0x3fd, %dx		# COM1 line status register
	in	%dx, %al
	mov	%al, cell		# store: the low byte of cell
	mov	cell, %ebx		# load: the whole dword back
	hlt

message:
	.asciz	"Hello, real mode\n"
	.balign	4
cell:	.long	0x44332211
