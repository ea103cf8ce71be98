/**
 * Control transfers: JMP, Jcc, CALL, RET, LOOP/LOOPcc, JCXZ/JECXZ/JRCXZ (near, with the target
 * truncated to the operand size), far JMP/CALL/RET through a descriptor or in real mode, IRET,
 * INT n / INT3 / INTO.
 */
import iced from 'iced-x86';
import { SVM_EXIT_IRET } from '../../../uapi/svm.js';
import type { X86Cpu } from '../cpu.js';
import { cond, RFLAGS_IF, RFLAGS_OF, readRflags, writeRflags } from '../flags.js';
import { type Exec, type Insn, NEXT } from '../insn.js';
import { readLinear } from '../mmu.js';
import { linearAddress, readReg, readRm0, writeReg } from '../operands.js';
import {
  getRsp,
  loadRealSegment,
  pop,
  push,
  readDescriptor,
  realMode,
  setAccessed,
  setRsp,
  setSegment,
  stackWidth,
} from '../segments.js';
import { hi32, SEG_CS, SEG_SS } from '../state.js';
import { BP_VECTOR, GP_VECTOR, NP_VECTOR, OF_VECTOR } from '../vectors.js';
import { type Builder, codeStemSize } from './builder.js';

const { Mnemonic, OpKind } = iced;
const TWO32 = 0x1_0000_0000;

/** The width in bytes of a relative branch's IP (its operand size), from the branch operand's kind. */
function branchWidth(ins: InstanceType<typeof iced.Instruction>): number {
  const k = ins.op0Kind;
  return k === OpKind.NearBranch16 ? 2 : k === OpKind.NearBranch32 ? 4 : 8;
}

/** RIP + rel, truncated to the branch's operand size. */
function target(cpu: X86Cpu, i: Insn): number {
  const t = cpu.nextRip + i.rel;
  return i.size === 2 ? t & 0xffff : i.size === 4 ? t >>> 0 : t;
}

/** A 64-bit value (halves) as a sign-extended number. */
function asAddress(lo: number, hi: number): number {
  return (hi | 0) * TWO32 + lo;
}

/** A return address (the next RIP) as halves. */
function ripHalves(v: number): [number, number] {
  const lo = v >>> 0;
  return [lo, hi32(v)];
}

const jmpRel: Exec = (cpu, i) => {
  cpu.nextRip = target(cpu, i);
  return NEXT;
};
const jcc: Exec = (cpu, i) => {
  if (cond(cpu.f, i.cc)) cpu.nextRip = target(cpu, i);
  return NEXT;
};
const jmpIndirect: Exec = (cpu, i) => {
  const lo = readRm0(cpu, i, i.size);
  cpu.nextRip = i.size === 8 ? asAddress(lo, cpu.hi) : lo;
  return NEXT;
};
const callRel: Exec = (cpu, i) => {
  const [lo, hi] = ripHalves(cpu.nextRip);
  push(cpu, i.size, lo, hi);
  cpu.nextRip = target(cpu, i);
  return NEXT;
};
const callIndirect: Exec = (cpu, i) => {
  const t = readRm0(cpu, i, i.size);
  const th = cpu.hi;
  const [lo, hi] = ripHalves(cpu.nextRip);
  push(cpu, i.size, lo, hi);
  cpu.nextRip = i.size === 8 ? asAddress(t, th) : t;
  return NEXT;
};
const ret: Exec = (cpu, i) => {
  const lo = pop(cpu, i.size);
  const t = i.size === 8 ? asAddress(lo, cpu.hi) : lo;
  if (i.immLo) {
    // RET imm16: release the callee's arguments (RSP, as wide as the stack is).
    const width = stackWidth(cpu);
    const sp = getRsp(cpu);
    setRsp(
      cpu,
      width === 8
        ? sp + i.immLo
        : width === 4
          ? ((sp >>> 0) + i.immLo) >>> 0
          : ((sp & 0xffff) + i.immLo) & 0xffff,
      width,
    );
  }
  cpu.nextRip = t;
  return NEXT;
};

