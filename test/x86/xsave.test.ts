/**
 * The XSAVE feature set in the x86 interpreter (src/cpu/x86/ops/xsave.ts): XGETBV, XSETBV, XSAVE and
 * XRSTOR (their REX.W forms too), in long mode through the model KVM of the x86 platform, whose
 * host XCR0 is the interpreter's (x87, SSE and AVX state: KVM_GET_SUPPORTED_CPUID's leaf 0xD offers
 * XCR0 bits 0-2 and an 832-byte area, with no AVX instruction in leaf 1). XCR0 is KVM's vcpu->arch.xcr0, loaded at each VMRUN
 * (KVM_SET_XCRS is what XGETBV reads; XSETBV #VMEXITs and KVM's kvm_emulate_xsetbv writes it); an
 * SEV-ES guest's comes from its VMSA at launch, and its XSETBV (not intercepted) is the CPU's alone.
 * Expected layouts and rules: Intel SDM vol. 1 13.4-13.8, vol. 2 XGETBV/XSETBV/XSAVE/XRSTOR.
 *
 * The machine code was assembled with GNU as (Intel syntax); each snippet's source is beside it.
 * Programs that take EDX:EAX (the instruction mask) from KVM_SET_REGS say so.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { INTERCEPT_XSETBV } from '../../src/cpu/backend.js';
import { X86Cpu } from '../../src/cpu/x86/cpu.js';
import { mxcsrMaskOf } from '../../src/cpu/x86/ops/sse.js';
import { X86_XCR0_SUPPORTED } from '../../src/cpu/x86/ops/xsave.js';
import { expectErrno, expectExit, HVA, hostBytes, ok, vmWithRam } from '../../src/kvm/test-util.js';
import type { KvmFpu } from '../../src/uapi/fpu.js';
import { identityPageTables, setLongModeEntry } from '../../src/vmm/long-mode-entry.js';
import { modelPlatform } from '../../src/vmm/platform.js';
import { describeEngines, type Engine } from './engines.js';
import { expectException, faultReporters } from './fault-reporters.js';
import { hexBytes, u64le } from './guest-bytes.js';
import { sevEsFirmwareVm } from './sev-es-firmware.js';

const CR4_OSFXSR = 0x200n;
const CR4_OSXSAVE = 0x4_0000n;
const CR0_EM = 4n;
const CR0_TS = 8n;

/** The data page at 0x2000 at entry: 0x80 + (offset & 0x7f), so every byte is non-zero. */
const DATA = Uint8Array.from({ length: 0x1000 }, (_, i) => 0x80 + (i & 0x7f));
/** The FPU state the guests start with (KVM_SET_FPU): nothing at its RESET value. */
const FPR = Uint8Array.from({ length: 128 }, (_, i) => i + 1);
const XMM = Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff);
const FPU: Omit<KvmFpu, 'fpr' | 'xmm'> = {
  fcw: 0x27f,
  fsw: 0x3800,
  ftwx: 0x81,
  lastOpcode: 0x123,
  lastIp: 0x12_3456_789an,
  lastDp: 0x42_0000_1000n,
  mxcsr: 0x9fc0,
};
/** What XSAVE stores for XSTATE_BV's bits of RFBM: this CPU has no init optimization. */
const XINUSE = 3n;

interface GuestOpts {
  cr0?: bigint;
  cr4?: bigint;
  /** The data page's contents (default DATA). */
  data?: Uint8Array;
  /** RAX and RDX at entry (the instruction mask of XSAVE/XRSTOR). */
  rax?: bigint;
  rdx?: bigint;
  /** Start at CPL 3 (user code and data segments, user pages, a TSS whose RSP0 is 0x9000). */
  user?: boolean;
  /** XCR0 through KVM_SET_XCRS (default 3, what an OS enables here), or `reset`: left at 1. */
  xcr0?: bigint | 'reset';
}

/**
 * A long-mode guest of the x86 platform's KVM running `code` at 0x1000, CR4.OSFXSR and OSXSAVE
 * set, XCR0 = 3 (x87 | SSE) unless asked otherwise, with the data page at 0x2000 and the FPU state above. Exception handlers report through port
 * 0x80: #UD (6) and #NM (7) their vector, #GP (13) its vector and then (port 0x81) its error code.
 */
