/**
 * The interpreter as an SEV-ES guest's CPU, booting tiny firmwares (fixtures/*.s) from the reset
 * vector into protected mode (the CR0 write completes, then traps to KVM). CPUID and OUT, which KVM
 * intercepts, are #VC in the guest (error code = the exit code), not #VMEXITs. The #VC handlers ask
 * as Linux's and OVMF's do: CPUID through the GHCB MSR protocol (WRMSR of the GHCB MSR, which KVM
 * passes through: the CPU writes the VMCB's ghcb_gpa; VMGEXIT; RDMSR), port I/O through the GHCB
 * page, which KVM would turn into KVM_EXIT_IO for the VMM, but this firmware writes the GHCB with
 * paging off, where every access is private: the commonest SEV-ES guest bug. HLT is an automatic
 * exit. The firmware is measured and encrypted at launch; the results are read privately (debug).
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
  const { kvm, vcpu, readPrivate, memory, ram } = sevEsFirmwareVm(rom, engine.options);
  /** The GHCB page at 0x3000 as the host (KVM, the VMM) sees it. */
  const hostGhcb = (): DataView => {
    const page = new Uint8Array(0x1000);
    ok(memory.read(ram + 0x3000, page));
    return new DataView(page.buffer);
  };
  /** The three u32s the firmware's #VC handler stored at 0x2000 (private: paging is off). */
  const results = (): number[] => {
    const dv = new DataView(readPrivate(0x2000, 16).buffer);
    return [0, 4, 8].map((o) => dv.getUint32(o, true));
  };
  return { kvm, vcpu, results, hostGhcb };
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

  it('a GHCB written with paging off is private: KVM reads ciphertext, refuses the usage, and the guest cannot read the answer', () => {
    // The #VC handler fills the GHCB at 0x3000 before enabling paging: every access is private, so
    // the page holds ciphertext. KVM sees a garbage ghcb_usage and answers GHCB_ERR_INVALID_USAGE in
    // plaintext; the VMM never sees the port write; the guest decrypts KVM's answer into noise.
    const { vcpu, results, hostGhcb } = boot(engine, IOIO_ROM);
    assert.equal(vcpu.run().kind, 'Hlt', 'no KVM_EXIT_IO');
    const ghcb = hostGhcb();
    assert.notEqual(ghcb.getUint32(0xffc, true), 0, 'ghcb_usage as KVM read it: ciphertext');
    assert.equal(ghcb.getBigUint64(0x398, true), 2n, 'sw_exit_info_1: reflected');
    assert.equal(ghcb.getBigUint64(0x3a0, true), 2n, 'sw_exit_info_2: GHCB_ERR_INVALID_USAGE');
    const [info1, , code] = results();
    assert.equal(code, 0x7b, 'the #VC error code: SVM_EXIT_IOIO');
    assert.notEqual(info1, 2, 'the guest reads its private GHCB: not what KVM wrote');
  });
});
