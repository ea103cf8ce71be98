/**
 * The MMIO instruction decoder (emulate.ts): decodeMmioInsn on real encodings of every supported
 * opcode in 16-, 32- and 64-bit code with their prefixes (66, 67, REX.W/R/X/B, segment overrides,
 * LOCK), the instruction lengths, registers, high-byte registers, immediates and sign extension;
 * the ALU forms (00-3B, group 1 with immediates, TEST) with their operation, direction, sizes and
 * immediates; the memory operand's form (ModRM, SIB, RIP-relative, the 16-bit forms) and effectiveAddress on it;
 * and undefined for what the emulator does not handle.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CodeSize } from '../cpu/backend.js';
import {
  ALU_ADC,
  ALU_ADD,
  ALU_AND,
  ALU_CMP,
  ALU_OR,
  ALU_SBB,
  ALU_SUB,
  ALU_TEST,
  ALU_XOR,
  decodeMmioInsn,
  effectiveAddress,
  type MemOperand,
  type MmioInsn,
} from './emulate.js';

const RAX = 0;
const RCX = 1;
const RDX = 2;
const RBX = 3;
const RSP = 4;
const RBP = 5;
const RSI = 6;
const RDI = 7;
const R8 = 8;
const R9 = 9;
const R15 = 15;
/** Segment registers in save-area order. */
const ES = 0;
const CS = 1;
const SS = 2;
const DS = 3;
const FS = 4;
const GS = 5;
const RIP_RELATIVE = -2;
const NONE = -1;

/** Decode hex bytes ("48 89 08") in `mode`. */
function dec(hex: string, mode: CodeSize): MmioInsn | undefined {
  const bytes = Uint8Array.from(hex.split(/\s+/).filter(Boolean), (b) => Number.parseInt(b, 16));
  return decodeMmioInsn(bytes, mode);
}

/** Decode and assert that it is an instruction. */
function must(hex: string, mode: CodeSize): MmioInsn {
  const insn = dec(hex, mode);
  assert.ok(insn, `${hex} in ${mode}-bit code should decode`);
  return insn;
}

/** The access fields of a decoded instruction, for one deepEqual. */
function access(i: MmioInsn) {
  return {
    len: i.len,
    write: i.write,
    size: i.size,
    reg: i.reg,
    highByte: i.highByte,
    imm: i.imm,
    destSize: i.destSize,
    signExtend: i.signExtend,
  };
}

const load = (len: number, size: 1 | 2 | 4 | 8, reg: number, destSize = size, signExtend = false) => ({
  len,
  write: false,
  size,
  reg,
  highByte: false,
  imm: undefined,
  destSize,
  signExtend,
});
const store = (len: number, size: 1 | 2 | 4 | 8, reg: number, highByte = false) => ({
  len,
  write: true,
  size,
  reg,
  highByte,
  imm: undefined,
  destSize: size,
  signExtend: false,
});
const storeImm = (len: number, size: 1 | 2 | 4 | 8, imm: bigint) => ({
  len,
  write: true,
  size,
  reg: undefined,
  highByte: false,
  imm,
  destSize: size,
  signExtend: false,
});
const mem = (o: Partial<MemOperand> & { addrSize: CodeSize }): MemOperand => ({
  seg: DS,
  base: NONE,
  index: NONE,
  scale: 1,
  disp: 0n,
  ...o,
});

