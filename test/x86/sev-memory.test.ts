/**
 * The memory-encryption model on every path a long-mode SEV-ES guest on the interpreter takes:
 * instruction fetches and page walks (private: the code and page tables were measured and encrypted
 * at launch, so the guest runs at all only if they decrypt), loads and stores through a C-bit
 * mapping (private: host memory holds ciphertext) and through an alias without it (shared: host
 * memory holds what the guest wrote, the guest reads what the host wrote), a private load of bytes
 * the host wrote in plaintext (noise), and a host write into a private page the guest used (the
 * guest's next private read decrypts the host's bytes: SEV-ES has no integrity). Also SEV_STATUS,
 * which the guest reads without a #VC.
 *
 * The map: PD[0] identity-maps 0-2 MiB with the C-bit (private), PD[1] maps 2-4 MiB onto the same
 * physical 0-2 MiB without it (shared).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { X86CpuOptions } from '../../src/cpu/x86/cpu.js';
import type { ModelVcpuFd } from '../../src/kvm/fd.js';
import { ok } from '../../src/kvm/test-util.js';
import { KVM_X86_SEV_ES_VM } from '../../src/uapi/caps.js';
import { DEFAULT_CBIT } from '../../src/uapi/ghcb.js';
import { encodeSevInit, KVM_SEV_INIT2 } from '../../src/uapi/sev-cmd.js';
import { identityPageTables, setLongModeEntry } from '../../src/vmm/long-mode-entry.js';
import { modelPlatform } from '../../src/vmm/platform.js';
import { isSevLaunchError, launchSevEs } from '../../src/vmm/sev-launch.js';
import { describeEngines } from './engines.js';

const RAM = 0x20000;
const TABLES = 0x10000;
const SHARED = 0x20_0000;
const PRIVATE_WORD = 0x5000;
const SHARED_STORE = 0x6000;
const HOST_PLAIN = 0x7000;
const RESULTS = 0x8000;
const HOST_PLAIN_READ_PRIVATE = 0x9000;
const AFTER_HOST_WRITE = 0xa000;

/** mov dword [abs], imm32 / mov rax, [abs] / mov [abs], rax (abs as a sign-extended disp32). */
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const movImm = (at: number, v: number) => [0xc7, 0x04, 0x25, ...le32(at), ...le32(v)];
const load = (at: number) => [0x48, 0x8b, 0x04, 0x25, ...le32(at)];
const store = (at: number) => [0x48, 0x89, 0x04, 0x25, ...le32(at)];
const HLT = [0xf4];

const CODE = Uint8Array.from([
  ...movImm(PRIVATE_WORD, 0x1122_3344), // private store
  ...movImm(SHARED + SHARED_STORE, 0x5566_7788), // shared store
  ...load(SHARED + HOST_PLAIN), // shared load of what the VMM wrote
  ...store(RESULTS),
  ...load(HOST_PLAIN_READ_PRIVATE), // private load of plaintext the VMM wrote
  ...store(RESULTS + 8),
  ...[0xb9, ...le32(0xc001_0131), 0x0f, 0x32], // rdmsr SEV_STATUS: no #VC, SEV | SEV-ES
  ...[0x89, 0x04, 0x25, ...le32(RESULTS + 16)],
  ...[0x0f, 0x20, 0xc0, 0x0f, 0x22, 0xc0], // mov rax, cr0; mov cr0, rax (the write traps to KVM)
  ...[0x0f, 0x20, 0xc0], // mov rax, cr0: not intercepted for SEV-ES; bits 63:32 are zero
  ...store(RESULTS + 24),
  ...HLT,
  ...load(PRIVATE_WORD), // after the VMM wrote into this private page
  ...store(AFTER_HOST_WRITE),
  ...HLT,
]);

const HOST_BYTES = Uint8Array.from([0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8]);

