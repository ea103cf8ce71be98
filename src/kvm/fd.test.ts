/**
 * The model's file descriptors (fd.ts): the argument checks and errnos of the system, VM and vCPU
 * ioctls that are not about the run loop — MSRs, CPUID, TSS / identity-map addresses, the in-kernel
 * irqchip's ioctls, KVM_INTERRUPT, MP state, KVM_ENABLE_CAP, the MSR filter, KVM_CHECK_EXTENSION
 * and KVM_CREATE_VM per core profile — and closed fds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GuestException } from '../cpu/scripted.js';
import { ScriptedGuests } from '../cpu/scripted-guests.js';
import {
  KVM_API_VERSION,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_CAP_MEMORY_FAULT_INFO,
  KVM_CAP_MULTI_ADDRESS_SPACE,
  KVM_CAP_NR_MEMSLOTS,
  KVM_CAP_VM_TYPES,
  KVM_CAP_X86_SMM,
  KVM_CAP_X86_USER_SPACE_MSR,
  KVM_X86_SEV_ES_VM,
} from '../uapi/caps.js';
import type { KvmCpuidEntry2 } from '../uapi/cpuid.js';
import {
  KVM_X86_GRP_SEV,
  KVM_X86_GRP_SYSTEM,
  KVM_X86_SEV_VMSA_FEATURES,
  KVM_X86_XCOMP_GUEST_SUPP,
} from '../uapi/device-attr.js';
import {
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_SIPI_RECEIVED,
} from '../uapi/irq.js';
import type { MsrFilterRangeSpec } from '../uapi/kvm-fd.js';
import { KVM_VCPU_MMAP_SIZE } from '../uapi/kvm-run.js';
import { APIC_ID, KVM_LAPIC_STATE_SIZE } from '../uapi/lapic.js';
import {
  KVM_MSR_FILTER_DEFAULT_ALLOW,
  KVM_MSR_FILTER_DEFAULT_DENY,
  KVM_MSR_FILTER_READ,
  KVM_MSR_FILTER_WRITE,
} from '../uapi/msr-filter.js';
import { KVM_VCPUEVENT_VALID_SIPI_VECTOR } from '../uapi/vcpu-events.js';
import { modelPlatform } from '../vmm/platform.js';
import { DEFAULT_CPUID } from './cpuid.js';
import { MODEL_TSC_KHZ, openKvm } from './fd.js';
import type { KvmOptions } from './kvm.js';
import { KVM_CORE_5_17, KVM_CORE_CURRENT } from './profile.js';
import { expectErrno, expectExit, expectFailed, guest, newVm, ok, region } from './test-util.js';

const cap = (c: number, arg0 = 0n, flags = 0) => ({ cap: c, flags, args: [arg0, 0n, 0n, 0n] });
const MSR_EFER = 0xc000_0080;
const MSR_LSTAR = 0xc000_0082;
const MSR_APICBASE = 0x1b;
const MSR_TSC = 0x10;

/** A VM and its vCPU 0 (the default CPU, with no code). */
function withVcpu(opts: KvmOptions = {}) {
  const env = newVm(opts);
  return { ...env, vcpuFd: ok(env.vmFd.createVcpu(0)) };
}

/** A range of KVM_X86_SET_MSR_FILTER with every MSR in it denied (or allowed). */
const range = (flags: number, base: number, nmsrs: number, allow = false): MsrFilterRangeSpec => ({
  flags,
  base,
  nmsrs,
  bitmap: new Uint8Array(Math.ceil(nmsrs / 64) * 8).fill(allow ? 0xff : 0),
});

