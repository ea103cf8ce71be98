/**
 * Register ioctls on an SEV-ES vCPU (/work/research/kernel-rules.md section 7). KVM cannot read or
 * write an SEV-ES guest's registers: they live in the encrypted VMSA.
 *
 * current (§7.2; arch/x86/kvm/x86.c kvm_arch_vcpu_ioctl_get_regs / set_regs / get_sregs / set_sregs,
 * kvm_vcpu_ioctl_x86_get_xcrs / set_xcrs: `if (vcpu->kvm->arch.has_protected_state &&
 * vcpu->arch.guest_state_protected) return -EINVAL;`, checked before anything is copied; GET/SET_FPU:
 * `fpstate_is_confidential(&vcpu->arch.guest_fpu)` → `has_protected_state ? -EINVAL : 0`): every
 * one of them is EINVAL on a vCPU of a KVM_X86_SEV_ES_VM. A legacy SEV-ES VM (type 0 +
 * KVM_SEV_ES_INIT) has no has_protected_state and keeps the old behaviour.
 *
 * v5.17 (prefix, seed; §7.1, x86.c@37b2a651): never an error. KVM_GET_REGS returns vcpu->arch.regs,
 * KVM's stale copy, RIP included (sev_es_sync_from_ghcb zeroes it at each VMGEXIT and loads the
 * GHCB's valid RAX/RBX/RCX/RDX/RSI); KVM_SET_REGS writes that copy, which reaches the guest only through
 * sev_es_sync_to_ghcb (RAX..RDX into the GHCB at the next entry). KVM_GET_FPU copies out zeros
 * (fpstate_is_confidential: svm_create_vcpu made every SEV-ES vCPU's FPU confidential) and
 * KVM_SET_FPU is ignored. KVM_GET_SREGS leaves segments, descriptor tables, CR2 and CR3 out
 * (__get_sregs_common skips them for guest_state_protected); KVM_SET_SREGS still validates
 * (kvm_is_valid_sregs, kvm_set_apic_base → EINVAL) and then applies nothing. XCRS have no
 * protection check: they report and set vcpu->arch.xcr0 (__kvm_set_xcr, EINVAL for an invalid one).
 *
 * The model's SEV-ES vCPUs are protected from creation (the launch commands that would encrypt the
 * VMSA, KVM_SEV_LAUNCH_UPDATE_VMSA, are not modelled).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelKvmFd, ModelVcpuFd } from '../../src/kvm/fd.js';
import { Errno } from '../../src/uapi/errno.js';
import type { KvmFpu } from '../../src/uapi/fpu.js';
import { GHCB_OFF_RAX } from '../../src/uapi/ghcb.js';
import type { KvmRegs } from '../../src/uapi/regs.js';
import type { KvmSregs } from '../../src/uapi/sregs.js';
import type { KvmXcrs } from '../../src/uapi/xsave.js';
import { finish, leakGuard, openSevKvm, PORT, type Profile, runExits, sevMachine } from './kit.js';

leakGuard();

/** An ioctl's value, asserting it did not fail. */
function ok<T>(r: T | Errno, what: string): T {
  if (r instanceof Errno) assert.fail(`${what}: ${r}`);
  return r;
}

/** Valid inputs for the SET ioctls: what an unprotected vCPU of a default VM on the same kernel reports. */
interface State {
  regs: KvmRegs;
  sregs: KvmSregs;
  fpu: KvmFpu;
  xcrs: KvmXcrs;
}

function plainState(kvm: ModelKvmFd): State {
  const vm = ok(kvm.createVm(), 'KVM_CREATE_VM');
  const vcpu = ok(vm.createVcpu(0), 'KVM_CREATE_VCPU');
  const s = {
    regs: ok(vcpu.getRegs(), 'KVM_GET_REGS'),
    sregs: ok(vcpu.getSregs(), 'KVM_GET_SREGS'),
    fpu: ok(vcpu.getFpu(), 'KVM_GET_FPU'),
    xcrs: ok(vcpu.getXcrs(), 'KVM_GET_XCRS'),
  };
  vcpu.close();
  vm.close();
  return s;
}

/** The eight register ioctls, each as errno-or-'ok'. */
function registerIoctls(vcpu: ModelVcpuFd, s: State): Record<string, string> {
  const name = (r: unknown): string => (r instanceof Errno ? r.errno : 'ok');
  return {
    KVM_GET_REGS: name(vcpu.getRegs()),
    KVM_SET_REGS: name(vcpu.setRegs(s.regs)),
    KVM_GET_SREGS: name(vcpu.getSregs()),
    KVM_SET_SREGS: name(vcpu.setSregs(s.sregs)),
    KVM_GET_FPU: name(vcpu.getFpu()),
    KVM_SET_FPU: name(vcpu.setFpu(s.fpu)),
    KVM_GET_XCRS: name(vcpu.getXcrs()),
    KVM_SET_XCRS: name(vcpu.setXcrs(s.xcrs)),
  };
}