describe('decodeMmioInsn: MOV r/m, r and r, r/m (88, 89, 8A, 8B)', () => {
  it('64-bit: 88/8A are byte moves, 89/8B take the operand size (4, 66: 2, REX.W: 8)', () => {
    assert.deepEqual(access(must('88 07', 64)), store(2, 1, RAX)); // mov [rdi], al
    assert.deepEqual(access(must('8a 0e', 64)), load(2, 1, RCX)); // mov cl, [rsi]
    assert.deepEqual(access(must('89 08', 64)), store(2, 4, RCX)); // mov [rax], ecx
    assert.deepEqual(access(must('66 89 08', 64)), store(3, 2, RCX)); // mov [rax], cx
    assert.deepEqual(access(must('48 89 08', 64)), store(3, 8, RCX)); // mov [rax], rcx
    assert.deepEqual(access(must('8b 13', 64)), load(2, 4, RDX)); // mov edx, [rbx]
    assert.deepEqual(access(must('48 8b 13', 64)), load(3, 8, RDX)); // mov rdx, [rbx]
    assert.deepEqual(access(must('66 48 8b 13', 64)), load(4, 8, RDX), 'REX.W wins over 66');
  });

  it('the legacy high-byte registers AH, CH, DH, BH; with any REX prefix the same encodings are SPL..DIL', () => {
    assert.deepEqual(access(must('88 27', 64)), store(2, 1, RAX, true)); // mov [rdi], ah
    assert.deepEqual(access(must('88 3f', 64)), store(2, 1, RBX, true)); // mov [rdi], bh
    assert.deepEqual(access(must('8a 2e', 32)), { ...load(2, 1, RCX), highByte: true }); // mov ch, [esi]
    assert.deepEqual(access(must('8a 37', 16)), { ...load(2, 1, RDX), highByte: true }); // mov dh, [bx]
    assert.deepEqual(access(must('40 88 27', 64)), store(3, 1, RSP)); // mov [rdi], spl
    assert.deepEqual(access(must('40 8a 3e', 64)), load(3, 1, RDI)); // mov dil, [rsi]
  });

  it('REX.R extends the register, REX.B the base, REX.X the index', () => {
    assert.deepEqual(access(must('44 88 07', 64)), store(3, 1, R8)); // mov [rdi], r8b
    assert.deepEqual(access(must('4c 89 0f', 64)), store(3, 8, R9)); // mov [rdi], r9
    const b = must('41 89 07', 64); // mov [r15], eax
    assert.deepEqual(access(b), store(3, 4, RAX));
    assert.deepEqual(b.addr, mem({ base: R15, addrSize: 64 }));
    const x = must('42 8b 04 88', 64); // mov eax, [rax + r9*4]
    assert.deepEqual(x.addr, mem({ base: RAX, index: R9, scale: 4, addrSize: 64 }));
    const all = must('4f 8b 04 c8', 64); // mov r8, [r8 + r9*8]
    assert.deepEqual(access(all), load(4, 8, R8));
    assert.deepEqual(all.addr, mem({ base: R8, index: R9, scale: 8, addrSize: 64 }));
  });

  it('32-bit code: 66 makes 2 bytes; 0x40-0x4f are not REX prefixes (so 48 89 08 is not a mov)', () => {
    assert.deepEqual(access(must('89 08', 32)), store(2, 4, RCX));
    assert.deepEqual(access(must('66 89 08', 32)), store(3, 2, RCX));
    assert.equal(dec('48 89 08', 32), undefined);
  });

  it('16-bit code: the operand size is 2, and 4 with 66', () => {
    assert.deepEqual(access(must('89 07', 16)), store(2, 2, RAX)); // mov [bx], ax
    assert.deepEqual(access(must('66 89 07', 16)), store(3, 4, RAX)); // mov [bx], eax
    assert.deepEqual(access(must('8b 0f', 16)), load(2, 2, RCX)); // mov cx, [bx]
  });

  it('LOCK (F0) and segment prefixes are skipped for the length and counted in it', () => {
    assert.deepEqual(access(must('f0 89 08', 64)), store(3, 4, RCX));
    assert.deepEqual(access(must('2e 3e 66 89 08', 32)), store(5, 2, RCX));
  });

  it('a register operand (mod 3) is no memory access: undefined', () => {
    assert.equal(dec('89 c8', 64), undefined); // mov eax, ecx
    assert.equal(dec('8a c1', 16), undefined);
  });
});

