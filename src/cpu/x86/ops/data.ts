/**
 * Data movement: MOV (registers, memory, immediates, segment registers), MOVZX/MOVSX/MOVSXD, LEA,
 * XCHG, PUSH/POP, CBW/CWDE/CDQE, CWD/CDQ/CQO, NOP. No flags change.
 */
import iced from 'iced-x86';
import { type Exec, type Insn, NEXT, REG_NONE } from '../insn.js';
import { readLinear, writeLinear } from '../mmu.js';
import {
  effectiveAddress,
  effectiveAddress64,
  linearAddress,
  readReg,
  readRm0,
  readRm1,
  writeReg,
  writeRm0,
} from '../operands.js';
import { gprOperand, segOperand } from '../registers.js';
import {
  getRsp,
  loadDataSegment,
  loadRealSegment,
  pop,
  push,
  realMode,
  setRsp,
  stackWidth,
} from '../segments.js';
import { SEG_CS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_SS } from '../state.js';
import { UD_VECTOR } from '../vectors.js';
import { type Builder, codeStemSize } from './builder.js';

const { Mnemonic, OpKind } = iced;

const movRegReg: Exec = (cpu, i) => {
  const lo = readReg(cpu, i.r1, i.size);
  writeReg(cpu, i.r0, i.size, lo, cpu.hi);
  return NEXT;
};
const movRm0Imm: Exec = (cpu, i) => {
  writeRm0(cpu, i, i.size, i.immLo, i.size === 8 ? i.immHi : 0);
  return NEXT;
};
const movRegRm: Exec = (cpu, i) => {
  const lo = readRm1(cpu, i, i.size);
  writeReg(cpu, i.r0, i.size, lo, cpu.hi);
  return NEXT;
};
const movRmReg: Exec = (cpu, i) => {
  const lo = readReg(cpu, i.r1, i.size);
  writeRm0(cpu, i, i.size, lo, cpu.hi);
  return NEXT;
};

/** MOV Sreg, r/m16: real mode sets base = selector × 16; protected mode loads the descriptor. */
function movToSreg(seg: number): Exec {
  return (cpu, i) => {
    if (seg === SEG_CS) cpu.raise({ vector: UD_VECTOR });
    const sel = readRm1(cpu, i, 2) & 0xffff;
    if (realMode(cpu)) loadRealSegment(cpu, seg, sel);
    else loadDataSegment(cpu, seg, sel);
    return NEXT;
  };
}

/**
 * LES/LDS/LSS/LFS/LGS r, m16:16/32/64: the far pointer's selector (after its offset) into the
 * segment register (as MOV Sreg loads it), then the offset into r.
 */
function loadFarPointer(seg: number): Exec {
  return (cpu, i) => {
    const la = linearAddress(cpu, i);
    const off = readLinear(cpu, la, i.size);
    const offHi = cpu.hi;
    const sel = readLinear(cpu, la + i.size, 2);
    if (realMode(cpu)) loadRealSegment(cpu, seg, sel);
    else loadDataSegment(cpu, seg, sel);
    writeReg(cpu, i.r0, i.size, off, offHi);
    return NEXT;
  };
}

/** MOV r/m, Sreg: a register destination of 32/64 bits gets the selector zero-extended. */
function movFromSreg(seg: number): Exec {
  return (cpu, i) => {
    const sel = cpu.s.segSel[seg]!;
    if (i.r0 !== REG_NONE) writeReg(cpu, i.r0, i.size === 1 ? 2 : i.size, sel, 0);
    else writeRm0(cpu, i, 2, sel, 0);
    return NEXT;
  };
}

