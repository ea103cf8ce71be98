// SPDX-License-Identifier: MIT
/*
 * The #VC handler. An SEV-ES guest's CPU raises #VC (vector 29, error code = the SVM exit code)
 * where a plain guest would exit to the hypervisor, because the hypervisor can neither read the
 * guest's registers nor decode its instructions: the guest does that itself, asks the hypervisor
 * through the GHCB (or, before there is one, the GHCB MSR protocol) and writes the answer into
 * the interrupted registers. After Linux's arch/x86/coco/sev/vc-handle.c and vc-shared.c
 * (sev-shared.c in older trees); the function names are Linux's.
 *
 * Handled: CPUID (SVM_EXIT_CPUID), port I/O incl. (REP) INS/OUTS (SVM_EXIT_IOIO), RDMSR/WRMSR
 * (SVM_EXIT_MSR), WBINVD (SVM_EXIT_WBINVD) and MMIO (SVM_EXIT_NPF: the MOV forms compilers emit
 * for volatile accesses).
 * Anything else ends the guest with a termination request (ghcb.h's SEV_TERM_SET_LIB reasons).
 * The handler runs on its own IST stack and must not raise #VC itself: string I/O buffers and
 * page tables must be RAM.
 */
#include "ghcb.h"
#include "mem_encrypt.h"
#include "vc.h"
#include "x86.h"

#define REX_W 8
#define REX_R 4
#define REX_X 2
#define REX_B 1

/* GPR n in the ModRM/SIB numbering (REX-extended) as an offset into struct pt_regs. */
static const u8 gpr_offset[16] = {
	offsetof(struct pt_regs, ax), offsetof(struct pt_regs, cx), offsetof(struct pt_regs, dx),
	offsetof(struct pt_regs, bx), offsetof(struct pt_regs, sp), offsetof(struct pt_regs, bp),
	offsetof(struct pt_regs, si), offsetof(struct pt_regs, di), offsetof(struct pt_regs, r8),
	offsetof(struct pt_regs, r9), offsetof(struct pt_regs, r10), offsetof(struct pt_regs, r11),
	offsetof(struct pt_regs, r12), offsetof(struct pt_regs, r13), offsetof(struct pt_regs, r14),
	offsetof(struct pt_regs, r15),
};

static u64 *vc_gpr(struct pt_regs *regs, unsigned int n)
{
	return (u64 *)((u8 *)regs + gpr_offset[n & 15]);
}

/* What follows the opcode of an instruction the decoder knows. */
enum insn_form { FORM_NONE, FORM_MODRM, FORM_MODRM_IMM8, FORM_MODRM_IMMZ, FORM_IMM8, FORM_MOFFS };

/*
 * The instructions that can raise each #VC this handler takes, and their form; -1 for any other
 * (Linux decodes every instruction; knowing only these is what keeps this decoder small).
 */
static int insn_form(unsigned long exit_code, unsigned int op)
{
	switch (exit_code) {
	case SVM_EXIT_CPUID:
		return op == 0x0fa2 ? FORM_NONE : -1;
	case SVM_EXIT_MSR: /* WRMSR, RDMSR */
		return op == 0x0f30 || op == 0x0f32 ? FORM_NONE : -1;
	case SVM_EXIT_WBINVD:
		return op == 0x0f09 ? FORM_NONE : -1;
	case SVM_EXIT_IOIO:
		if ((op >= 0x6c && op <= 0x6f) || (op >= 0xec && op <= 0xef))
			return FORM_NONE; /* INS, OUTS; IN, OUT with the port in DX */
		return op >= 0xe4 && op <= 0xe7 ? FORM_IMM8 : -1; /* IN, OUT imm8 */
	case SVM_EXIT_NPF:
		switch (op) {
		case 0x88: /* MOV r/m8, r8 */
		case 0x89: /* MOV r/m, r */
		case 0x8a: /* MOV r8, r/m8 */
		case 0x8b: /* MOV r, r/m */
		case 0x0fb6: /* MOVZX r, r/m8 */
		case 0x0fb7: /* MOVZX r, r/m16 */
		case 0x0fbe: /* MOVSX r, r/m8 */
		case 0x0fbf: /* MOVSX r, r/m16 */
			return FORM_MODRM;
		case 0xc6: /* MOV r/m8, imm8 */
			return FORM_MODRM_IMM8;
		case 0xc7: /* MOV r/m, imm16/32 */
			return FORM_MODRM_IMMZ;
		case 0xa0: /* MOV AL, moffs */
		case 0xa1: /* MOV rAX, moffs */
		case 0xa2: /* MOV moffs, AL */
		case 0xa3: /* MOV moffs, rAX */
			/* gcc's choice for a constant address beyond 2 GiB with the value in rAX (movabs) */
			return FORM_MOFFS;
		}
	}
	return -1;
}

