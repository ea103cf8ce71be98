/**
 * KVM's emulation of ALU instructions on MMIO (read-modify-write, compare, reg,r/m loads) with the
 * x86 interpreter as the guest CPU, through the fd as a VMM sees it: the read exit, then on the
 * next KVM_RUN the write exit (none for CMP, TEST and reg,r/m forms), RIP and RFLAGS at each step.
 * The results are checked against the interpreter running the same instruction on RAM: the
 * emulator computes on the model's ALU (KVM's fastops on the host CPU), so registers, memory and
 * every arithmetic flag must be what the CPU itself gives.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { X86Cpu } from '../../src/cpu/x86/cpu.js';
import { resetRealMode } from '../../src/hostkvm/tiny-guest.js';
import { expectExit, HVA, hostBytes, ok, vmWithRam } from '../../src/kvm/test-util.js';
import { describeEngines, type Engine } from './engines.js';

const CODE = 0x1000;
/** Where the operand lives when it is RAM: ES = 0x0300, offset 0x10 (RAM is GPA 0..0x10000). */
const RAM_ES = 0x0300;
/** Where it lives when it is MMIO: ES = 0xd000, no memslot there. */
const MMIO_ES = 0xd000;
const RFLAGS_CF = 1n;
const RFLAGS_ARITH = 0x8d5n;

/** A real-mode vCPU on the interpreter with `code` at 0x1000 followed by HLT, ES = `es`, RCX, RDX, RFLAGS set. */
function realModeVcpu(
  engine: Engine,
  code: readonly number[],
  es: number,
  regs: { rcx?: bigint; rdx?: bigint; rflags?: bigint },
) {
  const env = vmWithRam(16, { cpus: (_id, protectedState) => new X86Cpu(protectedState, engine.options) });
  assert.equal(env.host.write(HVA + CODE, Uint8Array.from([...code, 0xf4])), undefined);
  const vcpuFd = ok(env.vmFd.createVcpu(0));
  ok(resetRealMode(vcpuFd, CODE, 0x8000));
  const s = ok(vcpuFd.getSregs());
  ok(vcpuFd.setSregs({ ...s, es: { ...s.es, selector: es, base: BigInt(es) << 4n } }));
  const r = ok(vcpuFd.getRegs());
  ok(
    vcpuFd.setRegs({
      ...r,
      rax: 0x1111_2222_3333_4444n,
      rcx: regs.rcx ?? 0n,
      rdx: regs.rdx ?? 0n,
      rflags: regs.rflags ?? 2n,
    }),
  );
  return { ...env, vcpuFd };
}

