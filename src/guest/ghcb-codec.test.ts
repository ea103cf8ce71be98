import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  GHCB_OFF_CPL,
  GHCB_OFF_RAX,
  GHCB_OFF_RDX,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_SW_SCRATCH,
  GHCB_OFF_VALID_BITMAP,
  GHCB_OFF_XCR0,
  GHCB_SIZE,
} from '../uapi/ghcb.js';
import { GhcbCodec } from './ghcb-codec.js';

function codec(): { g: GhcbCodec; view: DataView } {
  const bytes = new Uint8Array(GHCB_SIZE);
  return { g: new GhcbCodec(bytes), view: new DataView(bytes.buffer) };
}

/** Bit `offset / 8` of the valid bitmap, read byte-wise as KVM does. */
function validByte(view: DataView, offset: number): boolean {
  const idx = offset >> 3;
  return (view.getUint8(GHCB_OFF_VALID_BITMAP + (idx >> 3)) & (1 << (idx & 7))) !== 0;
}

describe('GhcbCodec', () => {
  it('setNumber writes a little-endian u64 (both halves up to 2^53) and the field’s valid bit', () => {
    const { g, view } = codec();
    g.setNumber(GHCB_OFF_SW_SCRATCH, 0x1f_ffff_ffff_fffe);
    assert.equal(view.getBigUint64(GHCB_OFF_SW_SCRATCH, true), 0x1f_ffff_ffff_fffen);
    g.setNumber(GHCB_OFF_RAX, 0xffff_ffff);
    assert.equal(view.getBigUint64(GHCB_OFF_RAX, true), 0xffff_ffffn);
    assert.ok(validByte(view, GHCB_OFF_SW_SCRATCH) && validByte(view, GHCB_OFF_RAX));
    assert.ok(!validByte(view, GHCB_OFF_RDX));
    assert.equal(g.get(GHCB_OFF_SW_SCRATCH), 0x1f_ffff_ffff_fffen);
  });

  it('set takes a BigInt; cpl is one byte at 0xCB with the valid bit of its qword', () => {
    const { g, view } = codec();
    g.set(GHCB_OFF_XCR0, 0xffff_ffff_ffff_ffffn);
    assert.equal(view.getBigUint64(GHCB_OFF_XCR0, true), 0xffff_ffff_ffff_ffffn);
    view.setUint8(GHCB_OFF_CPL - 1, 0xaa);
    g.set(GHCB_OFF_CPL, 0x103n);
    assert.equal(view.getUint8(GHCB_OFF_CPL), 3);
    assert.equal(view.getUint8(GHCB_OFF_CPL - 1), 0xaa, 'the rest of the qword is left alone');
    assert.equal(g.get(GHCB_OFF_CPL), 3n);
    assert.ok(g.isValid(GHCB_OFF_CPL) && validByte(view, GHCB_OFF_CPL) && g.isValid(GHCB_OFF_XCR0));
  });

  it('isValid and setValidBit agree with the bitmap as bytes', () => {
    const { g, view } = codec();
    for (const idx of [0, 7, 8, 31, 32, 63, 64, 127]) {
      g.setValidBit(idx, true);
      assert.ok(validByte(view, idx * 8), `bit ${idx}`);
      assert.ok(g.isValid(idx * 8));
      g.setValidBit(idx, false);
      assert.ok(!validByte(view, idx * 8) && !g.isValid(idx * 8));
    }
  });

  it('invalidate is vc_ghcb_invalidate: sw_exit_code and the valid bitmap, nothing else', () => {
    const { g, view } = codec();
    g.setSwExit(0x72, 5, 6);
    g.setNumber(GHCB_OFF_RAX, 1);
    g.invalidate();
    assert.equal(view.getBigUint64(GHCB_OFF_SW_EXIT_CODE, true), 0n);
    assert.equal(view.getBigUint64(GHCB_OFF_VALID_BITMAP, true), 0n);
    assert.equal(view.getBigUint64(GHCB_OFF_VALID_BITMAP + 8, true), 0n);
    assert.equal(view.getBigUint64(GHCB_OFF_SW_EXIT_INFO_1, true), 5n);
    assert.equal(view.getBigUint64(GHCB_OFF_SW_EXIT_INFO_2, true), 6n);
    assert.equal(view.getBigUint64(GHCB_OFF_RAX, true), 1n);
  });

  it('result classifies sw_exit_info_1/2; getEdxEax joins the low halves of RDX and RAX', () => {
    const { g, view } = codec();
    assert.deepEqual(g.result(), { kind: 'ok', info1: 0n, info2: 0n });
    view.setBigUint64(GHCB_OFF_SW_EXIT_INFO_1, 2n, true);
    view.setBigUint64(GHCB_OFF_SW_EXIT_INFO_2, 4n, true);
    assert.deepEqual(g.result(), { kind: 'reflected', error: 4, info1: 2n, info2: 4n });
    view.setBigUint64(GHCB_OFF_RAX, 0xaaaa_aaaa_1234_5678n, true);
    view.setBigUint64(GHCB_OFF_RDX, 0xbbbb_bbbb_9abc_def0n, true);
    assert.equal(g.getEdxEax(), 0x9abc_def0_1234_5678n);
  });
});