static u64 load_le(const u8 *p, unsigned int bytes)
{
	u64 v = 0;

	memcpy(&v, p, bytes);
	return v;
}

/*
 * Decode the 64-bit instruction at RIP as far as the handlers need it: prefixes (66, 67, F2/F3,
 * the null segment overrides, REX), the opcode, ModRM/SIB/displacement (computing the memory
 * operand's address from the saved registers), an immediate or moffs; and its length. Anything
 * else, and a register where memory is due, is ES_DECODE_FAILED (Linux's vc_decode_insn with
 * insn_get_addr_ref).
 */
static enum es_result vc_decode_insn(struct es_em_ctxt *ctxt, unsigned long exit_code)
{
	struct insn *insn = &ctxt->insn;
	struct pt_regs *regs = ctxt->regs;
	const u8 *start = (const u8 *)regs->ip, *p = start;
	bool rip_relative = false;
	unsigned int op;
	int form;

	insn->opnd_bytes = 4;
	insn->addr_bytes = 8;
	for (;; p++) {
		if (p - start >= 14)
			return ES_DECODE_FAILED;
		if (*p == 0x66)
			insn->opnd_bytes = 2;
		else if (*p == 0x67)
			insn->addr_bytes = 4;
		else if (*p == 0xf2 || *p == 0xf3)
			insn->rep = true;
		/* CS, SS, DS, ES overrides change nothing in 64-bit mode; FS and GS are not supported. */
		else if (*p != 0x2e && *p != 0x36 && *p != 0x3e && *p != 0x26)
			break;
	}
	if ((*p & 0xf0) == 0x40) {
		insn->rex = *p++;
		if (insn->rex & REX_W)
			insn->opnd_bytes = 8;
	}
	insn->opcode[0] = *p++;
	if (insn->opcode[0] == 0x0f)
		insn->opcode[1] = *p++;
	op = insn->opcode[0] == 0x0f ? 0x0f00 | insn->opcode[1] : insn->opcode[0];
	form = insn_form(exit_code, op);
	if (form < 0)
		return ES_DECODE_FAILED;

	if (form == FORM_MODRM || form == FORM_MODRM_IMM8 || form == FORM_MODRM_IMMZ) {
		u8 modrm = *p++;
		unsigned int mod = modrm >> 6, rm = modrm & 7;
		u64 ea = 0;

		insn->modrm_reg = ((modrm >> 3) & 7) | (insn->rex & REX_R ? 8 : 0);
		/* Only memory can have trapped; C6/C7 are MOVs with ModRM.reg 0 only. */
		if (mod == 3 || (form != FORM_MODRM && (modrm & 0x38)))
			return ES_DECODE_FAILED;
		if (rm == 4) {
			u8 sib = *p++;
			unsigned int base = (sib & 7) | (insn->rex & REX_B ? 8 : 0);
			unsigned int index = ((sib >> 3) & 7) | (insn->rex & REX_X ? 8 : 0);

			if (index != 4) /* 4 without REX.X: no index */
				ea = *vc_gpr(regs, index) << (sib >> 6);
			if ((base & 7) == 5 && mod == 0) {
				ea += (s64)(s32)load_le(p, 4); /* no base, disp32 */
				p += 4;
			} else {
				ea += *vc_gpr(regs, base);
			}
		} else if (rm == 5 && mod == 0) {
			rip_relative = true; /* disp32 from the next instruction, added below */
			ea = (s64)(s32)load_le(p, 4);
			p += 4;
		} else {
			ea = *vc_gpr(regs, rm | (insn->rex & REX_B ? 8 : 0));
		}
		if (mod == 1) {
			ea += (s64)(s8)*p++;
		} else if (mod == 2) {
			ea += (s64)(s32)load_le(p, 4);
			p += 4;
		}
		insn->ea = ea;
		insn->has_mem = true;
	}