/** LOOP/LOOPE/LOOPNE: decrement the count register (by address size), branch while non-zero (and ZF). */
function loop(kind: 0 | 1 | 2): Builder {
  return (ins, rec) => {
    const name = iced.Code[ins.code]!;
    rec.imm2 = name.endsWith('RCX') ? 8 : name.endsWith('ECX') ? 4 : 2;
    rec.size = branchWidth(ins);
    return (cpu, i) => {
      const n = i.imm2;
      let c = readReg(cpu, 1, n);
      let ch = cpu.hi;
      if (c === 0) {
        c = n === 2 ? 0xffff : 0xffff_ffff;
        ch = n === 8 ? (ch - 1) >>> 0 : 0;
      } else c = c - 1;
      writeReg(cpu, 1, n, c, ch);
      const zero = c === 0 && ch === 0;
      const zf = kind === 0 ? true : cond(cpu.f, 4);
      if (!zero && (kind === 0 || (kind === 1 ? zf : !zf))) cpu.nextRip = target(cpu, i);
      return NEXT;
    };
  };
}

/** JCXZ/JECXZ/JRCXZ: branch if the count register (by address size) is zero. */
const jcxz: Builder = (ins, rec) => {
  rec.imm2 = ins.mnemonic === Mnemonic.Jrcxz ? 8 : ins.mnemonic === Mnemonic.Jecxz ? 4 : 2;
  rec.size = branchWidth(ins);
  return (cpu, i) => {
    const c = readReg(cpu, 1, i.imm2);
    if (c === 0 && cpu.hi === 0) cpu.nextRip = target(cpu, i);
    return NEXT;
  };
};

/**
 * Load CS for a far JMP/CALL in protected mode: a present code segment the CPL may reach without
 * a gate (non-conforming: RPL ≤ CPL and DPL = CPL; conforming: DPL ≤ CPL). Call gates and task
 * switches are not modelled (#GP).
 */