const le = (v: bigint, n: number): number[] =>
  Array.from({ length: n }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
const regsOf = (r: { rax: bigint; rcx: bigint; rdx: bigint; rip: bigint; rflags: bigint }) => ({
  rax: r.rax,
  rcx: r.rcx,
  rdx: r.rdx,
  rip: r.rip,
  rflags: r.rflags,
});

describeEngines('MMIO emulation of a read-modify-write: the mmio guest’s orb $0x80, %es:0x10', (engine) => {
  it('KVM_EXIT_MMIO read (len 1), then KVM_EXIT_MMIO write (len 1) of the OR, RIP and RFLAGS written before the write exit', () => {
    const insn = [0x26, 0x80, 0x0e, 0x10, 0x00, 0x80]; // or byte es:[0x10], 0x80
    const { vcpuFd } = realModeVcpu(engine, insn, MMIO_ES, { rflags: 2n | RFLAGS_CF | 0x40n });
    const read = expectExit(vcpuFd, 'MmioRead');
    assert.deepEqual([read.addr, read.data.length], [0xd0010, 1]);
    assert.equal(ok(vcpuFd.getRegs()).rip, BigInt(CODE), 'the read exits before the instruction is done');
    read.data.set([0x01]);
    const write = expectExit(vcpuFd, 'MmioWrite');
    assert.deepEqual([write.addr, [...write.data]], [0xd0010, [0x81]]);
    const r = ok(vcpuFd.getRegs());
    assert.equal(r.rip, BigInt(CODE + insn.length), 'writeback moved RIP before the write exit');
    // 0x81: SF, PF (two bits set); OR clears CF and OF, ZF off.
    assert.equal(r.rflags & RFLAGS_ARITH, 0x84n);
    expectExit(vcpuFd, 'Hlt');
    assert.equal(ok(vcpuFd.getRegs()).rip, BigInt(CODE + insn.length + 1));
  });

  it('a dword ADD across the end of RAM: the RAM half is read and written without an exit, the MMIO half exits twice', () => {
    // add dword es:[0x0ffe], 0x01010101 with ES = 0x0f00: bytes 0xfffe..0x10001, RAM ends at 0x10000.
    const insn = [0x26, 0x66, 0x81, 0x06, 0xfe, 0x0f, 0x01, 0x01, 0x01, 0x01];
    const { vcpuFd, host } = realModeVcpu(engine, insn, 0x0f00, {});
    assert.equal(host.write(HVA + 0xfffe, Uint8Array.from([0xff, 0x10])), undefined);
    const read = expectExit(vcpuFd, 'MmioRead');
    assert.deepEqual([read.addr, read.data.length], [0x10000, 2]);
    read.data.set([0x20, 0xff]);
    // 0xff2010ff + 0x01010101 = 0x1_0021_1200: carry out.
    const write = expectExit(vcpuFd, 'MmioWrite');
    assert.deepEqual([write.addr, [...write.data]], [0x10000, [0x21, 0x00]]);
    assert.deepEqual([...hostBytes(host, HVA + 0xfffe, 2)], [0x00, 0x12], 'the RAM half written at once');
    const flags = ok(vcpuFd.getRegs()).rflags;
    assert.equal(flags & RFLAGS_CF, RFLAGS_CF);
    expectExit(vcpuFd, 'Hlt');
  });
});

/** One instruction on ES:0x10 (16-bit code) and the operands to run it with. */
interface Case {
  readonly what: string;
  readonly bytes: readonly number[];
  readonly size: 1 | 2 | 4;
  /** Does memory get written (not CMP, TEST or a reg,r/m form)? */
  readonly writesMemory: boolean;
}

const GROUP1 = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'] as const;
const ES_DISP = [0x10, 0x00];

function cases(): Case[] {
  const out: Case[] = [];
  for (const [n, name] of GROUP1.entries()) {
    const w = name !== 'cmp';
    const op = n * 8;
    out.push(
      { what: `${name} es:[0x10], cl`, bytes: [0x26, op, 0x0e, ...ES_DISP], size: 1, writesMemory: w },
      { what: `${name} es:[0x10], ch`, bytes: [0x26, op, 0x2e, ...ES_DISP], size: 1, writesMemory: w },
      { what: `${name} es:[0x10], cx`, bytes: [0x26, op + 1, 0x0e, ...ES_DISP], size: 2, writesMemory: w },
      {
        what: `${name} es:[0x10], ecx`,
        bytes: [0x26, 0x66, op + 1, 0x0e, ...ES_DISP],
        size: 4,
        writesMemory: w,
      },
      {
        what: `${name} dh, es:[0x10]`,
        bytes: [0x26, op + 2, 0x36, ...ES_DISP],
        size: 1,
        writesMemory: false,
      },
      {
        what: `${name} cx, es:[0x10]`,
        bytes: [0x26, op + 3, 0x0e, ...ES_DISP],
        size: 2,
        writesMemory: false,
      },
      {
        what: `${name} edx, es:[0x10]`,
        bytes: [0x26, 0x66, op + 3, 0x16, ...ES_DISP],
        size: 4,
        writesMemory: false,
      },
      {
        what: `${name} byte es:[0x10], 0x80`,
        bytes: [0x26, 0x80, 0x06 | (n << 3), ...ES_DISP, 0x80],
        size: 1,
        writesMemory: w,
      },
      {
        what: `${name} word es:[0x10], 0x7ffe`,
        bytes: [0x26, 0x81, 0x06 | (n << 3), ...ES_DISP, 0xfe, 0x7f],
        size: 2,
        writesMemory: w,
      },
      {
        what: `${name} dword es:[0x10], 0x80000001`,
        bytes: [0x26, 0x66, 0x81, 0x06 | (n << 3), ...ES_DISP, 0x01, 0x00, 0x00, 0x80],
        size: 4,
        writesMemory: w,
      },
      {
        what: `${name} dword es:[0x10], -1 (83 ib)`,
        bytes: [0x26, 0x66, 0x83, 0x06 | (n << 3), ...ES_DISP, 0xff],
        size: 4,
        writesMemory: w,
      },
    );
  }
  out.push(
    { what: 'test es:[0x10], cl', bytes: [0x26, 0x84, 0x0e, ...ES_DISP], size: 1, writesMemory: false },
    {
      what: 'test es:[0x10], ecx',
      bytes: [0x26, 0x66, 0x85, 0x0e, ...ES_DISP],
      size: 4,
      writesMemory: false,
    },
    {
      what: 'test byte es:[0x10], 0x81',
      bytes: [0x26, 0xf6, 0x06, ...ES_DISP, 0x81],
      size: 1,
      writesMemory: false,
    },
    {
      what: 'test word es:[0x10], 0x8000',
      bytes: [0x26, 0xf7, 0x06, ...ES_DISP, 0x00, 0x80],
      size: 2,
      writesMemory: false,
    },
  );
  return out;
}

/** Memory and register operands: zero results, carries, signed overflows, parity both ways. */
const OPERANDS: readonly (readonly [mem: bigint, rcx: bigint, rdx: bigint, rflags: bigint])[] = [
  [0x8000_0080n, 0xffff_ff80n, 0x7fff_ff7fn, 2n],
  [0x7fff_ffffn, 0x0000_8001n, 0x8000_0001n, 2n | RFLAGS_CF],
  [0x0000_0000n, 0xffff_ffffn, 0xffff_ffffn, 2n | RFLAGS_CF],
  [0xffff_ffffn, 0x1234_5678n, 0x0000_0000n, 0x8d7n],
];

describeEngines(
  'MMIO emulation of ALU instructions: the same registers, memory and RFLAGS as the CPU on RAM',
  (engine) => {
    for (const c of cases()) {
      it(`${c.what}: read exit${c.writesMemory ? ', write exit' : ''}, results as on RAM`, () => {
        for (const [mem, rcx, rdx, rflags] of OPERANDS) {
          const memBytes = le(mem, c.size);
          // On RAM: the interpreter runs the instruction itself.
          const onRam = realModeVcpu(engine, c.bytes, RAM_ES, { rcx, rdx, rflags });
          const ramAt = HVA + (RAM_ES << 4) + 0x10;
          assert.equal(onRam.host.write(ramAt, Uint8Array.from(memBytes)), undefined);
          expectExit(onRam.vcpuFd, 'Hlt');
          const want = regsOf(ok(onRam.vcpuFd.getRegs()));
          const wantMem = [...hostBytes(onRam.host, ramAt, c.size)];

          // On MMIO: KVM emulates it.
          const { vcpuFd } = realModeVcpu(engine, c.bytes, MMIO_ES, { rcx, rdx, rflags });
          const read = expectExit(vcpuFd, 'MmioRead');
          assert.deepEqual([read.addr, read.data.length], [0xd0010, c.size]);
          read.data.set(memBytes);
          if (c.writesMemory) {
            const write = expectExit(vcpuFd, 'MmioWrite');
            assert.deepEqual(
              [write.addr, [...write.data]],
              [0xd0010, wantMem],
              `the written value (mem ${mem})`,
            );
          } else {
            assert.deepEqual(wantMem, memBytes, 'the CPU did not write memory either');
          }
          expectExit(vcpuFd, 'Hlt');
          assert.deepEqual(
            regsOf(ok(vcpuFd.getRegs())),
            want,
            `registers and RFLAGS (mem ${mem}, rflags ${rflags})`,
          );
        }
      });
    }
  },
);
