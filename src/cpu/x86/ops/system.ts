/**
 * Instructions KVM intercepts (port I/O, HLT, CPUID, RDMSR/WRMSR, VMMCALL, INVD/WBINVD, RDPMC,
 * CR accesses), VMGEXIT, and the system and flag instructions that run in the CPU (CLI/STI,
 * CLD/STD, CLC/STC/CMC, PUSHF/POPF, LAHF/SAHF, LGDT/LIDT/SGDT/SIDT, LTR/LLDT, MOV CR, INVLPG,
 * RDTSC/RDTSCP). An intercepted instruction #VMEXITs before it executes, with next_rip = its end
 * (KVM completes it and moves RIP), or for an SEV-ES guest raises #VC. XGETBV and XSETBV are the
 * XSAVE feature set's (xsave.ts).
 */
import iced from 'iced-x86';
import { MSR_AMD64_SEV } from '../../../uapi/msr-index.js';
import {
  SVM_EXIT_CPUID,
  SVM_EXIT_CR0_SEL_WRITE,
  SVM_EXIT_CR0_WRITE_TRAP,
  SVM_EXIT_HLT,
  SVM_EXIT_INVD,
  SVM_EXIT_IOIO,
  SVM_EXIT_MSR,
  SVM_EXIT_RDPMC,
  SVM_EXIT_READ_CR0,
  SVM_EXIT_READ_DR0,
  SVM_EXIT_VMGEXIT,
  SVM_EXIT_VMMCALL,
  SVM_EXIT_WBINVD,
  SVM_EXIT_WRITE_CR0,
  SVM_EXIT_WRITE_DR0,
  SVM_IOIO_ASIZE_SHIFT,
  SVM_IOIO_PORT_SHIFT,
  SVM_IOIO_SIZE_SHIFT,
  SVM_IOIO_TYPE_MASK,
} from '../../../uapi/svm.js';
import { CR0_PE, CR0_PG, CR4_PAE, EFER_LMA, EFER_LME } from '../../reset.js';
import { SVM_NESTED_CTL_SEV_ENABLE, SVM_NESTED_CTL_SEV_ES_ENABLE } from '../../vmcb.js';
import type { X86Cpu } from '../cpu.js';
import {
  RFLAGS_AF,
  RFLAGS_CF,
  RFLAGS_DF,
  RFLAGS_IF,
  RFLAGS_PF,
  RFLAGS_SF,
  RFLAGS_ZF,
  readRflags,
  writeRflags,
} from '../flags.js';
import { type Exec, NEXT, REG_AH, REG_NONE } from '../insn.js';
import { readLinear, writeLinear } from '../mmu.js';
import { nativeRdmsr, nativeWrmsr } from '../msr.js';
import { linearAddress, readReg, readRm0, writeReg } from '../operands.js';
import { pop, push, readDescriptor, realMode, setAccessed } from '../segments.js';
import { hi32 } from '../state.js';
import { GP_VECTOR, UD_VECTOR } from '../vectors.js';
import type { Builder } from './builder.js';

const { Mnemonic, OpKind, Register } = iced;

/** IOIO exit_info_1 for an IN/OUT: port, operand size, address size, direction. */
function ioioInfo(port: number, size: number, asize: number, isIn: boolean): number {
  const a = asize === 8 ? 4 : asize === 4 ? 2 : 1;
  return (
    ((port << SVM_IOIO_PORT_SHIFT) |
      (size << SVM_IOIO_SIZE_SHIFT) |
      (a << SVM_IOIO_ASIZE_SHIFT) |
      (isIn ? SVM_IOIO_TYPE_MASK : 0)) >>>
    0
  );
}

/** CPL > IOPL outside real mode: the I/O permission bitmap of the TSS decides; not modelled (#GP). */
function ioAllowed(cpu: X86Cpu): void {
  if (realMode(cpu)) return;
  const iopl = (readRflags(cpu.f) >>> 12) & 3;
  if (cpu.s.cpl > iopl) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
}