	if (form == FORM_MODRM_IMM8 || form == FORM_IMM8) {
		insn->immediate = (u64)(s64)(s8)*p++;
	} else if (form == FORM_MODRM_IMMZ && insn->opnd_bytes == 2) {
		insn->immediate = (u64)(s64)(s16)load_le(p, 2);
		p += 2;
	} else if (form == FORM_MODRM_IMMZ) {
		/* imm32, sign-extended for a 64-bit operand */
		insn->immediate = (u64)(s64)(s32)load_le(p, 4);
		p += 4;
	} else if (form == FORM_MOFFS) {
		insn->ea = load_le(p, insn->addr_bytes);
		insn->has_mem = true;
		p += insn->addr_bytes;
	}

	insn->length = (u8)(p - start);
	if (insn->length > 15)
		return ES_DECODE_FAILED;
	if (rip_relative)
		insn->ea += regs->ip + insn->length;
	if (insn->addr_bytes == 4)
		insn->ea = (u32)insn->ea;
	return ES_OK;
}

/* A register operand: the GPR and where in it the value sits (8 for AH, CH, DH, BH). */
struct reg_opnd {
	u64 *reg;
	unsigned int shift;
};

static struct reg_opnd vc_reg_opnd(struct es_em_ctxt *ctxt, unsigned int n, unsigned int bytes)
{
	/* Without a REX prefix, byte registers 4-7 are AH, CH, DH, BH: bits 15:8 of RAX-RBX. */
	if (bytes == 1 && !ctxt->insn.rex && n >= 4 && n < 8)
		return (struct reg_opnd){ vc_gpr(ctxt->regs, n - 4), 8 };
	return (struct reg_opnd){ vc_gpr(ctxt->regs, n), 0 };
}

static u64 bytes_mask(unsigned int bytes)
{
	return bytes >= 8 ? ~0UL : BIT(8 * bytes) - 1;
}

static u64 reg_read(struct reg_opnd r, unsigned int bytes)
{
	return (*r.reg >> r.shift) & bytes_mask(bytes);
}

/*
 * Write as the CPU does: a 32-bit result zero-extends into the whole register, an 8- or 16-bit
 * one leaves the rest alone. (Linux's MMIO emulation clears only opnd_bytes for MOVZX and its
 * IN clears all of RAX above the data; hardware does neither.)
 */
static void reg_write(struct reg_opnd r, u64 val, unsigned int bytes)
{
	u64 mask = bytes_mask(bytes);

	if (bytes >= 4)
		*r.reg = val & mask;
	else
		*r.reg = (*r.reg & ~(mask << r.shift)) | ((val & mask) << r.shift);
}

static enum es_result vc_handle_cpuid(struct ghcb *ghcb, struct es_em_ctxt *ctxt)
{
	struct pt_regs *regs = ctxt->regs;
	enum es_result ret;

	ghcb_set_rax(ghcb, regs->ax);
	ghcb_set_rcx(ghcb, regs->cx);
	/* KVM answers leaf 0xD from XCR0: the guest's if XGETBV works, else XCR0's reset value. */
	ghcb_set_xcr0(ghcb, (read_cr4() & X86_CR4_OSXSAVE) ? xgetbv(0) : 1);

