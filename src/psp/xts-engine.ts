/**
 * A memory-encryption engine as AMD's memory controller has one: AES-128 under the guest's key
 * with a tweak from the system physical address, so the same plaintext at two addresses (or in two
 * blocks of a page) encrypts differently and ciphertext moved to another address does not decrypt
 * (AMD's memory encryption white paper; the APM says only that the tweak is address-based). The
 * model's construction is AES-128-XTS with each 4 KiB page a data unit and its physical address the
 * unit's tweak, so a page costs one OpenSSL call. XTS blocks do not chain, so a 16-byte-aligned
 * piece of a page encrypts exactly as the same blocks of the whole page do (the engine runs such a
 * piece through a scratch page), whatever ranges the firmware hands it.
 */
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import type { MemoryCrypt, PhysRange } from './engine.js';

/** The engine's unit: one AES block. The firmware hands it 16-byte-aligned ranges only. */
export const XTS_BLOCK = 16;
/** The XTS data unit: a page, its physical address the tweak. */
const PAGE = 4096;

/** AES-128-XTS per physical page. */
export class XtsEngine implements MemoryCrypt {
  /** Per guest key, the XTS key: the guest key, then a tweak key derived from it (weakly held). */
  readonly #xtsKeys = new WeakMap<Uint8Array, Buffer>();
  readonly #scratch = new Uint8Array(PAGE);
  readonly #iv = Buffer.alloc(16);

  encrypt(vek: Uint8Array, range: PhysRange): void {
    this.#crypt(vek, range, true);
  }

  decrypt(vek: Uint8Array, range: PhysRange): void {
    this.#crypt(vek, range, false);
  }

  #crypt(vek: Uint8Array, { spa, bytes }: PhysRange, encrypt: boolean): void {
    if (spa % XTS_BLOCK !== 0 || bytes.length % XTS_BLOCK !== 0)
      throw new RangeError(`memory encryption works on 16-byte blocks: ${bytes.length} bytes at ${spa}`);
    const key = this.#xtsKey(vek);
    for (let off = 0; off < bytes.length; ) {
      const at = spa + off;
      const inPage = at % PAGE;
      const n = Math.min(PAGE - inPage, bytes.length - off);
      const piece = bytes.subarray(off, off + n);
      if (n === PAGE) this.#page(key, at, piece, encrypt);
      else {
        // Part of a page: its blocks, in place in a whole page (the other blocks do not matter).
        const s = this.#scratch;
        s.set(piece, inPage);
        this.#page(key, at - inPage, s, encrypt);
        piece.set(s.subarray(inPage, inPage + n));
      }
      off += n;
    }
  }

  /** One page in place: XTS with the page's physical address (little-endian) as the tweak. */
  #page(key: Buffer, pageSpa: number, page: Uint8Array, encrypt: boolean): void {
    const iv = this.#iv;
    iv.writeUInt32LE(pageSpa % 0x1_0000_0000, 0);
    iv.writeUInt32LE(Math.floor(pageSpa / 0x1_0000_0000), 4);
    const c = encrypt ? createCipheriv('aes-128-xts', key, iv) : createDecipheriv('aes-128-xts', key, iv);
    page.set(c.update(page));
  }

  #xtsKey(vek: Uint8Array): Buffer {
    let k = this.#xtsKeys.get(vek);
    if (k === undefined) {
      const tweakKey = createHash('sha256')
        .update('sevbox xts tweak key')
        .update(vek)
        .digest()
        .subarray(0, 16);
      k = Buffer.concat([vek, tweakKey]);
      this.#xtsKeys.set(vek, k);
    }
    return k;
  }
}