/** 64- and 32-bit register moves and loads/stores of a register: no size dispatch. */
const movRegReg64: Exec = (cpu, i) => {
  const r = cpu.s.regs;
  r[2 * i.r0] = r[2 * i.r1]!;
  r[2 * i.r0 + 1] = r[2 * i.r1 + 1]!;
  return NEXT;
};
const movRegReg32: Exec = (cpu, i) => {
  const r = cpu.s.regs;
  r[2 * i.r0] = r[2 * i.r1]!;
  r[2 * i.r0 + 1] = 0;
  return NEXT;
};
const movRegMem64: Exec = (cpu, i) => {
  const lo = readLinear(cpu, linearAddress(cpu, i), 8);
  const r = cpu.s.regs;
  r[2 * i.r0] = lo;
  r[2 * i.r0 + 1] = cpu.hi;
  return NEXT;
};
const movRegMem32: Exec = (cpu, i) => {
  const lo = readLinear(cpu, linearAddress(cpu, i), 4);
  const r = cpu.s.regs;
  r[2 * i.r0] = lo;
  r[2 * i.r0 + 1] = 0;
  return NEXT;
};
const movMemReg64: Exec = (cpu, i) => {
  const r = cpu.s.regs;
  writeLinear(cpu, linearAddress(cpu, i), 8, r[2 * i.r1]!, r[2 * i.r1 + 1]!);
  return NEXT;
};
const movMemReg32: Exec = (cpu, i) => {
  writeLinear(cpu, linearAddress(cpu, i), 4, cpu.s.regs[2 * i.r1]!, 0);
  return NEXT;
};

const mov: Builder = (ins, rec) => {
  const k0 = ins.op0Kind;
  const k1 = ins.op1Kind;
  if (k0 === OpKind.Register && segOperand(ins.op0Register) >= 0) {
    rec.r0 = REG_NONE;
    return movToSreg(segOperand(ins.op0Register));
  }
  if (k1 === OpKind.Register && segOperand(ins.op1Register) >= 0) {
    rec.size = k0 === OpKind.Register ? rec.size : 2;
    return movFromSreg(segOperand(ins.op1Register));
  }
  if (k1 >= OpKind.Immediate8 && k1 <= OpKind.Immediate32to64) return movRm0Imm;
  const wide = rec.size === 8 || rec.size === 4;
  if (k0 === OpKind.Register && k1 === OpKind.Register) {
    if (rec.r0 < 0 || rec.r1 < 0) return undefined;
    return wide ? (rec.size === 8 ? movRegReg64 : movRegReg32) : movRegReg;
  }
  if (k0 === OpKind.Register) {
    if (rec.r0 < 0) return undefined;
    return wide && k1 === OpKind.Memory ? (rec.size === 8 ? movRegMem64 : movRegMem32) : movRegRm;
  }
  if (rec.r1 < 0) return undefined;
  return wide && k0 === OpKind.Memory ? (rec.size === 8 ? movMemReg64 : movMemReg32) : movRmReg;
};

/** MOVZX/MOVSX/MOVSXD: the source's size is the memory operand's or r1's; rec.size is the destination's. */
function extendBuilder(signed: boolean): Builder {
  return (ins, rec) => {
    const srcSize =
      ins.op1Kind === OpKind.Register
        ? (gprOperand(ins.op1Register)?.size ?? 0)
        : iced.MemorySizeExt.size(ins.memorySize);
    if (!srcSize) return undefined;
    rec.imm2 = srcSize;
    return (cpu, i) => {
      const n = i.imm2;
      let lo = readRm1(cpu, i, n);
      let hi = 0;
      if (signed) {
        const bits = 8 * n;
        if (n < 4) lo = (lo << (32 - bits)) >> (32 - bits);
        const neg = (n === 8 ? cpu.hi : lo) & 0x8000_0000;
        hi = n === 8 ? cpu.hi : neg ? 0xffff_ffff : 0;
        lo >>>= 0;
      }
      writeReg(cpu, i.r0, i.size, i.size === 2 ? lo & 0xffff : lo, i.size === 8 ? hi : 0);
      return NEXT;
    };
  };
}

/** LEA: the effective address (no segment), exact, truncated to the operand size. */
const lea: Builder = (_ins, rec) => {
  if (rec.r0 < 0) return undefined;
  return (cpu, i) => {
    if (i.asize === 8) {
      const lo = effectiveAddress64(cpu, i);
      writeReg(cpu, i.r0, i.size, lo, i.size === 8 ? cpu.hi : 0);
    } else writeReg(cpu, i.r0, i.size, effectiveAddress(cpu, i), 0);
    return NEXT;
  };
};