describe('the system fd', () => {
  it('API version 12, the kvm_run mapping size, the TSC frequency, the MSR lists', () => {
    const kvm = openKvm();
    assert.equal(kvm.getApiVersion(), KVM_API_VERSION);
    assert.equal(KVM_API_VERSION, 12);
    assert.equal(ok(kvm.getVcpuMmapSize()), KVM_VCPU_MMAP_SIZE);
    const list = ok(kvm.getMsrIndexList());
    for (const msr of [MSR_TSC, MSR_APICBASE, MSR_EFER, MSR_LSTAR])
      assert.ok(list.includes(msr), msr.toString(16));
    assert.deepEqual(
      list,
      [...list].sort((a, b) => a - b),
    );
    assert.deepEqual(ok(kvm.getMsrFeatureIndexList()), [0x8b, 0x10a, 0xc001_1029]);
    const { vcpuFd } = withVcpu();
    assert.equal(ok(vcpuFd.getTscKhz()), MODEL_TSC_KHZ);
  });

  it('KVM_GET/HAS_DEVICE_ATTR on /dev/kvm: XCOMP_GUEST_SUPP, SEV_VMSA_FEATURES where the kernel has it, ENXIO otherwise', () => {
    const kvm = openKvm();
    assert.equal(ok(kvm.getDeviceAttr(KVM_X86_GRP_SYSTEM, KVM_X86_XCOMP_GUEST_SUPP)), kvm.kvm.supportedXcr0);
    assert.equal(kvm.hasDeviceAttr(KVM_X86_GRP_SYSTEM, KVM_X86_XCOMP_GUEST_SUPP), undefined);
    expectErrno(kvm.getDeviceAttr(KVM_X86_GRP_SYSTEM, 99), 'ENXIO');
    expectErrno(kvm.hasDeviceAttr(KVM_X86_GRP_SYSTEM, 99), 'ENXIO');
    // No vendor dev_get_attr in a bare Kvm: every other group is ENXIO.
    expectErrno(kvm.getDeviceAttr(KVM_X86_GRP_SEV, KVM_X86_SEV_VMSA_FEATURES), 'ENXIO');
    // SVM's sev_dev_get_attr (6.10+): the VMSA features KVM_SEV_INIT2 accepts (none modelled).
    const current = modelPlatform({ profile: 'current' }).kvm;
    assert.equal(ok(current.getDeviceAttr(KVM_X86_GRP_SEV, KVM_X86_SEV_VMSA_FEATURES)), 0n);
    expectErrno(current.getDeviceAttr(KVM_X86_GRP_SEV, 1), 'ENXIO');
    expectErrno(current.getDeviceAttr(2, 0), 'ENXIO');
    // v5.17: no dev_get_attr in kvm_x86_ops.
    const seed = modelPlatform({ profile: 'seed' }).kvm;
    expectErrno(seed.hasDeviceAttr(KVM_X86_GRP_SEV, KVM_X86_SEV_VMSA_FEATURES), 'ENXIO');
    assert.equal(
      ok(seed.getDeviceAttr(KVM_X86_GRP_SYSTEM, KVM_X86_XCOMP_GUEST_SUPP)),
      seed.kvm.supportedXcr0,
    );
  });

  it('KVM_GET_SUPPORTED_CPUID: E2BIG for room for 0 entries, or fewer than there are; a copy otherwise', () => {
    const kvm = openKvm();
    expectErrno(kvm.getSupportedCpuid(0), 'E2BIG');
    expectErrno(kvm.getSupportedCpuid(-1), 'E2BIG');
    expectErrno(kvm.getSupportedCpuid(DEFAULT_CPUID.length - 1), 'E2BIG');
    const all = ok(kvm.getSupportedCpuid(DEFAULT_CPUID.length));
    assert.deepEqual(all, DEFAULT_CPUID);
    all[0]!.eax = 0x1234;
    assert.deepEqual(ok(kvm.getSupportedCpuid(1000)), DEFAULT_CPUID, 'the caller got a copy');
  });

  it('KVM_CAP_MULTI_ADDRESS_SPACE is 2 with SMM (both profiles) and 0 without', () => {
    assert.equal(openKvm().checkExtension(KVM_CAP_MULTI_ADDRESS_SPACE), 2);
    assert.equal(openKvm({ core: KVM_CORE_5_17 }).checkExtension(KVM_CAP_MULTI_ADDRESS_SPACE), 2);
    const noSmm = openKvm({ core: { ...KVM_CORE_CURRENT, smm: false } });
    assert.equal(noSmm.checkExtension(KVM_CAP_MULTI_ADDRESS_SPACE), 0);
    assert.equal(noSmm.checkExtension(KVM_CAP_X86_SMM), 0);
    const vmFd = ok(openKvm().createVm());
    assert.equal(vmFd.checkExtension(KVM_CAP_MULTI_ADDRESS_SPACE), 2, 'the VM fd answers the same');
    assert.equal(vmFd.checkExtension(KVM_CAP_X86_SMM), 1);
  });

  it('KVM_CAP_VM_TYPES: the registered types as a bit mask today, 0 on 5.17', () => {
    const sevEs = {
      type: KVM_X86_SEV_ES_VM,
      init: () => ({ protectedState: true, sevEs: true, createVcpu: () => ({}) }),
    };
    assert.equal(openKvm({ vmTypes: [sevEs] }).checkExtension(KVM_CAP_VM_TYPES), 0b1001);
    assert.equal(openKvm({ core: KVM_CORE_5_17, vmTypes: [sevEs] }).checkExtension(KVM_CAP_VM_TYPES), 0);
  });

  it('KVM_CREATE_VM(3): EINVAL on 5.17 whatever is registered; today it needs the type registered', () => {
    const sevEs = {
      type: KVM_X86_SEV_ES_VM,
      init: () => ({ protectedState: true, sevEs: true, createVcpu: () => ({}) }),
    };
    expectErrno(openKvm({ core: KVM_CORE_5_17, vmTypes: [sevEs] }).createVm(KVM_X86_SEV_ES_VM), 'EINVAL');
    ok(openKvm({ core: KVM_CORE_5_17 }).createVm(0));
    expectErrno(openKvm().createVm(KVM_X86_SEV_ES_VM), 'EINVAL');
    const vmFd = ok(openKvm({ vmTypes: [sevEs] }).createVm(KVM_X86_SEV_ES_VM));
    assert.equal(vmFd.vm.type, KVM_X86_SEV_ES_VM);
    assert.equal(vmFd.vm.typeOps.protectedState, true);
  });
});