	ret = sev_es_ghcb_hv_call(ghcb, &ctxt->fi, SVM_EXIT_CPUID, 0, 0);
	if (ret != ES_OK)
		return ret;
	if (!(ghcb_rax_is_valid(ghcb) && ghcb_rbx_is_valid(ghcb) && ghcb_rcx_is_valid(ghcb) &&
	      ghcb_rdx_is_valid(ghcb)))
		return ES_VMM_ERROR;

	regs->ax = ghcb->save.rax;
	regs->bx = ghcb->save.rbx;
	regs->cx = ghcb->save.rcx;
	regs->dx = ghcb->save.rdx;
	return ES_OK;
}

/* SVM's IOIO exit information (sw_exit_info_1), as the hardware would have written it. */
#define IOIO_TYPE_STR BIT(2)
#define IOIO_TYPE_IN 1
#define IOIO_TYPE_INS (IOIO_TYPE_IN | IOIO_TYPE_STR)
#define IOIO_TYPE_OUT 0
#define IOIO_TYPE_OUTS (IOIO_TYPE_OUT | IOIO_TYPE_STR)
#define IOIO_REP BIT(3)
#define IOIO_ADDR_64 BIT(9)
#define IOIO_ADDR_32 BIT(8)
#define IOIO_DATA_32 BIT(6)
#define IOIO_DATA_16 BIT(5)
#define IOIO_DATA_8 BIT(4)
#define IOIO_SEG_ES (0 << 10)
#define IOIO_SEG_DS (3 << 10)

static enum es_result vc_ioio_exitinfo(struct es_em_ctxt *ctxt, u64 *exitinfo)
{
	struct insn *insn = &ctxt->insn;
	u8 op = insn->opcode[0];
	u64 port;

	switch (op) {
	case 0x6c: /* INS */
	case 0x6d:
		*exitinfo = IOIO_TYPE_INS | IOIO_SEG_ES;
		port = ctxt->regs->dx & 0xffff;
		break;
	case 0x6e: /* OUTS */
	case 0x6f:
		*exitinfo = IOIO_TYPE_OUTS | IOIO_SEG_DS;
		port = ctxt->regs->dx & 0xffff;
		break;
	case 0xe4: /* IN imm8 */
	case 0xe5:
		*exitinfo = IOIO_TYPE_IN;
		port = insn->immediate & 0xff;
		break;
	case 0xe6: /* OUT imm8 */
	case 0xe7:
		*exitinfo = IOIO_TYPE_OUT;
		port = insn->immediate & 0xff;
		break;
	case 0xec: /* IN DX */
	case 0xed:
		*exitinfo = IOIO_TYPE_IN;
		port = ctxt->regs->dx & 0xffff;
		break;
	default: /* 0xee, 0xef: OUT DX */
		*exitinfo = IOIO_TYPE_OUT;
		port = ctxt->regs->dx & 0xffff;
		break;
	}
	*exitinfo |= port << 16;
	/* Even opcodes move a byte; odd ones a word or a dword (REX.W does not make a qword). */
	if (!(op & 1))
		*exitinfo |= IOIO_DATA_8;
	else
		*exitinfo |= insn->opnd_bytes == 2 ? IOIO_DATA_16 : IOIO_DATA_32;
	*exitinfo |= insn->addr_bytes == 4 ? IOIO_ADDR_32 : IOIO_ADDR_64;
	if (insn->rep)
		*exitinfo |= IOIO_REP;
	/* String I/O with 32-bit addresses (ESI/EDI) is not supported: compilers never emit it. */
	if ((*exitinfo & IOIO_TYPE_STR) && insn->addr_bytes != 8)
		return ES_DECODE_FAILED;
	return ES_OK;
}

/* `count` elements of `size` bytes between guest memory at `mem` (going down when `backwards`) and `buf`. */
static void vc_insn_string_copy(u8 *mem, u8 *buf, unsigned int size, unsigned int count, bool backwards,
				bool to_mem)
{
	long step = backwards ? -(long)size : (long)size;
	unsigned int i;

	for (i = 0; i < count; i++, mem += step, buf += size) {
		if (to_mem)
			memcpy(mem, buf, size);
		else
			memcpy(buf, mem, size);
	}
}

