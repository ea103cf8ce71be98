/**
 * The x87 control instructions firmware runs (edk2's SEC: FINIT, FLDCW) in long mode: FNINIT's
 * control word, FLDCW/FNSTCW through memory, FNSTSW to memory and AX, WAIT, FINIT (the waiting
 * form), and KVM_GET_FPU seeing the control word the guest loaded.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { X86Cpu } from '../../src/cpu/x86/cpu.js';
import { FCW_INIT } from '../../src/cpu/x86/ops/x87.js';
import { expectExit, HVA, ok, vmWithRam } from '../../src/kvm/test-util.js';
import { identityPageTables, setLongModeEntry } from '../../src/vmm/long-mode-entry.js';
import { describeEngines } from './engines.js';

const abs = (v: number): number[] => [0x25, v & 0xff, (v >>> 8) & 0xff, 0, 0];
const CODE = [
  0xdb,
  0xe3, // fninit
  0xd9,
  0x3c,
  ...abs(0x2000), // fnstcw [0x2000]
  0x66,
  0xc7,
  0x04,
  ...abs(0x2002),
  0x7f,
  0x02, // mov word [0x2002], 0x27f
  0xd9,
  0x2c,
  ...abs(0x2002), // fldcw [0x2002]
  0xd9,
  0x3c,
  ...abs(0x2004), // fnstcw [0x2004]
  0x66,
  0xb8,
  0x34,
  0x12, // mov ax, 0x1234
  0xdf,
  0xe0, // fnstsw ax
  0x66,
  0x89,
  0x04,
  ...abs(0x2006), // mov [0x2006], ax
  0xdd,
  0x3c,
  ...abs(0x2008), // fnstsw [0x2008]
  0x9b, // fwait
  0xdb,
  0xe2, // fnclex
  0xf4, // hlt
];

describeEngines('x86 interpreter: x87 control instructions', (engine) => {
  it('FNINIT, FLDCW/FNSTCW, FNSTSW, WAIT, FNCLEX; KVM_GET_FPU sees the control word', () => {
    const cpu = new X86Cpu(false, engine.options);
    const env = vmWithRam(16, { cpus: () => cpu });
    const w = (gpa: number, bytes: Uint8Array) => assert.equal(env.host.write(HVA + gpa, bytes), undefined);
    for (const t of identityPageTables(0x3000)) w(t.gpa, t.bytes);
    w(0x1000, Uint8Array.from(CODE));
    w(0x2000, new Uint8Array(16).fill(0xaa));
    const vcpu = ok(env.vmFd.createVcpu(0));
    ok(setLongModeEntry(vcpu, { rip: 0x1000, rsp: 0x8000, cr3: 0x3000 }));
    // A status word with bits FNINIT clears.
    ok(vcpu.setFpu({ ...ok(vcpu.getFpu()), fsw: 0x3801, fcw: 0x40 }));
    expectExit(vcpu, 'Hlt');
    const mem = new Uint8Array(10);
    assert.equal(env.host.read(HVA + 0x2000, mem), undefined);
    const dv = new DataView(mem.buffer);
    assert.equal(dv.getUint16(0, true), FCW_INIT, 'FNINIT: 0x37f');
    assert.equal(dv.getUint16(4, true), 0x27f, 'FLDCW then FNSTCW');
    assert.equal(dv.getUint16(6, true), 0, 'FNSTSW AX: FNINIT cleared the status word');
    assert.equal(dv.getUint16(8, true), 0, 'FNSTSW m16');
    assert.equal(ok(vcpu.getFpu()).fcw, 0x27f);
    assert.equal(cpu.unimplemented.size, 0, [...cpu.unimplemented.keys()].join(', '));
  });
});