describe('KVM_GET_MSRS / KVM_SET_MSRS', () => {
  it('KVM_GET_MSRS returns the entries read, stopping at the first MSR KVM does not know', () => {
    const { vcpuFd } = withVcpu();
    const got = ok(vcpuFd.getMsrs([MSR_APICBASE, MSR_EFER, MSR_TSC, 0x1234_5678, MSR_LSTAR]));
    assert.deepEqual(got, [
      { index: MSR_APICBASE, data: 0xfee0_0900n },
      { index: MSR_EFER, data: 0n },
      { index: MSR_TSC, data: 0n },
    ]);
    assert.deepEqual(ok(vcpuFd.getMsrs([])), []);
  });

  it('KVM_SET_MSRS returns how many it wrote before the first it refused (an invalid EFER, an unknown MSR)', () => {
    const { vcpuFd } = withVcpu();
    assert.equal(
      ok(
        vcpuFd.setMsrs([
          { index: MSR_LSTAR, data: 0xffff_ffff_8100_0000n },
          { index: MSR_EFER, data: 1n << 63n },
          { index: MSR_TSC, data: 5n },
        ]),
      ),
      1,
    );
    assert.equal(
      ok(
        vcpuFd.setMsrs([
          { index: MSR_TSC, data: 5n },
          { index: 0x1234_5678, data: 0n },
        ]),
      ),
      1,
    );
    assert.equal(ok(vcpuFd.setMsrs([{ index: MSR_EFER, data: 0x501n }])), 1, 'SCE | LME | LMA are valid');
    assert.deepEqual(ok(vcpuFd.getMsrs([MSR_LSTAR, MSR_TSC, MSR_EFER])), [
      { index: MSR_LSTAR, data: 0xffff_ffff_8100_0000n },
      { index: MSR_TSC, data: 5n },
      { index: MSR_EFER, data: 0x501n },
    ]);
  });

  it('255 entries are fine; 256 (MAX_IO_MSRS) are E2BIG for both', () => {
    const { vcpuFd } = withVcpu();
    assert.deepEqual(
      ok(vcpuFd.getMsrs(new Array(255).fill(MSR_TSC))),
      new Array(255).fill({ index: MSR_TSC, data: 0n }),
    );
    expectErrno(vcpuFd.getMsrs(new Array(256).fill(MSR_TSC)), 'E2BIG');
    assert.equal(ok(vcpuFd.setMsrs(new Array(255).fill({ index: MSR_TSC, data: 1n }))), 255);
    expectErrno(vcpuFd.setMsrs(new Array(256).fill({ index: MSR_TSC, data: 2n })), 'E2BIG');
    assert.deepEqual(
      ok(vcpuFd.getMsrs([MSR_TSC])),
      [{ index: MSR_TSC, data: 1n }],
      'the E2BIG wrote nothing',
    );
  });
});

