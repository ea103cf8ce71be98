/**
 * sevbox's extension beyond KVM, at the KVM ioctl level: every host-side fault of the VMGEXIT
 * scratch path × {capabilities off, KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO, + KVM_CAP_SEVBOX_VMGEXIT_RESTART}
 * under seed and current: the errno, the kvm_run memory_fault fields, and what the guest sees after
 * the VMM fixes the cause and runs again — success with no data without restart (vmgexit.md
 * section 6), exactly a fault-free run with restart. Every machine is checked for leaks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PROT_NONE, PROT_READ, PROT_WRITE } from '../../src/host/address-space.js';
import { HostFile } from '../../src/host/file-store.js';
import { Kvm } from '../../src/kvm/kvm.js';
import { KVM_CORE_5_17, KVM_CORE_CURRENT } from '../../src/kvm/profile.js';
import type { Vm } from '../../src/kvm/vm.js';
import { sevEsVmType } from '../../src/sev/sev-es-vm.js';
import {
  KVM_CAP_MEMORY_FAULT_INFO,
  KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO,
  KVM_CAP_SEVBOX_VMGEXIT_RESTART,
  KVM_X86_DEFAULT_VM,
  KVM_X86_SEV_ES_VM,
} from '../../src/uapi/caps.js';
import {
  decodeSevboxMemoryFaultFlags,
  KVM_EXIT_MEMORY_FAULT,
  type SevboxFaultCause,
} from '../../src/uapi/exit-reasons.js';
import { GHCB_OFF_RAX, GHCB_OFF_RBX, GHCB_OFF_RCX, GHCB_OFF_RDX } from '../../src/uapi/ghcb.js';
import { KvmError } from '../../src/uapi/kvm-error.js';
import {
  drive,
  finish,
  guestValidBits,
  leakGuard,
  type Machine,
  MMIO_GPA,
  mmioBytes,
  NO_SLOT_GPA,
  PAGE,
  PORT,
  rawMmio,
  rawStringIo,
  SCRATCH_GPA,
  SPARE_GPA,
  SPARE_HVA,
  sevMachine,
} from '../sev/kit.js';

leakGuard();

const EXTRA_HVA = 0x7f00_2000_0000;
/** What a post-copy source would deliver for the page: recognisable, not the device's answer. */
const SOURCE = new Uint8Array(PAGE).fill(0x5a);

type Mode = 'off' | 'metadata' | 'restart';
const MODES: readonly Mode[] = ['off', 'metadata', 'restart'];

function enable(vm: Vm, mode: Mode): void {
  if (mode === 'off') return;
  vm.enableCap(KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO);
  if (mode === 'restart') vm.enableCap(KVM_CAP_SEVBOX_VMGEXIT_RESTART);
}

/** One host-side fault kind: how to cause it at `scratch`, and how the VMM fixes it. */
interface FaultKind {
  readonly name: string;
  readonly errno: 'EFAULT' | 'ENOMEM';
  readonly cause: SevboxFaultCause;
  readonly scratch: number;
  readonly budget?: number;
  /** Bytes the scratch page holds once fixed, before any write-back (what a re-run guest reads). */
  readonly fixedBytes: number[];
  /** Per machine: a fresh setup/fix pair (a file, say, is per machine). */
  make(): { setup(kvm: Kvm, vm: Vm): void; fix(kvm: Kvm, vm: Vm): void };
}