/** IN/OUT with an immediate port or DX: KVM intercepts every port (its IOPM is all ones). */
function io(isIn: boolean): Builder {
  return (ins, rec) => {
    const portOp = isIn ? 1 : 0;
    const dataOp = isIn ? 0 : 1;
    const dx = ins.opKind(portOp) === OpKind.Register;
    const data = ins.opRegister(dataOp);
    rec.size = data === Register.AL ? 1 : data === Register.AX ? 2 : 4;
    return (cpu, i) => {
      ioAllowed(cpu);
      const port = dx ? readReg(cpu, 2, 2) : i.immLo & 0xff;
      const next = cpu.nextRip;
      const asize = cpu.s.codeSize / 8;
      return cpu.intercept(
        SVM_EXIT_IOIO,
        ioioInfo(port, i.size, asize, isIn),
        0,
        next >>> 0,
        hi32(next),
        next,
      );
    };
  };
}

/** An instruction KVM always intercepts, with no exit information but next_rip. */
function intercepted(code: number, info1 = 0): Exec {
  return (cpu) => {
    const next = cpu.nextRip;
    return cpu.intercept(code, info1, 0, 0, 0, next);
  };
}

/** SEV_STATUS (MSR_AMD64_SEV): bit 0 SEV, bit 1 SEV-ES, as the VMCB enables them. */
function sevStatus(nestedCtl: number): number {
  return (nestedCtl & SVM_NESTED_CTL_SEV_ENABLE ? 1 : 0) | (nestedCtl & SVM_NESTED_CTL_SEV_ES_ENABLE ? 2 : 0);
}

/**
 * RDMSR/WRMSR: #GP at CPL > 0; intercepted when the MSR permission map says so (exit_info_1: 0
 * read, 1 write), else done by the CPU (msr.ts).
 */
