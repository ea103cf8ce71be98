/**
 * The vCPU state ioctls (vcpu-state.ts) through the vCPU fd: KVM_GET/SET_REGS, KVM_GET_SREGS of a
 * fresh vCPU (the x86 RESET state), KVM_SET_SREGS's consistency checks, KVM_GET/SET_VCPU_EVENTS,
 * KVM_GET/SET_XCRS and KVM_GET/SET_FPU; and that what they set is what the guest then runs with.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CR0_PE, CR0_PG, CR4_PAE, EFER_LMA, EFER_LME } from '../cpu/backend.js';
import { GuestException } from '../cpu/scripted.js';
import type { KvmFpu } from '../uapi/fpu.js';
import type { KvmRegs } from '../uapi/regs.js';
import type { KvmSegment, KvmSregs } from '../uapi/sregs.js';
import {
  KVM_VCPUEVENT_VALID_NMI_PENDING,
  KVM_VCPUEVENT_VALID_PAYLOAD,
  KVM_VCPUEVENT_VALID_SHADOW,
  KVM_VCPUEVENT_VALID_SIPI_VECTOR,
  KVM_VCPUEVENT_VALID_SMM,
  KVM_VCPUEVENT_VALID_TRIPLE_FAULT,
  type KvmVcpuEvents,
} from '../uapi/vcpu-events.js';
import { KVM_CORE_5_17 } from './profile.js';
import { expectErrno, expectExit, expectFailed, guest, HVA, newVm, ok, P } from './test-util.js';

/** A fresh vCPU 0 (the default CPU: no code) of a fresh VM. */
function freshVcpu(opts: Parameters<typeof newVm>[0] = {}) {
  const env = newVm(opts);
  return { ...env, vcpuFd: ok(env.vmFd.createVcpu(0)) };
}

const seg = (s: KvmSegment) => ({
  selector: s.selector,
  base: s.base,
  limit: s.limit,
  type: s.type,
  s: s.s,
  dpl: s.dpl,
  present: s.present,
  db: s.db,
  l: s.l,
  g: s.g,
  avl: s.avl,
  unusable: s.unusable,
});
const dataSeg = {
  selector: 0,
  base: 0n,
  limit: 0xffff,
  type: 2,
  s: 1,
  dpl: 0,
  present: 1,
  db: 0,
  l: 0,
  g: 0,
  avl: 0,
  unusable: 0,
};

describe('KVM_GET_REGS / KVM_SET_REGS', () => {
  it('a fresh vCPU: RIP FFF0, RFLAGS 2 (bit 1 always set), every GPR 0', () => {
    const { vcpuFd } = freshVcpu();
    const r = ok(vcpuFd.getRegs());
    assert.equal(r.rip, 0xfff0n);
    assert.equal(r.rflags, 2n);
    for (const k of ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp', 'r8', 'r15'] as const) {
      assert.equal(r[k], 0n, k);
    }
  });

  it('round trip of every register; RFLAGS bit 1 is forced on', () => {
    const { vcpuFd } = freshVcpu();
    const regs: KvmRegs = {
      rax: 0x0123_4567_89ab_cdefn,
      rbx: 1n,
      rcx: 2n,
      rdx: 3n,
      rsi: 4n,
      rdi: 5n,
      rsp: 0x7fff_fff0n,
      rbp: 0x7fff_fff8n,
      r8: 8n,
      r9: 9n,
      r10: 10n,
      r11: 11n,
      r12: 12n,
      r13: 13n,
      r14: 14n,
      r15: 0xffff_ffff_ffff_ffffn,
      rip: 0x1000n,
      rflags: 0x200n,
    };
    ok(vcpuFd.setRegs(regs));
    assert.deepEqual(ok(vcpuFd.getRegs()), { ...regs, rflags: 0x202n });
  });

  it('the guest runs from the RIP KVM_SET_REGS gave; what CPUID left in the registers comes back in KVM_GET_REGS', () => {
    const { vcpuFd, cpu } = guest(function* (cpu) {
      cpu.notes.r = yield* cpu.cpuid(0);
      yield* cpu.hlt();
    });
    ok(vcpuFd.setRegs({ ...ok(vcpuFd.getRegs()), rbx: 0xdead_beef_0000_0000n, rip: 0x100n }));
    expectExit(vcpuFd, 'Hlt');
    const r = ok(vcpuFd.getRegs());
    assert.equal(r.rip, 0x100n + 2n + 1n, 'the guest started at the RIP set: CPUID (2) and HLT (1) after it');
    assert.equal(
      r.rbx,
      BigInt((cpu.notes.r as { ebx: number }).ebx),
      'CPUID zero-extended its result into RBX',
    );
  });

  it('KVM_SET_REGS drops a queued exception (KVM_GET_VCPU_EVENTS shows none afterwards)', () => {
    const { vcpuFd } = freshVcpu();
    const ev = ok(vcpuFd.getVcpuEvents());
    ok(
      vcpuFd.setVcpuEvents({
        ...ev,
        exception: { ...ev.exception, injected: 1, nr: 13, hasErrorCode: 1, errorCode: 0 },
      }),
    );
    assert.equal(ok(vcpuFd.getVcpuEvents()).exception.injected, 1);
    ok(vcpuFd.setRegs(ok(vcpuFd.getRegs())));
    assert.equal(ok(vcpuFd.getVcpuEvents()).exception.injected, 0);
  });
});

