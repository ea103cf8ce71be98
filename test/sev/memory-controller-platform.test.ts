/**
 * The model platform's memory controller: the firmware loads a guest's key into its ASID's slot at
 * ACTIVATE (KVM_SEV_LAUNCH_START) and clears it when the VM goes (sev_vm_destroy); the address
 * space tells it before host software touches memory, so the VMM and KVM read ciphertext where a
 * guest's CPU holds plaintext, and the guest sees what the host wrote there decrypted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ok } from '../../src/kvm/test-util.js';
import { XtsEngine } from '../../src/psp/xts-engine.js';
import { KVM_X86_SEV_ES_VM } from '../../src/uapi/caps.js';
import { SEV_POLICY_ES } from '../../src/uapi/psp-sev.js';
import {
  encodeSevDbg,
  encodeSevInit,
  encodeSevLaunchStart,
  encodeSevUaddrLen,
  KVM_SEV_DBG_DECRYPT,
  KVM_SEV_INIT2,
  KVM_SEV_LAUNCH_START,
  KVM_SEV_LAUNCH_UPDATE_DATA,
  newContextLaunchStart,
} from '../../src/uapi/sev-cmd.js';
import { modelPlatform } from '../../src/vmm/platform.js';

const PAGE = 4096;
const DATA = Uint8Array.from({ length: 2 * PAGE }, (_, i) => (i * 31 + 7) & 0xff);

/** An SEV-ES VM on the model platform, launched (LAUNCH_START + LAUNCH_UPDATE_DATA of DATA at `ram`). */
function launched() {
  const p = modelPlatform();
  const vm = ok(p.kvm.createVm(KVM_X86_SEV_ES_VM));
  const arg = ok(p.memory.mapAnonymous(PAGE));
  const ram = ok(p.memory.mapAnonymous(4 * PAGE));
  const sevFd = p.openSevDevice();
  const op = (id: number, struct: Uint8Array, extra = {}) => {
    ok(p.memory.write(arg, struct));
    return vm.memoryEncryptOp({ id, data: BigInt(arg), error: 0, sevFd: 0, ...extra });
  };
  ok(op(KVM_SEV_INIT2, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 2 })));
  ok(op(KVM_SEV_LAUNCH_START, encodeSevLaunchStart(newContextLaunchStart(SEV_POLICY_ES)), { sevFd }));
  ok(p.memory.write(ram, DATA));
  ok(op(KVM_SEV_LAUNCH_UPDATE_DATA, encodeSevUaddrLen({ uaddr: BigInt(ram), len: DATA.length })));
  const { asid, handle } = p.psp.guestStatus(1);
  assert.equal(handle, 1);
  const dbgDecrypt = (src: number, len: number): Uint8Array => {
    const dst = ok(p.memory.mapAnonymous(PAGE));
    ok(op(KVM_SEV_DBG_DECRYPT, encodeSevDbg({ srcUaddr: BigInt(src), dstUaddr: BigInt(dst), len })));
    const out = new Uint8Array(len);
    ok(p.memory.read(dst, out));
    return out;
  };
  const hostRead = (hva: number, n: number): Uint8Array => {
    const b = new Uint8Array(n);
    ok(p.memory.read(hva, b));
    return b;
  };
  return { p, vm, ram, asid, dbgDecrypt, hostRead };
}

describe('the model platform’s memory controller', () => {
  it('is the firmware’s: ACTIVATE loads the guest key into the ASID’s slot, the VM’s end clears it', () => {
    const { p, vm, ram, asid } = launched();
    assert.ok(asid >= 1);
    assert.equal(p.memoryController.cbit, 51);
    assert.ok(p.memoryController.engine instanceof XtsEngine);
    const d = p.memoryController.domain(asid);
    assert.ok(d, 'a domain for the guest’s ASID');
    assert.equal(p.memoryController.domain(asid + 1), undefined);
    // LAUNCH_UPDATE_DATA encrypted with the controller's engine: the guest's CPU reads DATA back.
    const frame = p.host.frame(ram, PAGE, false) as Uint8Array;
    assert.notDeepEqual(frame, DATA.subarray(0, PAGE), 'memory holds ciphertext');
    assert.deepEqual(d.page(ram, frame, false), DATA.subarray(0, PAGE));
    vm.close();
    assert.equal(p.memoryController.domain(asid), undefined, 'DEACTIVATE cleared the slot');
    assert.equal(p.memoryController.cachedPages, 0);
  });

  it('a host read of a page a guest CPU dirtied returns ciphertext of what the CPU stored', () => {
    const { p, ram, asid, dbgDecrypt, hostRead } = launched();
    const d = p.memoryController.domain(asid)!;
    // The guest's CPU, as the x86 backend does it: the page through the NPT (frame), its plaintext
    // from the controller, a store into it.
    const frame = p.host.frame(ram + PAGE, PAGE, true) as Uint8Array;
    const plain = d.page(ram + PAGE, frame, true);
    const stored = Uint8Array.from({ length: 64 }, (_, i) => 0x80 | i);
    plain.set(stored, 0x100);
    const gen = d.generation;
    const before = frame.slice();
    // The VMM reads the page (copy_from_user of guest RAM): written back first, so ciphertext.
    const seen = hostRead(ram + PAGE, PAGE);
    assert.ok(d.generation > gen, 'the CPU must refill its TLB');
    assert.notDeepEqual(seen, before, 'memory changed under the read');
    const want = DATA.slice(PAGE, 2 * PAGE);
    want.set(stored, 0x100);
    const cipher = want.slice();
    d.encrypt(ram + PAGE, cipher); // the engine under the guest's key
    assert.deepEqual(seen, cipher, 'the ciphertext of what the CPU stored');
    assert.notDeepEqual(seen.subarray(0x100, 0x140), stored, 'never the plaintext');
    // The guest owner's view through KVM (DBG_DECRYPT) agrees.
    assert.deepEqual(dbgDecrypt(ram + PAGE + 0x100, 64), stored);
  });

  it('a host write drops the CPU’s plaintext: the guest then sees the host’s bytes decrypted (garbage)', () => {
    const { p, ram, asid, hostRead } = launched();
    const d = p.memoryController.domain(asid)!;
    const frame = p.host.frame(ram, PAGE, true) as Uint8Array;
    const plain = d.page(ram, frame, true);
    plain[0] = 0x42;
    const gen = d.generation;
    ok(p.memory.write(ram + 0x200, new Uint8Array(16).fill(0x11)));
    assert.ok(d.generation > gen);
    assert.equal(p.memoryController.cachedPages, 0);
    const again = d.page(ram, p.host.frame(ram, PAGE, false) as Uint8Array, false);
    assert.notEqual(again, plain);
    assert.equal(again[0], 0x42, 'the CPU’s store was written back before the host wrote');
    assert.notDeepEqual(again.subarray(0x200, 0x210), new Uint8Array(16).fill(0x11));
    assert.deepEqual(
      hostRead(ram + 0x200, 16),
      new Uint8Array(16).fill(0x11),
      'the host reads what it wrote',
    );
  });
});