describe('decodeMmioInsn: MOV with moffs (A0-A3)', () => {
  it('64-bit: an 8-byte offset (4 with 67); A0/A2 bytes, A1/A3 the operand size', () => {
    const a0 = must('a0 88 77 66 55 44 33 22 11', 64);
    assert.deepEqual(access(a0), load(9, 1, RAX));
    assert.deepEqual(a0.addr, mem({ disp: 0x1122_3344_5566_7788n, addrSize: 64 }));
    assert.deepEqual(access(must('a1 00 00 00 d0 00 00 00 00', 64)), load(9, 4, RAX));
    assert.deepEqual(access(must('48 a1 00 00 00 d0 00 00 00 00', 64)), load(10, 8, RAX));
    assert.deepEqual(access(must('66 a3 00 00 00 d0 00 00 00 00', 64)), store(10, 2, RAX));
    assert.deepEqual(access(must('a2 00 00 00 d0 00 00 00 00', 64)), store(9, 1, RAX));
    const short = must('67 a1 10 00 00 d0', 64);
    assert.deepEqual(access(short), load(6, 4, RAX));
    assert.deepEqual(short.addr, mem({ disp: 0xd000_0010n, addrSize: 32 }), 'unsigned, not sign-extended');
  });

  it('32-bit: a 4-byte offset (2 with 67)', () => {
    const a = must('a1 30 00 e0 fe', 32);
    assert.deepEqual(access(a), load(5, 4, RAX));
    assert.equal(a.addr.disp, 0xfee0_0030n);
    assert.deepEqual(access(must('66 a3 00 10 00 00', 32)), store(6, 2, RAX));
    const w = must('67 a0 34 12', 32);
    assert.deepEqual(access(w), load(4, 1, RAX));
    assert.deepEqual(w.addr, mem({ disp: 0x1234n, addrSize: 16 }));
  });

  it('16-bit: a 2-byte offset (4 with 67)', () => {
    assert.deepEqual(access(must('a1 34 12', 16)), load(3, 2, RAX));
    assert.deepEqual(access(must('66 a1 34 12', 16)), load(4, 4, RAX));
    const far = must('66 67 a3 00 00 10 00', 16);
    assert.deepEqual(access(far), store(7, 4, RAX));
    assert.deepEqual(far.addr, mem({ disp: 0x10_0000n, addrSize: 32 }));
    assert.equal(must('a1 fe ff', 16).addr.disp, 0xfffen, 'a moffs is unsigned');
  });

  it('a segment override names the segment (DS by default)', () => {
    assert.equal(must('a1 00 10', 16).addr.seg, DS);
    assert.equal(must('2e a1 00 10', 16).addr.seg, CS);
    assert.equal(must('64 a1 00 00 00 00 00 00 00 00', 64).addr.seg, FS);
  });

  it('a truncated offset is undefined', () => {
    assert.equal(dec('a1 00 00 00 d0', 64), undefined);
    assert.equal(dec('a1 00 10 00', 32), undefined);
    assert.equal(dec('a0 00', 16), undefined);
  });
});

describe('decodeMmioInsn: MOV r/m, imm (C6 /0, C7 /0)', () => {
  it('byte, word, dword and REX.W qword stores of an immediate', () => {
    assert.deepEqual(access(must('c6 00 ab', 64)), storeImm(3, 1, 0xabn)); // mov byte [rax], 0xab
    assert.deepEqual(access(must('66 c7 00 34 12', 64)), storeImm(5, 2, 0x1234n));
    assert.deepEqual(access(must('c7 00 78 56 34 12', 64)), storeImm(6, 4, 0x1234_5678n));
    assert.deepEqual(
      access(must('c7 07 ff ff ff ff', 32)),
      storeImm(6, 4, 0xffff_ffffn),
      'imm32 of a dword store is not widened',
    );
    assert.deepEqual(access(must('c7 07 34 12', 16)), storeImm(4, 2, 0x1234n), '16-bit code: an imm16');
    assert.deepEqual(access(must('66 c7 07 78 56 34 12', 16)), storeImm(7, 4, 0x1234_5678n));
  });

  it('with REX.W the imm32 is sign-extended to 64 bits', () => {
    assert.deepEqual(access(must('48 c7 00 ff ff ff ff', 64)), storeImm(7, 8, 0xffff_ffff_ffff_ffffn));
    assert.deepEqual(access(must('48 c7 00 00 00 00 80', 64)), storeImm(7, 8, 0xffff_ffff_8000_0000n));
    assert.deepEqual(access(must('48 c7 00 ff ff ff 7f', 64)), storeImm(7, 8, 0x7fff_ffffn));
  });

  it('the immediate follows the displacement: its length counts both', () => {
    const i = must('c7 80 00 01 00 00 01 00 00 00', 64); // mov dword [rax + 0x100], 1
    assert.deepEqual(access(i), storeImm(10, 4, 1n));
    assert.deepEqual(i.addr, mem({ base: RAX, disp: 0x100n, addrSize: 64 }));
  });

  it('C6/C7 with a ModRM reg other than 0 are not MOV: undefined; a truncated immediate too', () => {
    assert.equal(dec('c6 08 00', 64), undefined);
    assert.equal(dec('c7 38 00 00 00 00', 64), undefined);
    assert.equal(dec('c7 00 78 56', 64), undefined);
    assert.equal(dec('c6 00', 32), undefined);
  });
});