/** XCHG (with a memory operand it is locked; the interpreter is single-threaded per vCPU). */
const xchg: Builder = (ins, rec) => {
  if (ins.op0Kind === OpKind.Register && ins.op1Kind === OpKind.Register) {
    return (cpu, i) => {
      const a = readReg(cpu, i.r0, i.size);
      const ah = cpu.hi;
      const b = readReg(cpu, i.r1, i.size);
      const bh = cpu.hi;
      // XCHG EAX, EAX (0x90 in 64-bit mode is NOP and not decoded as XCHG) zero-extends like any write.
      writeReg(cpu, i.r0, i.size, b, bh);
      writeReg(cpu, i.r1, i.size, a, ah);
      return NEXT;
    };
  }
  const reg = rec.r0 >= 0 ? rec.r0 : rec.r1;
  rec.r0 = REG_NONE;
  rec.r1 = reg;
  return (cpu, i) => {
    const m = readRm0(cpu, i, i.size);
    const mh = cpu.hi;
    const r = readReg(cpu, i.r1, i.size);
    const rh = cpu.hi;
    writeRm0(cpu, i, i.size, r, rh);
    writeReg(cpu, i.r1, i.size, m, mh);
    return NEXT;
  };
};

/** The stack operand size of PUSH/POP: 8 in 64-bit mode unless 16 (66h), else the operand size. */
function stackOpSize(rec: Insn, codeSize: 16 | 32 | 64): number {
  if (rec.size) return rec.size;
  return codeSize === 64 ? 8 : codeSize / 8;
}

/**
 * The stack operand size of PUSH/POP Sreg, from iced's Code (Pushw_ES, Pushd_FS, Popq_GS…): the
 * operand size (66h or the mode's default; 8 in 64-bit mode).
 */
function sregStackSize(ins: InstanceType<typeof iced.Instruction>): number {
  return codeStemSize(iced.Code[ins.code]!, 'Push', 'Pop');
}

const pushB: Builder = (ins, rec, codeSize) => {
  const k = ins.op0Kind;
  if (k === OpKind.Register && segOperand(ins.op0Register) >= 0) {
    const seg = segOperand(ins.op0Register);
    rec.size = sregStackSize(ins);
    // A 32-bit push writes the selector with a 16-bit move (the SDM's choice for recent Intel
    // cores, and KVM's emulator's em_push_sreg): the upper half of the slot keeps its bytes.
    return (cpu, i) => {
      push(cpu, i.size, cpu.s.segSel[seg]!, 0, i.size === 4 ? 2 : i.size);
      return NEXT;
    };
  }
  if (k >= OpKind.Immediate8 && k <= OpKind.Immediate32to64) {
    // Push_imm16, Pushw_imm8, Pushd_imm8/imm32, Pushq_imm8/imm32 (64-bit mode: 8 bytes, sign-extended).
    const name = iced.Code[ins.code]!;
    rec.size = name.startsWith('Pushq') ? 8 : name.startsWith('Pushd') ? 4 : 2;
    return (cpu, i) => {
      push(cpu, i.size, i.immLo, i.size === 8 ? i.immHi : 0);
      return NEXT;
    };
  }
  rec.size = stackOpSize(rec, codeSize);
  return (cpu, i) => {
    const lo = readRm0(cpu, i, i.size);
    push(cpu, i.size, lo, cpu.hi);
    return NEXT;
  };
};

const popB: Builder = (ins, rec, codeSize) => {
  if (ins.op0Kind === OpKind.Register && segOperand(ins.op0Register) >= 0) {
    const seg = segOperand(ins.op0Register);
    rec.size = sregStackSize(ins);
    return (cpu, i) => {
      const sel = pop(cpu, i.size) & 0xffff;
      if (realMode(cpu)) loadRealSegment(cpu, seg, sel);
      else loadDataSegment(cpu, seg, sel);
      return NEXT;
    };
  }
  rec.size = stackOpSize(rec, codeSize);
  return (cpu, i) => {
    const lo = pop(cpu, i.size);
    writeRm0(cpu, i, i.size, lo, cpu.hi);
    return NEXT;
  };
};

/**
 * PUSHA/PUSHAD: AX, CX, DX, BX, the SP of before, BP, SI, DI pushed (2 or 4 bytes each); RSP moves
 * only when every store went through.
 */
function pusha(size: number): Exec {
  return (cpu) => {
    const width = stackWidth(cpu);
    const rsp = getRsp(cpu);
    const mask = width === 4 ? 0xffff_ffff : 0xffff;
    const ssBase = cpu.s.segBase[SEG_SS]!;
    let sp = (rsp & mask) >>> 0;
    for (let r = 0; r < 8; r++) {
      const v = r === 4 ? (size === 4 ? rsp >>> 0 : rsp & 0xffff) : readReg(cpu, r, size);
      sp = ((sp - size) & mask) >>> 0;
      writeLinear(cpu, ssBase + sp, size, v, 0);
    }
    setRsp(cpu, sp, width);
    return NEXT;
  };
}

