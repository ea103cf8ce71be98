/**
 * KVM_MEM_READONLY memslots and SEV-ES (/work/research/kernel-rules.md section 2).
 *
 * v5.17 (prefix, seed) and a legacy SEV-ES VM on any kernel (§2.1): the slot is accepted
 * (check_memory_region_flags offers KVM_MEM_READONLY whenever __KVM_HAVE_READONLY_MEM). A guest store
 * into it is an ordinary nested page fault (present, not writable): KVM never installs an MMIO SPTE
 * for a read-only slot, so the hardware takes an automatic #VMEXIT(NPF), never a #VC.
 * npf_interception → kvm_mmu_page_fault → kvm_faultin_pfn gives KVM_PFN_ERR_RO_FAULT →
 * kvm_handle_bad_page returns RET_PF_EMULATE → x86_emulate_instruction asks
 * svm_can_emulate_instruction, which refuses for an SEV-ES guest ("Emulation is impossible for
 * SEV-ES guests as KVM doesn't have access to guest register state") and KVM resumes the guest, which
 * faults again: an endless loop inside KVM_RUN, ended only by a signal (EINTR, KVM_EXIT_INTR). The
 * guest never sees anything. The model follows the loop for LIVELOCK_NPF_REPEATS faults, then reports
 * it as the VMM's watchdog signal would end it, with a sevbox_livelock trace event.
 *
 * current (§2.2, 66155de93bcf "KVM: x86: Disallow read-only memslots for SEV-ES and SEV-SNP"):
 * kvm_arch_has_readonly_mem(kvm) = !kvm->arch.has_protected_state, so check_memory_region_flags (the
 * first check of __kvm_set_memory_region) refuses KVM_MEM_READONLY on a KVM_X86_SEV_ES_VM with
 * EINVAL, and KVM_CHECK_EXTENSION(KVM_CAP_READONLY_MEM) answers 0 on its VM fd, 1 on the system fd.
 * A legacy SEV-ES VM (type 0 + KVM_SEV_ES_INIT) has no has_protected_state: it still loops.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LIVELOCK_NPF_REPEATS } from '../../src/sev/sev-es-vcpu.js';
import type { LivelockEvent } from '../../src/trace/events.js';
import { KVM_CAP_READONLY_MEM, KVM_X86_SEV_ES_VM } from '../../src/uapi/caps.js';
import type { Errno } from '../../src/uapi/errno.js';
import { KVM_EXIT_INTR } from '../../src/uapi/exit-reasons.js';
import { KVM_MEM_READONLY, type UserspaceMemoryRegion } from '../../src/uapi/memslot.js';
import {
  addSlot,
  createSevEsVm,
  finish,
  leakGuard,
  type Machine,
  openSevKvm,
  PAGE,
  type Profile,
  RAM_SIZE,
  runFails,
  sevInit2,
  sevMachine,
} from './kit.js';

leakGuard();

/** The read-only slot: one page at RO_GPA (slot 2). */
const RO_SLOT = 2;
const RO_GPA = 0x20_0000;
const RO_HVA = 0x7f00_2000_0000;
/** What the VMM put in the read-only page. */
const RO_VALUE = 0x1122_3344;

const roRegion = (flags = KVM_MEM_READONLY): UserspaceMemoryRegion => ({
  slot: RO_SLOT,
  flags,
  guestPhysAddr: BigInt(RO_GPA),
  memorySize: BigInt(PAGE),
  userspaceAddr: BigInt(RO_HVA),
});

/** An SEV-ES machine with the read-only slot; its guest loads from the page, then stores to it. */
function roMachine(profile: Profile, legacyInit = false) {
  return sevMachine({
    profile,
    legacyInit,
    host: (host, vm) => {
      host.mapAnonymous(RO_HVA, PAGE);
      host.write(RO_HVA, Uint8Array.of(0x44, 0x33, 0x22, 0x11));
      addSlot(vm, RO_SLOT, RO_GPA, PAGE, RO_HVA, KVM_MEM_READONLY);
    },
    guest: function* (_c, cpu) {
      cpu.notes.loaded = yield* cpu.load(RO_GPA, 4);
      try {
        yield* cpu.store(RO_GPA, 4, 0xdead_beefn);
      } catch (e) {
        cpu.notes.saw = e; // nothing must ever arrive here
      }
      return 'past the store';
    },
  });
}

