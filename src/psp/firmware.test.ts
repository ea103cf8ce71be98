/**
 * The SEV firmware on its own: the guest state machine (docs/sev-launch-rules.md §4.2), policy and
 * ASID rules (§4.3, §4.4), the launch digest and measurement (§5), DBG under NODBG, and the engine
 * seam (what LAUNCH_UPDATE_DATA hands the engine, and that it measures the plaintext).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  SEV_GSTATE_LSECRET,
  SEV_GSTATE_LUPDATE,
  SEV_GSTATE_RUNNING,
  SEV_POLICY_ES,
  SEV_POLICY_NODBG,
  SEV_POLICY_NOKS,
  SEV_RET_ACTIVE,
  SEV_RET_ASID_OWNED,
  SEV_RET_INACTIVE,
  SEV_RET_INVALID_ADDRESS,
  SEV_RET_INVALID_ASID,
  SEV_RET_INVALID_GUEST,
  SEV_RET_INVALID_GUEST_STATE,
  SEV_RET_INVALID_LEN,
  SEV_RET_POLICY_FAILURE,
  SEV_RET_SUCCESS,
} from '../uapi/psp-sev.js';
import type { MemoryCrypt, PhysRange } from './engine.js';
import {
  SEV_MEASURE_BLOB_SIZE,
  SevFirmware,
  type SevFirmwareOptions,
  sevLaunchMeasurement,
} from './firmware.js';
import { MemoryController } from './memory-controller.js';
import { XtsEngine } from './xts-engine.js';

const range = (bytes: Uint8Array, spa = 0x1000): PhysRange => ({ spa, bytes });

/** A guest launched up to LUPDATE and bound to `asid`. */
function started(fw: SevFirmware, policy = SEV_POLICY_ES, asid = 1): number {
  const s = fw.launchStart(0, policy);
  assert.equal(s.status, SEV_RET_SUCCESS);
  assert.equal(fw.activate(s.handle, asid), SEV_RET_SUCCESS);
  return s.handle;
}

/** The 48-byte blob of a launch of `data` (and a VMSA page when given). */
function measure(
  opts: SevFirmwareOptions,
  data: Uint8Array,
  policy = SEV_POLICY_ES,
  vmsa?: Uint8Array,
): Uint8Array {
  const fw = new SevFirmware(opts);
  const h = started(fw, policy);
  assert.equal(fw.launchUpdateData(h, range(data.slice())), SEV_RET_SUCCESS);
  if (vmsa) assert.equal(fw.launchUpdateVmsa(h, range(vmsa.slice())), SEV_RET_SUCCESS);
  const blob = new Uint8Array(SEV_MEASURE_BLOB_SIZE);
  assert.deepEqual(fw.launchMeasure(h, blob), { status: SEV_RET_SUCCESS, len: SEV_MEASURE_BLOB_SIZE });
  return blob;
}

const DATA = new Uint8Array(64).map((_, i) => i * 7);

