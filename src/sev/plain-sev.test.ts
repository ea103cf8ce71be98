/**
 * Plain SEV (no SEV-ES) as Linux 6.12 offers it and the selftests sev_init2_tests and
 * sev_smoke_test use it: KVM_CAP_VM_TYPES with KVM_X86_SEV_VM matching CPUID's SEV bit,
 * KVM_SEV_INIT2 on a KVM_X86_SEV_VM (__sev_guest_init's rules for a type without SEV-ES), the legacy
 * KVM_SEV_INIT on a KVM_X86_DEFAULT_VM, sev_asid_new's ranges, KVM_MEMORY_ENCRYPT_REG_REGION /
 * UNREG_REGION, and a plain SEV guest on the x86 interpreter: launched, run, its memory encrypted
 * under its ASID while KVM keeps its registers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelVmFd } from '../kvm/fd.js';
import { ok } from '../kvm/test-util.js';
import { SevFirmware } from '../psp/firmware.js';
import { KVM_CAP_VM_TYPES, KVM_X86_DEFAULT_VM, KVM_X86_SEV_ES_VM, KVM_X86_SEV_VM } from '../uapi/caps.js';
import { Errno, type ErrnoName } from '../uapi/errno.js';
import { KVM_EXIT_IO } from '../uapi/exit-reasons.js';
import { DEFAULT_CBIT } from '../uapi/ghcb.js';
import {
  SEV_GSTATE_LSECRET,
  SEV_GSTATE_LUPDATE,
  SEV_GSTATE_RUNNING,
  SEV_POLICY_NODBG,
} from '../uapi/psp-sev.js';
import {
  decodeSevGuestStatus,
  encodeSevInit,
  encodeSevLaunchStart,
  encodeSevUaddrLen,
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
  type KvmSevInit,
  newContextLaunchStart,
  SevCmdErrno,
} from '../uapi/sev-cmd.js';
import { setLongModeEntry } from '../vmm/long-mode-entry.js';
import { modelPlatform } from '../vmm/platform.js';
import { type EncRegion, sevMemEncRegisterRegion } from './enc-region.js';
import { newSevHost, sevAsidNew } from './launch.js';

type Profile = 'current' | 'prefix' | 'seed';

/** A platform, a VM of `type`, and a page to pass structs in. */
function world(type: number, profile: Profile = 'current', cpu: 'scripted' | 'x86' = 'scripted') {
  const p = modelPlatform({ profile, cpu });
  const vm = ok(p.kvm.createVm(type)) as ModelVmFd;
  const arg = ok(p.memory.mapAnonymous(0x1000));
  const sevFd = p.openSevDevice();
  /** KVM_MEMORY_ENCRYPT_OP with `struct` (if any) at `arg`. */
  const op = (id: number, struct?: Uint8Array) => {
    if (struct) ok(p.memory.write(arg, struct));
    return vm.memoryEncryptOp({ id, data: struct ? BigInt(arg) : 0n, error: 0, sevFd });
  };
  const init2 = (o: Partial<KvmSevInit> = {}) =>
    op(KVM_SEV_INIT2, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 0, ...o }));
  const status = () => {
    ok(op(KVM_SEV_GUEST_STATUS, new Uint8Array(KVM_SEV_GUEST_STATUS_SIZE)));
    const b = new Uint8Array(KVM_SEV_GUEST_STATUS_SIZE);
    ok(p.memory.read(arg, b));
    return decodeSevGuestStatus(b);
  };
  return { p, vm, op, init2, status, sevFd };
}

/** The errno of a failed ioctl (a SevCmdErrno is one too), asserting kvm_sev_cmd.error stayed 0. */
function errnoOf(r: unknown): ErrnoName {
  assert.ok(
    r instanceof Errno,
    `expected a failure, got ${JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? `${v}` : v))}`,
  );
  // sev_init2_tests: every call must satisfy `ret < 0 || cmd.error == SEV_RET_SUCCESS`; a failure
  // that copied the struct back carries the firmware status, 0 when no firmware command ran.
  if (r instanceof SevCmdErrno && r.errno !== 'EIO') assert.equal(r.cmd.error, 0);
  return r.errno;
}

