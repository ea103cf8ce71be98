import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as sev from './sev-cmd.js';
import {
  decodeEncRegion,
  decodeSevCmd,
  decodeSevInit,
  encodeEncRegion,
  encodeSevCmd,
  encodeSevInit,
  KVM_ENC_REGION_SIZE,
  KVM_SEV_CMD_SIZE,
  KVM_SEV_INIT_SIZE,
  type KvmSevCmd,
  type KvmSevInit,
  kvmSevCmdName,
} from './sev-cmd.js';
import { checkCodec, image, U32_MAX, U64_MAX, U64_TOP } from './test-util.js';

/** enum sev_cmd_id as in the 6.12 header: the members in order, counting from 0 and from 100. */
const ENUM = [
  'KVM_SEV_INIT',
  'KVM_SEV_ES_INIT',
  'KVM_SEV_LAUNCH_START',
  'KVM_SEV_LAUNCH_UPDATE_DATA',
  'KVM_SEV_LAUNCH_UPDATE_VMSA',
  'KVM_SEV_LAUNCH_SECRET',
  'KVM_SEV_LAUNCH_MEASURE',
  'KVM_SEV_LAUNCH_FINISH',
  'KVM_SEV_SEND_START',
  'KVM_SEV_SEND_UPDATE_DATA',
  'KVM_SEV_SEND_UPDATE_VMSA',
  'KVM_SEV_SEND_FINISH',
  'KVM_SEV_RECEIVE_START',
  'KVM_SEV_RECEIVE_UPDATE_DATA',
  'KVM_SEV_RECEIVE_UPDATE_VMSA',
  'KVM_SEV_RECEIVE_FINISH',
  'KVM_SEV_GUEST_STATUS',
  'KVM_SEV_DBG_DECRYPT',
  'KVM_SEV_DBG_ENCRYPT',
  'KVM_SEV_CERT_EXPORT',
  'KVM_SEV_GET_ATTESTATION_REPORT',
  'KVM_SEV_SEND_CANCEL',
  'KVM_SEV_INIT2',
];
const SNP = [
  'KVM_SEV_SNP_LAUNCH_START',
  'KVM_SEV_SNP_LAUNCH_UPDATE',
  'KVM_SEV_SNP_LAUNCH_FINISH',
  'KVM_SEV_NR_MAX',
];

describe('enum sev_cmd_id', () => {
  it('numbers the commands as the header does', () => {
    const values = sev as unknown as Record<string, number>;
    ENUM.forEach((name, i) => {
      assert.equal(values[name], i, name);
    });
    SNP.forEach((name, i) => {
      assert.equal(values[name], 100 + i, name);
    });
    assert.equal(sev.KVM_SEV_INIT2, 22);
    assert.equal(sev.KVM_SEV_LAUNCH_UPDATE_VMSA, 4);
  });

  it('has names', () => {
    assert.equal(kvmSevCmdName(22), 'KVM_SEV_INIT2');
    assert.equal(kvmSevCmdName(102), 'KVM_SEV_SNP_LAUNCH_FINISH');
    assert.equal(kvmSevCmdName(23), 'KVM_SEV_#23');
  });
});

describe('struct kvm_sev_cmd', () => {
  const cmd: KvmSevCmd = {
    id: sev.KVM_SEV_LAUNCH_UPDATE_DATA,
    data: U64_TOP | 0x1000n,
    error: U32_MAX,
    sevFd: 9,
  };

  it('encodes to the hand-built image (pad0 zero) and decodes it back', () => {
    assert.equal(KVM_SEV_CMD_SIZE, 24);
    const bytes = image(24, [
      [0, 'u32', 3],
      [8, 'u64', U64_TOP | 0x1000n],
      [16, 'u32', U32_MAX],
      [20, 'u32', 9],
    ]);
    assert.deepEqual(encodeSevCmd(cmd), bytes);
    assert.deepEqual(decodeSevCmd(bytes), cmd);
    checkCodec({ value: cmd, size: 24, encode: encodeSevCmd, decode: decodeSevCmd });
  });
});

describe('struct kvm_sev_init', () => {
  const init: KvmSevInit = { vmsaFeatures: U64_MAX, flags: 0, ghcbVersion: 2 };

  it('encodes to the hand-built image (pads zero) and decodes it back', () => {
    assert.equal(KVM_SEV_INIT_SIZE, 48);
    const bytes = image(48, [
      [0, 'u64', U64_MAX],
      [8, 'u32', 0],
      [12, 'u16', 2],
    ]);
    assert.deepEqual(encodeSevInit(init), bytes);
    assert.deepEqual(decodeSevInit(bytes), init);
    checkCodec({
      value: { vmsaFeatures: 1n, flags: U32_MAX, ghcbVersion: 0xffff },
      size: 48,
      encode: encodeSevInit,
      decode: decodeSevInit,
    });
    assert.throws(() => encodeSevInit({ ...init, ghcbVersion: 0x10000 }), /kvm_sev_init\.ghcb_version/);
  });
});

