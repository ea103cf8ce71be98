/**
 * KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM and KVM_CAP_VM_COPY_ENC_CONTEXT_FROM (migrate.ts; Linux 6.12's
 * sev_vm_move_enc_context_from, sev_vm_copy_enc_context_from, the mirror check of
 * sev_mem_enc_ioctl and sev_vm_destroy), as the selftest sev_migrate_tests drives them, and a moved
 * or mirrored context running its guest on the x86 interpreter.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelVcpuFd, ModelVmFd } from '../kvm/fd.js';
import { ok } from '../kvm/test-util.js';
import {
  KVM_CAP_VM_COPY_ENC_CONTEXT_FROM,
  KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM,
  KVM_X86_DEFAULT_VM,
  KVM_X86_SEV_VM,
} from '../uapi/caps.js';
import { Errno } from '../uapi/errno.js';
import { DEFAULT_CBIT } from '../uapi/ghcb.js';
import { SEV_GSTATE_LUPDATE, SEV_POLICY_ES } from '../uapi/psp-sev.js';
import {
  decodeSevGuestStatus,
  encodeSevInit,
  encodeSevLaunchStart,
  encodeSevUaddrLen,
  KVM_SEV_DBG_DECRYPT,
  KVM_SEV_DBG_ENCRYPT,
  KVM_SEV_ES_INIT,
  KVM_SEV_GUEST_STATUS,
  KVM_SEV_GUEST_STATUS_SIZE,
  KVM_SEV_INIT,
  KVM_SEV_INIT2,
  KVM_SEV_LAUNCH_FINISH,
  KVM_SEV_LAUNCH_MEASURE,
  KVM_SEV_LAUNCH_START,
  KVM_SEV_LAUNCH_UPDATE_DATA,
  KVM_SEV_LAUNCH_UPDATE_VMSA,
  KVM_SEV_NR_MAX,
  newContextLaunchStart,
} from '../uapi/sev-cmd.js';
import { setLongModeEntry } from '../vmm/long-mode-entry.js';
import { type ModelPlatform, modelPlatform } from '../vmm/platform.js';

type Profile = 'current' | 'prefix' | 'seed';
const NR_VCPUS = 4;

function errno(r: unknown): string {
  assert.ok(r instanceof Errno, `expected an errno, got ${String(r)}`);
  return r.errno;
}

/** A platform with the selftest's helpers: sev_vm_create, aux_vm_create, migrate and mirror. */
function host(profile: Profile = 'current', cpu: 'scripted' | 'x86' = 'scripted') {
  const p = modelPlatform({ profile, cpu });
  const arg = ok(p.memory.mapAnonymous(0x1000));
  const sevFd = p.openSevDevice();
  const op = (vm: ModelVmFd, id: number, struct?: Uint8Array) => {
    if (struct) ok(p.memory.write(arg, struct));
    return vm.memoryEncryptOp({ id, data: struct ? BigInt(arg) : 0n, error: 0, sevFd });
  };
  const barebones = (type = KVM_X86_DEFAULT_VM) => ok(p.kvm.createVm(type)) as ModelVmFd;
  const vcpuFds = new Map<ModelVmFd, ModelVcpuFd[]>();
  const addVcpus = (vm: ModelVmFd, n = NR_VCPUS) => {
    const out: ModelVcpuFd[] = [];
    for (let i = 0; i < n; i++) out.push(ok(vm.createVcpu(i)) as ModelVcpuFd);
    vcpuFds.set(vm, [...(vcpuFds.get(vm) ?? []), ...out]);
    return out;
  };
  /** kvm_vm_free: every vCPU fd, then the VM fd. */
  const free = (vm: ModelVmFd) => {
    for (const v of vcpuFds.get(vm) ?? []) v.close();
    vm.close();
  };
  /** sev_vm_create: KVM_SEV_INIT or ES_INIT, 4 vCPUs, sev_vm_launch (START, and UPDATE_VMSA for SEV-ES). */
  const sevVm = (es: boolean) => {
    const vm = barebones();
    ok(op(vm, es ? KVM_SEV_ES_INIT : KVM_SEV_INIT));
    const vcpus = addVcpus(vm);
    ok(op(vm, KVM_SEV_LAUNCH_START, encodeSevLaunchStart(newContextLaunchStart(es ? SEV_POLICY_ES : 0))));
    if (es) ok(op(vm, KVM_SEV_LAUNCH_UPDATE_VMSA));
    return { vm, vcpus };
  };
  const aux = (withVcpus: boolean) => {
    const vm = barebones();
    if (withVcpus) addVcpus(vm);
    return vm;
  };
  const enable = (dst: ModelVmFd, cap: number, fd: number, flags = 0) =>
    dst.enableCap({ cap, flags, args: [BigInt(fd), 0n, 0n, 0n] });
  const migrate = (dst: ModelVmFd, src: ModelVmFd) => enable(dst, KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM, src.fd);
  const mirror = (dst: ModelVmFd, src: ModelVmFd) => enable(dst, KVM_CAP_VM_COPY_ENC_CONTEXT_FROM, src.fd);
  const status = (vm: ModelVmFd) => {
    const r = op(vm, KVM_SEV_GUEST_STATUS, new Uint8Array(KVM_SEV_GUEST_STATUS_SIZE));
    if (r instanceof Errno) return r;
    const b = new Uint8Array(KVM_SEV_GUEST_STATUS_SIZE);
    ok(p.memory.read(arg, b));
    return decodeSevGuestStatus(b);
  };
  return { p, op, barebones, addVcpus, free, sevVm, aux, enable, migrate, mirror, status, sevFd };
}