describe('KVM_GET_SREGS of a fresh vCPU: the RESET state', () => {
  it('real mode at F000:FFF0 with CS base FFFF0000; data segments at 0; CR0 60000010; EFER 0', () => {
    const { vcpuFd } = freshVcpu();
    const s = ok(vcpuFd.getSregs());
    assert.deepEqual(seg(s.cs), { ...dataSeg, selector: 0xf000, base: 0xffff_0000n, type: 0xa });
    for (const k of ['ds', 'es', 'fs', 'gs', 'ss'] as const) assert.deepEqual(seg(s[k]), dataSeg, k);
    assert.deepEqual(seg(s.ldt), { ...dataSeg, type: 2, s: 0 });
    assert.deepEqual(seg(s.tr), { ...dataSeg, type: 3, s: 0 }, '16-bit busy TSS');
    assert.deepEqual(s.gdt, { base: 0n, limit: 0xffff });
    assert.deepEqual(s.idt, { base: 0n, limit: 0xffff });
    assert.equal(s.cr0, 0x6000_0010n);
    assert.deepEqual([s.cr2, s.cr3, s.cr4, s.cr8, s.efer], [0n, 0n, 0n, 0n, 0n]);
    assert.equal(s.apicBase, 0xfee0_0900n, 'xAPIC enabled at FEE00000, BSP');
    assert.deepEqual(s.interruptBitmap, [0n, 0n, 0n, 0n]);
  });

  it('KVM_SET_SREGS of what KVM_GET_SREGS returned changes nothing', () => {
    const { vcpuFd } = freshVcpu();
    const before = ok(vcpuFd.getSregs());
    ok(vcpuFd.setSregs(before));
    assert.deepEqual(ok(vcpuFd.getSregs()), before);
  });
});

