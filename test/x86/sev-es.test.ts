/**
 * The interpreter as an SEV-ES guest's CPU, booting a tiny firmware (fixtures/sev-es-rom.s) from
 * the reset vector: into protected mode (the CR0 write completes, then traps to KVM), then CPUID,
 * which KVM intercepts, is a #VC in the guest (error code SVM_EXIT_CPUID), not a #VMEXIT. The
 * guest's #VC handler asks through the GHCB MSR protocol: WRMSR of the GHCB MSR (which KVM passes
 * through: the CPU writes the VMCB's ghcb_gpa), VMGEXIT, RDMSR of the answer, as Linux's early #VC
 * handler does. HLT is an automatic exit.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { KVM_X86_SEV_ES_VM } from '../../src/uapi/caps.js';
import { type Errno, isErrno } from '../../src/uapi/errno.js';
import { encodeSevInit, KVM_SEV_INIT2 } from '../../src/uapi/sev-cmd.js';
import { modelPlatform } from '../../src/vmm/platform.js';

function ok<T>(r: T | Errno): T {
  if (isErrno(r)) assert.fail(String(r));
  return r;
}

const ROM = readFileSync(new URL('./fixtures/sev-es-rom.bin', import.meta.url));
const ROM_GPA = 0xffff_f000;

describe('x86 interpreter: an SEV-ES guest', () => {
  it('CPUID raises #VC; the handler gets the answer through the GHCB MSR protocol; HLT exits', () => {
    const { kvm, memory } = modelPlatform({ profile: 'current', cpu: 'x86' });
    const vm = ok(kvm.createVm(KVM_X86_SEV_ES_VM));
    const init = ok(memory.mapAnonymous(0x1000));
    ok(memory.write(init, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 2 })));
    ok(vm.memoryEncryptOp({ id: KVM_SEV_INIT2, data: BigInt(init), error: 0, sevFd: 0 }));
    const ram = ok(memory.mapAnonymous(0x10000));
    const rom = ok(memory.mapAnonymous(0x1000));
    ok(memory.write(rom, ROM));
    const region = (slot: number, gpa: number, size: number, hva: number) =>
      vm.setUserMemoryRegion({
        slot,
        flags: 0,
        guestPhysAddr: BigInt(gpa),
        memorySize: BigInt(size),
        userspaceAddr: BigInt(hva),
      });
    assert.equal(region(0, 0, 0x10000, ram), undefined);
    assert.equal(region(1, ROM_GPA, 0x1000, rom), undefined);
    const vcpu = ok(vm.createVcpu(0));
    const exit = vcpu.run();
    assert.equal(
      exit.kind,
      'Hlt',
      JSON.stringify(exit, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v)),
    );
    const out = new Uint8Array(12);
    ok(memory.read(ram + 0x2000, out));
    const dv = new DataView(out.buffer);
    assert.equal(dv.getUint32(8, true), 0x72, '#VC error code: SVM_EXIT_CPUID');
    assert.equal(dv.getUint32(4, true) & 0xfff, 0x005, 'GHCB_MSR_CPUID_RESP');
    const leaf = ok(kvm.getSupportedCpuid(256)).find((e) => e.function === 0x8000_0000);
    assert.ok(leaf);
    assert.equal(dv.getUint32(0, true), leaf.eax, 'CPUID 0x80000000 EAX as KVM answers it');
  });
});
