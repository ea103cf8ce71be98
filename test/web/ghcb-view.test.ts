/** The explorer's GHCB decoding (web/ghcb-view.ts), in Node: pure functions over the page's bytes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GhcbCodec } from '../../src/guest/ghcb-codec.js';
import { GHCB_OFF_RAX, GHCB_OFF_SW_SCRATCH, GHCB_SIZE } from '../../src/uapi/ghcb.js';
import { SVM_VMGEXIT_MMIO_READ } from '../../src/uapi/svm.js';
import {
  changedFields,
  decodeGhcb,
  ghcbBytes,
  parseNum,
  scratchView,
  strayValidBits,
} from '../../web/ghcb-view.js';

const page = (fill: (g: GhcbCodec) => void): Uint8Array => {
  const g = new GhcbCodec(new Uint8Array(GHCB_SIZE));
  fill(g);
  return g.bytes;
};
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

describe('GHCB view', () => {
  it('decodes every named field with its value and valid bit', () => {
    const bytes = page((g) => {
      g.setSwExit(SVM_VMGEXIT_MMIO_READ, 0xfed000f0, 8);
      g.set(GHCB_OFF_SW_SCRATCH, 0x9800n);
    });
    const f = Object.fromEntries(decodeGhcb(ghcbBytes(b64(bytes))).map((v) => [v.field.name, v]));
    assert.equal(f.sw_exit_code!.hex, '0x0000000080000001');
    assert.equal(f.sw_exit_code!.valid, true);
    assert.equal(f.sw_scratch!.value, 0x9800n);
    assert.equal(f.rax!.valid, false);
    assert.equal(f.ghcb_usage!.valid, undefined);
    assert.equal(f.valid_bitmap!.hex.length, 2 + 32);
  });

  it('reads a snapshot without its trailing zeros as the whole page', () => {
    const bytes = page((g) => g.set(GHCB_OFF_RAX, 0x48n));
    const short = bytes.subarray(0, 0x400);
    assert.deepEqual(ghcbBytes(b64(short)), bytes);
  });

  it('marks changed values and valid bits; finds stray valid bits', () => {
    const a = page((g) => g.set(GHCB_OFF_RAX, 1n));
    const b = page((g) => {
      g.set(GHCB_OFF_RAX, 1n);
      g.set(GHCB_OFF_SW_SCRATCH, 0n);
      g.setValidBit(0x100 >> 3, true);
    });
    const changed = changedFields(decodeGhcb(b), decodeGhcb(a));
    assert.deepEqual([...changed].sort(), ['sw_scratch', 'valid_bitmap']);
    assert.deepEqual(strayValidBits(b), [0x100 >> 3]);
  });

  it('places the scratch area: shared buffer, rest of the page, outside, none', () => {
    const at = (gpa: bigint, len?: bigint) =>
      scratchView(
        page((g) => g.set(GHCB_OFF_SW_SCRATCH, gpa)),
        0x9000n,
        len,
      ).place;
    assert.equal(at(0x9800n, 8n), 'shared-buffer');
    assert.equal(at(0x9fe8n, 8n), 'shared-buffer');
    assert.equal(at(0x9fe9n, 8n), 'ghcb-page');
    assert.equal(at(0x9100n, 8n), 'ghcb-page');
    assert.equal(at(0x7ff000000000n, 8n), 'outside');
    assert.equal(at(0x8ff8n, 8n), 'outside');
    assert.equal(at(0n), 'none');
  });

  it('parses the numbers of detail maps', () => {
    assert.equal(parseNum('0x9000'), 0x9000n);
    assert.equal(parseNum('8'), 8n);
    assert.equal(parseNum('ff'), 0xffn);
    assert.equal(parseNum('EFAULT'), undefined);
    assert.equal(parseNum(undefined), undefined);
  });
});