describe('KVM_SET_SREGS: kvm_is_valid_sregs and the APIC base', () => {
  /** A consistent long-mode sregs built from the fresh vCPU's. */
  function longMode(s: KvmSregs): KvmSregs {
    return {
      ...s,
      cr0: s.cr0 | (BigInt(CR0_PE) | BigInt(CR0_PG)),
      cr4: s.cr4 | BigInt(CR4_PAE),
      efer: s.efer | BigInt(EFER_LME | EFER_LMA),
      cs: { ...s.cs, l: 1, db: 0 },
    };
  }

  it('long mode with PAE, LMA and CS.L is accepted and round-trips', () => {
    const { vcpuFd } = freshVcpu();
    const s = longMode(ok(vcpuFd.getSregs()));
    ok(vcpuFd.setSregs(s));
    const back = ok(vcpuFd.getSregs());
    assert.equal(back.efer, s.efer);
    assert.equal(back.cs.l, 1);
    assert.equal(back.cr4, s.cr4);
  });

  it('EFER.LME with CR0.PG but without CR4.PAE is EINVAL, and nothing changes', () => {
    const { vcpuFd } = freshVcpu();
    const fresh = ok(vcpuFd.getSregs());
    const s = longMode(fresh);
    expectErrno(vcpuFd.setSregs({ ...s, cr4: s.cr4 & ~BigInt(CR4_PAE) }), 'EINVAL');
    expectErrno(
      vcpuFd.setSregs({ ...s, efer: s.efer & ~BigInt(EFER_LMA) }),
      'EINVAL',
      'LME + PG without LMA',
    );
    assert.deepEqual(ok(vcpuFd.getSregs()), fresh);
  });

  it('CS.L or EFER.LMA outside long mode is EINVAL', () => {
    const { vcpuFd } = freshVcpu();
    const s = ok(vcpuFd.getSregs());
    expectErrno(vcpuFd.setSregs({ ...s, cs: { ...s.cs, l: 1 } }), 'EINVAL');
    expectErrno(vcpuFd.setSregs({ ...s, efer: BigInt(EFER_LMA) }), 'EINVAL');
    expectErrno(vcpuFd.setSregs({ ...s, cr0: s.cr0 | BigInt(CR0_PE), cs: { ...s.cs, l: 1 } }), 'EINVAL');
  });

  it('CR3 beyond MAXPHYADDR in long mode is EINVAL', () => {
    const { vcpuFd } = freshVcpu();
    const s = longMode(ok(vcpuFd.getSregs()));
    expectErrno(vcpuFd.setSregs({ ...s, cr3: 1n << 48n }), 'EINVAL');
    ok(vcpuFd.setSregs({ ...s, cr3: (1n << 48n) - 0x1000n }));
  });

  it('current core: CR0 bits 63:32, NW without CD, or PG without PE are EINVAL; 5.17 takes them', () => {
    const cur = freshVcpu().vcpuFd;
    const s = ok(cur.getSregs());
    const cd = 1n << 30n;
    const nw = 1n << 29n;
    expectErrno(cur.setSregs({ ...s, cr0: s.cr0 | (1n << 32n) }), 'EINVAL');
    expectErrno(cur.setSregs({ ...s, cr0: (s.cr0 & ~cd) | nw }), 'EINVAL');
    expectErrno(cur.setSregs({ ...s, cr0: (s.cr0 & ~BigInt(CR0_PE)) | BigInt(CR0_PG) }), 'EINVAL');
    const old = freshVcpu({ core: KVM_CORE_5_17 }).vcpuFd;
    ok(old.setSregs({ ...s, cr0: (s.cr0 & ~cd) | nw }));
  });

  it('reserved APIC-base bits (0-7, 9) or bits at or above MAXPHYADDR are EINVAL', () => {
    const { vcpuFd } = freshVcpu();
    const s = ok(vcpuFd.getSregs());
    for (const apicBase of [0xfee0_0901n, 0xfee0_0980n, 0xfee0_0b00n, (1n << 48n) | 0xfee0_0900n]) {
      expectErrno(vcpuFd.setSregs({ ...s, apicBase }), 'EINVAL', `apic_base ${apicBase.toString(16)}`);
    }
    assert.equal(ok(vcpuFd.getSregs()).apicBase, 0xfee0_0900n);
    ok(vcpuFd.setSregs({ ...s, apicBase: 0xfec0_0800n }));
    assert.equal(ok(vcpuFd.getSregs()).apicBase, 0xfec0_0800n);
    assert.deepEqual(ok(vcpuFd.getMsrs([0x1b])), [{ index: 0x1b, data: 0xfec0_0800n }], 'the same MSR');
  });

  it('interrupt_bitmap queues its first vector as the pending interrupt; CR8 is V_TPR', () => {
    const { vcpuFd } = freshVcpu();
    const s = ok(vcpuFd.getSregs());
    ok(vcpuFd.setSregs({ ...s, cr8: 0xan, interruptBitmap: [0n, 1n << 2n, 0n, 1n] }));
    assert.deepEqual(ok(vcpuFd.getVcpuEvents()).interrupt, { injected: 1, nr: 66, soft: 0, shadow: 0 });
    const back = ok(vcpuFd.getSregs());
    assert.equal(back.cr8, 0xan);
    assert.deepEqual(back.interruptBitmap, [0n, 1n << 2n, 0n, 0n]);
  });

  it('the guest runs in the mode set: in long mode an 8-byte load is a real mov, not #UD', () => {
    const { vcpuFd, cpu } = guest(function* (cpu) {
      try {
        cpu.notes.v = yield* cpu.load(0x100, 8);
      } catch (e) {
        cpu.notes.v = e instanceof GuestException ? `#${e.vector}` : String(e);
      }
      yield* cpu.hlt();
    });
    ok(vcpuFd.setSregs(longMode(ok(vcpuFd.getSregs()))));
    expectExit(vcpuFd, 'Hlt');
    assert.equal(cpu.notes.v, 0n);
  });
});

