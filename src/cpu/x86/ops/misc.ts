/**
 * Instructions compiled code and firmware use that need no family of their own: stack frames
 * (ENTER, LEAVE), hints and fences (PAUSE, LFENCE/MFENCE/SFENCE, PREFETCH*, CLFLUSH, ENDBR), XLAT,
 * CMPXCHG8B/16B, SMSW, CLTS, SWAPGS.
 */
import iced from 'iced-x86';
import { SVM_EXIT_PAUSE, SVM_EXIT_READ_CR0, SVM_EXIT_WRITE_CR0 } from '../../../uapi/svm.js';
import { VCPU_REGS_RBP } from '../../regs.js';
import { getS64Number, SAVE_KERNEL_GS_BASE, setS64Number } from '../../vmcb.js';
import type { X86Cpu } from '../cpu.js';
import { RFLAGS_ZF, readRflags, writeRflags } from '../flags.js';
import { type Exec, NEXT } from '../insn.js';
import { ACC_READ, physicalAddress, readLinear, writeLinear } from '../mmu.js';
import { linearAddress, readReg, writeReg, writeRm0 } from '../operands.js';
import { getRsp, pop, push, setRsp, stackWidth } from '../segments.js';
import { hi32, SEG_DS, SEG_GS } from '../state.js';
import { GP_VECTOR, UD_VECTOR } from '../vectors.js';
import { type Builder, codeStemSize } from './builder.js';

const { Mnemonic } = iced;

const nop: Exec = () => NEXT;

/** The operand size of ENTER/LEAVE from iced's Code (Leavew, Enterd_imm16_imm8, …): 66h's or the mode's. */
function frameSize(ins: InstanceType<typeof iced.Instruction>): number {
  return codeStemSize(iced.Code[ins.code]!, 'Leave', 'Enter');
}

/** LEAVE: RSP = RBP, then POP RBP (at the operand size). */
const leave: Builder = (ins, rec) => {
  rec.size = frameSize(ins);
  return (cpu, i) => {
    const width = stackWidth(cpu);
    const bp = readReg(cpu, VCPU_REGS_RBP, width);
    const bpHi = cpu.hi;
    const saved = getRsp(cpu);
    setRsp(cpu, width === 8 ? (bpHi | 0) * 0x1_0000_0000 + bp : bp, width);
    try {
      const v = pop(cpu, i.size);
      writeReg(cpu, VCPU_REGS_RBP, i.size, v, cpu.hi);
    } catch (e) {
      setRsp(cpu, saved, 8);
      throw e;
    }
    return NEXT;
  };
};

/** ENTER imm16, 0: push RBP, RBP = RSP, RSP -= size (nesting levels above 0 are not modelled). */
const enter: Builder = (ins, rec) => {
  if (ins.immediate8_2nd !== 0) return undefined;
  rec.size = frameSize(ins);
  const frame = ins.immediate16;
  return (cpu, i) => {
    const bp = readReg(cpu, VCPU_REGS_RBP, i.size);
    push(cpu, i.size, bp, cpu.hi);
    const width = stackWidth(cpu);
    const sp = getRsp(cpu);
    writeReg(cpu, VCPU_REGS_RBP, width, sp >>> 0, width === 8 ? hi32(sp) : 0);
    setRsp(
      cpu,
      width === 8 ? sp - frame : width === 4 ? ((sp >>> 0) - frame) >>> 0 : ((sp & 0xffff) - frame) & 0xffff,
      width,
    );
    return NEXT;
  };
};

/** PAUSE: KVM intercepts it (pause-loop exiting) — an automatic exit for SEV-ES — else a hint. */
const pause: Exec = (cpu) =>
  cpu.vmcb.isIntercept(SVM_EXIT_PAUSE) ? cpu.intercept(SVM_EXIT_PAUSE, 0, 0, 0, 0, cpu.nextRip) : NEXT;

/** XLAT: AL = [seg:rBX + AL]. */
const xlat: Exec = (cpu, i) => {
  const s = cpu.s;
  const base = readReg(cpu, 3, i.asize);
  const off = base + readReg(cpu, 0, 1);
  const seg = i.mseg >= 0 ? i.mseg : SEG_DS;
  const la = s.codeSize === 64 ? (seg >= 4 ? s.segBase[seg]! : 0) + off : (s.segBase[seg]! + off) >>> 0;
  writeReg(cpu, 0, 1, readLinear(cpu, la, 1), 0);
  return NEXT;
};

/**
 * CMPXCHG8B/16B m: compare EDX:EAX (RDX:RAX) with the memory operand; equal: store ECX:EBX
 * (RCX:RBX) and set ZF, else load it into EDX:EAX and clear ZF. The destination is written either
 * way (the locked cycle's write-back). CMPXCHG16B needs 16-byte alignment.
 */