/** The kvm_sev_info behind a VM fd (KVM-internal). */
const sevOf = (vm: ModelVmFd) =>
  vm.vm.typeOps as unknown as {
    active: boolean;
    esActive: boolean;
    launch: { asid: number; handle: number; fd: number };
    mirrorVms: unknown[];
    encContextOwner: unknown;
  };

describe('the capabilities', () => {
  for (const profile of ['current', 'prefix', 'seed'] as const)
    it(`[${profile}] KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM and KVM_CAP_VM_COPY_ENC_CONTEXT_FROM are 1 (x86.c lists both since 5.16)`, () => {
      const h = host(profile);
      assert.equal(h.p.kvm.checkExtension(KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM), 1);
      assert.equal(h.p.kvm.checkExtension(KVM_CAP_VM_COPY_ENC_CONTEXT_FROM), 1);
    });

  it('every VM fd has a number in the process fd table; closing it frees the number', () => {
    const h = host();
    const a = h.barebones();
    const b = h.barebones();
    assert.notEqual(a.fd, b.fd);
    assert.equal(h.p.kvm.kvm.fds.file(a.fd), a);
    a.close();
    assert.equal(h.p.kvm.kvm.fds.file(a.fd), undefined);
  });
});

describe('KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM: errors', () => {
  it('flags: EINVAL; an fd never opened, a closed VM fd, /dev/sev: EBADF (move and copy alike)', () => {
    const h = host();
    const closed = h.barebones();
    closed.close();
    for (const cap of [KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM, KVM_CAP_VM_COPY_ENC_CONTEXT_FROM]) {
      const { vm: src } = h.sevVm(false);
      const target = h.aux(cap === KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM);
      assert.equal(errno(h.enable(target, cap, src.fd, 1)), 'EINVAL');
      assert.equal(errno(h.enable(target, cap, 4321)), 'EBADF');
      assert.equal(errno(h.enable(target, cap, closed.fd)), 'EBADF');
      assert.equal(errno(h.enable(target, cap, h.sevFd)), 'EBADF');
      // The fd is an unsigned int: the upper half of args[0] is dropped.
      ok(target.enableCap({ cap, flags: 0, args: [(1n << 32n) | BigInt(src.fd), 0n, 0n, 0n] }));
    }
  });

  it('test_sev_migrate_parameters: no SEV source, SEV or SEV-ES destination, vCPU counts, no VMSA: EINVAL', () => {
    const h = host();
    const vmNoVcpu = h.barebones();
    const vmNoSev = h.aux(true);
    assert.equal(errno(h.migrate(vmNoVcpu, vmNoSev)), 'EINVAL');
    const sev = h.sevVm(false).vm;
    const sevEs = h.sevVm(true).vm;
    const noVmsa = h.barebones();
    ok(h.op(noVmsa, KVM_SEV_ES_INIT));
    ok(noVmsa.createVcpu(1));
    assert.equal(errno(h.migrate(sev, sevEs)), 'EINVAL', 'destination already SEV');
    assert.equal(errno(h.migrate(sevEs, sev)), 'EINVAL', 'destination already SEV-ES');
    assert.equal(errno(h.migrate(vmNoVcpu, sevEs)), 'EINVAL', 'SEV-ES: 0 vCPUs against 4');
    const oneVcpu = h.aux(false);
    ok(oneVcpu.createVcpu(0));
    assert.equal(errno(h.migrate(oneVcpu, noVmsa)), 'EINVAL', 'SEV-ES: no LAUNCH_UPDATE_VMSA');
    assert.equal(errno(h.migrate(sev, sev)), 'EINVAL', 'the VM itself');
    // None of these changed anything: the sources still move.
    ok(h.migrate(vmNoVcpu, sev));
    assert.equal(sevOf(vmNoVcpu).active, true);
  });

  it('[current] VM types must match: a KVM_X86_SEV_VM source into a KVM_X86_DEFAULT_VM is EINVAL', () => {
    const h = host();
    const src = h.barebones(KVM_X86_SEV_VM);
    ok(h.op(src, KVM_SEV_INIT2, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 0 })));
    assert.equal(errno(h.migrate(h.barebones(), src)), 'EINVAL');
    ok(h.migrate(h.barebones(KVM_X86_SEV_VM), src));
  });

  it('after a move the source is dead: every ioctl EIO, migrating back into it EIO (test_sev_migrate_from)', () => {
    const h = host();
    const { vm: src, vcpus } = h.sevVm(false);
    const dst = h.aux(true);
    ok(h.migrate(dst, src));
    assert.equal(errno(h.migrate(src, dst)), 'EIO');
    assert.equal(errno(src.createVcpu(9)), 'EIO');
    assert.equal(errno(vcpus[0]!.getRegs()), 'EIO');
    const run = vcpus[0]!.run();
    assert.ok(run.kind === 'Failed' && run.error.errno === 'EIO');
    // The source gave its context away: moving out of it again is EINVAL, not a second copy.
    assert.equal(errno(h.migrate(h.aux(true), src)), 'EINVAL');
  });
});