const asidOf = (vm: ModelVmFd): number => {
  const vcpu = ok(vm.createVcpu(0)) as { vcpu: { vmcb: { asid: number; nestedCtl: number } } };
  return vcpu.vcpu.vmcb.asid;
};

describe('KVM_CAP_VM_TYPES and CPUID agree on SEV and SEV-ES (sev_init2_tests)', () => {
  it('[current] KVM_X86_DEFAULT_VM, KVM_X86_SEV_VM and KVM_X86_SEV_ES_VM; CPUID 0x8000001F has SEV and SEV-ES', () => {
    const p = modelPlatform({ profile: 'current' });
    assert.equal(p.kvm.checkExtension(KVM_CAP_VM_TYPES), 0b1101);
    const leaf = p.hostCpuid.find((e) => e.function === 0x8000001f);
    assert.ok(leaf);
    assert.equal((leaf.eax >> 1) & 1, 1, 'X86_FEATURE_SEV');
    assert.equal((leaf.eax >> 3) & 1, 1, 'X86_FEATURE_SEV_ES');
  });

  for (const profile of ['prefix', 'seed'] as const)
    it(`[${profile}] no VM types (5.17): 0, and KVM_CREATE_VM(KVM_X86_SEV_VM) is EINVAL`, () => {
      const p = modelPlatform({ profile });
      assert.equal(p.kvm.checkExtension(KVM_CAP_VM_TYPES), 0);
      assert.equal(errnoOf(p.kvm.createVm(KVM_X86_SEV_VM)), 'EINVAL');
    });
});

describe('KVM_SEV_INIT2 on a KVM_X86_SEV_VM (__sev_guest_init, es_active false)', () => {
  it('a zeroed kvm_sev_init: 0 with error 0; the VM is an SEV guest, not SEV-ES, with an ASID from min_sev_asid', () => {
    const w = world(KVM_X86_SEV_VM);
    const r = ok(w.init2());
    assert.equal(r.error, 0);
    const ops = w.vm.vm.typeOps;
    assert.equal(ops.sevEs, false);
    assert.equal(ops.protectedState, false, 'KVM_X86_SEV_VM has no protected state');
    // CPUID 0x8000001F EDX = 100 = min_sev_asid: plain SEV's first ASID.
    assert.equal(asidOf(w.vm), 100);
  });

  it('every flags bit, every vmsa_features bit, any ghcb_version: EINVAL (and a valid init afterwards works)', () => {
    const w = world(KVM_X86_SEV_VM);
    for (let i = 0; i < 32; i++)
      assert.equal(errnoOf(w.init2({ flags: 2 ** i })), 'EINVAL', `flags bit ${i}`);
    for (let i = 0n; i < 64n; i++)
      assert.equal(errnoOf(w.init2({ vmsaFeatures: 1n << i })), 'EINVAL', `vmsa_features bit ${i}`);
    for (const v of [1, 2, 3])
      assert.equal(errnoOf(w.init2({ ghcbVersion: v })), 'EINVAL', `ghcb_version ${v}`);
    ok(w.init2());
  });

  it('a second INIT2, INIT2 after KVM_CREATE_VCPU, KVM_SEV_INIT/ES_INIT on the typed VM: EINVAL', () => {
    const w = world(KVM_X86_SEV_VM);
    assert.equal(errnoOf(w.op(KVM_SEV_INIT)), 'EINVAL', 'sev_guest_init: KVM_X86_DEFAULT_VM only');
    assert.equal(errnoOf(w.op(KVM_SEV_ES_INIT)), 'EINVAL');
    ok(w.init2());
    assert.equal(errnoOf(w.init2()), 'EINVAL', 'need_init is gone');
    const late = world(KVM_X86_SEV_VM);
    ok(late.vm.createVcpu(0));
    assert.equal(errnoOf(late.init2()), 'EINVAL', 'kvm->created_vcpus');
  });

  it('before INIT2: LAUNCH_START is ENOTTY (sev_guest), KVM_RUN is EINVAL (need_init)', () => {
    const w = world(KVM_X86_SEV_VM);
    assert.equal(
      errnoOf(w.op(KVM_SEV_LAUNCH_START, encodeSevLaunchStart(newContextLaunchStart(0)))),
      'ENOTTY',
    );
    const vcpu = ok(w.vm.createVcpu(0));
    const r = vcpu.run();
    assert.equal(r.kind, 'Failed');
    assert.equal(r.kind === 'Failed' && r.error.errno, 'EINVAL');
  });

  it('KVM_SEV_INIT2 on a KVM_X86_DEFAULT_VM: EINVAL', () => {
    assert.equal(errnoOf(world(KVM_X86_DEFAULT_VM).init2()), 'EINVAL');
  });
});