function cmpxchgWide(sixteen: boolean): Exec {
  return (cpu, i) => {
    const half = sixteen ? 8 : 4;
    const la = linearAddress(cpu, i);
    if (sixteen && la % 16 !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
    const mLo = readLinear(cpu, la, half);
    const mLoHi = cpu.hi;
    const mHi = readLinear(cpu, la + half, half);
    const mHiHi = cpu.hi;
    const aLo = readReg(cpu, 0, half);
    const aLoHi = cpu.hi;
    const aHi = readReg(cpu, 2, half);
    const aHiHi = cpu.hi;
    const equal = mLo === aLo && mLoHi === aLoHi && mHi === aHi && mHiHi === aHiHi;
    const f = readRflags(cpu.f);
    if (equal) {
      const bLo = readReg(cpu, 3, half);
      const bLoHi = cpu.hi;
      const bHi = readReg(cpu, 1, half);
      writeLinear(cpu, la, half, bLo, bLoHi);
      writeLinear(cpu, la + half, half, bHi, cpu.hi);
      writeRflags(cpu.f, f | RFLAGS_ZF);
    } else {
      writeLinear(cpu, la, half, mLo, mLoHi);
      writeLinear(cpu, la + half, half, mHi, mHiHi);
      writeReg(cpu, 0, half, mLo, mLoHi);
      writeReg(cpu, 2, half, mHi, mHiHi);
      writeRflags(cpu.f, f & ~RFLAGS_ZF);
    }
    return NEXT;
  };
}

/**
 * SMSW: the low 16 bits of CR0 (a register destination gets CR0 up to its size). The CR0 read
 * intercept covers it, without decode assist (exit_info_1 bit 63 clear).
 */
const smsw: Exec = (cpu, i) => {
  if (cpu.vmcb.isIntercept(SVM_EXIT_READ_CR0))
    return cpu.intercept(SVM_EXIT_READ_CR0, 0, 0, 0, 0, cpu.nextRip);
  const cr0 = cpu.s.cr0 >>> 0;
  writeRm0(cpu, i, i.r0 >= 0 ? i.size : 2, i.size === 2 || i.r0 < 0 ? cr0 & 0xffff : cr0, 0);
  return NEXT;
};

/** CLTS: CR0.TS := 0, at CPL 0; a CR0 write the CR0 write intercept covers (no decode assist). */
const clts: Exec = (cpu) => {
  if (cpu.s.cpl !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
  if (cpu.vmcb.isIntercept(SVM_EXIT_WRITE_CR0))
    return cpu.intercept(SVM_EXIT_WRITE_CR0, 0, 0, 0, 0, cpu.nextRip);
  cpu.s.cr0 &= ~8;
  return NEXT;
};

/** SWAPGS (64-bit mode, CPL 0): GS.base ↔ KERNEL_GS_BASE (kept in the save area). */
const swapgs: Exec = (cpu: X86Cpu) => {
  const s = cpu.s;
  if (s.codeSize !== 64) cpu.raise({ vector: UD_VECTOR });
  if (s.cpl !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
  const k = getS64Number(cpu.save, SAVE_KERNEL_GS_BASE);
  setS64Number(cpu.save, SAVE_KERNEL_GS_BASE, s.segBase[SEG_GS]!);
  s.segBase[SEG_GS] = k;
  return NEXT;
};

/**
 * CLFLUSH/CLFLUSHOPT: nothing to do for memory the model keeps coherent, but under SEV a line
 * held decrypted is written back encrypted and evicted (the model's line is the page), so what a
 * later private access sees is memory again. Firmware flushes before it changes a page's C-bit
 * (edk2's MemEncryptSevLib); without the flush the old plaintext would be written back over what
 * it wrote through the new mapping. The page walk is checked as a one-byte read's (#PF, #GP).
 */
const clflush: Exec = (cpu, i) => {
  const enc = cpu.enc;
  if (!enc) return NEXT;
  const gpa = physicalAddress(cpu, linearAddress(cpu, i), ACC_READ);
  // Only RAM the CPU can reach holds a decrypted copy; a flush of anything else (no memslot, a
  // page not populated yet) reaches no memory and takes no nested fault.
  if (!cpu.mem.page?.(gpa - (gpa % 4096), false)) return NEXT;
  enc.flushPage(cpu.mem.spa!(gpa));
  // The TLB may hold the page's dropped plaintext.
  cpu.tlb.flush();
  return NEXT;
};

export const MISC_BUILDERS: [number, Builder][] = [
  [Mnemonic.Leave, leave],
  [Mnemonic.Enter, enter],
  [Mnemonic.Pause, () => pause],
  [Mnemonic.Lfence, () => nop],
  [Mnemonic.Mfence, () => nop],
  [Mnemonic.Sfence, () => nop],
  [Mnemonic.Prefetchnta, () => nop],
  [Mnemonic.Prefetcht0, () => nop],
  [Mnemonic.Prefetcht1, () => nop],
  [Mnemonic.Prefetcht2, () => nop],
  [Mnemonic.Prefetchw, () => nop],
  [Mnemonic.Clflush, () => clflush],
  [Mnemonic.Clflushopt, () => clflush],
  [Mnemonic.Endbr64, () => nop],
  [Mnemonic.Endbr32, () => nop],
  [Mnemonic.Xlatb, () => xlat],
  [Mnemonic.Cmpxchg8b, () => cmpxchgWide(false)],
  [Mnemonic.Cmpxchg16b, () => cmpxchgWide(true)],
  [Mnemonic.Smsw, () => smsw],
  [Mnemonic.Clts, () => clts],
  [Mnemonic.Swapgs, () => swapgs],
];
