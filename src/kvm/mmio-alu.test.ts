/**
 * KVM's emulation of ALU instructions on MMIO in 64-bit code, with SVM's #VMEXITs replayed
 * (HardwareExits): a reserved-bit nested page fault with decode-assist bytes, as the hardware
 * reports one. The exit sequence (read, then write on the next KVM_RUN), REX.W operands whose carry
 * crosses the 32-bit halves, a 32-bit register destination zero-extending, CMP and TEST writing
 * only RFLAGS, and a MOV store retired (RIP) before its write exit as the emulator's writeback does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CpuAttachment,
  PFERR_GUEST_FINAL_HI,
  PFERR_PRESENT_MASK,
  PFERR_RSVD_MASK,
} from '../cpu/backend.js';
import { SVM_EXIT_NPF } from '../uapi/svm.js';
import { expectExit, hardwareExitsVm, ok } from './test-util.js';

const MMIO = 0xd000_0040;
const RFLAGS_CF = 0x1n;
const RFLAGS_PF = 0x4n;
const RFLAGS_AF = 0x10n;
const RFLAGS_ZF = 0x40n;
const RFLAGS_SF = 0x80n;
const RFLAGS_OF = 0x800n;
const ARITH = RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF;

/** A VM whose vCPU (64-bit code) takes one MMIO nested page fault at MMIO on `bytes` with RAX = MMIO, RCX = `rcx`. */
function npfVm(bytes: number[], rcx: bigint, rflags = 2n) {
  const env = hardwareExitsVm(
    [
      {
        code: SVM_EXIT_NPF,
        info1: BigInt(PFERR_RSVD_MASK | PFERR_PRESENT_MASK) | (BigInt(PFERR_GUEST_FINAL_HI) << 32n),
        info2: BigInt(MMIO),
        before: (hw: CpuAttachment) => {
          hw.vmcb.insnBytes.set(bytes);
          hw.vmcb.insnLen = bytes.length;
        },
      },
    ],
    { mode: 64 },
  );
  const r = ok(env.vcpuFd.getRegs());
  ok(env.vcpuFd.setRegs({ ...r, rax: BigInt(MMIO), rcx, rflags }));
  return { ...env, rip0: r.rip };
}

const le = (v: bigint, n: number) =>
  Array.from({ length: n }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));

describe('MMIO emulation of ALU instructions in 64-bit code (replayed #VMEXITs)', () => {
  it('add [rax], rcx (REX.W): read exit of 8, then the sum as a write exit of 8; CF and the carry between the halves', () => {
    const { vcpuFd, rip0 } = npfVm([0x48, 0x01, 0x08], 0x0000_0001_8000_0001n);
    const read = expectExit(vcpuFd, 'MmioRead');
    assert.deepEqual([read.addr, read.data.length], [MMIO, 8]);
    assert.equal(ok(vcpuFd.getRegs()).rip, rip0, 'RIP stays until the instruction completes');
    read.data.set(le(0xffff_fffe_8000_0000n, 8));
    const write = expectExit(vcpuFd, 'MmioWrite');
    // 0xfffffffe_80000000 + 0x00000001_80000001 = 0x1_00000000_00000001: carry out of both halves.
    assert.deepEqual([write.addr, [...write.data]], [MMIO, le(1n, 8)]);
    const r = ok(vcpuFd.getRegs());
    assert.equal(r.rip, rip0 + 3n);
    assert.equal(r.rflags & ARITH, RFLAGS_CF, 'CF; not ZF, SF, OF; PF of 0x01 is odd; AF: 0 + 1');
    expectExit(vcpuFd, 'Hlt');
  });

  it('sub ecx, [rax] (2B): one read exit; the 32-bit result zero-extends into RCX; borrow sets CF and SF', () => {
    const { vcpuFd, rip0 } = npfVm([0x2b, 0x08], 0xffff_ffff_0000_0001n);
    const read = expectExit(vcpuFd, 'MmioRead');
    read.data.set(le(2n, 4));
    expectExit(vcpuFd, 'Hlt');
    const r = ok(vcpuFd.getRegs());
    assert.equal(r.rcx, 0xffff_ffffn);
    assert.equal(r.rip, rip0 + 2n + 1n, 'past the sub and the HLT');
    assert.equal(r.rflags & ARITH, RFLAGS_CF | RFLAGS_SF | RFLAGS_PF | RFLAGS_AF);
  });

  it('cmp qword [rax], -1 (48 83 /7): a read exit only; equal sets ZF; no register or memory written', () => {
    const { vcpuFd } = npfVm([0x48, 0x83, 0x38, 0xff], 7n, 2n | RFLAGS_CF | RFLAGS_OF);
    const read = expectExit(vcpuFd, 'MmioRead');
    read.data.set(le(0xffff_ffff_ffff_ffffn, 8));
    expectExit(vcpuFd, 'Hlt');
    const r = ok(vcpuFd.getRegs());
    assert.equal(r.rflags & ARITH, RFLAGS_ZF | RFLAGS_PF);
    assert.deepEqual([r.rax, r.rcx], [BigInt(MMIO), 7n]);
  });

  it('test [rax], cl (84): the non-arithmetic RFLAGS bits survive (IF, DF)', () => {
    const { vcpuFd } = npfVm([0x84, 0x08], 0x80n, 2n | 0x200n | 0x400n | RFLAGS_CF);
    expectExit(vcpuFd, 'MmioRead').data.set([0xc0]);
    expectExit(vcpuFd, 'Hlt');
    assert.equal(ok(vcpuFd.getRegs()).rflags, 2n | 0x200n | 0x400n | RFLAGS_SF);
  });

  it('adc byte [rax], 0 (80 /2) takes the guest’s CF as carry-in', () => {
    const { vcpuFd } = npfVm([0x80, 0x10, 0x00], 0n, 2n | RFLAGS_CF);
    expectExit(vcpuFd, 'MmioRead').data.set([0x7f]);
    const write = expectExit(vcpuFd, 'MmioWrite');
    assert.deepEqual([...write.data], [0x80]);
    assert.equal(ok(vcpuFd.getRegs()).rflags & ARITH, RFLAGS_SF | RFLAGS_OF | RFLAGS_AF);
  });

  it('a MOV store is retired before its write exit: RIP is already past it (x86_emulate_instruction’s writeback)', () => {
    const { vcpuFd, rip0 } = npfVm([0x89, 0x08], 0x1234_5678n); // mov [rax], ecx
    const write = expectExit(vcpuFd, 'MmioWrite');
    assert.deepEqual([...write.data], [0x78, 0x56, 0x34, 0x12]);
    assert.equal(ok(vcpuFd.getRegs()).rip, rip0 + 2n);
    expectExit(vcpuFd, 'Hlt');
    assert.equal(ok(vcpuFd.getRegs()).rip, rip0 + 3n);
  });
});
