/**
 * sevbox's extension beyond KVM, at the KVM ioctl level: every host-side fault of the VMGEXIT
 * scratch path × {capabilities off, KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO, + KVM_CAP_SEVBOX_VMGEXIT_RESTART}
 * under seed and current: the errno, the kvm_run memory_fault fields, and what the guest sees after
 * the VMM fixes the cause and runs again — success with no data without restart (vmgexit.md
 * section 6), exactly a fault-free run with restart. Every machine is checked for leaks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HostAddressSpace } from '../../src/host/address-space.js';
import { PROT_NONE, PROT_READ, PROT_WRITE } from '../../src/host/address-space.js';
import type { HostAllocator } from '../../src/host/allocator.js';
import { HostFile } from '../../src/host/file-store.js';
import { type ModelVmFd, openKvm } from '../../src/kvm/fd.js';
import { KVM_CORE_5_17, KVM_CORE_CURRENT } from '../../src/kvm/profile.js';
import {
  KVM_CAP_MEMORY_FAULT_INFO,
  KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO,
  KVM_CAP_SEVBOX_VMGEXIT_RESTART,
  KVM_X86_SEV_ES_VM,
} from '../../src/uapi/caps.js';
import { Errno } from '../../src/uapi/errno.js';
import {
  decodeSevboxMemoryFaultFlags,
  KVM_EXIT_MEMORY_FAULT,
  type SevboxFaultCause,
} from '../../src/uapi/exit-reasons.js';
import {
  GHCB_ERR_INVALID_SCRATCH_AREA,
  GHCB_OFF_RAX,
  GHCB_OFF_RBX,
  GHCB_OFF_RCX,
  GHCB_OFF_RDX,
} from '../../src/uapi/ghcb.js';
import type { VcpuExit } from '../../src/uapi/vcpu-exit.js';
import {
  addSlot,
  createSevEsVm,
  drive,
  enableCap,
  finish,
  guestValidBits,
  leakGuard,
  type Machine,
  MMIO_GPA,
  mmioBytes,
  NO_SLOT_GPA,
  openSevKvm,
  PAGE,
  PORT,
  rawMmio,
  rawStringIo,
  runFails,
  SCRATCH_GPA,
  SPARE_GPA,
  SPARE_HVA,
  sevInit2,
  sevMachine,
} from '../sev/kit.js';

leakGuard();

const EXTRA_HVA = 0x7f00_2000_0000;
/** What a post-copy source would deliver for the page: recognisable, not the device's answer. */
const SOURCE = new Uint8Array(PAGE).fill(0x5a);

type Mode = 'off' | 'metadata' | 'restart';
const MODES: readonly Mode[] = ['off', 'metadata', 'restart'];

/** KVM_ENABLE_CAP of the sevbox capabilities `mode` asks for, on the VM fd. */
function enable(vm: ModelVmFd, mode: Mode): void {
  if (mode === 'off') return;
  enableCap(vm, KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO);
  if (mode === 'restart') enableCap(vm, KVM_CAP_SEVBOX_VMGEXIT_RESTART);
}

