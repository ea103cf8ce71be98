/**
 * The memory controller: key slots by ASID, the plaintext a guest's CPUs work on (decrypted from
 * memory on first use), and coherence with host software (written back before a host read,
 * dropped after a host write).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryController } from './memory-controller.js';
import { XtsEngine } from './xts-engine.js';

const PAGE = 4096;
const KEY = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const OTHER_KEY = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 ^ i);
const SPA = 0x7f00_1234_0000;
const pattern = (seed: number, n = PAGE): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);

/** A page of memory holding `plain` encrypted under `key` at `spa` (as LAUNCH_UPDATE_DATA leaves it). */
function encryptedFrame(engine: XtsEngine, plain: Uint8Array, spa = SPA, key = KEY): Uint8Array {
  const frame = plain.slice();
  engine.encrypt(key, { spa, bytes: frame });
  return frame;
}

function setup() {
  const engine = new XtsEngine();
  const mc = new MemoryController({ engine });
  mc.loadKey(1, KEY);
  const d = mc.domain(1)!;
  return { engine, mc, d };
}

describe('MemoryController: key slots', () => {
  it('a domain exists while a key is loaded, the same object throughout; none without a key', () => {
    const mc = new MemoryController();
    assert.equal(mc.cbit, 51);
    assert.ok(mc.engine instanceof XtsEngine);
    assert.equal(new MemoryController({ cbit: 47 }).cbit, 47);
    assert.equal(mc.domain(1), undefined);
    mc.loadKey(1, KEY);
    const d = mc.domain(1);
    assert.ok(d);
    assert.equal(mc.domain(1), d, 'stable identity');
    assert.equal(mc.domain(2), undefined, 'other ASIDs have no key');
    mc.loadKey(1, KEY.slice());
    assert.equal(mc.domain(1), d, 'the same key again keeps the domain');
    mc.loadKey(1, OTHER_KEY);
    assert.notEqual(mc.domain(1), d, 'another key: another domain');
    mc.clearKey(1);
    assert.equal(mc.domain(1), undefined);
    mc.clearKey(1); // nothing loaded: nothing to do
    assert.throws(() => mc.loadKey(0, KEY), RangeError);
  });

  it('clearing a key writes its dirty pages back, drops them and bumps the generation; the old domain serves no more', () => {
    const { engine, mc, d } = setup();
    const frame = encryptedFrame(engine, new Uint8Array(PAGE));
    const p = d.page(SPA, frame, true);
    p.set([1, 2, 3, 4]);
    const gen = d.generation;
    mc.clearKey(1);
    assert.ok(d.generation > gen);
    assert.equal(mc.cachedPages, 0);
    const want = new Uint8Array(PAGE);
    want.set([1, 2, 3, 4]);
    assert.deepEqual(frame, encryptedFrame(engine, want), 'memory holds the plaintext, encrypted');
    assert.throws(() => d.page(SPA, frame, false), /no key loaded for ASID 1/);
  });
});

describe('MemoryController: the CPUs’ plaintext', () => {
  it('page() decrypts memory the engine encrypted, and returns the same array while the generation holds', () => {
    const { engine, mc, d } = setup();
    const plain = pattern(5);
    const frame = encryptedFrame(engine, plain);
    assert.notDeepEqual(frame, plain);
    const before = frame.slice();
    const p = d.page(SPA, frame, false);
    assert.deepEqual(p, plain);
    assert.deepEqual(frame, before, 'a read leaves memory alone');
    const gen = d.generation;
    assert.equal(d.page(SPA, frame, false), p);
    assert.equal(d.page(SPA + 0x10, frame, true), p, 'any address in the page names it');
    assert.equal(d.generation, gen);
    assert.equal(mc.cachedPages, 1);
    assert.throws(() => d.page(SPA, frame.subarray(0, 16), false), RangeError);
  });

  it('the same plaintext at two addresses is two different ciphertexts, each decrypting at its own address', () => {
    const { engine, d } = setup();
    const plain = pattern(9);
    const a = encryptedFrame(engine, plain, SPA);
    const b = encryptedFrame(engine, plain, SPA + PAGE);
    assert.notDeepEqual(a, b);
    assert.deepEqual(d.page(SPA, a, false), plain);
    assert.deepEqual(d.page(SPA + PAGE, b, false), plain);
  });

  it('decrypt/encrypt are the engine under the key, caching nothing', () => {
    const { engine, mc, d } = setup();
    const plain = pattern(3);
    const bytes = plain.slice();
    d.encrypt(SPA, bytes);
    assert.deepEqual(bytes, encryptedFrame(engine, plain));
    d.decrypt(SPA, bytes);
    assert.deepEqual(bytes, plain);
    assert.equal(mc.cachedPages, 0);
  });
});

