/**
 * KVM's GHCB accessors (src/sev/ghcb-access.ts) against the page layout: the batch writes KVM makes
 * on every GHCB exit (sev_es_sync_to_ghcb, svm_vmgexit_success(0)) store exactly their fields and
 * valid bits, little-endian, and nothing else.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  newGprs,
  setGpr,
  VCPU_REGS_RAX,
  VCPU_REGS_RBX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDX,
  VCPU_REGS_RSI,
} from '../../src/cpu/backend.js';
import { GhcbAccess } from '../../src/sev/ghcb-access.js';
import {
  GHCB_OFF_RAX,
  GHCB_OFF_RBX,
  GHCB_OFF_RCX,
  GHCB_OFF_RDX,
  GHCB_OFF_RSI,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_VALID_BITMAP,
  GHCB_SIZE,
  GHCB_VALID_BITMAP_SIZE,
} from '../../src/uapi/ghcb.js';

/** The offsets whose valid bits are set in `page`. */
function validOffsets(page: Uint8Array): number[] {
  const out: number[] = [];
  for (let bit = 0; bit < 8 * GHCB_VALID_BITMAP_SIZE; bit++)
    if (page[GHCB_OFF_VALID_BITMAP + (bit >>> 3)]! & (1 << (bit & 7))) out.push(bit * 8);
  return out;
}

/** The u64 at `offset`, read byte by byte (little-endian), independently of the accessors. */
function u64At(page: Uint8Array, offset: number): bigint {
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(page[offset + i]!);
  return v;
}

describe('GhcbAccess batch writes', () => {
  it('setGprs writes RAX, RBX, RCX and RDX (both halves) and their valid bits only', () => {
    const page = new Uint8Array(GHCB_SIZE);
    const g = new GhcbAccess(page);
    const r = newGprs();
    setGpr(r, VCPU_REGS_RAX, 0x1122_3344_5566_7788n);
    setGpr(r, VCPU_REGS_RBX, 0xffff_ffff_0000_0001n);
    setGpr(r, VCPU_REGS_RCX, 0x8000_0000n);
    setGpr(r, VCPU_REGS_RDX, 0n);
    setGpr(r, VCPU_REGS_RSI, 0xdeadn);
    page[GHCB_OFF_RDX] = 0xaa; // a stale value: sync_to_ghcb overwrites it even with 0
    g.setGprs(r);
    assert.equal(u64At(page, GHCB_OFF_RAX), 0x1122_3344_5566_7788n);
    assert.equal(u64At(page, GHCB_OFF_RBX), 0xffff_ffff_0000_0001n);
    assert.equal(u64At(page, GHCB_OFF_RCX), 0x8000_0000n);
    assert.equal(u64At(page, GHCB_OFF_RDX), 0n);
    assert.equal(u64At(page, GHCB_OFF_RSI), 0n, 'RSI is not synced to the GHCB');
    assert.deepEqual(
      validOffsets(page),
      [GHCB_OFF_RAX, GHCB_OFF_RCX, GHCB_OFF_RDX, GHCB_OFF_RBX].sort((a, b) => a - b),
    );
  });

  it('setGprs keeps valid bits already set', () => {
    const page = new Uint8Array(GHCB_SIZE);
    const g = new GhcbAccess(page);
    g.set(GHCB_OFF_RSI, 5n);
    g.setGprs(newGprs());
    assert.ok(validOffsets(page).includes(GHCB_OFF_RSI));
    assert.equal(validOffsets(page).length, 5);
  });

  it('setExitInfoZero zeroes sw_exit_info_1/2 and marks both valid, nothing else', () => {
    const page = new Uint8Array(GHCB_SIZE).fill(0xff, GHCB_OFF_SW_EXIT_INFO_1, GHCB_OFF_SW_EXIT_INFO_2 + 8);
    const g = new GhcbAccess(page);
    g.setExitInfoZero();
    assert.equal(u64At(page, GHCB_OFF_SW_EXIT_INFO_1), 0n);
    assert.equal(u64At(page, GHCB_OFF_SW_EXIT_INFO_2), 0n);
    assert.deepEqual(validOffsets(page), [GHCB_OFF_SW_EXIT_INFO_1, GHCB_OFF_SW_EXIT_INFO_2]);
  });
});
