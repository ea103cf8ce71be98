/**
 * The engine: AES-128-XTS under the guest key, each page's physical address its tweak.
 * What SEV-ES users rely on: round trips, and that ciphertext depends on the key and the address.
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { XtsEngine } from './xts-engine.js';

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i);
const OTHER_KEY = Uint8Array.from({ length: 16 }, (_, i) => 0xf0 ^ i);
const page = (seed: number): Uint8Array => Uint8Array.from({ length: 4096 }, (_, i) => (i * 7 + seed) & 0xff);

describe('XTS memory encryption', () => {
  const engine = new XtsEngine();

  it('a page is AES-128-XTS under (the guest key, a key derived from it) with its physical address as the tweak', () => {
    const p = page(1);
    const spa = 0x1234_5000;
    const k2 = createHash('sha256').update('sevbox xts tweak key').update(KEY).digest().subarray(0, 16);
    const iv = Buffer.alloc(16);
    iv.writeUInt32LE(spa, 0);
    const want = createCipheriv('aes-128-xts', Buffer.concat([KEY, k2]), iv).update(p);
    const got = p.slice();
    engine.encrypt(KEY, { spa, bytes: got });
    assert.deepEqual(got, Uint8Array.from(want));
  });

  it('a 16-byte-aligned piece encrypts as the same blocks of its whole page (ranges may split anywhere)', () => {
    const whole = page(2);
    const piece = whole.slice(0x7f0, 0x830);
    engine.encrypt(KEY, { spa: 0x40_0000, bytes: whole });
    engine.encrypt(KEY, { spa: 0x40_07f0, bytes: piece });
    assert.deepEqual(piece, whole.subarray(0x7f0, 0x830));
    // And across a page boundary: each side as its own page's blocks.
    const two = new Uint8Array(8192).fill(0x3c);
    const across = two.slice(0xff0, 0x1010);
    engine.encrypt(KEY, { spa: 0x50_0000, bytes: two });
    engine.encrypt(KEY, { spa: 0x50_0ff0, bytes: across });
    assert.deepEqual(across, two.subarray(0xff0, 0x1010));
  });

  it('decrypt undoes encrypt, for a page and for a 16-byte-aligned piece', () => {
    for (const [spa, len] of [
      [0x7f00_0000_0000, 4096],
      [0x1_0000_0010, 48],
    ] as const) {
      const plain = page(len).subarray(0, len);
      const bytes = plain.slice();
      engine.encrypt(KEY, { spa, bytes });
      assert.notDeepEqual(bytes, plain);
      engine.decrypt(KEY, { spa, bytes });
      assert.deepEqual(bytes, plain);
    }
  });

  it('the same plaintext at two addresses, or in two blocks of one page, encrypts differently', () => {
    const zeros = () => new Uint8Array(4096);
    const a = zeros();
    const b = zeros();
    engine.encrypt(KEY, { spa: 0x10_0000, bytes: a });
    engine.encrypt(KEY, { spa: 0x10_1000, bytes: b });
    assert.notDeepEqual(a, b);
    assert.notDeepEqual(a.subarray(0, 16), a.subarray(16, 32));
  });

  it('ciphertext moved to another address, or read with another key, does not decrypt', () => {
    const plain = page(3);
    const c = plain.slice();
    engine.encrypt(KEY, { spa: 0x20_0000, bytes: c });
    const moved = c.slice();
    engine.decrypt(KEY, { spa: 0x20_1000, bytes: moved });
    assert.notDeepEqual(moved, plain);
    const otherKey = c.slice();
    engine.decrypt(OTHER_KEY, { spa: 0x20_0000, bytes: otherKey });
    assert.notDeepEqual(otherKey, plain);
  });

  it('is deterministic (no IV beyond the address): the same inputs give the same ciphertext', () => {
    const a = page(9);
    const b = page(9);
    new XtsEngine().encrypt(KEY, { spa: 0x3000, bytes: a });
    engine.encrypt(KEY, { spa: 0x3000, bytes: b });
    assert.deepEqual(a, b);
  });

  it('refuses ranges that are not whole 16-byte blocks', () => {
    assert.throws(() => engine.encrypt(KEY, { spa: 8, bytes: new Uint8Array(16) }), RangeError);
    assert.throws(() => engine.encrypt(KEY, { spa: 0, bytes: new Uint8Array(15) }), RangeError);
  });
});