describe('KVM_GET_VCPU_EVENTS / KVM_SET_VCPU_EVENTS', () => {
  const events = (e: Partial<KvmVcpuEvents> = {}): KvmVcpuEvents => ({
    exception: { injected: 0, nr: 0, hasErrorCode: 0, pending: 0, errorCode: 0 },
    interrupt: { injected: 0, nr: 0, soft: 0, shadow: 0 },
    nmi: { injected: 0, pending: 0, masked: 0 },
    sipiVector: 0,
    flags: 0,
    smi: { smm: 0, pending: 0, smmInsideNmi: 0, latchedInit: 0 },
    tripleFault: { pending: 0 },
    exceptionHasPayload: 0,
    exceptionPayload: 0n,
    ...e,
  });

  it('a fresh vCPU has no events; the flags say which fields are valid', () => {
    const { vcpuFd } = freshVcpu();
    const e = ok(vcpuFd.getVcpuEvents());
    assert.deepEqual(e, {
      ...events(),
      flags: KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM,
    });
  });

  it('unknown flags and the exception payload (KVM_CAP_EXCEPTION_PAYLOAD is not enabled) are EINVAL', () => {
    const { vcpuFd } = freshVcpu();
    expectErrno(vcpuFd.setVcpuEvents(events({ flags: 0x40 })), 'EINVAL');
    expectErrno(vcpuFd.setVcpuEvents(events({ flags: 0x8000_0000 })), 'EINVAL');
    expectErrno(vcpuFd.setVcpuEvents(events({ flags: KVM_VCPUEVENT_VALID_PAYLOAD })), 'EINVAL');
    expectErrno(
      vcpuFd.setVcpuEvents(events({ flags: KVM_VCPUEVENT_VALID_TRIPLE_FAULT, tripleFault: { pending: 1 } })),
      'EINVAL',
    );
  });

  it('KVM_VCPUEVENT_VALID_TRIPLE_FAULT without KVM_CAP_X86_TRIPLE_FAULT_EVENT is EINVAL even with nothing pending', () => {
    const { vcpuFd } = freshVcpu();
    expectErrno(vcpuFd.setVcpuEvents(events({ flags: KVM_VCPUEVENT_VALID_TRIPLE_FAULT })), 'EINVAL');
  });

  it('an injected exception with vector 2 (NMI) or above 31 is EINVAL; 0-31 but 2 are accepted', () => {
    const { vcpuFd } = freshVcpu();
    for (const nr of [2, 32, 255]) {
      const ex = { injected: 1, nr, hasErrorCode: 0, pending: 0, errorCode: 0 };
      expectErrno(vcpuFd.setVcpuEvents(events({ exception: ex })), 'EINVAL', `#${nr}`);
    }
    assert.equal(ok(vcpuFd.getVcpuEvents()).exception.injected, 0, 'nothing was queued');
    for (const nr of [0, 1, 3, 13, 31]) {
      ok(
        vcpuFd.setVcpuEvents(
          events({ exception: { injected: 1, nr, hasErrorCode: 0, pending: 0, errorCode: 0 } }),
        ),
      );
      assert.equal(ok(vcpuFd.getVcpuEvents()).exception.nr, nr);
    }
    // Vector 2 in a field that does not inject anything is not checked.
    ok(
      vcpuFd.setVcpuEvents(
        events({ exception: { injected: 0, nr: 2, hasErrorCode: 0, pending: 0, errorCode: 0 } }),
      ),
    );
  });

  it('without KVM_VCPUEVENT_VALID_PAYLOAD, exception.pending is ignored (Linux zeroes it before the vector check)', () => {
    const { vcpuFd } = freshVcpu();
    ok(
      vcpuFd.setVcpuEvents(
        events({ exception: { injected: 0, nr: 2, hasErrorCode: 0, pending: 1, errorCode: 0 } }),
      ),
    );
    assert.equal(ok(vcpuFd.getVcpuEvents()).exception.injected, 0);
  });

  it('an exception injected at a faulting instruction (KVM_RUN failed EFAULT) reaches the guest there, with its error code', () => {
    const { vcpuFd, host, cpu } = guest(function* (cpu) {
      try {
        yield* cpu.store(0x5008, 4, 1n);
        cpu.notes.stored = true;
      } catch (e) {
        const g = e as GuestException;
        cpu.notes.e = [g.vector, g.errorCode];
      }
      yield* cpu.out(0x81, 1, 0);
    });
    host.unmap(HVA + 0x5000, P);
    expectFailed(vcpuFd, 'EFAULT');
    ok(
      vcpuFd.setVcpuEvents(
        events({ exception: { injected: 1, nr: 13, hasErrorCode: 1, pending: 0, errorCode: 0x18 } }),
      ),
    );
    const e = ok(vcpuFd.getVcpuEvents()).exception;
    assert.deepEqual(e, { injected: 1, nr: 13, hasErrorCode: 1, pending: 0, errorCode: 0x18 });
    assert.equal(expectExit(vcpuFd, 'IoOut').port, 0x81);
    assert.deepEqual(cpu.notes, { e: [13, 0x18] }, 'the store did not complete');
    assert.equal(ok(vcpuFd.getVcpuEvents()).exception.injected, 0);
  });

  it('an exception injected after an exit to userspace arrives at the next instruction; the completed one stays completed', () => {
    const { vcpuFd, cpu } = guest(function* (cpu) {
      cpu.notes.in = yield* cpu.in(0x60, 1);
      try {
        yield* cpu.hlt();
      } catch (e) {
        cpu.notes.e = (e as GuestException).vector;
      }
      yield* cpu.out(0x81, 1, 0);
    });
    expectExit(vcpuFd, 'IoIn').data[0] = 0x5a;
    ok(
      vcpuFd.setVcpuEvents(
        events({ exception: { injected: 1, nr: 6, hasErrorCode: 0, pending: 0, errorCode: 0 } }),
      ),
    );
    assert.equal(expectExit(vcpuFd, 'IoOut').port, 0x81);
    assert.deepEqual(cpu.notes, { in: 0x5a, e: 6 });
  });

  it('NMI pending (at most 2) and masked, the interrupt shadow, the queued interrupt round-trip', () => {
    const { vcpuFd } = freshVcpu();
    ok(
      vcpuFd.setVcpuEvents(
        events({
          flags:
            KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SIPI_VECTOR,
          nmi: { injected: 0, pending: 5, masked: 1 },
          interrupt: { injected: 1, nr: 0x41, soft: 0, shadow: 1 },
        }),
      ),
    );
    const e = ok(vcpuFd.getVcpuEvents());
    assert.deepEqual(e.nmi, { injected: 0, pending: 2, masked: 1 });
    assert.deepEqual(e.interrupt, { injected: 1, nr: 0x41, soft: 0, shadow: 1 });
    // Without VALID_NMI_PENDING and VALID_SHADOW those two are left alone; masked is always taken.
    ok(vcpuFd.setVcpuEvents(events({ nmi: { injected: 0, pending: 0, masked: 0 } })));
    const f = ok(vcpuFd.getVcpuEvents());
    assert.deepEqual(f.nmi, { injected: 0, pending: 2, masked: 0 });
    assert.equal(f.interrupt.shadow, 1);
    assert.equal(f.interrupt.injected, 0);
  });
});

