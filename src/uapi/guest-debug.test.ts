import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeGuestDebug,
  encodeGuestDebug,
  KVM_GUEST_DEBUG_SIZE,
  KVM_GUESTDBG_BLOCKIRQ,
  KVM_GUESTDBG_ENABLE,
  KVM_GUESTDBG_INJECT_BP,
  KVM_GUESTDBG_INJECT_DB,
  KVM_GUESTDBG_SINGLESTEP,
  KVM_GUESTDBG_USE_HW_BP,
  KVM_GUESTDBG_USE_SW_BP,
} from './guest-debug.js';
import { checkCodec, image, U64_MAX, U64_TOP } from './test-util.js';

describe('struct kvm_guest_debug', () => {
  it('has the control bits', () => {
    assert.deepEqual(
      [
        KVM_GUESTDBG_ENABLE,
        KVM_GUESTDBG_SINGLESTEP,
        KVM_GUESTDBG_USE_SW_BP,
        KVM_GUESTDBG_USE_HW_BP,
        KVM_GUESTDBG_INJECT_DB,
        KVM_GUESTDBG_INJECT_BP,
        KVM_GUESTDBG_BLOCKIRQ,
      ],
      [1, 2, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000],
    );
  });

  it('encodes to the hand-built image (debugreg at 8) and decodes it back', () => {
    assert.equal(KVM_GUEST_DEBUG_SIZE, 72);
    const debugreg = [1n, 2n, 3n, 4n, 0n, 0n, U64_TOP, U64_MAX];
    const v = { control: KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP, debugreg };
    const bytes = image(72, [
      [0, 'u32', 0x20001] as const,
      ...debugreg.map((d, i) => [8 + 8 * i, 'u64', d] as const),
    ]);
    assert.deepEqual(encodeGuestDebug(v), bytes);
    assert.deepEqual(decodeGuestDebug(bytes), v);
    checkCodec({ value: v, size: 72, encode: encodeGuestDebug, decode: decodeGuestDebug });
    assert.throws(() => encodeGuestDebug({ control: 0, debugreg: [] }), /arch\.debugreg needs 8/);
  });
});