const zeros = Array(8).fill(0);
const KINDS: readonly FaultKind[] = [
  {
    name: 'no memslot',
    errno: 'EFAULT',
    cause: 'no-slot',
    scratch: NO_SLOT_GPA,
    fixedBytes: zeros,
    make: () => ({
      setup: () => {},
      fix: (kvm, vm) => {
        kvm.host.mapAnonymous(EXTRA_HVA, PAGE);
        vm.setUserMemoryRegion({
          slot: 2,
          flags: 0,
          guestPhysAddr: BigInt(NO_SLOT_GPA),
          memorySize: BigInt(PAGE),
          userspaceAddr: BigInt(EXTRA_HVA),
        });
      },
    }),
  },
  {
    name: 'hva unmapped',
    errno: 'EFAULT',
    cause: 'hva-unmapped',
    scratch: SPARE_GPA,
    fixedBytes: zeros,
    make: () => ({
      setup: (kvm) => kvm.host.unmap(SPARE_HVA, PAGE),
      fix: (kvm) => kvm.host.mapAnonymous(SPARE_HVA, PAGE),
    }),
  },
  {
    name: 'userfault page missing (post-copy)',
    errno: 'EFAULT',
    cause: 'userfault-missing',
    scratch: SPARE_GPA,
    fixedBytes: Array(8).fill(0x5a),
    make: () => ({
      setup: (kvm) => kvm.host.mapMissing(SPARE_HVA, PAGE),
      fix: (kvm) => kvm.host.populate(SPARE_HVA, SOURCE),
    }),
  },
  {
    name: 'file page beyond EOF (virtiofs DAX truncation)',
    errno: 'EFAULT',
    cause: 'beyond-eof',
    scratch: SPARE_GPA,
    fixedBytes: zeros,
    make: () => {
      const file = new HostFile('dax', PAGE);
      return {
        setup: (kvm) => {
          kvm.host.mapFile(SPARE_HVA, PAGE, file, 0);
          file.truncate(0);
        },
        fix: () => file.truncate(PAGE),
      };
    },
  },
  {
    name: 'hva protection (PROT_NONE)',
    errno: 'EFAULT',
    cause: 'protection',
    scratch: SPARE_GPA,
    fixedBytes: zeros,
    make: () => ({
      setup: (kvm) => kvm.host.protect(SPARE_HVA, PAGE, PROT_NONE),
      fix: (kvm) => kvm.host.protect(SPARE_HVA, PAGE, PROT_READ | PROT_WRITE),
    }),
  },
  {
    name: 'bounce buffer allocation fails',
    errno: 'ENOMEM',
    cause: 'nomem',
    scratch: SCRATCH_GPA,
    budget: 0,
    fixedBytes: zeros,
    make: () => ({
      setup: () => {},
      fix: (kvm) => {
        kvm.allocator.budget = Number.POSITIVE_INFINITY;
      },
    }),
  },
];

/** What the guest saw after its MMIO read: the GHCB result, its scratch bytes, valid bits, RAX..RDX. */
function mmioGuest(scratch: number) {
  return function* (c: Parameters<Parameters<typeof sevMachine>[0]['guest']>[0], cpu: Machine['cpu']) {
    const result = yield* rawMmio(c, 'read', MMIO_GPA, 8, scratch);
    let data: number[] | undefined;
    if (result.kind === 'ok') {
      const d = new Uint8Array(8);
      data = cpu.mem.read(scratch, d) === 0 ? [...d] : undefined;
    }
    const bits = yield* guestValidBits(c);
    const regs = [GHCB_OFF_RAX, GHCB_OFF_RBX, GHCB_OFF_RCX, GHCB_OFF_RDX].map((o) => c.getField(o));
    return { result, data, bits, regs };
  };
}

/** A fault-free run of the same guest: the fault set up and fixed before the guest starts. */
function faultFree(profile: 'seed' | 'current', k: FaultKind) {
  const f = k.make();
  const m = sevMachine({
    profile,
    host: (kvm, vm) => {
      f.setup(kvm, vm);
      f.fix(kvm, vm);
    },
    guest: mmioGuest(k.scratch),
  });
  const r = drive(m);
  assert.deepEqual(
    r.runs.map((x) => ('exit' in x ? x.exit : x.errno)),
    ['MmioRead', 'Hlt'],
  );
  finish(m as Machine<unknown>);
  return r.guest;
}