describe('KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM: what moves', () => {
  for (const es of [false, true])
    it(`${es ? 'SEV-ES' : 'SEV'}: ASID and handle move along a chain of VMs; the firmware context survives; the last VM's close frees the ASID`, () => {
      const h = host();
      const { vm: src } = h.sevVm(es);
      const { asid, handle } = { ...sevOf(src).launch };
      const dsts = [h.aux(true), h.aux(true), h.aux(true)];
      ok(h.migrate(dsts[0]!, src));
      ok(h.migrate(dsts[1]!, dsts[0]!));
      ok(h.migrate(dsts[2]!, dsts[1]!));
      const last = sevOf(dsts[2]!);
      assert.deepEqual(
        { active: last.active, es: last.esActive, asid: last.launch.asid, handle: last.launch.handle },
        { active: true, es, asid, handle },
      );
      assert.deepEqual(
        { ...sevOf(src).launch, active: sevOf(src).active },
        {
          ...sevOf(src).launch,
          asid: 0,
          handle: 0,
          active: false,
        },
      );
      const v = dsts[2]!.vm.vcpus.get(3)!;
      assert.equal(v.vmcb.asid, asid, 'sev_init_vmcb on the destination vCPUs');
      assert.equal(v.guestStateProtected, es);
      assert.equal(v.backend.protectedState, es);
      // sev->fd stays behind (sev_migrate_from does not copy it): GUEST_STATUS goes through fd 0.
      assert.equal(errno(h.status(dsts[2]!)), 'EBADF');
      for (const d of [src, dsts[0]!, dsts[1]!]) h.free(d);
      const guests = h.p.psp.platformStatus().guestCount;
      assert.ok(guests >= 1);
      h.free(dsts[2]!);
      assert.equal(h.p.psp.platformStatus().guestCount, guests - 1, 'DECOMMISSION at the owner’s end');
      // The ASID is free again: a new VM of the same kind gets it.
      const again = h.sevVm(es).vm;
      assert.equal(sevOf(again).launch.asid, asid);
    });

  it('[prefix] a source with mirrors: EBUSY; once the mirror is gone it moves', () => {
    const h = host('prefix');
    const { vm: src } = h.sevVm(false);
    const m = h.aux(false);
    ok(h.mirror(m, src));
    const dst = h.aux(true);
    assert.equal(errno(h.migrate(dst, src)), 'EBUSY');
    h.free(m);
    ok(h.migrate(dst, src));
  });

  it('[current] test_sev_move_copy: owners and mirrors move in any order; the mirrors follow their owner', () => {
    const h = host();
    const { vm: sev } = h.sevVm(false);
    const [dst, dst2, dst3] = [h.aux(true), h.aux(true), h.aux(true)];
    const [mirror, dm, dm2, dm3] = [h.aux(false), h.aux(false), h.aux(false), h.aux(false)];
    ok(h.mirror(mirror, sev));
    ok(h.migrate(dm, mirror));
    ok(h.migrate(dst, sev));
    assert.equal(sevOf(dm).encContextOwner, sevOf(dst), 'the moved mirror’s owner moved too');
    ok(h.migrate(dst2, dst));
    ok(h.migrate(dm2, dm));
    ok(h.migrate(dm3, dm2));
    ok(h.migrate(dst3, dst2));
    assert.deepEqual(sevOf(dst3).mirrorVms, [sevOf(dm3)]);
    assert.equal(sevOf(dm3).launch.asid, sevOf(dst3).launch.asid);
    const guests = h.p.psp.platformStatus().guestCount;
    // The owner's fd goes first: the mirror's reference keeps the context until the mirror goes.
    for (const vm of [dst, sev, dst2, dst3]) h.free(vm);
    assert.equal(h.p.psp.platformStatus().guestCount, guests);
    for (const vm of [mirror, dm, dm2]) h.free(vm);
    assert.equal(h.p.psp.platformStatus().guestCount, guests);
    h.free(dm3);
    assert.equal(h.p.psp.platformStatus().guestCount, guests - 1);
  });
});

