/**
 * The x87 register stack and arithmetic in the x86 interpreter, in long mode through the model
 * KVM: loads and stores of every type (OVMF's OpenSSL `fildl; fstpl` and the FISTPLL truncation
 * idiom among them), the arithmetic in all operand directions, comparisons into FSW and RFLAGS,
 * FXAM, stack faults, and the environment and state images — checked in guest memory and in the
 * FPU state KVM_GET_FPU returns.
 *
 * Code is hand-encoded through small helpers (each names the iced form it encodes) or, where
 * marked, assembled with GNU as with its source beside. Data the guest reads is at 0x2100, what it
 * stores at 0x2000. Encodings of the register forms were checked against a host CPU (DC E9 is
 * FSUB ST(1), ST(0): ST(1) := ST(1) - ST(0)).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { X86Cpu } from '../../src/cpu/x86/cpu.js';
import { expectExit, HVA, ok, vmWithRam } from '../../src/kvm/test-util.js';
import type { KvmFpu } from '../../src/uapi/fpu.js';
import { identityPageTables, setLongModeEntry } from '../../src/vmm/long-mode-entry.js';
import { describeEngines, type Engine } from './engines.js';
import { hexBytes, u64le } from './guest-bytes.js';

// ---- encodings: ModRM with an absolute disp32 (SIB, no base or index) ----
const at = (a: number): number[] => [0x25, a & 0xff, (a >>> 8) & 0xff, 0, 0];
const m = (op: number, reg: number) => (a: number) => [op, (reg << 3) | 4, ...at(a)];
const FLDS = m(0xd9, 0); // Fld_m32fp
const FLDL = m(0xdd, 0); // Fld_m64fp
const FSTPL = m(0xdd, 3); // Fstp_m64fp
const FSTPS = m(0xd9, 3); // Fstp_m32fp
const FLDT = m(0xdb, 5); // Fld_m80fp
const FSTPT = m(0xdb, 7); // Fstp_m80fp
const FISTL = m(0xdb, 2); // Fist_m32int
const FISTPL = m(0xdb, 3); // Fistp_m32int
const FISTPS = m(0xdf, 3); // Fistp_m16int
const FISTTPLL = m(0xdd, 1); // Fisttp_m64int
const FLDCW = m(0xd9, 5); // Fldcw_m2byte
const FNSTSW = m(0xdd, 7); // Fnstsw_m2byte
const FNSTENV = m(0xd9, 6); // Fnstenv_m28byte
const FLDENV = m(0xd9, 4); // Fldenv_m28byte
const FNSAVE = m(0xdd, 6); // Fnsave_m108byte
const FRSTOR = m(0xdd, 4); // Frstor_m108byte
const PUSHFQ_POP = (a: number) => [0x9c, 0x8f, 0x04, ...at(a)]; // pushfq; pop qword [a]
const FNINIT = [0xdb, 0xe3];
const FLD1 = [0xd9, 0xe8];
const FLDZ = [0xd9, 0xee];
const FLDPI = [0xd9, 0xeb];
const FXAM = [0xd9, 0xe5];
const HLT = [0xf4];

/** A double, a float, an int32, an int64 as little-endian bytes. */
const f64 = (x: number): number[] => [...new Uint8Array(Float64Array.of(x).buffer)];
const i32 = (v: number): number[] => [...new Uint8Array(Int32Array.of(v).buffer)];
const i64 = (v: bigint): number[] => u64le(BigInt.asUintN(64, v));
/** An extended value from its sign/exponent word and significand. */
const f80 = (se: number, sig: bigint): number[] => [...u64le(sig), se & 0xff, se >> 8];
const INDEFINITE = f80(0xffff, 0xc000_0000_0000_0000n);

const FSW_IE = 0x1;
const FSW_ZE = 0x4;
const FSW_PE = 0x20;
const FSW_SF = 0x40;
const C0 = 0x100;
const C1 = 0x200;
const C2 = 0x400;
const C3 = 0x4000;
const top = (fsw: number) => (fsw >> 11) & 7;

interface Run {
  mem: Uint8Array;
  dv: DataView;
  fpu: KvmFpu;
  rflags: bigint;
}