describe('SevFirmware: the guest state machine', () => {
  it('LAUNCH_START → LUPDATE (handles from 1), MEASURE → LSECRET, FINISH → RUNNING; GUEST_STATUS all along', () => {
    const fw = new SevFirmware();
    const a = fw.launchStart(0, SEV_POLICY_ES);
    assert.deepEqual(a, { status: SEV_RET_SUCCESS, handle: 1 });
    assert.equal(fw.launchStart(0, SEV_POLICY_ES).handle, 2);
    assert.deepEqual(fw.guestStatus(1), {
      status: SEV_RET_SUCCESS,
      handle: 1,
      policy: SEV_POLICY_ES,
      asid: 0,
      state: SEV_GSTATE_LUPDATE,
    });
    assert.equal(fw.activate(1, 3), SEV_RET_SUCCESS);
    assert.equal(fw.guestStatus(1).asid, 3);
    assert.equal(fw.launchUpdateData(1, range(DATA.slice())), SEV_RET_SUCCESS);
    assert.equal(fw.launchFinish(1), SEV_RET_INVALID_GUEST_STATE, 'FINISH before MEASURE');
    assert.equal(fw.launchSecret(1), SEV_RET_INVALID_GUEST_STATE, 'SECRET before MEASURE');
    assert.equal(fw.launchMeasure(1, new Uint8Array(48)).status, SEV_RET_SUCCESS);
    assert.equal(fw.guestStatus(1).state, SEV_GSTATE_LSECRET);
    assert.equal(
      fw.launchUpdateData(1, range(DATA.slice())),
      SEV_RET_INVALID_GUEST_STATE,
      'UPDATE after MEASURE',
    );
    assert.equal(
      fw.launchMeasure(1, new Uint8Array(48)).status,
      SEV_RET_INVALID_GUEST_STATE,
      'a second MEASURE',
    );
    assert.equal(fw.launchSecret(1), SEV_RET_SUCCESS);
    assert.equal(fw.guestStatus(1).state, SEV_GSTATE_LSECRET, 'LAUNCH_SECRET changes no state');
    assert.equal(fw.launchFinish(1), SEV_RET_SUCCESS);
    assert.equal(fw.guestStatus(1).state, SEV_GSTATE_RUNNING);
    assert.equal(fw.launchFinish(1), SEV_RET_INVALID_GUEST_STATE, 'a second FINISH');
    assert.equal(fw.launchSecret(1), SEV_RET_INVALID_GUEST_STATE);
  });

  it('an unknown handle (0 included) is INVALID_GUEST for every command', () => {
    const fw = new SevFirmware();
    for (const h of [0, 1, 7]) {
      assert.equal(fw.guestStatus(h).status, SEV_RET_INVALID_GUEST);
      assert.equal(fw.activate(h, 1), SEV_RET_INVALID_GUEST);
      assert.equal(fw.launchUpdateData(h, range(DATA)), SEV_RET_INVALID_GUEST);
      assert.equal(fw.launchMeasure(h, undefined).status, SEV_RET_INVALID_GUEST);
      assert.equal(fw.launchFinish(h), SEV_RET_INVALID_GUEST);
      assert.equal(fw.decommission(h), SEV_RET_INVALID_GUEST);
    }
  });

  it('LAUNCH_UPDATE_* need the guest activated (INACTIVE)', () => {
    const fw = new SevFirmware();
    const { handle } = fw.launchStart(0, SEV_POLICY_ES);
    assert.equal(fw.launchUpdateData(handle, range(DATA)), SEV_RET_INACTIVE);
    assert.equal(fw.launchUpdateVmsa(handle, range(new Uint8Array(4096))), SEV_RET_INACTIVE);
  });

  it('operands: length 0 or not a multiple of 16 is INVALID_LEN, an unaligned address INVALID_ADDRESS', () => {
    const fw = new SevFirmware();
    const h = started(fw);
    assert.equal(fw.launchUpdateData(h, range(new Uint8Array(0))), SEV_RET_INVALID_LEN);
    assert.equal(fw.launchUpdateData(h, range(new Uint8Array(17))), SEV_RET_INVALID_LEN);
    assert.equal(fw.launchUpdateData(h, range(new Uint8Array(16), 0x1008)), SEV_RET_INVALID_ADDRESS);
    assert.equal(fw.launchUpdateVmsa(h, range(new Uint8Array(4080))), SEV_RET_INVALID_LEN);
    assert.equal(fw.launchUpdateVmsa(h, range(new Uint8Array(4096), 0x1010)), SEV_RET_INVALID_ADDRESS);
  });

  it('LAUNCH_UPDATE_VMSA needs the ES policy bit (POLICY_FAILURE)', () => {
    const fw = new SevFirmware();
    const h = started(fw, 0);
    assert.equal(fw.launchUpdateVmsa(h, range(new Uint8Array(4096))), SEV_RET_POLICY_FAILURE);
    assert.equal(fw.launchUpdateData(h, range(DATA.slice())), SEV_RET_SUCCESS, 'plain SEV data is fine');
  });

  it('LAUNCH_MEASURE: a short buffer is INVALID_LEN with the length needed, and changes nothing', () => {
    const fw = new SevFirmware();
    const h = started(fw);
    assert.deepEqual(fw.launchMeasure(h, undefined), { status: SEV_RET_INVALID_LEN, len: 48 });
    assert.deepEqual(fw.launchMeasure(h, new Uint8Array(47)), { status: SEV_RET_INVALID_LEN, len: 48 });
    assert.equal(fw.guestStatus(h).state, SEV_GSTATE_LUPDATE);
    const big = new Uint8Array(64);
    assert.deepEqual(fw.launchMeasure(h, big), { status: SEV_RET_SUCCESS, len: 48 });
    assert.deepEqual(big.subarray(48), new Uint8Array(16), 'nothing past the blob');
  });
});