describe('KVM_GET_XCRS / KVM_SET_XCRS', () => {
  it('XCR0 is 1 (x87) at RESET', () => {
    const { vcpuFd } = freshVcpu();
    assert.deepEqual(ok(vcpuFd.getXcrs()), { nrXcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: 1n }] });
  });

  it('x87 | SSE | AVX (7, what CPUID 0xD.0 offers) is accepted and changes CPUID 0xD.0 EBX', () => {
    const { vcpuFd } = freshVcpu();
    ok(vcpuFd.setXcrs({ nrXcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: 7n }] }));
    assert.equal(ok(vcpuFd.getXcrs()).xcrs[0]!.value, 7n);
    const leaf = ok(vcpuFd.getCpuid2(64)).find((e) => e.function === 0xd && e.index === 0);
    assert.equal(leaf?.ebx, 0x340, 'legacy area + header + 256 bytes of YMM_Hi128');
  });

  it('XCR0 without the x87 bit, or AVX without SSE, or a feature CPUID does not offer is EINVAL (XCR0 unchanged)', () => {
    const { vcpuFd } = freshVcpu();
    for (const value of [0n, 2n, 6n, 5n, 0x0fn, 0xe7n]) {
      expectErrno(
        vcpuFd.setXcrs({ nrXcrs: 1, flags: 0, xcrs: [{ xcr: 0, value }] }),
        'EINVAL',
        `XCR0 ${value}`,
      );
    }
    assert.equal(ok(vcpuFd.getXcrs()).xcrs[0]!.value, 1n);
    ok(vcpuFd.setXcrs({ nrXcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: 3n }] }));
    assert.equal(ok(vcpuFd.getXcrs()).xcrs[0]!.value, 3n);
  });

  it('flags or more than 16 XCRs are EINVAL', () => {
    const { vcpuFd } = freshVcpu();
    expectErrno(vcpuFd.setXcrs({ nrXcrs: 1, flags: 1, xcrs: [{ xcr: 0, value: 3n }] }), 'EINVAL');
    expectErrno(vcpuFd.setXcrs({ nrXcrs: 17, flags: 0, xcrs: [{ xcr: 0, value: 3n }] }), 'EINVAL');
    assert.equal(ok(vcpuFd.getXcrs()).xcrs[0]!.value, 1n);
  });
});

