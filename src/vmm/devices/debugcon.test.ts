/** QEMU's ISA debug console: bytes out as Latin-1 text, whole lines to the listener, reads 0xe9. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDebugcon, DEBUGCON_READBACK } from './debugcon.js';

describe('debugcon', () => {
  it('reads the readback byte 0xe9 (the rest of a wider read is 0)', () => {
    const dev = createDebugcon();
    const d = Uint8Array.of(1, 2, 3, 4);
    dev.read(0, d);
    assert.deepEqual([...d], [DEBUGCON_READBACK, 0, 0, 0]);
    assert.equal(DEBUGCON_READBACK, 0xe9);
  });

  it('keeps every byte written (the low byte of a wider OUT), as text from any offset', () => {
    const dev = createDebugcon();
    for (const c of 'ab') dev.write(0, Uint8Array.of(c.charCodeAt(0)));
    dev.write(0, Uint8Array.of(0x63, 0x64)); // OUT of a word: only 'c'
    dev.write(0, Uint8Array.of(0xe9)); // Latin-1
    assert.equal(dev.length, 4);
    assert.equal(dev.text(), 'abc\u00e9');
    assert.equal(dev.text(2), 'c\u00e9');
  });

  it('gives each complete line to onLine, without its CR LF; a partial line waits', () => {
    const dev = createDebugcon();
    const lines: string[] = [];
    const put = (s: string) => {
      for (const c of s) dev.write(0, Uint8Array.of(c.charCodeAt(0)));
    };
    put('before\n'); // no listener yet: kept in the text only
    dev.onLine = (l) => lines.push(l);
    put('one\r\ntwo\n\nthr');
    assert.deepEqual(lines, ['one', 'two', '']);
    put('ee\n');
    assert.deepEqual(lines, ['one', 'two', '', 'three']);
    assert.equal(dev.text(), 'before\none\r\ntwo\n\nthree\n');
  });
});