static enum es_result vc_handle_ioio(struct ghcb *ghcb, struct es_em_ctxt *ctxt)
{
	struct pt_regs *regs = ctxt->regs;
	u64 exit_info_1, exit_info_2;
	enum es_result ret;

	ret = vc_ioio_exitinfo(ctxt, &exit_info_1);
	if (ret != ES_OK)
		return ret;

	if (exit_info_1 & IOIO_TYPE_STR) {
		/*
		 * (REP) INS/OUTS: the data goes through the GHCB's shared buffer, named as the scratch
		 * area. A REP larger than the buffer takes several #VCs: each moves what fits, updates
		 * RSI/RDI/RCX and lets the CPU run the instruction again (ES_RETRY).
		 */
		bool df = regs->flags & X86_EFLAGS_DF;
		unsigned int io_bytes = (exit_info_1 >> 4) & 7;
		unsigned int ghcb_count = sizeof(ghcb->shared_buffer) / io_bytes;
		u64 op_count = (exit_info_1 & IOIO_REP) ? regs->cx : 1;
		unsigned long exit_bytes;

		exit_info_2 = op_count < ghcb_count ? op_count : ghcb_count;
		exit_bytes = exit_info_2 * io_bytes;

		if (!(exit_info_1 & IOIO_TYPE_IN))
			vc_insn_string_copy((u8 *)regs->si, ghcb->shared_buffer, io_bytes, exit_info_2, df, false);

		ghcb_set_sw_scratch(ghcb, __pa(ghcb) + offsetof(struct ghcb, shared_buffer));
		ret = sev_es_ghcb_hv_call(ghcb, &ctxt->fi, SVM_EXIT_IOIO, exit_info_1, exit_info_2);
		if (ret != ES_OK)
			return ret;

		if (exit_info_1 & IOIO_TYPE_IN) {
			vc_insn_string_copy((u8 *)regs->di, ghcb->shared_buffer, io_bytes, exit_info_2, df, true);
			regs->di += df ? -exit_bytes : exit_bytes;
		} else {
			regs->si += df ? -exit_bytes : exit_bytes;
		}
		/* Linux returns ES_RETRY for any RCX != 0, which loops a plain INS/OUTS forever. */
		if (!(exit_info_1 & IOIO_REP))
			return ES_OK;
		regs->cx -= exit_info_2;
		return regs->cx ? ES_RETRY : ES_OK;
	}

	/* IN/OUT to or from AL, AX or EAX: the data travels in the GHCB's RAX. */
	unsigned int bytes = (exit_info_1 >> 4) & 7;
	struct reg_opnd ax = { &regs->ax, 0 };

	ghcb_set_rax(ghcb, (exit_info_1 & IOIO_TYPE_IN) ? 0 : reg_read(ax, bytes));
	ret = sev_es_ghcb_hv_call(ghcb, &ctxt->fi, SVM_EXIT_IOIO, exit_info_1, 0);
	if (ret != ES_OK)
		return ret;
	if (exit_info_1 & IOIO_TYPE_IN) {
		if (!ghcb_rax_is_valid(ghcb))
			return ES_VMM_ERROR;
		reg_write(ax, ghcb->save.rax, bytes);
	}
	return ES_OK;
}

static enum es_result vc_handle_msr(struct ghcb *ghcb, struct es_em_ctxt *ctxt)
{
	struct pt_regs *regs = ctxt->regs;
	u64 exit_info_1 = ctxt->insn.opcode[1] == 0x30; /* 1: WRMSR, 0: RDMSR */
	enum es_result ret;