describe('KVM_SET_CPUID2 / KVM_GET_CPUID2', () => {
  const entry = (fn: number): KvmCpuidEntry2 => ({
    function: fn,
    index: 0,
    flags: 0,
    eax: fn,
    ebx: 0,
    ecx: 0,
    edx: 0,
  });

  it('256 entries (KVM_MAX_CPUID_ENTRIES) are accepted, 257 are E2BIG', () => {
    const { vcpuFd } = withVcpu();
    const table = Array.from({ length: 256 }, (_, i) => entry(0x4000_0000 + i));
    ok(vcpuFd.setCpuid2(table));
    assert.deepEqual(ok(vcpuFd.getCpuid2(256)), table);
    expectErrno(vcpuFd.setCpuid2(Array.from({ length: 257 }, (_, i) => entry(i))), 'E2BIG');
    assert.deepEqual(ok(vcpuFd.getCpuid2(256)), table, 'the E2BIG changed nothing');
  });

  it('KVM_GET_CPUID2 is E2BIG when the table does not fit, and carries the runtime bits', () => {
    const { vcpuFd } = withVcpu();
    expectErrno(vcpuFd.getCpuid2(DEFAULT_CPUID.length - 1), 'E2BIG');
    expectErrno(vcpuFd.getCpuid2(0), 'E2BIG');
    const table = ok(vcpuFd.getCpuid2(DEFAULT_CPUID.length));
    assert.deepEqual(
      table.map((e) => [e.function, e.index]),
      DEFAULT_CPUID.map((e) => [e.function, e.index]),
      'the default table, leaf for leaf',
    );
    const leaf1 = table.find((e) => e.function === 1)!;
    assert.ok(leaf1.edx & (1 << 9), 'EDX.APIC follows the enabled APIC-base MSR');
    const s = ok(vcpuFd.getSregs());
    ok(vcpuFd.setSregs({ ...s, apicBase: 0xfee0_0000n })); // APIC disabled
    assert.equal(ok(vcpuFd.getCpuid2(64)).find((e) => e.function === 1)!.edx & (1 << 9), 0);
  });

  it('before the vCPU ran any table goes; after, only the one it has (EINVAL for a change)', () => {
    const { vcpuFd } = guest(function* (cpu) {
      yield* cpu.hlt();
    });
    const changed = DEFAULT_CPUID.map((e) => (e.function === 0 ? { ...e, eax: 0x10 } : { ...e }));
    ok(vcpuFd.setCpuid2(changed), 'not run yet');
    ok(vcpuFd.setCpuid2(DEFAULT_CPUID));
    expectExit(vcpuFd, 'Hlt');
    expectErrno(vcpuFd.setCpuid2(changed), 'EINVAL');
    expectErrno(vcpuFd.setCpuid2(DEFAULT_CPUID.slice(1)), 'EINVAL', 'an entry fewer');
    expectErrno(vcpuFd.setCpuid2([...DEFAULT_CPUID].reverse()), 'EINVAL', 'another order');
    ok(vcpuFd.setCpuid2(DEFAULT_CPUID), 'the same table');
    ok(vcpuFd.setCpuid2(ok(vcpuFd.getCpuid2(64))), 'the same table with its runtime bits');
    assert.equal(ok(vcpuFd.getCpuid2(64)).find((e) => e.function === 0)!.eax, 0xd);
  });
});

describe('VM ioctls: addresses, the irqchip, KVM_INTERRUPT, the LAPIC', () => {
  it('KVM_SET_TSS_ADDR: up to 0xffff_d000 (its three pages end at 4 GiB); above is EINVAL', () => {
    const { vmFd } = newVm();
    ok(vmFd.setTssAddress(0xfffb_d000));
    ok(vmFd.setTssAddress(0xffff_d000));
    expectErrno(vmFd.setTssAddress(0xffff_d001), 'EINVAL');
    expectErrno(vmFd.setTssAddress(0xffff_f000), 'EINVAL');
    expectErrno(vmFd.setTssAddress(-1), 'EINVAL');
  });

  it('KVM_SET_IDENTITY_MAP_ADDR: fine before any vCPU, EINVAL once one exists', () => {
    const { vmFd } = newVm();
    ok(vmFd.setIdentityMapAddress(0xfeff_c000n));
    ok(vmFd.createVcpu(0));
    expectErrno(vmFd.setIdentityMapAddress(0xfeff_c000n), 'EINVAL');
  });

  it('KVM_CREATE_IRQCHIP: a second one is EEXIST; after KVM_CREATE_VCPU it is EINVAL', () => {
    const a = newVm();
    ok(a.vmFd.createIrqchip());
    expectErrno(a.vmFd.createIrqchip(), 'EEXIST');
    const b = newVm();
    ok(b.vmFd.createVcpu(0));
    expectErrno(b.vmFd.createIrqchip(), 'EINVAL');
    assert.equal(b.vm.irqchip, undefined);
  });

  it('without an in-kernel irqchip: KVM_IRQ_LINE, KVM_GET/SET_IRQCHIP are ENXIO; KVM_GET/SET_LAPIC EINVAL', () => {
    const { vmFd, vcpuFd } = withVcpu();
    expectErrno(vmFd.irqLine(4, 1), 'ENXIO');
    expectErrno(vmFd.getIrqchip(KVM_IRQCHIP_IOAPIC), 'ENXIO');
    expectErrno(vmFd.setIrqchip({ chipId: KVM_IRQCHIP_IOAPIC, chip: new Uint8Array(512) }), 'ENXIO');
    expectErrno(vcpuFd.getLapic(), 'EINVAL');
    expectErrno(vcpuFd.setLapic({ regs: new Uint8Array(KVM_LAPIC_STATE_SIZE) }), 'EINVAL');
  });

  it('with one: KVM_INTERRUPT is ENXIO; KVM_GET/SET_IRQCHIP of chip 3 EINVAL; a short LAPIC state EFAULT', () => {
    const { vmFd } = newVm();
    ok(vmFd.createIrqchip());
    const vcpuFd = ok(vmFd.createVcpu(5));
    expectErrno(vcpuFd.interrupt(0x30), 'ENXIO');
    expectErrno(vcpuFd.interrupt(256), 'EINVAL', 'the vector is checked first');
    expectErrno(vmFd.getIrqchip(3), 'EINVAL');
    expectErrno(vmFd.setIrqchip({ chipId: 3, chip: new Uint8Array(512) }), 'EINVAL');
    ok(vmFd.getIrqchip(KVM_IRQCHIP_PIC_MASTER));
    const lapic = ok(vcpuFd.getLapic());
    assert.equal(lapic.regs.length, KVM_LAPIC_STATE_SIZE);
    assert.equal(new DataView(lapic.regs.buffer).getUint32(APIC_ID, true), 5 << 24, 'APIC ID = vCPU id');
    expectErrno(vcpuFd.setLapic({ regs: new Uint8Array(KVM_LAPIC_STATE_SIZE - 1) }), 'EFAULT');
    lapic.regs[0x80] = 0x20; // TPR
    ok(vcpuFd.setLapic(lapic));
    assert.equal(ok(vcpuFd.getLapic()).regs[0x80], 0x20);
  });

  it('KVM_NMI queues NMIs, at most two pending', () => {
    const { vcpuFd } = withVcpu();
    for (let i = 0; i < 3; i++) ok(vcpuFd.nmi());
    assert.equal(ok(vcpuFd.getVcpuEvents()).nmi.pending, 2);
  });
});

