/**
 * KVM_SEV_LAUNCH_UPDATE_VMSA (sev_launch_update_vmsa, sev_es_sync_vmsa; docs/sev-launch-rules.md
 * §3.5) and what it changes: before it an SEV-ES vCPU's registers are KVM's (the register ioctls
 * work) and VMRUN fails (the VMSA page was never written: KVM_EXIT_FAIL_ENTRY); after it the VMSA
 * holds the state the VMM set, measured and encrypted under the guest key, and the register ioctls
 * are refused on a KVM_X86_SEV_ES_VM.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { EFER_SVME } from '../cpu/reset.js';
import { ScriptedGuests } from '../cpu/scripted-guests.js';
import {
  SAVE_DR7,
  SAVE_EFER,
  SAVE_FPREG_X87,
  SAVE_FPREG_XMM,
  SAVE_FPREG_YMM,
  SAVE_MXCSR,
  SAVE_RAX,
  SAVE_RIP,
  SAVE_X87_CS,
  SAVE_X87_DP,
  SAVE_X87_DS,
  SAVE_X87_FCW,
  SAVE_X87_FOP,
  SAVE_X87_FSW,
  SAVE_X87_FTW,
  SAVE_X87_RIP,
  SAVE_XCR0,
} from '../cpu/vmcb.js';
import type { ModelVcpuFd } from '../kvm/fd.js';
import { ok } from '../kvm/test-util.js';
import { sevLaunchMeasurement } from '../psp/firmware.js';
import { KVM_X86_SEV_ES_VM } from '../uapi/caps.js';
import { Errno } from '../uapi/errno.js';
import { KVM_EXIT_FAIL_ENTRY } from '../uapi/exit-reasons.js';
import { SEV_POLICY_ES } from '../uapi/psp-sev.js';
import {
  encodeSevInit,
  encodeSevLaunchStart,
  encodeSevUaddrLen,
  KVM_SEV_ES_INIT,
  KVM_SEV_INIT2,
  KVM_SEV_LAUNCH_MEASURE,
  KVM_SEV_LAUNCH_START,
  KVM_SEV_LAUNCH_UPDATE_VMSA,
  newContextLaunchStart,
  SevCmdErrno,
} from '../uapi/sev-cmd.js';
import { modelPlatform } from '../vmm/platform.js';

const DR7_BREAKPOINT = 0x401n;

/** An SEV-ES VM of `profile` with `vcpus` vCPUs created, LAUNCH_START done (unless told not to). */
function machine(opts: { profile?: 'current' | 'prefix'; vcpus?: number; start?: boolean } = {}) {
  const profile = opts.profile ?? 'current';
  const guests = new ScriptedGuests();
  const p = modelPlatform({ profile, psp: { seed: 'vmsa' } });
  const legacy = profile !== 'current';
  const vm = ok(p.kvm.createVm(legacy ? 0 : KVM_X86_SEV_ES_VM));
  const arg = ok(p.memory.mapAnonymous(0x1000));
  if (legacy) ok(vm.memoryEncryptOp({ id: KVM_SEV_ES_INIT, data: 0n, error: 0, sevFd: 0 }));
  else {
    ok(p.memory.write(arg, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 2 })));
    ok(vm.memoryEncryptOp({ id: KVM_SEV_INIT2, data: BigInt(arg), error: 0, sevFd: 0 }));
  }
  const vcpus: ModelVcpuFd[] = [];
  for (let i = 0; i < (opts.vcpus ?? 1); i++) vcpus.push(ok(vm.createVcpu(i)) as ModelVcpuFd);
  const sevFd = p.openSevDevice();
  if (opts.start !== false) {
    ok(p.memory.write(arg, encodeSevLaunchStart(newContextLaunchStart(SEV_POLICY_ES))));
    ok(vm.memoryEncryptOp({ id: KVM_SEV_LAUNCH_START, data: BigInt(arg), error: 0, sevFd }));
  }
  const updateVmsa = () =>
    vm.memoryEncryptOp({ id: KVM_SEV_LAUNCH_UPDATE_VMSA, data: 0n, error: 0, sevFd: 0 });
  /** The VMSA page of vCPU `i` as the guest key decrypts it (what VMRUN would load). */
  const vmsaPlain = (i = 0): DataView => {
    const v = vcpus[i]!.vcpu;
    const copy = v.vmsa!.slice();
    p.memoryController.domain(v.vmcb.asid)!.decrypt(v.vmsaSpa, copy);
    return new DataView(copy.buffer);
  };
  return { p, vm, vcpus, arg, updateVmsa, vmsaPlain, guests };
}