describe('decodeMmioInsn: MOVZX and MOVSX (0F B6, B7, BE, BF)', () => {
  it('zero-extending loads: a byte or word into the operand size', () => {
    assert.deepEqual(access(must('0f b6 00', 64)), load(3, 1, RAX, 4)); // movzx eax, byte [rax]
    assert.deepEqual(access(must('48 0f b6 00', 64)), load(4, 1, RAX, 8)); // movzx rax, byte [rax]
    assert.deepEqual(access(must('66 0f b6 00', 64)), load(4, 1, RAX, 2)); // movzx ax, byte [rax]
    assert.deepEqual(access(must('0f b7 0b', 32)), load(3, 2, RCX, 4)); // movzx ecx, word [ebx]
    assert.deepEqual(access(must('0f b6 07', 16)), load(3, 1, RAX, 2)); // movzx ax, byte [bx]
  });

  it('sign-extending loads', () => {
    assert.deepEqual(access(must('0f be 00', 64)), load(3, 1, RAX, 4, true));
    assert.deepEqual(access(must('48 0f bf 00', 64)), load(4, 2, RAX, 8, true));
    assert.deepEqual(access(must('44 0f be 00', 64)), load(4, 1, R8, 4, true), 'REX.R: r8d');
  });

  it('MOVZX with a REX-less ModRM reg of 4-7 names ESP..EDI, not a high byte (the destination is not 8-bit)', () => {
    assert.deepEqual(access(must('0f b6 20', 64)), load(3, 1, RSP, 4));
  });

  it('other two-byte opcodes are undefined', () => {
    assert.equal(dec('0f 05', 64), undefined); // syscall
    assert.equal(dec('0f af 00', 64), undefined); // imul
    assert.equal(dec('0f', 64), undefined);
  });
});

/** An ALU instruction's fields: the access (a read first), its source, the operation and direction. */
function aluOf(i: MmioInsn) {
  return { ...access(i), alu: i.alu };
}
const aluReg = (
  len: number,
  size: 1 | 2 | 4 | 8,
  op: number,
  reg: number,
  toReg = false,
  highByte = false,
) => ({
  len,
  write: false,
  size,
  reg,
  highByte,
  imm: undefined,
  destSize: size,
  signExtend: false,
  alu: { op, toReg },
});
const aluImm = (len: number, size: 1 | 2 | 4 | 8, op: number, imm: bigint) => ({
  len,
  write: false,
  size,
  reg: undefined,
  highByte: false,
  imm,
  destSize: size,
  signExtend: false,
  alu: { op, toReg: false },
});