describe('KVM_GET/SET_MP_STATE', () => {
  it('without an in-kernel APIC only RUNNABLE is accepted', () => {
    const { vcpuFd } = withVcpu();
    assert.equal(ok(vcpuFd.getMpState()), KVM_MP_STATE_RUNNABLE);
    expectErrno(vcpuFd.setMpState(KVM_MP_STATE_HALTED), 'EINVAL');
    expectErrno(vcpuFd.setMpState(KVM_MP_STATE_INIT_RECEIVED), 'EINVAL');
    ok(vcpuFd.setMpState(KVM_MP_STATE_RUNNABLE));
    assert.equal(ok(vcpuFd.getMpState()), KVM_MP_STATE_RUNNABLE);
  });

  it("with one: the x86 states (RUNNABLE, UNINITIALIZED, INIT/SIPI_RECEIVED, HALTED, AP_RESET_HOLD); the other architectures' are EINVAL", () => {
    const { vmFd } = newVm();
    ok(vmFd.createIrqchip());
    const vcpuFd = ok(vmFd.createVcpu(0));
    ok(vcpuFd.setMpState(KVM_MP_STATE_HALTED));
    assert.equal(ok(vcpuFd.getMpState()), KVM_MP_STATE_HALTED);
    ok(vcpuFd.setMpState(KVM_MP_STATE_AP_RESET_HOLD));
    assert.equal(ok(vcpuFd.getMpState()), KVM_MP_STATE_AP_RESET_HOLD);
    // STOPPED, CHECK_STOP, OPERATING, LOAD (s390), SUSPENDED (arm64), and past the last.
    for (const state of [5, 6, 7, 8, 10, 11])
      expectErrno(vcpuFd.setMpState(state), 'EINVAL', `state ${state}`);
    assert.equal(ok(vcpuFd.getMpState()), KVM_MP_STATE_AP_RESET_HOLD);
  });

  it('SIPI_RECEIVED becomes INIT_RECEIVED with the SIPI pending; the next KVM_RUN starts the vCPU at vector << 12', () => {
    const guests = new ScriptedGuests();
    guests.load(0, {
      program: function* (cpu) {
        yield* cpu.hlt();
      },
    });
    const { vmFd } = newVm({ cpus: guests.cpus });
    ok(vmFd.createIrqchip());
    const vcpuFd = ok(vmFd.createVcpu(0));
    const ev = ok(vcpuFd.getVcpuEvents());
    ok(vcpuFd.setVcpuEvents({ ...ev, flags: ev.flags | KVM_VCPUEVENT_VALID_SIPI_VECTOR, sipiVector: 0x9a }));
    ok(vcpuFd.setMpState(KVM_MP_STATE_SIPI_RECEIVED));
    // KVM_GET_MP_STATE takes pending INIT/SIPI first (kvm_apic_accept_events): the SIPI is delivered now.
    assert.equal(ok(vcpuFd.getMpState()), KVM_MP_STATE_RUNNABLE);
    assert.equal(ok(vcpuFd.getSregs()).cs.selector, 0x9a00);
    // The vCPU runs its HLT at 9A00:0000 and waits in the kernel (EINTR, KVM_EXIT_INTR).
    assert.equal(expectFailed(vcpuFd, 'EINTR').left.kind, 'Intr');
    const s = ok(vcpuFd.getSregs());
    assert.equal(s.cs.selector, 0x9a00);
    assert.equal(s.cs.base, 0x9_a000n);
    assert.equal(ok(vcpuFd.getRegs()).rip, 1n, 'past the HLT at IP 0');
    assert.equal(ok(vcpuFd.getMpState()), KVM_MP_STATE_HALTED);
  });
});