function msr(write: boolean): Exec {
  return (cpu) => {
    if (cpu.s.cpl !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
    const index = readReg(cpu, 1, 4);
    // SEV_STATUS is the hardware's answer to a guest under SEV: never intercepted (APM 15.34.10),
    // read-only (a write is #GP); Linux's and OVMF's early boot read it before any #VC handler can
    // do MSRs.
    if (index === MSR_AMD64_SEV && cpu.vmcb.nestedCtl & SVM_NESTED_CTL_SEV_ENABLE) {
      if (write) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
      writeReg(cpu, 2, 4, 0, 0);
      writeReg(cpu, 0, 4, sevStatus(cpu.vmcb.nestedCtl), 0);
      return NEXT;
    }
    if (cpu.vmcb.msrIntercepted(index, write))
      return cpu.intercept(SVM_EXIT_MSR, write ? 1 : 0, 0, 0, 0, cpu.nextRip);
    if (write) nativeWrmsr(cpu, index, readReg(cpu, 0, 4), readReg(cpu, 2, 4));
    else {
      const lo = nativeRdmsr(cpu, index);
      writeReg(cpu, 2, 4, cpu.hi, 0);
      writeReg(cpu, 0, 4, lo, 0);
    }
    return NEXT;
  };
}

/** CLI/STI and the other flag instructions. */
function setFlag(bit: number, on: boolean | 'toggle'): Exec {
  return (cpu) => {
    const f = readRflags(cpu.f);
    writeRflags(cpu.f, on === 'toggle' ? f ^ bit : on ? f | bit : f & ~bit);
    return NEXT;
  };
}

/** CLI/STI: IF changes at CPL ≤ IOPL (or in real mode); otherwise #GP (no VME/PVI modelled). */
function interruptFlag(on: boolean): Exec {
  return (cpu) => {
    if (!realMode(cpu) && cpu.s.cpl > ((readRflags(cpu.f) >>> 12) & 3))
      cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
    const f = readRflags(cpu.f);
    // STI that sets IF holds interrupts off until the next instruction has run (the STI shadow).
    if (on && !(f & RFLAGS_IF)) cpu.shadowRip = cpu.nextRip;
    writeRflags(cpu.f, on ? f | RFLAGS_IF : f & ~RFLAGS_IF);
    return NEXT;
  };
}

/** PUSHF/POPF: the flags image without VM and RF; POPF changes IOPL at CPL 0 and IF at CPL ≤ IOPL. */
function pushf(size: number): Exec {
  return (cpu) => {
    const f = readRflags(cpu.f) & ~0x3_0000;
    push(cpu, size, f, 0);
    return NEXT;
  };
}

function popf(size: number): Exec {
  return (cpu) => {
    const v = pop(cpu, size);
    const old = readRflags(cpu.f);
    const cpl = realMode(cpu) ? 0 : cpu.s.cpl;
    const iopl = (old >>> 12) & 3;
    let mask = 0x24_4dd5; // CF PF AF ZF SF TF DF OF NT AC ID
    if (cpl === 0) mask |= 0x3000;
    if (cpl <= iopl) mask |= RFLAGS_IF;
    if (size === 2) mask &= 0xffff;
    writeRflags(cpu.f, (old & ~mask) | (v & mask) | 2);
    return NEXT;
  };
}

/** LAHF/SAHF: AH ↔ SF ZF AF PF CF. */
const lahf: Exec = (cpu) => {
  writeReg(cpu, REG_AH, 1, (readRflags(cpu.f) & 0xd5) | 2, 0);
  return NEXT;
};
const sahf: Exec = (cpu) => {
  const ah = readReg(cpu, REG_AH, 1);
  const mask = RFLAGS_SF | RFLAGS_ZF | RFLAGS_AF | RFLAGS_PF | RFLAGS_CF;
  writeRflags(cpu.f, (readRflags(cpu.f) & ~mask) | (ah & mask));
  return NEXT;
};

/** LGDT/LIDT: limit (16 bits) and base (24 bits with a 16-bit operand, 32, or 64 in 64-bit mode). */
function loadTable(idt: boolean): Exec {
  return (cpu, i) => {
    if (!realMode(cpu) && cpu.s.cpl !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
    const la = linearAddress(cpu, i);
    const limit = readLinear(cpu, la, 2);
    const base64 = cpu.s.codeSize === 64;
    let base = readLinear(cpu, la + 2, base64 ? 8 : 4);
    if (base64) base = (cpu.hi | 0) * 0x1_0000_0000 + base;
    else if (i.size === 2) base &= 0xff_ffff;
    if (idt) {
      cpu.s.idtrLimit = limit;
      cpu.s.idtrBase = base;
    } else {
      cpu.s.gdtrLimit = limit;
      cpu.s.gdtrBase = base;
    }
    return NEXT;
  };
}

/** SGDT/SIDT. */
function storeTable(idt: boolean): Exec {
  return (cpu, i) => {
    const la = linearAddress(cpu, i);
    const s = cpu.s;
    const base = idt ? s.idtrBase : s.gdtrBase;
    writeLinear(cpu, la, 2, idt ? s.idtrLimit : s.gdtrLimit, 0);
    const lo = base >>> 0;
    if (s.codeSize === 64) writeLinear(cpu, la + 2, 8, lo, hi32(base));
    else writeLinear(cpu, la + 2, 4, lo, 0);
    return NEXT;
  };
}

/**
 * STR/SLDT: the task register's or LDTR's selector into r/m16 (a 32/64-bit register gets it
 * zero-extended); #UD in real mode.
 */
function storeSelector(tr: boolean): Exec {
  return (cpu, i) => {
    if (realMode(cpu)) cpu.raise({ vector: UD_VECTOR });
    const sel = tr ? cpu.s.trSel : cpu.s.ldtrSel;
    if (i.r0 !== REG_NONE) writeReg(cpu, i.r0, i.size, sel, 0);
    else writeLinear(cpu, linearAddress(cpu, i), 2, sel, 0);
    return NEXT;
  };
}

/** LTR: an available TSS descriptor (type 9, or 1 for a 16-bit one), marked busy. */
const ltr: Exec = (cpu, i) => {
  if (realMode(cpu)) cpu.raise({ vector: UD_VECTOR });
  if (cpu.s.cpl !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
  const sel = readRm0(cpu, i, 2) & 0xffff;
  if ((sel & 0xfffc) === 0 || sel & 4) cpu.raise({ vector: GP_VECTOR, errorCode: sel & 0xfffc });
  const d = readDescriptor(cpu, sel);
  const type = d.attr & 0x1f;
  if (type !== 9 && type !== 1) cpu.raise({ vector: GP_VECTOR, errorCode: sel & 0xfffc });
  const s = cpu.s;
  let base = d.base;
  if (s.codeSize === 64 || s.efer & EFER_LMA)
    base += readLinear(cpu, s.gdtrBase + (sel & 0xfff8) + 8, 4) * 0x1_0000_0000;
  // Busy: type bit 1 in the descriptor.
  const at = s.gdtrBase + (sel & 0xfff8) + 5;
  writeLinear(cpu, at, 1, readLinear(cpu, at, 1) | 2, 0);
  s.trSel = sel;
  s.trBase = base;
  s.trLimit = d.limit;
  s.trAttr = d.attr | 2;
  return NEXT;
};

/** LLDT: an LDT descriptor (type 2), or a null selector (no LDT). */
const lldt: Exec = (cpu, i) => {
  if (realMode(cpu)) cpu.raise({ vector: UD_VECTOR });
  if (cpu.s.cpl !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
  const sel = readRm0(cpu, i, 2) & 0xffff;
  const s = cpu.s;
  if ((sel & 0xfffc) === 0) {
    s.ldtrSel = sel;
    s.ldtrBase = 0;
    s.ldtrLimit = 0;
    s.ldtrAttr = 0;
    return NEXT;
  }
  const d = readDescriptor(cpu, sel);
  if ((d.attr & 0x1f) !== 2) cpu.raise({ vector: GP_VECTOR, errorCode: sel & 0xfffc });
  setAccessed(cpu, sel);
  let base = d.base;
  if (s.codeSize === 64) base += readLinear(cpu, s.gdtrBase + (sel & 0xfff8) + 8, 4) * 0x1_0000_0000;
  s.ldtrSel = sel;
  s.ldtrBase = base;
  s.ldtrLimit = d.limit;
  s.ldtrAttr = d.attr;
  return NEXT;
};

/** The control register number of a MOV CR operand (CR0..CR15 → 0..15), or -1. */
function crNumber(reg: number): number {
  return reg >= Register.CR0 && reg <= Register.CR15 ? reg - Register.CR0 : -1;
}

/** CR0.TS and CR0.MP: the bits a CR0 write may change without the selective CR0 intercept. */
const CR0_TS_MP = 0xa;

/** The decode-assist exit_info_1 of a MOV CR intercept: bit 63 (a MOV) and the GPR number. */
const MOV_CR_INFO_HI = 0x8000_0000;

/** MOV from CR0/2/3/4/8. */
function movFromCr(cr: number): Exec {
  return (cpu, i) => {
    const s = cpu.s;
    if (s.cpl !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
    if (cpu.vmcb.isIntercept(SVM_EXIT_READ_CR0 + cr))
      return cpu.intercept(SVM_EXIT_READ_CR0 + cr, i.r0, MOV_CR_INFO_HI, 0, 0, cpu.nextRip);
    const v =
      cr === 0 ? s.cr0 : cr === 2 ? s.cr2 : cr === 3 ? s.cr3 : cr === 4 ? s.cr4 : cpu.vmcb.intCtl & 0xf;
    const lo = v >>> 0;
    // CR0, CR4 and CR8 have no bits above 31 (the model may hold CR0 as a signed 32-bit value).
    writeReg(cpu, i.r0, s.codeSize === 64 ? 8 : 4, lo, cr === 2 || cr === 3 ? hi32(v) : 0);
    return NEXT;
  };
}

/**
 * MOV to CR0/3/4/8: intercepted (the #VMEXIT before the write), or done here: paging and mode
 * changes flush the TLB, and turning on paging with EFER.LME activates long mode (EFER.LMA). For
 * an SEV-ES guest the CR0/CR4/CR8 writes complete and then trap (CRx_WRITE_TRAP, the new value in
 * exit_info_1), when KVM set the trap.
 */
function movToCr(cr: number): Exec {
  return (cpu, i) => {
    const s = cpu.s;
    if (s.cpl !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
    if (cpu.vmcb.isIntercept(SVM_EXIT_WRITE_CR0 + cr))
      return cpu.intercept(SVM_EXIT_WRITE_CR0 + cr, i.r1, MOV_CR_INFO_HI, 0, 0, cpu.nextRip);
    const lo = readReg(cpu, i.r1, s.codeSize === 64 ? 8 : 4);
    const hi = cpu.hi;
    // The selective CR0 write intercept: a change of any bit but TS and MP exits.
    if (cr === 0 && cpu.vmcb.isIntercept(SVM_EXIT_CR0_SEL_WRITE) && ((lo ^ s.cr0) & ~CR0_TS_MP) !== 0)
      return cpu.intercept(SVM_EXIT_CR0_SEL_WRITE, i.r1, MOV_CR_INFO_HI, 0, 0, cpu.nextRip);
    switch (cr) {
      case 0: {
        if (hi !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
        if (lo & CR0_PG && !(lo & CR0_PE)) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
        const enablingPaging = lo & CR0_PG && !(s.cr0 & CR0_PG);
        if (enablingPaging && s.efer & EFER_LME) {
          if (!(s.cr4 & CR4_PAE)) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
          s.efer |= EFER_LMA;
        }
        if (!(lo & CR0_PG) && s.efer & EFER_LMA) s.efer &= ~EFER_LMA;
        s.cr0 = lo | 0x10; // ET is hardwired to 1
        break;
      }
      case 2:
        s.cr2 = (hi | 0) * 0x1_0000_0000 + lo;
        break;
      case 3:
        s.cr3 = hi * 0x1_0000_0000 + lo;
        break;
      case 4:
        if (hi !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
        if (s.efer & EFER_LMA && !(lo & CR4_PAE)) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
        s.cr4 = lo;
        break;
      case 8:
        cpu.vmcb.intCtl = (cpu.vmcb.intCtl & ~0xf) | (lo & 0xf);
        break;
      default:
        cpu.raise({ vector: UD_VECTOR });
    }
    cpu.tlb.flush();
    const trap = cr === 0 || cr === 4 || cr === 8 ? SVM_EXIT_CR0_WRITE_TRAP + cr : -1;
    if (cpu.protectedState && trap >= 0 && cpu.vmcb.isIntercept(trap)) {
      s.rip = cpu.nextRip;
      return cpu.intercept(trap, lo, hi, 0, 0);
    }
    return NEXT;
  };
}

/** The debug register number of a MOV DR operand (DR0..DR7 → 0..7), or -1. */
function drNumber(reg: number): number {
  return reg >= Register.DR0 && reg <= Register.DR7 ? reg - Register.DR0 : -1;
}

/** CR4.DE: DR4/DR5 are reserved (#UD) instead of aliasing DR6/DR7. */
const CR4_DE = 1 << 3;

/** The register a MOV DR reaches: DR4/DR5 alias DR6/DR7 unless CR4.DE (#UD then). */
function drIndex(cpu: X86Cpu, dr: number): number {
  if (dr === 4 || dr === 5) {
    if (cpu.s.cr4 & CR4_DE) cpu.raise({ vector: UD_VECTOR });
    return dr + 2;
  }
  return dr;
}

/** MOV from DRn: intercepted while KVM wants it (exit_info_1: the GPR), else the CPU's register. */
function movFromDr(dr: number): Exec {
  return (cpu, i) => {
    const s = cpu.s;
    if (s.cpl !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
    if (cpu.vmcb.isIntercept(SVM_EXIT_READ_DR0 + dr))
      return cpu.intercept(SVM_EXIT_READ_DR0 + dr, i.r0, 0, 0, 0, cpu.nextRip);
    const n = drIndex(cpu, dr);
    const v = n < 4 ? cpu.db[n]! : BigInt(n === 6 ? s.dr6 : s.dr7);
    writeReg(cpu, i.r0, s.codeSize === 64 ? 8 : 4, Number(v & 0xffff_ffffn), Number(v >> 32n));
    return NEXT;
  };
}

/** MOV to DRn: intercepted while KVM wants it, else the CPU's register (#GP for DR6/DR7 bits 63:32). */
function movToDr(dr: number): Exec {
  return (cpu, i) => {
    const s = cpu.s;
    if (s.cpl !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
    if (cpu.vmcb.isIntercept(SVM_EXIT_WRITE_DR0 + dr))
      return cpu.intercept(SVM_EXIT_WRITE_DR0 + dr, i.r1, 0, 0, 0, cpu.nextRip);
    const n = drIndex(cpu, dr);
    const lo = readReg(cpu, i.r1, s.codeSize === 64 ? 8 : 4);
    const hi = cpu.hi;
    if (n < 4) cpu.db[n] = (BigInt(hi) << 32n) | BigInt(lo);
    else {
      if (hi !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
      if (n === 6) s.dr6 = lo;
      else s.dr7 = lo;
    }
    return NEXT;
  };
}

const movCrB: Builder = (ins) => {
  if (ins.op0Kind === OpKind.Register && crNumber(ins.op0Register) >= 0)
    return movToCr(crNumber(ins.op0Register));
  if (crNumber(ins.op1Register) >= 0) return movFromCr(crNumber(ins.op1Register));
  if (ins.op0Kind === OpKind.Register && drNumber(ins.op0Register) >= 0)
    return movToDr(drNumber(ins.op0Register));
  if (drNumber(ins.op1Register) >= 0) return movFromDr(drNumber(ins.op1Register));
  return undefined;
};

/** INVLPG: drop the TLB entry of the address (the interpreter flushes the whole TLB: it is cheap). */
const invlpg: Exec = (cpu) => {
  if (cpu.s.cpl !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
  cpu.tlb.flush();
  return NEXT;
};

/** RDTSC/RDTSCP: not intercepted by KVM; the model's TSC counts retired instructions. */
function rdtsc(withAux: boolean): Exec {
  return (cpu) => {
    const t = cpu.instructions;
    writeReg(cpu, 0, 4, t >>> 0, 0);
    writeReg(cpu, 2, 4, hi32(t), 0);
    if (withAux) writeReg(cpu, 1, 4, 0, 0);
    return NEXT;
  };
}

/** Intercepted instructions by mnemonic. */
const simple =
  (code: number): Builder =>
  () =>
    intercepted(code);

/** The system builders by mnemonic. */
export const SYSTEM_BUILDERS: [number, Builder][] = [
  [Mnemonic.In, io(true)],
  [Mnemonic.Out, io(false)],
  [Mnemonic.Hlt, simple(SVM_EXIT_HLT)],
  [Mnemonic.Cpuid, simple(SVM_EXIT_CPUID)],
  [Mnemonic.Vmmcall, simple(SVM_EXIT_VMMCALL)],
  [Mnemonic.Wbinvd, simple(SVM_EXIT_WBINVD)],
  [Mnemonic.Invd, simple(SVM_EXIT_INVD)],
  [Mnemonic.Rdpmc, simple(SVM_EXIT_RDPMC)],
  [Mnemonic.Rdmsr, () => msr(false)],
  [Mnemonic.Wrmsr, () => msr(true)],
  // VMGEXIT is the #VMEXIT itself (an automatic exit): RIP moves past it when the guest resumes.
  [Mnemonic.Vmgexit, () => (cpu) => cpu.intercept(SVM_EXIT_VMGEXIT, 0, 0, 0, 0, cpu.nextRip)],
  [Mnemonic.Cli, () => interruptFlag(false)],
  [Mnemonic.Sti, () => interruptFlag(true)],
  [Mnemonic.Cld, () => setFlag(RFLAGS_DF, false)],
  [Mnemonic.Std, () => setFlag(RFLAGS_DF, true)],
  [Mnemonic.Clc, () => setFlag(RFLAGS_CF, false)],
  [Mnemonic.Stc, () => setFlag(RFLAGS_CF, true)],
  [Mnemonic.Cmc, () => setFlag(RFLAGS_CF, 'toggle')],
  [Mnemonic.Pushf, () => pushf(2)],
  [Mnemonic.Pushfd, () => pushf(4)],
  [Mnemonic.Pushfq, () => pushf(8)],
  [Mnemonic.Popf, () => popf(2)],
  [Mnemonic.Popfd, () => popf(4)],
  [Mnemonic.Popfq, () => popf(8)],
  [Mnemonic.Lahf, () => lahf],
  [Mnemonic.Sahf, () => sahf],
  [Mnemonic.Lgdt, () => loadTable(false)],
  [Mnemonic.Lidt, () => loadTable(true)],
  [Mnemonic.Sgdt, () => storeTable(false)],
  [Mnemonic.Sidt, () => storeTable(true)],
  [Mnemonic.Str, () => storeSelector(true)],
  [Mnemonic.Sldt, () => storeSelector(false)],
  [Mnemonic.Ltr, () => ltr],
  [Mnemonic.Lldt, () => lldt],
  [Mnemonic.Mov, movCrB],
  [Mnemonic.Invlpg, () => invlpg],
  [Mnemonic.Rdtsc, () => rdtsc(false)],
  [Mnemonic.Rdtscp, () => rdtsc(true)],
  // UD2: the architectural invalid opcode.
  [Mnemonic.Ud2, () => (cpu) => cpu.raise({ vector: UD_VECTOR })],
];