describe('MemoryController: coherence with host software', () => {
  it('a host read of a dirty page writes back engine.encrypt(plaintext) and bumps the generation', () => {
    const { engine, mc, d } = setup();
    const frame = encryptedFrame(engine, new Uint8Array(PAGE));
    const p = d.page(SPA, frame, true);
    p.set(pattern(7));
    const gen = d.generation;
    mc.beforeHostAccess(SPA + 100, 8, false);
    assert.deepEqual(frame, encryptedFrame(engine, pattern(7)));
    assert.equal(d.generation, gen + 1);
    assert.equal(mc.cachedPages, 1, 'the plaintext stays, clean');
    assert.equal(d.page(SPA, frame, false), p);
    // Clean now: another read writes nothing and keeps the generation.
    frame.fill(0xee);
    mc.beforeHostAccess(SPA, PAGE, false);
    assert.ok(
      frame.every((b) => b === 0xee),
      'a clean page is not re-encrypted',
    );
    assert.equal(d.generation, gen + 1);
    // A CPU that refilled for writing dirties it again.
    d.page(SPA, frame, true);
    mc.beforeHostAccess(SPA, 1, false);
    assert.deepEqual(frame, encryptedFrame(engine, pattern(7)));
    assert.equal(d.generation, gen + 2);
  });

  it('a host write drops the plaintext: the next page() decrypts what the host left', () => {
    const { engine, mc, d } = setup();
    const original = pattern(1);
    const frame = encryptedFrame(engine, original);
    const p = d.page(SPA, frame, true);
    p[0] = 0x42;
    const gen = d.generation;
    mc.beforeHostAccess(SPA + 64, 16, true);
    assert.equal(d.generation, gen + 1);
    assert.equal(mc.cachedPages, 0);
    const written = original.slice();
    written[0] = 0x42;
    assert.deepEqual(frame, encryptedFrame(engine, written), 'written back before the host wrote');
    // The host writes plaintext over part of the page (copy_to_user of bytes it meant for the guest).
    frame.set(pattern(200, 64), 64);
    const q = d.page(SPA, frame, false);
    assert.notEqual(q, p);
    const want = frame.slice();
    engine.decrypt(KEY, { spa: SPA, bytes: want });
    assert.deepEqual(q, want, 'decrypt(the host bytes)');
    assert.notDeepEqual(
      q.subarray(64, 128),
      pattern(200, 64),
      'garbage to the guest, not the host’s plaintext',
    );
    assert.deepEqual(
      q.subarray(0, 64),
      written.subarray(0, 64),
      'the blocks the host left alone still decrypt',
    );
  });

  it('a host write of a clean page drops it too (the CPU must refill), writing nothing back', () => {
    const { engine, mc, d } = setup();
    const frame = encryptedFrame(engine, pattern(4));
    d.page(SPA, frame, false);
    frame.fill(0x11);
    const gen = d.generation;
    mc.beforeHostAccess(SPA, PAGE, true);
    assert.ok(frame.every((b) => b === 0x11));
    assert.equal(d.generation, gen + 1);
    assert.equal(mc.cachedPages, 0);
  });

  it('ranges spanning pages reach every page they touch and no other', () => {
    const { engine, mc, d } = setup();
    const frames = [0, 1, 2, 3].map((i) => encryptedFrame(engine, new Uint8Array(PAGE), SPA + i * PAGE));
    for (let i = 0; i < 4; i++) d.page(SPA + i * PAGE, frames[i]!, true).fill(i + 1);
    // The last byte of page 0 through the first of page 2: pages 0, 1, 2 written back, 3 not.
    mc.beforeHostAccess(SPA + PAGE - 1, PAGE + 2, false);
    for (let i = 0; i < 3; i++)
      assert.deepEqual(frames[i], encryptedFrame(engine, new Uint8Array(PAGE).fill(i + 1), SPA + i * PAGE));
    assert.deepEqual(frames[3], encryptedFrame(engine, new Uint8Array(PAGE), SPA + 3 * PAGE), 'untouched');
    // A write over a range with more pages than there are shadows (the other lookup) drops pages 1-3.
    mc.beforeHostAccess(SPA + PAGE, 64 * PAGE, true);
    assert.equal(mc.cachedPages, 1);
    assert.deepEqual(frames[3], encryptedFrame(engine, new Uint8Array(PAGE).fill(4), SPA + 3 * PAGE));
    // Ranges that miss every page change nothing.
    const gen = d.generation;
    mc.beforeHostAccess(SPA - PAGE, PAGE, true);
    mc.beforeHostAccess(SPA + PAGE, 0, true);
    assert.equal(mc.cachedPages, 1);
    assert.equal(d.generation, gen);
  });

  it('flush writes back every dirty page of every ASID, keeping them', () => {
    const { engine, mc, d } = setup();
    mc.loadKey(2, OTHER_KEY);
    const e = mc.domain(2)!;
    const f1 = encryptedFrame(engine, new Uint8Array(PAGE));
    const f2 = encryptedFrame(engine, new Uint8Array(PAGE), SPA + PAGE, OTHER_KEY);
    d.page(SPA, f1, true).fill(1);
    e.page(SPA + PAGE, f2, true).fill(2);
    const [g1, g2] = [d.generation, e.generation];
    mc.flush();
    assert.deepEqual(f1, encryptedFrame(engine, new Uint8Array(PAGE).fill(1)));
    assert.deepEqual(f2, encryptedFrame(engine, new Uint8Array(PAGE).fill(2), SPA + PAGE, OTHER_KEY));
    assert.deepEqual([d.generation, e.generation], [g1 + 1, g2 + 1]);
    assert.equal(mc.cachedPages, 2);
    mc.flush();
    assert.deepEqual([d.generation, e.generation], [g1 + 1, g2 + 1], 'nothing dirty: nothing to tell');
  });

  it('another ASID touching a page writes the first one’s plaintext back and decrypts with its own key', () => {
    const { engine, mc, d } = setup();
    mc.loadKey(2, OTHER_KEY);
    const e = mc.domain(2)!;
    const frame = encryptedFrame(engine, new Uint8Array(PAGE));
    d.page(SPA, frame, true).fill(9);
    const gen = d.generation;
    const q = e.page(SPA, frame, false);
    assert.equal(d.generation, gen + 1);
    assert.deepEqual(frame, encryptedFrame(engine, new Uint8Array(PAGE).fill(9)));
    assert.notDeepEqual(q, new Uint8Array(PAGE).fill(9), 'the other key reads garbage');
    assert.equal(mc.cachedPages, 1);
  });

  it('debugPlaintext: a copy of the CPUs’ plaintext where they hold the page, memory decrypted elsewhere', () => {
    const { engine, mc, d } = setup();
    const mem = new Uint8Array(2 * PAGE);
    mem.set(encryptedFrame(engine, pattern(1), SPA), 0);
    mem.set(encryptedFrame(engine, pattern(2), SPA + PAGE), PAGE);
    const p = d.page(SPA, mem.subarray(0, PAGE), true);
    p.fill(0x77);
    const before = mem.slice();
    const view = mc.debugPlaintext(1, SPA + PAGE - 32, mem.subarray(PAGE - 32, PAGE + 32))!;
    assert.deepEqual(view.subarray(0, 32), new Uint8Array(32).fill(0x77));
    assert.deepEqual(view.subarray(32), pattern(2).subarray(0, 32));
    assert.deepEqual(mem, before, 'nothing written back');
    assert.equal(mc.cachedPages, 1, 'nothing cached');
    view.fill(0);
    assert.equal(p[0], 0x77, 'a copy');
    assert.equal(mc.debugPlaintext(3, SPA, mem), undefined, 'no key');
  });

  it('usedPrivately: a page a CPU reached privately stays marked after the host dropped it; others are not', () => {
    const { engine, mc, d } = setup();
    const frame = encryptedFrame(engine, pattern(3));
    assert.equal(mc.usedPrivately(1, SPA + 8), false);
    d.page(SPA, frame, true);
    mc.beforeHostAccess(SPA, PAGE, true); // the host maps it for writing: written back, dropped
    assert.equal(mc.cachedPages, 0);
    assert.equal(mc.usedPrivately(1, SPA + 8), true, 'any byte of the page');
    assert.equal(mc.usedPrivately(1, SPA + PAGE), false, 'the next page');
    assert.equal(mc.usedPrivately(2, SPA), false, 'another ASID');
  });

  it('with no plaintext held, the hook does nothing at all', () => {
    const mc = new MemoryController();
    mc.loadKey(1, KEY);
    const gen = mc.domain(1)!.generation;
    mc.beforeHostAccess(SPA, 1 << 30, true);
    mc.beforeHostAccess(SPA, 16, false);
    assert.equal(mc.domain(1)!.generation, gen);
  });
});