describe('KVM_GET_FPU / KVM_SET_FPU', () => {
  it('RESET: FCW 037F, MXCSR 1F80, everything else zero', () => {
    const { vcpuFd } = freshVcpu();
    const f = ok(vcpuFd.getFpu());
    assert.equal(f.fcw, 0x37f);
    assert.equal(f.mxcsr, 0x1f80);
    assert.deepEqual([f.fsw, f.ftwx, f.lastOpcode, f.lastIp, f.lastDp], [0, 0, 0, 0n, 0n]);
    assert.ok(f.fpr.every((b) => b === 0) && f.xmm.every((b) => b === 0));
  });

  it('round trip; the state is copied in and out (later changes to either buffer do not leak)', () => {
    const { vcpuFd } = freshVcpu();
    const fpu: KvmFpu = {
      fpr: Uint8Array.from({ length: 128 }, (_, i) => i),
      fcw: 0x27f,
      fsw: 0x4000,
      ftwx: 0x81,
      lastOpcode: 0x7df,
      lastIp: 0x40_1000n,
      lastDp: 0x60_2000n,
      xmm: Uint8Array.from({ length: 256 }, (_, i) => 255 - i),
      mxcsr: 0x9fc0,
    };
    ok(vcpuFd.setFpu(fpu));
    fpu.xmm[0] = 0;
    const back = ok(vcpuFd.getFpu());
    assert.equal(back.xmm[0], 255);
    assert.deepEqual({ ...back, xmm: [...back.xmm.subarray(1)] }, { ...fpu, xmm: [...fpu.xmm.subarray(1)] });
    back.fpr[0] = 0x77;
    assert.equal(ok(vcpuFd.getFpu()).fpr[0], 0);
  });
});
