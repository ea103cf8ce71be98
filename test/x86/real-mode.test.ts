/**
 * The x86 interpreter behind the model KVM, driven through the fd interface as a VMM drives it:
 * real-mode machine code whose port I/O and HLT #VMEXIT to KVM and reach userspace as
 * KVM_EXIT_IO / KVM_EXIT_HLT, with KVM completing each instruction through next_rip.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { X86Cpu } from '../../src/cpu/x86/cpu.js';
import { resetRealMode } from '../../src/hostkvm/tiny-guest.js';
import { expectExit, HVA, ok, vmWithRam } from '../../src/kvm/test-util.js';
import { describeEngines, type Engine } from './engines.js';

/** A VM with 16 pages of RAM, `code` at 0x1000, vCPU 0 on the interpreter at CS:IP 0000:1000 (real mode). */
function realModeGuest(engine: Engine, code: number[]) {
  const env = vmWithRam(16, { cpus: (_id, protectedState) => new X86Cpu(protectedState, engine.options) });
  assert.equal(env.host.write(HVA + 0x1000, Uint8Array.from(code)), undefined);
  const vcpuFd = ok(env.vmFd.createVcpu(0));
  ok(resetRealMode(vcpuFd, 0x1000, 0));
  return { ...env, vcpuFd };
}

describeEngines('x86 interpreter: real mode', (engine) => {
  it('OUT imm8 and OUT DX exit with the port and data; LOOP and INC run in the CPU; HLT exits', () => {
    const { vcpuFd } = realModeGuest(engine, [
      0xb0,
      0x41, // mov al, 0x41
      0xe6,
      0x80, // out 0x80, al
      0xba,
      0xf8,
      0x03, // mov dx, 0x3f8
      0xb0,
      0x42, // mov al, 'B'
      0xee, // out dx, al
      0xb9,
      0x03,
      0x00, // mov cx, 3
      0x40, // inc ax
      0xe2,
      0xfd, // loop -3
      0xe6,
      0x81, // out 0x81, al
      0xf4, // hlt
    ]);
    const a = expectExit(vcpuFd, 'IoOut');
    assert.deepEqual([a.port, a.size, [...a.data]], [0x80, 1, [0x41]]);
    const b = expectExit(vcpuFd, 'IoOut');
    assert.deepEqual([b.port, b.size, [...b.data]], [0x3f8, 1, [0x42]]);
    const c = expectExit(vcpuFd, 'IoOut');
    assert.deepEqual([c.port, [...c.data]], [0x81, [0x45]]);
    expectExit(vcpuFd, 'Hlt');
    const regs = ok(vcpuFd.getRegs());
    assert.equal(regs.rip, 0x1013n, 'RIP past the HLT');
    assert.equal(regs.rcx & 0xffffn, 0n, 'LOOP counted CX down to 0');
  });

  it('IN AL, imm8 takes the data the VMM wrote into kvm_run', () => {
    const { vcpuFd } = realModeGuest(engine, [
      0xe4,
      0x60, // in al, 0x60
      0xe6,
      0x80, // out 0x80, al
      0xf4,
    ]);
    const i = expectExit(vcpuFd, 'IoIn');
    assert.equal(i.port, 0x60);
    i.data[0] = 0x5a;
    const o = expectExit(vcpuFd, 'IoOut');
    assert.deepEqual([...o.data], [0x5a]);
  });

  it('MOV to and from DR0 and DR7: the first access exits to KVM, which lets the CPU run it', () => {
    const { vcpuFd } = realModeGuest(engine, [
      0x66,
      0xb8,
      0x34,
      0x12,
      0x00,
      0x00, // mov eax, 0x1234
      0x0f,
      0x23,
      0xc0, // mov dr0, eax
      0x0f,
      0x21,
      0xc3, // mov ebx, dr0
      0x88,
      0xd8, // mov al, bl
      0xe6,
      0x80, // out 0x80, al
      0x0f,
      0x21,
      0xf8, // mov eax, dr7
      0x88,
      0xe0, // mov al, ah
      0xe6,
      0x81, // out 0x81, al: DR7 bits 15:8 (0x04 at RESET: bit 10 reads as 1)
      0xf4,
    ]);
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0x34]);
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0x04]);
    expectExit(vcpuFd, 'Hlt');
  });

  it('an unimplemented instruction (FBLD) is #UD, counted by name; with no IVT entry the vCPU triple-faults', () => {
    const cpu = new X86Cpu(false, engine.options);
    const env = vmWithRam(16, { cpus: () => cpu });
    assert.equal(env.host.write(HVA + 0x1000, Uint8Array.from([0xdf, 0x27])), undefined); // fbld tbyte [bx]
    const vcpuFd = ok(env.vmFd.createVcpu(0));
    const sregs = ok(vcpuFd.getSregs());
    ok(
      vcpuFd.setSregs({
        ...sregs,
        cs: { ...sregs.cs, selector: 0, base: 0n },
        idt: { ...sregs.idt, limit: 0 },
      }),
    );
    ok(vcpuFd.setRegs({ ...ok(vcpuFd.getRegs()), rip: 0x1000n }));
    expectExit(vcpuFd, 'Shutdown');
    assert.equal(cpu.unimplemented.get('Fbld'), 1);
  });
});
