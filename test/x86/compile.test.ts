/**
 * The block compiler (src/cpu/x86/compile/) against the interpreter it stands in for:
 * - every instruction form it writes out, in 64-, 32- and 16-bit code, on a spread of register,
 *   flag and memory states, leaves what the interpreter leaves: the exit, all registers, RFLAGS,
 *   the lazy-flags record field by field, memory, cpu.nextRip and the instructions counted;
 *   forms it writes out are checked to be written out (no handler call in the block's source);
 * - a fault, an exit or a handler's STOP in the middle of a compiled block leaves RIP, registers,
 *   memory, CR2, the exception frame and the instruction count where the interpreter leaves them;
 * - a store into a compiled block's code drops it with its block (self-modifying code), and code
 *   the VMM rewrote is compiled again;
 * - a block is compiled after COMPILE_THRESHOLD (or the CPU's compileThreshold) interpreted runs,
 *   never with `compile: false`, and a block entered in the interrupt shadow runs one instruction.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import iced from 'iced-x86';
import type { X86Vendor } from '../../src/cpu/x86/alu.js';
import { blockSource } from '../../src/cpu/x86/compile/assemble.js';
import { COMPILE_THRESHOLD } from '../../src/cpu/x86/compile/policy.js';
import { X86Cpu, type X86CpuOptions } from '../../src/cpu/x86/cpu.js';
import { resetRealMode } from '../../src/hostkvm/tiny-guest.js';
import type { ModelVcpuFd } from '../../src/kvm/index.js';
import { HVA, hostBytes, ok, type VmEnv, vmWithRam } from '../../src/kvm/test-util.js';
import type { KvmRegs } from '../../src/uapi/regs.js';
import { flatSegment32, identityPageTables, setLongModeEntry } from '../../src/vmm/long-mode-entry.js';
import { modelPlatform } from '../../src/vmm/platform.js';
import { compare, openMachine, report, shrink } from '../oracle/x86-diff.js';
import { generate, MODES } from '../oracle/x86-gen.js';
import { COMPILED, ENGINES, type Engine } from './engines.js';
import { gate64, u64le } from './guest-bytes.js';

const { Code, Encoder, Instruction, MemoryOperand, Register } = iced;
type IcedInstruction = InstanceType<typeof Instruction>;

const CODE = 0x1000;
const DATA = 0x2000;
const PML4 = 0x3000;
const IDT = 0x6000;
const GDT = 0x7000;
const STACK = 0x9000;
/** Where the exception handler of the fault tests sits: it reports through port 0x80 and halts. */
const HANDLER = 0x1800;

type Bits = 16 | 32 | 64;

// ---------------------------------------------------------------------------------------------
// Machines: one VM per engine and code size, reused for every program (the VMM rewrites code,
// data and tables before each run, so blocks are checked and recompiled as their bytes change).

interface Machine {
  readonly env: VmEnv;
  readonly vcpu: ModelVcpuFd;
  readonly cpu: X86Cpu;
  readonly bits: Bits;
}

function machine(engine: Engine | X86CpuOptions, bits: Bits): Machine {
  const cpu = new X86Cpu(false, 'options' in engine ? engine.options : engine);
  const env = vmWithRam(16, { cpus: () => cpu });
  const vcpu = ok(env.vmFd.createVcpu(0)) as ModelVcpuFd;
  return { env, vcpu, cpu, bits };
}

function write(m: Machine, gpa: number, bytes: ArrayLike<number>): void {
  assert.equal(m.env.host.write(HVA + gpa, Uint8Array.from(bytes)), undefined);
}

/** Put the machine at CODE in its mode: 64-bit long mode with paging, flat 32-bit, or real mode. */
function enter(m: Machine, regs: Partial<KvmRegs>, rflags: bigint): void {
  const v = m.vcpu;
  if (m.bits === 64) {
    for (const t of identityPageTables(PML4)) write(m, t.gpa, t.bytes);
    write(m, GDT, [...u64le(0n), ...u64le(0x00209a0000000000n)]);
    for (let v = 0; v < 32; v++) write(m, IDT + 16 * v, gate64(HANDLER));
    ok(
      setLongModeEntry(v, {
        rip: CODE,
        rsp: STACK,
        cr3: PML4,
        ds: 0,
        gdt: { base: GDT, limit: 15 },
        idt: { base: IDT, limit: 32 * 16 - 1 },
      }),
    );
  } else {
    ok(resetRealMode(v, CODE, STACK));
    if (m.bits === 32) {
      const s = ok(v.getSregs());
      ok(
        v.setSregs({
          ...s,
          cr0: s.cr0 | 1n,
          cs: flatSegment32(8, true),
          ds: flatSegment32(0x10, false),
          es: flatSegment32(0x10, false),
          ss: flatSegment32(0x10, false),
        }),
      );
    }
  }
  ok(v.setRegs({ ...ok(v.getRegs()), ...regs, rip: BigInt(CODE), rsp: BigInt(STACK), rflags }));
}

