/**
 * The part of KVM's x86 instruction emulator (arch/x86/kvm/emulate.c) that MMIO needs: decode the
 * instruction bytes SVM's decode assist hands over with a nested page fault (or KVM fetched at
 * CS:RIP), and say what the access is — a load into a register, a store of a register or an
 * immediate — its size, the instruction's length and how its memory operand is addressed. The nested
 * page fault already gave the guest physical address, which KVM uses as it does when `gpa_available`;
 * the operand's address (effectiveAddress) only places an access that crosses into the faulting page.
 *
 * Supported: MOV r/m,r and r,r/m (88, 89, 8A, 8B), MOV with moffs (A0-A3), MOV r/m,imm (C6 /0,
 * C7 /0), MOVZX and MOVSX loads (0F B6, B7, BE, BF); and the ALU forms compiled code uses on device
 * registers (see {@link MmioAlu}): ADD OR ADC SBB AND SUB XOR CMP as r/m,reg and reg,r/m (00-03,
 * 08-0B, 10-13, 18-1B, 20-23, 28-2B, 30-33, 38-3B) and with an immediate (group 1: 80 /n ib,
 * 81 /n iz, 83 /n ib), and TEST (84, 85, F6 /0 ib, F7 /0 iz; /1 is TEST too, as in KVM's group3
 * table); with the operand-size, address-size, segment, LOCK and REX prefixes, in 16-, 32- and
 * 64-bit code. Anything else is an emulation failure (KVM_INTERNAL_ERROR_EMULATION), as for an
 * instruction KVM's emulator does not know.
 */
import type { CodeSize } from '../cpu/backend.js';

/** ALU operations, in group-1 order (the ModRM reg field of 80/81/83, bits 5:3 of 00-3B); then TEST. */
export const ALU_ADD = 0;
export const ALU_OR = 1;
export const ALU_ADC = 2;
export const ALU_SBB = 3;
export const ALU_AND = 4;
export const ALU_SUB = 5;
export const ALU_XOR = 6;
export const ALU_CMP = 7;
export const ALU_TEST = 8;

/**
 * An ALU instruction on the memory operand (KVM's emulator: read the operand, run the fastop, write
 * back). Memory destination (r/m,reg, r/m,imm, TEST): memory OP source, the result written back to
 * memory except for CMP and TEST (NoWrite). Register destination (reg,r/m): register OP memory,
 * the result written to the register except for CMP. The source register is `reg` (`highByte`),
 * the immediate `imm`.
 */
export interface MmioAlu {
  /** ALU_ADD .. ALU_CMP, ALU_TEST. */
  readonly op: number;
  /** reg,r/m: the register is the destination and first operand, memory the source. */
  readonly toReg: boolean;
}

/** A decoded MMIO instruction. */
export interface MmioInsn {
  /** Total length in bytes (KVM moves RIP by this after emulating). */
  readonly len: number;
  /** The memory access: true for a store. An ALU instruction reads first (false), see `alu`. */
  readonly write: boolean;
  /** Bytes accessed in memory (1, 2, 4 or 8). */
  readonly size: 1 | 2 | 4 | 8;
  /** Store: the register holding the data, or undefined when it is `imm`. Load: the destination. */
  readonly reg: number | undefined;
  /** A legacy high-byte register (AH, CH, DH, BH: bits 15:8 of register reg). */
  readonly highByte: boolean;
  /** Store of an immediate, or an ALU immediate source: its value (sign-extended to `size` bytes). */
  readonly imm: bigint | undefined;
  /** Load: the destination register's width (may exceed `size` for MOVZX/MOVSX). */
  readonly destSize: 1 | 2 | 4 | 8;
  /** Load: sign-extend (MOVSX) rather than zero-extend. */
  readonly signExtend: boolean;
  /** How the memory operand is addressed (to find where the access begins, see {@link effectiveAddress}). */
  readonly addr: MemOperand;
  /** An ALU read-modify-write or compare; undefined for MOV forms. */
  readonly alu: MmioAlu | undefined;
}

/** A memory operand: segment, base + index * scale + displacement (or an absolute moffs), address size. */
export interface MemOperand {
  /** Segment register by its save-area order: 0 ES, 1 CS, 2 SS, 3 DS, 4 FS, 5 GS. */
  readonly seg: number;
  /** Base register (VCPU_REGS_*), or -1; -2 for RIP-relative. */
  readonly base: number;
  /** Index register, or -1. */
  readonly index: number;
  readonly scale: number;
  /** Displacement (sign-extended), or the moffs. */
  readonly disp: bigint;
  readonly addrSize: CodeSize;
}