describe('KVM_ENABLE_CAP', () => {
  it('non-zero flags are EINVAL, on the VM fd and on the vCPU fd', () => {
    const { vmFd, vcpuFd } = withVcpu();
    expectErrno(vmFd.enableCap(cap(KVM_CAP_X86_USER_SPACE_MSR, 1n, 1)), 'EINVAL');
    expectErrno(vcpuFd.enableCap(cap(KVM_CAP_X86_USER_SPACE_MSR, 1n, 1)), 'EINVAL');
    expectErrno(
      vcpuFd.enableCap(cap(KVM_CAP_X86_USER_SPACE_MSR, 1n)),
      'EINVAL',
      'no vCPU capability is modelled',
    );
  });

  it('KVM_CAP_X86_USER_SPACE_MSR: reasons beyond INVAL | UNKNOWN | FILTER are EINVAL today, stored by 5.17', () => {
    const cur = newVm();
    ok(cur.vmFd.enableCap(cap(KVM_CAP_X86_USER_SPACE_MSR, 7n)));
    assert.equal(cur.vm.userSpaceMsrMask, 7);
    expectErrno(cur.vmFd.enableCap(cap(KVM_CAP_X86_USER_SPACE_MSR, 8n)), 'EINVAL');
    expectErrno(cur.vmFd.enableCap(cap(KVM_CAP_X86_USER_SPACE_MSR, 1n << 32n)), 'EINVAL');
    assert.equal(cur.vm.userSpaceMsrMask, 7, 'unchanged');
    const old = newVm({ core: KVM_CORE_5_17 });
    ok(old.vmFd.enableCap(cap(KVM_CAP_X86_USER_SPACE_MSR, 0xfn)));
    assert.equal(old.vm.userSpaceMsrMask, 0xf);
  });

  it('KVM_CAP_EXIT_HYPERCALL takes only KVM_HC_MAP_GPA_RANGE (bit 12), as KVM_CHECK_EXTENSION says', () => {
    const { kvmFd, vmFd, vm } = newVm();
    assert.equal(kvmFd.checkExtension(KVM_CAP_EXIT_HYPERCALL), 1 << 12);
    ok(vmFd.enableCap(cap(KVM_CAP_EXIT_HYPERCALL, 1n << 12n)));
    assert.equal(vm.exitHypercalls, 1 << 12);
    expectErrno(vmFd.enableCap(cap(KVM_CAP_EXIT_HYPERCALL, 1n << 11n)), 'EINVAL');
    expectErrno(vmFd.enableCap(cap(KVM_CAP_EXIT_HYPERCALL, (1n << 12n) | 1n)), 'EINVAL');
    ok(vmFd.enableCap(cap(KVM_CAP_EXIT_HYPERCALL, 0n)));
    assert.equal(vm.exitHypercalls, 0);
  });

  it('KVM_CAP_MEMORY_FAULT_INFO is reported, not enabled (EINVAL); an unknown capability is EINVAL', () => {
    const { kvmFd, vmFd } = newVm();
    assert.equal(kvmFd.checkExtension(KVM_CAP_MEMORY_FAULT_INFO), 1);
    expectErrno(vmFd.enableCap(cap(KVM_CAP_MEMORY_FAULT_INFO, 1n)), 'EINVAL');
    expectErrno(vmFd.enableCap(cap(KVM_CAP_NR_MEMSLOTS)), 'EINVAL');
    expectErrno(vmFd.enableCap(cap(99_999)), 'EINVAL');
  });
});