describe('struct kvm_enc_region', () => {
  it('encodes to the hand-built image and decodes it back', () => {
    assert.equal(KVM_ENC_REGION_SIZE, 16);
    const v = { addr: 0x7f00_0000_0000n, size: U64_MAX };
    const bytes = image(16, [
      [0, 'u64', v.addr],
      [8, 'u64', U64_MAX],
    ]);
    assert.deepEqual(encodeEncRegion(v), bytes);
    assert.deepEqual(decodeEncRegion(bytes), v);
    checkCodec({ value: v, size: 16, encode: encodeEncRegion, decode: decodeEncRegion });
  });
});

describe('the launch, status and debug commands’ structs', () => {
  it('kvm_sev_launch_start: hand-built image (pads zero), round trip', () => {
    const v = {
      handle: U32_MAX,
      policy: 0x5,
      dhUaddr: U64_TOP | 0x10n,
      dhLen: 0x4000,
      sessionUaddr: 0x7f00_0000_1000n,
      sessionLen: 0x70,
    };
    const bytes = image(sev.KVM_SEV_LAUNCH_START_SIZE, [
      [0, 'u32', U32_MAX],
      [4, 'u32', 5],
      [8, 'u64', U64_TOP | 0x10n],
      [16, 'u32', 0x4000],
      [24, 'u64', 0x7f00_0000_1000n],
      [32, 'u32', 0x70],
    ]);
    assert.equal(bytes.length, 40);
    assert.deepEqual(sev.encodeSevLaunchStart(v), bytes);
    checkCodec({ value: v, size: 40, encode: sev.encodeSevLaunchStart, decode: sev.decodeSevLaunchStart });
  });

  it('kvm_sev_launch_update_data and kvm_sev_launch_measure share one shape: uaddr, len', () => {
    assert.deepEqual(sev.KVM_SEV_LAUNCH_UPDATE_DATA_OFFSETS, sev.KVM_SEV_LAUNCH_MEASURE_OFFSETS);
    assert.equal(sev.KVM_SEV_LAUNCH_UPDATE_DATA_SIZE, sev.KVM_SEV_LAUNCH_MEASURE_SIZE);
    const v = { uaddr: U64_MAX, len: U32_MAX };
    const bytes = image(16, [
      [0, 'u64', U64_MAX],
      [8, 'u32', U32_MAX],
    ]);
    assert.deepEqual(sev.encodeSevUaddrLen(v), bytes);
    checkCodec({ value: v, size: 16, encode: sev.encodeSevUaddrLen, decode: sev.decodeSevUaddrLen });
  });

  it('kvm_sev_launch_secret: hand-built image (pads zero), round trip', () => {
    const v = {
      hdrUaddr: 1n,
      hdrLen: 52,
      guestUaddr: U64_TOP,
      guestLen: 0x1000,
      transUaddr: U64_MAX,
      transLen: U32_MAX,
    };
    const bytes = image(48, [
      [0, 'u64', 1n],
      [8, 'u32', 52],
      [16, 'u64', U64_TOP],
      [24, 'u32', 0x1000],
      [32, 'u64', U64_MAX],
      [40, 'u32', U32_MAX],
    ]);
    assert.deepEqual(sev.encodeSevLaunchSecret(v), bytes);
    checkCodec({ value: v, size: 48, encode: sev.encodeSevLaunchSecret, decode: sev.decodeSevLaunchSecret });
  });

  it('kvm_sev_guest_status: three u32, the state too (the header says __u32, the docs __u8)', () => {
    const v = { handle: 7, policy: 0x1, state: 3 };
    const bytes = image(12, [
      [0, 'u32', 7],
      [4, 'u32', 1],
      [8, 'u32', 3],
    ]);
    assert.deepEqual(sev.encodeSevGuestStatus(v), bytes);
    checkCodec({ value: v, size: 12, encode: sev.encodeSevGuestStatus, decode: sev.decodeSevGuestStatus });
  });

  it('kvm_sev_dbg: hand-built image (pad zero), round trip', () => {
    const v = { srcUaddr: U64_TOP, dstUaddr: 0x1000n, len: U32_MAX };
    const bytes = image(24, [
      [0, 'u64', U64_TOP],
      [8, 'u64', 0x1000n],
      [16, 'u32', U32_MAX],
    ]);
    assert.deepEqual(sev.encodeSevDbg(v), bytes);
    checkCodec({ value: v, size: 24, encode: sev.encodeSevDbg, decode: sev.decodeSevDbg });
  });
});
