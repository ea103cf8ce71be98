/**
 * Decoding with iced-x86 into the interpreter's records. A block is decoded once, from the
 * guest-physical page its first byte lies in (plus the next page's bytes when an instruction crosses
 * into it), and each instruction becomes an Insn whose handler the mnemonic's builder chooses
 * (ops/*.ts). WebAssembly is called here only, never while executing.
 */
import iced from 'iced-x86';
import type { Alu } from './alu.js';
import { Block } from './blocks.js';
import type { X86Cpu } from './cpu.js';
import {
  Insn,
  OPERAND_GPR,
  OPERAND_IMM,
  OPERAND_MEM,
  OPERAND_NONE,
  OPERAND_OTHER,
  OPERAND_REL,
  REG_NONE,
} from './insn.js';
import { ACC_FETCH, PAGE_SIZE, tlbEntry } from './mmu.js';
import { BUILDERS } from './ops/index.js';
import { execUnimplemented } from './ops/unimplemented.js';
import { gprOperand, segOperand } from './registers.js';

const { Decoder, DecoderOptions, FlowControl, Instruction, Mnemonic, MemorySizeExt, OpKind, Register } = iced;
export type IcedInstruction = InstanceType<typeof Instruction>;

/** Instructions per block at most (a long straight run is split; the next block starts after it). */
const MAX_BLOCK = 64;

/** Sign-extend a u64 (bigint) displacement or immediate to a number of the given byte width. */
function signed(v: bigint, bytes: number): number {
  return Number(BigInt.asIntN(8 * bytes, v));
}

/** Fill the memory-operand fields of `rec` from a decoded instruction (address size in bytes). */
function memoryOperand(ins: IcedInstruction, rec: Insn, asize: number): void {
  rec.asize = asize;
  rec.mseg = segOperand(ins.memorySegment);
  const base = ins.memoryBase;
  rec.ripRel = base === Register.RIP || base === Register.EIP;
  rec.mbase = rec.ripRel ? REG_NONE : (gprOperand(base)?.num ?? REG_NONE);
  rec.mindex = gprOperand(ins.memoryIndex)?.num ?? REG_NONE;
  rec.mscale = ins.memoryIndexScale;
  // Decoded at IP 0: a RIP-relative "displacement" is the target, i.e. the next IP (the length)
  // plus the encoded displacement.
  const disp = signed(ins.memoryDisplacementU64, asize);
  rec.mdisp = rec.ripRel ? disp - ins.length : disp;
}

/**
 * The operand size of an instruction: a memory operand 0's (SHL [m32], CL is 4 bytes, not CL's
 * 1), else its first GPR operand's, else its memory operand's, else 0.
 */
export function operandSize(ins: IcedInstruction): number {
  if (ins.opCount > 0 && ins.op0Kind === OpKind.Memory) return MemorySizeExt.size(ins.memorySize);
  for (let k = 0; k < ins.opCount; k++) {
    if (ins.opKind(k) === OpKind.Register) {
      const g = gprOperand(ins.opRegister(k));
      if (g) return g.size;
    }
  }
  return MemorySizeExt.size(ins.memorySize);
}

