/**
 * The machine-code guests of examples/guests/ on the machine's real /dev/kvm: each image (the ELF
 * and the flat binary) is loaded into a fresh VM as a VMM would (memslots over anonymous memory,
 * `writeGuestImage`, CPUID, flat real mode at the entry), run by a tiny VMM loop that answers its
 * port and MMIO exits from <name>.expect.json, and must produce exactly the exits and final state
 * that file lists. This pins what the x86 interpreter backend has to reproduce. SEV-ES guests are
 * skipped: they need SEV hardware (test/x86/corpus.test.ts runs them on the interpreter).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostVcpuFd } from '../../src/hostkvm/index.js';
import { oracleHost } from '../oracle/host.js';
import {
  bootGuest,
  entryAddress,
  finalState,
  guestImage,
  guestNames,
  loadExpect,
  runGuest,
} from './corpus.js';

const host = oracleHost();
/** Every KVM_RUN's deadline: these guests exit within microseconds. */
const RUN_TIMEOUT_MS = 1000;

describe('machine-code guests on the real /dev/kvm', { skip: host.skip }, () => {
  const kvm = host.kvm!;

  for (const name of guestNames()) {
    const expect = loadExpect(name);
    if (expect.vm === 'sev-es') {
      it(`${name}: an SEV-ES guest`, { skip: 'SEV-ES needs kvm_amd on SEV hardware' }, () => {});
      continue;
    }
    for (const format of ['elf', 'bin'] as const) {
      it(`${name}.${format}: ${expect.exits.length} exits and the final state of ${name}.expect.json`, () => {
        const image = guestImage(name, format, expect);
        const memory = kvm.processMemory();
        const guest = bootGuest({ kvm, memory }, expect, image, entryAddress(expect));
        if (typeof guest === 'string') {
          memory.close();
          assert.fail(guest);
        }
        try {
          assert.ok(guest.vcpu instanceof HostVcpuFd);
          guest.vcpu.timeoutMs = RUN_TIMEOUT_MS;
          assert.deepEqual(runGuest(guest.vcpu, expect.exits), expect.exits);
          assert.deepEqual(finalState(guest, expect.final), expect.final);
        } finally {
          guest.close();
          memory.close();
        }
      });
    }
  }
});