describe('decodeMmioInsn: ALU r/m,reg and reg,r/m (00-03 ... 38-3B)', () => {
  it('every operation in both directions, byte and operand-size forms (64-bit)', () => {
    const ops = [ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP];
    for (const [k, op] of ops.entries()) {
      const base = k * 8;
      const hex = (d: number) => (base + d).toString(16).padStart(2, '0');
      assert.deepEqual(aluOf(must(`${hex(0)} 08`, 64)), aluReg(2, 1, op, RCX), `${hex(0)}: op [rax], cl`);
      assert.deepEqual(aluOf(must(`${hex(1)} 08`, 64)), aluReg(2, 4, op, RCX), `${hex(1)}: op [rax], ecx`);
      assert.deepEqual(
        aluOf(must(`${hex(2)} 08`, 64)),
        aluReg(2, 1, op, RCX, true),
        `${hex(2)}: op cl, [rax]`,
      );
      assert.deepEqual(
        aluOf(must(`${hex(3)} 08`, 64)),
        aluReg(2, 4, op, RCX, true),
        `${hex(3)}: op ecx, [rax]`,
      );
    }
  });

  it('operand size from 66 and REX.W; REX.R extends the register; high-byte registers without REX', () => {
    assert.deepEqual(aluOf(must('66 01 08', 64)), aluReg(3, 2, ALU_ADD, RCX)); // add [rax], cx
    assert.deepEqual(aluOf(must('48 29 08', 64)), aluReg(3, 8, ALU_SUB, RCX)); // sub [rax], rcx
    assert.deepEqual(aluOf(must('4c 0b 07', 64)), aluReg(3, 8, ALU_OR, R8, true)); // or r8, [rdi]
    assert.deepEqual(aluOf(must('08 27', 64)), aluReg(2, 1, ALU_OR, RAX, false, true)); // or [rdi], ah
    assert.deepEqual(aluOf(must('40 08 27', 64)), aluReg(3, 1, ALU_OR, RSP)); // or [rdi], spl
    assert.deepEqual(aluOf(must('3a 3e', 32)), aluReg(2, 1, ALU_CMP, RBX, true, true)); // cmp bh, [esi]
    assert.deepEqual(aluOf(must('21 07', 16)), aluReg(2, 2, ALU_AND, RAX)); // and [bx], ax
    assert.deepEqual(aluOf(must('66 21 07', 16)), aluReg(3, 4, ALU_AND, RAX)); // and [bx], eax
  });

  it('LOCK, segment and address-size prefixes as for MOV; the operand is addressed the same way', () => {
    const i = must('f0 65 67 31 44 8e 10', 64); // lock xor gs:[esi + ecx*4 + 0x10], eax
    assert.deepEqual(aluOf(i), aluReg(7, 4, ALU_XOR, RAX));
    assert.deepEqual(i.addr, mem({ seg: GS, base: RSI, index: RCX, scale: 4, disp: 0x10n, addrSize: 32 }));
  });
});