const all = (v: string): Record<string, string> =>
  Object.fromEntries(
    ['REGS', 'SREGS', 'FPU', 'XCRS'].flatMap((x) => [
      [`KVM_GET_${x}`, v],
      [`KVM_SET_${x}`, v],
    ]),
  );

describe('current: register ioctls on a protected vCPU of a KVM_X86_SEV_ES_VM are EINVAL', () => {
  it('[current] before the first KVM_RUN and after a GHCB exchange, all eight are EINVAL', () => {
    const m = sevMachine({
      profile: 'current',
      guest: function* (c) {
        yield* c.cpuid(0xd, 0, 7n);
        yield* c.ioOut(PORT, 1, 0x41);
      },
    });
    const s = plainState(m.kvm);
    assert.deepEqual(registerIoctls(m.vcpu, s), all('EINVAL'));
    runExits(m.vcpu, 'IoOut');
    assert.deepEqual(registerIoctls(m.vcpu, s), all('EINVAL'));
    runExits(m.vcpu, 'Hlt');
    assert.equal(m.guestReturned, true, 'the refused SETs changed nothing the guest relies on');
    finish(m);
  });

  it('[current] the same ioctls work on a vCPU of a default VM, and on a legacy SEV-ES VM (no has_protected_state)', () => {
    const w = openSevKvm('current');
    const s = plainState(w.kvm);
    const plain = ok(w.kvm.createVm(), 'KVM_CREATE_VM');
    const vcpu = ok(plain.createVcpu(0), 'KVM_CREATE_VCPU');
    assert.deepEqual(registerIoctls(vcpu, s), all('ok'));
    vcpu.close();
    plain.close();
    const m = sevMachine({ profile: 'current', legacyInit: true, guest: (c) => c.ioOut(PORT, 1, 0x41) });
    assert.equal(m.cpu.protectedState, true, 'a legacy SEV-ES vCPU is still an SEV-ES vCPU');
    runExits(m.vcpu, 'IoOut');
    assert.deepEqual(registerIoctls(m.vcpu, s), all('ok'));
    finish(m);
  });
});