describe('KVM_CAP_VM_COPY_ENC_CONTEXT_FROM', () => {
  it('test_sev_mirror_parameters: itself, no SEV source, vCPUs on the destination, an SEV(-ES) destination, a mirror as source: EINVAL', () => {
    const h = host();
    const { vm: sev } = h.sevVm(false);
    const withVcpu = h.aux(true);
    const noVcpu = h.aux(false);
    assert.equal(errno(h.mirror(sev, sev)), 'EINVAL');
    assert.equal(errno(h.mirror(noVcpu, withVcpu)), 'EINVAL');
    assert.equal(errno(h.mirror(withVcpu, sev)), 'EINVAL');
    const { vm: sevEs } = h.sevVm(true);
    assert.equal(errno(h.mirror(sev, sevEs)), 'EINVAL');
    assert.equal(errno(h.mirror(sevEs, sev)), 'EINVAL');
    ok(h.mirror(noVcpu, sev));
    assert.equal(errno(h.mirror(h.aux(false), noVcpu)), 'EINVAL', 'no mirrors of mirrors');
  });

  for (const es of [false, true])
    it(`test_sev_mirror (${es ? 'SEV-ES' : 'SEV'}): vCPUs join the context; only UPDATE_VMSA, GUEST_STATUS, DBG_* are allowed`, () => {
      const h = host();
      const { vm: src } = h.sevVm(es);
      const dst = h.aux(false);
      ok(h.mirror(dst, src));
      const vcpus = h.addVcpus(dst);
      assert.equal(vcpus[0]!.vcpu.backend.protectedState, es, 'SEV-ES vCPUs on an SEV-ES mirror');
      assert.equal(vcpus[0]!.vcpu.vmcb.asid, sevOf(src).launch.asid);
      if (es) {
        ok(h.op(dst, KVM_SEV_LAUNCH_UPDATE_VMSA));
        assert.equal(vcpus[3]!.vcpu.guestStateProtected, true);
      }
      const allowed = [
        KVM_SEV_LAUNCH_UPDATE_VMSA,
        KVM_SEV_GUEST_STATUS,
        KVM_SEV_DBG_DECRYPT,
        KVM_SEV_DBG_ENCRYPT,
      ];
      for (let id = KVM_SEV_INIT; id < KVM_SEV_NR_MAX; id++) {
        if (allowed.includes(id)) continue;
        const r = dst.memoryEncryptOp({ id, data: 0n, error: 0, sevFd: h.sevFd });
        assert.equal(errno(r), 'EINVAL', `command ${id}`);
        assert.equal((r as { cmd?: unknown }).cmd, undefined, `command ${id}: nothing copied back`);
      }
      const st = h.status(dst);
      assert.ok(!(st instanceof Errno), 'GUEST_STATUS through the copied sev->fd');
      assert.equal(st.state, SEV_GSTATE_LUPDATE);
      assert.equal(errno(dst.memoryEncryptRegRegion({ addr: 0x1000n, size: 0x1000n })), 'EINVAL');
      assert.equal(errno(dst.memoryEncryptUnregRegion({ addr: 0x1000n, size: 0x1000n })), 'EINVAL');
    });

  it('destroy order: the owner closed first lives until its last mirror is gone; a mirror’s end keeps the ASID', () => {
    const h = host();
    const { vm: src } = h.sevVm(false);
    const asid = sevOf(src).launch.asid;
    const [m1, m2] = [h.aux(false), h.aux(false)];
    ok(h.mirror(m1, src));
    ok(h.mirror(m2, src));
    const guests = h.p.psp.platformStatus().guestCount;
    h.free(m1);
    assert.equal(sevOf(src).mirrorVms.length, 1, 'the mirror left the owner’s list');
    assert.equal(h.p.psp.platformStatus().guestCount, guests, 'and left the context alone');
    h.free(src);
    assert.equal(src.vm.dead, false, 'm2’s reference keeps the owner');
    assert.equal(h.p.psp.platformStatus().guestCount, guests);
    h.free(m2);
    assert.equal(src.vm.dead, true);
    assert.equal(h.p.psp.platformStatus().guestCount, guests - 1);
    assert.equal(sevOf(h.sevVm(false).vm).launch.asid, asid, 'the ASID was freed with its owner');
  });
});