describe('decodeMmioInsn: ALU with an immediate (80, 81, 83 /0-7) and TEST (84, 85, F6 /0, F7 /0)', () => {
  it('group 1: the ModRM reg field is the operation', () => {
    const ops = [ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP];
    for (const [n, op] of ops.entries()) {
      const modrm = (n << 3).toString(16).padStart(2, '0'); // [rax] / [bx+si]
      assert.deepEqual(aluOf(must(`80 ${modrm} 81`, 64)), aluImm(3, 1, op, 0x81n), `80 /${n}`);
      assert.deepEqual(
        aluOf(must(`81 ${modrm} 78 56 34 12`, 64)),
        aluImm(6, 4, op, 0x1234_5678n),
        `81 /${n}`,
      );
      assert.deepEqual(aluOf(must(`83 ${modrm} 7f`, 64)), aluImm(3, 4, op, 0x7fn), `83 /${n}`);
    }
  });

  it('83 sign-extends its imm8 to the operand size; 81 takes an imm16 with a 16-bit operand, imm32 sign-extended with REX.W', () => {
    assert.deepEqual(aluOf(must('83 08 80', 32)), aluImm(3, 4, ALU_OR, 0xffff_ff80n));
    assert.deepEqual(aluOf(must('66 83 08 ff', 64)), aluImm(4, 2, ALU_OR, 0xffffn));
    assert.deepEqual(aluOf(must('48 83 20 f0', 64)), aluImm(4, 8, ALU_AND, 0xffff_ffff_ffff_fff0n));
    assert.deepEqual(aluOf(must('81 07 34 12', 16)), aluImm(4, 2, ALU_ADD, 0x1234n)); // add word [bx], 0x1234
    assert.deepEqual(aluOf(must('66 81 07 34 12', 64)), aluImm(5, 2, ALU_ADD, 0x1234n));
    assert.deepEqual(aluOf(must('48 81 38 00 00 00 80', 64)), aluImm(7, 8, ALU_CMP, 0xffff_ffff_8000_0000n));
  });

  it('the immediate follows the displacement; the mmio guest’s orb $0x80, %es:0x10 (real mode)', () => {
    const i = must('26 80 0e 10 00 80', 16);
    assert.deepEqual(aluOf(i), aluImm(6, 1, ALU_OR, 0x80n));
    assert.deepEqual(i.addr, mem({ seg: ES, disp: 0x10n, addrSize: 16 }));
    assert.deepEqual(aluOf(must('81 a0 00 01 00 00 ff 00 00 00', 64)), aluImm(10, 4, ALU_AND, 0xffn));
  });

  it('TEST r/m,reg (84, 85) and r/m,imm (F6 /0, F7 /0; /1 is the same instruction)', () => {
    assert.deepEqual(aluOf(must('84 08', 64)), aluReg(2, 1, ALU_TEST, RCX)); // test [rax], cl
    assert.deepEqual(aluOf(must('84 20', 32)), aluReg(2, 1, ALU_TEST, RAX, false, true)); // test [eax], ah
    assert.deepEqual(aluOf(must('48 85 10', 64)), aluReg(3, 8, ALU_TEST, RDX)); // test [rax], rdx
    assert.deepEqual(aluOf(must('f6 00 04', 64)), aluImm(3, 1, ALU_TEST, 4n));
    assert.deepEqual(aluOf(must('f6 08 04', 64)), aluImm(3, 1, ALU_TEST, 4n));
    assert.deepEqual(aluOf(must('f7 00 00 00 00 80', 32)), aluImm(6, 4, ALU_TEST, 0x8000_0000n));
    assert.deepEqual(aluOf(must('f7 07 01 80', 16)), aluImm(4, 2, ALU_TEST, 0x8001n));
    assert.deepEqual(aluOf(must('48 f7 00 ff ff ff ff', 64)), aluImm(7, 8, ALU_TEST, 0xffff_ffff_ffff_ffffn));
  });

  it('MOV forms carry no ALU operation', () => {
    assert.equal(must('89 08', 64).alu, undefined);
    assert.equal(must('c6 00 01', 64).alu, undefined);
  });
});

