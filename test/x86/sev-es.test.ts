/**
 * The interpreter as an SEV-ES guest's CPU, booting tiny firmwares (fixtures/*.s) from the reset
 * vector into protected mode (the CR0 write completes, then traps to KVM). CPUID and OUT, which KVM
 * intercepts, are #VC in the guest (error code = the exit code), not #VMEXITs. The #VC handlers ask
 * as Linux's and OVMF's do: CPUID through the GHCB MSR protocol (WRMSR of the GHCB MSR, which KVM
 * passes through: the CPU writes the VMCB's ghcb_gpa; VMGEXIT; RDMSR), port I/O through the GHCB
 * page, which KVM turns into KVM_EXIT_IO for the VMM. HLT is an automatic exit.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { ok } from '../../src/kvm/test-util.js';
import { describeEngines, type Engine } from './engines.js';
import { sevEsFirmwareVm } from './sev-es-firmware.js';

const ROM = readFileSync(new URL('./fixtures/sev-es-rom.bin', import.meta.url));
const IOIO_ROM = readFileSync(new URL('./fixtures/sev-es-ioio.bin', import.meta.url));
/** An SEV-ES VM on the interpreter: 64 KiB of RAM at 0 and `rom` (4 KiB) at the top of 4 GiB. */
function boot(engine: Engine, rom: Uint8Array) {
  const { kvm, memory, ram, vcpu } = sevEsFirmwareVm(rom, engine.options);
  /** The three u32s the firmware's #VC handler stored at 0x2000. */
  const results = (): number[] => {
    const out = new Uint8Array(12);
    ok(memory.read(ram + 0x2000, out));
    const dv = new DataView(out.buffer);
    return [0, 4, 8].map((o) => dv.getUint32(o, true));
  };
  return { kvm, vcpu, results };
}

describeEngines('x86 interpreter: an SEV-ES guest', (engine) => {
  it('CPUID raises #VC; the handler gets the answer through the GHCB MSR protocol; HLT exits', () => {
    const { kvm, vcpu, results } = boot(engine, ROM);
    const exit = vcpu.run();
    assert.equal(
      exit.kind,
      'Hlt',
      JSON.stringify(exit, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v)),
    );
    const [eax, resp, code] = results();
    assert.equal(code, 0x72, '#VC error code: SVM_EXIT_CPUID');
    assert.equal(resp! & 0xfff, 0x005, 'GHCB_MSR_CPUID_RESP');
    const leaf = ok(kvm.getSupportedCpuid(256)).find((e) => e.function === 0x8000_0000);
    assert.ok(leaf);
    assert.equal(eax, leaf.eax, 'CPUID 0x80000000 EAX as KVM answers it');
  });

  it('OUT raises #VC; the handler fills the GHCB page and VMGEXITs; the VMM sees KVM_EXIT_IO', () => {
    const { vcpu, results } = boot(engine, IOIO_ROM);
    const io = vcpu.run();
    assert.equal(io.kind, 'IoOut');
    if (io.kind === 'IoOut') assert.deepEqual([io.port, io.size, [...io.data]], [0x80, 1, [0x5a]]);
    assert.equal(vcpu.run().kind, 'Hlt');
    assert.deepEqual(results(), [0, 0, 0x7b], 'svm_vmgexit_success (0, 0); the #VC error code SVM_EXIT_IOIO');
  });
});