/** Fill the fields every record has: length, names, registers, memory operand, immediates, branch. */
function fillCommon(ins: IcedInstruction, rec: Insn, codeSize: 16 | 32 | 64): void {
  rec.len = ins.length;
  rec.code = ins.code;
  rec.name = Mnemonic[ins.mnemonic] ?? 'INVALID';
  rec.size = operandSize(ins);
  rec.rep = ins.hasRepPrefix || ins.hasRepePrefix ? 1 : ins.hasRepnePrefix ? 2 : 0;
  rec.cc = ins.conditionCode > 0 ? conditionNumber(ins.conditionCode) : 0;
  rec.kind0 = operandKind(ins, 0);
  rec.kind1 = operandKind(ins, 1);
  let regs = 0;
  for (let k = 0; k < ins.opCount; k++) {
    const kind = ins.opKind(k);
    if (kind === OpKind.Register) {
      const g = gprOperand(ins.opRegister(k));
      const num = g ? g.num : REG_NONE;
      // r0, r1: the first two (a third, SHLD's CL, is implicit in its builder).
      if (regs === 0) rec.r0 = num;
      else if (regs === 1) rec.r1 = num;
      regs++;
    } else if (kind === OpKind.Memory) {
      memoryOperand(ins, rec, addressSize(ins, codeSize));
      if (regs === 0) regs = 1; // the memory operand takes its slot: a register after it is r1
    } else if (kind === OpKind.NearBranch16 || kind === OpKind.NearBranch32 || kind === OpKind.NearBranch64) {
      const width = kind === OpKind.NearBranch16 ? 2 : kind === OpKind.NearBranch32 ? 4 : 8;
      rec.rel = signed(ins.nearBranchTarget - BigInt(ins.length), width);
    } else if (kind === OpKind.FarBranch16 || kind === OpKind.FarBranch32) {
      rec.immLo = kind === OpKind.FarBranch16 ? ins.farBranch16 : ins.farBranch32;
      rec.imm2 = ins.farBranchSelector;
    } else if (kind === OpKind.Immediate8_2nd) {
      rec.imm2 = ins.immediate8_2nd;
    } else if (kind >= OpKind.Immediate8 && kind <= OpKind.Immediate32to64) {
      const v = BigInt.asUintN(64, ins.immediate(k));
      rec.immLo = Number(v & 0xffff_ffffn);
      rec.immHi = Number(v >> 32n);
    } else if (kind >= OpKind.MemorySegSI && kind <= OpKind.MemoryESRDI) {
      // String operands: the address size picks SI/ESI/RSI; the segment is DS (overridable) or ES.
      rec.asize = addressSize(ins, codeSize);
      if (kind <= OpKind.MemorySegRSI) rec.mseg = segOperand(ins.memorySegment);
    }
  }
}

/** What operand k is, as the record's kind0/kind1 say it (OPERAND_*). */
function operandKind(ins: IcedInstruction, k: number): number {
  if (k >= ins.opCount) return OPERAND_NONE;
  const kind = ins.opKind(k);
  if (kind === OpKind.Register) return gprOperand(ins.opRegister(k)) ? OPERAND_GPR : OPERAND_OTHER;
  if (kind === OpKind.Memory) return OPERAND_MEM;
  if (kind >= OpKind.Immediate8 && kind <= OpKind.Immediate32to64) return OPERAND_IMM;
  if (kind === OpKind.NearBranch16 || kind === OpKind.NearBranch32 || kind === OpKind.NearBranch64)
    return OPERAND_REL;
  return OPERAND_OTHER;
}

/**
 * The address size in bytes: the width of the base or index register (RIP/EIP for RIP-relative),
 * of SI/ESI/RSI for string operands, else the displacement's (iced reports a bare displacement as
 * 2, 4 or 8 bytes by address size), else the code size's default.
 */
function addressSize(ins: IcedInstruction, codeSize: 16 | 32 | 64): number {
  const reg = ins.memoryBase !== Register.None ? ins.memoryBase : ins.memoryIndex;
  if (reg === Register.RIP || (reg >= Register.RAX && reg <= Register.R15)) return 8;
  if (reg === Register.EIP || (reg >= Register.EAX && reg <= Register.R15D)) return 4;
  if (reg >= Register.AX && reg <= Register.R15W) return 2;
  for (let k = 0; k < ins.opCount; k++) {
    const kind = ins.opKind(k);
    if (kind === OpKind.MemorySegSI || kind === OpKind.MemoryESDI) return 2;
    if (kind === OpKind.MemorySegESI || kind === OpKind.MemoryESEDI) return 4;
    if (kind === OpKind.MemorySegRSI || kind === OpKind.MemoryESRDI) return 8;
  }
  const d = ins.memoryDisplSize;
  return d >= 2 ? d : codeSize / 8;
}

/** iced's ConditionCode (o=1 … g=16, in tttn order) as the tttn number 0-15. */
function conditionNumber(cc: number): number {
  return cc - 1;
}

/**
 * Decode the block at CS:RIP (linear `la`, guest-physical `gpa`) for a code size. Fetch faults
 * (a page not present, NX, an MMIO or unmapped GPA) are raised as the fetch would raise them.
 */