	ghcb_set_rcx(ghcb, regs->cx);
	if (exit_info_1) {
		ghcb_set_rax(ghcb, regs->ax);
		ghcb_set_rdx(ghcb, regs->dx);
	}
	ret = sev_es_ghcb_hv_call(ghcb, &ctxt->fi, SVM_EXIT_MSR, exit_info_1, 0);
	if (ret == ES_OK && !exit_info_1) {
		regs->ax = ghcb->save.rax;
		regs->dx = ghcb->save.rdx;
	}
	return ret;
}

/* WBINVD: nothing to send, nothing to read back (Linux's vc_handle_wbinvd). */
static enum es_result vc_handle_wbinvd(struct ghcb *ghcb, struct es_em_ctxt *ctxt)
{
	return sev_es_ghcb_hv_call(ghcb, &ctxt->fi, SVM_EXIT_WBINVD, 0, 0);
}

#define PTE_PRESENT BIT(0)
#define PTE_PSE BIT(7)
#define PTE_PFN_MASK 0x000ffffffffff000UL
/* An entry's address bits without the C-bit (Linux strips it with __sme_clr / sme_me_mask). */
#define pte_pfn_addr(pte) __sme_clr((pte) & PTE_PFN_MASK)

/*
 * The guest-physical address of a linear one, walking the 4-level page tables from CR3 (the
 * tables themselves are read through the identity map); a hole is a #PF to forward. The C-bit is
 * no address bit: stripped from every entry, so an MMIO GPA goes to KVM without it. Linux's
 * vc_slow_virt_to_phys.
 */
static enum es_result vc_slow_virt_to_phys(struct es_em_ctxt *ctxt, u64 va, u64 *pa)
{
	u64 table = pte_pfn_addr(read_cr3());
	unsigned int shift;

	for (shift = 39;; shift -= 9) {
		u64 pte = ((const u64 *)table)[(va >> shift) & 511];

		if (!(pte & PTE_PRESENT)) {
			ctxt->fi.vector = X86_TRAP_PF;
			ctxt->fi.error_code = 0;
			ctxt->fi.cr2 = va;
			return ES_EXCEPTION;
		}
		if (shift == 12 || (pte & PTE_PSE)) {
			u64 offset = BIT(shift) - 1;

			*pa = (pte_pfn_addr(pte) & ~offset) | (va & offset);
			return ES_OK;
		}
		table = pte_pfn_addr(pte);
	}
}

/* One MMIO access of `bytes` (at most 8) through the GHCB, the data in its shared buffer. */
static enum es_result vc_do_mmio(struct ghcb *ghcb, struct es_em_ctxt *ctxt, unsigned int bytes, bool read)
{
	u64 exit_code = read ? SVM_VMGEXIT_MMIO_READ : SVM_VMGEXIT_MMIO_WRITE;
	enum es_result res;
	u64 paddr;

	res = vc_slow_virt_to_phys(ctxt, ctxt->insn.ea, &paddr);
	if (res != ES_OK)
		return res;
	ghcb_set_sw_scratch(ghcb, __pa(ghcb) + offsetof(struct ghcb, shared_buffer));
	return sev_es_ghcb_hv_call(ghcb, &ctxt->fi, exit_code, paddr, bytes);
}

/* An access to memory without a memslot (a nested page fault KVM reflects as #VC): Linux's vc_handle_mmio. */
static enum es_result vc_handle_mmio(struct ghcb *ghcb, struct es_em_ctxt *ctxt)
{
	struct insn *insn = &ctxt->insn;
	unsigned int op = insn->opcode[0] == 0x0f ? 0x0f00 | insn->opcode[1] : insn->opcode[0];
	/* 88-8b, a0-a3, c6/c7: the odd opcode of each pair is the full-size one. */
	unsigned int bytes = (op & 1) ? insn->opnd_bytes : 1;
	/* The register operand: ModRM.reg, or rAX for the moffs forms. */
	unsigned int reg = (op >= 0xa0 && op <= 0xa3) ? 0 : insn->modrm_reg;
	u8 *buf = ghcb->shared_buffer;
	enum es_result ret;
	u64 val;