for (const profile of ['seed', 'current'] as const) {
  describe(`[${profile}] scratch-path faults × capabilities`, () => {
    for (const k of KINDS) {
      const baseline = faultFree(profile, k);
      for (const mode of MODES) {
        it(`${k.name}, ${mode}: KVM_RUN fails ${k.errno}; ${mode === 'restart' ? 'restart = a fault-free run' : 'a re-run resumes past the VMGEXIT with no data'}`, () => {
          const f = k.make();
          const m = sevMachine({
            profile,
            ...(k.budget !== undefined ? { budget: k.budget } : {}),
            host: (kvm, vm) => {
              enable(vm, mode);
              f.setup(kvm, vm);
            },
            guest: mmioGuest(k.scratch),
          });
          const seen: { reason: number; exit: ReturnType<typeof m.vcpu.decodeExit> }[] = [];
          const r = drive(m, {
            onError: (e) => {
              seen.push({ reason: m.vcpu.runArea.exitReason, exit: m.vcpu.decodeExit() });
              assert.equal(e.code, k.errno);
              assert.equal(m.guestReturned, false);
              f.fix(m.kvm, m.vm);
              return 'rerun';
            },
          });
          assert.equal(seen.length, 1, 'one failed KVM_RUN');
          const got = seen[0]!;
          if (mode === 'off') {
            assert.notEqual(got.reason, KVM_EXIT_MEMORY_FAULT, 'plain KVM: no memory-fault exit');
          } else {
            assert.equal(got.reason, KVM_EXIT_MEMORY_FAULT);
            const x = got.exit;
            assert.equal(x.kind, 'MemoryFault');
            if (x.kind !== 'MemoryFault') return;
            assert.equal(x.gpa, BigInt(k.scratch), 'gpa: the page KVM could not access');
            assert.equal(x.size, BigInt(PAGE), 'size: the rest of the access, in pages');
            assert.deepEqual(decodeSevboxMemoryFaultFlags(x.flags), {
              cause: k.cause,
              access: k.errno === 'ENOMEM' ? 'scratch-alloc' : 'scratch-in',
              restartable: mode === 'restart',
              write: false,
            });
            assert.equal(x.flags & 0xffff_ffffn, 0n, 'no Linux flag bits');
          }
          assert.equal(r.guestReturned, true);
          const g = r.guest!;
          if (mode === 'restart') {
            assert.deepEqual(g, baseline, 'the guest saw exactly a fault-free run');
            assert.deepEqual(g.data, mmioBytes(MMIO_GPA, 8));
            assert.equal(r.outcomes.length, 1);
            assert.equal(r.outcomes[0]!.outcome.kind, 'userspace', 'one VMGEXIT, answered by an MMIO exit');
          } else {
            assert.equal(g.result.kind, 'ok', 'success…');
            assert.equal(g.result.info1, 0n);
            assert.deepEqual(g.data, k.fixedBytes, '…with no data: the silent loss of vmgexit.md section 6');
            assert.notDeepEqual(g.data, baseline!.data);
            assert.equal(r.outcomes[0]!.outcome.kind, 'error');
          }
          assert.equal(m.vmgexits, 1, 'the guest executed VMGEXIT once');
          finish(m as Machine<unknown>);
        });
      }
    }
  });
}