function xsaveGuest(engine: Engine, code: string, opts: GuestOpts = {}) {
  const env = vmWithRam(16, {
    cpus: (_id, p) => new X86Cpu(p, engine.options),
    hostXcr0: BigInt(X86_XCR0_SUPPORTED),
  });
  const w = (gpa: number, b: Uint8Array | number[]) =>
    assert.equal(env.host.write(HVA + gpa, Uint8Array.from(b)), undefined);
  w(0x1000, hexBytes(code));
  w(0x2000, opts.data ?? DATA);
  // The user variant marks every level of the identity map user-accessible.
  for (const t of identityPageTables(0x3000))
    w(t.gpa, opts.user ? t.bytes.map((b, k) => (k % 8 ? b : b | 4)) : t.bytes);
  w(0x7000, [
    ...u64le(0n),
    ...u64le(0x00209a0000000000n), // 0x08: 64-bit code, DPL 0
    ...u64le(0x0000920000000000n), // 0x10: data
    ...u64le(0x0020fa0000000000n), // 0x18: 64-bit code, DPL 3
    ...u64le(0x0000f20000000000n), // 0x20: data, DPL 3
  ]);
  w(0xa004, u64le(0x9000n)); // the TSS's RSP0
  for (const [gpa, b] of faultReporters(0x6000)) w(gpa, b);
  const vcpuFd = ok(env.vmFd.createVcpu(0));
  ok(
    setLongModeEntry(vcpuFd, {
      rip: 0x1000,
      rsp: 0x9000,
      cr3: 0x3000,
      ds: 0,
      gdt: { base: 0x7000, limit: 39 },
      idt: { base: 0x6000, limit: 0xfff },
      tr: { base: 0xa000, selector: 0 },
    }),
  );
  const s = ok(vcpuFd.getSregs());
  const user = opts.user
    ? {
        cs: { ...s.cs, selector: 0x1b, dpl: 3 },
        ss: { ...s.ss, selector: 0x23, dpl: 3 },
        ds: { ...s.ds, selector: 0x23, dpl: 3 },
      }
    : {};
  ok(
    vcpuFd.setSregs({
      ...s,
      ...user,
      cr0: s.cr0 | (opts.cr0 ?? 0n),
      cr4: opts.cr4 ?? s.cr4 | CR4_OSFXSR | CR4_OSXSAVE,
    }),
  );
  const f = ok(vcpuFd.getFpu());
  ok(vcpuFd.setFpu({ ...f, ...FPU, fpr: FPR.slice(), xmm: XMM.slice() }));
  ok(vcpuFd.setRegs({ ...ok(vcpuFd.getRegs()), rax: opts.rax ?? 0n, rdx: opts.rdx ?? 0n }));
  const mem = (gpa: number, n: number): Uint8Array => hostBytes(env.host, HVA + gpa, n);
  const u64 = (gpa: number): bigint => new DataView(mem(gpa, 8).slice().buffer).getBigUint64(0, true);
  const setXcr0 = (value: bigint) => vcpuFd.setXcrs({ nrXcrs: 1, flags: 0, xcrs: [{ xcr: 0, value }] });
  const xcr0 = (): bigint => ok(vcpuFd.getXcrs()).xcrs[0]!.value;
  if (opts.xcr0 !== 'reset') ok(setXcr0(opts.xcr0 ?? 3n));
  return { ...env, vcpuFd, mem, u64, setXcr0, xcr0, write: w };
}

/** The DATA qword at `off` of the page (what an untouched XSTATE_BV reads). */
const dataU64 = (off: number): bigint => new DataView(DATA.buffer).getBigUint64(off, true);

/** The legacy region's x87 bytes 0-23 as XSAVE stores them (`wide`: the REX.W form's 64-bit FIP/FDP). */
function x87Head(wide: boolean): number[] {
  const ip = wide ? FPU.lastIp : FPU.lastIp & 0xffff_ffffn;
  const dp = wide ? FPU.lastDp : FPU.lastDp & 0xffff_ffffn;
  return [0x7f, 0x02, 0x00, 0x38, 0x81, 0, 0x23, 0x01, ...u64le(ip), ...u64le(dp)];
}

/** An XSAVE area image (576 bytes): the legacy region, XSTATE_BV, XCOMP_BV and the other header bytes. */
function area(o: {
  fcw?: number;
  mxcsr?: number;
  xmmByte?: number;
  bv?: bigint;
  xcomp?: bigint;
  hdr16?: bigint;
  hdr24?: bigint;
}) {
  const a = new Uint8Array(576);
  const v = new DataView(a.buffer);
  v.setUint16(0, o.fcw ?? 0x7f, true);
  v.setUint16(2, 0x4100, true); // FSW
  v.setUint8(4, 0xf0); // FTW
  v.setUint16(6, 0x55, true); // FOP
  v.setBigUint64(8, 0x9999_0000n, true); // FIP
  v.setBigUint64(16, 0x7777_0000n, true); // FDP
  v.setUint32(24, o.mxcsr ?? 0x1f00, true);
  a.fill(0xee, 32, 160);
  a.fill(o.xmmByte ?? 0x11, 160, 416);
  v.setBigUint64(512, o.bv ?? 3n, true);
  v.setBigUint64(520, o.xcomp ?? 0n, true);
  v.setBigUint64(528, o.hdr16 ?? 0n, true);
  v.setBigUint64(536, o.hdr24 ?? 0n, true);
  return a;
}