/** POPA/POPAD: DI, SI, BP, (SP skipped), BX, DX, CX, AX popped; loaded once all were read. */
function popa(size: number): Exec {
  return (cpu) => {
    const width = stackWidth(cpu);
    const mask = width === 4 ? 0xffff_ffff : 0xffff;
    const ssBase = cpu.s.segBase[SEG_SS]!;
    let sp = (getRsp(cpu) & mask) >>> 0;
    const v: number[] = [];
    for (let k = 0; k < 8; k++) {
      v.push(readLinear(cpu, ssBase + sp, size));
      sp = ((sp + size) & mask) >>> 0;
    }
    for (let k = 0; k < 8; k++) if (k !== 3) writeReg(cpu, 7 - k, size, v[k]!, 0);
    setRsp(cpu, sp, width);
    return NEXT;
  };
}

/** CBW/CWDE/CDQE: sign-extend the lower half of the accumulator into all of it. */
function widenAccumulator(size: number): Exec {
  return (cpu) => {
    const half = readReg(cpu, 0, size / 2);
    const bits = 4 * size;
    if (size === 8) writeReg(cpu, 0, 8, half, half & 0x8000_0000 ? 0xffff_ffff : 0);
    else writeReg(cpu, 0, size, ((half << (32 - bits)) >> (32 - bits)) >>> 0, 0);
    return NEXT;
  };
}

/** CWD/CDQ/CQO: the accumulator's sign into all of DX/EDX/RDX. */
function signIntoDx(size: number): Exec {
  return (cpu) => {
    const lo = readReg(cpu, 0, size);
    const top = size === 8 ? cpu.hi : lo << (32 - 8 * size);
    const fill = top & 0x8000_0000 ? 0xffff_ffff : 0;
    writeReg(cpu, 2, size, fill, fill);
    return NEXT;
  };
}

const nop: Exec = () => NEXT;

/** The bytes of a 32-bit value in reverse order. */
const swap32 = (v: number): number =>
  ((v << 24) | ((v << 8) & 0xff_0000) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;

/** BSWAP r32/r64 (the 16-bit form is undefined and left unimplemented). */
const bswap: Builder = (_ins, rec) => {
  if (rec.r0 < 0 || (rec.size !== 4 && rec.size !== 8)) return undefined;
  return (cpu, i) => {
    const lo = readReg(cpu, i.r0, i.size);
    if (i.size === 8) writeReg(cpu, i.r0, 8, swap32(cpu.hi), swap32(lo));
    else writeReg(cpu, i.r0, 4, swap32(lo), 0);
    return NEXT;
  };
};

/** The data-movement builders by mnemonic. */
export const DATA_BUILDERS: [number, Builder][] = [
  [Mnemonic.Mov, mov],
  [Mnemonic.Movzx, extendBuilder(false)],
  [Mnemonic.Movsx, extendBuilder(true)],
  [Mnemonic.Movsxd, extendBuilder(true)],
  [Mnemonic.Lea, lea],
  [Mnemonic.Xchg, xchg],
  [Mnemonic.Push, pushB],
  [Mnemonic.Pop, popB],
  [Mnemonic.Cbw, () => widenAccumulator(2)],
  [Mnemonic.Cwde, () => widenAccumulator(4)],
  [Mnemonic.Cdqe, () => widenAccumulator(8)],
  [Mnemonic.Cwd, () => signIntoDx(2)],
  [Mnemonic.Cdq, () => signIntoDx(4)],
  [Mnemonic.Cqo, () => signIntoDx(8)],
  [Mnemonic.Nop, () => nop],
  [Mnemonic.Bswap, bswap],
  [Mnemonic.Pusha, () => pusha(2)],
  [Mnemonic.Pushad, () => pusha(4)],
  [Mnemonic.Popa, () => popa(2)],
  [Mnemonic.Popad, () => popa(4)],
  ...(
    [
      [Mnemonic.Les, SEG_ES],
      [Mnemonic.Lds, SEG_DS],
      [Mnemonic.Lss, SEG_SS],
      [Mnemonic.Lfs, SEG_FS],
      [Mnemonic.Lgs, SEG_GS],
    ] as const
  ).map(([m, seg]): [number, Builder] => [m, () => loadFarPointer(seg)]),
];