/** Everything a run leaves that the two engines must agree on. */
interface Snapshot {
  exit: string;
  regs: Record<string, string>;
  cr2: string;
  data: string;
  stack: string;
  flags: Record<string, number>;
  instructions: number;
  nextRip: number;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Run once (KVM_RUN) and take the snapshot. */
function snapshot(m: Machine): Snapshot {
  const before = m.cpu.instructions;
  const e = m.vcpu.run();
  const exit =
    e.kind === 'IoOut'
      ? `IoOut ${e.port} ${hex(e.data)}`
      : e.kind === 'MmioRead'
        ? `MmioRead ${e.addr}`
        : e.kind;
  const r = ok(m.vcpu.getRegs());
  const f = m.cpu.f;
  return {
    exit,
    regs: Object.fromEntries(Object.entries(r).map(([k, v]) => [k, (v as bigint).toString(16)])),
    cr2: ok(m.vcpu.getSregs()).cr2.toString(16),
    data: hex(hostBytes(m.env.host, HVA + DATA, 0x80)),
    stack: hex(hostBytes(m.env.host, HVA + STACK - 0x40, 0x40)),
    flags: {
      op: f.op,
      size: f.size,
      resLo: f.resLo,
      resHi: f.resHi,
      aLo: f.aLo,
      aHi: f.aHi,
      bLo: f.bLo,
      bHi: f.bHi,
      carry: f.carry,
      bits: f.bits,
    },
    instructions: m.cpu.instructions - before,
    nextRip: m.cpu.nextRip,
  };
}

// ---------------------------------------------------------------------------------------------
// Forms: instructions built with iced-x86's encoder, from Code names.

function encode(bits: Bits, instrs: readonly IcedInstruction[]): number[] {
  const enc = new Encoder(bits);
  let rip = BigInt(CODE);
  const out: number[] = [];
  for (const i of instrs) {
    const n = enc.encode(i, rip);
    rip += BigInt(n);
    out.push(...enc.takeBuffer());
  }
  return out;
}

function code(name: string): number {
  const c = Code[name as keyof typeof Code];
  if (c === undefined) throw new Error(`no iced Code ${name}`);
  return c as number;
}

/** Five general-purpose registers of a width: REX-only ones in 64-bit code, AH and BH in the others. */
function regs(bits: Bits, width: number): number[] {
  if (width === 8)
    return bits === 64
      ? [Register.AL, Register.CL, Register.DL, Register.R9L, Register.R15L]
      : [Register.AL, Register.CL, Register.DL, Register.AH, Register.BH];
  const base = width === 64 ? Register.RAX : width === 32 ? Register.EAX : Register.AX;
  return (bits === 64 ? [0, 1, 2, 9, 15] : [0, 1, 2, 5, 3]).map((n) => base + n);
}

/** A memory operand as plain data (iced's MemoryOperand is consumed by the Instruction it goes into). */
interface Mem {
  readonly base: number;
  readonly index: number;
  readonly scale: number;
  readonly disp: number;
  readonly dispSize: number;
}

function mo(m: Mem): InstanceType<typeof MemoryOperand> {
  return new MemoryOperand(m.base, m.index, m.scale, BigInt(m.disp), m.dispSize, false, Register.None);
}

/** Memory operands into the data page (RDI = DATA, RSI small, RBX = DATA + 0x20 in every run). */
function mems(bits: Bits): Mem[] {
  const m = (base: number, index: number, scale: number, disp: number, dispSize = disp ? 1 : 0): Mem => ({
    base,
    index,
    scale,
    disp,
    dispSize,
  });
  if (bits === 64)
    return [
      m(Register.RDI, Register.None, 1, 0),
      m(Register.RDI, Register.RSI, 4, 0x10),
      m(Register.RIP, Register.None, 1, DATA + 0x30, 8),
      m(Register.EBX, Register.ESI, 2, 8),
    ];
  if (bits === 32) return [m(Register.EDI, Register.None, 1, 0), m(Register.EDI, Register.ESI, 4, 0x10)];
  return [m(Register.DI, Register.None, 1, 0), m(Register.BX, Register.SI, 1, 0x10)];
}

interface Form {
  readonly what: string;
  readonly bytes: number[];
  /** The compiler writes every instruction of it out (checked on 64-bit code). */
  readonly inline: boolean;
}

const ALU = ['Add', 'Or', 'Adc', 'Sbb', 'And', 'Sub', 'Xor', 'Cmp'];
const SHIFTS = ['Shl', 'Shr', 'Sar', 'Rol', 'Ror', 'Rcl', 'Rcr'];
const CCS = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

/** The forms of one code size: every operand shape the emitters take, plus a few they leave. */
function forms(bits: Bits): Form[] {
  const out: Form[] = [];
  const I = Instruction;
  const add = (what: string, instrs: IcedInstruction[], inline = true) =>
    out.push({ what, bytes: encode(bits, instrs), inline });
  const widths = bits === 64 ? [8, 16, 32, 64] : [8, 16, 32];
  const imm = (w: number) => (w === 8 ? 'imm8' : w === 16 ? 'imm16' : 'imm32');
  for (const w of widths) {
    const rs = regs(bits, w);
    const acc = w === 64 ? 'RAX' : w === 32 ? 'EAX' : w === 16 ? 'AX' : 'AL';
    for (const op of [...ALU, 'Test']) {
      const rm = `${op}_rm${w}_r${w}`;
      const pairs: [number, number][] = [
        [rs[0]!, rs[1]!],
        [rs[3]!, rs[4]!],
        [rs[2]!, rs[2]!],
      ];
      for (const [a, b] of pairs) add(`${rm} ${a},${b}`, [I.createRegReg(code(rm), a, b)]);
      for (const mem of mems(bits)) add(`${rm} [m],r`, [I.createMemReg(code(rm), mo(mem), rs[1]!)]);
      if (op !== 'Test')
        for (const mem of mems(bits))
          add(`${op}_r${w}_rm${w} r,[m]`, [I.createRegMem(code(`${op}_r${w}_rm${w}`), rs[3]!, mo(mem))]);
      for (const v of [0, 1, -1, 0x7f, -0x80, 0x7fff_ffff, -0x8000_0000, 0x1234_5678]) {
        const fits8 = v >= -0x80 && v <= 0x7f;
        const fitsW = w === 8 ? fits8 : w === 16 ? v >= -0x8000 && v <= 0x7fff : true;
        if (fits8 && w !== 8 && op !== 'Test')
          add(`${op}_rm${w}_imm8 ${v}`, [I.createRegI32(code(`${op}_rm${w}_imm8`), rs[4]!, v)]);
        if (fitsW) {
          add(`${op}_rm${w}_${imm(w)} ${v}`, [I.createRegI32(code(`${op}_rm${w}_${imm(w)}`), rs[2]!, v)]);
          add(`${op}_${acc}_${imm(w)} ${v}`, [I.createRegI32(code(`${op}_${acc}_${imm(w)}`), rs[0]!, v)]);
          add(`${op}_rm${w}_${imm(w)} [m] ${v}`, [
            I.createMemI32(code(`${op}_rm${w}_${imm(w)}`), mo(mems(bits)[1]!), v),
          ]);
        }
      }
    }
    for (const op of ['Inc', 'Dec', 'Neg', 'Not']) {
      add(`${op}_rm${w} r`, [I.createReg(code(`${op}_rm${w}`), rs[4]!)]);
      add(`${op}_rm${w} [m]`, [I.createMem(code(`${op}_rm${w}`), mo(mems(bits)[0]!))]);
    }
    for (const op of SHIFTS) {
      for (const n of [0, 1, 3, 8, 15, 16, 31, 32, 33, 63, 64 + 5, 0xff]) {
        add(`${op}_rm${w}_imm8 ${n}`, [I.createRegI32(code(`${op}_rm${w}_imm8`), rs[3]!, n)]);
        if (n === 33)
          add(`${op}_rm${w}_imm8 [m] ${n}`, [
            I.createMemI32(code(`${op}_rm${w}_imm8`), mo(mems(bits)[1]!), n),
          ]);
      }
      add(`${op}_rm${w}_1`, [I.createRegI32(code(`${op}_rm${w}_1`), rs[0]!, 1)]);
      add(`${op}_rm${w}_CL`, [I.createRegReg(code(`${op}_rm${w}_CL`), rs[2]!, Register.CL)]);
    }
    // MOV: register to register, load, store, immediates.
    const mov = `Mov_rm${w}_r${w}`;
    add(`${mov} r,r`, [I.createRegReg(code(mov), rs[0]!, rs[4]!)]);
    for (const mem of mems(bits)) {
      add(`${mov} [m],r`, [I.createMemReg(code(mov), mo(mem), rs[3]!)]);
      add(`Mov_r${w}_rm${w} r,[m]`, [I.createRegMem(code(`Mov_r${w}_rm${w}`), rs[1]!, mo(mem))]);
    }
    if (w !== 64) add(`Mov_r${w}_${imm(w)}`, [I.createRegI32(code(`Mov_r${w}_${imm(w)}`), rs[3]!, -5)]);
    else add('Mov_r64_imm64', [I.createRegU64(code('Mov_r64_imm64'), rs[3]!, 0x8765_4321_dead_beefn)]);
    add(`Mov_rm${w}_${imm(w)} [m]`, [I.createMemI32(code(`Mov_rm${w}_${imm(w)}`), mo(mems(bits)[1]!), -2)]);
    add(`Mov_rm${w}_${imm(w)} r`, [I.createRegI32(code(`Mov_rm${w}_${imm(w)}`), rs[2]!, 0x7f)]);
  }
  // LEA: 64-bit addressing is written out for 32- and 64-bit destinations; the rest calls the handler.
  for (const w of bits === 64 ? [16, 32, 64] : [16, 32]) {
    const dst = regs(bits, w)[2]!;
    for (const mem of mems(bits)) {
      const wide = bits === 64 && w !== 16 && mem.base !== Register.EBX;
      add(`Lea_r${w}_m`, [I.createRegMem(code(`Lea_r${w}_m`), dst, mo(mem))], wide || bits !== 64);
    }
    if (bits === 64)
      add(
        `Lea_r${w}_m [rax+rdx*8-8]`,
        [
          I.createRegMem(
            code(`Lea_r${w}_m`),
            dst,
            mo({ base: Register.RAX, index: Register.RDX, scale: 8, disp: -8, dispSize: 1 }),
          ),
        ],
        w !== 16,
      );
  }
  // MOVZX/MOVSX/MOVSXD from registers and memory.
  const ext: [string, number, number][] = [
    ['Movzx_r32_rm8', 32, 8],
    ['Movzx_r16_rm8', 16, 8],
    ['Movzx_r32_rm16', 32, 16],
    ['Movsx_r32_rm8', 32, 8],
    ['Movsx_r16_rm8', 16, 8],
    ['Movsx_r32_rm16', 32, 16],
  ];
  if (bits === 64)
    ext.push(['Movzx_r64_rm16', 64, 16], ['Movsx_r64_rm8', 64, 8], ['Movsxd_r64_rm32', 64, 32]);
  for (const [name, dw, sw] of ext) {
    add(`${name} r`, [I.createRegReg(code(name), regs(bits, dw)[1]!, regs(bits, sw).at(-1)!)]);
    add(`${name} [m]`, [I.createRegMem(code(name), regs(bits, dw)[4]!, mo(mems(bits)[1]!))]);
  }
  add('Nop_rm32 [m]', [I.createMem(code('Nop_rm32'), mo(mems(bits)[0]!))]);
  // The stack: written out for 8-byte operands in 64-bit code, the handler otherwise.
  const wide = bits === 64;
  const sw = bits === 64 ? 64 : bits;
  for (const r of [
    regs(bits, sw)[0]!,
    regs(bits, sw)[4]!,
    sw === 64 ? Register.RSP : sw === 32 ? Register.ESP : Register.SP,
  ]) {
    add(`Push_r${sw}`, [I.createReg(code(`Push_r${sw}`), r)], wide);
    add(`Pop_r${sw}`, [I.createReg(code(`Pop_r${sw}`), r)], wide);
  }
  add('Push_r16 (66h)', [I.createReg(code('Push_r16'), Register.AX)], false);
  add(`Push_rm${sw} [m]`, [I.createMem(code(`Push_rm${sw}`), mo(mems(bits)[1]!))], wide);
  const pushImm = bits === 64 ? 'Pushq_imm32' : bits === 32 ? 'Pushd_imm32' : 'Push_imm16';
  add(
    `${pushImm} -> ret`,
    [
      I.createI32(code(pushImm), CODE + 6),
      I.create(code(bits === 64 ? 'Retnq' : bits === 32 ? 'Retnd' : 'Retnw')),
    ],
    wide,
  );
  add(
    'call rel -> hlt',
    [
      I.createBranch(
        code(bits === 64 ? 'Call_rel32_64' : bits === 32 ? 'Call_rel32_32' : 'Call_rel16'),
        BigInt(CODE + (bits === 16 ? 3 : 5)),
      ),
    ],
    wide,
  );
  // Jcc after each kind of flag-setting instruction (the condition from the block's own record,
  // or from cond()): taken jumps over MOV AL, 1.
  const w = bits === 64 ? 64 : 32;
  const [a, b] = regs(bits, w);
  const setters: [string, IcedInstruction][] = [
    ['cmp', I.createRegReg(code(`Cmp_rm${w}_r${w}`), a!, b!)],
    ['cmp32', I.createRegReg(code('Cmp_rm32_r32'), regs(bits, 32)[0]!, regs(bits, 32)[1]!)],
    ['sub imm', I.createRegI32(code(`Sub_rm${w}_imm8`), a!, 1)],
    ['test', I.createRegReg(code(`Test_rm${w}_r${w}`), a!, b!)],
    ['and32', I.createRegReg(code('And_rm32_r32'), regs(bits, 32)[0]!, regs(bits, 32)[1]!)],
    ['add', I.createRegReg(code(`Add_rm${w}_r${w}`), a!, b!)],
    ['inc', I.createReg(code(`Inc_rm${w}`), a!)],
    ['shl', I.createRegI32(code(`Shl_rm${w}_imm8`), a!, 3)],
    ['cmp8', I.createRegReg(code('Cmp_rm8_r8'), Register.AL, Register.CL)],
  ];
  const rel = bits === 64 ? 'rel8_64' : bits === 32 ? 'rel8_32' : 'rel8_16';
  for (const [what, setter] of setters)
    CCS.forEach((cc) => {
      const head = encode(bits, [setter]).length;
      const target = BigInt(CODE + head + 2 + 2);
      add(`${what}; j${cc}`, [
        setter,
        I.createBranch(code(`J${cc}_${rel}`), target),
        I.createRegI32(code('Mov_r8_imm8'), Register.AL, 1),
      ]);
    });
  add('jmp rel8', [
    I.createBranch(code(`Jmp_${rel}`), BigInt(CODE + 4)),
    I.createRegI32(code('Mov_r8_imm8'), Register.AL, 1),
  ]);
  return out;
}

/** Deterministic pseudo-random numbers (xorshift32). */
function random(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

const EDGES = [
  0n,
  1n,
  2n ** 64n - 1n,
  0x7fff_ffffn,
  0x8000_0000n,
  0xffff_ffffn,
  2n ** 32n,
  2n ** 63n,
  2n ** 63n - 1n,
  0x80n,
  0xff7fn,
];

/** A state: random (or edge) registers, RFLAGS' arithmetic bits, and data-page bytes. */
function state(seed: number): { regs: Partial<KvmRegs>; rflags: bigint; data: number[] } {
  const next = random(seed);
  const value = (): bigint => {
    const k = next() % 16;
    if (k < EDGES.length) return EDGES[k]!;
    return (BigInt(next()) << 32n) | BigInt(next());
  };
  const names = ['rax', 'rcx', 'rdx', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
  const regs: Partial<KvmRegs> = Object.fromEntries(names.map((n) => [n, value()]));
  regs.rdi = BigInt(DATA);
  regs.rsi = BigInt(next() % 8);
  regs.rbx = BigInt(DATA + 0x20);
  const rflags = 2n | BigInt(next() & 0x8d5);
  const data = Array.from({ length: 0x80 }, () => next() & 0xff);
  return { regs, rflags, data };
}

const HLT = 0xf4;
const STATES = 6;

// ---------------------------------------------------------------------------------------------

/**
 * Every form of `bits`-bit code that `only` keeps, on both engines under `vendor`'s ALU: the
 * failures (at most 5), and forms meant to be written out that call a handler (64-bit code).
 */
function formFailures(bits: Bits, vendor: X86Vendor, only: (f: Form) => boolean = () => true): string[] {
  const [interp, compiled] = ENGINES.map((e) => machine({ ...e.options, vendor }, bits));
  const failures: string[] = [];
  const picked = forms(bits).filter(only);
  assert.ok(picked.length > 0, 'some forms');
  for (const form of picked) {
    for (let s = 0; s < STATES && failures.length < 5; s++) {
      const st = state(s * 7919 + form.bytes.length);
      const snaps = [interp!, compiled!].map((m) => {
        write(m, CODE, [...form.bytes, HLT]);
        write(m, DATA, st.data);
        enter(m, st.regs, st.rflags);
        return snapshot(m);
      });
      try {
        assert.deepEqual(snaps[1], snaps[0]);
      } catch (e) {
        failures.push(`${form.what} (state ${s}): ${(e as Error).message}`);
      }
    }
    if (bits === 64 && form.inline) {
      const b = compiled!.cpu.blocks.lookup(CODE, 64);
      assert.ok(b?.compiled, `${form.what}: compiled`);
      const calls = blockSource(b, vendor).match(/exec\d+\(cpu/g) ?? [];
      // Only the HLT ending the block (and the MOV after a Jcc, in its own block) calls a handler.
      if (calls.length > (b.insns.at(-1)?.name === 'Hlt' ? 1 : 0))
        failures.push(`${form.what}: not written out:\n${blockSource(b, vendor)}`);
    }
  }
  return failures;
}

describe('x86 compiled blocks ≡ the interpreter', () => {
  for (const bits of [64, 32, 16] as const) {
    it(`every written-out form in ${bits}-bit code leaves the interpreter's state`, () => {
      assert.deepEqual(formFailures(bits, 'amd'), []);
    });
    // Shifts by an immediate are the only written-out forms whose flags depend on the vendor.
    it(`under Intel's ALU, the shifts in ${bits}-bit code leave the interpreter's state`, () => {
      assert.deepEqual(
        formFailures(bits, 'intel', (f) => /^(Shl|Sal|Shr|Sar)_|^shl;/.test(f.what)),
        [],
      );
    });
  }
});

/** The handler every vector goes to in the fault tests: OUT 0x80 (AL), then HLT. */
const REPORT = [0xe6, 0x80, 0xf4];

/** Run `code` (64-bit) on both engines from the same state, `runs` KVM_RUNs each; the snapshots. */
function bothEngines(code: number[], st: ReturnType<typeof state>, runs = 1): Snapshot[][] {
  return ENGINES.map((e) => {
    const m = machine(e, 64);
    write(m, CODE, code);
    write(m, HANDLER, REPORT);
    write(m, DATA, st.data);
    enter(m, st.regs, st.rflags);
    return Array.from({ length: runs }, () => snapshot(m));
  });
}

describe('x86 compiled blocks: a fault, an exit or a STOP in the middle of a block', () => {
  // add rax, rbx (flags) ; <the instruction> ; add rax, 1 ; hlt — the first ADD completes, the
  // middle instruction faults or stops: RIP at it, the frame pushed with the first ADD's flags.
  const cases: [string, number[], Partial<KvmRegs>][] = [
    ['a store to a not-present page (#PF)', [0x48, 0x89, 0x01], { rcx: 0x40_0000n }], // mov [rcx], rax
    ['a load from a not-present page (#PF)', [0x48, 0x8b, 0x11], { rcx: 0x40_0010n }], // mov rdx, [rcx]
    ['a read-modify-write of a not-present page (#PF)', [0x48, 0x01, 0x01], { rcx: 0x40_0000n }], // add [rcx], rax
    ['a non-canonical address (#GP)', [0x48, 0x8b, 0x11], { rcx: 0x8000_0000_0000_0000n }],
    ['MMIO: a GPA without a memslot (KVM_EXIT_MMIO)', [0x48, 0x8b, 0x11], { rcx: 0x10_0000n }],
    ['a split store whose second page is MMIO', [0x48, 0x89, 0x01], { rcx: 0xfffcn }],
    ['DIV by zero (#DE, a handler that throws)', [0x48, 0xf7, 0xf1], { rcx: 0n }], // div rcx
    ['INT3 (a trap: RIP after it)', [0xcc], {}],
    ['an unimplemented instruction (#UD)', [0xd9, 0xc0], {}], // fld st0
    ['OUT (an exit: the handler returns STOP)', [0xe6, 0x81], {}],
  ];
  for (const [what, insn, regs] of cases) {
    it(`${what}: RIP, registers, flags, memory, CR2 and the count as the interpreter leaves them`, () => {
      const code = [0x48, 0x01, 0xd8, ...insn, 0x48, 0x83, 0xc0, 0x01, HLT];
      for (let s = 0; s < 4; s++) {
        const st = state(s + 1);
        st.regs = { ...st.regs, ...regs };
        const [a, b] = bothEngines(code, st, 3);
        assert.deepEqual(b, a);
      }
    });
  }

  it('an address needing the exact sum, from registers the block wrote, as the interpreter computes it', () => {
    // mov rcx, 2^52 + DATA ; mov rdx, -2^52 ; mov rax, [rcx + rdx] ; add [rcx + rdx + 8], rax ; hlt
    const code = [
      ...[0x48, 0xb9, ...u64le(2n ** 52n + BigInt(DATA))],
      ...[0x48, 0xba, ...u64le(2n ** 64n - 2n ** 52n)],
      ...[0x48, 0x8b, 0x04, 0x11],
      ...[0x48, 0x01, 0x44, 0x11, 0x08],
      HLT,
    ];
    const [a, b] = bothEngines(code, state(5), 1);
    assert.deepEqual(b, a);
    assert.equal(a![0]!.exit, 'Hlt');
  });

  it('counts a faulting block’s completed instructions once: KVM_RUN ends with the same count', () => {
    // A loop whose store faults on its 5th iteration: rcx walks towards a not-present page.
    // l: add rax, 1 ; mov [rcx], rax ; add rcx, 0x1000 ; jmp l
    const code = [
      0x48, 0x83, 0xc0, 0x01, 0x48, 0x89, 0x01, 0x48, 0x81, 0xc1, 0x00, 0x10, 0x00, 0x00, 0xeb, 0xf0,
    ];
    const st = state(3);
    st.regs = { ...st.regs, rcx: 0xc000n };
    const [a, b] = bothEngines(code, st, 2);
    assert.deepEqual(b, a);
  });
});

describe('x86 compiled blocks: self-modifying code', () => {
  it('a store into a compiled block drops it; the block runs stale to its end, as interpreted, then recompiles', () => {
    // l: mov byte [rip + (imm of the MOV AL below)], 0x22 ; mov al, 0x11 ; out 0x80, al ; jmp l
    const code = [0xc6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x22, 0xb0, 0x11, 0xe6, 0x80, 0xeb, 0xf1];
    const outs = ENGINES.map((e) => {
      const m = machine(e, 64);
      write(m, CODE, code);
      enter(m, {}, 2n);
      const runs = [snapshot(m), snapshot(m), snapshot(m)];
      return { m, runs };
    });
    assert.deepEqual(outs[1]!.runs, outs[0]!.runs);
    // The decoded block went on with its old bytes; the next execution sees the store.
    assert.deepEqual(
      outs[1]!.runs.map((r) => r.exit),
      ['IoOut 128 11', 'IoOut 128 22', 'IoOut 128 22'],
    );
    // Each round's store dropped the page's blocks; each round decoded and compiled them again.
    const cpu = outs[1]!.m.cpu;
    assert.ok(cpu.blocks.invalidations >= 3);
    assert.ok(cpu.blocks.compiled >= 3 + 1);
  });

  it('code the VMM rewrites between runs is checked, decoded and compiled again', () => {
    const m = machine(COMPILED, 64);
    write(m, CODE, [0xb0, 0x11, 0xe6, 0x80, HLT]); // mov al, 0x11 ; out 0x80, al ; hlt
    enter(m, {}, 2n);
    assert.equal(snapshot(m).exit, 'IoOut 128 11');
    assert.equal(snapshot(m).exit, 'Hlt');
    const first = m.cpu.blocks.lookup(CODE, 64)!;
    assert.ok(first.compiled);
    write(m, CODE + 1, [0x33]);
    enter(m, {}, 2n);
    assert.equal(snapshot(m).exit, 'IoOut 128 33');
    assert.equal(first.live, false, 'the old block (and its compiled form) is gone');
    assert.notEqual(m.cpu.blocks.lookup(CODE, 64), first);
    assert.ok(m.cpu.blocks.lookup(CODE, 64)!.compiled);
  });
});

describe('x86 compiled blocks: a block that branches to itself runs itself again', () => {
  it('until its own store changes its code: the iteration ends stale, the next runs the new bytes', () => {
    // l: mov [rcx], al ; add rcx, 0x100 ; dec edx ; jnz l ; hlt — the 5th store (AL = 2) hits the
    // low byte of the ADD's immediate (0x1005): from the 6th iteration on it adds 0x102.
    const code = [0x88, 0x01, 0x48, 0x81, 0xc1, 0x00, 0x01, 0x00, 0x00, 0xff, 0xca, 0x75, 0xf3, HLT];
    const st = state(9);
    st.regs = { ...st.regs, rax: 2n, rcx: 0xc05n, rdx: 10n };
    const [a, b] = bothEngines(code, st, 1);
    assert.deepEqual(b, a);
    assert.equal(a![0]!.regs['rcx'], (0xc05 + 5 * 0x100 + 5 * 0x102).toString(16));
  });

  it('in 16-bit code, through alu.ts and cond(), with the #VMEXIT budget ending a long run', () => {
    // l: inc ax ; cmp ax, bx ; jne l ; hlt   (real mode)
    const code = [0x40, 0x39, 0xd8, 0x75, 0xfb, HLT];
    const runs = ENGINES.map((e) => {
      const m = machine(e, 16);
      write(m, CODE, code);
      enter(m, { rax: 0n, rbx: 0x9000n }, 2n);
      m.vcpu.vcpu.maxVmexitsPerRun = 1;
      assert.equal(m.vcpu.vcpu.run(), -4, 'EINTR from the #VMEXIT budget');
      const first = [m.cpu.instructions, ok(m.vcpu.getRegs()).rax, ok(m.vcpu.getRegs()).rip];
      m.vcpu.vcpu.maxVmexitsPerRun = 1000;
      return { first, end: snapshot(m) };
    });
    assert.deepEqual(runs[1], runs[0]);
    assert.equal(runs[0]!.end.exit, 'Hlt');
    assert.equal(runs[0]!.end.regs['rax'], '9000');
  });
});

describe('x86 compiled blocks: when a block is compiled', () => {
  // mov ecx, 10 ; l: dec ecx ; jnz l ; hlt — the block at l runs 9 times after the first block.
  const LOOP = [0xb9, 0x0a, 0x00, 0x00, 0x00, 0xff, 0xc9, 0x75, 0xfc, HLT];
  const L = CODE + 5;
  const runLoop = (options: X86CpuOptions) => {
    const m = machine(options, 64);
    write(m, CODE, LOOP);
    enter(m, {}, 2n);
    const snap = snapshot(m);
    assert.equal(snap.exit, 'Hlt');
    return { m, snap };
  };

  it(`after COMPILE_THRESHOLD (${COMPILE_THRESHOLD}) interpreted runs by default`, () => {
    assert.equal(new X86Cpu().compileThreshold, COMPILE_THRESHOLD);
    assert.equal(new X86Cpu().compile, true);
  });

  it('after compileThreshold interpreted runs: a block run that often stays interpreted, one more compiles it', () => {
    const { m } = runLoop({ compileThreshold: 8 });
    const loop = m.cpu.blocks.lookup(L, 64)!;
    assert.equal(loop.compiled !== undefined, true, 'run 9 times: compiled for its 9th');
    assert.equal(loop.runs, 9);
    const { m: m9 } = runLoop({ compileThreshold: 9 });
    assert.equal(m9.cpu.blocks.lookup(L, 64)!.compiled, undefined, 'run 9 times: all interpreted');
    assert.equal(m9.cpu.blocks.compiled, 0);
  });

  it('threshold 0: every block compiled before its first run; compile: false: none, the same result', () => {
    const a = runLoop({ compileThreshold: 0 });
    assert.equal(a.m.cpu.blocks.compiled, 3);
    const b = runLoop({ compile: false, compileThreshold: 0 });
    assert.equal(b.m.cpu.blocks.compiled, 0);
    assert.equal(b.m.cpu.blocks.lookup(L, 64)!.compiled, undefined);
    assert.deepEqual(a.snap, b.snap);
  });

  it('a compiled block entered in the interrupt shadow runs one instruction (the interpreter’s), then the interrupt', () => {
    const results = ENGINES.map((e) => {
      const cpu = new X86Cpu(false, e.options);
      const env = vmWithRam(16, { cpus: () => cpu });
      const w = (gpa: number, bytes: number[]) =>
        assert.equal(env.host.write(HVA + gpa, Uint8Array.from(bytes)), undefined);
      w(0x20 * 4, [0x00, 0x20, 0x00, 0x00]); // IVT[0x20] = 0000:2000
      w(0x2000, [0xa0, 0x00, 0x05, 0xe6, 0x20, 0xcf]); // mov al, [0x500] ; out 0x20, al ; iret
      // jmp b ; a: sti ; b: inc byte [0x500] ; out 0x81, al ; jmp a
      w(0x1000, [0xeb, 0x01, 0xfb, 0xfe, 0x06, 0x00, 0x05, 0xe6, 0x81, 0xeb, 0xf7]);
      const vcpu = ok(env.vmFd.createVcpu(0)) as ModelVcpuFd;
      ok(resetRealMode(vcpu, 0x1000, 0x8000));
      const first = vcpu.run();
      const compiledBefore = cpu.blocks.lookup(0x1003, 16)?.compiled !== undefined;
      ok(vcpu.interrupt(0x20)); // IF = 0: KVM asks for the window, which opens after STI's shadow
      const second = vcpu.run();
      return { first, second, compiledBefore, instructions: cpu.instructions };
    });
    const [interp, compiled] = results;
    assert.equal(compiled!.compiledBefore, true, 'the block after STI ran compiled before');
    for (const r of results) {
      assert.equal(r.first.kind === 'IoOut' && r.first.port, 0x81);
      // The INC ran once more (in the shadow), then the handler reads 2: OUT 0x81 did not run first.
      assert.deepEqual(r.second.kind === 'IoOut' && [r.second.port, [...r.second.data]], [0x20, [2]]);
    }
    assert.equal(compiled!.instructions, interp!.instructions);
  });

  it('the #VMEXIT budget ends a run after the same instructions on both engines', () => {
    // l: add rax, 1 ; add rbx, rax ; jmp l   (3 instructions a block: the budget overshoots by 2)
    const counts = ENGINES.map((e) => {
      const m = machine(e, 64);
      write(m, CODE, [0x48, 0x83, 0xc0, 0x01, 0x48, 0x01, 0xc3, 0xeb, 0xf7]);
      enter(m, { rax: 0n, rbx: 0n }, 2n);
      m.vcpu.vcpu.maxVmexitsPerRun = 3;
      assert.equal(m.vcpu.vcpu.run(), -4, 'EINTR from the #VMEXIT budget');
      const r = ok(m.vcpu.getRegs());
      return [m.cpu.instructions, r.rax, r.rbx, r.rip];
    });
    assert.deepEqual(counts[1], counts[0]);
    assert.equal(counts[0]![0], 3 * 65_538);
  });
});

describe('x86 compiled blocks ≡ the interpreter on random programs', () => {
  // Every mode of the generator, 32-bit paging too (which this machine's /dev/kvm cannot run).
  for (const mode of MODES)
    it(`${mode}: the differential generator’s programs (test/oracle/x86-gen.ts), without /dev/kvm`, () => {
      const [interp, compiled] = ENGINES.map((e) => {
        const m = modelPlatform({ cpu: 'x86', x86: e.options });
        return openMachine({ kvm: m.kvm, memory: m.memory });
      });
      try {
        const failures: string[] = [];
        for (let seed = 100_000; seed < 100_300 && failures.length < 3; seed++) {
          const p = generate(seed, mode);
          if (compare(interp!, compiled!, p).length === 0) continue;
          failures.push(report(interp!, compiled!, shrink(interp!, compiled!, p)));
        }
        assert.deepEqual(failures, []);
      } finally {
        interp!.close();
        compiled!.close();
      }
    });
});
