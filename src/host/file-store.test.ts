import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SysError } from '../uapi/kvm-error.js';
import { HostFile } from './file-store.js';

describe('HostFile', () => {
  it('starts at the given size, reading zeros without allocating', () => {
    const f = new HostFile('disk', 1 << 30);
    assert.equal(f.size, 1 << 30);
    const buf = new Uint8Array(16).fill(0xaa);
    assert.equal(f.read(12345, buf), 16);
    assert.deepEqual(buf, new Uint8Array(16));
    assert.equal(f.residentBytes(), 0);
  });

  it('write extends the file; the gap reads as zero; reads are short at EOF', () => {
    const f = new HostFile('a');
    f.write(10, Uint8Array.of(1, 2, 3));
    assert.equal(f.size, 13);
    const buf = new Uint8Array(20).fill(0xff);
    assert.equal(f.read(0, buf), 13);
    assert.deepEqual([...buf.subarray(0, 13)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
    assert.equal(buf[13], 0xff, 'bytes past a short read are untouched');
    assert.equal(f.read(13, buf), 0);
    assert.equal(f.read(100, buf), 0);
  });

  it('writes spanning a chunk boundary round-trip', () => {
    const f = new HostFile('b');
    const data = new Uint8Array(70000).map((_, i) => i % 251);
    f.write(65536 - 1000, data);
    const back = new Uint8Array(70000);
    assert.equal(f.read(65536 - 1000, back), 70000);
    assert.deepEqual(back, data);
  });

  it('truncate down discards data; extending again reads zeros', () => {
    const f = new HostFile('c');
    f.write(0, new Uint8Array(200000).fill(7));
    f.truncate(5000);
    assert.equal(f.size, 5000);
    f.truncate(200000);
    const buf = new Uint8Array(200000);
    f.read(0, buf);
    assert.equal(buf[4999], 7);
    assert.equal(
      buf.subarray(5000).some((b) => b !== 0),
      false,
    );
    assert.equal(f.residentBytes(), 65536, 'chunks wholly past the new EOF were freed');
  });

  it('stray bytes stored past EOF through an alias are zeroed when the file grows', () => {
    const f = new HostFile('d', 100);
    f.alias(0, 4096).fill(9); // a view of the last page, tail included
    const buf = new Uint8Array(4096);
    f.truncate(4096);
    f.read(0, buf);
    assert.equal(buf[99], 9);
    assert.equal(buf[100], 0);
    assert.equal(buf[4095], 0);
  });

  it('rejects negative offsets and sizes with EINVAL', () => {
    const f = new HostFile('e');
    assert.throws(
      () => f.read(-1, new Uint8Array(1)),
      (e) => e instanceof SysError && e.code === 'EINVAL',
    );
    assert.throws(
      () => f.truncate(-5),
      (e) => e instanceof SysError && e.code === 'EINVAL',
    );
    assert.throws(
      () => new HostFile('x', 1.5),
      (e) => e instanceof SysError && e.code === 'EINVAL',
    );
  });
});