describe('KVM_X86_SET_MSR_FILTER', () => {
  it('more than 16 ranges are E2BIG', () => {
    const { vmFd, vm } = newVm();
    const ranges = Array.from({ length: 17 }, (_, i) => range(KVM_MSR_FILTER_READ, i * 8, 8));
    expectErrno(vmFd.setMsrFilter({ flags: 0, ranges }), 'E2BIG');
    ok(vmFd.setMsrFilter({ flags: 0, ranges: ranges.slice(0, 16) }));
    assert.deepEqual(
      vm.msrFilter?.ranges.map((r) => [r.base, r.nmsrs]),
      Array.from({ length: 16 }, (_, i) => [i * 8, 8]),
      'the first 16 ranges, in order',
    );
  });

  it('unknown filter flags are EINVAL today and taken by 5.17', () => {
    expectErrno(newVm().vmFd.setMsrFilter({ flags: 2, ranges: [] }), 'EINVAL');
    ok(newVm({ core: KVM_CORE_5_17 }).vmFd.setMsrFilter({ flags: 2, ranges: [] }));
  });

  it('DEFAULT_DENY with no range in use (nmsrs 0 ranges do not count) is EINVAL', () => {
    const { vmFd, vm } = newVm();
    expectErrno(vmFd.setMsrFilter({ flags: KVM_MSR_FILTER_DEFAULT_DENY, ranges: [] }), 'EINVAL');
    expectErrno(
      vmFd.setMsrFilter({ flags: KVM_MSR_FILTER_DEFAULT_DENY, ranges: [range(KVM_MSR_FILTER_READ, 0, 0)] }),
      'EINVAL',
    );
    assert.equal(vm.msrFilter, undefined);
    ok(vmFd.setMsrFilter({ flags: KVM_MSR_FILTER_DEFAULT_ALLOW, ranges: [] }));
  });

  it('a used range needs READ and/or WRITE and nothing else, and at most 0x600 bitmap bytes; a short bitmap is EFAULT', () => {
    const { vmFd } = newVm();
    const set = (r: MsrFilterRangeSpec) => vmFd.setMsrFilter({ flags: 0, ranges: [r] });
    expectErrno(set(range(0, 0, 8)), 'EINVAL');
    expectErrno(set(range(4, 0, 8)), 'EINVAL');
    expectErrno(set(range(KVM_MSR_FILTER_READ | 4, 0, 8)), 'EINVAL');
    ok(set(range(KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE, 0, 8)));
    ok(set(range(KVM_MSR_FILTER_READ, 0, 0x600 * 8)));
    expectErrno(set(range(KVM_MSR_FILTER_READ, 0, 0x600 * 8 + 1)), 'EINVAL');
    expectErrno(set({ flags: KVM_MSR_FILTER_READ, base: 0, nmsrs: 17, bitmap: new Uint8Array(2) }), 'EFAULT');
    // The kernel copies BITS_TO_LONGS(nmsrs) longs: one MSR still needs 8 bytes.
    expectErrno(set({ flags: KVM_MSR_FILTER_READ, base: 0, nmsrs: 1, bitmap: new Uint8Array(1) }), 'EFAULT');
    ok(set({ flags: KVM_MSR_FILTER_READ, base: 0, nmsrs: 1, bitmap: new Uint8Array(8) }));
    ok(set({ flags: 0, base: 0, nmsrs: 0, bitmap: new Uint8Array(0) }), 'an unused range is not checked');
  });

  it('the filter decides in the guest: default deny with an allowed range; the bitmap is copied in', () => {
    const { vmFd, vcpuFd, cpu } = guest(function* (cpu) {
      for (const [note, index] of [
        ['tsc', MSR_TSC],
        ['apic', MSR_APICBASE],
      ] as const) {
        try {
          cpu.notes[note] = yield* cpu.rdmsr(index);
        } catch (e) {
          cpu.notes[note] = `#${(e as GuestException).vector}`;
        }
      }
      yield* cpu.hlt();
    });
    const allowed = new Uint8Array(8); // one long, as the kernel copies it
    allowed[0] = 0b1; // MSR 0x1b only
    ok(
      vmFd.setMsrFilter({
        flags: KVM_MSR_FILTER_DEFAULT_DENY,
        ranges: [{ flags: KVM_MSR_FILTER_READ, base: MSR_APICBASE, nmsrs: 1, bitmap: allowed }],
      }),
    );
    allowed[0] = 0; // too late: KVM copied the bitmap
    expectExit(vcpuFd, 'Hlt');
    assert.deepEqual(cpu.notes, { tsc: '#13', apic: 0xfee0_0900n });
  });
});