/** What the VMM acts on to cause or fix a fault: its address space, the VM fd, the kernel allocator. */
type Act = (host: HostAddressSpace, vm: ModelVmFd, allocator: HostAllocator) => void;

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
  make(): { setup: Act; fix: Act };
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
      fix: (host, vm) => {
        host.mapAnonymous(EXTRA_HVA, PAGE);
        addSlot(vm, 2, NO_SLOT_GPA, PAGE, EXTRA_HVA);
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
      setup: (host) => host.unmap(SPARE_HVA, PAGE),
      fix: (host) => host.mapAnonymous(SPARE_HVA, PAGE),
    }),
  },
  {
    name: 'userfault page missing (post-copy)',
    errno: 'EFAULT',
    cause: 'userfault-missing',
    scratch: SPARE_GPA,
    fixedBytes: Array(8).fill(0x5a),
    make: () => ({
      setup: (host) => host.mapMissing(SPARE_HVA, PAGE),
      fix: (host) => host.populate(SPARE_HVA, SOURCE),
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
        setup: (host) => {
          host.mapFile(SPARE_HVA, PAGE, file, 0);
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
      setup: (host) => host.protect(SPARE_HVA, PAGE, PROT_NONE),
      fix: (host) => host.protect(SPARE_HVA, PAGE, PROT_READ | PROT_WRITE),
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
      fix: (_host, _vm, allocator) => {
        allocator.budget = Number.POSITIVE_INFINITY;
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
    host: (host, vm, allocator) => {
      f.setup(host, vm, allocator);
      f.fix(host, vm, allocator);
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
      for (const mode of MODES) {
        it(`${k.name}, ${mode}: KVM_RUN fails ${k.errno}; ${mode === 'restart' ? 'restart = a fault-free run' : 'a re-run resumes past the VMGEXIT with no data'}`, () => {
          const baseline = faultFree(profile, k);
          const f = k.make();
          const m = sevMachine({
            profile,
            ...(k.budget !== undefined ? { budget: k.budget } : {}),
            host: (host, vm, allocator) => {
              enable(vm, mode);
              f.setup(host, vm, allocator);
            },
            guest: mmioGuest(k.scratch),
          });
          const seen: { reason: number; exit: VcpuExit }[] = [];
          const r = drive(m, {
            onError: (failure) => {
              // What the VMM sees: the errno and kvm_run as KVM left it.
              seen.push({ reason: m.vcpu.runArea.exitReason, exit: failure.left });
              assert.equal(failure.left.reason, m.vcpu.runArea.exitReason);
              assert.equal(failure.error.errno, k.errno);
              assert.equal(m.guestReturned, false);
              f.fix(m.host, m.vm, m.allocator);
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
      const kvm = openKvm({ core });
      assert.equal(kvm.checkExtension(KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO), 1);
      assert.equal(kvm.checkExtension(KVM_CAP_SEVBOX_VMGEXIT_RESTART), 1);
      assert.equal(kvm.checkExtension(KVM_CAP_MEMORY_FAULT_INFO), core.memoryFaultInfo ? 1 : 0);
    }
  });

  for (const profile of ['seed', 'current'] as const) {
    it(`[${profile}] EINVAL: unknown capability, non-SEV-ES VM, RESTART before FAULT_INFO, non-zero args; EBADF once the VM fd is closed`, () => {
      const w = openSevKvm(profile);
      const einval = (r: unknown) => assert.equal(r instanceof Errno && r.errno, 'EINVAL', `got ${r}`);
      const cap = (vm: ModelVmFd, c: number, args: bigint[] = [0n, 0n, 0n, 0n]) =>
        vm.enableCap({ cap: c, flags: 0, args });
      const plain = w.kvm.createVm() as ModelVmFd;
      einval(cap(plain, KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO));
      if (profile === 'current') {
        // A KVM_X86_SEV_ES_VM is no SEV-ES guest until KVM_SEV_INIT2.
        const uninit = w.kvm.createVm(KVM_X86_SEV_ES_VM) as ModelVmFd;
        einval(cap(uninit, KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO));
        assert.equal(sevInit2(uninit, w.host), undefined);
        assert.equal(cap(uninit, KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO), undefined);
        uninit.close();
      }
      const vm = createSevEsVm(w);
      einval(cap(vm, 12345));
      einval(cap(vm, KVM_CAP_SEVBOX_VMGEXIT_RESTART));
      einval(cap(vm, KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO, [1n, 0n, 0n, 0n]));
      // struct kvm_enable_cap has exactly args[4]: the last one non-zero is refused too.
      einval(cap(vm, KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO, [0n, 0n, 0n, 1n]));
      einval(vm.enableCap({ cap: KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO, flags: 1, args: [0n, 0n, 0n, 0n] }));
      assert.equal(cap(vm, KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO), undefined);
      assert.equal(cap(vm, KVM_CAP_SEVBOX_VMGEXIT_RESTART), undefined);
      vm.close();
      assert.equal(cap(vm, KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO)?.errno, 'EBADF');
      plain.close();
    });
  }

  it('[seed] EIO on a VM a host oops killed (size-0 OUTS)', () => {
    const m = sevMachine({ profile: 'seed', guest: (c) => rawStringIo(c, 'out', 0, 4, SCRATCH_GPA) });
    const f = runFails(m.vcpu, 'EIO');
    assert.match(f.oops ?? '', /divide error/);
    const r = m.vm.enableCap({ cap: KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO, flags: 0, args: [0n, 0n, 0n, 0n] });
    assert.ok(r instanceof Errno);
    assert.equal(r.errno, 'EIO');
    finish(m as Machine<unknown>);
  });

  it('prefix still reflects host failures to the guest with the capabilities on (nothing to report)', () => {
    const m = sevMachine({
      profile: 'prefix',
      host: (_host, vm) => enable(vm, 'restart'),
      guest: mmioGuest(NO_SLOT_GPA),
    });
    const r = drive(m);
    assert.deepEqual(
      r.runs.map((x) => ('exit' in x ? x.exit : x.errno)),
      ['Hlt'],
      'no failed KVM_RUN: the guest ran on to its HLT',
    );
    assert.equal(r.guest!.result.kind, 'reflected');
    assert.equal(r.guest!.result.info2, BigInt(GHCB_ERR_INVALID_SCRATCH_AREA));
    finish(m as Machine<unknown>);
  });
});

describe('restart details', () => {
  it('a multi-page scratch area: gpa is the first page KVM could not read, size runs to the end of the access', () => {
    const m = sevMachine({
      profile: 'seed',
      host: (host, vm) => {
        enable(vm, 'restart');
        host.mapMissing(SPARE_HVA + PAGE, PAGE);
      },
      guest: (c) => rawMmio(c, 'read', MMIO_GPA, 0x1800, SPARE_GPA + 0x800),
    });
    const x = runFails(m.vcpu, 'EFAULT').left;
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
      host: (_host, vm) => enable(vm, 'restart'),
      guest: mmioGuest(NO_SLOT_GPA),
    });
    for (let i = 0; i < 5; i++) {
      const x = runFails(m.vcpu, 'EFAULT').left;
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
        host: (host, vm, allocator) => {
          enable(vm, 'restart');
          f.setup(host, vm, allocator);
        },
        guest: mmioGuest(k.scratch),
      });
      runFails(m.vcpu, k.errno);
      finish(m as Machine<unknown>); // asserts allocator.inUse() === 0
    });
  }

  it('a restarted string OUT hands the port its bytes exactly once', () => {
    const bytes = [0x11, 0x22, 0x33, 0x44];
    const m = sevMachine({
      profile: 'seed',
      host: (host, vm) => {
        enable(vm, 'restart');
        host.mapMissing(SPARE_HVA, PAGE);
      },
      guest: function* (c) {
        return yield* rawStringIo(c, 'out', 1, bytes.length, SPARE_GPA);
      },
    });
    const page = new Uint8Array(PAGE);
    page.set(bytes);
    const r = drive(m, {
      onError: () => {
        m.host.populate(SPARE_HVA, page);
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
      host: (_host, vm) => enable(vm, 'restart'),
      guest: function* (c, cpu) {
        const result = yield* rawStringIo(c, 'in', 1, 4, NO_SLOT_GPA);
        const d = new Uint8Array(4);
        cpu.mem.read(NO_SLOT_GPA, d);
        return { result, data: [...d] };
      },
    });
    const r = drive(m, {
      onError: () => {
        m.host.mapAnonymous(EXTRA_HVA, PAGE);
        addSlot(m.vm, 2, NO_SLOT_GPA, PAGE, EXTRA_HVA);
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
        host: (_host, vm) => enable(vm, mode),
        guest: function* (_c, cpu) {
          cpu.ghcbMsr = BigInt(NO_SLOT_GPA);
          yield* cpu.vmgexit();
          return 'resumed';
        },
      });
      const errors: unknown[] = [];
      const r = drive(m, {
        onError: (failure) => {
          errors.push(failure.error.errno);
          const x = failure.left;
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
          m.host.mapAnonymous(EXTRA_HVA, PAGE);
          addSlot(m.vm, 2, NO_SLOT_GPA, PAGE, EXTRA_HVA);
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