	switch (op) {
	case 0x88: /* stores */
	case 0x89:
	case 0xa2:
	case 0xa3:
	case 0xc6:
	case 0xc7:
		val = op >= 0xc6 ? insn->immediate : reg_read(vc_reg_opnd(ctxt, reg, bytes), bytes);
		memcpy(buf, &val, bytes);
		return vc_do_mmio(ghcb, ctxt, bytes, false);
	case 0x8a: /* loads */
	case 0x8b:
	case 0xa0:
	case 0xa1:
		ret = vc_do_mmio(ghcb, ctxt, bytes, true);
		if (ret != ES_OK)
			return ret;
		reg_write(vc_reg_opnd(ctxt, reg, bytes), load_le(buf, bytes), bytes);
		return ES_OK;
	default: /* MOVZX, MOVSX: 0f b6/be take a byte, 0f b7/bf a word */
		bytes = (op & 1) ? 2 : 1;
		ret = vc_do_mmio(ghcb, ctxt, bytes, true);
		if (ret != ES_OK)
			return ret;
		val = load_le(buf, bytes);
		if (op >= 0x0fbe && (val & BIT(8 * bytes - 1)))
			val |= ~bytes_mask(bytes);
		reg_write(vc_reg_opnd(ctxt, reg, insn->opnd_bytes), val, insn->opnd_bytes);
		return ES_OK;
	}
}

static enum es_result vc_handle_exitcode(struct es_em_ctxt *ctxt, struct ghcb *ghcb, unsigned long exit_code)
{
	enum es_result ret;

	switch (exit_code) {
	case SVM_EXIT_CPUID:
	case SVM_EXIT_IOIO:
	case SVM_EXIT_MSR:
	case SVM_EXIT_WBINVD:
	case SVM_EXIT_NPF:
		break;
	default:
		return ES_UNSUPPORTED;
	}
	ret = vc_decode_insn(ctxt, exit_code);
	if (ret != ES_OK)
		return ret;
	switch (exit_code) {
	case SVM_EXIT_CPUID:
		return vc_handle_cpuid(ghcb, ctxt);
	case SVM_EXIT_IOIO:
		return vc_handle_ioio(ghcb, ctxt);
	case SVM_EXIT_MSR:
		return vc_handle_msr(ghcb, ctxt);
	case SVM_EXIT_WBINVD:
		return vc_handle_wbinvd(ghcb, ctxt);
	default:
		return vc_handle_mmio(ghcb, ctxt);
	}
}

/* CPUID leaves whose answer depends on ECX, which the MSR protocol cannot send (cpuid_function_is_indexed). */
static bool cpuid_function_is_indexed(u32 fn)
{
	switch (fn) {
	case 4:
	case 7:
	case 0xb:
	case 0xd:
	case 0xf:
	case 0x10:
	case 0x12:
	case 0x14:
	case 0x17:
	case 0x18:
	case 0x1d:
	case 0x1e:
	case 0x1f:
	case 0x8000001d:
		return true;
	}
	return false;
}

/*
 * A #VC before setup_ghcb(): only CPUID can be answered, one register per MSR-protocol request
 * (Linux's do_vc_no_ghcb). Like Linux it refuses to believe a hypervisor that hides SEV.
 */
static void do_vc_no_ghcb(struct pt_regs *regs, unsigned long exit_code)
{
	const u8 *ip = (const u8 *)regs->ip;
	u32 fn = (u32)regs->ax;
	u32 leaf[4];
	int i;

	if (exit_code != SVM_EXIT_CPUID || ip[0] != 0x0f || ip[1] != 0xa2)
		sev_es_terminate(SEV_TERM_SET_LIB, LIB_TERM_NO_GHCB);
	if (cpuid_function_is_indexed(fn) && (u32)regs->cx)
		sev_es_terminate(SEV_TERM_SET_GEN, GHCB_SEV_ES_GEN_REQ);
	for (i = GHCB_CPUID_REQ_EAX; i <= GHCB_CPUID_REQ_EDX; i++)
		if (__sev_cpuid_hv(fn, i, &leaf[i]))
			sev_es_terminate(SEV_TERM_SET_GEN, GHCB_SEV_ES_GEN_REQ);
	if ((fn == 0x80000000 && leaf[0] < 0x8000001f) || (fn == 0x8000001f && !(leaf[0] & BIT(1))))
		sev_es_terminate(SEV_TERM_SET_GEN, GHCB_SEV_ES_GEN_REQ);
	regs->ax = leaf[0];
	regs->bx = leaf[1];
	regs->cx = leaf[2];
	regs->dx = leaf[3];
	regs->ip += 2; /* past CPUID (0f a2) */
}