function loadFarCs(cpu: X86Cpu, sel: number): void {
  const s = cpu.s;
  if ((sel & 0xfffc) === 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
  const d = readDescriptor(cpu, sel);
  const err = sel & 0xfffc;
  const type = d.attr & 0x1f;
  if ((type & 0x18) !== 0x18) cpu.raise({ vector: GP_VECTOR, errorCode: err });
  const dpl = (d.attr >>> 5) & 3;
  const conforming = (type & 4) !== 0;
  if (conforming ? dpl > s.cpl : (sel & 3) > s.cpl || dpl !== s.cpl)
    cpu.raise({ vector: GP_VECTOR, errorCode: err });
  if (!(d.attr & 0x80)) cpu.raise({ vector: NP_VECTOR, errorCode: err });
  setAccessed(cpu, sel);
  setSegment(cpu, SEG_CS, (sel & 0xfffc) | s.cpl, d);
}

/** The far pointer of a far JMP/CALL: immediate (ptr16:16/32) or in memory (m16:16/32/64). */
function farPointer(cpu: X86Cpu, i: Insn): [number, number] {
  // ptr16:16/32 has no memory operand (address size 0): selector and offset are immediates.
  if (i.asize === 0) return [i.imm2, i.immLo];
  const la = linearAddress(cpu, i);
  const off = readLinear(cpu, la, i.size);
  const offHi = cpu.hi;
  const sel = readLinear(cpu, la + i.size, 2);
  return [sel, i.size === 8 ? asAddress(off, offHi) : off];
}

function farJmp(cpu: X86Cpu, i: Insn): 0 {
  const [sel, off] = farPointer(cpu, i);
  if (realMode(cpu)) loadRealSegment(cpu, SEG_CS, sel);
  else loadFarCs(cpu, sel);
  cpu.nextRip = off;
  return NEXT;
}

function farCall(cpu: X86Cpu, i: Insn): 0 {
  const [sel, off] = farPointer(cpu, i);
  const s = cpu.s;
  const width = i.size;
  const oldCs = s.segSel[SEG_CS]!;
  const [rl, rh] = ripHalves(cpu.nextRip);
  if (realMode(cpu)) loadRealSegment(cpu, SEG_CS, sel);
  else loadFarCs(cpu, sel);
  push(cpu, width, oldCs, 0);
  push(cpu, width, rl, rh);
  cpu.nextRip = off;
  return NEXT;
}

function farRet(cpu: X86Cpu, i: Insn): 0 {
  const width = i.size;
  const lo = pop(cpu, width);
  const hi = cpu.hi;
  const sel = pop(cpu, width) & 0xffff;
  if (realMode(cpu)) loadRealSegment(cpu, SEG_CS, sel);
  else if ((sel & 3) !== cpu.s.cpl) cpu.raise({ vector: GP_VECTOR, errorCode: sel & 0xfffc });
  else loadFarCs(cpu, sel);
  cpu.nextRip = width === 8 ? asAddress(lo, hi) : lo;
  return NEXT;
}

/**
 * IRET/IRETD/IRETQ: KVM intercepts IRET while it waits for an NMI handler's end (fault-like: the
 * IRET runs when the guest is resumed). Real mode pops IP, CS, FLAGS; protected and long mode pop
 * RIP, CS, RFLAGS and (on a return to an outer level, or always in 64-bit mode) RSP and SS.
 */
function iret(cpu: X86Cpu, i: Insn): 0 | 1 {
  const s = cpu.s;
  if (cpu.vmcb.isIntercept(SVM_EXIT_IRET)) return cpu.intercept(SVM_EXIT_IRET, 0, 0, 0, 0, cpu.nextRip);
  const w = i.size;
  const ip = pop(cpu, w);
  const ipHi = cpu.hi;
  const cs = pop(cpu, w) & 0xffff;
  const flags = pop(cpu, w);
  if (realMode(cpu)) {
    loadRealSegment(cpu, SEG_CS, cs);
    const keep = readRflags(cpu.f) & ~0xffff;
    writeRflags(cpu.f, w === 2 ? keep | (flags & 0xffff) : flags);
    cpu.nextRip = ip;
    return NEXT;
  }
  const rpl = cs & 3;
  const outer = rpl > s.cpl || w === 8;
  let rsp = 0;
  let rspHi = 0;
  let ss = 0;
  if (outer) {
    rsp = pop(cpu, w);
    rspHi = cpu.hi;
    ss = pop(cpu, w) & 0xffff;
  }
  if (rpl < s.cpl) cpu.raise({ vector: GP_VECTOR, errorCode: cs & 0xfffc });
  const saved = s.cpl;
  s.cpl = rpl;
  try {
    loadFarCs(cpu, cs);
  } catch (e) {
    s.cpl = saved;
    throw e;
  }
  // IOPL and IF change only as the old CPL allows (IOPL at CPL 0; IF at CPL ≤ IOPL).
  const old = readRflags(cpu.f);
  const iopl = (old >>> 12) & 3;
  let mask = 0x25_7fd5; // CF PF AF ZF SF TF DF OF NT RF AC ID (and bit 1)
  if (saved === 0) mask |= 0x3000 | 0x18_0000;
  if (saved <= iopl) mask |= RFLAGS_IF;
  writeRflags(cpu.f, (old & ~mask) | (flags & mask) | 2);
  if (outer) {
    if ((ss & 0xfffc) === 0 && w === 8) setSegment(cpu, SEG_SS, ss, { base: 0, limit: 0, attr: 0 });
    else setSegment(cpu, SEG_SS, ss, readDescriptor(cpu, ss));
    const r = s.regs;
    r[8] = rsp;
    r[9] = w === 8 ? rspHi : 0;
  }
  cpu.nextRip = w === 8 ? asAddress(ip, ipHi) : ip;
  return NEXT;
}

/** INT n, INT3, INTO: a software interrupt; the saved RIP is the next instruction's. */
function softInt(vector: number | undefined): Builder {
  return () => (cpu: X86Cpu, i: Insn) => {
    if (vector === OF_VECTOR && !(readRflags(cpu.f) & RFLAGS_OF)) return NEXT;
    cpu.s.rip = cpu.nextRip;
    cpu.raise({ vector: vector ?? i.immLo & 0xff, soft: true });
  };
}

function near(exec: Exec): Builder {
  return (ins, rec) => {
    rec.size = branchWidth(ins);
    return exec;
  };
}

const jmpB: Builder = (ins, rec) => {
  const k = ins.op0Kind;
  if (k === OpKind.FarBranch16 || k === OpKind.FarBranch32) {
    rec.size = k === OpKind.FarBranch16 ? 2 : 4;
    rec.asize = 0;
    return farJmp;
  }
  if (/^Jmp_m16(16|32|64)/.test(iced.Code[ins.code] ?? '')) {
    // m16:16/32/64: the offset's size is the far pointer's less the selector.
    rec.size = iced.MemorySizeExt.size(ins.memorySize) - 2;
    return farJmp;
  }
  // Indirect: the operand size is the register's or the memory operand's.
  if (k === OpKind.Register || k === OpKind.Memory) return jmpIndirect;
  rec.size = branchWidth(ins);
  return jmpRel;
};

const callB: Builder = (ins, rec) => {
  const k = ins.op0Kind;
  if (k === OpKind.FarBranch16 || k === OpKind.FarBranch32) {
    rec.size = k === OpKind.FarBranch16 ? 2 : 4;
    rec.asize = 0;
    return farCall;
  }
  if (/^Call_m16(16|32|64)/.test(iced.Code[ins.code] ?? '')) {
    rec.size = iced.MemorySizeExt.size(ins.memorySize) - 2;
    return farCall;
  }
  if (k === OpKind.Register || k === OpKind.Memory) return callIndirect;
  rec.size = branchWidth(ins);
  return callRel;
};

const retB: Builder = (ins, rec) => {
  const name = iced.Code[ins.code] ?? '';
  rec.size = codeStemSize(name, 'Retn', 'Retf');
  if (ins.opCount === 1) rec.immLo = ins.immediate16;
  if (name.startsWith('Retf')) {
    if (rec.immLo) return undefined;
    return farRet;
  }
  return ret;
};

const iretB: Builder = (ins, rec) => {
  rec.size = ins.mnemonic === Mnemonic.Iretq ? 8 : ins.mnemonic === Mnemonic.Iretd ? 4 : 2;
  return iret;
};

/** The control-transfer builders by mnemonic. */
export const BRANCH_BUILDERS: [number, Builder][] = [
  [Mnemonic.Jmp, jmpB],
  [Mnemonic.Call, callB],
  [Mnemonic.Ret, retB],
  [Mnemonic.Retf, retB],
  [Mnemonic.Iret, iretB],
  [Mnemonic.Iretd, iretB],
  [Mnemonic.Iretq, iretB],
  [Mnemonic.Loop, loop(0)],
  [Mnemonic.Loope, loop(1)],
  [Mnemonic.Loopne, loop(2)],
  [Mnemonic.Jcxz, jcxz],
  [Mnemonic.Jecxz, jcxz],
  [Mnemonic.Jrcxz, jcxz],
  [Mnemonic.Int, softInt(undefined)],
  [Mnemonic.Int3, softInt(BP_VECTOR)],
  [Mnemonic.Into, softInt(OF_VECTOR)],
  ...[
    Mnemonic.Jo,
    Mnemonic.Jno,
    Mnemonic.Jb,
    Mnemonic.Jae,
    Mnemonic.Je,
    Mnemonic.Jne,
    Mnemonic.Jbe,
    Mnemonic.Ja,
    Mnemonic.Js,
    Mnemonic.Jns,
    Mnemonic.Jp,
    Mnemonic.Jnp,
    Mnemonic.Jl,
    Mnemonic.Jge,
    Mnemonic.Jle,
    Mnemonic.Jg,
  ].map((m): [number, Builder] => [m, near(jcc)]),
];
