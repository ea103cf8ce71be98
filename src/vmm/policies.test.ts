/**
 * The seed commit's errors, met by the run's policies: ENOMEM (stop, raise the budget, re-run) and
 * EFAULT (stop with a diagnosis, re-run), retries bounded, and re-runs behaving exactly as KVM
 * does: the VMGEXIT that failed is not retried, the guest reads success with no data.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SVM_VMGEXIT_MMIO_READ } from '../uapi/svm.js';
import { allocatorOf, expectStop, mmioReader, mustAddVcpu, mustCreate, sevMachine } from './test-util.js';
import type { Policies } from './types.js';

const rerun = (maxRetries: number): Policies => ({
  enomem: { action: 'rerun', maxRetries },
  efault: { action: 'rerun', maxRetries },
});
const hex = (n: number): string => `0x${n.toString(16)}`;
const MMIO_READ = `VMGEXIT MMIO_READ (${hex(SVM_VMGEXIT_MMIO_READ)})`;

describe('ENOMEM (the bounce buffer cannot be allocated)', () => {
  it('stop: the run ends with kvm-error ENOMEM and nothing retried', () => {
    const vmm = mustCreate(sevMachine('seed', { host: { budget: 0 } }));
    const v = mustAddVcpu(vmm, mmioReader(0x4000));
    const r = vmm.run();
    assert.deepEqual(r.stop, { kind: 'kvm-error', vcpu: 0, errno: 'ENOMEM' });
    assert.deepEqual(r.retried, []);
    assert.deepEqual(v.cpu.notes.reads, []);
    assert.deepEqual(r.vmgexits[0]?.outcome, { kind: 'error', errno: 12, reasons: [] });
  });

  it('raise-budget: the re-run succeeds from then on, but the failed VMGEXIT is not retried', () => {
    const vmm = mustCreate(sevMachine('seed', { host: { budget: 0 } }));
    const v = mustAddVcpu(vmm, mmioReader(0x4000, 2));
    const r = vmm.run({
      policies: { enomem: { action: 'raise-budget', maxRetries: 3 }, efault: { action: 'stop' } },
    });
    expectStop(r.stop, 'guest-done');
    assert.deepEqual(r.retried, [{ vcpu: 0, errno: 'ENOMEM' }]);
    assert.equal(allocatorOf(vmm).budget, 64 * 1024);
    assert.deepEqual(v.cpu.notes.reads, [
      { result: 'ok', value: 0n }, // KVM moved past it: "success", no data
      { result: 'ok', value: 0xdeadbeefn },
    ]);
    assert.deepEqual(
      r.vmgexits.map((x) => x.outcome.kind),
      ['error', 'userspace'],
    );
  });

  it('raise-budget by a given amount', () => {
    const vmm = mustCreate(sevMachine('seed', { host: { budget: 2 } }));
    mustAddVcpu(vmm, mmioReader(0x4000));
    vmm.run({
      policies: { enomem: { action: 'raise-budget', bytes: 100, maxRetries: 1 }, efault: { action: 'stop' } },
    });
    assert.equal(allocatorOf(vmm).budget, 102);
  });

  it('rerun under the seed profile: the guest reads success with no data — the silent loss', () => {
    const vmm = mustCreate(sevMachine('seed', { host: { budget: 0 } }));
    const v = mustAddVcpu(vmm, mmioReader(0x4000));
    const r = vmm.run({ policies: rerun(1) });
    expectStop(r.stop, 'guest-done');
    assert.deepEqual(r.retried, [{ vcpu: 0, errno: 'ENOMEM' }]);
    assert.deepEqual(v.cpu.notes.reads, [{ result: 'ok', value: 0n }]);
    assert.equal(vmm.mmio.unclaimed.length, 0, 'the device was never asked');
  });

  it('retries are bounded: the next failure after maxRetries stops the run', () => {
    const vmm = mustCreate(sevMachine('seed', { host: { budget: 0 } }));
    const v = mustAddVcpu(vmm, mmioReader(0x4000, 5));
    const r = vmm.run({ policies: rerun(2) });
    assert.deepEqual(r.stop, { kind: 'kvm-error', vcpu: 0, errno: 'ENOMEM' });
    assert.deepEqual(r.retried, [
      { vcpu: 0, errno: 'ENOMEM' },
      { vcpu: 0, errno: 'ENOMEM' },
    ]);
    // Two reads resumed after their re-runs (success, no data); the third stopped the run.
    assert.deepEqual(v.cpu.notes.reads, [
      { result: 'ok', value: 0n },
      { result: 'ok', value: 0n },
    ]);
  });

  it('injected allocation faults count too (failNth), and a raised budget does not cure them', () => {
    const vmm = mustCreate(sevMachine('seed', { host: { allocFaults: { failNth: [1, 2] } } }));
    const v = mustAddVcpu(vmm, mmioReader(0x4000, 3));
    const r = vmm.run({
      policies: { enomem: { action: 'raise-budget', maxRetries: 5 }, efault: { action: 'stop' } },
    });
    expectStop(r.stop, 'guest-done');
    assert.deepEqual(r.retried, [
      { vcpu: 0, errno: 'ENOMEM' },
      { vcpu: 0, errno: 'ENOMEM' },
    ]);
    assert.deepEqual(v.cpu.notes.reads, [
      { result: 'ok', value: 0n },
      { result: 'ok', value: 0n },
      { result: 'ok', value: 0xdeadbeefn },
    ]);
  });
});

describe('EFAULT: the diagnosis names the vCPU, the VMGEXIT, the GPA, the memslot and the hva', () => {
  it('no memslot: the guest used memory the VMM never declared as RAM', () => {
    const vmm = mustCreate(sevMachine('seed'));
    mustAddVcpu(vmm, mmioReader(0x2000_0000));
    const s = expectStop(vmm.run().stop, 'kvm-error');
    assert.equal(s.errno, 'EFAULT');
    const d = s.diagnosis!;
    assert.equal(
      d.text,
      `vCPU 0: ${MMIO_READ}: scratch GPA 0x20000000 is not in any memslot — the guest used memory the VMM never declared as RAM`,
    );
    assert.deepEqual(d.vmgexit, { exitCode: BigInt(SVM_VMGEXIT_MMIO_READ), name: 'SVM_VMGEXIT_MMIO_READ' });
    assert.equal(d.gpa, 0x2000_0000);
    assert.equal(d.memslot, null);
    assert.equal(d.hvaState, undefined);
    assert.equal(d.source, 'scratch');
  });

  it('an hva the VMM unmapped', () => {
    const vmm = mustCreate(sevMachine('seed'));
    mustAddVcpu(vmm, mmioReader(0x8000));
    assert.equal(vmm.unmapGpa(0x8000, 0x1000), undefined);
    const d = expectStop(vmm.run().stop, 'kvm-error').diagnosis!;
    const hva = vmm.gpaToHva(0x8000)!;
    assert.equal(
      d.text,
      `vCPU 0: ${MMIO_READ}: scratch GPA 0x8000 is in memslot 0 'ram' at hva ${hex(hva)}: unmapped`,
    );
    assert.deepEqual(d.memslot, { slot: 0, gpa: 0, size: 0x10000, name: 'ram' });
    assert.equal(d.hva, hva);
    assert.deepEqual(d.hvaState, { state: 'unmapped' });
  });

  it('a userfault page not yet populated; after populating, a re-run resumes the guest past the VMGEXIT', () => {
    const vmm = mustCreate(
      sevMachine('seed', { ram: [{ name: 'lazy', gpa: 0x100000, size: 0x4000, backing: 'lazy' }] }),
    );
    const v = mustAddVcpu(vmm, mmioReader(0x100000));
    const d = expectStop(vmm.run().stop, 'kvm-error').diagnosis!;
    const hva = vmm.gpaToHva(0x100000)!;
    assert.equal(
      d.text,
      `vCPU 0: ${MMIO_READ}: scratch GPA 0x100000 is in memslot 1 'lazy' at hva ${hex(hva)}: userfault page missing (registered with userfaultfd, not yet populated)`,
    );
    assert.equal(d.hvaState?.state, 'missing');
    // The VMM resolves the fault and runs again: KVM does not retry the MMIO read; the guest
    // reads "success" and finds what the VMM put in the page, not the device's value.
    assert.equal(vmm.populate(0x100000, Uint8Array.of(0x77, 0x77, 0x77, 0x77)), undefined);
    const again = vmm.run();
    expectStop(again.stop, 'guest-done');
    assert.deepEqual(v.cpu.notes.reads, [{ result: 'ok', value: 0x77777777n }]);
    assert.equal(vmm.populate(0x100000, new Uint8Array(1))?.errno, 'EEXIST');
  });

  it('a file-backed page past EOF after the VMM truncated the file', () => {
    const vmm = mustCreate(
      sevMachine('seed', { ram: [{ name: 'dax', gpa: 0x100000, size: 0x4000, backing: 'file' }] }),
    );
    mustAddVcpu(vmm, mmioReader(0x102000));
    assert.equal(vmm.truncateFile('dax', 0x1000), undefined);
    const d = expectStop(vmm.run().stop, 'kvm-error').diagnosis!;
    const hva = vmm.gpaToHva(0x102000)!;
    assert.equal(
      d.text,
      `vCPU 0: ${MMIO_READ}: scratch GPA 0x102000 is in memslot 1 'dax' at hva ${hex(hva)}: file 'dax' offset 0x2000 is beyond EOF (file truncated to 4096 bytes)`,
    );
    assert.equal(d.hvaState?.state, 'file');
    assert.equal(vmm.truncateFile('nope', 0)?.errno, 'ENOENT');
  });

  it('rerun: each retry carries its diagnosis, and retries are bounded', () => {
    const vmm = mustCreate(sevMachine('seed'));
    const v = mustAddVcpu(vmm, mmioReader(0x2000_0000, 3));
    const r = vmm.run({ policies: rerun(2) });
    const s = expectStop(r.stop, 'kvm-error');
    assert.equal(s.errno, 'EFAULT');
    assert.deepEqual(
      r.retried.map((x) => [x.vcpu, x.errno]),
      [
        [0, 'EFAULT'],
        [0, 'EFAULT'],
      ],
    );
    for (const x of r.retried) assert.match(x.diagnosis!.text, /is not in any memslot/);
    assert.deepEqual(v.cpu.notes.reads, [
      { result: 'ok', value: undefined },
      { result: 'ok', value: undefined },
    ]);
  });

  it('an unprotected guest touching a missing userfault page: KVM_EXIT_MEMORY_FAULT names the GPA, and the re-run retries the access', () => {
    const vmm = mustCreate({
      boot: 'long-mode',
      ram: [
        { name: 'ram', gpa: 0, size: 0x1000 },
        { name: 'lazy', gpa: 0x100000, size: 0x2000, backing: 'lazy' },
      ],
    });
    const v = mustAddVcpu(vmm, function* (cpu) {
      cpu.notes.value = yield* cpu.load(0x100ff8, 8);
    });
    const d = expectStop(vmm.run().stop, 'kvm-error').diagnosis!;
    const hva = vmm.gpaToHva(0x100000)!;
    assert.equal(d.source, 'memory-fault-exit');
    assert.equal(d.vmgexit, undefined);
    assert.equal(
      d.text,
      `vCPU 0: GPA 0x100000 is in memslot 1 'lazy' at hva ${hex(hva)}: userfault page missing (registered with userfaultfd, not yet populated)`,
    );
    const page = new Uint8Array(0x1000);
    new DataView(page.buffer).setBigUint64(0xff8, 0x1122_3344_5566_7788n, true);
    assert.equal(vmm.populate(0x100000, page), undefined);
    expectStop(vmm.run().stop, 'guest-done');
    assert.equal(v.cpu.notes.value, 0x1122_3344_5566_7788n);
  });

  it('before the seed commit (prefix) the same host failures are reflected to the guest instead', () => {
    const vmm = mustCreate(sevMachine('prefix', { host: { budget: 0 } }));
    const v = mustAddVcpu(vmm, mmioReader(0x2000_0000));
    const r = vmm.run();
    expectStop(r.stop, 'guest-done');
    assert.deepEqual(v.cpu.notes.reads, [{ result: 'reflected', value: undefined }]);
  });
});