/** KVM_RUN twice: each time the livelock, reported as EINTR; the guest learns nothing. */
function assertLivelock(m: Machine<string>): void {
  const livelocks = () => m.events.filter((e): e is LivelockEvent => e.name === 'sevbox_livelock');
  for (let round = 1; round <= 2; round++) {
    const f = runFails(m.vcpu, 'EINTR');
    assert.equal(f.left.kind, 'Intr');
    assert.equal(f.left.reason, KVM_EXIT_INTR);
    assert.equal(f.oops, undefined);
    assert.deepEqual(livelocks()[round - 1], {
      name: 'sevbox_livelock',
      vcpu: 0,
      gpa: RO_GPA,
      write: true,
      repeats: LIVELOCK_NPF_REPEATS,
    });
    assert.equal(livelocks().length, round);
    // No VMGEXIT, no #VC, no exception: the guest sits at its store.
    assert.equal(m.vmgexits, 0);
    assert.equal(m.cpu.notes.saw, undefined, 'the guest saw an exception');
    assert.equal(m.cpu.crash, undefined);
    assert.equal(m.guestReturned, false);
  }
  assert.equal(m.cpu.notes.loaded, BigInt(RO_VALUE), 'reads of the read-only slot work');
  const page = new Uint8Array(4);
  assert.equal(m.host.read(RO_HVA, page), undefined);
  assert.deepEqual([...page], [0x44, 0x33, 0x22, 0x11], 'the page is unchanged');
}

describe('v5.17: a store to a KVM_MEM_READONLY slot livelocks an SEV-ES vCPU (kvm_handle_bad_page → svm_can_emulate_instruction)', () => {
  for (const profile of ['prefix', 'seed'] as const) {
    it(`[${profile}] the slot is accepted; KVM_CAP_READONLY_MEM is 1 on the VM fd and the system fd`, () => {
      const w = openSevKvm(profile);
      const vm = createSevEsVm(w);
      assert.equal(w.kvm.checkExtension(KVM_CAP_READONLY_MEM), 1);
      assert.equal(vm.checkExtension(KVM_CAP_READONLY_MEM), 1);
      w.host.mapAnonymous(RO_HVA, PAGE);
      assert.equal(vm.setUserMemoryRegion(roRegion()), undefined);
      vm.close();
    });

    it(`[${profile}] the store loops on the #NPF inside KVM_RUN: EINTR, KVM_EXIT_INTR, sevbox_livelock; the guest never sees anything`, () => {
      // The model's nested page table maps the slot present and not writable: the store takes an
      // ordinary NPF (NPT_READONLY at the CPU seam), not the reserved-bit MMIO fault that raises #VC.
      const m = roMachine(profile);
      assertLivelock(m);
      finish(m);
    });
  }
});

describe('current: KVM_MEM_READONLY is refused for a protected-state VM type (check_memory_region_flags, kvm_arch_has_readonly_mem)', () => {
  it('[current] KVM_CAP_READONLY_MEM: 0 on a KVM_X86_SEV_ES_VM fd, 1 on the system fd and on a default VM fd', () => {
    const w = openSevKvm('current');
    const vm = createSevEsVm(w);
    const plain = w.kvm.createVm();
    assert.equal(w.kvm.checkExtension(KVM_CAP_READONLY_MEM), 1);
    assert.equal(vm.checkExtension(KVM_CAP_READONLY_MEM), 0);
    assert.equal((plain as typeof vm).checkExtension(KVM_CAP_READONLY_MEM), 1);
    vm.close();
    (plain as typeof vm).close();
  });

  it('[current] the slot is EINVAL before and after KVM_SEV_INIT2; without the flag the same slot is accepted', () => {
    const w = openSevKvm('current');
    w.host.mapAnonymous(RO_HVA, PAGE);
    const vm = w.kvm.createVm(KVM_X86_SEV_ES_VM) as ReturnType<typeof createSevEsVm>;
    // has_protected_state comes with the VM type (svm_vm_init), before any KVM_SEV_INIT2.
    assert.equal((vm.setUserMemoryRegion(roRegion()) as Errno).errno, 'EINVAL');
    assert.equal(sevInit2(vm, w.host), undefined);
    assert.equal((vm.setUserMemoryRegion(roRegion()) as Errno).errno, 'EINVAL');
    assert.equal(vm.setUserMemoryRegion(roRegion(0)), undefined);
    vm.close();
  });

  it('[current] the flags check comes first: READONLY over an existing slot is EINVAL, not EEXIST', () => {
    const w = openSevKvm('current');
    const vm = createSevEsVm(w);
    w.host.mapAnonymous(RO_HVA, RAM_SIZE);
    addSlot(vm, 0, 0, RAM_SIZE, RO_HVA);
    const overlapping = (flags: number): UserspaceMemoryRegion => ({
      slot: 1,
      flags,
      guestPhysAddr: 0x1000n,
      memorySize: BigInt(PAGE),
      userspaceAddr: BigInt(RO_HVA),
    });
    assert.equal((vm.setUserMemoryRegion(overlapping(0)) as Errno).errno, 'EEXIST');
    assert.equal((vm.setUserMemoryRegion(overlapping(KVM_MEM_READONLY)) as Errno).errno, 'EINVAL');
    vm.close();
  });

  it('[current] a legacy SEV-ES VM (type 0 + KVM_SEV_ES_INIT) has no protected-state type: the slot is accepted and the store livelocks', () => {
    const m = roMachine('current', true);
    assert.equal(m.vm.checkExtension(KVM_CAP_READONLY_MEM), 1);
    assertLivelock(m);
    finish(m);
  });
});