function machine(options: X86CpuOptions, code: Uint8Array = CODE) {
  const platform = modelPlatform({ profile: 'current', cpu: 'x86', x86: options });
  const { kvm, memory } = platform;
  const vm = ok(kvm.createVm(KVM_X86_SEV_ES_VM));
  const init = ok(memory.mapAnonymous(0x1000));
  ok(memory.write(init, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 2 })));
  ok(vm.memoryEncryptOp({ id: KVM_SEV_INIT2, data: BigInt(init), error: 0, sevFd: 0 }));
  const hva = ok(memory.mapAnonymous(RAM));
  ok(
    vm.setUserMemoryRegion({
      slot: 0,
      flags: 0,
      guestPhysAddr: 0n,
      memorySize: BigInt(RAM),
      userspaceAddr: BigInt(hva),
    }),
  );
  for (const t of identityPageTables(TABLES, 2 << 20, DEFAULT_CBIT)) ok(memory.write(hva + t.gpa, t.bytes));
  // PD[1]: 2-4 MiB onto physical 0-2 MiB, no C-bit.
  const pd1 = new Uint8Array(8);
  new DataView(pd1.buffer).setBigUint64(0, 0x83n, true);
  ok(memory.write(hva + TABLES + 0x2000 + 8, pd1));
  ok(memory.write(hva + 0x1000, code));
  ok(memory.write(hva + HOST_PLAIN, HOST_BYTES));
  ok(memory.write(hva + HOST_PLAIN_READ_PRIVATE, HOST_BYTES));
  const vcpu = ok(vm.createVcpu(0)) as ModelVcpuFd;
  ok(setLongModeEntry(vcpu, { rip: 0x1000, rsp: 0xf000, cr3: TABLES }));
  // Everything measured but the two pages the VMM wrote plaintext into.
  const r = launchSevEs(vm, memory, {
    sevFd: platform.openSevDevice(),
    measure: [
      { hva, len: HOST_PLAIN },
      { hva: hva + RESULTS, len: HOST_PLAIN_READ_PRIVATE - RESULTS },
      { hva: hva + AFTER_HOST_WRITE, len: RAM - AFTER_HOST_WRITE },
    ],
  });
  if (isSevLaunchError(r)) assert.fail(`launch: ${r.command}: ${r.errno}`);
  const host = (gpa: number, len: number): Uint8Array => {
    const b = new Uint8Array(len);
    ok(memory.read(hva + gpa, b));
    return b;
  };
  /** The guest's private view (debug: the model's key). */
  const priv = (gpa: number, len: number): Uint8Array => {
    const page = gpa - (gpa % 0x1000);
    const plain = platform.memoryController.debugPlaintext(
      vcpu.vcpu.vmcb.asid,
      hva + page,
      host(page, 0x1000),
    );
    assert.ok(plain);
    return plain.subarray(gpa - page, gpa - page + len);
  };
  return { vcpu, host, priv, memory, hva };
}

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describeEngines('x86 interpreter: private and shared memory of an SEV-ES guest', (engine) => {
  it('fetches and walks decrypt; C-bit stores are ciphertext to the host, alias stores are not; loads see the same', () => {
    const m = machine(engine.options);
    assert.equal(m.vcpu.run().kind, 'Hlt', 'the code and page tables decrypted: the guest ran');
    assert.equal(hexOf(m.priv(PRIVATE_WORD, 4)), '44332211', 'the guest stored it privately');
    assert.notEqual(hexOf(m.host(PRIVATE_WORD, 4)), '44332211', 'the host reads ciphertext');
    assert.equal(hexOf(m.host(SHARED_STORE, 4)), '88776655', 'a shared store is plaintext in host memory');
    assert.equal(hexOf(m.priv(RESULTS, 8)), hexOf(HOST_BYTES), 'a shared load reads what the host wrote');
    const noise = m.priv(RESULTS + 8, 8);
    assert.notEqual(hexOf(noise), hexOf(HOST_BYTES), 'a private load of host plaintext is noise');
    assert.equal(
      hexOf(m.priv(RESULTS + 16, 4)),
      '03000000',
      'SEV_STATUS: SEV and SEV-ES, read without a #VC',
    );
    const cr0 = new DataView(m.priv(RESULTS + 24, 8).slice().buffer).getBigUint64(0, true);
    assert.ok(cr0 & 0x8000_0000n && cr0 >> 32n === 0n, `CR0 with PG, zero-extended: ${cr0.toString(16)}`);
  });

  it('a host write into a private page the guest used: its next private read decrypts the host’s bytes', () => {
    const m = machine(engine.options);
    assert.equal(m.vcpu.run().kind, 'Hlt');
    ok(m.memory.write(m.hva + PRIVATE_WORD, HOST_BYTES.subarray(0, 4)));
    assert.equal(m.vcpu.run().kind, 'Hlt');
    const seen = hexOf(m.priv(AFTER_HOST_WRITE, 4));
    assert.notEqual(seen, '44332211', 'not what the guest stored');
    assert.notEqual(seen, hexOf(HOST_BYTES.subarray(0, 4)), 'nor what the host wrote');
  });
});

/** A private store to 0xc000, optionally CLFLUSH of it, a store to the same bytes through the shared alias, HLT. */
const flushCode = (flush: boolean): Uint8Array =>
  Uint8Array.from([
    ...movImm(0xc000, 0x1122_3344),
    ...(flush ? [0x0f, 0xae, 0x3c, 0x25, ...le32(0xc000)] : []), // clflush [0xc000]
    ...movImm(SHARED + 0xc000, 0x5566_7788),
    ...HLT,
  ]);

describeEngines('x86 interpreter: CLFLUSH before a page changes its C-bit', (engine) => {
  it('with CLFLUSH the private line goes back first and the shared store stays; without, it is written back over it', () => {
    const flushed = machine(engine.options, flushCode(true));
    assert.equal(flushed.vcpu.run().kind, 'Hlt');
    assert.equal(hexOf(flushed.host(0xc000, 4)), '88776655', 'the shared store, in plaintext');
    const stale = machine(engine.options, flushCode(false));
    assert.equal(stale.vcpu.run().kind, 'Hlt');
    assert.notEqual(hexOf(stale.host(0xc000, 4)), '88776655', 'the dirty private line won: ciphertext');
  });
});
