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
import { SAVE_DR7, SAVE_EFER, SAVE_RAX, SAVE_RIP, SAVE_XCR0 } from '../cpu/vmcb.js';
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

const X87_FCW = 0x410;
const MXCSR = 0x408;
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
    assert.equal(typed.vmsaPlain().getUint16(X87_FCW, true), 0x37f);
    assert.equal(typed.vmsaPlain().getUint32(MXCSR, true), 0x1f80);
    const legacy = machine({ profile: 'prefix' });
    ok(legacy.updateVmsa());
    assert.equal(legacy.vmsaPlain().getUint16(X87_FCW, true), 0);
    assert.equal(legacy.vmsaPlain().getUint32(MXCSR, true), 0);
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
