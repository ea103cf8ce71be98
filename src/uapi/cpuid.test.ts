import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeCpuid2,
  encodeCpuid2,
  KVM_CPUID_ENTRY2_SIZE,
  KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
  KVM_CPUID_FLAG_STATE_READ_NEXT,
  KVM_CPUID_FLAG_STATEFUL_FUNC,
  KVM_CPUID2_SIZE,
  type KvmCpuid2,
  kvmCpuid2Size,
} from './cpuid.js';
import { checkCodec, image, type Put, U32_MAX } from './test-util.js';

const cpuid: KvmCpuid2 = {
  nent: 2,
  entries: [
    { function: 0, index: 0, flags: 0, eax: 0x10, ebx: 0x6874_7541, ecx: 0x444d_4163, edx: 0x6974_6e65 },
    {
      function: 0x8000_001f,
      index: 7,
      flags: KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
      eax: U32_MAX,
      ebx: 0x8000_0000,
      ecx: 1,
      edx: 2,
    },
  ],
};

function entryPuts(at: number, e: KvmCpuid2['entries'][number]): Put[] {
  return [
    [at, 'u32', e.function],
    [at + 4, 'u32', e.index],
    [at + 8, 'u32', e.flags],
    [at + 12, 'u32', e.eax],
    [at + 16, 'u32', e.ebx],
    [at + 20, 'u32', e.ecx],
    [at + 24, 'u32', e.edx],
  ];
}

describe('struct kvm_cpuid2', () => {
  it('has the header sizes and flag values', () => {
    assert.equal(KVM_CPUID2_SIZE, 8);
    assert.equal(KVM_CPUID_ENTRY2_SIZE, 40);
    assert.equal(kvmCpuid2Size(2), 88);
    assert.deepEqual(
      [KVM_CPUID_FLAG_SIGNIFCANT_INDEX, KVM_CPUID_FLAG_STATEFUL_FUNC, KVM_CPUID_FLAG_STATE_READ_NEXT],
      [1, 2, 4],
    );
  });

  it('encodes to the hand-built image (padding zero) and decodes it back', () => {
    const bytes = image(88, [
      [0, 'u32', 2],
      ...entryPuts(8, cpuid.entries[0]!),
      ...entryPuts(48, cpuid.entries[1]!),
    ]);
    assert.deepEqual(encodeCpuid2(cpuid), bytes);
    assert.deepEqual(decodeCpuid2(bytes), cpuid);
  });

  it('keeps the codec contract', () => {
    checkCodec({ value: cpuid, size: 88, encode: encodeCpuid2, decode: decodeCpuid2, minDecode: 8 });
  });

  it('asks KVM_GET_SUPPORTED_CPUID with room only, and decodes what fits', () => {
    const req = encodeCpuid2({ nent: 100, entries: [] });
    assert.deepEqual(req, image(kvmCpuid2Size(100), [[0, 'u32', 100]]), 'nent 100, then room of zeros');
    const bytes = encodeCpuid2(cpuid);
    assert.deepEqual(decodeCpuid2(bytes.subarray(0, 87)), { nent: 2, entries: [cpuid.entries[0]] });
    // Padding in the buffer is ignored.
    bytes.fill(0xee, 8 + 28, 8 + 40);
    assert.deepEqual(decodeCpuid2(bytes), cpuid);
  });

  it('refuses registers that are not u32', () => {
    const bad = { ...cpuid.entries[0]!, edx: 2 ** 32 };
    assert.throws(() => encodeCpuid2({ nent: 1, entries: [bad] }), /kvm_cpuid2\.entries\[0\]\.edx/);
  });
});
