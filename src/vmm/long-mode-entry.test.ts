/** The 64-bit loader's identity page tables: entry values a page walk reads, and the size limits. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { identityPageTables } from './long-mode-entry.js';

const u64 = (b: Uint8Array, i = 0): bigint => new DataView(b.buffer, b.byteOffset).getBigUint64(8 * i, true);

describe('identityPageTables', () => {
  it('PML4[0] → PDPT, PDPT[0] → PD, PD[i] = the 2 MiB page i, present and writable', () => {
    const [pml4, pdpt, pd] = identityPageTables(0x9000, 6 << 20);
    assert.deepEqual([pml4!.gpa, pdpt!.gpa, pd!.gpa], [0x9000, 0xa000, 0xb000]);
    assert.equal(u64(pml4!.bytes), 0xa003n);
    assert.equal(u64(pdpt!.bytes), 0xb003n);
    assert.deepEqual(
      [0, 1, 2].map((i) => u64(pd!.bytes, i)),
      [0x83n, 0x20_0083n, 0x40_0083n],
    );
    assert.equal(pd!.bytes.length, 24);
  });

  it('refuses sizes that are not whole 2 MiB pages within 1 GiB', () => {
    for (const size of [0, 1 << 20, 3 << 20, 2 << 30])
      assert.throws(() => identityPageTables(0, size), RangeError);
  });
});