/** Segment override prefixes → save-area segment order (ES, CS, SS, DS, FS, GS). */
const SEG_OF_PREFIX: Readonly<Record<number, number>> = { 38: 0, 46: 1, 54: 2, 62: 3, 100: 4, 101: 5 };
/** 16-bit ModRM r/m: [base, index] registers (RBX 3, RBP 5, RSI 6, RDI 7). */
const RM16: readonly (readonly [number, number])[] = [
  [3, 6],
  [3, 7],
  [5, 6],
  [5, 7],
  [6, -1],
  [7, -1],
  [5, -1],
  [3, -1],
];

/**
 * The operand's effective address (offset within its segment), from the registers: base + index *
 * scale + displacement, truncated to the address size; `rip` is the next instruction's RIP.
 */
export function effectiveAddress(op: MemOperand, reg: (r: number) => bigint, rip: bigint): bigint {
  let ea = op.disp;
  if (op.base === -2) ea += rip;
  else if (op.base >= 0) ea += reg(op.base);
  if (op.index >= 0) ea += reg(op.index) * BigInt(op.scale);
  return BigInt.asUintN(op.addrSize, ea);
}

const SEGMENT_PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65]);

/** Decode `bytes` as code of `mode`; undefined when it is not an instruction this emulator handles. */
/** What the legacy prefixes and REX said (x86_decode_insn's prefix loop), and where the opcode is. */
interface Prefixes {
  /** Offset of the opcode. */
  readonly at: number;
  /** 66h: the other operand size. */
  readonly opsize: boolean;
  /** 67h: the other address size. */
  readonly adsize: boolean;
  /** F2h or F3h. */
  readonly rep: boolean;
  /** A segment override (save-area order), or -1. */
  readonly seg: number;
  /** The REX byte in 64-bit code, or 0. */
  readonly rex: number;
}

function decodePrefixes(bytes: Uint8Array, mode: CodeSize): Prefixes {
  let i = 0;
  let opsize = false;
  let adsize = false;
  let rep = false;
  let seg = -1;
  for (; i < bytes.length && i < 15; i++) {
    const b = bytes[i]!;
    if (b === 0x66) opsize = true;
    else if (b === 0x67) adsize = true;
    else if (SEGMENT_PREFIXES.has(b)) seg = SEG_OF_PREFIX[b]!;
    else if (b === 0xf2 || b === 0xf3) rep = true;
    else if (b !== 0xf0) break;
  }
  let rex = 0;
  if (mode === 64 && i < bytes.length && (bytes[i]! & 0xf0) === 0x40) rex = bytes[i++]!;
  return { at: i, opsize, adsize, rep, seg, rex };
}

/** The address size of code of `mode`, with or without a 67h prefix. */
function addressSize(mode: CodeSize, adsize: boolean): CodeSize {
  return mode === 64 ? (adsize ? 32 : 64) : mode === 32 ? (adsize ? 16 : 32) : adsize ? 32 : 16;
}

