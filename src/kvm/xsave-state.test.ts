/**
 * KVM_GET/SET_XSAVE, KVM_GET_XSAVE2 and KVM_GET/SET_DEBUGREGS on the model (src/kvm/xsave-state.ts),
 * with the x86 interpreter as the CPU (host XCR0 = x87|SSE|AVX): the image is the FPU state KVM_GET_FPU
 * shows, at the XSAVE standard-format offsets, and the checks are fpu_copy_uabi_to_guest_fpstate's
 * and kvm_vcpu_ioctl_x86_set_debugregs's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SAVE_DR7 } from '../cpu/backend.js';
import { X86Cpu } from '../cpu/x86/cpu.js';
import { X86_XCR0_SUPPORTED } from '../cpu/x86/ops/xsave.js';
import { KVM_CAP_DEBUGREGS, KVM_CAP_XSAVE, KVM_CAP_XSAVE2, KVM_X86_SEV_ES_VM } from '../uapi/caps.js';
import type { KvmFpu } from '../uapi/fpu.js';
import type { KvmXsave } from '../uapi/xsave.js';
import { openKvm } from './fd.js';
import { expectErrno, expectExit, HVA, ok, vmWithRam } from './test-util.js';

const FPU: KvmFpu = {
  fpr: Uint8Array.from({ length: 128 }, (_, i) => i + 1),
  fcw: 0x27f,
  fsw: 0x3800,
  ftwx: 0x81,
  lastOpcode: 0x123,
  lastIp: 0x12_3456_789an,
  lastDp: 0x42_0000_1000n,
  xmm: Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff),
  mxcsr: 0x9fc0,
};

/** vCPU 0 on the x86 interpreter, `code` at 0x1000 in real mode (CS base 0). */
function x86Vcpu(code: Uint8Array = Uint8Array.of(0xf4)) {
  const env = vmWithRam(16, { cpus: (_id, p) => new X86Cpu(p), hostXcr0: BigInt(X86_XCR0_SUPPORTED) });
  env.host.write(HVA + 0x1000, code);
  const vcpuFd = ok(env.vmFd.createVcpu(0));
  const s = ok(vcpuFd.getSregs());
  ok(vcpuFd.setSregs({ ...s, cs: { ...s.cs, base: 0n, selector: 0 } }));
  ok(vcpuFd.setRegs({ ...ok(vcpuFd.getRegs()), rip: 0x1000n }));
  return { ...env, vcpuFd };
}

const dv = (x: KvmXsave) => new DataView(x.region.buffer, x.region.byteOffset, 4096);