/** Run `code` at 0x1000 (ending in HLT) with `data` at 0x2100; the page at 0x2000 and the FPU after. */
function run(engine: Engine, code: number[] | Uint8Array, data: number[] = [], rflags = 2n): Run {
  const cpu = new X86Cpu(false, engine.options);
  const env = vmWithRam(16, { cpus: () => cpu });
  const w = (gpa: number, bytes: Uint8Array) => assert.equal(env.host.write(HVA + gpa, bytes), undefined);
  for (const t of identityPageTables(0x3000)) w(t.gpa, t.bytes);
  w(0x1000, Uint8Array.from(code));
  w(0x2000, new Uint8Array(0x100).fill(0xaa));
  w(0x2100, Uint8Array.from(data));
  const vcpu = ok(env.vmFd.createVcpu(0));
  ok(setLongModeEntry(vcpu, { rip: 0x1000, rsp: 0x8000, cr3: 0x3000 }));
  ok(vcpu.setRegs({ ...ok(vcpu.getRegs()), rflags }));
  expectExit(vcpu, 'Hlt');
  assert.equal(cpu.unimplemented.size, 0, [...cpu.unimplemented.keys()].join(', '));
  const mem = new Uint8Array(0x200);
  assert.equal(env.host.read(HVA + 0x2000, mem), undefined);
  return { mem, dv: new DataView(mem.buffer), fpu: ok(vcpu.getFpu()), rflags: ok(vcpu.getRegs()).rflags };
}

/** The 10 bytes of ST(i) in KVM_GET_FPU's fpr. */
const stBytes = (fpu: KvmFpu, i: number): number[] => [...fpu.fpr.subarray(16 * i, 16 * i + 10)];