export function decodeMmioInsn(bytes: Uint8Array, mode: CodeSize): MmioInsn | undefined {
  const prefixes = decodePrefixes(bytes, mode);
  const { opsize, adsize, rep, seg, rex } = prefixes;
  let i = prefixes.at;
  // No MMIO form this emulator handles takes F2/F3 (they would select other instructions).
  if (i >= bytes.length || rep) return undefined;
  const rexW = (rex & 8) !== 0;
  const rexR = rex & 4 ? 8 : 0;
  const opSize: 2 | 4 | 8 = rexW ? 8 : mode === 16 ? (opsize ? 4 : 2) : opsize ? 2 : 4;
  const addrSize = addressSize(mode, adsize);
  let op = bytes[i++]!;
  let twoByte = false;
  if (op === 0x0f) {
    if (i >= bytes.length) return undefined;
    twoByte = true;
    op = bytes[i++]!;
  }
  const reg8 = (r: number): { reg: number; highByte: boolean } =>
    rex === 0 && r >= 4 && r < 8 ? { reg: r - 4, highByte: true } : { reg: r, highByte: false };

  if (!twoByte && op >= 0xa0 && op <= 0xa3) {
    // MOV AL/eAX <-> moffs: the offset has the address size.
    const len = i + addrSize / 8;
    if (len > bytes.length) return undefined;
    const size = op & 1 ? opSize : 1;
    const moffs = BigInt.asUintN(addrSize, disp(bytes, i, addrSize / 8));
    const addr: MemOperand = { seg: seg < 0 ? 3 : seg, base: -1, index: -1, scale: 1, disp: moffs, addrSize };
    return insn(len, op >= 0xa2, size, 0, false, undefined, size, false, addr);
  }
  const modrm = decodeModrm(bytes, i, addrSize, rex, mode);
  if (!modrm) return undefined;
  if (modrm.mod === 3) return undefined; // register operand: no memory access to emulate
  const r = modrm.reg | rexR;
  const addr: MemOperand = { ...modrm.addr, seg: seg >= 0 ? seg : modrm.addr.seg };
  let at = modrm.end;
  if (!twoByte) {
    switch (op) {
      case 0x88:
      case 0x8a: {
        const { reg, highByte } = reg8(r);
        return insn(at, op === 0x88, 1, reg, highByte, undefined, 1, false, addr);
      }
      case 0x89:
      case 0x8b:
        return insn(at, op === 0x89, opSize, r, false, undefined, opSize, false, addr);
      case 0xc6:
      case 0xc7: {
        if (modrm.reg !== 0) return undefined;
        const size = op === 0xc6 ? 1 : opSize;
        const immBytes = size === 8 ? 4 : size;
        if (at + immBytes > bytes.length) return undefined;
        let imm = 0n;
        for (let k = immBytes - 1; k >= 0; k--) imm = (imm << 8n) | BigInt(bytes[at + k]!);
        // imm32 with REX.W is sign-extended to 64 bits.
        if (size === 8) imm = BigInt.asUintN(64, BigInt.asIntN(32, imm));
        at += immBytes;
        return insn(at, true, size, undefined, false, imm, size, false, addr);
      }
      case 0x80:
      case 0x81:
      case 0x83:
      case 0xf6:
      case 0xf7: {
        // Group 1 (ADD..CMP by ModRM reg) and group 3's TEST (/0, /1) with an immediate.
        const test = op === 0xf6 || op === 0xf7;
        if (test && modrm.reg > 1) return undefined; // NOT NEG MUL IMUL DIV IDIV
        const size = op === 0x80 || op === 0xf6 ? 1 : opSize;
        const imm = immediate(bytes, at, op === 0x83 ? 1 : size === 8 ? 4 : size, size);
        if (imm === undefined) return undefined;
        at += op === 0x83 ? 1 : size === 8 ? 4 : size;
        const alu: MmioAlu = { op: test ? ALU_TEST : modrm.reg, toReg: false };
        return insn(at, false, size, undefined, false, imm, size, false, addr, alu);
      }
      case 0x84:
      case 0x85: {
        const size = op === 0x84 ? 1 : opSize;
        const { reg, highByte } = size === 1 ? reg8(r) : { reg: r, highByte: false };
        return insn(at, false, size, reg, highByte, undefined, size, false, addr, {
          op: ALU_TEST,
          toReg: false,
        });
      }
      default: {
        // 00-3B: ADD OR ADC SBB AND SUB XOR CMP (bits 5:3), r/m,reg (bit 1 clear) or reg,r/m; bit 0: not a byte.
        if (op > 0x3b || (op & 7) > 3) return undefined;
        const size = op & 1 ? opSize : 1;
        const { reg, highByte } = size === 1 ? reg8(r) : { reg: r, highByte: false };
        const alu: MmioAlu = { op: op >> 3, toReg: (op & 2) !== 0 };
        return insn(at, false, size, reg, highByte, undefined, size, false, addr, alu);
      }
    }
  }
  switch (op) {
    case 0xb6:
    case 0xbe:
      return insn(at, false, 1, r, false, undefined, opSize, op === 0xbe, addr);
    case 0xb7:
    case 0xbf:
      return insn(at, false, 2, r, false, undefined, opSize, op === 0xbf, addr);
    default:
      return undefined;
  }
}

function insn(
  len: number,
  write: boolean,
  size: 1 | 2 | 4 | 8,
  reg: number | undefined,
  highByte: boolean,
  imm: bigint | undefined,
  destSize: 1 | 2 | 4 | 8,
  signExtend: boolean,
  addr: MemOperand,
  alu?: MmioAlu,
): MmioInsn {
  return { len, write, size, reg, highByte, imm, destSize, signExtend, addr, alu };
}

/** An `n`-byte little-endian immediate at `i`, sign-extended to `size` bytes (as an unsigned value); undefined when truncated. */
function immediate(bytes: Uint8Array, i: number, n: number, size: number): bigint | undefined {
  if (i + n > bytes.length) return undefined;
  return BigInt.asUintN(8 * size, disp(bytes, i, n));
}

