/**
 * The interpreter's decoded-block cache against code that changes: a guest store into its own
 * code (the next execution runs the new bytes), and the VMM rewriting code between KVM_RUNs (a
 * block is checked against guest memory when it first runs after a VMRUN).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { X86Cpu } from '../../src/cpu/x86/cpu.js';
import { resetRealMode } from '../../src/hostkvm/tiny-guest.js';
import { expectExit, HVA, ok, vmWithRam } from '../../src/kvm/test-util.js';

function realModeGuest(code: number[]) {
  const cpu = new X86Cpu(false);
  const env = vmWithRam(16, { cpus: () => cpu });
  assert.equal(env.host.write(HVA + 0x1000, Uint8Array.from(code)), undefined);
  const vcpuFd = ok(env.vmFd.createVcpu(0));
  ok(resetRealMode(vcpuFd, 0x1000, 0));
  return { ...env, vcpuFd, cpu };
}

describe('x86 interpreter: decoded blocks and changing code', () => {
  it('a store into the code it runs takes effect at the next execution (self-modifying code)', () => {
    // l: mov al, 0x11 ; out 0x80, al ; mov byte [l+1], 0x22 ; jmp l   (the second round outputs 0x22)
    const { vcpuFd, cpu } = realModeGuest([
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
    const { vcpuFd, host } = realModeGuest([
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
});