describe('SevFirmware: policy, handles and ASIDs', () => {
  it('a policy asking for a newer API than the firmware, or with reserved bits, is POLICY_FAILURE', () => {
    const fw = new SevFirmware({ apiMajor: 1, apiMinor: 50 });
    assert.equal(fw.launchStart(0, SEV_POLICY_ES | (2 << 16)).status, SEV_RET_POLICY_FAILURE);
    assert.equal(fw.launchStart(0, SEV_POLICY_ES | (1 << 16) | (51 << 24)).status, SEV_RET_POLICY_FAILURE);
    assert.equal(fw.launchStart(0, SEV_POLICY_ES | (1 << 16) | (50 << 24)).status, SEV_RET_SUCCESS);
    assert.equal(fw.launchStart(0, 1 << 6).status, SEV_RET_POLICY_FAILURE);
  });

  it('LAUNCH_START with a handle shares that guest’s key: INVALID_GUEST when none, POLICY_FAILURE under NOKS', () => {
    const fw = new SevFirmware();
    assert.equal(fw.launchStart(5, SEV_POLICY_ES).status, SEV_RET_INVALID_GUEST);
    const a = started(fw, SEV_POLICY_ES | SEV_POLICY_NOKS, 1);
    assert.equal(fw.launchStart(a, SEV_POLICY_ES).status, SEV_RET_POLICY_FAILURE);
    const b = started(fw, SEV_POLICY_ES, 2);
    const c = fw.launchStart(b, SEV_POLICY_ES);
    assert.equal(c.status, SEV_RET_SUCCESS);
    assert.equal(fw.activate(c.handle, 2), SEV_RET_SUCCESS, 'a guest sharing the key may use its ASID');
  });

  it('ACTIVATE: INVALID_ASID out of range, ASID_OWNED for another key’s ASID, ACTIVE when bound already', () => {
    const fw = new SevFirmware({ asidCount: 4 });
    const a = started(fw, SEV_POLICY_ES, 1);
    const b = fw.launchStart(0, SEV_POLICY_ES).handle;
    assert.equal(fw.activate(b, 0), SEV_RET_INVALID_ASID);
    assert.equal(fw.activate(b, 5), SEV_RET_INVALID_ASID);
    assert.equal(fw.activate(b, 1), SEV_RET_ASID_OWNED);
    assert.equal(fw.activate(a, 2), SEV_RET_ACTIVE);
  });

  it('DECOMMISSION of a bound guest is ACTIVE; DEACTIVATE first, then it is gone', () => {
    const fw = new SevFirmware();
    const h = started(fw);
    assert.equal(fw.decommission(h), SEV_RET_ACTIVE);
    assert.equal(fw.deactivate(h), SEV_RET_SUCCESS);
    assert.equal(fw.deactivate(h), SEV_RET_INACTIVE);
    assert.equal(fw.decommission(h), SEV_RET_SUCCESS);
    assert.equal(fw.guestStatus(h).status, SEV_RET_INVALID_GUEST);
    assert.equal(fw.platformStatus().guestCount, 0);
  });
});

