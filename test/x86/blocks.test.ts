/**
 * The interpreter's decoded-block cache against code that changes: a guest store into its own
 * code (the next execution runs the new bytes), and the VMM rewriting code between KVM_RUNs (a
 * block is checked against guest memory when it first runs after a VMRUN).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { X86Cpu } from '../../src/cpu/x86/cpu.js';
import { resetRealMode } from '../../src/hostkvm/tiny-guest.js';
import { expectExit, HVA, newVm, ok, P, region, vmWithRam } from '../../src/kvm/test-util.js';
import { KVM_MEM_LOG_DIRTY_PAGES } from '../../src/uapi/memslot.js';
import { describeEngines, type Engine } from './engines.js';

function realModeGuest(engine: Engine, code: number[]) {
  const cpu = new X86Cpu(false, engine.options);
  const env = vmWithRam(16, { cpus: () => cpu });
  assert.equal(env.host.write(HVA + 0x1000, Uint8Array.from(code)), undefined);
  const vcpuFd = ok(env.vmFd.createVcpu(0));
  ok(resetRealMode(vcpuFd, 0x1000, 0));
  return { ...env, vcpuFd, cpu };
}

describeEngines('x86 interpreter: decoded blocks and changing code', (engine) => {
  it('a store into the code it runs takes effect at the next execution (self-modifying code)', () => {
    // l: mov al, 0x11 ; out 0x80, al ; mov byte [l+1], 0x22 ; jmp l   (the second round outputs 0x22)
    const { vcpuFd, cpu } = realModeGuest(engine, [
      0xb0,
      0x11, // 1000: mov al, 0x11
      0xe6,
      0x80, // 1002: out 0x80, al
      0xc6,
      0x06,
      0x01,
      0x10,
      0x22, // 1004: mov byte [0x1001], 0x22
      0xeb,
      0xf5, // 1009: jmp 0x1000
    ]);
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0x11]);
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0x22]);
    assert.ok(cpu.blocks.invalidations >= 1, 'the block holding the stored-to byte was dropped');
  });

  it('code the VMM rewrites while the vCPU is out runs as rewritten', () => {
    const { vcpuFd, host } = realModeGuest(engine, [
      0xb0,
      0x11, // 1000: mov al, 0x11
      0xe6,
      0x80, // 1002: out 0x80, al
      0xeb,
      0xfa, // 1004: jmp 0x1000
    ]);
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0x11]);
    assert.equal(host.write(HVA + 0x1001, Uint8Array.of(0x33)), undefined);
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0x33]);
  });

  it('fetching code where no RAM is: a nested page fault without decode-assist bytes, which KVM cannot emulate', () => {
    const cpu = new X86Cpu(false, engine.options);
    const env = vmWithRam(16, { cpus: () => cpu });
    // jmp far 1000:0000, i.e. linear 0x10000, just past the 64 KiB of RAM
    assert.equal(env.host.write(HVA + 0x1000, Uint8Array.from([0xea, 0x00, 0x00, 0x00, 0x10])), undefined);
    const vcpuFd = ok(env.vmFd.createVcpu(0));
    ok(resetRealMode(vcpuFd, 0x1000, 0));
    expectExit(vcpuFd, 'InternalError');
    assert.equal(vcpuFd.vcpu.vmcb.insnLen, 0);
  });
});

describeEngines('x86 interpreter: an instruction across a page boundary', (engine) => {
  it('is decoded from both pages and checked against both after the VMM rewrote its second half', () => {
    const cpu = new X86Cpu(false, engine.options);
    const env = vmWithRam(16, { cpus: () => cpu });
    // 1ffd: nop ; nop ; 1fff: mov al, imm8 (the immediate at 0x2000) ; out 0x80, al ; jmp 1ffd
    assert.equal(
      env.host.write(HVA + 0x1ffd, Uint8Array.from([0x90, 0x90, 0xb0, 0x11, 0xe6, 0x80, 0xeb, 0xf8])),
      undefined,
    );
    const vcpuFd = ok(env.vmFd.createVcpu(0));
    ok(resetRealMode(vcpuFd, 0x1ffd, 0));
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0x11]);
    assert.equal(env.host.write(HVA + 0x2000, Uint8Array.of(0x33)), undefined);
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0x33]);
  });
});

describeEngines('x86 interpreter: the TLB across KVM_RUNs', (engine) => {
  it('after KVM_GET_DIRTY_LOG the guest’s next store to the page marks it dirty again', () => {
    const env = newVm({ cpus: (_id, p) => new X86Cpu(p, engine.options) });
    env.host.mapAnonymous(HVA, 16 * P);
    ok(env.vmFd.setUserMemoryRegion(region({ slot: 0, size: 16 * P, flags: KVM_MEM_LOG_DIRTY_PAGES })));
    // l: mov [0x3000], al ; out 0x80, al ; jmp l
    assert.equal(
      env.host.write(HVA + 0x1000, Uint8Array.from([0xa2, 0x00, 0x30, 0xe6, 0x80, 0xeb, 0xf9])),
      undefined,
    );
    const vcpuFd = ok(env.vmFd.createVcpu(0));
    ok(resetRealMode(vcpuFd, 0x1000, 0));
    const page3 = (bitmap: Uint8Array) => (bitmap[0]! >> 3) & 1;
    expectExit(vcpuFd, 'IoOut');
    assert.equal(page3(ok(env.vmFd.getDirtyLog(0))), 1);
    assert.equal(page3(ok(env.vmFd.getDirtyLog(0))), 0, 'read and cleared');
    expectExit(vcpuFd, 'IoOut');
    assert.equal(page3(ok(env.vmFd.getDirtyLog(0))), 1, 'the store after the clear is logged');
  });
});