describeEngines('x86 interpreter: x87 loads and stores', (engine) => {
  it('fildl + fstpl (GNU as): ints to doubles, negative and 2^31 - 1 included; the stack ends empty', () => {
    // fildl 0x2100; fstpl 0x2000; fildl 0x2104; fstpl 0x2008; fildl 0x2108; fstpl 0x2010;
    // fildl 0x210c; fstpl 0x2018; hlt
    const code = hexBytes(
      'db 04 25 00 21 00 00 dd 1c 25 00 20 00 00 db 04 25 04 21 00 00 dd 1c 25 08 20 00 00 ' +
        'db 04 25 08 21 00 00 dd 1c 25 10 20 00 00 db 04 25 0c 21 00 00 dd 1c 25 18 20 00 00 f4',
    );
    const ints = [5, -7, 2 ** 31 - 1, -(2 ** 31)];
    const r = run(engine, code, ints.flatMap(i32));
    assert.deepEqual(
      ints.map((_, k) => r.dv.getFloat64(8 * k, true)),
      ints,
    );
    assert.equal(r.fpu.ftwx, 0);
    assert.equal(top(r.fpu.fsw), 0);
    assert.equal(r.fpu.fsw, 0, 'no exception');
  });

  it('fildll 2^63 - 1 and -2^63 round-trip through fistpll exactly; fstpt shows the extended bits (GNU as)', () => {
    // fildll 0x2100; fistpll 0x2000; fildll 0x2108; fistpll 0x2008; fildll 0x2100; fstpt 0x2010; hlt
    const code = hexBytes(
      'df 2c 25 00 21 00 00 df 3c 25 00 20 00 00 df 2c 25 08 21 00 00 df 3c 25 08 20 00 00 ' +
        'df 2c 25 00 21 00 00 db 3c 25 10 20 00 00 f4',
    );
    const r = run(engine, code, [...i64(2n ** 63n - 1n), ...i64(-(2n ** 63n))]);
    assert.equal(r.dv.getBigInt64(0, true), 2n ** 63n - 1n);
    assert.equal(r.dv.getBigInt64(8, true), -(2n ** 63n));
    assert.deepEqual([...r.mem.subarray(0x10, 0x1a)], f80(0x3fff + 62, 0xffff_ffff_ffff_fffen));
    assert.equal(r.fpu.fsw & 0x3f, 0, 'exact: no PE');
  });

  it('fldt/fstpt copy 80 bits exactly: a signalling NaN payload and an unnormal (GNU as)', () => {
    // fldt 0x2100; fldt 0x2110; fstpt 0x2000; fstpt 0x2010; hlt
    const code = hexBytes(
      'db 2c 25 00 21 00 00 db 2c 25 10 21 00 00 db 3c 25 00 20 00 00 db 3c 25 10 20 00 00 f4',
    );
    const snan = f80(0x7fff, 0x8000_0000_dead_beefn);
    const unnormal = f80(0x1234, 0x0123_4567_89ab_cdefn);
    const r = run(engine, code, [...snan, 0, 0, 0, 0, 0, 0, ...unnormal]);
    assert.deepEqual([...r.mem.subarray(0, 10)], unnormal);
    assert.deepEqual([...r.mem.subarray(0x10, 0x1a)], snan);
    assert.equal(r.fpu.fsw, 0, 'extended loads and stores raise nothing');
  });

  it('the fnstcw; or $0xc,%ah; fldcw; fistpll; fldcw truncation idiom (GNU as)', () => {
    // fldl 0x2100; fnstcw 0x2020; movzwl 0x2020,%eax; or $0xc,%ah; mov %ax,0x2022;
    // fldcw 0x2022; fistpll 0x2000; fldcw 0x2020; hlt
    const code = hexBytes(
      'dd 04 25 00 21 00 00 d9 3c 25 20 20 00 00 0f b7 04 25 20 20 00 00 80 cc 0c 66 89 04 25 22 20 00 00 ' +
        'd9 2c 25 22 20 00 00 df 3c 25 00 20 00 00 d9 2c 25 20 20 00 00 f4',
    );
    for (const [x, v] of [
      [-2.75, -2n],
      [2.75, 2n],
      [1e10 + 0.9, 10_000_000_000n],
    ] as const) {
      const r = run(engine, code, f64(x));
      assert.equal(r.dv.getBigInt64(0, true), v, `${x}`);
      assert.equal(r.dv.getUint16(0x22, true), 0xf7f, 'RC = toward zero while storing');
      assert.equal(r.fpu.fcw, 0x37f, 'the control word restored');
      assert.equal(r.fpu.fsw & FSW_PE, FSW_PE);
    }
  });

  it('FIST/FISTP round by RC; FISTTP truncates; out of range stores the integer indefinite with IE', () => {
    const values = [2.5, -2.5, 3.5, -1.2];
    const expected = [
      [2, -2, 4, -1], // nearest
      [2, -3, 3, -2], // down
      [3, -2, 4, -1], // up
      [2, -2, 3, -1], // toward zero
    ];
    for (let rc = 0; rc < 4; rc++) {
      const code = [
        ...FLDCW(0x2100),
        ...values.flatMap((_, k) => [
          ...FLDL(0x2108 + 8 * k),
          ...(k === 0 ? FISTL(0x2000) : FISTPL(0x2000 + 4 * k)),
        ]),
        ...FISTPL(0x2000),
        ...HLT,
      ];
      const r = run(engine, code, [
        0x7f | (rc << 2),
        0x03 | (rc << 2),
        0,
        0,
        0,
        0,
        0,
        0,
        ...values.flatMap(f64),
      ]);
      assert.deepEqual(
        values.map((_, k) => r.dv.getInt32(4 * k, true)),
        expected[rc],
        `RC ${rc}`,
      );
      assert.equal(r.fpu.ftwx, 0);
    }
    // fldl 70000 → fistps (16-bit) is out of range; fldl -2.9 → fisttpll.
    const r = run(
      engine,
      [...FLDL(0x2100), ...FISTPS(0x2000), ...FLDL(0x2108), ...FISTTPLL(0x2008), ...HLT],
      [...f64(70000), ...f64(-2.9)],
    );
    assert.equal(r.dv.getUint16(0, true), 0x8000);
    assert.equal(r.dv.getBigInt64(8, true), -2n);
    assert.equal(r.fpu.fsw & (FSW_IE | FSW_PE), FSW_IE | FSW_PE);
  });

  it('FSTP m32 rounds to single; the constants load as their extended values', () => {
    const r = run(
      engine,
      [...FLDS(0x2100), ...FLDL(0x2108), ...FSTPS(0x2000), ...FLDPI, ...FSTPT(0x2010), ...HLT],
      [
        ...[0, 0, 0xc0, 0x7f], // a QNaN single, left on the stack
        0,
        0,
        0,
        0,
        ...f64(1 / 3),
      ],
    );
    assert.equal(r.dv.getFloat32(0, true), Math.fround(1 / 3));
    assert.deepEqual([...r.mem.subarray(0x10, 0x1a)], f80(0x4000, 0xc90f_daa2_2168_c235n));
    assert.deepEqual(stBytes(r.fpu, 0), f80(0x7fff, 0xc000_0000_0000_0000n));
    assert.equal(r.fpu.ftwx, 0x80, 'one register left: physical 7');
  });
});