describeEngines('x86 interpreter: XGETBV and XSETBV', (engine) => {
  it('KVM offers XCR0 bits 0-2: CPUID 0xD.0 = 7 (832 bytes), 0xD.2 = 256 bytes at 576, no AVX instructions; KVM_SET_XCRS takes 7, refuses more', () => {
    const { kvm } = modelPlatform({ cpu: 'x86' });
    const table = ok(kvm.getSupportedCpuid(64));
    const d = table.filter((e) => e.function === 0xd);
    assert.deepEqual(
      d.map((e) => [e.index, e.eax, e.ebx, e.ecx, e.edx]),
      [
        [0, 7, 576, 832, 0],
        [2, 256, 576, 0, 0],
      ],
      'EBX: the area for XCR0 = 1 (it follows the guest XCR0 at run time); no sub-leaf 1 (no XSAVEOPT, XSAVEC, XGETBV1, XSAVES)',
    );
    const leaf1 = table.find((e) => e.function === 1)!;
    assert.equal((leaf1.ecx >>> 28) & 1, 0, 'CPUID.1:ECX.AVX clear: the interpreter has no VEX instruction');
    const { setXcr0, xcr0 } = xsaveGuest(engine, 'f4', { xcr0: 'reset' });
    expectErrno(setXcr0(0xfn), 'EINVAL', 'MPX (bit 3): not this host');
    expectErrno(setXcr0(5n), 'EINVAL', 'AVX without SSE');
    assert.equal(xcr0(), 1n);
    ok(setXcr0(7n));
    assert.equal(xcr0(), 7n);
  });

  it('XGETBV reads XCR0: 1 at RESET, then what KVM_SET_XCRS set (loaded at VMRUN); EDX and the high halves 0', () => {
    // xor ecx, ecx; xgetbv; hlt
    const g = xsaveGuest(engine, '31 c9 0f 01 d0 f4', {
      rax: 0x1122_3344_5566_7788n,
      rdx: 0xffff_ffff_ffff_ffffn,
      xcr0: 'reset',
    });
    expectExit(g.vcpuFd, 'Hlt');
    let r = ok(g.vcpuFd.getRegs());
    assert.deepEqual([r.rax, r.rdx], [1n, 0n]);
    ok(g.setXcr0(3n));
    ok(g.vcpuFd.setRegs({ ...r, rip: 0x1000n }));
    expectExit(g.vcpuFd, 'Hlt');
    r = ok(g.vcpuFd.getRegs());
    assert.deepEqual([r.rax, r.rdx], [3n, 0n]);
  });

  it("XSETBV #VMEXITs: KVM's kvm_emulate_xsetbv writes vcpu->arch.xcr0 (KVM_GET_XCRS), and the next XGETBV reads it", () => {
    // mov eax, 3; xor edx, edx; xor ecx, ecx; xsetbv; xgetbv; hlt
    const g = xsaveGuest(engine, 'b8 03 00 00 00 31 d2 31 c9 0f 01 d1 0f 01 d0 f4', { xcr0: 'reset' });
    expectExit(g.vcpuFd, 'Hlt');
    assert.equal(g.xcr0(), 3n, 'KVM handled the exit');
    assert.equal(ok(g.vcpuFd.getRegs()).rax, 3n, 'and the CPU runs with it');
    assert.equal(g.vcpuFd.vcpu.vmexits, 2, 'the XSETBV exit and the HLT');
  });

  it('XSETBV of what KVM refuses (AVX without SSE, XCR1) is the #GP(0) KVM injects', () => {
    // mov eax, 5; xor edx, edx; xor ecx, ecx; xsetbv; hlt
    const avx = xsaveGuest(engine, 'b8 05 00 00 00 31 d2 31 c9 0f 01 d1 f4');
    expectException(avx.vcpuFd, 13, 0);
    assert.equal(avx.xcr0(), 3n);
    // mov eax, 1; xor edx, edx; xsetbv; hlt, with RCX = 1 (XCR1)
    const xcr1 = xsaveGuest(engine, 'b8 01 00 00 00 31 d2 0f 01 d1 f4');
    ok(xcr1.vcpuFd.setRegs({ ...ok(xcr1.vcpuFd.getRegs()), rcx: 1n }));
    expectException(xcr1.vcpuFd, 13, 0);
    assert.equal(xcr1.xcr0(), 3n);
  });

  it('without its intercept (sev_es_init_vmcb clears it) XSETBV is the CPU’s: XCR0 := EDX:EAX until the next VMRUN loads KVM’s; #GP(0) for XCR1, bits the CPU lacks, x87 off', () => {
    const xsetbv = '0f 01 d1 0f 01 d0 f4'; // xsetbv; xgetbv; hlt (RCX, EDX:EAX from the test)
    const g = xsaveGuest(engine, xsetbv, { xcr0: 'reset', rax: 3n });
    g.vcpuFd.vcpu.vmcb.setIntercept(INTERCEPT_XSETBV, false);
    expectExit(g.vcpuFd, 'Hlt');
    const r = ok(g.vcpuFd.getRegs());
    assert.equal(r.rax, 3n);
    assert.equal(g.xcr0(), 1n, 'KVM saw nothing');
    assert.equal(g.vcpuFd.vcpu.vmexits, 1, 'the HLT only');
    ok(g.vcpuFd.setRegs({ ...r, rip: 0x1003n })); // xgetbv; hlt
    expectExit(g.vcpuFd, 'Hlt');
    assert.equal(ok(g.vcpuFd.getRegs()).rax, 1n, 'VMRUN loaded KVM’s XCR0');
    for (const [what, rax, rdx, rcx] of [
      ['AVX without SSE', 5n, 0n, 0n],
      ['MPX (bit 3)', 0xfn, 0n, 0n],
      ['x87 off', 2n, 0n, 0n],
      ['bit 32', 3n, 1n, 0n],
      ['XCR1', 3n, 0n, 1n],
    ] as const) {
      const bad = xsaveGuest(engine, xsetbv, { xcr0: 'reset', rax, rdx });
      bad.vcpuFd.vcpu.vmcb.setIntercept(INTERCEPT_XSETBV, false);
      ok(bad.vcpuFd.setRegs({ ...ok(bad.vcpuFd.getRegs()), rcx }));
      expectException(bad.vcpuFd, 13, 0);
      assert.equal(bad.vcpuFd.vcpu.vmexits, 3, what);
    }
  });

  it('XGETBV with ECX = 1 (no XGETBV1 on this CPU) or any other XCR is #GP(0)', () => {
    expectException(xsaveGuest(engine, 'b9 01 00 00 00 0f 01 d0 f4').vcpuFd, 13, 0); // mov ecx, 1; xgetbv; hlt
    expectException(xsaveGuest(engine, 'b9 ff ff ff ff 0f 01 d0 f4').vcpuFd, 13, 0); // mov ecx, -1; xgetbv; hlt
  });

  it('at CPL 3 XGETBV runs and XSETBV is #GP(0) before its intercept (KVM sees no XSETBV)', () => {
    // xor ecx, ecx; xgetbv; mov ebx, eax; xsetbv; hlt
    const g = xsaveGuest(engine, '31 c9 0f 01 d0 89 c3 0f 01 d1 f4', { user: true });
    expectException(g.vcpuFd, 13, 0);
    assert.equal(ok(g.vcpuFd.getRegs()).rbx, 3n, 'XGETBV at CPL 3');
    assert.equal(g.vcpuFd.vcpu.vmexits, 3, 'the two OUTs of the handler and its HLT: no XSETBV exit');
  });

  it('all four are #UD without CR4.OSXSAVE', () => {
    for (const code of [
      '31 c9 0f 01 d0 f4', // xor ecx, ecx; xgetbv; hlt
      '31 c9 b8 01 00 00 00 31 d2 0f 01 d1 f4', // xor ecx, ecx; mov eax, 1; xor edx, edx; xsetbv; hlt
      '0f ae 24 25 00 20 00 00 f4', // xsave [0x2000]; hlt
      '0f ae 2c 25 00 20 00 00 f4', // xrstor [0x2000]; hlt
    ]) {
      const g = xsaveGuest(engine, code, { cr4: 0x20n | CR4_OSFXSR, rax: 3n });
      expectException(g.vcpuFd, 6);
      assert.equal(g.xcr0(), 3n, code);
    }
  });
});