describe('KVM_GET_XSAVE / KVM_SET_XSAVE', () => {
  it('the capabilities: XSAVE and DEBUGREGS 1, XSAVE2 4096 (sizeof(struct kvm_xsave), no AMX)', () => {
    const kvm = openKvm();
    assert.equal(kvm.checkExtension(KVM_CAP_XSAVE), 1);
    assert.equal(kvm.checkExtension(KVM_CAP_DEBUGREGS), 1);
    assert.equal(kvm.checkExtension(KVM_CAP_XSAVE2), 4096);
  });

  it('the image holds KVM_SET_FPU state at the legacy-region offsets, XSTATE_BV = FP|SSE, XCOMP_BV 0', () => {
    const { vcpuFd } = x86Vcpu();
    ok(vcpuFd.setFpu(FPU));
    const x = ok(vcpuFd.getXsave());
    assert.equal(x.region.length, 4096);
    const v = dv(x);
    assert.equal(v.getUint16(0, true), 0x27f, 'FCW');
    assert.equal(v.getUint16(2, true), 0x3800, 'FSW');
    assert.equal(v.getUint8(4), 0x81, 'FTW (abridged)');
    assert.equal(v.getUint16(6, true), 0x123, 'FOP');
    assert.equal(v.getBigUint64(8, true), 0x12_3456_789an, 'FIP');
    assert.equal(v.getBigUint64(16, true), 0x42_0000_1000n, 'FDP');
    assert.equal(v.getUint32(24, true), 0x9fc0, 'MXCSR');
    assert.equal(v.getUint32(28, true), 0x2ffff, "MXCSR_MASK (the model's EPYC host: MM, bit 17)");
    assert.deepEqual(x.region.subarray(32, 160), FPU.fpr);
    assert.deepEqual(x.region.subarray(160, 416), FPU.xmm);
    // fx_sw_bytes: FP_XSTATE_MAGIC1, extended size, the host's user features (x87|SSE|AVX) and their size.
    assert.equal(v.getUint32(464, true), 0x4650_5853);
    assert.equal(v.getUint32(468, true), 832 + 4);
    assert.equal(v.getBigUint64(472, true), 7n);
    assert.equal(v.getUint32(480, true), 832);
    assert.equal(v.getBigUint64(512, true), 3n, 'XSTATE_BV');
    assert.equal(v.getBigUint64(520, true), 0n, 'XCOMP_BV');
    assert.ok(x.region.subarray(576).every((b) => b === 0));
    assert.deepEqual(ok(vcpuFd.getXsave2()).region, x.region, 'KVM_GET_XSAVE2: the same 4096 bytes');
  });

  it('KVM_SET_XSAVE of an image is what KVM_GET_FPU and KVM_GET_XSAVE then return', () => {
    const a = x86Vcpu().vcpuFd;
    ok(a.setFpu(FPU));
    const image = ok(a.getXsave());
    const b = x86Vcpu().vcpuFd;
    ok(b.setXsave(image));
    assert.deepEqual(ok(b.getFpu()), ok(a.getFpu()));
    assert.deepEqual(ok(b.getXsave()), image);
  });

  it('EINVAL for XSTATE_BV beyond supported_xcr0, a non-zero XCOMP_BV, reserved header bytes or MXCSR bits', () => {
    const { vcpuFd } = x86Vcpu();
    ok(vcpuFd.setFpu(FPU));
    const good = ok(vcpuFd.getXsave());
    const bad = (edit: (v: DataView) => void) => {
      const region = good.region.slice();
      edit(new DataView(region.buffer));
      return vcpuFd.setXsave({ region });
    };
    expectErrno(
      bad((v) => v.setBigUint64(512, 0x207n, true)),
      'EINVAL',
      'PKRU (bit 9): not in this host',
    );
    expectErrno(
      bad((v) => v.setBigUint64(520, 1n << 63n, true)),
      'EINVAL',
      'compacted',
    );
    expectErrno(
      bad((v) => v.setUint8(575, 1)),
      'EINVAL',
      'header reserved',
    );
    expectErrno(
      bad((v) => v.setUint32(24, 0x1_0000, true)),
      'EINVAL',
      'MXCSR bit 16',
    );
    assert.deepEqual(ok(vcpuFd.getFpu()), FPU, 'nothing changed');
    // MM (bit 17) is in the EPYC host's mxcsr_feature_mask, not in an Intel host's.
    ok(bad((v) => v.setUint32(24, 0x2_1f80, true)));
    const intel = vmWithRam(16, { cpus: (_id, p) => new X86Cpu(p), hostMxcsrMask: 0xffff });
    const intelVcpu = ok(intel.vmFd.createVcpu(0));
    const image = ok(intelVcpu.getXsave()).region.slice();
    assert.equal(new DataView(image.buffer).getUint32(28, true), 0xffff, "an Intel host's MXCSR_MASK");
    new DataView(image.buffer).setUint32(24, 0x2_1f80, true);
    expectErrno(intelVcpu.setXsave({ region: image }), 'EINVAL', 'MXCSR bit 17 on an Intel host');
    // MXCSR is only checked when FP, SSE or YMM comes with it.
    ok(
      bad((v) => {
        v.setBigUint64(512, 0n, true);
        v.setUint32(24, 0x1_0000, true);
      }),
    );
  });

  it('a component whose XSTATE_BV bit is clear returns to its init state; SSE alone still loads MXCSR', () => {
    const { vcpuFd } = x86Vcpu();
    ok(vcpuFd.setFpu(FPU));
    const region = ok(vcpuFd.getXsave()).region.slice();
    const v = new DataView(region.buffer);
    v.setBigUint64(512, 2n, true); // SSE only
    v.setUint32(24, 0x1f80, true);
    ok(vcpuFd.setXsave({ region }));
    const f = ok(vcpuFd.getFpu());
    assert.equal(f.fcw, 0x37f);
    assert.equal(f.fsw, 0);
    assert.equal(f.ftwx, 0);
    assert.equal(f.lastIp, 0n);
    assert.ok(f.fpr.every((b) => b === 0));
    assert.deepEqual(f.xmm, FPU.xmm);
    assert.equal(f.mxcsr, 0x1f80);
    v.setBigUint64(512, 0n, true); // neither: XMM0-15 init, MXCSR kept
    v.setUint32(24, 0x1f00, true);
    ok(vcpuFd.setXsave({ region }));
    const g = ok(vcpuFd.getFpu());
    assert.ok(g.xmm.every((b) => b === 0));
    assert.equal(g.mxcsr, 0x1f80);
  });

  it('YMM_Hi128 at 576: KVM_SET_XSAVE keeps it with XSTATE_BV[2], which KVM_GET_XSAVE reports while it is non-zero; XSTATE_BV[2] clear zeroes it', () => {
    const { vcpuFd } = x86Vcpu();
    ok(vcpuFd.setFpu(FPU));
    const region = ok(vcpuFd.getXsave()).region.slice();
    const v = new DataView(region.buffer);
    const ymm = Uint8Array.from({ length: 256 }, (_, i) => (i * 5 + 1) | 1);
    region.set(ymm, 576);
    v.setBigUint64(512, 7n, true);
    ok(vcpuFd.setXsave({ region }));
    const got = ok(vcpuFd.getXsave()).region;
    assert.deepEqual(got, region, 'the image comes back, XSTATE_BV = 7');
    assert.deepEqual(vcpuFd.vcpu.ymmHi, ymm, "the guest fpstate's YMM component");
    v.setBigUint64(512, 3n, true); // YMM_Hi128 bytes present, but XSTATE_BV[2] clear: init
    ok(vcpuFd.setXsave({ region }));
    const init = ok(vcpuFd.getXsave()).region;
    assert.equal(new DataView(init.buffer).getBigUint64(512, true), 3n);
    assert.ok(init.subarray(576, 832).every((b) => b === 0));
    assert.deepEqual(ok(vcpuFd.getFpu()), FPU, 'x87 and SSE as they were');
  });

  it('KVM_SET_XCRS takes XCR0 = x87|SSE|AVX (CPUID 0xD.0 offers it, the host saves it), and the guest XSAVE stores YMM_Hi0-7 in real mode', () => {
    // xsave [0x2000] (16-bit addressing); hlt — EDX:EAX all ones, so RFBM = XCR0.
    const { vcpuFd, host } = x86Vcpu(Uint8Array.of(0x0f, 0xae, 0x26, 0x00, 0x20, 0xf4));
    ok(vcpuFd.setXcrs({ nrXcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: 7n }] }));
    assert.equal(ok(vcpuFd.getXcrs()).xcrs[0]!.value, 7n);
    const s = ok(vcpuFd.getSregs());
    ok(vcpuFd.setSregs({ ...s, cr4: s.cr4 | 0x4_0200n })); // OSFXSR | OSXSAVE
    ok(vcpuFd.setRegs({ ...ok(vcpuFd.getRegs()), rax: 0xffff_ffffn, rdx: 0xffff_ffffn }));
    const region = ok(vcpuFd.getXsave()).region.slice();
    region.set(
      Uint8Array.from({ length: 256 }, (_, i) => i ^ 0xa5),
      576,
    );
    new DataView(region.buffer).setBigUint64(512, 7n, true);
    ok(vcpuFd.setXsave({ region }));
    assert.equal(host.write(HVA + 0x2000, new Uint8Array(832).fill(0xcc)), undefined);
    expectExit(vcpuFd, 'Hlt');
    const saved = new Uint8Array(832);
    assert.equal(host.read(HVA + 0x2000, saved), undefined);
    assert.deepEqual(saved.subarray(576, 704), region.subarray(576, 704), 'YMM_Hi0-7');
    assert.ok(
      saved.subarray(704, 832).every((b) => b === 0xcc),
      'YMM_Hi8-15: not outside 64-bit mode',
    );
    assert.equal(
      new DataView(saved.buffer).getBigUint64(512, true),
      0xcccc_cccc_cccc_cccfn,
      'XSTATE_BV: bits 0-2 set (XINUSE), the others as they were',
    );
  });

  it('a protected-state vCPU whose VMSA is encrypted: EINVAL both ways; a legacy SEV-ES vCPU reads zeros, writes nothing', () => {
    const sevEs = {
      type: KVM_X86_SEV_ES_VM,
      init: () => ({ protectedState: true, sevEs: true, createVcpu: () => ({}) }),
    };
    const kvm = openKvm({ vmTypes: [sevEs] });
    const vcpuFd = ok(ok(kvm.createVm(KVM_X86_SEV_ES_VM)).createVcpu(0));
    const image = ok(vcpuFd.getXsave());
    vcpuFd.vcpu.guestStateProtected = true; // as LAUNCH_UPDATE_VMSA leaves it
    expectErrno(vcpuFd.getXsave(), 'EINVAL');
    expectErrno(vcpuFd.getXsave2(), 'EINVAL');
    expectErrno(vcpuFd.setXsave(image), 'EINVAL');
    expectErrno(vcpuFd.getDebugregs(), 'EINVAL');
    expectErrno(vcpuFd.setDebugregs({ db: [0n, 0n, 0n, 0n], dr6: 0n, dr7: 0n, flags: 0n }), 'EINVAL');
    // A default VM (no has_protected_state) whose FPU is confidential: zeros, and KVM_SET_XSAVE is a no-op.
    const legacy = x86Vcpu().vcpuFd;
    ok(legacy.setFpu(FPU));
    const before = ok(legacy.getFpu());
    legacy.vcpu.guestStateProtected = true;
    assert.ok(ok(legacy.getXsave()).region.every((b) => b === 0));
    ok(legacy.setXsave({ region: new Uint8Array(4096) }));
    legacy.vcpu.guestStateProtected = false;
    assert.deepEqual(ok(legacy.getFpu()), before);
  });
});