/** The reg field of each operation in D8 /r (ST(0) op ST(i)) and DC /r with a memory operand. */
const OPS = { add: 0, mul: 1, sub: 4, subr: 5, div: 6, divr: 7 } as const;
/** DC/DE register forms (ST(i) op ST(0)) swap SUB/SUBR and DIV/DIVR in the encoding. */
const REG_DC = { add: 0, mul: 1, sub: 5, subr: 4, div: 7, divr: 6 } as const;
type Op = keyof typeof OPS;

describeEngines('x86 interpreter: x87 arithmetic', (engine) => {
  // ST(1) = 10, ST(0) = 4; memory operands 2.0 (m64fp) and 3 (m32int).
  const LOAD = [...FLDL(0x2100), ...FLDL(0x2108)];
  const DATA = [...f64(10), ...f64(4), ...f64(2), ...i32(3)];
  const fn: Record<Op, (d: number, s: number) => number> = {
    add: (d, s) => d + s,
    mul: (d, s) => d * s,
    sub: (d, s) => d - s,
    subr: (d, s) => s - d,
    div: (d, s) => d / s,
    divr: (d, s) => s / d,
  };
  for (const op of Object.keys(OPS) as Op[]) {
    it(`F${op.toUpperCase()}: ST(0), ST(1); ST(1), ST(0); the P form; m64fp; FI${op.toUpperCase()} m32int`, () => {
      const f = fn[op];
      // Fop_st0_sti: ST(0) := ST(0) op ST(1).
      let r = run(
        engine,
        [...LOAD, 0xd8, 0xc1 | (OPS[op] << 3), ...FSTPL(0x2000), ...FSTPL(0x2008), ...HLT],
        DATA,
      );
      assert.deepEqual([r.dv.getFloat64(0, true), r.dv.getFloat64(8, true)], [f(4, 10), 10], 'st0, st1');
      // Fop_sti_st0: ST(1) := ST(1) op ST(0).
      r = run(
        engine,
        [...LOAD, 0xdc, 0xc1 | (REG_DC[op] << 3), ...FSTPL(0x2000), ...FSTPL(0x2008), ...HLT],
        DATA,
      );
      assert.deepEqual([r.dv.getFloat64(0, true), r.dv.getFloat64(8, true)], [4, f(10, 4)], 'st1, st0');
      // Fopp_sti_st0: ST(1) := ST(1) op ST(0), pop.
      r = run(engine, [...LOAD, 0xde, 0xc1 | (REG_DC[op] << 3), ...FSTPL(0x2000), ...HLT], DATA);
      assert.equal(r.dv.getFloat64(0, true), f(10, 4), 'p form');
      assert.equal(r.fpu.ftwx, 0, 'the P form popped');
      // Fop_m64fp, Fiop_m32int: ST(0) := ST(0) op m.
      r = run(engine, [...LOAD, ...m(0xdc, OPS[op])(0x2110), ...FSTPL(0x2000), ...HLT], DATA);
      assert.equal(r.dv.getFloat64(0, true), f(4, 2), 'm64fp');
      r = run(engine, [...LOAD, ...m(0xda, OPS[op])(0x2118), ...FSTPL(0x2000), ...HLT], DATA);
      assert.equal(r.dv.getFloat64(0, true), f(4, 3), 'm32int');
      assert.equal(r.fpu.fsw & 0x7f, 0, 'no exception');
    });
  }

  it('invalid operations give the indefinite with IE; x/0 gives infinity with ZE', () => {
    // fld1; fldz; fdivp → 1/0; then fldz; fldz; fdivp → 0/0; fsqrt of -1.
    const code = [
      ...FLD1,
      ...FLDZ,
      0xde,
      0xf9, // Fdivp_sti_st0: ST(1) := ST(1) / ST(0)
      ...FSTPL(0x2000),
      ...FLDZ,
      ...FLDZ,
      0xde,
      0xf9,
      ...FSTPL(0x2008),
      ...HLT,
    ];
    const r = run(engine, code);
    assert.equal(r.dv.getFloat64(0, true), Infinity);
    assert.equal(r.dv.getBigUint64(8, true), 0xfff8_0000_0000_0000n, 'the double indefinite');
    assert.equal(r.fpu.fsw & (FSW_IE | FSW_ZE), FSW_IE | FSW_ZE);
    const s = run(engine, [...FLD1, 0xd9, 0xe0 /* fchs */, 0xd9, 0xfa /* fsqrt */, ...HLT]);
    assert.deepEqual(stBytes(s.fpu, 0), INDEFINITE);
    assert.equal(s.fpu.fsw & FSW_IE, FSW_IE);
  });

  it('FPREM (complete: C2 = 0, quotient bits in C0 C3 C1), FRNDINT, FSCALE, FABS, FCHS', () => {
    // ST(1) = 2, ST(0) = 7: fprem → 1 (q = 3: C3, C1).
    // (FNSTSW before the store: FSTP sets C1 by its own rounding.)
    const rem = (insn: number[]) =>
      run(
        engine,
        [...FLDL(0x2100), ...FLDL(0x2108), ...insn, ...FNSTSW(0x2020), ...FSTPL(0x2000), ...HLT],
        [...f64(2), ...f64(7)],
      );
    let r = rem([0xd9, 0xf8]);
    assert.equal(r.dv.getFloat64(0, true), 1);
    assert.equal(r.dv.getUint16(0x20, true) & (C0 | C1 | C2 | C3), C3 | C1);
    // fprem1: 7 - 4·2 = -1 (q = 4: C0).
    r = rem([0xd9, 0xf5]);
    assert.equal(r.dv.getFloat64(0, true), -1);
    assert.equal(r.dv.getUint16(0x20, true) & (C0 | C1 | C2 | C3), C0);
    // fscale: 3 · 2^trunc(-2.5) = 0.75; frndint of -2.5 (nearest even) = -2; fabs; fchs.
    r = run(
      engine,
      [
        ...[...FLDL(0x2100), ...FLDL(0x2108), 0xd9, 0xfd, ...FSTPL(0x2000), ...FSTPL(0x2030)],
        ...[...FLDL(0x2100), 0xd9, 0xfc, ...FSTPL(0x2008)],
        ...[...FLDL(0x2100), 0xd9, 0xe1, ...FSTPL(0x2010)],
        ...[...FLDL(0x2108), 0xd9, 0xe0, ...FSTPL(0x2018)],
        ...HLT,
      ],
      [...f64(-2.5), ...f64(3)],
    );
    assert.deepEqual(
      [0, 8, 16, 24].map((o) => r.dv.getFloat64(o, true)),
      [0.75, -2, 2.5, -3],
    );
  });
});

