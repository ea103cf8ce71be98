/**
 * The x86 interpreter in long mode with 4-level paging, set up by the VMM through KVM_SET_SREGS as
 * a 64-bit kernel loader would: a 64-bit loop runs in the CPU, a store sets the page's dirty bit,
 * and the walk's accessed bits land in the guest's page tables.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { X86Cpu } from '../../src/cpu/x86/cpu.js';
import { expectExit, HVA, hostBytes, ok, vmWithRam } from '../../src/kvm/test-util.js';
import { identityPageTables, setLongModeEntry } from '../../src/vmm/long-mode-entry.js';
import { describeEngines, type Engine } from './engines.js';
import { u64le } from './guest-bytes.js';

/** identityPageTables' PML4, PDPT and PD. */
const PML4 = 0x3000;
const PDPT = 0x4000;
const PD = 0x5000;

function longModeGuest(engine: Engine, code: number[]) {
  const env = vmWithRam(16, { cpus: (_id, protectedState) => new X86Cpu(protectedState, engine.options) });
  const w = (gpa: number, bytes: Uint8Array) => assert.equal(env.host.write(HVA + gpa, bytes), undefined);
  w(0x1000, Uint8Array.from(code));
  for (const t of identityPageTables(PML4)) w(t.gpa, t.bytes);
  const vcpuFd = ok(env.vmFd.createVcpu(0));
  ok(setLongModeEntry(vcpuFd, { rip: 0x1000, rsp: 0x8000, cr3: PML4 }));
  return { ...env, vcpuFd };
}

describeEngines('x86 interpreter: long mode with paging', (engine) => {
  it('runs a 64-bit loop, stores and loads through the page tables, and sets A and D bits', () => {
    const { vcpuFd, host } = longModeGuest(engine, [
      0x48,
      0xc7,
      0xc0,
      0x00,
      0x00,
      0x00,
      0x00, // mov rax, 0
      0x48,
      0xc7,
      0xc1,
      0x0a,
      0x00,
      0x00,
      0x00, // mov rcx, 10
      0x48,
      0x01,
      0xc8, // loop: add rax, rcx
      0x48,
      0xff,
      0xc9, // dec rcx
      0x75,
      0xf8, // jnz loop
      0xe6,
      0x80, // out 0x80, al
      0x48,
      0xb8,
      ...u64le(0x1122_3344_5566_7788n), // mov rax, imm64
      0x48,
      0x89,
      0x04,
      0x25,
      0x00,
      0x20,
      0x00,
      0x00, // mov [0x2000], rax
      0x8b,
      0x1c,
      0x25,
      0x04,
      0x20,
      0x00,
      0x00, // mov ebx, [0x2004]
      0x89,
      0xd8, // mov eax, ebx
      0xe6,
      0x81, // out 0x81, al
      0xf4, // hlt
    ]);
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [55]);
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0x44]);
    expectExit(vcpuFd, 'Hlt');
    const regs = ok(vcpuFd.getRegs());
    assert.equal(regs.rbx, 0x1122_3344n, 'a 32-bit load zero-extends');
    assert.deepEqual([...hostBytes(host, HVA + 0x2000, 8)], u64le(0x1122_3344_5566_7788n));
    // Accessed on every level walked; dirty on the 2 MiB leaf the store went through.
    assert.equal(hostBytes(host, HVA + PML4, 1)[0]! & 0x20, 0x20);
    assert.equal(hostBytes(host, HVA + PDPT, 1)[0]! & 0x20, 0x20);
    assert.equal(hostBytes(host, HVA + PD, 1)[0]! & 0x60, 0x60);
  });
  it('SWAPGS exchanges GS.base with KERNEL_GS_BASE, sign-extended addresses intact both ways', () => {
    const { vcpuFd } = longModeGuest(engine, [
      ...[0xb9, 0x02, 0x01, 0x00, 0xc0], // mov ecx, MSR_KERNEL_GS_BASE
      ...[0xb8, 0xef, 0xcd, 0xab, 0x89], // mov eax, 0x89abcdef
      ...[0xba, 0x00, 0x80, 0xff, 0xff], // mov edx, 0xffff8000
      ...[0x0f, 0x30], // wrmsr
      ...[0x0f, 0x01, 0xf8], // swapgs
      ...[0xb9, 0x01, 0x01, 0x00, 0xc0], // mov ecx, MSR_GS_BASE
      ...[0x0f, 0x32], // rdmsr
      ...[0x48, 0x89, 0xc3], // mov rbx, rax
      ...[0x48, 0x89, 0xd6], // mov rsi, rdx
      ...[0x0f, 0x01, 0xf8], // swapgs
      ...[0xb9, 0x02, 0x01, 0x00, 0xc0], // mov ecx, MSR_KERNEL_GS_BASE
      ...[0x0f, 0x32], // rdmsr
      0xf4, // hlt
    ]);
    expectExit(vcpuFd, 'Hlt');
    const regs = ok(vcpuFd.getRegs());
    assert.equal(regs.rbx, 0x89ab_cdefn, 'GS.base low half after the first SWAPGS');
    assert.equal(regs.rsi, 0xffff_8000n, 'GS.base high half after the first SWAPGS');
    assert.equal(regs.rax, 0x89ab_cdefn, 'KERNEL_GS_BASE low half after the second SWAPGS');
    assert.equal(regs.rdx, 0xffff_8000n, 'KERNEL_GS_BASE high half after the second SWAPGS');
  });
});