describe('KVM_ENABLE_CAP and KVM_CHECK_EXTENSION for the sevbox capabilities', () => {
  it('checkExtension reports both as 1 on every core profile; KVM_CAP_MEMORY_FAULT_INFO stays per kernel', () => {
    for (const core of [KVM_CORE_5_17, KVM_CORE_CURRENT]) {
      const kvm = new Kvm({ core });
      assert.equal(kvm.checkExtension(KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO), 1);
      assert.equal(kvm.checkExtension(KVM_CAP_SEVBOX_VMGEXIT_RESTART), 1);
      assert.equal(kvm.checkExtension(KVM_CAP_MEMORY_FAULT_INFO), core.memoryFaultInfo ? 1 : 0);
    }
  });

  it('EINVAL: unknown capability, non-SEV-ES VM, RESTART before FAULT_INFO, non-zero args; EIO on a dead VM', () => {
    const kvm = new Kvm({ vmTypes: [sevEsVmType] });
    const plain = kvm.createVm(KVM_X86_DEFAULT_VM);
    const einval = (f: () => void) =>
      assert.throws(f, (e: unknown) => e instanceof KvmError && e.code === 'EINVAL');
    einval(() => plain.enableCap(KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO));
    const vm = kvm.createVm(KVM_X86_SEV_ES_VM, { profile: 'seed' });
    einval(() => vm.enableCap(12345));
    einval(() => vm.enableCap(KVM_CAP_SEVBOX_VMGEXIT_RESTART));
    einval(() => vm.enableCap(KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO, [1n]));
    einval(() => vm.enableCap(KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO, [0n, 0n, 0n, 0n, 0n]));
    vm.enableCap(KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO);
    vm.enableCap(KVM_CAP_SEVBOX_VMGEXIT_RESTART);
    vm.destroy();
    assert.throws(
      () => vm.enableCap(KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO),
      (e: unknown) => e instanceof KvmError && e.code === 'EIO',
    );
    plain.destroy();
  });

  it('prefix still reflects host failures to the guest with the capabilities on (nothing to report)', () => {
    const m = sevMachine({
      profile: 'prefix',
      host: (_kvm, vm) => enable(vm, 'restart'),
      guest: mmioGuest(NO_SLOT_GPA),
    });
    const r = drive(m);
    assert.ok(r.runs.every((x) => 'exit' in x));
    assert.equal(r.guest!.result.kind, 'reflected');
    finish(m as Machine<unknown>);
  });
});