describe('KVM_SEV_INIT on a KVM_X86_DEFAULT_VM makes a plain SEV guest (all profiles)', () => {
  for (const [profile, again] of [
    ['current', 'EINVAL'],
    ['prefix', 'EBUSY'],
    ['seed', 'EBUSY'],
  ] as const)
    it(`[${profile}] 0 with error 0; a second init is ${again}; LAUNCH_UPDATE_VMSA is ENOTTY (no SEV-ES)`, () => {
      const w = world(KVM_X86_DEFAULT_VM, profile);
      assert.equal(ok(w.op(KVM_SEV_INIT)).error, 0);
      assert.equal(w.vm.vm.typeOps.sevEs, false);
      assert.equal(errnoOf(w.op(KVM_SEV_INIT)), again);
      assert.equal(errnoOf(w.op(KVM_SEV_ES_INIT)), again);
      ok(w.op(KVM_SEV_LAUNCH_START, encodeSevLaunchStart(newContextLaunchStart(0))));
      assert.equal(errnoOf(w.op(KVM_SEV_LAUNCH_UPDATE_VMSA)), 'ENOTTY');
      assert.equal(asidOf(w.vm), 100);
    });

  it('after KVM_CREATE_VCPU: EINVAL, and the VM stays no SEV guest (LAUNCH_START is ENOTTY)', () => {
    const w = world(KVM_X86_DEFAULT_VM);
    ok(w.vm.createVcpu(0));
    assert.equal(errnoOf(w.op(KVM_SEV_INIT)), 'EINVAL');
    assert.equal(
      errnoOf(w.op(KVM_SEV_LAUNCH_START, encodeSevLaunchStart(newContextLaunchStart(0)))),
      'ENOTTY',
    );
  });
});