// ---- the moved or mirrored context runs its guest ----

const RAM = 0x20000;
const PML4 = 0x10000;
const GLOBAL = 0x5000;
const STORED = 0x6000;
const MAGIC = 0x0123_4567_89ab_cdefn;
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
/** mov r8, [GLOBAL]; mov [STORED], r8; hlt. */
const CODE = Uint8Array.from([
  ...[0x4c, 0x8b, 0x04, 0x25, ...le32(GLOBAL)],
  ...[0x4c, 0x89, 0x04, 0x25, ...le32(STORED)],
  0xf4,
]);

/** Guest memory for the guest above: private page tables (C-bit in the 2 MiB leaf), the code, the global. */
function guestMemory(p: ModelPlatform): number {
  const hva = ok(p.memory.mapAnonymous(RAM));
  const u64 = (v: bigint) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    return b;
  };
  ok(p.memory.write(hva + PML4, u64(BigInt(PML4 + 0x1000) | 3n)));
  ok(p.memory.write(hva + PML4 + 0x1000, u64(BigInt(PML4 + 0x2000) | 3n)));
  ok(p.memory.write(hva + PML4 + 0x2000, u64(0x83n | (1n << BigInt(DEFAULT_CBIT)))));
  ok(p.memory.write(hva + 0x1000, CODE));
  ok(p.memory.write(hva + GLOBAL, u64(MAGIC)));
  return hva;
}

const slot0 = (vm: ModelVmFd, hva: number) =>
  ok(
    vm.setUserMemoryRegion({
      slot: 0,
      flags: 0,
      guestPhysAddr: 0n,
      memorySize: BigInt(RAM),
      userspaceAddr: BigInt(hva),
    }),
  );

/** Launch the guest on a KVM_X86_DEFAULT_VM (SEV or SEV-ES) with one vCPU, to LAUNCH_FINISH. */
function launched(h: ReturnType<typeof host>, es: boolean) {
  const { p } = h;
  const vm = h.barebones();
  ok(h.op(vm, es ? KVM_SEV_ES_INIT : KVM_SEV_INIT));
  const hva = guestMemory(p);
  slot0(vm, hva);
  const vcpu = ok(vm.createVcpu(0)) as ModelVcpuFd;
  ok(setLongModeEntry(vcpu, { rip: 0x1000, rsp: 0xf000, cr3: PML4 }));
  ok(h.op(vm, KVM_SEV_LAUNCH_START, encodeSevLaunchStart(newContextLaunchStart(es ? SEV_POLICY_ES : 0))));
  ok(vm.memoryEncryptRegRegion({ addr: BigInt(hva), size: BigInt(RAM) }));
  ok(h.op(vm, KVM_SEV_LAUNCH_UPDATE_DATA, encodeSevUaddrLen({ uaddr: BigInt(hva), len: RAM })));
  if (es) ok(h.op(vm, KVM_SEV_LAUNCH_UPDATE_VMSA));
  const blob = ok(p.memory.mapAnonymous(0x1000));
  ok(h.op(vm, KVM_SEV_LAUNCH_MEASURE, encodeSevUaddrLen({ uaddr: BigInt(blob), len: 256 })));
  ok(h.op(vm, KVM_SEV_LAUNCH_FINISH));
  return { vm, vcpu, hva };
}

