/**
 * Interpreter bugs found by the differential test against /dev/kvm (test/oracle/x86-differential.test.ts),
 * each pinned here on the model alone with what the real KVM did:
 * - PUSH imm8/imm32 in 64-bit mode pushed 4 bytes (the size came from iced's Code name, which ends
 *   in the immediate's width): it pushes 8, the immediate sign-extended; 66h PUSH imm pushes 2.
 * - A shift or rotate of memory by CL (SHR dword [m], CL) took CL's size as the operand size and
 *   shifted one byte: the operand size of a memory operand 0 is the memory's.
 * - SHLD/SHRD r, r, CL took CL as the source register (a third register operand overwrote r1).
 * - BSWAP was not implemented (#UD, the guest shut down).
 * - XADD r, r with the same register kept the old value: the destination is written last, the sum.
 * Found once the differential ran 32-bit protected and real mode too (the helper `run` takes a mode):
 * - PUSH/POP Sreg took 4 bytes in real mode (and 8 for 66h PUSH FS in 64-bit mode): the size is
 *   iced's Pushw/Pushd/Pushq; a 32-bit PUSH Sreg writes only the selector's 2 bytes.
 * - KVM_SET_SREGS did not flush the interpreter's TLB (KVM's next entry does: tlb_ctl).
 * - A segment load cached the descriptor without its accessed bit.
 * - LES/LDS/LSS/LFS/LGS, PUSHA/POPA, BT* m, r (bit strings), STR and SLDT were #UD.
 * - An exception KVM injects as a fault (#UD) went without RFLAGS.RF in its frame.
 * - 66h LEAVE (and ENTER) used the mode's operand size.
 * - A non-canonical LSTAR, CSTAR or KERNEL_GS_BASE was written instead of #GP.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { X86Cpu } from '../../src/cpu/x86/cpu.js';
import { expectExit, HVA, hostBytes, ok, vmWithRam } from '../../src/kvm/test-util.js';
import type { KvmRegs } from '../../src/uapi/regs.js';
import type { KvmSegment, KvmSregs } from '../../src/uapi/sregs.js';
import {
  flatSegment,
  flatSegment32,
  identityPageTables,
  setLongModeEntry,
} from '../../src/vmm/long-mode-entry.js';
import { describeEngines, type Engine } from './engines.js';

const CODE = 0x1000;
const DATA = 0x2000;
const STACK_TOP = 0x8000;
const GDT = 0x6000;
const IDT = 0x7000;
/** The exception handler: a HLT. */
const HANDLER = 0x1800;

/** Where a regression runs: 64-bit long mode, 32-bit flat protected mode, real mode (segments 0). */
type Mode = 'long' | 'protected' | 'real';

/** A flat 32-bit segment (code or data), or a real-mode one at base 0. */
function segment(mode: Mode, selector: number, code: boolean): KvmSegment {
  if (mode === 'real') return { ...flatSegment(0, code), limit: 0xffff, l: 0, db: 0, g: 0 };
  return flatSegment32(selector, code);
}

/**
 * Run `code` (HLT appended) in 64-bit mode (or `mode`) with RCX (or more registers) and the data
 * page's first bytes given.
 */
