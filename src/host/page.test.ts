import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PAGE_SHIFT, PAGE_SIZE, pageAlignDown, pageAligned, pageAlignUp } from './page.js';

describe('page arithmetic', () => {
  it('rounds and tests alignment, including above 2^32 where bitwise operators would truncate', () => {
    assert.equal(2 ** PAGE_SHIFT, PAGE_SIZE);
    const hi = 0x7fff_ffff_e000;
    assert.equal(pageAligned(hi), true);
    assert.equal(pageAligned(hi + 1), false);
    assert.equal(pageAlignDown(hi + 4095), hi);
    assert.equal(pageAlignUp(hi + 1), hi + PAGE_SIZE);
    assert.equal(pageAlignUp(hi), hi);
    assert.equal(pageAlignUp(0), 0);
    assert.equal(pageAlignDown(4095), 0);
  });
});
