/**
 * The interpreter's odds and ends in long mode: ENTER/LEAVE frames, PAUSE (KVM's pause intercept
 * and back), fences, LOCK CMPXCHG16B, XLAT, SMSW.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { X86Cpu } from '../../src/cpu/x86/cpu.js';
import { expectExit, HVA, ok, vmWithRam } from '../../src/kvm/test-util.js';
import { identityPageTables, setLongModeEntry } from '../../src/vmm/long-mode-entry.js';
import { describeEngines } from './engines.js';

// enter 0x20, 0 ; mov rax, rsp ; sub rax, rbp ; out 0x80, al ; leave ; pause ; lfence ; mfence ;
// mov edi, 0x2000 ; mov eax, 1 ; mov edx, 2 ; mov ebx, 0x33 ; mov ecx, 0x44 ; lock cmpxchg16b [rdi] ;
// setz al ; out 0x81, al ; mov al, [rdi] ; out 0x82, al ; mov ebx, 0x2000 ; mov al, 8 ; xlatb ;
// out 0x83, al ; smsw eax ; out 0x84, al ; hlt
const CODE = [
  0xc8, 0x20, 0x00, 0x00, 0x48, 0x89, 0xe0, 0x48, 0x29, 0xe8, 0xe6, 0x80, 0xc9, 0xf3, 0x90, 0x0f, 0xae, 0xe8,
  0x0f, 0xae, 0xf0, 0xbf, 0x00, 0x20, 0x00, 0x00, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xba, 0x02, 0x00, 0x00, 0x00,
  0xbb, 0x33, 0x00, 0x00, 0x00, 0xb9, 0x44, 0x00, 0x00, 0x00, 0xf0, 0x48, 0x0f, 0xc7, 0x0f, 0x0f, 0x94, 0xc0,
  0xe6, 0x81, 0x8a, 0x07, 0xe6, 0x82, 0xbb, 0x00, 0x20, 0x00, 0x00, 0xb0, 0x08, 0xd7, 0xe6, 0x83, 0x0f, 0x01,
  0xe0, 0xe6, 0x84, 0xf4,
];

describeEngines('x86 interpreter: frames, hints, CMPXCHG16B, XLAT, SMSW', (engine) => {
  it('runs them as the SDM says, and PAUSE comes back from KVM', () => {
    const cpu = new X86Cpu(false, engine.options);
    const env = vmWithRam(16, { cpus: () => cpu });
    const w = (gpa: number, bytes: Uint8Array) => assert.equal(env.host.write(HVA + gpa, bytes), undefined);
    for (const t of identityPageTables(0x3000)) w(t.gpa, t.bytes);
    w(0x1000, Uint8Array.from(CODE));
    w(0x2000, Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]));
    const vcpuFd = ok(env.vmFd.createVcpu(0));
    ok(setLongModeEntry(vcpuFd, { rip: 0x1000, rsp: 0x8000, cr3: 0x3000 }));
    const rbpBefore = ok(vcpuFd.getRegs()).rbp;
    const outs = [0x80, 0x81, 0x82, 0x83, 0x84].map((port) => {
      const e = expectExit(vcpuFd, 'IoOut');
      assert.equal(e.port, port);
      return e.data[0];
    });
    // ENTER's frame is 0x20 below RBP; CMPXCHG16B matched (ZF) and stored RCX:RBX; XLAT read
    // [RBX + AL]; SMSW gave CR0's low bits (PE, ET).
    assert.deepEqual(outs, [0xe0, 1, 0x33, 0x44, 0x11]);
    expectExit(vcpuFd, 'Hlt');
    const regs = ok(vcpuFd.getRegs());
    assert.equal(regs.rsp, 0x8000n, 'LEAVE undid ENTER');
    assert.equal(regs.rbp, rbpBefore);
    assert.equal(cpu.unimplemented.size, 0);
  });
});

describeEngines('x86 interpreter: RET imm16', (engine) => {
  it('releases the callee’s arguments: RSP is back where the caller had it before pushing them', () => {
    const env = vmWithRam(16, { cpus: (_id, p) => new X86Cpu(p, engine.options) });
    const w = (gpa: number, bytes: Uint8Array) => assert.equal(env.host.write(HVA + gpa, bytes), undefined);
    for (const t of identityPageTables(0x3000)) w(t.gpa, t.bytes);
    // push 1 ; push 2 ; call f ; mov rax, rsp ; shr rax, 8 ; out 0x80, al ; hlt ; f: ret 16
    w(
      0x1000,
      Uint8Array.from([
        0x6a, 0x01, 0x6a, 0x02, 0xe8, 0x0a, 0x00, 0x00, 0x00, 0x48, 0x89, 0xe0, 0x48, 0xc1, 0xe8, 0x08, 0xe6,
        0x80, 0xf4, 0xc2, 0x10, 0x00,
      ]),
    );
    const vcpuFd = ok(env.vmFd.createVcpu(0));
    ok(setLongModeEntry(vcpuFd, { rip: 0x1000, rsp: 0x8000, cr3: 0x3000 }));
    assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [0x80]);
    expectExit(vcpuFd, 'Hlt');
    assert.equal(ok(vcpuFd.getRegs()).rsp, 0x8000n);
  });
});

describeEngines(
  'x86 interpreter: next_rip of an intercepted instruction at a high canonical address',
  (engine) => {
    it('is exact: KVM skips CPUID at 0xffffffff_ffe01800 to the OUT after it, not to a rounded RIP', () => {
      const env = vmWithRam(16, { cpus: (_id, p) => new X86Cpu(p, engine.options) });
      const w = (gpa: number, bytes: Uint8Array) => assert.equal(env.host.write(HVA + gpa, bytes), undefined);
      // PML4[511] -> PDPT[511] -> PD[511]: the 2 MiB page at GPA 0 is the top 2 MiB of the address space.
      const entry = (gpa: number, v: bigint) => {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setBigUint64(0, v, true);
        w(gpa, b);
      };
      entry(0x3000 + 511 * 8, 0x4003n);
      entry(0x4000 + 511 * 8, 0x5003n);
      entry(0x5000 + 511 * 8, 0x83n);
      // cpuid ; out 0x80, al ; hlt. (2^64 + next_rip as a double rounds to a multiple of 2048: the
      // CPUID itself, which KVM then ran again and again.)
      w(0x1800, Uint8Array.from([0x0f, 0xa2, 0xe6, 0x80, 0xf4]));
      const vcpuFd = ok(env.vmFd.createVcpu(0));
      ok(setLongModeEntry(vcpuFd, { rip: 0, rsp: 0, cr3: 0x3000 }));
      ok(vcpuFd.setRegs({ ...ok(vcpuFd.getRegs()), rip: 0xffff_ffff_ffe0_1800n }));
      assert.equal(expectExit(vcpuFd, 'IoOut').port, 0x80);
      assert.equal(ok(vcpuFd.getRegs()).rip, 0xffff_ffff_ffe0_1802n); // the OUT, completed at the next KVM_RUN
    });

    it('KVM retires an MMIO MOV it emulated there to the next instruction (kvm_rip_read/write exact)', () => {
      const env = vmWithRam(16, { cpus: (_id, p) => new X86Cpu(p, engine.options) });
      const w = (gpa: number, bytes: Uint8Array) => assert.equal(env.host.write(HVA + gpa, bytes), undefined);
      const entry = (gpa: number, v: bigint) => {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setBigUint64(0, v, true);
        w(gpa, b);
      };
      entry(0x3000 + 511 * 8, 0x4003n);
      entry(0x4000 + 511 * 8, 0x5003n);
      entry(0x5000 + 511 * 8, 0x83n);
      // movabs rbx, 0xffffffff_ffed0000 (GPA 0xd0000: no memslot) ; mov eax, [rbx] ; out 0x80, al ; hlt
      w(
        0x1800,
        Uint8Array.from([0x48, 0xbb, 0, 0, 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0x8b, 0x03, 0xe6, 0x80, 0xf4]),
      );
      const vcpuFd = ok(env.vmFd.createVcpu(0));
      ok(setLongModeEntry(vcpuFd, { rip: 0, rsp: 0, cr3: 0x3000 }));
      ok(vcpuFd.setRegs({ ...ok(vcpuFd.getRegs()), rip: 0xffff_ffff_ffe0_1800n }));
      const mmio = expectExit(vcpuFd, 'MmioRead');
      assert.equal(mmio.addr, 0xd0000);
      mmio.data.set([0x5a, 0, 0, 0]);
      const out = expectExit(vcpuFd, 'IoOut');
      assert.deepEqual([out.port, out.data[0]], [0x80, 0x5a]);
      assert.equal(ok(vcpuFd.getRegs()).rip, 0xffff_ffff_ffe0_180cn);
    });
  },
);