function run(
  engine: Engine,
  code: number[],
  rcx: bigint | Partial<KvmRegs>,
  data: number[] = [],
  mode: Mode = 'long',
  sregs: Partial<KvmSregs> = {},
) {
  const env = vmWithRam(16, { cpus: (_id, p) => new X86Cpu(p, engine.options) });
  const w = (gpa: number, bytes: Uint8Array) => assert.equal(env.host.write(HVA + gpa, bytes), undefined);
  for (const t of identityPageTables(0x3000)) w(t.gpa, t.bytes);
  w(CODE, Uint8Array.from([...code, 0xf4]));
  w(DATA, Uint8Array.from(data));
  w(STACK_TOP - 16, new Uint8Array(16).fill(0xaa));
  // GDT: null, 0x08 code (64-bit in long mode), 0x10 flat data, 0x18 flat data not yet accessed.
  const code64 = mode === 'long' ? 0x00af_9b00 : 0x00cf_9b00;
  const gdt = [0, 0, 0xffff, code64, 0xffff, 0x00cf_9300, 0xffff, 0x00cf_9200];
  w(GDT, Uint8Array.from(gdt.flatMap((d) => [d & 0xff, (d >>> 8) & 0xff, (d >>> 16) & 0xff, d >>> 24])));
  // Exceptions 0-31 to a HLT (the IVT at 0 in real mode, else an IDT of interrupt gates to CS 8).
  w(HANDLER, Uint8Array.of(0xf4));
  const gate = mode === 'long' ? 16 : mode === 'protected' ? 8 : 4;
  const idt = new Uint8Array(32 * gate);
  for (let v = 0; v < 32; v++) {
    if (mode === 'real') idt.set([HANDLER & 0xff, HANDLER >> 8, 0, 0], 4 * v);
    else idt.set([HANDLER & 0xff, HANDLER >> 8, 8, 0, 0, 0x8e, 0, 0], gate * v);
  }
  w(mode === 'real' ? 0 : IDT, idt);
  const vcpu = ok(env.vmFd.createVcpu(0));
  ok(
    setLongModeEntry(vcpu, {
      rip: CODE,
      rsp: STACK_TOP,
      cr3: 0x3000,
      gdt: { base: GDT, limit: 31 },
      idt: { base: mode === 'real' ? 0 : IDT, limit: idt.length - 1 },
    }),
  );
  if (mode !== 'long') {
    const s = ok(vcpu.getSregs());
    const cs = segment(mode, 8, true);
    const ds = segment(mode, 0x10, false);
    const cr0 = mode === 'real' ? 0x10n : 0x11n;
    ok(vcpu.setSregs({ ...s, cs, ds, es: ds, fs: ds, gs: ds, ss: ds, cr0, cr3: 0n, cr4: 0n, efer: 0n }));
  }
  ok(vcpu.setSregs({ ...ok(vcpu.getSregs()), ...sregs }));
  ok(vcpu.setRegs({ ...ok(vcpu.getRegs()), ...(typeof rcx === 'bigint' ? { rcx } : rcx) }));
  expectExit(vcpu, 'Hlt');
  const regs = ok(vcpu.getRegs());
  return {
    regs,
    sregs: ok(vcpu.getSregs()),
    gdt: [...hostBytes(env.host, HVA + GDT, 32)],
    rsp: Number(regs.rsp),
    rflags: Number(regs.rflags),
    stack: [...hostBytes(env.host, HVA + STACK_TOP - 16, 16)],
    data: [...hostBytes(env.host, HVA + DATA, 8)],
  };
}