describe('sev_asid_new: SEV from min_sev_asid to max_sev_asid, SEV-ES from 1 to min_sev_asid - 1', () => {
  it('each range runs out on its own (EBUSY); an empty range is ENOTTY; a freed ASID is taken again', () => {
    const host = newSevHost(new SevFirmware(), { minSevAsid: 3, maxSevAsid: 4 });
    assert.deepEqual([sevAsidNew(host, false), sevAsidNew(host, false)], [3, 4]);
    assert.equal(errnoOf(sevAsidNew(host, false)), 'EBUSY');
    assert.deepEqual([sevAsidNew(host, true), sevAsidNew(host, true)], [1, 2]);
    assert.equal(errnoOf(sevAsidNew(host, true)), 'EBUSY');
    host.asids.delete(3);
    assert.equal(sevAsidNew(host, false), 3);
    const noEs = newSevHost(new SevFirmware(), { minSevAsid: 1, maxSevAsid: 4 });
    assert.equal(errnoOf(sevAsidNew(noEs, true)), 'ENOTTY', 'min_sev_asid 1: no SEV-ES ASIDs');
  });

  it('through the fd: destroying the VM frees its ASID for the next one', () => {
    const p = modelPlatform();
    const a = ok(p.kvm.createVm(KVM_X86_SEV_VM)) as ModelVmFd;
    const arg = ok(p.memory.mapAnonymous(0x1000));
    ok(p.memory.write(arg, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 0 })));
    const init = (vm: ModelVmFd) =>
      ok(vm.memoryEncryptOp({ id: KVM_SEV_INIT2, data: BigInt(arg), error: 0, sevFd: 0 }));
    init(a);
    const es = ok(p.kvm.createVm(KVM_X86_SEV_ES_VM)) as ModelVmFd;
    init(es);
    assert.equal(asidOf(es), 1, 'SEV-ES takes from 1');
    const b = ok(p.kvm.createVm(KVM_X86_SEV_VM)) as ModelVmFd;
    init(b);
    assert.equal(asidOf(b), 101);
    a.close();
    const c = ok(p.kvm.createVm(KVM_X86_SEV_VM)) as ModelVmFd;
    init(c);
    assert.equal(asidOf(c), 100);
  });
});

describe('KVM_MEMORY_ENCRYPT_REG_REGION / UNREG_REGION (sev_mem_enc_register_region)', () => {
  it('no SEV guest: ENOTTY, on a default VM and on a KVM_X86_SEV_VM before INIT2', () => {
    for (const type of [KVM_X86_DEFAULT_VM, KVM_X86_SEV_VM]) {
      const w = world(type);
      const ram = ok(w.p.memory.mapAnonymous(0x2000));
      const range = { addr: BigInt(ram), size: 0x2000n };
      assert.equal(errnoOf(w.vm.memoryEncryptRegRegion(range)), 'ENOTTY');
      assert.equal(errnoOf(w.vm.memoryEncryptUnregRegion(range)), 'ENOTTY');
    }
  });

  it('size 0 or a wrapping range: EINVAL; an unmapped page: ENOMEM (pin_user_pages_fast pins short)', () => {
    const w = world(KVM_X86_SEV_VM);
    ok(w.init2());
    const ram = BigInt(ok(w.p.memory.mapAnonymous(0x2000)));
    assert.equal(errnoOf(w.vm.memoryEncryptRegRegion({ addr: ram, size: 0n })), 'EINVAL');
    assert.equal(
      errnoOf(w.vm.memoryEncryptRegRegion({ addr: 2n ** 64n - 0x1000n, size: 0x2000n })),
      'EINVAL',
    );
    assert.equal(errnoOf(w.vm.memoryEncryptRegRegion({ addr: ram, size: 0x3000n })), 'ENOMEM');
  });

  it('UNREG needs the exact addr and size of a registered region (EINVAL otherwise), once', () => {
    const w = world(KVM_X86_SEV_VM);
    ok(w.init2());
    const ram = BigInt(ok(w.p.memory.mapAnonymous(0x2000)));
    ok(w.vm.memoryEncryptRegRegion({ addr: ram, size: 0x2000n }));
    assert.equal(errnoOf(w.vm.memoryEncryptUnregRegion({ addr: ram, size: 0x1000n })), 'EINVAL');
    assert.equal(errnoOf(w.vm.memoryEncryptUnregRegion({ addr: ram + 0x1000n, size: 0x1000n })), 'EINVAL');
    ok(w.vm.memoryEncryptUnregRegion({ addr: ram, size: 0x2000n }));
    assert.equal(errnoOf(w.vm.memoryEncryptUnregRegion({ addr: ram, size: 0x2000n })), 'EINVAL');
  });

  it('without CAP_IPC_LOCK: pinning past RLIMIT_MEMLOCK is ENOMEM, counting the regions still pinned', () => {
    const w = world(KVM_X86_SEV_VM);
    ok(w.init2());
    const ram = BigInt(ok(w.p.memory.mapAnonymous(0x3000)));
    const regions: EncRegion[] = [];
    const ctx = {
      vm: w.vm.vm,
      host: newSevHost(new SevFirmware(), { memlockPages: 2 }),
      sev: { handle: 0, fd: 0, policy: 0, asid: 100, pagesLocked: 0 },
      regions,
      active: true,
    };
    assert.equal(sevMemEncRegisterRegion(ctx, { addr: ram, size: 0x2000n }), undefined);
    assert.equal(ctx.sev.pagesLocked, 2);
    // An unaligned byte range counts every page it touches: 0x10 bytes across a boundary are two.
    assert.equal(errnoOf(sevMemEncRegisterRegion(ctx, { addr: ram + 0x2ff8n, size: 1n })), 'ENOMEM');
    ctx.host = newSevHost(new SevFirmware(), { memlockPages: 3 });
    assert.equal(sevMemEncRegisterRegion(ctx, { addr: ram + 0x2ff8n, size: 1n }), undefined);
    assert.equal(regions.length, 2);
  });
});

