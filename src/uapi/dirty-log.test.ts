import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeClearDirtyLog,
  decodeDirtyLog,
  encodeClearDirtyLog,
  encodeDirtyLog,
  KVM_CLEAR_DIRTY_LOG_SIZE,
  KVM_DIRTY_LOG_SIZE,
  type KvmClearDirtyLog,
  type KvmDirtyLog,
} from './dirty-log.js';
import { checkCodec, image, U32_MAX, U64_MAX, U64_TOP } from './test-util.js';

const log: KvmDirtyLog = { slot: 0x0001_0003, dirtyBitmap: U64_TOP | 0x7f00_0000_1000n };
const clear: KvmClearDirtyLog = {
  slot: U32_MAX,
  numPages: 64,
  firstPage: U64_MAX - 63n,
  dirtyBitmap: U64_MAX,
};

describe('struct kvm_dirty_log', () => {
  it('encodes to the hand-built image (padding1 zero) and decodes it back', () => {
    assert.equal(KVM_DIRTY_LOG_SIZE, 16);
    const bytes = image(16, [
      [0, 'u32', 0x0001_0003],
      [8, 'u64', log.dirtyBitmap],
    ]);
    assert.deepEqual(encodeDirtyLog(log), bytes);
    assert.deepEqual(decodeDirtyLog(bytes), log);
    checkCodec({ value: log, size: 16, encode: encodeDirtyLog, decode: decodeDirtyLog });
  });
});

describe('struct kvm_clear_dirty_log', () => {
  it('encodes to the hand-built image and decodes it back', () => {
    assert.equal(KVM_CLEAR_DIRTY_LOG_SIZE, 24);
    const bytes = image(24, [
      [0, 'u32', U32_MAX],
      [4, 'u32', 64],
      [8, 'u64', U64_MAX - 63n],
      [16, 'u64', U64_MAX],
    ]);
    assert.deepEqual(encodeClearDirtyLog(clear), bytes);
    assert.deepEqual(decodeClearDirtyLog(bytes), clear);
    checkCodec({ value: clear, size: 24, encode: encodeClearDirtyLog, decode: decodeClearDirtyLog });
  });

  it('refuses fields that do not fit', () => {
    assert.throws(() => encodeClearDirtyLog({ ...clear, numPages: 2 ** 32 }), /num_pages/);
    assert.throws(() => encodeDirtyLog({ ...log, dirtyBitmap: -8n }), /dirty_bitmap/);
  });
});