describe('KVM_GET_DEBUGREGS / KVM_SET_DEBUGREGS', () => {
  it('RESET: DR0-3 zero, DR6 0xffff0ff0, DR7 0x400', () => {
    const d = ok(x86Vcpu().vcpuFd.getDebugregs());
    assert.deepEqual(d, { db: [0n, 0n, 0n, 0n], dr6: 0xffff0ff0n, dr7: 0x400n, flags: 0n });
  });

  it('a round trip; DR7 lands in the save area; the guest reads DR0 (mov eax, dr0)', () => {
    // mov eax, dr0 (0F 21 C0); hlt
    const { vcpuFd } = x86Vcpu(Uint8Array.of(0x0f, 0x21, 0xc0, 0xf4));
    const regs = {
      db: [0x1234_5678n, 2n, 3n, 0xffff_ffff_ffff_fff0n],
      dr6: 0xffff0ff1n,
      dr7: 0x401n,
      flags: 0n,
    };
    ok(vcpuFd.setDebugregs(regs));
    assert.deepEqual(ok(vcpuFd.getDebugregs()), regs);
    assert.equal(vcpuFd.vcpu.vmcb.save.getBigUint64(SAVE_DR7, true), 0x401n);
    expectExit(vcpuFd, 'Hlt');
    assert.equal(ok(vcpuFd.getRegs()).rax & 0xffff_ffffn, 0x1234_5678n);
  });

  it('EINVAL for flags, or DR6 / DR7 bits 63:32; nothing is written then', () => {
    const { vcpuFd } = x86Vcpu();
    const before = ok(vcpuFd.getDebugregs());
    const base = { db: [1n, 1n, 1n, 1n], dr6: 0xffff0ff0n, dr7: 0x400n, flags: 0n };
    expectErrno(vcpuFd.setDebugregs({ ...base, flags: 1n }), 'EINVAL');
    expectErrno(vcpuFd.setDebugregs({ ...base, dr6: 1n << 32n }), 'EINVAL');
    expectErrno(vcpuFd.setDebugregs({ ...base, dr7: 1n << 32n }), 'EINVAL');
    assert.deepEqual(ok(vcpuFd.getDebugregs()), before);
  });
});
