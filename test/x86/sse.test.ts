/**
 * SSE/SSE2 in the x86 interpreter, in long mode (CR4.OSFXSR set) through the model KVM: the XMM
 * registers and MXCSR are KVM's guest FPU, so KVM_SET_FPU's values are what the guest reads and
 * KVM_GET_FPU shows what it wrote; the moves, the integer and logic operations (expected values
 * from lane-wise definitions here), alignment #GP, the #UD/#NM rules and FXSAVE/FXRSTOR.
 *
 * The machine code was assembled with GNU as (Intel syntax); each snippet's source is beside it.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { newGprs, Vmcb } from '../../src/cpu/backend.js';
import { X86Cpu } from '../../src/cpu/x86/cpu.js';
import { mxcsrMaskOf } from '../../src/cpu/x86/ops/sse.js';
import { expectExit, HVA, hostBytes, ok, vmWithRam } from '../../src/kvm/test-util.js';
import type { KvmFpu } from '../../src/uapi/fpu.js';
import { identityPageTables, setLongModeEntry } from '../../src/vmm/long-mode-entry.js';
import { describeEngines, type Engine } from './engines.js';
import { expectException, faultReporters } from './fault-reporters.js';
import { hexBytes, u64le } from './guest-bytes.js';

const CR4_OSFXSR = 0x200n;
const CR0_EM = 4n;
const CR0_TS = 8n;

/** XMM0 at entry, and the first 16 bytes of the data page at 0x2000 (the rest: 0x80 + offset & 0x7f). */
const X0 = Uint8Array.from([0, 1, 2, 3, 0xf4, 0x55, 0x86, 7, 0xff, 0xff, 0xff, 0xff, 12, 13, 0xfe, 0x80]);
const DATA = Uint8Array.from({ length: 0x1000 }, (_, i) =>
  i < 16 ? (i === 5 ? 0x55 : i) : 0x80 + (i & 0x7f),
);
const RAX = 0x1122_3344_5566_7788n;

/**
 * A long-mode guest running `code` at 0x1000 with the data page at 0x2000, XMM0 = X0 (KVM_SET_FPU)
 * and RAX = RAX. Exception handlers report through port 0x80: #UD (6) and #NM (7) their vector,
 * #GP (13) its vector and then (port 0x81) its error code.
 */
function sseGuest(engine: Engine, code: string, opts: { cr0?: bigint; cr4?: bigint } = {}) {
  const env = vmWithRam(16, { cpus: (_id, p) => new X86Cpu(p, engine.options) });
  const w = (gpa: number, b: Uint8Array | number[]) =>
    assert.equal(env.host.write(HVA + gpa, Uint8Array.from(b)), undefined);
  w(0x1000, hexBytes(code));
  w(0x2000, DATA);
  for (const t of identityPageTables(0x3000)) w(t.gpa, t.bytes);
  w(0x7000, [...u64le(0n), ...u64le(0x00209a0000000000n)]);
  for (const [gpa, b] of faultReporters(0x6000)) w(gpa, b);
  const vcpuFd = ok(env.vmFd.createVcpu(0));
  ok(
    setLongModeEntry(vcpuFd, {
      rip: 0x1000,
      rsp: 0x9000,
      cr3: 0x3000,
      ds: 0,
      gdt: { base: 0x7000, limit: 15 },
      idt: { base: 0x6000, limit: 0xfff },
    }),
  );
  const s = ok(vcpuFd.getSregs());
  ok(vcpuFd.setSregs({ ...s, cr0: s.cr0 | (opts.cr0 ?? 0n), cr4: opts.cr4 ?? s.cr4 | CR4_OSFXSR }));
  const fpu = ok(vcpuFd.getFpu());
  const xmm = fpu.xmm.slice();
  xmm.set(X0);
  ok(vcpuFd.setFpu({ ...fpu, xmm }));
  ok(vcpuFd.setRegs({ ...ok(vcpuFd.getRegs()), rax: RAX }));
  return { ...env, vcpuFd };
}

// 128-bit values as bigints (byte 0 least significant), and lane-wise definitions.
const M = (w: number): bigint => (1n << BigInt(w)) - 1n;
const ONES = M(128);
const big = (b: Uint8Array): bigint => b.reduceRight((a, x) => (a << 8n) | BigInt(x), 0n);
const lanes = (v: bigint, w: number): bigint[] =>
  Array.from({ length: 128 / w }, (_, k) => (v >> BigInt(k * w)) & M(w));