describeEngines('x86 interpreter: differential-test regressions', (engine) => {
  it('PUSH imm8 and imm32 push 8 bytes in 64-bit mode (sign-extended), 66h PUSH imm8 two', () => {
    const a = run(engine, [0x6a, 0xfe], 0n); // push -2
    assert.equal(a.rsp, STACK_TOP - 8);
    assert.deepEqual(a.stack.slice(8), [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const b = run(engine, [0x68, 0x78, 0x56, 0x34, 0x12], 0n); // push 0x12345678
    assert.equal(b.rsp, STACK_TOP - 8);
    assert.deepEqual(b.stack.slice(8), [0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0]);
    const c = run(engine, [0x66, 0x6a, 0xfe], 0n); // push word -2
    assert.equal(c.rsp, STACK_TOP - 2);
    assert.deepEqual(c.stack.slice(12), [0xaa, 0xaa, 0xfe, 0xff]);
  });

  it('SHR dword [m], CL and ROL word [m], CL shift the whole memory operand', () => {
    const initial = [0xc7, 0x72, 0x9c, 0x11, 0xc9, 0x9f, 0x50, 0x8e];
    // shr dword [0x2000], cl with CL = 4 (on /dev/kvm: 2c c7 19 01).
    const a = run(engine, [0xd3, 0x2c, 0x25, 0x00, 0x20, 0x00, 0x00], 4n, initial);
    assert.deepEqual(a.data, [0x2c, 0xc7, 0x19, 0x01, 0xc9, 0x9f, 0x50, 0x8e]);
    // rol word [0x2000], cl with CL = 4: 0x72c7 → 0x2c77.
    const b = run(engine, [0x66, 0xd3, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00], 4n, initial);
    assert.deepEqual(b.data, [0x77, 0x2c, 0x9c, 0x11, 0xc9, 0x9f, 0x50, 0x8e]);
  });

  it('SHRD r, r, CL shifts in the source register, not CL', () => {
    // shrd esi, ebp, cl
    const { regs } = run(engine, [0x0f, 0xad, 0xee], { rsi: 0x1234_5678n, rbp: 0x9abc_def0n, rcx: 8n });
    assert.equal(regs.rsi, 0xf012_3456n);
  });

  it('BSWAP r32 (zero-extending) and r64', () => {
    const v = 0x1122_3344_5566_7788n;
    assert.equal(run(engine, [0x41, 0x0f, 0xca], { r10: v }).regs.r10, 0x8877_6655n); // bswap r10d
    assert.equal(run(engine, [0x49, 0x0f, 0xcf], { r15: v }).regs.r15, 0x8877_6655_4433_2211n); // bswap r15
  });

  it('XADD r, r with one register leaves the sum', () => {
    const { regs } = run(engine, [0x48, 0x0f, 0xc1, 0xff], { rdi: 0xb8a5_97b4_52d1_dc5bn }); // xadd rdi, rdi
    assert.equal(regs.rdi, 0x714b_2f68_a5a3_b8b6n);
  });

  it('PUSH/POP Sreg take the operand size: 2 bytes in real mode, 4 with 66h, 2 with 66h in 64-bit mode', () => {
    // push es; pop ds in real mode (on /dev/kvm: SP back where it was, SP - 2 written).
    const a = run(engine, [0x06], 0n, [], 'real');
    assert.equal(a.rsp, STACK_TOP - 2);
    assert.deepEqual(a.stack.slice(12), [0xaa, 0xaa, 0, 0]);
    assert.equal(run(engine, [0x06, 0x1f], 0n, [], 'real').rsp, STACK_TOP);
    assert.equal(run(engine, [0x66, 0x0f, 0xa8], 0n, [], 'real').rsp, STACK_TOP - 4); // push gs, o32
    assert.equal(run(engine, [0x66, 0x0f, 0xa0], 0n).rsp, STACK_TOP - 2); // push fs, o16 in 64-bit mode
    assert.equal(run(engine, [0x0f, 0xa0], 0n).rsp, STACK_TOP - 8); // push fs
  });

  it('PUSH Sreg with a 32-bit operand size stores the selector with a 16-bit move', () => {
    // push es in 32-bit protected mode (on /dev/kvm: ESP - 4, the upper two bytes unchanged).
    const a = run(engine, [0x06], 0n, [], 'protected');
    assert.equal(a.rsp, STACK_TOP - 4);
    assert.deepEqual(a.stack.slice(12), [0x10, 0x00, 0xaa, 0xaa]);
    // 66h push gs in real mode, likewise; push fs in 64-bit mode zero-extends to 8 bytes.
    assert.deepEqual(run(engine, [0x66, 0x0f, 0xa8], 0n, [], 'real').stack.slice(12), [0, 0, 0xaa, 0xaa]);
    assert.deepEqual(run(engine, [0x0f, 0xa0], 0n).stack.slice(8), [0, 0, 0, 0, 0, 0, 0, 0]); // FS = 0
  });

  it('KVM_SET_SREGS flushes the guest TLB: the next walk sets the accessed bit the VMM cleared', () => {
    const env = vmWithRam(16, { cpus: (_id, p) => new X86Cpu(p, engine.options) });
    const w = (gpa: number, bytes: Uint8Array) => assert.equal(env.host.write(HVA + gpa, bytes), undefined);
    const tables = identityPageTables(0x3000);
    const vcpu = ok(env.vmFd.createVcpu(0));
    w(CODE, Uint8Array.of(0xf4));
    for (let round = 0; round < 2; round++) {
      // The VMM rewrites the tables (A clear) and the entry state, CR3 the same as before.
      for (const t of tables) w(t.gpa, t.bytes);
      ok(setLongModeEntry(vcpu, { rip: CODE, rsp: STACK_TOP, cr3: 0x3000 }));
      expectExit(vcpu, 'Hlt');
      // On /dev/kvm the 2 MiB PDE reads 0xa3 after each run (the fetch set A), not 0x83.
      assert.equal(hostBytes(env.host, HVA + 0x5000, 1)[0], 0xa3, `round ${round}`);
    }
  });

  it('a data segment load caches the descriptor with its accessed bit set', () => {
    // mov ax, 0x18; mov ds, ax (on /dev/kvm: DS type 3, and the GDT's type byte 0x93).
    for (const mode of ['protected', 'long'] as const) {
      const a = run(engine, [0x66, 0xb8, 0x18, 0x00, 0x8e, 0xd8], 0n, [], mode);
      assert.equal(a.sregs.ds.type, 3, mode);
      assert.equal(a.gdt[0x18 + 5], 0x93, mode);
    }
  });

  it('LES/LDS/LSS/LFS/LGS load a far pointer: the selector into the segment, the offset into r', () => {
    // les si, [0x2000] in real mode: SI = 0x1234, ES = 0x5678 (base 0x56780).
    const a = run(engine, [0xc4, 0x36, 0x00, 0x20], 0n, [0x34, 0x12, 0x78, 0x56], 'real');
    assert.equal(a.regs.rsi & 0xffffn, 0x1234n);
    assert.equal(a.sregs.es.selector, 0x5678);
    assert.equal(a.sregs.es.base, 0x56780n);
    // lfs eax, [0x2000] in protected mode with selector 0x18; lgs rdx, [0x2000] (m16:64) in 64-bit mode.
    const b = run(
      engine,
      [0x0f, 0xb4, 0x05, 0x00, 0x20, 0, 0],
      0n,
      [0x78, 0x56, 0x34, 0x12, 0x18, 0],
      'protected',
    );
    assert.equal(b.regs.rax, 0x1234_5678n);
    assert.equal(b.sregs.fs.selector, 0x18);
    const pointer = [0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, 0x10, 0];
    const c = run(engine, [0x48, 0x0f, 0xb5, 0x14, 0x25, 0x00, 0x20, 0, 0], 0n, pointer);
    assert.equal(c.regs.rdx, 0x0123_4567_89ab_cdefn);
    assert.equal(c.sregs.gs.selector, 0x10);
  });

  it('an exception KVM injects as a fault (#UD) carries RFLAGS.RF in the frame', () => {
    // ud2 in 32-bit protected mode (on /dev/kvm: EFLAGS 0x10002 in the frame, as for the #DE and
    // #GP the CPU delivers itself; likewise RFLAGS in 64-bit mode).
    const a = run(engine, [0x0f, 0x0b], 0n, [], 'protected');
    assert.equal(a.regs.rip, BigInt(HANDLER + 1));
    assert.deepEqual(a.stack.slice(4), [0x00, 0x10, 0, 0, 0x08, 0, 0, 0, 0x02, 0, 0x01, 0]);
  });

  it('PUSHA/POPA push and pop the eight registers (the old SP among them, skipped on the way back)', () => {
    // pusha in real mode with AX..DI = 1..8 (SP 0x8000): SP - 16, DI at the bottom, old SP fifth.
    const regs = { rax: 1n, rcx: 2n, rdx: 3n, rbx: 4n, rbp: 6n, rsi: 7n, rdi: 8n };
    const a = run(engine, [0x60], regs, [], 'real');
    assert.equal(a.rsp, STACK_TOP - 16);
    assert.deepEqual(a.stack, [8, 0, 7, 0, 6, 0, 0, 0x80, 4, 0, 3, 0, 2, 0, 1, 0]);
    // popad in protected mode from ESP = 0x7fe0: EDI, ESI, EBP zero, EBX..EAX the 0xaa bytes.
    const b = run(engine, [0x61], { rsp: BigInt(STACK_TOP - 32), rbp: 5n, rsi: 5n }, [], 'protected');
    assert.equal(b.rsp, STACK_TOP);
    assert.deepEqual([b.regs.rdi, b.regs.rsi, b.regs.rbp], [0n, 0n, 0n]);
    assert.deepEqual([b.regs.rbx, b.regs.rax], [0xaaaa_aaaan, 0xaaaa_aaaan]);
  });

  it('LEAVE and ENTER take their operand size (66h) for the pushed and popped frame pointer', () => {
    // mov rbp, rsp; enter 7, 0; o16 leave in 64-bit mode (on /dev/kvm: RSP 8 - 2 below where it began).
    assert.equal(run(engine, [0x48, 0x89, 0xe5, 0xc8, 7, 0, 0, 0x66, 0xc9], 0n).rsp, STACK_TOP - 6);
    // mov ebp, esp; enter 0x27, 0; o16 leave in protected mode: 4 - 2.
    assert.equal(
      run(engine, [0x89, 0xe5, 0xc8, 0x27, 0, 0, 0x66, 0xc9], 0n, [], 'protected').rsp,
      STACK_TOP - 2,
    );
    // o16 enter 0, 0 in 64-bit mode pushes BP's 2 bytes.
    assert.equal(run(engine, [0x66, 0xc8, 0, 0, 0], 0n).rsp, STACK_TOP - 2);
  });

  it('BT/BTS m, r address a bit string: the signed offset reaches words before and after the operand', () => {
    // bts dword [0x2004], ecx with ECX = -27: bit 5 of the dword at 0x2000 (on /dev/kvm: set, CF 0).
    const a = run(
      engine,
      [0x0f, 0xab, 0x0c, 0x25, 0x04, 0x20, 0, 0],
      { rcx: 0xffff_ffe5n },
      [0, 0, 0, 0, 0xff],
    );
    assert.deepEqual(a.data.slice(0, 5), [0x20, 0, 0, 0, 0xff]);
    assert.equal(a.rflags & 1, 0);
    // bt word [0x2000], cx with CX = 0x24 in real mode: bit 4 of the word at 0x2004 (CF 1).
    const b = run(engine, [0x0f, 0xa3, 0x0e, 0x00, 0x20], { rcx: 0x24n }, [0, 0, 0, 0, 0x10], 'real');
    assert.equal(b.rflags & 1, 1);
  });

  it('STR and SLDT store the TR and LDTR selectors (zero-extended into a 32-bit register)', () => {
    const base = ok(vmWithRam(1, { cpus: (_id, p) => new X86Cpu(p, engine.options) }).vmFd.createVcpu(0));
    const s = ok(base.getSregs());
    const sregs = { tr: { ...s.tr, selector: 0x40 }, ldt: { ...s.ldt, selector: 0x48 } };
    // str eax; sldt [0x2000] in protected mode (on /dev/kvm they run; the model had no STR/SLDT: #UD).
    const a = run(
      engine,
      [0x0f, 0x00, 0xc8, 0x0f, 0x00, 0x05, 0x00, 0x20, 0, 0],
      { rax: 0xffff_ffffn },
      [],
      'protected',
      sregs,
    );
    assert.equal(a.regs.rax, 0x40n);
    assert.deepEqual(a.data.slice(0, 2), [0x48, 0]);
  });

  it('WRMSR of a non-canonical LSTAR, CSTAR or KERNEL_GS_BASE is #GP (they are passed through)', () => {
    for (const msr of [0xc000_0082, 0xc000_0083, 0xc000_0102]) {
      // mov ecx, msr; mov eax, 0xadab852e; mov edx, 0xe75f77bd; wrmsr (on /dev/kvm: #GP, the handler).
      const code = [0xb9, ...[0, 1, 2, 3].map((k) => (msr >>> (8 * k)) & 0xff), 0xb8, 0x2e, 0x85, 0xab, 0xad];
      const a = run(engine, [...code, 0xba, 0xbd, 0x77, 0x5f, 0xe7, 0x0f, 0x30], 0n);
      assert.equal(a.regs.rip, BigInt(HANDLER + 1), msr.toString(16));
      // A canonical one is written.
      const b = run(engine, [...code, 0xba, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x30], 0n);
      assert.equal(b.regs.rip, BigInt(CODE + code.length + 7 + 1), msr.toString(16));
    }
  });
});