describeEngines('x86 interpreter: x87 comparisons', (engine) => {
  const ZF = 0x40n;
  const PF = 0x4n;
  const CF = 0x1n;
  const NOISE = 0x8d5n | 2n; // OF SF ZF AF PF CF set before: the compare must clear OF SF AF.
  const fcomi = (a: number[], b: number[], insn: number[]) => {
    // ST(1) = b, ST(0) = a.
    const r = run(
      engine,
      [...FLDL(0x2108), ...FLDL(0x2100), ...insn, ...PUSHFQ_POP(0x2000), ...HLT],
      [...a, ...b],
      NOISE,
    );
    return { flags: r.dv.getBigUint64(0, true) & 0x8d5n, fpu: r.fpu };
  };
  it('FCOMI ST(0), ST(1): greater, less, equal, unordered (IE for a QNaN)', () => {
    const FCOMI = [0xdb, 0xf1];
    assert.equal(fcomi(f64(2), f64(1), FCOMI).flags, 0n);
    assert.equal(fcomi(f64(1), f64(2), FCOMI).flags, CF);
    assert.equal(fcomi(f64(-0), f64(0), FCOMI).flags, ZF);
    const un = fcomi(f64(Number.NaN), f64(1), FCOMI);
    assert.equal(un.flags, ZF | PF | CF);
    assert.equal(un.fpu.fsw & FSW_IE, FSW_IE);
    assert.equal(un.fpu.ftwx, 0xc0, 'not popped');
  });

  it('FUCOMIP: unordered without IE for a QNaN, and pops', () => {
    const FUCOMIP = [0xdf, 0xe9];
    const un = fcomi(f64(1), f64(Number.NaN), FUCOMIP);
    assert.equal(un.flags, ZF | PF | CF);
    assert.equal(un.fpu.fsw & FSW_IE, 0);
    assert.equal(un.fpu.ftwx, 0x80, 'popped');
    assert.equal(fcomi(f64(3), f64(3), FUCOMIP).flags, ZF);
  });

  it('FCOM/FCOMPP/FTST set C3 C2 C0 (C1 clear)', () => {
    const cc = (a: number, b: number, insn: number[]) =>
      run(engine, [...FLDL(0x2108), ...FLDL(0x2100), ...insn, ...HLT], [...f64(a), ...f64(b)]).fpu;
    const FCOM = [0xd8, 0xd1];
    const FCOMPP = [0xde, 0xd9];
    const FTST = [0xd9, 0xe4];
    const mask = C0 | C1 | C2 | C3;
    assert.equal(cc(2, 1, FCOM).fsw & mask, 0);
    assert.equal(cc(1, 2, FCOM).fsw & mask, C0);
    assert.equal(cc(1, 1, FCOM).fsw & mask, C3);
    assert.equal(cc(Number.NaN, 1, FCOM).fsw & mask, C3 | C2 | C0);
    const p = cc(1, 2, FCOMPP);
    assert.equal(p.fsw & mask, C0);
    assert.equal(p.ftwx, 0, 'FCOMPP pops twice');
    assert.equal(cc(-5, 0, FTST).fsw & mask, C0);
    assert.equal(cc(0, 7, FTST).fsw & mask, C3);
  });

  it('FXAM: each class in C3 C2 C0, the sign in C1; an empty register is 101', () => {
    const classes: [number[], number][] = [
      [f80(0x8000, 0n), C3 | C1], // -0
      [f80(0, 1n), C3 | C2], // denormal
      [f80(0x3fff, 0x8000_0000_0000_0000n), C2], // 1.0
      [f80(0xffff, 0x8000_0000_0000_0000n), C2 | C0 | C1], // -infinity
      [f80(0x7fff, 0xc000_0000_0000_0001n), C0], // NaN
      [f80(0x3fff, 1n), 0], // unnormal: unsupported
    ];
    for (const [v, expected] of classes) {
      const r = run(engine, [...FNINIT, ...FLDT(0x2100), ...FXAM, ...FNSTSW(0x2000), ...HLT], v);
      assert.equal(r.dv.getUint16(0, true) & (C0 | C1 | C2 | C3), expected, v.join(','));
    }
    const e = run(engine, [...FNINIT, ...FXAM, ...FNSTSW(0x2000), ...HLT]);
    assert.equal(e.dv.getUint16(0, true) & (C0 | C2 | C3), C3 | C0);
  });
});