/** The guest's store, as the host sees it (ciphertext) and under `asid`'s key. */
function stored(p: ModelPlatform, hva: number, asid: number) {
  const raw = new Uint8Array(0x1000);
  ok(p.memory.read(hva + STORED, raw));
  const plain = p.memoryController.debugPlaintext(asid, hva + STORED, raw);
  return {
    host: new DataView(raw.buffer).getBigUint64(0, true),
    guest: plain ? new DataView(plain.buffer, plain.byteOffset).getBigUint64(0, true) : undefined,
  };
}

describe('a moved context runs its guest on the destination (x86 interpreter)', () => {
  for (const es of [false, true])
    it(`${es ? 'SEV-ES: the VMSA moves with the vCPU' : 'SEV: the VMM sets the registers again'}; the destination reads the global under the moved ASID`, () => {
      const h = host('current', 'x86');
      const src = launched(h, es);
      const asid = sevOf(src.vm).launch.asid;
      const dst = h.barebones();
      slot0(dst, src.hva);
      const vcpu = ok(dst.createVcpu(0)) as ModelVcpuFd;
      ok(h.migrate(dst, src.vm));
      // Plain SEV keeps the registers KVM's: the VMM moves them as any register state.
      if (!es) ok(setLongModeEntry(vcpu, { rip: 0x1000, rsp: 0xf000, cr3: PML4 }));
      assert.equal(sevOf(dst).launch.asid, asid);
      assert.equal(dst.vm.typeOps.sevEs ?? false, es);
      const exit = vcpu.run();
      assert.equal(exit.kind, 'Hlt', `exit ${exit.kind}`);
      const s = stored(h.p, src.hva, asid);
      assert.notEqual(s.host, MAGIC, 'the host reads ciphertext');
      assert.equal(s.guest, MAGIC, 'the guest decrypted the global and stored it under the moved key');
      // SEV-ES: r8 lives in the VMSA only (a legacy VM's register ioctls read KVM's stale copies).
      if (es) assert.equal(vcpu.vcpu.guestStateProtected, true);
      else assert.equal(ok(vcpu.getRegs()).r8, MAGIC);
    });

  it('a typed destination keeps need_init (6.12 does not clear it): KVM_RUN is EINVAL, and INIT2 too', () => {
    const h = host('current', 'x86');
    const src = h.barebones(KVM_X86_SEV_VM);
    ok(h.op(src, KVM_SEV_INIT2, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 0 })));
    const dst = h.barebones(KVM_X86_SEV_VM);
    const vcpu = ok(dst.createVcpu(0)) as ModelVcpuFd;
    ok(h.migrate(dst, src));
    const run = vcpu.run();
    assert.ok(run.kind === 'Failed' && run.error.errno === 'EINVAL');
    assert.equal(
      errno(h.op(dst, KVM_SEV_INIT2, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 0 }))),
      'EINVAL',
    );
  });
});

describe('a mirror runs a vCPU in its owner’s context (x86 interpreter)', () => {
  it('SEV: a mirror VM over the same memory reads the owner’s encrypted global', () => {
    const h = host('current', 'x86');
    const owner = launched(h, false);
    const asid = sevOf(owner.vm).launch.asid;
    const m = h.barebones();
    ok(h.mirror(m, owner.vm));
    slot0(m, owner.hva);
    const vcpu = ok(m.createVcpu(0)) as ModelVcpuFd;
    ok(setLongModeEntry(vcpu, { rip: 0x1000, rsp: 0xf000, cr3: PML4 }));
    assert.equal(vcpu.run().kind, 'Hlt');
    assert.equal(ok(vcpu.getRegs()).r8, MAGIC);
    assert.equal(stored(h.p, owner.hva, asid).guest, MAGIC);
    // The owner still runs its own vCPU in the same context.
    assert.equal(owner.vcpu.run().kind, 'Hlt');
    assert.equal(ok(owner.vcpu.getRegs()).r8, MAGIC);
  });
});