const join = (ls: bigint[], w: number): bigint =>
  ls.reduce((a, x, k) => a | ((x & M(w)) << BigInt(k * w)), 0n);
const zip = (a: bigint, b: bigint, w: number, f: (x: bigint, y: bigint) => bigint): bigint => {
  const lb = lanes(b, w);
  return join(
    lanes(a, w).map((x, k) => f(x, lb[k]!)),
    w,
  );
};
const eq = (w: number) => (x: bigint, y: bigint) => (x === y ? M(w) : 0n);
function unpack(a: bigint, b: bigint, w: number, high: boolean): bigint {
  const la = lanes(a, w);
  const lb = lanes(b, w);
  const n = 64 / w;
  const base = high ? n : 0;
  return join(
    Array.from({ length: 2 * n }, (_, k) => (k % 2 ? lb : la)[base + (k >> 1)]!),
    w,
  );
}
const movmsk = (v: bigint): bigint =>
  join(
    lanes(v, 8).map((b) => b >> 7n),
    1,
  ) & 0xffffn;
const xmmOf = (f: KvmFpu, r: number): bigint => big(f.xmm.subarray(16 * r, 16 * r + 16));
const X = big(X0);
const D = big(DATA.subarray(0, 16));

describeEngines('x86 interpreter: SSE/SSE2', (engine) => {
  it("KVM_SET_FPU's XMM and MXCSR are what the guest reads; KVM_GET_FPU shows what it wrote", () => {
    const { vcpuFd, host } = sseGuest(
      engine,
      // movdqa xmm1, xmm0; movdqu [0x2001], xmm1; paddd xmm0, xmm0; stmxcsr [0x2020];
      // mov dword [0x2024], 0x9fc0; ldmxcsr [0x2024]; hlt
      '66 0f 6f c8 f3 0f 7f 0c 25 01 20 00 00 66 0f fe c0 0f ae 1c 25 20 20 00 00 c7 04 25 24 20 00 00 c0 9f 00 00 0f ae 14 25 24 20 00 00 f4',
    );
    expectExit(vcpuFd, 'Hlt');
    assert.deepEqual([...hostBytes(host, HVA + 0x2001, 16)], [...X0], 'the XMM0 KVM_SET_FPU wrote');
    assert.deepEqual([...hostBytes(host, HVA + 0x2020, 4)], [0x80, 0x1f, 0, 0], 'MXCSR at RESET');
    const f = ok(vcpuFd.getFpu());
    assert.equal(xmmOf(f, 1), X);
    assert.equal(
      xmmOf(f, 0),
      zip(X, X, 32, (a, b) => a + b),
    );
    assert.equal(f.mxcsr, 0x9fc0);
    // And back: a new XMM1 and MXCSR through KVM_SET_FPU reach the guest on the next run.
    const xmm = f.xmm.slice();
    xmm.fill(0x3c, 16, 32);
    ok(vcpuFd.setFpu({ ...f, xmm, mxcsr: 0x1f80 }));
    const regs = ok(vcpuFd.getRegs());
    ok(vcpuFd.setRegs({ ...regs, rip: 0x1004n })); // movdqu [0x2001], xmm1; … stmxcsr [0x2020]
    expectExit(vcpuFd, 'Hlt');
    assert.deepEqual([...hostBytes(host, HVA + 0x2001, 16)], new Array(16).fill(0x3c));
    assert.deepEqual([...hostBytes(host, HVA + 0x2020, 4)], [0x80, 0x1f, 0, 0]);
  });

  it('moves: MOVD/MOVQ, MOVSS/MOVSD, MOVLPS/MOVHPS/MOVLPD/MOVHPD, MOVHLPS/MOVLHPS, aligned, unaligned and non-temporal', () => {
    const { vcpuFd, host } = sseGuest(
      engine,
      // movq xmm2, rax; movd xmm3, eax; movd ecx, xmm0; movq rdx, xmm0; movaps xmm4, xmm0;
      // movss xmm4, [0x2000]; movaps xmm5, xmm0; movss xmm5, xmm2; movaps xmm6, xmm0;
      // movsd xmm6, [0x2000]; movaps xmm7, xmm0; movlps xmm7, [0x2008]; movhps xmm7, [0x2000];
      // movaps xmm8, xmm0; movhlps xmm8, xmm7; movlhps xmm8, xmm2; movq xmm9, [0x2000];
      // movaps xmm10, xmm0; movq xmm10, xmm2; movups xmm11, [0x2003]; movq [0x2100], xmm0;
      // movss [0x2108], xmm2; movsd [0x2110], xmm7; movhps [0x2118], xmm0; movntdq [0x2120], xmm0;
      // movnti [0x2130], rax; movaps [0x2140], xmm0; movd [0x2150], xmm2; movlpd xmm12, [0x2000];
      // movhpd xmm12, [0x2008]; movapd xmm13, xmm12; movupd [0x2161], xmm13; movntps [0x2180], xmm13; hlt
      '66 48 0f 6e d0 66 0f 6e d8 66 0f 7e c1 66 48 0f 7e c2 0f 28 e0 f3 0f 10 24 25 00 20 00 00 0f 28 e8 f3 0f 10 ea 0f 28 f0 f2 0f 10 34 25 00 20 00 00 0f 28 f8 0f 12 3c 25 08 20 00 00 0f 16 3c 25 00 20 00 00 44 0f 28 c0 44 0f 12 c7 44 0f 16 c2 f3 44 0f 7e 0c 25 00 20 00 00 44 0f 28 d0 f3 44 0f 7e d2 44 0f 10 1c 25 03 20 00 00 66 0f d6 04 25 00 21 00 00 f3 0f 11 14 25 08 21 00 00 f2 0f 11 3c 25 10 21 00 00 0f 17 04 25 18 21 00 00 66 0f e7 04 25 20 21 00 00 48 0f c3 04 25 30 21 00 00 0f 29 04 25 40 21 00 00 66 0f 7e 14 25 50 21 00 00 66 44 0f 12 24 25 00 20 00 00 66 44 0f 16 24 25 08 20 00 00 66 45 0f 28 ec 66 44 0f 11 2c 25 61 21 00 00 44 0f 2b 2c 25 80 21 00 00 f4',
    );
    expectExit(vcpuFd, 'Hlt');
    const f = ok(vcpuFd.getFpu());
    const r = ok(vcpuFd.getRegs());
    const lo = (v: bigint) => v & M(64);
    const hi = (v: bigint) => v >> 64n;
    assert.equal(r.rcx, X & M(32), 'movd ecx, xmm0');
    assert.equal(r.rdx, lo(X), 'movq rdx, xmm0');
    const want: [number, bigint][] = [
      [2, RAX],
      [3, RAX & M(32)],
      [4, D & M(32)],
      [5, (X & ~M(32)) | (RAX & M(32))],
      [6, lo(D)],
      [7, hi(D) | (lo(D) << 64n)],
      [8, lo(D) | (RAX << 64n)],
      [9, lo(D)],
      [10, RAX],
      [11, big(DATA.subarray(3, 19))],
      [12, D],
      [13, D],
    ];
    for (const [n, v] of want) assert.equal(xmmOf(f, n), v, `xmm${n}`);
    const mem = (gpa: number, n: number) => big(hostBytes(host, HVA + gpa, n));
    assert.equal(mem(0x2100, 8), lo(X));
    assert.equal(mem(0x2108, 8), (RAX & M(32)) | (0x8f8e8d8cn << 32n), 'movss stores 4 bytes');
    assert.equal(mem(0x2110, 8), hi(D));
    assert.equal(mem(0x2118, 8), hi(X));
    assert.equal(mem(0x2120, 16), X);
    assert.equal(mem(0x2130, 8), RAX);
    assert.equal(mem(0x2140, 16), X);
    assert.equal(mem(0x2150, 8), (RAX & M(32)) | (0xd7d6d5d4n << 32n), 'movd stores 4 bytes');
    assert.equal(mem(0x2161, 16), D);
    assert.equal(mem(0x2180, 16), D);
  });

  it('integer and logic: PXOR & co., PCMPEQB/W/D, PMOVMSKB, unpacks, PSHUFD, PADD/PSUB, byte and quadword shifts', () => {
    const { vcpuFd } = sseGuest(
      engine,
      // pxor xmm1, xmm1; pcmpeqd xmm2, xmm2; movdqa xmm3, xmm0; pcmpeqb xmm3, [0x2000];
      // pmovmskb eax, xmm3; movdqa xmm4, xmm0; punpcklbw xmm4, xmm1; movdqa xmm5, xmm0;
      // punpcklqdq xmm5, xmm2; pshufd xmm6, xmm0, 0x1b; movdqa xmm7, xmm0; paddb xmm7, xmm2;
      // movdqa xmm8, xmm0; psubq xmm8, xmm2; movdqa xmm9, xmm0; pslldq xmm9, 3; movdqa xmm10, xmm0;
      // psrlq xmm10, 4; movdqa xmm11, xmm0; pandn xmm11, xmm2; xorps xmm12, xmm12; orps xmm12, xmm0;
      // andps xmm12, [0x2000]; movdqa xmm13, xmm0; punpckhwd xmm13, xmm2; movdqa xmm14, xmm0;
      // paddq xmm14, xmm14; movdqa xmm15, xmm0; psrldq xmm15, 5; pmovmskb rbx, xmm2; hlt
      '66 0f ef c9 66 0f 76 d2 66 0f 6f d8 66 0f 74 1c 25 00 20 00 00 66 0f d7 c3 66 0f 6f e0 66 0f 60 e1 66 0f 6f e8 66 0f 6c ea 66 0f 70 f0 1b 66 0f 6f f8 66 0f fc fa 66 44 0f 6f c0 66 44 0f fb c2 66 44 0f 6f c8 66 41 0f 73 f9 03 66 44 0f 6f d0 66 41 0f 73 d2 04 66 44 0f 6f d8 66 44 0f df da 45 0f 57 e4 44 0f 56 e0 44 0f 54 24 25 00 20 00 00 66 44 0f 6f e8 66 44 0f 69 ea 66 44 0f 6f f0 66 45 0f d4 f6 66 44 0f 6f f8 66 41 0f 73 df 05 66 0f d7 da f4',
    );
    expectExit(vcpuFd, 'Hlt');
    const f = ok(vcpuFd.getFpu());
    const r = ok(vcpuFd.getRegs());
    const cmpb = zip(X, D, 8, eq(8));
    assert.equal(r.rax, movmsk(cmpb));
    assert.equal(r.rbx, 0xffffn);
    const dw = lanes(X, 32);
    const want: [number, bigint][] = [
      [1, 0n],
      [2, ONES],
      [3, cmpb],
      [4, unpack(X, 0n, 8, false)],
      [5, unpack(X, ONES, 64, false)],
      [6, join([dw[3]!, dw[2]!, dw[1]!, dw[0]!], 32)],
      [7, zip(X, ONES, 8, (a, b) => a + b)],
      [8, zip(X, ONES, 64, (a, b) => a - b)],
      [9, (X << 24n) & ONES],
      [10, zip(X, 0n, 64, (a) => a >> 4n)],
      [11, ~X & ONES],
      [12, X & D],
      [13, unpack(X, ONES, 16, true)],
      [14, zip(X, X, 64, (a, b) => a + b)],
      [15, X >> 40n],
    ];
    for (const [n, v] of want) assert.equal(xmmOf(f, n), v, `xmm${n}`);
  });

  it('more lanes: PADDW, PSUBB/W/D, PCMPEQW, PUNPCKLDQ/LWD/HBW/HQDQ, PSLLQ, PAND, ANDNPS, POR, XORPD', () => {
    const { vcpuFd } = sseGuest(
      engine,
      // movdqa xmm1, xmm0; paddw xmm1, xmm0; movdqa xmm2, xmm0; psubb xmm2, [0x2000];
      // movdqa xmm3, xmm0; psubw xmm3, xmm0; movdqa xmm4, xmm0; psubd xmm4, xmm1;
      // movdqa xmm5, xmm0; pcmpeqw xmm5, [0x2000]; movdqa xmm6, xmm0; punpckldq xmm6, xmm1;
      // movdqa xmm7, xmm0; punpcklwd xmm7, xmm1; movdqa xmm8, xmm0; punpckhbw xmm8, xmm1;
      // movdqa xmm9, xmm0; punpckhqdq xmm9, xmm1; movdqa xmm10, xmm0; psllq xmm10, 12;
      // movdqa xmm11, xmm0; pand xmm11, [0x2000]; movdqa xmm12, xmm0; andnps xmm12, xmm1;
      // movdqa xmm13, xmm0; por xmm13, xmm1; movdqa xmm14, xmm0; xorpd xmm14, xmm1; hlt
      '66 0f 6f c8 66 0f fd c8 66 0f 6f d0 66 0f f8 14 25 00 20 00 00 66 0f 6f d8 66 0f f9 d8 66 0f 6f e0 66 0f fa e1 66 0f 6f e8 66 0f 75 2c 25 00 20 00 00 66 0f 6f f0 66 0f 62 f1 66 0f 6f f8 66 0f 61 f9 66 44 0f 6f c0 66 44 0f 68 c1 66 44 0f 6f c8 66 44 0f 6d c9 66 44 0f 6f d0 66 41 0f 73 f2 0c 66 44 0f 6f d8 66 44 0f db 1c 25 00 20 00 00 66 44 0f 6f e0 44 0f 55 e1 66 44 0f 6f e8 66 44 0f eb e9 66 44 0f 6f f0 66 44 0f 57 f1 f4',
    );
    expectExit(vcpuFd, 'Hlt');
    const f = ok(vcpuFd.getFpu());
    const x1 = zip(X, X, 16, (a, b) => a + b);
    const want: [number, bigint][] = [
      [1, x1],
      [2, zip(X, D, 8, (a, b) => a - b)],
      [3, 0n],
      [4, zip(X, x1, 32, (a, b) => a - b)],
      [5, zip(X, D, 16, eq(16))],
      [6, unpack(X, x1, 32, false)],
      [7, unpack(X, x1, 16, false)],
      [8, unpack(X, x1, 8, true)],
      [9, unpack(X, x1, 64, true)],
      [10, zip(X, 0n, 64, (a) => a << 12n)],
      [11, X & D],
      [12, ~X & x1 & ONES],
      [13, X | x1],
      [14, X ^ x1],
    ];
    for (const [n, v] of want) assert.equal(xmmOf(f, n), v, `xmm${n}`);
  });

  it('a misaligned 128-bit operand of an aligned form is #GP(0) and changes nothing; MOVUPS takes it', () => {
    for (const code of [
      '0f 28 0c 25 08 20 00 00 f4', // movaps xmm1, [0x2008]
      '66 0f 7f 0c 25 08 20 00 00 f4', // movdqa [0x2008], xmm1
      '66 0f ef 0c 25 08 20 00 00 f4', // pxor xmm1, [0x2008]
      '48 0f ae 04 25 08 22 00 00 f4', // fxsave64 [0x2208]
    ]) {
      const { vcpuFd, host } = sseGuest(engine, code);
      expectException(vcpuFd, 13, 0);
      assert.deepEqual([...hostBytes(host, HVA + 0x2000, 0x400)], [...DATA.subarray(0, 0x400)], code);
      assert.equal(xmmOf(ok(vcpuFd.getFpu()), 1), 0n, code);
    }
    const { vcpuFd } = sseGuest(engine, '0f 10 0c 25 08 20 00 00 f4'); // movups xmm1, [0x2008]
    expectExit(vcpuFd, 'Hlt');
    assert.equal(xmmOf(ok(vcpuFd.getFpu()), 1), big(DATA.subarray(8, 24)));
  });

  it('#UD without CR4.OSFXSR or with CR0.EM, #NM with CR0.TS; FXSAVE: #NM with EM or TS; LDMXCSR reserved bits: #GP(0)', () => {
    const pxor = '66 0f ef c9 f4'; // pxor xmm1, xmm1
    const fxsave = '48 0f ae 04 25 00 22 00 00 f4'; // fxsave64 [0x2200]
    expectException(sseGuest(engine, pxor, { cr4: 0x20n }).vcpuFd, 6);
    expectException(sseGuest(engine, pxor, { cr0: CR0_EM }).vcpuFd, 6);
    expectException(sseGuest(engine, pxor, { cr0: CR0_TS }).vcpuFd, 7);
    expectException(sseGuest(engine, pxor, { cr0: CR0_EM | CR0_TS }).vcpuFd, 6);
    expectException(sseGuest(engine, fxsave, { cr0: CR0_TS }).vcpuFd, 7);
    expectException(sseGuest(engine, fxsave, { cr0: CR0_EM }).vcpuFd, 7);
    // The data page's first dword is 0x03020100: bits above 15 are reserved.
    const ld = sseGuest(engine, '0f ae 14 25 00 20 00 00 f4'); // ldmxcsr [0x2000]
    expectException(ld.vcpuFd, 13, 0);
    assert.equal(ok(ld.vcpuFd.getFpu()).mxcsr, 0x1f80);
    // MOVNTI is an integer instruction: no CR4.OSFXSR needed.
    const nti = sseGuest(engine, '0f c3 04 25 00 20 00 00 f4', { cr4: 0x20n }); // movnti [0x2000], eax
    expectExit(nti.vcpuFd, 'Hlt');
    assert.deepEqual([...hostBytes(nti.host, HVA + 0x2000, 4)], [0x88, 0x77, 0x66, 0x55]);
  });

  it('FXSAVE64 stores FCW, FSW, FTW, MXCSR, MXCSR_MASK, the x87 bytes and XMM0-15; FXRSTOR64 loads them', () => {
    const { vcpuFd, host } = sseGuest(
      engine,
      // fxsave64 [0x2200]; pxor xmm0, xmm0; pxor xmm15, xmm15; mov byte [0x2200+160+15*16], 0x5a;
      // fxrstor64 [0x2200]; hlt
      '48 0f ae 04 25 00 22 00 00 66 0f ef c0 66 45 0f ef ff c6 04 25 90 23 00 00 5a 48 0f ae 0c 25 00 22 00 00 f4',
    );
    const f0 = ok(vcpuFd.getFpu());
    const fpr = Uint8Array.from({ length: 128 }, (_, i) => i + 1);
    ok(
      vcpuFd.setFpu({
        ...f0,
        fpr,
        fcw: 0x27f,
        fsw: 0x3800,
        ftwx: 0x81,
        lastOpcode: 0x123,
        lastIp: 0x1234_5678_9an,
      }),
    );
    expectExit(vcpuFd, 'Hlt');
    const area = hostBytes(host, HVA + 0x2200, 512);
    const v = new DataView(area.buffer, area.byteOffset, 512);
    assert.deepEqual(
      [v.getUint16(0, true), v.getUint16(2, true), v.getUint8(4), v.getUint16(6, true)],
      [0x27f, 0x3800, 0x81, 0x123],
    );
    assert.equal(v.getBigUint64(8, true), 0x1234_5678_9an);
    assert.deepEqual([v.getUint32(24, true), v.getUint32(28, true)], [0x1f80, mxcsrMaskOf('amd')]);
    assert.deepEqual([...area.subarray(32, 160)], [...fpr]);
    assert.deepEqual([...area.subarray(160, 176)], [...X0]);
    assert.deepEqual(
      [...area.subarray(416, 512)],
      [...DATA.subarray(0x200 + 416, 0x400)],
      'bytes 416-511 untouched',
    );
    const f = ok(vcpuFd.getFpu());
    assert.equal(xmmOf(f, 0), X, 'restored');
    assert.equal(xmmOf(f, 15), 0x5an);
    assert.deepEqual([f.fcw, f.fsw, f.ftwx, f.mxcsr], [0x27f, 0x3800, 0x81, 0x1f80]);
    assert.deepEqual([...f.fpr], [...fpr]);
  });

  it('the CPU uses the FPU state KVM attaches in place; an SEV-ES CPU (no fpu given) keeps its own', () => {
    const mem = { read: () => 0 as const, write: () => 0 as const };
    const fpu: KvmFpu = {
      fpr: new Uint8Array(128),
      fcw: 0x37f,
      fsw: 0,
      ftwx: 0,
      lastOpcode: 0,
      lastIp: 0n,
      lastDp: 0n,
      xmm: new Uint8Array(256),
      mxcsr: 0x1f80,
    };
    const cpu = new X86Cpu(false, engine.options);
    cpu.attach({ vmcb: new Vmcb(), regs: newGprs(), fpu, mem });
    assert.equal(cpu.fpu, fpu);
    cpu.xmmD[4] = 0x1234_5678;
    assert.deepEqual([...fpu.xmm.subarray(16, 20)], [0x78, 0x56, 0x34, 0x12], 'XMM1 is the attached bytes');
    const sev = new X86Cpu(true, engine.options);
    sev.attach({ vmcb: new Vmcb(), regs: null, fpu: null, mem });
    assert.notEqual(sev.fpu, fpu);
    assert.deepEqual([sev.fpu.fcw, sev.fpu.mxcsr], [0x37f, 0x1f80], 'the RESET values');
  });
});