describe('restart details', () => {
  it('a multi-page scratch area: gpa is the first page KVM could not read, size runs to the end of the access', () => {
    const m = sevMachine({
      profile: 'seed',
      host: (kvm, vm) => {
        enable(vm, 'restart');
        kvm.host.mapMissing(SPARE_HVA + PAGE, PAGE);
      },
      guest: (c) => rawMmio(c, 'read', MMIO_GPA, 0x1800, SPARE_GPA + 0x800),
    });
    assert.throws(
      () => m.vcpu.run(),
      (e: unknown) => e instanceof KvmError && e.code === 'EFAULT',
    );
    const x = m.vcpu.decodeExit();
    assert.equal(x.kind, 'MemoryFault');
    if (x.kind === 'MemoryFault') {
      assert.equal(x.gpa, BigInt(SPARE_GPA + PAGE));
      assert.equal(x.size, BigInt(PAGE), '[0x101000, 0x102000) holds the end 0x102000 of the access');
    }
    finish(m as Machine<unknown>);
  });

  it('an unfixed cause fails every restart again, restartable, and the guest never resumes', () => {
    const m = sevMachine({
      profile: 'current',
      host: (_kvm, vm) => enable(vm, 'restart'),
      guest: mmioGuest(NO_SLOT_GPA),
    });
    for (let i = 0; i < 5; i++) {
      assert.throws(
        () => m.vcpu.run(),
        (e: unknown) => e instanceof KvmError && e.code === 'EFAULT',
      );
      const x = m.vcpu.decodeExit();
      assert.ok(x.kind === 'MemoryFault' && decodeSevboxMemoryFaultFlags(x.flags)?.restartable);
    }
    assert.equal(m.guestReturned, false);
    assert.equal(m.vmgexits, 1);
    finish(m as Machine<unknown>);
  });

  for (const k of KINDS) {
    it(`${k.name}: destroying the VM with a restart pending leaks nothing`, () => {
      const f = k.make();
      const m = sevMachine({
        profile: 'seed',
        ...(k.budget !== undefined ? { budget: k.budget } : {}),
        host: (kvm, vm) => {
          enable(vm, 'restart');
          f.setup(kvm, vm);
        },
        guest: mmioGuest(k.scratch),
      });
      assert.throws(
        () => m.vcpu.run(),
        (e: unknown) => e instanceof KvmError && e.code === k.errno,
      );
      finish(m as Machine<unknown>); // asserts allocator.inUse() === 0
    });
  }

  it('a restarted string OUT hands the port its bytes exactly once', () => {
    const bytes = [0x11, 0x22, 0x33, 0x44];
    const m = sevMachine({
      profile: 'seed',
      host: (kvm, vm) => {
        enable(vm, 'restart');
        kvm.host.mapMissing(SPARE_HVA, PAGE);
      },
      guest: function* (c) {
        return yield* rawStringIo(c, 'out', 1, bytes.length, SPARE_GPA);
      },
    });
    const page = new Uint8Array(PAGE);
    page.set(bytes);
    const r = drive(m, {
      onError: () => {
        m.kvm.host.populate(SPARE_HVA, page);
        return 'rerun';
      },
    });
    const outs = r.runs.filter((x) => 'exit' in x && x.exit === 'IoOut');
    assert.deepEqual(
      outs.map((x) => ('exit' in x ? [x.port, x.data] : [])),
      [[PORT, bytes]],
    );
    assert.equal(r.guest!.kind, 'ok');
    finish(m as Machine<unknown>);
  });

  it('a restarted string IN delivers the port data into the scratch area', () => {
    const m = sevMachine({
      profile: 'current',
      host: (_kvm, vm) => enable(vm, 'restart'),
      guest: function* (c, cpu) {
        const result = yield* rawStringIo(c, 'in', 1, 4, NO_SLOT_GPA);
        const d = new Uint8Array(4);
        cpu.mem.read(NO_SLOT_GPA, d);
        return { result, data: [...d] };
      },
    });
    const r = drive(m, {
      onError: () => {
        m.kvm.host.mapAnonymous(EXTRA_HVA, PAGE);
        m.vm.setUserMemoryRegion({
          slot: 2,
          flags: 0,
          guestPhysAddr: BigInt(NO_SLOT_GPA),
          memorySize: BigInt(PAGE),
          userspaceAddr: BigInt(EXTRA_HVA),
        });
        return 'rerun';
      },
    });
    assert.equal(r.guest!.result.kind, 'ok');
    assert.deepEqual(r.guest!.data, [0x30, 0x31, 0x32, 0x33]);
    finish(m as Machine<unknown>);
  });

  it('a GHCB page KVM cannot map: ignored without the capability, reported (ghcb-map) with it, handled on restart', () => {
    for (const mode of MODES) {
      const m = sevMachine({
        profile: 'current',
        host: (_kvm, vm) => enable(vm, mode),
        guest: function* (_c, cpu) {
          cpu.ghcbMsr = BigInt(NO_SLOT_GPA);
          yield* cpu.vmgexit();
          return 'resumed';
        },
      });
      const errors: unknown[] = [];
      const r = drive(m, {
        onError: (e) => {
          errors.push(e.code);
          const x = m.vcpu.decodeExit();
          assert.ok(x.kind === 'MemoryFault');
          if (x.kind === 'MemoryFault') {
            assert.equal(x.gpa, BigInt(NO_SLOT_GPA));
            assert.deepEqual(decodeSevboxMemoryFaultFlags(x.flags), {
              cause: 'no-slot',
              access: 'ghcb-map',
              restartable: mode === 'restart',
              write: false,
            });
          }
          m.kvm.host.mapAnonymous(EXTRA_HVA, PAGE);
          m.vm.setUserMemoryRegion({
            slot: 2,
            flags: 0,
            guestPhysAddr: BigInt(NO_SLOT_GPA),
            memorySize: BigInt(PAGE),
            userspaceAddr: BigInt(EXTRA_HVA),
          });
          return 'rerun';
        },
      });
      assert.deepEqual(errors, mode === 'off' ? [] : ['EFAULT']);
      assert.equal(r.guest, 'resumed');
      const entered = m.events.filter((e) => e.name === 'kvm_vmgexit_enter').length;
      // On restart KVM handles the request from the (now mapped, empty) page: a VMGEXIT record.
      assert.equal(entered, mode === 'restart' ? 1 : 0);
      finish(m as Machine<unknown>);
    }
  });
});