// ---- a plain SEV guest on the interpreter ----

const RAM = 0x20000;
const PML4 = 0x10000;
const GLOBAL = 0x5000;
const STORED = 0x6000;
const MAGIC = 0x0123_4567_89ab_cdefn;
const UCALL_PIO_PORT = 0x1000;
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

/** The guest: read the global, SEV_STATUS and CPUID 0x8000001F into registers, store the global back, `in al, dx` from 0x1000. */
const CODE = Uint8Array.from([
  ...[0x4c, 0x8b, 0x04, 0x25, ...le32(GLOBAL)], // mov r8, [GLOBAL]
  ...[0x4c, 0x89, 0x04, 0x25, ...le32(STORED)], // mov [STORED], r8
  ...[0xb9, ...le32(0xc001_0131), 0x0f, 0x32], // mov ecx, MSR_AMD64_SEV; rdmsr
  ...[0x89, 0xc6], // mov esi, eax
  ...[0xb8, ...le32(0x8000_001f), 0x31, 0xc9, 0x0f, 0xa2], // mov eax, 0x8000001f; xor ecx, ecx; cpuid
  ...[0x89, 0xc7], // mov edi, eax
  ...[0x66, 0xba, ...le32(UCALL_PIO_PORT).slice(0, 2), 0xec], // mov dx, 0x1000; in al, dx
]);

/**
 * Page tables as the selftests build them for an SEV VM (virt_arch_pg_map): the C-bit in leaf
 * entries only, here one 2 MiB page identity-mapping 0-2 MiB, private.
 */
function pageTables(): { gpa: number; bytes: Uint8Array }[] {
  const entry = (v: bigint) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    return b;
  };
  return [
    { gpa: PML4, bytes: entry(BigInt(PML4 + 0x1000) | 3n) },
    { gpa: PML4 + 0x1000, bytes: entry(BigInt(PML4 + 0x2000) | 3n) },
    { gpa: PML4 + 0x2000, bytes: entry(0x83n | (1n << BigInt(DEFAULT_CBIT))) },
  ];
}