describe('decodeMmioInsn: the memory operand (ModRM, SIB, RIP-relative, 16-bit forms)', () => {
  it('64-bit: [reg], [reg + disp8], [reg + disp32] with a sign-extended displacement', () => {
    assert.deepEqual(must('8b 03', 64).addr, mem({ base: RBX, addrSize: 64 }));
    assert.deepEqual(must('8b 43 f8', 64).addr, mem({ base: RBX, disp: -8n, addrSize: 64 }));
    const d32 = must('8b 83 00 00 00 80', 64);
    assert.equal(d32.len, 6);
    assert.deepEqual(d32.addr, mem({ base: RBX, disp: -0x8000_0000n, addrSize: 64 }));
  });

  it('64-bit: mod 0 r/m 5 is RIP-relative; in 32-bit code it is an absolute disp32', () => {
    const r = must('8b 05 10 00 00 00', 64);
    assert.equal(r.len, 6);
    assert.deepEqual(r.addr, mem({ base: RIP_RELATIVE, disp: 0x10n, addrSize: 64 }));
    const a = must('8b 05 78 56 34 12', 32);
    assert.deepEqual(a.addr, mem({ base: NONE, disp: 0x1234_5678n, addrSize: 32 }));
  });

  it('SIB: scale and index; index 4 is none; base 5 with mod 0 is a disp32 without base', () => {
    assert.deepEqual(must('8b 44 24 08', 64).addr, mem({ seg: SS, base: RSP, disp: 8n, addrSize: 64 }));
    const noBase = must('8b 04 8d 00 10 00 00', 64); // mov eax, [rcx*4 + 0x1000]
    assert.equal(noBase.len, 7);
    assert.deepEqual(noBase.addr, mem({ index: RCX, scale: 4, disp: 0x1000n, addrSize: 64 }));
    assert.deepEqual(
      must('8b 04 5e', 32).addr,
      mem({ seg: DS, base: RSI, index: RBX, scale: 2, addrSize: 32 }),
    );
    assert.deepEqual(
      must('8b 44 7d 00', 64).addr,
      mem({ seg: SS, base: RBP, index: RDI, scale: 2, addrSize: 64 }),
    );
  });

  it('RSP- and RBP-based operands default to SS; a segment override wins', () => {
    assert.equal(must('8b 45 f8', 64).addr.seg, SS); // [rbp - 8]
    assert.equal(must('8b 04 24', 64).addr.seg, SS); // [rsp]
    assert.equal(must('8b 00', 64).addr.seg, DS);
    assert.equal(must('26 8b 45 f8', 32).addr.seg, ES);
    assert.equal(must('64 8b 00', 64).addr.seg, FS);
    assert.equal(must('65 89 08', 64).addr.seg, GS);
    assert.equal(must('36 89 08', 64).addr.seg, SS);
    assert.equal(must('3e 8b 45 00', 32).addr.seg, DS);
  });

  it('67 in 64-bit code makes the address size 32; in 16-bit code 32 with the 32-bit forms', () => {
    assert.equal(must('67 8b 03', 64).addr.addrSize, 32);
    assert.deepEqual(must('67 8b 03', 16).addr, mem({ base: RBX, addrSize: 32 })); // [ebx]
    assert.deepEqual(
      must('67 8b 07', 32).addr,
      mem({ base: RBX, addrSize: 16 }),
      '32-bit code with 67: [bx]',
    );
  });

  it('16-bit forms: [bx+si], [bx+di], [bp+si], [bp+di], [si], [di], [bp+disp], [bx] and the bare disp16', () => {
    const f = (hex: string) => must(hex, 16).addr;
    assert.deepEqual(f('8b 00'), mem({ base: RBX, index: RSI, addrSize: 16 }));
    assert.deepEqual(f('8b 01'), mem({ base: RBX, index: RDI, addrSize: 16 }));
    assert.deepEqual(f('8b 02'), mem({ seg: SS, base: RBP, index: RSI, addrSize: 16 }));
    assert.deepEqual(f('8b 03'), mem({ seg: SS, base: RBP, index: RDI, addrSize: 16 }));
    assert.deepEqual(f('8b 04'), mem({ base: RSI, addrSize: 16 }));
    assert.deepEqual(f('8b 05'), mem({ base: RDI, addrSize: 16 }));
    assert.deepEqual(f('8b 46 04'), mem({ seg: SS, base: RBP, disp: 4n, addrSize: 16 }));
    assert.deepEqual(f('8b 07'), mem({ base: RBX, addrSize: 16 }));
    assert.deepEqual(f('8b 06 34 12'), mem({ disp: 0x1234n, addrSize: 16 }));
    assert.deepEqual(f('8b 80 00 80'), mem({ base: RBX, index: RSI, disp: -0x8000n, addrSize: 16 }));
    assert.equal(must('8b 06 34 12', 16).len, 4);
    assert.equal(must('8b 80 00 80', 16).len, 4);
    assert.equal(must('8b 46 04', 16).len, 3);
  });

  it('a truncated ModRM, SIB or displacement is undefined', () => {
    assert.equal(dec('8b', 64), undefined);
    assert.equal(dec('8b 44', 64), undefined);
    assert.equal(dec('8b 44 24', 64), undefined);
    assert.equal(dec('8b 80 00 01', 64), undefined);
    assert.equal(dec('8b 06 34', 16), undefined);
  });
});