function errno(r: unknown): string {
  assert.ok(r instanceof Errno, `expected an errno, got ${String(r)}`);
  return r.errno;
}

describe('KVM_SEV_LAUNCH_UPDATE_VMSA', () => {
  it('before it: the register ioctls reach KVM’s copies, and KVM_RUN fails entry (the VMSA was never written)', () => {
    const m = machine();
    const vcpu = m.vcpus[0]!;
    const regs = ok(vcpu.getRegs());
    ok(vcpu.setRegs({ ...regs, rax: 0x1234n, rip: 0xfff0n }));
    assert.equal(ok(vcpu.getRegs()).rax, 0x1234n);
    const exit = vcpu.run();
    assert.equal(exit.kind, 'FailEntry');
    assert.equal(vcpu.runArea.exitReason, KVM_EXIT_FAIL_ENTRY);
    if (exit.kind === 'FailEntry') assert.equal(exit.hardwareEntryFailureReason, 2n ** 64n - 1n);
  });

  it('syncs the state the VMM set into the VMSA, encrypted: EFER.SVME, RAX/RIP from KVM_SET_REGS, XCR0', () => {
    const m = machine();
    const vcpu = m.vcpus[0]!;
    ok(vcpu.setRegs({ ...ok(vcpu.getRegs()), rax: 0xfeed_f00dn, rip: 0xfff0n }));
    const before = m.vcpus[0]!.vcpu.vmsa!.slice();
    ok(m.updateVmsa());
    const raw = m.vcpus[0]!.vcpu.vmsa!;
    assert.notDeepEqual(raw, before, 'the page changed');
    const plain = m.vmsaPlain();
    assert.equal(plain.getBigUint64(SAVE_RAX, true), 0xfeed_f00dn);
    assert.equal(plain.getBigUint64(SAVE_RIP, true), 0xfff0n);
    assert.ok(plain.getUint32(SAVE_EFER, true) & EFER_SVME, 'svm_set_efer keeps SVME in the VMCB');
    assert.equal(plain.getBigUint64(SAVE_XCR0, true), 1n);
    // Host memory holds ciphertext: the RAX bytes are not there in clear.
    assert.notEqual(new DataView(raw.buffer).getBigUint64(SAVE_RAX, true), 0xfeed_f00dn);
  });

  it('after it, on a KVM_X86_SEV_ES_VM, the register ioctls are EINVAL', () => {
    const m = machine();
    ok(m.updateVmsa());
    assert.equal(errno(m.vcpus[0]!.getRegs()), 'EINVAL');
    assert.equal(m.vcpus[0]!.vcpu.guestStateProtected, true);
  });

  it('the VMSA page is measured: the launch digest is the plaintext page', () => {
    const m = machine();
    ok(m.updateVmsa());
    const plain = new Uint8Array(m.vmsaPlain().buffer);
    const blob = ok(m.p.memory.mapAnonymous(0x1000));
    ok(m.p.memory.write(m.arg, encodeSevUaddrLen({ uaddr: BigInt(blob), len: 48 })));
    ok(m.vm.memoryEncryptOp({ id: KVM_SEV_LAUNCH_MEASURE, data: BigInt(m.arg), error: 0, sevFd: 0 }));
    const got = new Uint8Array(48);
    ok(m.p.memory.read(blob, got));
    const { apiMajor, apiMinor, build } = m.p.psp.platformStatus();
    const want = sevLaunchMeasurement({
      tik: m.p.psp.debugTik(1)!,
      apiMajor,
      apiMinor,
      build,
      policy: SEV_POLICY_ES,
      digest: new Uint8Array(createHash('sha256').update(plain).digest()),
      mnonce: got.slice(32),
    });
    assert.deepEqual(got.subarray(0, 32), want);
  });

  it('INIT2 VMs get the FPU state in the VMSA (FCW 0x37f, MXCSR 0x1f80); KVM_SEV_ES_INIT VMs do not', () => {
    const typed = machine();
    ok(typed.updateVmsa());
    assert.equal(typed.vmsaPlain().getUint16(SAVE_X87_FCW, true), 0x37f);
    assert.equal(typed.vmsaPlain().getUint32(SAVE_MXCSR, true), 0x1f80);
    const legacy = machine({ profile: 'prefix' });
    ok(legacy.updateVmsa());
    assert.equal(legacy.vmsaPlain().getUint16(SAVE_X87_FCW, true), 0);
    assert.equal(legacy.vmsaPlain().getUint32(SAVE_MXCSR, true), 0);
  });

  it('INIT2: the x87, SSE and AVX state of KVM_SET_XSAVE at sev_es_save_area’s offsets (fpreg_x87 split 8 + 2 bytes, fpreg_ymm from the YMM component)', () => {
    const m = machine();
    const vcpu = m.vcpus[0]!;
    const region = new Uint8Array(4096);
    const v = new DataView(region.buffer);
    v.setUint16(0, 0x37f, true); // FCW
    v.setUint16(2, 0x3800, true); // FSW
    v.setUint8(4, 0x80); // FTW (abridged)
    v.setUint16(6, 0x7dd, true); // FOP
    v.setBigUint64(8, 0x5_2c81_8en, true); // FIP
    v.setBigUint64(16, 0x7fff_8587_a990n, true); // FDP
    v.setUint32(24, 0x1f80, true); // MXCSR
    const st = Uint8Array.from({ length: 128 }, (_, i) => (i % 16 < 10 ? i + 1 : 0));
    region.set(st, 32);
    region.set(
      Uint8Array.from({ length: 256 }, (_, i) => i),
      160,
    );
    region.fill(0xff, 576, 832);
    v.setBigUint64(512, 7n, true);
    ok(vcpu.setXsave({ region }));
    ok(m.updateVmsa());
    const p = m.vmsaPlain();
    const page = new Uint8Array(p.buffer);
    assert.deepEqual(
      [
        p.getUint16(SAVE_X87_FCW, true),
        p.getUint16(SAVE_X87_FSW, true),
        p.getUint16(SAVE_X87_FTW, true),
        p.getUint16(SAVE_X87_FOP, true),
        p.getUint16(SAVE_X87_DS, true),
        p.getUint16(SAVE_X87_CS, true),
        p.getBigUint64(SAVE_X87_RIP, true),
        p.getBigUint64(SAVE_X87_DP, true),
        p.getUint32(SAVE_MXCSR, true),
      ],
      [0x37f, 0x3800, 0x80, 0x7dd, 0, 0, 0x5_2c81_8en, 0x7fff_8587_a990n, 0x1f80],
    );
    for (let i = 0; i < 8; i++) {
      assert.deepEqual(
        page.subarray(SAVE_FPREG_X87 + 8 * i, SAVE_FPREG_X87 + 8 * i + 8),
        st.subarray(16 * i, 16 * i + 8),
      );
      assert.deepEqual(
        page.subarray(SAVE_FPREG_X87 + 64 + 2 * i, SAVE_FPREG_X87 + 66 + 2 * i),
        st.subarray(16 * i + 8, 16 * i + 10),
      );
    }
    assert.deepEqual(page.subarray(SAVE_FPREG_XMM, SAVE_FPREG_XMM + 256), region.subarray(160, 416));
    assert.ok(
      page.subarray(SAVE_FPREG_YMM, SAVE_FPREG_YMM + 256).every((b) => b === 0xff),
      'fpreg_ymm',
    );
    // XSTATE_BV[2] clear: the component is in its initial configuration, fpreg_ymm zeros.
    const init = machine();
    v.setBigUint64(512, 3n, true);
    ok(init.vcpus[0]!.setXsave({ region }));
    ok(init.updateVmsa());
    const q = new Uint8Array(init.vmsaPlain().buffer);
    assert.ok(q.subarray(SAVE_FPREG_YMM, SAVE_FPREG_YMM + 256).every((b) => b === 0));
  });

  it('a second LAUNCH_UPDATE_VMSA: EINVAL on current (the VMSA is encrypted already), synced again on v5.17', () => {
    const cur = machine();
    ok(cur.updateVmsa());
    assert.equal(errno(cur.updateVmsa()), 'EINVAL');
    const old = machine({ profile: 'prefix' });
    ok(old.updateVmsa());
    ok(old.updateVmsa());
  });

  it('every vCPU in index order; DR7 breakpoints on one stop the loop there (the earlier stay protected)', () => {
    const m = machine({ vcpus: 2 });
    // What KVM_SET_DEBUGREGS leaves in the VMCB (the model has no such ioctl yet).
    m.vcpus[1]!.vcpu.vmcb.save.setBigUint64(SAVE_DR7, DR7_BREAKPOINT, true);
    const r = m.updateVmsa();
    assert.ok(r instanceof SevCmdErrno);
    assert.equal(r.errno, 'EINVAL');
    assert.equal(m.vcpus[0]!.vcpu.guestStateProtected, true);
    assert.equal(m.vcpus[1]!.vcpu.guestStateProtected, false);
  });

  it('no vCPU: 0; before LAUNCH_START: EBADF through fd 0', () => {
    ok(machine({ vcpus: 0 }).updateVmsa());
    assert.equal(errno(machine({ start: false }).updateVmsa()), 'EBADF');
  });
});