describeEngines('x86 interpreter: XSAVE and XRSTOR', (engine) => {
  /** YMM_Hi128 as the tests set it through KVM_SET_XSAVE (XSTATE_BV = 7): no byte at its init value. */
  const YMM_HI = Uint8Array.from({ length: 256 }, (_, i) => (i * 13 + 1) | 0x40);
  /** KVM_SET_XSAVE of the vCPU's own image with YMM_HI at 576 and XSTATE_BV = 7. */
  const setYmm = (g: ReturnType<typeof xsaveGuest>) => {
    const region = ok(g.vcpuFd.getXsave()).region.slice();
    region.set(YMM_HI, 576);
    new DataView(region.buffer).setBigUint64(512, 7n, true);
    ok(g.vcpuFd.setXsave({ region }));
  };

  it('XSAVE with XCR0 = 7 stores YMM_Hi128 at 576 (YMM0-15 in 64-bit mode) and XSTATE_BV[2] = XINUSE[2] = 1; RFBM without bit 2 leaves those bytes alone', () => {
    // mov eax, -1; mov edx, -1; xsave [0x2000]; mov eax, 3; xor edx, edx; xsave [0x2400]; hlt
    const g = xsaveGuest(
      engine,
      'b8 ff ff ff ff ba ff ff ff ff 0f ae 24 25 00 20 00 00 b8 03 00 00 00 31 d2 0f ae 24 25 00 24 00 00 f4',
      { xcr0: 7n },
    );
    setYmm(g);
    expectExit(g.vcpuFd, 'Hlt');
    assert.deepEqual([...g.mem(0x2240, 256)], [...YMM_HI], 'YMM_Hi128 at 576');
    assert.equal(g.u64(0x2200), (dataU64(0x200) & ~7n) | 7n, 'XSTATE_BV');
    assert.deepEqual(
      [...g.mem(0x2208, 56)],
      [...DATA.subarray(0x208, 0x240)],
      'XCOMP_BV and the rest of the header untouched',
    );
    assert.deepEqual([...g.mem(0x2340, 0xc0)], [...DATA.subarray(0x340, 0x400)], 'nothing past 832');
    assert.deepEqual(
      [...g.mem(0x2418, 8)],
      [...u64le(BigInt(FPU.mxcsr) | (BigInt(mxcsrMaskOf('amd')) << 32n))],
      'MXCSR',
    );
    assert.equal(g.u64(0x2600), (dataU64(0x200) & ~3n) | 3n, 'RFBM = 3: XSTATE_BV[2] kept');
    assert.deepEqual([...g.mem(0x2640, 256)], [...DATA.subarray(0x240, 0x340)], 'RFBM = 3: no YMM_Hi128');
  });

  it('XRSTOR with RFBM[2]: XSTATE_BV[2] set loads YMM_Hi128 from 576, clear puts it in its initial configuration (zeros)', () => {
    const xrstor = '48 0f ae 2c 25 00 20 00 00 f4'; // xrstor64 [0x2000]; hlt (EDX:EAX = 7)
    const ymmOf = (g: ReturnType<typeof xsaveGuest>) => [
      ...ok(g.vcpuFd.getXsave()).region.subarray(576, 832),
    ];
    const image = area({ bv: 7n });
    const data = new Uint8Array(0x1000);
    data.set(image);
    data.set(
      YMM_HI.map((b) => b ^ 0xff),
      576,
    );
    const load = xsaveGuest(engine, xrstor, { rax: 7n, data, xcr0: 7n });
    expectExit(load.vcpuFd, 'Hlt');
    assert.deepEqual(ymmOf(load), [...YMM_HI.map((b) => b ^ 0xff)]);
    data.set(area({ bv: 3n }));
    const init = xsaveGuest(engine, xrstor, { rax: 7n, data, xcr0: 7n });
    setYmm(init);
    expectExit(init.vcpuFd, 'Hlt');
    assert.deepEqual(ymmOf(init), new Array(256).fill(0));
    const kept = xsaveGuest(engine, xrstor, { rax: 3n, data, xcr0: 7n });
    setYmm(kept);
    expectExit(kept.vcpuFd, 'Hlt');
    assert.deepEqual(ymmOf(kept), [...YMM_HI], 'RFBM = 3: YMM_Hi128 untouched');
  });

  it('XSAVE: #NM with CR0.TS (CR0.EM does not matter); a misaligned area is #GP(0) and nothing is written', () => {
    const xsave = '0f ae 24 25 00 20 00 00 f4'; // xsave [0x2000]; hlt (EDX:EAX = 3)
    const xrstor = '0f ae 2c 25 00 20 00 00 f4'; // xrstor [0x2000]; hlt
    expectException(xsaveGuest(engine, xsave, { cr0: CR0_TS, rax: 3n }).vcpuFd, 7);
    expectException(xsaveGuest(engine, xrstor, { cr0: CR0_TS, rax: 3n }).vcpuFd, 7);
    const em = xsaveGuest(engine, xsave, { cr0: CR0_EM, rax: 3n });
    expectExit(em.vcpuFd, 'Hlt');
    assert.equal(em.u64(0x2000 + 512), (dataU64(512) & ~3n) | XINUSE);
    for (const code of [
      '0f ae 24 25 20 20 00 00 f4', // xsave [0x2020]; hlt
      '0f ae 2c 25 20 20 00 00 f4', // xrstor [0x2020]; hlt
      '48 0f ae 24 25 40 21 00 00 f4', // xsave64 [0x2140]; hlt (64-byte aligned: runs)
    ]) {
      const g = xsaveGuest(engine, code, { rax: 3n });
      if (code.startsWith('48')) {
        expectExit(g.vcpuFd, 'Hlt');
        continue;
      }
      expectException(g.vcpuFd, 13, 0);
      assert.deepEqual([...g.mem(0x2000, 0x1000)], [...DATA], code);
      const f = ok(g.vcpuFd.getFpu());
      assert.deepEqual([f.fcw, f.mxcsr, f.xmm[0]], [FPU.fcw, FPU.mxcsr, XMM[0]], code);
    }
  });

  it('XSAVE stores the components of RFBM = XCR0 & EDX:EAX as FXSAVE lays them out, and only XSTATE_BV of the header', () => {
    // mov eax, 3; xor edx, edx; xsave64 [0x2000]; mov eax, 1; xsave [0x2400]; mov eax, 2; xsave [0x2800];
    // mov eax, -1; mov edx, -1; xsave [0x2c00]; hlt
    const g = xsaveGuest(
      engine,
      'b8 03 00 00 00 31 d2 48 0f ae 24 25 00 20 00 00 b8 01 00 00 00 0f ae 24 25 00 24 00 00 b8 02 00 00 00 0f ae 24 25 00 28 00 00 b8 ff ff ff ff ba ff ff ff ff 0f ae 24 25 00 2c 00 00 f4',
    );
    expectExit(g.vcpuFd, 'Hlt');
    const mxcsr = [...u64le(BigInt(FPU.mxcsr) | (BigInt(mxcsrMaskOf('amd')) << 32n))];
    const kept = (off: number, from: number, to: number) =>
      assert.deepEqual(
        [...g.mem(0x2000 + off + from, to - from)],
        [...DATA.subarray(off + from, off + to)],
        `${off}+${from}`,
      );
    const check = (off: number, wide: boolean, rfbm: bigint) => {
      const at = (from: number, n: number) => [...g.mem(0x2000 + off + from, n)];
      if (rfbm & 1n) {
        assert.deepEqual(at(0, 24), x87Head(wide), `x87 at ${off}`);
        assert.deepEqual(at(32, 128), [...FPR]);
      } else {
        kept(off, 0, 24);
        kept(off, 32, 160);
      }
      if (rfbm & 2n) {
        assert.deepEqual(at(24, 8), mxcsr, 'MXCSR, MXCSR_MASK');
        assert.deepEqual(at(160, 256), [...XMM], 'XMM0-15');
      } else {
        kept(off, 24, 32);
        kept(off, 160, 416);
      }
      kept(off, 416, 512);
      assert.equal(
        g.u64(0x2000 + off + 512),
        (dataU64(off + 512) & ~rfbm) | (XINUSE & rfbm),
        `XSTATE_BV at ${off}`,
      );
      kept(off, 520, 576);
    };
    check(0, true, 3n);
    check(0x400, false, 1n);
    check(0x800, false, 2n);
    check(0xc00, false, 3n); // EDX:EAX all ones: RFBM is XCR0
  });

  it('XSAVE with XCR0 = x87 only (KVM_SET_XCRS 1) stores x87 state alone, whatever EDX:EAX asks', () => {
    const g = xsaveGuest(engine, '0f ae 24 25 00 20 00 00 f4', { rax: 3n }); // xsave [0x2000]; hlt
    ok(g.setXcr0(1n));
    expectExit(g.vcpuFd, 'Hlt');
    assert.deepEqual([...g.mem(0x2000, 24)], x87Head(false));
    assert.deepEqual([...g.mem(0x2018, 8)], [...DATA.subarray(0x18, 0x20)], 'no MXCSR');
    assert.deepEqual([...g.mem(0x20a0, 256)], [...DATA.subarray(0xa0, 0x1a0)], 'no XMM');
    assert.equal(g.u64(0x2200), (dataU64(0x200) & ~1n) | 1n);
  });

  it('XRSTOR of an all-zero header puts x87 and SSE in their initial configuration (MXCSR from the area); XRSTOR64 of the XSAVE64 image brings everything back', () => {
    // mov eax, 3; xor edx, edx; xsave64 [0x2000]; xrstor64 [0x2400]; hlt; xrstor64 [0x2000]; hlt
    const g = xsaveGuest(
      engine,
      'b8 03 00 00 00 31 d2 48 0f ae 24 25 00 20 00 00 48 0f ae 2c 25 00 24 00 00 f4 48 0f ae 2c 25 00 20 00 00 f4',
      {
        data: new Uint8Array(0x1000),
      },
    );
    expectExit(g.vcpuFd, 'Hlt');
    assert.equal(g.u64(0x2200), 3n, 'XSTATE_BV');
    assert.equal(g.u64(0x2208), 0n, 'XCOMP_BV not written');
    let f = ok(g.vcpuFd.getFpu());
    assert.deepEqual(
      [f.fcw, f.fsw, f.ftwx, f.lastOpcode, f.lastIp, f.lastDp, f.mxcsr],
      [0x37f, 0, 0, 0, 0n, 0n, 0],
      'x87 initialised; MXCSR loaded (0) though XSTATE_BV[1] = 0',
    );
    assert.deepEqual([...f.fpr], new Array(128).fill(0));
    assert.deepEqual([...f.xmm], new Array(256).fill(0), 'XMM0-15 zeroed');
    expectExit(g.vcpuFd, 'Hlt');
    f = ok(g.vcpuFd.getFpu());
    assert.deepEqual(
      [f.fcw, f.fsw, f.ftwx, f.lastOpcode, f.lastIp, f.lastDp, f.mxcsr],
      [FPU.fcw, FPU.fsw, FPU.ftwx, FPU.lastOpcode, FPU.lastIp, FPU.lastDp, FPU.mxcsr],
    );
    assert.deepEqual([...f.fpr], [...FPR]);
    assert.deepEqual([...f.xmm], [...XMM]);
  });

  it('XRSTOR loads only RFBM’s components: XSTATE_BV[i] clear initialises i; MXCSR follows RFBM[1], not XSTATE_BV', () => {
    const xrstor = '48 0f ae 2c 25 00 20 00 00 f4'; // xrstor64 [0x2000]; hlt (EDX:EAX from the test)
    const run = (rax: bigint, image: Uint8Array) => {
      const data = new Uint8Array(0x1000);
      data.set(image);
      const g = xsaveGuest(engine, xrstor, { rax, data });
      expectExit(g.vcpuFd, 'Hlt');
      return ok(g.vcpuFd.getFpu());
    };
    // RFBM = 1: x87 from the area; MXCSR and the XMM registers untouched.
    let f = run(1n, area({ fcw: 0x7f, mxcsr: 0x1f00, bv: 3n }));
    assert.deepEqual(
      [f.fcw, f.fsw, f.ftwx, f.lastOpcode, f.lastIp, f.lastDp],
      [0x7f, 0x4100, 0xf0, 0x55, 0x9999_0000n, 0x7777_0000n],
    );
    assert.deepEqual([...f.fpr], new Array(128).fill(0xee));
    assert.deepEqual([f.mxcsr, [...f.xmm]], [FPU.mxcsr, [...XMM]]);
    // RFBM = 2, XSTATE_BV = 1: the XMM registers initialised, MXCSR loaded all the same; x87 untouched.
    f = run(2n, area({ mxcsr: 0x1f00, bv: 1n }));
    assert.deepEqual([f.mxcsr, [...f.xmm]], [0x1f00, new Array(256).fill(0)]);
    assert.deepEqual([f.fcw, [...f.fpr]], [FPU.fcw, [...FPR]]);
    // RFBM = 2, XSTATE_BV = 2: the XMM registers loaded.
    f = run(2n, area({ mxcsr: 0x1f00, bv: 2n, xmmByte: 0x42 }));
    assert.deepEqual([f.mxcsr, [...f.xmm]], [0x1f00, new Array(256).fill(0x42)]);
    // RFBM = 0 (EAX = 4: AVX, which XCR0 lacks): nothing at all, MXCSR included.
    f = run(4n, area({ mxcsr: 0x1f00, bv: 0n }));
    assert.deepEqual([f.fcw, f.mxcsr, [...f.xmm]], [FPU.fcw, FPU.mxcsr, [...XMM]]);
    // Bytes 24-63 of the header are not the standard form's business.
    f = run(3n, area({ bv: 3n, hdr24: 0xdead_beefn }));
    assert.equal(f.fcw, 0x7f);
  });

  it('XRSTOR is #GP(0) and loads nothing for XSTATE_BV bits XCR0 lacks, XCOMP_BV (the compacted form: no XSAVEC), header bytes 16-23, or MXCSR reserved bits it would load', () => {
    const xrstor = '48 0f ae 2c 25 00 20 00 00 f4'; // xrstor64 [0x2000]; hlt
    const cases: [string, bigint, Uint8Array, bigint?][] = [
      ['XSTATE_BV bit 2 (AVX)', 3n, area({ bv: 7n })],
      ['XSTATE_BV bit 32', 3n, area({ bv: 3n | (1n << 32n) })],
      ['XSTATE_BV bit 1 with XCR0 = 1, RFBM = 1', 1n, area({ bv: 3n }), 1n],
      ['XCOMP_BV bit 63', 3n, area({ bv: 3n, xcomp: 1n << 63n })],
      ['XCOMP_BV bit 0', 3n, area({ bv: 3n, xcomp: 1n })],
      ['header bytes 16-23', 3n, area({ bv: 3n, hdr16: 1n << 40n })],
      ['MXCSR bit 16', 3n, area({ bv: 3n, mxcsr: 0x1_1f80 })],
      ['MXCSR bit 16, RFBM = 2, XSTATE_BV = 0', 2n, area({ bv: 0n, mxcsr: 0x1_1f80 })],
    ];
    for (const [what, rax, image, xcr0] of cases) {
      const data = new Uint8Array(0x1000);
      data.set(image);
      const g = xsaveGuest(engine, xrstor, { rax, data });
      if (xcr0) ok(g.setXcr0(xcr0));
      expectException(g.vcpuFd, 13, 0);
      const f = ok(g.vcpuFd.getFpu());
      assert.deepEqual(
        [f.fcw, f.mxcsr, [...f.fpr], [...f.xmm]],
        [FPU.fcw, FPU.mxcsr, [...FPR], [...XMM]],
        what,
      );
    }
    // The MXCSR of a restore that does not load it (RFBM = 1) is not checked.
    const data = new Uint8Array(0x1000);
    data.set(area({ bv: 3n, mxcsr: 0x1_1f80 }));
    const g = xsaveGuest(engine, xrstor, { rax: 1n, data });
    expectExit(g.vcpuFd, 'Hlt');
    assert.equal(ok(g.vcpuFd.getFpu()).fcw, 0x7f);
  });
});