describe('SevFirmware: the launch measurement', () => {
  it('is HMAC-SHA-256(TIK, 0x04 ‖ API ‖ BUILD ‖ POLICY ‖ SHA-256(plaintexts) ‖ MNONCE), then MNONCE', () => {
    const fw = new SevFirmware({ seed: 'x', apiMajor: 1, apiMinor: 51, build: 3 });
    const h = started(fw);
    const vmsa = new Uint8Array(4096).fill(0xaa);
    assert.equal(fw.launchUpdateData(h, range(DATA.subarray(0, 32).slice())), SEV_RET_SUCCESS);
    assert.equal(fw.launchUpdateData(h, range(DATA.subarray(32).slice())), SEV_RET_SUCCESS);
    assert.equal(fw.launchUpdateVmsa(h, range(vmsa)), SEV_RET_SUCCESS);
    const blob = new Uint8Array(48);
    fw.launchMeasure(h, blob);
    const digest = new Uint8Array(createHash('sha256').update(DATA).update(vmsa).digest());
    const tik = fw.debugTik(h)!;
    const mnonce = blob.slice(32);
    const want = sevLaunchMeasurement({
      tik,
      apiMajor: 1,
      apiMinor: 51,
      build: 3,
      policy: SEV_POLICY_ES,
      digest,
      mnonce,
    });
    assert.deepEqual(blob.subarray(0, 32), want);
  });

  it('is the same for the same inputs and seed; one byte of data, the policy, the VMSA or the seed changes it', () => {
    const vmsa = new Uint8Array(4096);
    const base = measure({ seed: 's' }, DATA, SEV_POLICY_ES, vmsa);
    assert.deepEqual(measure({ seed: 's' }, DATA, SEV_POLICY_ES, vmsa), base);
    const data2 = DATA.slice();
    data2[40] = DATA[40]! ^ 1;
    assert.notDeepEqual(
      measure({ seed: 's' }, data2, SEV_POLICY_ES, vmsa).subarray(0, 32),
      base.subarray(0, 32),
    );
    assert.notDeepEqual(
      measure({ seed: 's' }, DATA, SEV_POLICY_ES | SEV_POLICY_NODBG, vmsa).subarray(0, 32),
      base.subarray(0, 32),
    );
    const vmsa2 = vmsa.slice();
    vmsa2[0x178] = 0xf0;
    assert.notDeepEqual(
      measure({ seed: 's' }, DATA, SEV_POLICY_ES, vmsa2).subarray(0, 32),
      base.subarray(0, 32),
    );
    assert.notDeepEqual(measure({ seed: 't' }, DATA, SEV_POLICY_ES, vmsa), base);
  });

  it('a configured TIK is every guest’s (the QEMU sev-emulated way)', () => {
    const tik = new Uint8Array(16).fill(9);
    const fw = new SevFirmware({ tik });
    assert.deepEqual(fw.debugTik(started(fw)), tik);
  });
});

describe('SevFirmware: DBG and the engine seam', () => {
  it('DBG_DECRYPT/ENCRYPT: POLICY_FAILURE under NODBG; otherwise (no engine yet) a copy; 16-byte rules', () => {
    const fw = new SevFirmware();
    const nodbg = started(fw, SEV_POLICY_ES | SEV_POLICY_NODBG, 1);
    const dbg = started(fw, SEV_POLICY_ES, 2);
    const src = range(DATA.slice(0, 32));
    const dst = range(new Uint8Array(32), 0x2000);
    assert.equal(fw.dbgDecrypt(nodbg, src, dst), SEV_RET_POLICY_FAILURE);
    assert.equal(fw.dbgEncrypt(nodbg, src, dst), SEV_RET_POLICY_FAILURE);
    assert.equal(fw.dbgDecrypt(dbg, src, dst), SEV_RET_SUCCESS);
    assert.deepEqual(dst.bytes, DATA.subarray(0, 32));
    assert.equal(fw.dbgEncrypt(dbg, range(new Uint8Array(32).fill(5)), dst), SEV_RET_SUCCESS);
    assert.deepEqual(dst.bytes, new Uint8Array(32).fill(5));
    assert.equal(fw.dbgDecrypt(dbg, range(new Uint8Array(8)), range(new Uint8Array(8))), SEV_RET_INVALID_LEN);
    assert.equal(
      fw.dbgDecrypt(dbg, range(new Uint8Array(16), 8), range(new Uint8Array(16))),
      SEV_RET_INVALID_ADDRESS,
    );
  });

  it('LAUNCH_UPDATE_DATA measures the plaintext, then has the engine encrypt in place with the guest key', () => {
    const calls: { spa: number; vekLen: number }[] = [];
    const xor: MemoryCrypt = {
      encrypt(vek, r) {
        calls.push({ spa: r.spa, vekLen: vek.length });
        for (let i = 0; i < r.bytes.length; i++) r.bytes[i]! ^= vek[i % vek.length]!;
      },
      decrypt(vek, r) {
        for (let i = 0; i < r.bytes.length; i++) r.bytes[i]! ^= vek[i % vek.length]!;
      },
    };
    const plain = measure({ seed: 'e' }, DATA);
    const fw = new SevFirmware({ seed: 'e', engine: xor });
    const h = started(fw);
    const mem = DATA.slice();
    assert.equal(fw.launchUpdateData(h, range(mem, 0x3000)), SEV_RET_SUCCESS);
    assert.deepEqual(calls, [{ spa: 0x3000, vekLen: 16 }]);
    assert.notDeepEqual(mem, DATA, 'memory holds what the engine made of it');
    const blob = new Uint8Array(48);
    fw.launchMeasure(h, blob);
    assert.deepEqual(blob, plain, 'the digest is over the plaintext, whatever the engine does');
    const out = range(new Uint8Array(64), 0x4000);
    assert.equal(fw.dbgDecrypt(h, range(mem, 0x3000), out), SEV_RET_SUCCESS);
    assert.deepEqual(out.bytes, DATA, 'DBG_DECRYPT gives the guest’s view back');
  });

  it('with the XTS engine: LAUNCH_UPDATE_DATA leaves ciphertext the host cannot read, DBG_DECRYPT the plaintext', () => {
    const fw = new SevFirmware({ seed: 'x', engine: new XtsEngine() });
    const h = started(fw);
    const mem = DATA.slice();
    assert.equal(fw.launchUpdateData(h, range(mem, 0x5000)), SEV_RET_SUCCESS);
    assert.notDeepEqual(mem, DATA);
    const blob = new Uint8Array(48);
    fw.launchMeasure(h, blob);
    assert.deepEqual(blob, measure({ seed: 'x' }, DATA), 'the measurement does not depend on the engine');
    const out = range(new Uint8Array(DATA.length), 0x6000);
    assert.equal(fw.dbgDecrypt(h, range(mem, 0x5000), out), SEV_RET_SUCCESS);
    assert.deepEqual(out.bytes, DATA);
    // The same ciphertext named at another physical address decrypts to something else.
    assert.equal(fw.dbgDecrypt(h, range(mem.slice(), 0x7000), out), SEV_RET_SUCCESS);
    assert.notDeepEqual(out.bytes, DATA);
  });
});

