/**
 * Exception and interrupt delivery in the interpreter: a long-mode #PF through a 16-byte IDT gate
 * onto an IST stack with its error code and CR2, and a real-mode INT n through the IVT and back
 * with IRET.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { X86Cpu } from '../../src/cpu/x86/cpu.js';
import { resetRealMode } from '../../src/hostkvm/tiny-guest.js';
import { expectExit, HVA, ok, vmWithRam } from '../../src/kvm/test-util.js';
import { identityPageTables, setLongModeEntry } from '../../src/vmm/long-mode-entry.js';
import { describeEngines } from './engines.js';
import { gate64, u64le } from './guest-bytes.js';

describeEngines('x86 interpreter: exception delivery', (engine) => {
  it('long mode: a not-present page is #PF with CR2, the error code pushed, on the IST stack of its gate', () => {
    const env = vmWithRam(16, { cpus: (_id, p) => new X86Cpu(p, engine.options) });
    const w = (gpa: number, bytes: number[]) =>
      assert.equal(env.host.write(HVA + gpa, Uint8Array.from(bytes)), undefined);
    // Identity map of the first 2 MiB only.
    for (const t of identityPageTables(0x3000)) w(t.gpa, [...t.bytes]);
    // GDT: null, 64-bit code at 8. IDT at 0x6000 with #PF (14) → 0x1800 on IST1. TSS at 0x7800, IST1 = 0x9000.
    w(0x7000, [...u64le(0n), ...u64le(0x00209a0000000000n)]);
    w(0x6000 + 14 * 16, gate64(0x1800, 1));
    w(0x7800 + 0x24, u64le(0x9000n));
    w(0x1000, [0x8b, 0x04, 0x25, 0x34, 0x12, 0x40, 0x00]); // mov eax, [0x401234]
    w(0x1800, [
      0x58, // pop rax (the error code)
      0xe6,
      0x80, // out 0x80, al
      0x0f,
      0x20,
      0xd0, // mov rax, cr2
      0xe6,
      0x81, // out 0x81, al
      0x48,
      0x89,
      0xe0, // mov rax, rsp
      0x48,
      0xc1,
      0xe8,
      0x08, // shr rax, 8
      0xe6,
      0x82, // out 0x82, al
      0x8b,
      0x44,
      0x24,
      0x10, // mov eax, [rsp+16]: the pushed RFLAGS
      0xc1,
      0xe8,
      0x10, // shr eax, 16
      0xe6,
      0x83, // out 0x83, al: RF
      0xf4,
    ]);
    const vcpuFd = ok(env.vmFd.createVcpu(0));
    ok(
      setLongModeEntry(vcpuFd, {
        rip: 0x1000,
        rsp: 0x8000,
        cr3: 0x3000,
        ds: 0,
        gdt: { base: 0x7000, limit: 15 },
        idt: { base: 0x6000, limit: 0xfff },
        tr: { base: 0x7800, selector: 0x10 },
      }),
    );
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0], 'error code: not present, read, supervisor');
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0x34], 'CR2 = the faulting address');
    // IST1 (0x9000, 16-aligned) minus SS, RSP, RFLAGS, CS, RIP, error code, plus the popped error code.
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0x8f]);
    assert.deepEqual(
      [...expectExit(vcpuFd, 'IoOut').data],
      [1],
      'the pushed RFLAGS has RF: a fault restarts',
    );
    expectExit(vcpuFd, 'Hlt');
    assert.equal(ok(vcpuFd.getSregs()).cr2, 0x401234n);
  });

  it('real mode: INT n goes through the IVT; IRET comes back after the INT', () => {
    const env = vmWithRam(16, { cpus: (_id, p) => new X86Cpu(p, engine.options) });
    const w = (gpa: number, bytes: number[]) =>
      assert.equal(env.host.write(HVA + gpa, Uint8Array.from(bytes)), undefined);
    w(0x21 * 4, [0x00, 0x20, 0x00, 0x00]); // IVT[0x21] = 0000:2000
    w(0x2000, [0xb0, 0x21, 0xe6, 0x80, 0xcf]); // mov al, 0x21 ; out 0x80, al ; iret
    w(0x1000, [0xcd, 0x21, 0xb0, 0x99, 0xe6, 0x81, 0xf4]); // int 0x21 ; mov al, 0x99 ; out 0x81, al ; hlt
    const vcpuFd = ok(env.vmFd.createVcpu(0));
    ok(resetRealMode(vcpuFd, 0x1000, 0x8000));
    const a = expectExit(vcpuFd, 'IoOut');
    assert.deepEqual([a.port, [...a.data]], [0x80, [0x21]]);
    const b = expectExit(vcpuFd, 'IoOut');
    assert.deepEqual([b.port, [...b.data]], [0x81, [0x99]]);
    assert.equal(ok(vcpuFd.getRegs()).rsp, 0x8000n, 'IRET popped what INT pushed');
  });
});

describeEngines('x86 interpreter: external interrupts', (engine) => {
  it('KVM_INTERRUPT while IF = 0 waits for the window; after STI the next instruction runs first (shadow)', () => {
    const env = vmWithRam(16, { cpus: (_id, p) => new X86Cpu(p, engine.options) });
    const w = (gpa: number, bytes: number[]) =>
      assert.equal(env.host.write(HVA + gpa, Uint8Array.from(bytes)), undefined);
    w(0x20 * 4, [0x00, 0x20, 0x00, 0x00]); // IVT[0x20] = 0000:2000
    // The handler reports what the instruction after STI stored: 1 if it ran before the interrupt.
    w(0x2000, [0xa0, 0x00, 0x05, 0xe6, 0x20, 0xcf]); // mov al, [0x500] ; out 0x20, al ; iret
    w(0x1000, [
      0xe6,
      0x80, // out 0x80, al
      0xfb, // sti
      0xc6,
      0x06,
      0x00,
      0x05,
      0x01, // mov byte [0x500], 1
      0xe6,
      0x81, // out 0x81, al
      0xf4, // hlt
    ]);
    const vcpuFd = ok(env.vmFd.createVcpu(0));
    ok(resetRealMode(vcpuFd, 0x1000, 0x8000));
    assert.equal(expectExit(vcpuFd, 'IoOut').port, 0x80);
    ok(vcpuFd.interrupt(0x20)); // IF = 0: KVM requests the interrupt window
    const h = expectExit(vcpuFd, 'IoOut');
    assert.deepEqual([h.port, [...h.data]], [0x20, [1]], 'delivered after the STI shadow, in the handler');
    assert.equal(expectExit(vcpuFd, 'IoOut').port, 0x81);
    expectExit(vcpuFd, 'Hlt');
  });
});

describeEngines('x86 interpreter: user mode and the TLB', (engine) => {
  it('a user-mode load of a supervisor page is #PF(P|U) even right after the kernel read it', () => {
    const env = vmWithRam(1024, { cpus: (_id, p) => new X86Cpu(p, engine.options) });
    const w = (gpa: number, bytes: number[]) =>
      assert.equal(env.host.write(HVA + gpa, Uint8Array.from(bytes)), undefined);
    const q = (v: bigint): number[] => u64le(v);
    // PD[0]: the first 2 MiB, user and supervisor; PD[1]: the next 2 MiB, supervisor only.
    w(0x3000, q(0x4007n));
    w(0x4000, q(0x5007n));
    w(0x5000, [...q(0x87n), ...q(0x20_0083n)]);
    // GDT: null, kernel code 64, kernel data, user data (0x18), user code 64 (0x20).
    w(0x7000, [
      ...q(0n),
      ...q(0x00209a0000000000n),
      ...q(0x0000920000000000n),
      ...q(0x0000f20000000000n),
      ...q(0x0020fa0000000000n),
    ]);
    w(0x7800 + 4, q(0x9000n)); // TSS.RSP0
    w(0x6000 + 14 * 16, gate64(0x1800, 0));
    w(0x1000, [
      0x8b,
      0x04,
      0x25,
      0x00,
      0x00,
      0x20,
      0x00, // mov eax, [0x200000]: the kernel's read fills the TLB
      0x6a,
      0x1b, // push 0x1b (user SS)
      0x68,
      0x00,
      0x80,
      0x00,
      0x00, // push 0x8000 (user RSP)
      0x68,
      0x02,
      0x02,
      0x00,
      0x00, // push 0x202 (RFLAGS)
      0x6a,
      0x23, // push 0x23 (user CS)
      0x68,
      0x00,
      0x14,
      0x00,
      0x00, // push 0x1400 (user RIP)
      0x48,
      0xcf, // iretq: to CPL 3
    ]);
    w(0x1400, [0x8b, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0xeb, 0xfe]); // mov eax, [0x200000] ; jmp $
    w(0x1800, [0x58, 0xe6, 0x80, 0xf4]); // pop rax ; out 0x80, al ; hlt
    const vcpuFd = ok(env.vmFd.createVcpu(0));
    ok(
      setLongModeEntry(vcpuFd, {
        rip: 0x1000,
        rsp: 0xa000,
        cr3: 0x3000,
        gdt: { base: 0x7000, limit: 39 },
        idt: { base: 0x6000, limit: 0xfff },
        tr: { base: 0x7800, selector: 0x28 },
      }),
    );
    // KVM-internal: a bounded KVM_RUN, so a missed fault (the guest spins at CPL 3) fails instead of hanging.
    vcpuFd.vcpu.maxVmexitsPerRun = 1000;
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0x5], 'present, user, read');
    assert.equal(ok(vcpuFd.getSregs()).cr2, 0x200000n);
  });
});

describeEngines('x86 interpreter: #DE', (engine) => {
  it('DIV by zero is #DE, a fault: the handler sees the DIV’s own address and the registers unchanged', () => {
    const env = vmWithRam(16, { cpus: (_id, p) => new X86Cpu(p, engine.options) });
    const w = (gpa: number, bytes: number[]) =>
      assert.equal(env.host.write(HVA + gpa, Uint8Array.from(bytes)), undefined);
    w(0, [0x00, 0x20, 0x00, 0x00]); // IVT[0] = 0000:2000
    // The handler reports the pushed IP's low byte and AL, then halts.
    w(0x2000, [0x5b, 0x88, 0xd8, 0xe6, 0x80, 0x88, 0xe0, 0xe6, 0x81, 0xf4]); // pop bx ; mov al, bl ; out 0x80 ; mov al, ah ; out 0x81 ; hlt
    w(0x1000, [0xb8, 0x07, 0x00, 0xb1, 0x00, 0xf6, 0xf1, 0xf4]); // mov ax, 7 ; mov cl, 0 ; div cl ; hlt
    const vcpuFd = ok(env.vmFd.createVcpu(0));
    ok(resetRealMode(vcpuFd, 0x1000, 0x8000));
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0x05], 'the saved IP is the DIV at 0x1005');
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0x00], 'AH unchanged (AX was 7)');
    expectExit(vcpuFd, 'Hlt');
  });
});
