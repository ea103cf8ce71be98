/**
 * The machine-code guests of examples/guests/ on the model KVM with the x86 interpreter: the same
 * images, VMM loop and expectations that test/guests/hostkvm.test.ts checks on the real /dev/kvm,
 * so the interpreter must give the exits and final state a real KVM gives. The SEV-ES guests run
 * here only (an SEV-ES VM of the current kernel, GHCB v2), every exit the result of a #VC.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { modelPlatform } from '../../src/vmm/platform.js';
import {
  bootGuest,
  entryAddress,
  finalState,
  guestImage,
  guestNames,
  loadExpect,
  runGuest,
} from '../guests/corpus.js';
import { describeEngines } from './engines.js';

/**
 * Guests whose run needs more of KVM than the model has yet, with what: the test still runs and
 * reports, but does not fail the suite (node:test's todo).
 */
const KVM_GAPS: Readonly<Record<string, string>> = {};

describeEngines('machine-code guests on the x86 interpreter', (engine) => {
  for (const name of guestNames()) {
    const expect = loadExpect(name);
    for (const format of ['elf', 'bin'] as const) {
      const todo = KVM_GAPS[name];
      it(`${name}.${format}: the exits and final state of ${name}.expect.json`, todo ? { todo } : {}, () => {
        const image = guestImage(name, format, expect);
        const { kvm, memory, openSevDevice } = modelPlatform({ cpu: 'x86', x86: engine.options });
        const guest = bootGuest({ kvm, memory, openSevDevice }, expect, image, entryAddress(expect));
        if (typeof guest === 'string') assert.fail(guest);
        try {
          assert.deepEqual(runGuest(guest.vcpu, expect.exits), expect.exits);
          assert.deepEqual(finalState(guest, expect.final), expect.final);
        } finally {
          guest.close();
        }
      });
    }
  }
});