describe('SevFirmware: the memory controller’s key slots', () => {
  it('ACTIVATE loads the guest key into the ASID’s slot; LAUNCH_UPDATE_DATA uses the controller’s engine', () => {
    const memory = new MemoryController();
    const fw = new SevFirmware({ seed: 'm', memory });
    assert.equal(memory.domain(3), undefined);
    const h = started(fw, SEV_POLICY_ES, 3);
    const d = memory.domain(3);
    assert.ok(d);
    const page = Uint8Array.from({ length: 4096 }, (_, i) => (i * 5) & 0xff);
    const mem = page.slice();
    assert.equal(fw.launchUpdateData(h, range(mem, 0x7f00_0000_2000)), SEV_RET_SUCCESS);
    assert.notDeepEqual(mem, page, 'XTS, the controller’s engine');
    assert.deepEqual(d.page(0x7f00_0000_2000, mem, false), page, 'the guest’s CPU reads the plaintext');
  });

  it('DEACTIVATE clears the slot once no guest is bound to the ASID (guests sharing a key share it)', () => {
    const memory = new MemoryController();
    const fw = new SevFirmware({ memory });
    const a = started(fw, SEV_POLICY_ES, 2);
    const b = fw.launchStart(a, SEV_POLICY_ES).handle;
    assert.equal(fw.activate(b, 2), SEV_RET_SUCCESS);
    const d = memory.domain(2);
    assert.equal(fw.deactivate(a), SEV_RET_SUCCESS);
    assert.equal(memory.domain(2), d, 'the other guest still runs on it');
    assert.equal(fw.deactivate(b), SEV_RET_SUCCESS);
    assert.equal(memory.domain(2), undefined);
    assert.equal(fw.decommission(a), SEV_RET_SUCCESS);
  });

  it('an engine other than the controller’s is refused (both must encrypt alike)', () => {
    const memory = new MemoryController();
    assert.throws(() => new SevFirmware({ memory, engine: new XtsEngine() }), TypeError);
    assert.doesNotThrow(() => new SevFirmware({ memory, engine: memory.engine }));
  });
});
