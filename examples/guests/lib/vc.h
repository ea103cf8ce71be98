/* SPDX-License-Identifier: MIT */
/*
 * The #VC handler's view of the interrupted code: its registers as entry.s saved them (Linux's
 * struct pt_regs order) and the instruction being emulated.
 */
#ifndef SEVG_VC_H
#define SEVG_VC_H

#include "ghcb.h"
#include "types.h"

/* What entry.s's vc_entry pushes on the #VC stack, below the CPU's interrupt frame. */
struct pt_regs {
	u64 r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di;
	u64 orig_ax; /* the error code: for #VC the SVM exit code */
	u64 ip, cs, flags, sp, ss; /* the CPU's frame; IRETQ resumes from it */
};

/* The decoded instruction: the part of Linux's struct insn the handlers read. */
struct insn {
	u8 length; /* all of it, prefixes included: what RIP moves by */
	u8 opnd_bytes; /* 2, 4 or 8 (66, REX.W) */
	u8 addr_bytes; /* 4 or 8 (67) */
	u8 rex; /* the REX prefix, or 0 */
	bool rep; /* F2 or F3 */
	u8 opcode[2]; /* opcode[0] == 0x0f: a two-byte opcode */
	u8 modrm_reg; /* ModRM.reg with REX.R: the register operand */
	bool has_mem; /* ModRM names memory, or a moffs form */
	u64 ea; /* the memory operand's linear address */
	u64 immediate; /* an imm8 / imm16 / imm32 operand, sign-extended */
};

/* Linux's struct es_em_ctxt. */
struct es_em_ctxt {
	struct pt_regs *regs;
	struct insn insn;
	struct es_fault_info fi;
};

/* Called by entry.s's vc_entry with the registers it saved; returns to IRETQ. */
void do_vc(struct pt_regs *regs);
/*
 * An exception at an instruction with an _ASM_EXTABLE entry: RIP moves to its fixup and the
 * vector is kept for rdmsr_safe / wrmsr_safe (Linux's fixup_exception). False: no entry. For the
 * exceptions the #VC handler is asked to inject and for those the CPU raises itself (start.c).
 */
bool fixup_exception(struct pt_regs *regs, int vector);

#endif