describeEngines('x86 interpreter: the XSAVE feature set of an SEV-ES guest', (engine) => {
  const ROM = readFileSync(new URL('./fixtures/sev-es-xsave.bin', import.meta.url));
  /** The firmware's results: XGETBV before and after its XSETBV, a #VC's error code (0: none). */
  function results(f: ReturnType<typeof sevEsFirmwareVm>): number[] {
    const dv = new DataView(f.readPrivate(0x2000, 16).buffer);
    return [0, 4, 8].map((o) => dv.getUint32(o, true));
  }

  it("XGETBV reads the VMSA's xcr0 (KVM's vcpu->arch.xcr0 at launch); XSETBV is the CPU's, without #VC or exit; XSAVE uses it", () => {
    const f = sevEsFirmwareVm(ROM, engine.options);
    const exit = f.vcpu.run();
    assert.equal(
      exit.kind,
      'Hlt',
      JSON.stringify(exit, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v)),
    );
    assert.deepEqual(results(f), [1, 3, 0]);
    const hdr = f.readPrivate(0x2240, 16);
    assert.deepEqual(
      [...hdr],
      [3, ...new Array(15).fill(0)],
      'XSTATE_BV = 3, the rest of the header untouched',
    );
    const mx = f.readPrivate(0x2050, 16).subarray(8);
    assert.deepEqual(
      [...mx],
      [0x80, 0x1f, 0, 0, 0xff, 0xff, 0x02, 0],
      "the VMSA's MXCSR (KVM's RESET value, synced at launch), MXCSR_MASK (AMD: MM, bit 17)",
    );
  });

  it('VMRUN loads the x87 and SSE state KVM synced into the VMSA at launch (KVM_SET_XSAVE before it); the guest XSAVE stores it, FIP/FDP/FOP included', () => {
    const f = sevEsFirmwareVm(ROM, engine.options, { launch: false });
    const region = ok(f.vcpu.getXsave()).region.slice();
    const v = new DataView(region.buffer);
    v.setUint16(0, 0x27f, true); // FCW
    v.setUint16(2, 0x3800, true); // FSW
    v.setUint8(4, 0x80); // FTW
    v.setUint16(6, 0x5dd, true); // FOP
    v.setBigUint64(8, 0x052c_818en, true); // FIP (what a 32-bit-format XSAVE stores)
    v.setBigUint64(16, 0x8587_a990n, true); // FDP
    v.setUint32(24, 0x1f00, true); // MXCSR
    region.set(FPR, 32);
    region.set(XMM, 160);
    v.setBigUint64(512, 3n, true);
    ok(f.vcpu.setXsave({ region }));
    f.launch();
    assert.equal(f.vcpu.run().kind, 'Hlt');
    const image = f.readPrivate(0x2040, 512);
    assert.deepEqual([...image.subarray(0, 24)], [...region.subarray(0, 24)], 'FCW..FDP');
    assert.deepEqual(
      [...image.subarray(24, 32)],
      [0x00, 0x1f, 0, 0, 0xff, 0xff, 0x02, 0],
      'MXCSR, MXCSR_MASK (AMD: MM, bit 17)',
    );
    assert.deepEqual(
      [...image.subarray(32, 160)],
      [...FPR.map((b, i) => (i % 16 < 10 ? b : 0))],
      'ST0-7: the 80 bits fpreg_x87 holds (bytes 10-15 of each slot are reserved)',
    );
    assert.deepEqual([...image.subarray(160, 288)], [...XMM.subarray(0, 128)], 'XMM0-7 (32-bit mode)');
  });

  it('a legacy SEV-ES VM (KVM_SEV_ES_INIT, whose XCRS ioctls work): KVM_SET_XCRS before launch is the VMSA’s xcr0; KVM never learns of the XSETBV', () => {
    const plain = sevEsFirmwareVm(ROM, engine.options, { legacy: true });
    assert.equal(plain.vcpu.run().kind, 'Hlt');
    assert.deepEqual(results(plain), [1, 3, 0]);
    assert.deepEqual(ok(plain.vcpu.getXcrs()).xcrs[0], { xcr: 0, value: 1n }, 'KVM’s xcr0 is still 1');
    const set = sevEsFirmwareVm(ROM, engine.options, { legacy: true, launch: false });
    ok(set.vcpu.setXcrs({ nrXcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: 3n }] }));
    set.launch();
    assert.equal(set.vcpu.run().kind, 'Hlt');
    assert.deepEqual(results(set), [3, 3, 0]);
  });
});