/* The exception table the _ASM_EXTABLE entries build (sev-es.ld collects them). */
struct exception_table_entry {
	u64 insn, fixup;
};

extern const struct exception_table_entry __start___ex_table[], __stop___ex_table[];

/* The vector the last fixup took (rdmsr_safe / wrmsr_safe read it), 0 for none. */
static volatile int exception_fixup_vector;

bool fixup_exception(struct pt_regs *regs, int vector)
{
	const struct exception_table_entry *e;

	for (e = __start___ex_table; e < __stop___ex_table; e++) {
		if (e->insn == regs->ip) {
			regs->ip = e->fixup;
			exception_fixup_vector = vector;
			return true;
		}
	}
	return false;
}

int rdmsr_safe(u32 msr, u64 *val)
{
	u32 lo, hi;

	exception_fixup_vector = 0;
	asm volatile("1: rdmsr\n2:\n\t" _ASM_EXTABLE(1b, 2b) : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
	*val = exception_fixup_vector ? 0 : ((u64)hi << 32) | lo;
	return exception_fixup_vector;
}

int wrmsr_safe(u32 msr, u64 val)
{
	exception_fixup_vector = 0;
	asm volatile("1: wrmsr\n2:\n\t" _ASM_EXTABLE(1b, 2b)
		     : : "c"(msr), "a"((u32)val), "d"((u32)(val >> 32)) : "memory");
	return exception_fixup_vector;
}

int vmgexit_safe(void)
{
	exception_fixup_vector = 0;
	/* VMGEXIT (f3 0f 01 d9); an exception injected with the answer is taken at 1: and resumes there. */
	asm volatile(".byte 0xf3, 0x0f, 0x01, 0xd9\n1:\n\t" _ASM_EXTABLE(1b, 1b) ::: "memory");
	return exception_fixup_vector;
}

void do_vc(struct pt_regs *regs)
{
	unsigned long exit_code = regs->orig_ax;
	struct ghcb *ghcb = boot_ghcb;
	struct es_em_ctxt ctxt;
	enum es_result result;

	if (!ghcb) {
		do_vc_no_ghcb(regs, exit_code);
		return;
	}
	vc_ghcb_invalidate(ghcb);
	memset(&ctxt, 0, sizeof(ctxt));
	ctxt.regs = regs;
	result = vc_handle_exitcode(&ctxt, ghcb, exit_code);

	switch (result) {
	case ES_OK:
		regs->ip += ctxt.insn.length; /* vc_finish_insn */
		break;
	case ES_RETRY:
		break;
	case ES_EXCEPTION:
		/* Linux's vc_forward_exception runs the exception's handler; this library has fixups only. */
		if (!fixup_exception(regs, (int)ctxt.fi.vector))
			sev_es_terminate(SEV_TERM_SET_LIB, LIB_TERM_EXCEPTION | ctxt.fi.vector);
		break;
	case ES_UNSUPPORTED:
		sev_es_terminate(SEV_TERM_SET_LIB, LIB_TERM_VC_UNSUPPORTED);
	case ES_VMM_ERROR:
		sev_es_terminate(SEV_TERM_SET_LIB, LIB_TERM_VMM_ERROR);
	case ES_DECODE_FAILED:
		sev_es_terminate(SEV_TERM_SET_LIB, LIB_TERM_VC_DECODE);
	}
}
