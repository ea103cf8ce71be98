# mmio: loads and stores to guest-physical addresses no memslot covers, from real mode. The machine
# has RAM only below 0xa0000; the guest uses 0xd0000 (ES = 0xd000), so every access there leaves
# the vCPU with KVM_EXIT_MMIO (KVM emulates the instruction and hands the access to the VMM).
# Covers: byte, word and dword stores, a dword load, a read-modify-write (OR to memory: a read exit,
# then a write exit), and a dword store across a page boundary (KVM splits it into two exits).
#
# Entry: flat real mode at _start = 0x1000 (see README.md, "Entry state").
#
# Exits a VMM sees, in order (MMIO data as bytes in guest memory order):
#   1.  KVM_EXIT_MMIO write 0xd0000, len 1: 41
#   2.  KVM_EXIT_MMIO write 0xd0002, len 2: 34 12
#   3.  KVM_EXIT_MMIO write 0xd0004, len 4: ef be ad de
#   4.  KVM_EXIT_MMIO read  0xd0008, len 4: the VMM answers 78 56 34 12
#   5.  KVM_EXIT_MMIO read  0xd0010, len 1: the VMM answers 01
#   6.  KVM_EXIT_MMIO write 0xd0010, len 1: 81 (the answer OR 0x80)
#   7.  KVM_EXIT_MMIO write 0xd0ffe, len 2: 78 56 (the low half of the loaded dword: this page)
#   8.  KVM_EXIT_MMIO write 0xd1000, len 2: 34 12 (the high half: the next page)
#   9.  KVM_EXIT_IO out, port 0xe9, size 4, count 1: 78 56 34 12 (what exit 4 read)
#   10. KVM_EXIT_HLT
# Final state: EAX = 0x12345678, ES = 0xd000, RIP = the byte after the HLT.

	.code16
	.text
	.globl	_start
_start:
	cli
	mov	$0xd000, %ax
	mov	%ax, %es		# ES:0 = GPA 0xd0000, beyond the RAM's end (0xa0000)
	movb	$0x41, %es:0
	movw	$0x1234, %es:2
	movl	$0xdeadbeef, %es:4
	mov	%es:8, %eax
	orb	$0x80, %es:0x10
	mov	%eax, %es:0xffe		# bytes 0xd0ffe..0xd1001: two pages
	mov	$0xe9, %dx
	out	%eax, %dx
	hlt