/** Little-endian signed displacement of `n` bytes at `i`. */
function disp(bytes: Uint8Array, i: number, n: number): bigint {
  let v = 0n;
  for (let k = n - 1; k >= 0; k--) v = (v << 8n) | BigInt(bytes[i + k]!);
  return n === 0 ? 0n : BigInt.asIntN(8 * n, v);
}

/** ModRM (and SIB, displacement) starting at `i`: the fields, the memory operand, where the next byte is. */
function decodeModrm(
  bytes: Uint8Array,
  i: number,
  addrSize: CodeSize,
  rex: number,
  mode: CodeSize,
): { mod: number; reg: number; rm: number; end: number; addr: MemOperand } | undefined {
  if (i >= bytes.length) return undefined;
  const m = bytes[i++]!;
  const mod = m >> 6;
  const reg = (m >> 3) & 7;
  const rm = m & 7;
  const none: MemOperand = { seg: 3, base: -1, index: -1, scale: 1, disp: 0n, addrSize };
  if (mod === 3) return { mod, reg, rm, end: i, addr: none };
  if (addrSize === 16) {
    const n = mod === 1 ? 1 : mod === 2 || (mod === 0 && rm === 6) ? 2 : 0;
    if (i + n > bytes.length) return undefined;
    const [base, index] = mod === 0 && rm === 6 ? [-1, -1] : RM16[rm]!;
    // BP-based forms default to SS.
    const seg = base === 5 ? 2 : 3;
    return {
      mod,
      reg,
      rm,
      end: i + n,
      addr: { seg, base, index, scale: 1, disp: disp(bytes, i, n), addrSize },
    };
  }
  let base = rm | (rex & 1 ? 8 : 0);
  let index = -1;
  let scale = 1;
  let n = mod === 1 ? 1 : mod === 2 ? 4 : 0;
  if (rm === 4) {
    if (i >= bytes.length) return undefined;
    const sib = bytes[i++]!;
    scale = 1 << (sib >> 6);
    index = ((sib >> 3) & 7) | (rex & 2 ? 8 : 0);
    if (index === 4) index = -1; // no index
    base = (sib & 7) | (rex & 1 ? 8 : 0);
    if (mod === 0 && (sib & 7) === 5) {
      base = -1;
      n = 4;
    }
  } else if (mod === 0 && rm === 5) {
    base = mode === 64 ? -2 : -1; // RIP-relative in long mode, disp32 otherwise
    n = 4;
  }
  if (i + n > bytes.length) return undefined;
  const seg = base === 4 || base === 5 ? 2 : 3; // RSP/RBP-based forms default to SS
  return { mod, reg, rm, end: i + n, addr: { seg, base, index, scale, disp: disp(bytes, i, n), addrSize } };
}

/**
 * A decoded INS or OUTS (emulate.c's opcode table: 6C/6D `DstDI | SrcDX | Mov | String` em_in,
 * 6E/6F `SrcSI | DstDX | String` em_out).
 */
export interface StringIoInsn {
  /** Total length in bytes. */
  readonly len: number;
  /** INS (port to memory) rather than OUTS. */
  readonly isIn: boolean;
  /** Element size: 1 for INSB/OUTSB, else the operand size (2 or 4). */
  readonly size: 1 | 2 | 4;
  /** An F2 or F3 prefix (ctxt->rep_prefix): the instruction repeats RCX times. */
  readonly rep: boolean;
  /** The memory operand's segment (save-area order): ES for INS, DS or the override for OUTS. */
  readonly seg: number;
  /** The address size (ctxt->ad_bytes × 8): which part of RSI/RDI/RCX the instruction uses. */
  readonly addrSize: CodeSize;
}

/**
 * Decode `bytes` as an INS or OUTS in code of `mode` (x86_decode_insn's legacy prefixes, REX in
 * 64-bit mode, the one-byte opcode); undefined for anything else. REX.W (which would make KVM's
 * emulator use 8-byte elements) is left undecoded: an emulation failure.
 */
export function decodeStringIo(bytes: Uint8Array, mode: CodeSize): StringIoInsn | undefined {
  const { at, opsize, adsize, rep, seg, rex } = decodePrefixes(bytes, mode);
  if (at >= bytes.length || rex & 8) return undefined;
  const op = bytes[at]!;
  if (op < 0x6c || op > 0x6f) return undefined;
  const opSize: 2 | 4 = mode === 16 ? (opsize ? 4 : 2) : opsize ? 2 : 4;
  const addrSize = addressSize(mode, adsize);
  const isIn = op < 0x6e;
  return {
    len: at + 1,
    isIn,
    size: op & 1 ? opSize : 1,
    rep,
    seg: isIn ? 0 : seg >= 0 ? seg : 3,
    addrSize,
  };
}
