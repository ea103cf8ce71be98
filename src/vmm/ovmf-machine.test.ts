/**
 * The OVMF machine's inputs: where OVMF.fd splits into variable store and code, and the images and
 * RAM sizes it refuses with EINVAL (nothing stays allocated).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { brotliDecompressSync } from 'node:zlib';
import { isVmmError } from './errors.js';
import { createOvmfMachine, ovmfVarsSize } from './ovmf-machine.js';

const firmware = new Uint8Array(
  brotliDecompressSync(readFileSync(new URL('../../test/fixtures/ovmf/OVMF.fd.br', import.meta.url))),
);

describe('the OVMF machine', () => {
  it('splits OVMF.fd after its NV-data volume (128 KiB here); an image without one has no variable store', () => {
    assert.equal(ovmfVarsSize(firmware), 0x20000);
    assert.equal(ovmfVarsSize(firmware.subarray(0x20000)), 0, 'the code alone');
    assert.equal(ovmfVarsSize(new Uint8Array(0x1000)), 0);
  });

  it('lays out RAM, the two flash units and the devices; the code is what gets measured', () => {
    const m = createOvmfMachine({ firmware, ramBytes: 64 << 20 });
    assert.ok(!isVmmError(m), isVmmError(m) ? m.message : '');
    try {
      assert.deepEqual(m.code, { gpa: 2 ** 32 - firmware.length + 0x20000, size: firmware.length - 0x20000 });
      assert.ok(m.pflash);
      assert.equal(m.vmm.pio.find(0x402)?.device.name, 'debugcon');
      assert.equal(m.vmm.pio.find(0x510)?.device, m.fwCfg);
      assert.equal(m.vmm.mmio.find(0xfee0_0030)?.device.name, 'xapic');
      assert.equal(m.vmm.mmio.find(2 ** 32 - firmware.length)?.device, m.pflash);
      assert.equal(typeof m.apResetAddress, 'number', 'the SEV-ES reset block is found');
      const back = new Uint8Array(16);
      assert.equal(m.vmm.readGpa(2 ** 32 - firmware.length, back), undefined);
      assert.deepEqual(back, firmware.subarray(0, 16), 'the variable store is plaintext in host memory');
    } finally {
      m.vmm.destroy();
    }
  });

  it('refuses what is not an OVMF image, and RAM it cannot place below 4 GiB', () => {
    const bad = [
      createOvmfMachine({ firmware: new Uint8Array(0x10000) }),
      createOvmfMachine({ firmware: new Uint8Array(1000) }),
      createOvmfMachine({ firmware, ramBytes: 4 << 30 }),
      createOvmfMachine({ firmware, ramBytes: (64 << 20) + 1 }),
    ];
    for (const r of bad)
      assert.ok(isVmmError(r) && r.errno === 'EINVAL', isVmmError(r) ? r.message : 'built');
  });
});
