import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  GHCB_ERR_INVALID_EVENT,
  GHCB_ERR_INVALID_INPUT,
  GHCB_ERR_INVALID_SCRATCH_AREA,
  GHCB_ERR_INVALID_USAGE,
  GHCB_ERR_MISSING_INPUT,
  GHCB_ERR_NOT_REGISTERED,
} from '../uapi/ghcb.js';
import { verifyExceptionInfo } from './result.js';

describe('verifyExceptionInfo', () => {
  it('info1 low 32 bits 0 is ok, whatever the high bits and info2', () => {
    assert.deepEqual(verifyExceptionInfo(0n, 0n), { kind: 'ok', info1: 0n, info2: 0n });
    assert.deepEqual(verifyExceptionInfo(0xdead_0000_0000n, 7n), {
      kind: 'ok',
      info1: 0xdead_0000_0000n,
      info2: 7n,
    });
  });

  it('info1 1 with KVM #GP (0x8000030d) is exception 13 without error code', () => {
    assert.deepEqual(verifyExceptionInfo(1n, 0x8000030dn), {
      kind: 'exception',
      vector: 13,
      info1: 1n,
      info2: 0x8000030dn,
    });
  });

  it('info1 1 with #UD is exception 6; VALID_ERR takes the error code from info2[63:32]', () => {
    assert.equal(verifyExceptionInfo(1n, 0x80000306n).kind, 'exception');
    const r = verifyExceptionInfo(1n, (0x1234n << 32n) | 0x80000b0dn);
    assert.equal(r.kind, 'exception');
    assert.equal(r.kind === 'exception' && r.vector, 13);
    assert.equal(r.kind === 'exception' && r.errorCode, 0x1234);
  });

  it('info1 1 with an event Linux does not accept is a VMM error', () => {
    for (const info2 of [
      0x8000030en, // #PF
      0x0000030dn, // not valid
      0x8000000dn, // type INTR
      0x8000020dn, // type NMI
      0n,
    ]) {
      assert.equal(verifyExceptionInfo(1n, info2).kind, 'vmm-error', info2.toString(16));
    }
  });

  it('info1 2 is reflected with the GHCB_ERR_* code from info2', () => {
    for (const err of [
      GHCB_ERR_NOT_REGISTERED,
      GHCB_ERR_INVALID_USAGE,
      GHCB_ERR_INVALID_SCRATCH_AREA,
      GHCB_ERR_MISSING_INPUT,
      GHCB_ERR_INVALID_INPUT,
      GHCB_ERR_INVALID_EVENT,
    ]) {
      assert.deepEqual(verifyExceptionInfo(2n, BigInt(err)), {
        kind: 'reflected',
        error: err,
        info1: 2n,
        info2: BigInt(err),
      });
    }
  });

  it('any other response code is a VMM error', () => {
    for (const info1 of [3n, 0xffff_ffffn, 0xffff_ffff_ffff_ffffn, 0x1_0000_0003n]) {
      assert.equal(verifyExceptionInfo(info1, 0n).kind, 'vmm-error', info1.toString(16));
    }
  });
});