export function decodeBlock(cpu: X86Cpu, la: number, gpa: number, codeSize: 16 | 32 | 64): Block {
  const off = gpa % PAGE_SIZE;
  // Instruction fetches are private under SEV: the decoder reads the decrypted page.
  const first = cpu.privatePage(gpa - off, false);
  let bytes = first.subarray(off);
  const pages = [gpa - off];
  // Up to 15 bytes of the next page, for an instruction that crosses into it (fetched only then).
  const tail = (): Uint8Array => {
    const i = tlbEntry(cpu, la + (PAGE_SIZE - off), ACC_FETCH);
    const p = cpu.tlb.gpaPage[i]!;
    pages.push(p);
    return (cpu.enc ? cpu.privatePage(p, false) : cpu.tlb.bytes[i]!).subarray(0, 15);
  };
  const decoder = new Decoder(codeSize, bytes, DecoderOptions.None);
  const ins = new Instruction();
  const insns: Insn[] = [];
  let at = 0;
  try {
    while (insns.length < MAX_BLOCK && at < bytes.length) {
      // Decoded at IP 0: branch targets and RIP-relative addresses come out relative to the instruction.
      decoder.position = at;
      decoder.ip = 0n;
      decoder.decodeOut(ins);
      if (ins.isInvalid || at + ins.length > bytes.length) {
        // Ran off the page (or a truncated instruction at its end): decode it again from both pages.
        if (at + 15 <= first.length - off && ins.isInvalid) {
          insns.push(undecodable(at));
          break;
        }
        if (insns.length > 0) break;
        const more = tail();
        const joined = new Uint8Array(bytes.length + more.length);
        joined.set(bytes);
        joined.set(more, bytes.length);
        bytes = joined;
        return finishCrossing(cpu, bytes, gpa, codeSize, pages, insns);
      }
      const rec = buildRecord(ins, codeSize, cpu.alu);
      insns.push(rec);
      at += ins.length;
      if (endsBlock(ins)) break;
    }
  } finally {
    ins.free();
    decoder.free();
  }
  return new Block(gpa, codeSize, insns, bytes.slice(0, at || 1), pages, cpu.blocks.epoch);
}

/** A block of one instruction that crosses a page boundary (decoded from the joined bytes). */
function finishCrossing(
  cpu: X86Cpu,
  bytes: Uint8Array,
  gpa: number,
  codeSize: 16 | 32 | 64,
  pages: number[],
  insns: Insn[],
): Block {
  const decoder = new Decoder(codeSize, bytes, DecoderOptions.None);
  const ins = new Instruction();
  try {
    decoder.ip = 0n;
    decoder.decodeOut(ins);
    insns.push(ins.isInvalid ? undecodable(0) : buildRecord(ins, codeSize, cpu.alu));
    return new Block(
      gpa,
      codeSize,
      insns,
      bytes.slice(0, ins.isInvalid ? 1 : ins.length),
      pages,
      cpu.blocks.epoch,
    );
  } finally {
    ins.free();
    decoder.free();
  }
}

/** Bytes that are no instruction: #UD. */
function undecodable(_at: number): Insn {
  const rec = new Insn(execUnimplemented);
  rec.len = 1;
  rec.name = 'INVALID';
  return rec;
}

/**
 * The record of one decoded instruction, with the handler its mnemonic's builder picks (or #UD),
 * bound to `alu` (the decoding CPU's).
 */
export function buildRecord(ins: IcedInstruction, codeSize: 16 | 32 | 64, alu: Alu): Insn {
  const rec = new Insn(execUnimplemented);
  fillCommon(ins, rec, codeSize);
  const builder = BUILDERS.get(ins.mnemonic);
  const exec = builder?.(ins, rec, codeSize, alu);
  if (exec) rec.exec = exec;
  return rec;
}

/** Control transfers and instructions after which the next ones may decode differently. */
function endsBlock(ins: IcedInstruction): boolean {
  if (ins.flowControl !== FlowControl.Next) return true;
  switch (ins.mnemonic) {
    case Mnemonic.Mov:
      // MOV to CR0/CR4 (mode), or to SS (interrupt shadow): end the block.
      return (
        ins.op0Kind === OpKind.Register &&
        (ins.op0Register >= Register.CR0 || ins.op0Register === Register.SS)
      );
    case Mnemonic.Lgdt:
    case Mnemonic.Lidt:
    case Mnemonic.Hlt:
    case Mnemonic.Sti:
    case Mnemonic.Popf:
    case Mnemonic.Wrmsr:
      return true;
    default:
      return false;
  }
}