describe('decodeMmioInsn: what the emulator does not handle', () => {
  for (const [hex, mode, what] of [
    ['', 64, 'no bytes'],
    ['90', 64, 'nop'],
    ['ff 00', 64, 'inc dword [rax]'],
    ['f7 10', 32, 'not dword [eax] (group 3 /2)'],
    ['f6 30', 64, 'div byte [rax] (group 3 /6)'],
    ['04 01', 32, 'add al, imm8 (no memory operand)'],
    ['3c 01', 64, 'cmp al, imm8 (no memory operand)'],
    ['82 00 01', 32, 'the 82 alias of group 1'],
    ['01 c8', 32, 'add eax, ecx (a register operand)'],
    ['80 08', 32, 'or byte [eax], imm8 without its immediate'],
    ['81 00 01 00 00', 64, 'add dword [rax], imm32 with a truncated immediate'],
    ['a4', 16, 'movsb'],
    ['f3 a5', 32, 'rep movsd'],
    ['66', 64, 'a prefix alone'],
    ['48', 64, 'a REX prefix alone'],
    ['e4 60', 16, 'in al, 0x60'],
  ] as const) {
    it(`${what} (${hex || 'empty'}) in ${mode}-bit code is undefined`, () => {
      assert.equal(dec(hex, mode), undefined);
    });
  }
});

describe('effectiveAddress', () => {
  const regs = new Map<number, bigint>([
    [RAX, 0x1000n],
    [RCX, 3n],
    [RBX, 0xffffn],
    [RBP, 0x2000n],
    [RSI, 0xfffe_fff0n],
    [R9, 0x10n],
  ]);
  const reg = (r: number): bigint => regs.get(r) ?? 0n;
  const ea = (hex: string, mode: CodeSize, rip = 0n) => effectiveAddress(must(hex, mode).addr, reg, rip);

  it('base + index * scale + displacement', () => {
    assert.equal(ea('8b 44 88 10', 64), 0x1000n + 3n * 4n + 0x10n); // [rax + rcx*4 + 0x10]
    assert.equal(ea('42 8b 04 c8', 64), 0x1000n + 0x10n * 8n); // [rax + r9*8]
    assert.equal(ea('8b 45 f8', 64), 0x1ff8n, 'a negative displacement');
  });

  it('RIP-relative adds the next instruction’s RIP', () => {
    assert.equal(ea('8b 05 10 00 00 00', 64, 0x40_0006n), 0x40_0016n);
    assert.equal(ea('8b 05 f0 ff ff ff', 64, 0x40_0006n), 0x3f_fff6n);
  });

  it('moffs and disp32 without base are absolute', () => {
    assert.equal(ea('a1 88 77 66 55 44 33 22 11', 64), 0x1122_3344_5566_7788n);
    assert.equal(
      ea('8b 04 25 00 00 00 d0', 64),
      0xffff_ffff_d000_0000n,
      'a disp32 is sign-extended in 64-bit code',
    );
    assert.equal(ea('8b 05 00 00 00 d0', 32), 0xd000_0000n);
  });

  it('the sum wraps at the address size: 16, 32 and 64 bits', () => {
    assert.equal(ea('8b 47 02', 16), 1n, '[bx + 2] with BX = 0xffff');
    assert.equal(ea('8b 40 ff', 16), (0xffffn + 0xfffe_fff0n - 1n) & 0xffffn, '[bx + si - 1]');
    assert.equal(ea('8b 46 20', 32), 0xfffe_fff0n + 0x20n);
    assert.equal(ea('8b 86 00 00 02 00', 32), 0xfff0n, '[esi + 0x20000] wraps at 4 GiB');
    assert.equal(ea('67 8b 86 00 00 02 00', 64), 0xfff0n, '67 in long mode: a 32-bit address');
    assert.equal(ea('8b 86 00 00 02 00', 64), 0x1_0000_fff0n, 'no wrap with a 64-bit address');
    assert.equal(ea('8b 45 00', 64), 0x2000n);
    assert.equal(
      effectiveAddress(mem({ base: RAX, disp: -0x2000n, addrSize: 64 }), reg, 0n),
      0xffff_ffff_ffff_f000n,
    );
  });
});