describe('a plain SEV guest on the x86 interpreter (sev_smoke_test, test_sev)', () => {
  for (const policy of [SEV_POLICY_NODBG, 0])
    it(`policy ${policy}: launched (START, REG_REGION, UPDATE_DATA, MEASURE, FINISH), it runs to KVM_EXIT_IO with its global decrypted, SEV_STATUS bit 0, CPUID's SEV bit`, () => {
      const w = world(KVM_X86_SEV_VM, 'current', 'x86');
      ok(w.init2());
      const { p, vm } = w;
      const hva = ok(p.memory.mapAnonymous(RAM));
      ok(
        vm.setUserMemoryRegion({
          slot: 0,
          flags: 0,
          guestPhysAddr: 0n,
          memorySize: BigInt(RAM),
          userspaceAddr: BigInt(hva),
        }),
      );
      for (const t of pageTables()) ok(p.memory.write(hva + t.gpa, t.bytes));
      ok(p.memory.write(hva + 0x1000, CODE));
      const magic = new Uint8Array(8);
      new DataView(magic.buffer).setBigUint64(0, MAGIC, true);
      ok(p.memory.write(hva + GLOBAL, magic));
      const vcpu = ok(vm.createVcpu(0));
      ok(setLongModeEntry(vcpu, { rip: 0x1000, rsp: 0xf000, cr3: PML4 }));

      // sev_vm_launch: LAUNCH_START, GUEST_STATUS, the region, UPDATE_DATA per range; then measure, finish.
      ok(w.op(KVM_SEV_LAUNCH_START, encodeSevLaunchStart(newContextLaunchStart(policy))));
      assert.deepEqual(
        { policy: w.status().policy, state: w.status().state },
        { policy, state: SEV_GSTATE_LUPDATE },
      );
      ok(vm.memoryEncryptRegRegion({ addr: BigInt(hva), size: BigInt(RAM) }));
      ok(w.op(KVM_SEV_LAUNCH_UPDATE_DATA, encodeSevUaddrLen({ uaddr: BigInt(hva), len: RAM })));
      const blob = ok(p.memory.mapAnonymous(0x1000));
      ok(w.op(KVM_SEV_LAUNCH_MEASURE, encodeSevUaddrLen({ uaddr: BigInt(blob), len: 256 })));
      assert.equal(w.status().state, SEV_GSTATE_LSECRET);
      ok(w.op(KVM_SEV_LAUNCH_FINISH));
      assert.equal(w.status().state, SEV_GSTATE_RUNNING);

      const exit = vcpu.run();
      assert.equal(exit.kind, 'IoIn', `exit ${exit.kind}`);
      assert.ok(exit.kind === 'IoIn');
      assert.equal(exit.reason, KVM_EXIT_IO);
      assert.deepEqual(
        { port: exit.port, size: exit.size, count: exit.count },
        { port: UCALL_PIO_PORT, size: 1, count: 1 },
      );
      // Plain SEV keeps register ioctls: KVM reads the guest's registers as for any guest.
      const regs = ok(vcpu.getRegs());
      assert.equal(regs.r8, MAGIC, 'the global, decrypted through the C-bit mapping');
      assert.equal(regs.rsi & 3n, 1n, 'SEV_STATUS: SEV enabled, SEV-ES not');
      assert.equal((regs.rdi >> 1n) & 1n, 1n, 'CPUID 0x8000001F EAX: X86_FEATURE_SEV');
      // kvm_fast_pio_in: RIP stays on the IN until KVM_RUN completes it (complete_fast_pio_in).
      assert.equal(regs.rip, BigInt(0x1000 + CODE.length - 1), 'RIP on the IN');

      const host = (gpa: number) => {
        const b = new Uint8Array(8);
        ok(p.memory.read(hva + gpa, b));
        return new DataView(b.buffer).getBigUint64(0, true);
      };
      assert.notEqual(host(GLOBAL), MAGIC, 'the host reads the global’s page as ciphertext');
      assert.notEqual(host(STORED), MAGIC, 'and the guest’s private store too');
      const raw = new Uint8Array(0x1000);
      ok(p.memory.read(hva + STORED - (STORED % 0x1000), raw));
      const asid = (vcpu as unknown as { vcpu: { vmcb: { asid: number } } }).vcpu.vmcb.asid;
      const plain = p.memoryController.debugPlaintext(asid, hva + STORED, raw);
      assert.ok(plain);
      assert.equal(
        new DataView(plain.buffer, plain.byteOffset).getBigUint64(0, true),
        MAGIC,
        'under the VM’s key',
      );
      ok(vm.memoryEncryptUnregRegion({ addr: BigInt(hva), size: BigInt(RAM) }));
    });
});