describeEngines('x86 interpreter: x87 stack faults and state images', (engine) => {
  it('a ninth push overflows (IE SF C1, ST(0) the indefinite); reading an empty register underflows', () => {
    const r = run(engine, [...FNINIT, ...Array.from({ length: 9 }, () => FLD1).flat(), ...HLT]);
    assert.equal(r.fpu.fsw & (FSW_IE | FSW_SF | C1), FSW_IE | FSW_SF | C1);
    assert.equal(top(r.fpu.fsw), 7);
    assert.equal(r.fpu.ftwx, 0xff);
    assert.deepEqual(stBytes(r.fpu, 0), INDEFINITE);
    assert.deepEqual(stBytes(r.fpu, 1), f80(0x3fff, 0x8000_0000_0000_0000n));
    // fadd st(0), st(1) on an empty stack; fstpl of an empty ST(0).
    const u = run(engine, [...FNINIT, 0xd8, 0xc1, ...FSTPL(0x2000), ...FSTPL(0x2008), ...HLT]);
    assert.equal(u.fpu.fsw & (FSW_IE | FSW_SF | C1), FSW_IE | FSW_SF);
    assert.equal(u.dv.getBigUint64(0, true), 0xfff8_0000_0000_0000n, 'the sum: indefinite');
    assert.equal(u.dv.getBigUint64(8, true), 0xfff8_0000_0000_0000n, 'an empty register stored');
  });

  it('FNSTENV: the 28-byte image with the full tag word; FNINIT; FLDENV brings the stack back', () => {
    // fld1; fldz; fldpi → TOP 5: physical 5 = pi (00), 6 = +0 (01), 7 = 1 (00), 0-4 empty (11).
    const code = [
      ...FLD1,
      ...FLDZ,
      ...FLDPI,
      ...FNSTENV(0x2000),
      ...FNINIT,
      ...FNSTENV(0x2040),
      ...FLDENV(0x2000),
      ...FSTPL(0x2080),
      ...FSTPL(0x2088),
      ...FSTPL(0x2090),
      ...HLT,
    ];
    const r = run(engine, code);
    const dw = (o: number) => r.dv.getUint32(o, true);
    assert.equal(dw(0), 0xffff_037f);
    assert.equal(dw(4), 0xffff_2800, 'TOP 5');
    assert.equal(dw(8), 0xffff_13ff);
    assert.equal(dw(0x40 + 4), 0xffff_0000, 'after FNINIT: TOP 0');
    assert.equal(dw(0x40 + 8), 0xffff_ffff, 'after FNINIT: all empty');
    assert.deepEqual(
      [0x80, 0x88, 0x90].map((o) => r.dv.getFloat64(o, true)),
      [Math.PI, 0, 1],
    );
    assert.equal(r.fpu.ftwx, 0);
    assert.equal(r.fpu.fsw, FSW_PE, 'TOP 0 again; pi stored to a double is inexact');
  });

  it('FNSTENV with 66h: the 14-byte image', () => {
    const r = run(engine, [...FLD1, 0x66, ...FNSTENV(0x2000), ...HLT]);
    assert.deepEqual(
      [0, 2, 4].map((o) => r.dv.getUint16(o, true)),
      [0x37f, 0x3800, 0x3fff],
    );
    assert.equal(r.mem[14], 0xaa, 'nothing past 14 bytes');
  });

  it('FNSAVE stores the environment and ST(0)..ST(7), then FNINIT; FRSTOR loads them back', () => {
    const code = [
      ...FLD1,
      ...FLDPI,
      ...FNSAVE(0x2000),
      ...FNSTSW(0x2080),
      ...FRSTOR(0x2000),
      ...FSTPT(0x2090),
      ...HLT,
    ];
    const r = run(engine, code);
    assert.equal(r.dv.getUint32(4, true), 0xffff_3000, 'TOP 6');
    assert.equal(r.dv.getUint32(8, true), 0xffff_0fff, 'physical 6 and 7 valid');
    assert.deepEqual([...r.mem.subarray(28, 38)], f80(0x4000, 0xc90f_daa2_2168_c235n), 'ST(0)');
    assert.deepEqual([...r.mem.subarray(38, 48)], f80(0x3fff, 0x8000_0000_0000_0000n), 'ST(1)');
    assert.equal(r.dv.getUint16(0x80, true), 0, 'FNINIT after FNSAVE');
    assert.deepEqual([...r.mem.subarray(0x90, 0x9a)], f80(0x4000, 0xc90f_daa2_2168_c235n));
    assert.equal(top(r.fpu.fsw), 7);
    assert.equal(r.fpu.ftwx, 0x80);
    assert.deepEqual(stBytes(r.fpu, 0), f80(0x3fff, 0x8000_0000_0000_0000n));
  });
});