describe('closed fds are EBADF', () => {
  it('the system fd', () => {
    const kvm = openKvm();
    kvm.close();
    expectErrno(kvm.createVm(), 'EBADF');
    expectErrno(kvm.getVcpuMmapSize(), 'EBADF');
  });

  it('the system fd: every ioctl, KVM_GET_SUPPORTED_CPUID and the MSR lists too', () => {
    const kvm = openKvm();
    kvm.close();
    expectErrno(kvm.getSupportedCpuid(64), 'EBADF');
    expectErrno(kvm.getMsrIndexList(), 'EBADF');
    expectErrno(kvm.getMsrFeatureIndexList(), 'EBADF');
    expectErrno(kvm.getDeviceAttr(KVM_X86_GRP_SYSTEM, KVM_X86_XCOMP_GUEST_SUPP), 'EBADF');
    expectErrno(kvm.hasDeviceAttr(KVM_X86_GRP_SYSTEM, KVM_X86_XCOMP_GUEST_SUPP), 'EBADF');
  });

  it('a VM fd: every VM ioctl', () => {
    const { vmFd } = newVm();
    vmFd.close();
    expectErrno(vmFd.setUserMemoryRegion(region({ slot: 0, size: 4096 })), 'EBADF');
    expectErrno(vmFd.setUserMemoryRegion2(region({ slot: 0, size: 4096 })), 'EBADF');
    expectErrno(vmFd.getDirtyLog(0), 'EBADF');
    expectErrno(
      vmFd.clearDirtyLog({ slot: 0, firstPage: 0, numPages: 0, bitmap: new Uint8Array(8) }),
      'EBADF',
    );
    expectErrno(vmFd.enableCap(cap(KVM_CAP_X86_USER_SPACE_MSR, 1n)), 'EBADF');
    expectErrno(vmFd.setMsrFilter({ flags: 0, ranges: [] }), 'EBADF');
    expectErrno(vmFd.createGuestMemfd(4096n), 'EBADF');
    expectErrno(vmFd.createVcpu(0), 'EBADF');
    expectErrno(vmFd.setTssAddress(0), 'EBADF');
    expectErrno(vmFd.setIdentityMapAddress(0n), 'EBADF');
    expectErrno(vmFd.createIrqchip(), 'EBADF');
    expectErrno(vmFd.irqLine(0, 1), 'EBADF');
    expectErrno(vmFd.getIrqchip(0), 'EBADF');
    expectErrno(vmFd.setIrqchip({ chipId: 0, chip: new Uint8Array(512) }), 'EBADF');
    expectErrno(vmFd.memoryEncryptOp({ id: 0, data: 0n, error: 0, sevFd: -1 }), 'EBADF');
  });

  it('a vCPU fd: every vCPU ioctl, KVM_RUN too (runRaw: -EBADF)', () => {
    const { vcpuFd } = withVcpu();
    vcpuFd.close();
    const f = vcpuFd.run();
    assert.ok(f.kind === 'Failed' && f.error.errno === 'EBADF');
    assert.equal(vcpuFd.runRaw(), -9);
    expectErrno(vcpuFd.getRegs(), 'EBADF');
    expectErrno(vcpuFd.getSregs(), 'EBADF');
    expectErrno(vcpuFd.getMsrs([MSR_TSC]), 'EBADF');
    expectErrno(vcpuFd.setMsrs([{ index: MSR_TSC, data: 0n }]), 'EBADF');
    expectErrno(vcpuFd.setCpuid2(DEFAULT_CPUID), 'EBADF');
    expectErrno(vcpuFd.getCpuid2(64), 'EBADF');
    expectErrno(vcpuFd.getFpu(), 'EBADF');
    expectErrno(vcpuFd.getXcrs(), 'EBADF');
    expectErrno(vcpuFd.getVcpuEvents(), 'EBADF');
    expectErrno(vcpuFd.getMpState(), 'EBADF');
    expectErrno(vcpuFd.setMpState(0), 'EBADF');
    expectErrno(vcpuFd.interrupt(0x30), 'EBADF');
    expectErrno(vcpuFd.nmi(), 'EBADF');
    expectErrno(vcpuFd.getLapic(), 'EBADF');
    expectErrno(vcpuFd.enableCap(cap(1)), 'EBADF');
    expectErrno(vcpuFd.getTscKhz(), 'EBADF');
  });

  it('a dead VM (destroyed, as after a kernel oops): the VM and vCPU ioctls are EIO', () => {
    const { vm, vmFd, vcpuFd } = withVcpu();
    vm.destroy();
    expectErrno(vmFd.createIrqchip(), 'EIO');
    expectErrno(vcpuFd.getRegs(), 'EIO');
    expectErrno(vcpuFd.setMsrs([]), 'EIO');
    expectFailed(vcpuFd, 'EIO');
  });

  it('closing the VM fd while a vCPU fd is open keeps the VM: KVM_RUN still works', () => {
    const { vmFd, vcpuFd } = guest(function* (cpu) {
      yield* cpu.out(0x80, 1, 1);
    });
    vmFd.close();
    expectExit(vcpuFd, 'IoOut');
  });
});