for (const profile of ['prefix', 'seed'] as const satisfies readonly Profile[]) {
  describe(`[${profile}] v5.17: register ioctls on an SEV-ES vCPU succeed on KVM's stale copies`, () => {
    it('KVM_GET_REGS: the registers the last VMGEXIT loaded (sev_es_sync_from_ghcb zeroes, then loads the valid ones)', () => {
      const m = sevMachine({
        profile,
        guest: function* (c) {
          yield* c.cpuid(0); // KVM's copy now holds leaf 0's answer: RBX = "Auth"
          yield* c.ioOut(PORT, 1, 0x41); // a GHCB with RAX valid only
        },
      });
      const s = plainState(m.kvm);
      // RIP is KVM's vcpu->arch.regs[VCPU_REGS_RIP]: RESET's 0xfff0 until a VMGEXIT's sync zeroes it
      // with the rest of the array (the encrypted RIP has long moved on).
      assert.equal(ok(m.vcpu.getRegs(), 'KVM_GET_REGS').rip, 0xfff0n);
      runExits(m.vcpu, 'IoOut');
      const regs = ok(m.vcpu.getRegs(), 'KVM_GET_REGS');
      assert.deepEqual([regs.rax, regs.rbx, regs.rcx, regs.rdx, regs.rsi], [0x41n, 0n, 0n, 0n, 0n]);
      assert.deepEqual([regs.rip, regs.rsp], [0n, 0n]);
      assert.deepEqual(registerIoctls(m.vcpu, s), all('ok'));
      runExits(m.vcpu, 'Hlt');
      finish(m);
    });

    it('KVM_SET_REGS is accepted; its RAX reaches the guest only through sev_es_sync_to_ghcb at the next entry', () => {
      const m = sevMachine({
        profile,
        guest: function* (c) {
          yield* c.ioOut(PORT, 1, 0x41);
          return c.getField(GHCB_OFF_RAX);
        },
      });
      runExits(m.vcpu, 'IoOut');
      const regs = ok(m.vcpu.getRegs(), 'KVM_GET_REGS');
      assert.equal(m.vcpu.setRegs({ ...regs, rax: 0x1234n, rbx: 0x5678n }), undefined);
      assert.equal(ok(m.vcpu.getRegs(), 'KVM_GET_REGS').rax, 0x1234n);
      runExits(m.vcpu, 'Hlt');
      assert.equal(m.guestResult, 0x1234n, 'the GHCB RAX the guest reads after its OUT');
      finish(m);
    });

    it('KVM_GET_FPU copies out zeros (fpstate_is_confidential from vCPU creation); KVM_SET_FPU is ignored', () => {
      const m = sevMachine({ profile, guest: (c) => c.ioOut(PORT, 1, 0) });
      const reset = plainState(m.kvm).fpu;
      assert.deepEqual([reset.fcw, reset.mxcsr], [0x37f, 0x1f80], 'an unprotected vCPU: the RESET FPU');
      const zeros = (f: KvmFpu) => {
        assert.deepEqual(
          [f.fcw, f.fsw, f.ftwx, f.mxcsr, f.lastOpcode, f.lastIp, f.lastDp],
          [0, 0, 0, 0, 0, 0n, 0n],
        );
        assert.ok(f.fpr.every((b) => b === 0));
        assert.ok(f.xmm.every((b) => b === 0));
      };
      zeros(ok(m.vcpu.getFpu(), 'KVM_GET_FPU')); // before the first KVM_RUN already
      assert.equal(m.vcpu.setFpu({ ...reset, fcw: 0x27f, xmm: new Uint8Array(256).fill(0xaa) }), undefined);
      zeros(ok(m.vcpu.getFpu(), 'KVM_GET_FPU'));
      runExits(m.vcpu, 'IoOut');
      zeros(ok(m.vcpu.getFpu(), 'KVM_GET_FPU'));
      finish(m);
    });

    it('KVM_GET_SREGS hides segments, tables, CR2 and CR3; KVM_SET_SREGS validates (EINVAL), then applies nothing', () => {
      const m = sevMachine({ profile, guest: (c) => c.ioOut(PORT, 1, 0) });
      runExits(m.vcpu, 'IoOut');
      const sregs = ok(m.vcpu.getSregs(), 'KVM_GET_SREGS');
      for (const seg of [sregs.cs, sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss, sregs.tr, sregs.ldt]) {
        assert.deepEqual([seg.selector, seg.base, seg.limit, seg.present], [0, 0n, 0, 0]);
      }
      assert.deepEqual(
        [sregs.gdt, sregs.idt, sregs.cr2, sregs.cr3],
        [{ base: 0n, limit: 0 }, { base: 0n, limit: 0 }, 0n, 0n],
      );
      // CR0 and the APIC base are still reported: KVM's own copies (RESET values here).
      assert.equal(sregs.cr0, 0x6000_0010n);
      assert.equal(sregs.apicBase, 0xfee0_0900n);
      // kvm_is_valid_sregs: CS.L outside long mode (EFER.LMA clear) is invalid.
      const longCs = { ...sregs, cs: { ...sregs.cs, l: 1 } };
      assert.equal((m.vcpu.setSregs(longCs) as Errno).errno, 'EINVAL');
      // kvm_set_apic_base: reserved bits.
      assert.equal((m.vcpu.setSregs({ ...sregs, apicBase: sregs.apicBase | 1n }) as Errno).errno, 'EINVAL');
      // Valid: accepted, and then nothing is applied for protected state.
      assert.equal(
        m.vcpu.setSregs({ ...sregs, cr3: 0x5000n, cs: { ...sregs.cs, selector: 0x10 } }),
        undefined,
      );
      const after = ok(m.vcpu.getSregs(), 'KVM_GET_SREGS');
      assert.equal(after.cr3, 0n);
      assert.equal(after.cs.selector, 0);
      runExits(m.vcpu, 'Hlt');
      finish(m);
    });

    it("KVM_GET/SET_XCRS work on vcpu->arch.xcr0 (the GHCB's XCR0), through __kvm_set_xcr's checks", () => {
      const m = sevMachine({
        profile,
        guest: function* (c) {
          yield* c.cpuid(0xd, 0, 7n);
          yield* c.ioOut(PORT, 1, 0);
        },
      });
      runExits(m.vcpu, 'IoOut');
      const xcrs = ok(m.vcpu.getXcrs(), 'KVM_GET_XCRS');
      assert.deepEqual(xcrs.xcrs.slice(0, xcrs.nrXcrs), [{ xcr: 0, value: 7n }]);
      const set = (value: bigint) => m.vcpu.setXcrs({ nrXcrs: 1, flags: 0, xcrs: [{ xcr: 0, value }] });
      assert.equal((set(0n) as Errno).errno, 'EINVAL', 'XCR0 without x87');
      assert.equal((set(4n) as Errno).errno, 'EINVAL', 'AVX without SSE');
      assert.equal(set(3n), undefined);
      assert.deepEqual(ok(m.vcpu.getXcrs(), 'KVM_GET_XCRS').xcrs[0], { xcr: 0, value: 3n });
      runExits(m.vcpu, 'Hlt');
      finish(m);
    });
  });
}
