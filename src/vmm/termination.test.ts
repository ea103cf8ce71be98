/**
 * SEV termination requests under the current kernel (KVM_EXIT_SYSTEM_EVENT / SEV_TERM): the MSR
 * protocol's reason decoded from data[0]; the NAE TERM_REQUEST's reason looked for in the GHCB.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GhcbClient } from '../guest/ghcb-client.js';
import { HostAddressSpace } from '../host/address-space.js';
import { ModelProcessMemory } from '../host/process.js';
import { openKvm } from '../kvm/fd.js';
import { Errno } from '../uapi/errno.js';
import { GHCB_OFF_SW_EXIT_INFO_1, GHCB_TERM_CPUID, GHCB_TERM_PSC, SEV_TERM_SET_LINUX } from '../uapi/ghcb.js';
import { SVM_VMGEXIT_TERM_REASON, SVM_VMGEXIT_TERM_REQUEST } from '../uapi/svm.js';
import { GuestRam } from './memory.js';
import { decodeSevTermination } from './termination.js';
import { expectStop, GHCB_GPA, mustAddVcpu, mustCreate, sevMachine } from './test-util.js';

describe('SEV termination (current)', () => {
  it('MSR protocol: reason set and code decoded from the GHCB MSR value, named', () => {
    const vmm = mustCreate(sevMachine('current'));
    mustAddVcpu(vmm, function* (cpu) {
      yield* new GhcbClient(cpu, GHCB_GPA).terminateMsr(SEV_TERM_SET_LINUX, GHCB_TERM_CPUID);
    });
    const r = vmm.run();
    assert.deepEqual(r.stop, {
      kind: 'sev-termination',
      vcpu: 0,
      protocol: 'msr',
      reasonSet: 1,
      reasonCode: 4,
      reasonKnown: true,
      description: 'GHCB_TERM_CPUID (reason set 1, code 4), requested through the GHCB MSR protocol',
    });
    assert.deepEqual(
      r.vmgexits.map((x) => [x.protocol, x.exitCode]),
      [['msr', 0x100n]],
    );
  });

  it('NAE TERM_REQUEST: data[0] is the GHCB GPA; KVM already wrote 0 over sw_exit_info_1, so the reason is reported lost', () => {
    const vmm = mustCreate(sevMachine('current'));
    mustAddVcpu(vmm, function* (cpu) {
      const g = new GhcbClient(cpu, GHCB_GPA, { version: 2 });
      g.register();
      yield* g.termRequest(SEV_TERM_SET_LINUX, GHCB_TERM_PSC);
    });
    const r = vmm.run();
    const s = expectStop(r.stop, 'sev-termination');
    assert.equal(s.protocol, 'ghcb');
    assert.equal(s.ghcbGpa, GHCB_GPA);
    assert.equal(s.reasonKnown, false);
    assert.match(s.description, /^NAE TERM_REQUEST with the GHCB at 0x1000; the reason is lost/);
    const info1 = new Uint8Array(8);
    assert.equal(vmm.readGpa(GHCB_GPA + GHCB_OFF_SW_EXIT_INFO_1, info1), undefined);
    assert.deepEqual([...info1], [0, 0, 0, 0, 0, 0, 0, 0], 'KVM preset success before dispatching');
    assert.deepEqual(
      r.vmgexits.map((x) => [x.exitCode, x.outcome.kind]),
      [[BigInt(SVM_VMGEXIT_TERM_REQUEST), 'userspace']],
    );
  });

  it('decodes a TERM_REQUEST reason the GHCB still holds ([3:0] set, [11:4] code)', () => {
    const host = new HostAddressSpace();
    const ram = new GuestRam(new ModelProcessMemory(host));
    const vm = openKvm({ host }).createVm();
    assert.ok(!(vm instanceof Errno));
    assert.equal(ram.add(vm, 0, { name: 'ram', gpa: 0, size: 0x2000 }), undefined);
    const v = new Uint8Array(8);
    new DataView(v.buffer).setBigUint64(0, SVM_VMGEXIT_TERM_REASON(SEV_TERM_SET_LINUX, GHCB_TERM_PSC), true);
    host.write(ram.gpaToHva(GHCB_GPA + GHCB_OFF_SW_EXIT_INFO_1)!, v);
    const t = decodeSevTermination(BigInt(GHCB_GPA), ram);
    assert.deepEqual(t, {
      protocol: 'ghcb',
      reasonSet: 1,
      reasonCode: 1,
      reasonKnown: true,
      ghcbGpa: GHCB_GPA,
      description: 'GHCB_TERM_PSC (reason set 1, code 1), NAE TERM_REQUEST with the GHCB at 0x1000',
    });
    const unreadable = decodeSevTermination(0x5000n, ram);
    assert.equal(unreadable.reasonKnown, false);
    assert.match(unreadable.description, /cannot read the GHCB \(gpa 0x5398 is not RAM\)/);
  });

  it('the seed kernel has no SEV_TERM event: the same MSR request fails KVM_RUN with EINVAL', () => {
    const vmm = mustCreate(sevMachine('seed'));
    mustAddVcpu(vmm, function* (cpu) {
      yield* new GhcbClient(cpu, GHCB_GPA).terminateMsr(SEV_TERM_SET_LINUX, GHCB_TERM_CPUID);
    });
    assert.deepEqual(vmm.run().stop, { kind: 'kvm-error', vcpu: 0, errno: 'EINVAL' });
  });
});
