/**
 * Issue 15's milestones on the shipped Debian OVMF, booted unmodified as an SEV-ES guest of the
 * model: one boot, as far as the KVM_RUN budget takes it, then what each milestone left behind.
 * The firmware is a RELEASE build (no DEBUG() log), so the milestones are read from the machine's
 * edges (src/vmm/ovmf-boot.ts says which), and each test checks the work of that phase as the VMM
 * saw it.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { readFirmware, SHIPPED_OVMF } from '../../src/cli/boot.js';
import { isVmmError } from '../../src/vmm/errors.js';
import { bootOvmf, type OvmfBootResult, type OvmfMilestone } from '../../src/vmm/ovmf-boot.js';

let boot: OvmfBootResult;
const at = (m: OvmfMilestone) => boot.milestones.find((x) => x.milestone === m);

describe('Debian OVMF as an SEV-ES guest', () => {
  before(async () => {
    const firmware = await readFirmware(SHIPPED_OVMF);
    assert.ok(typeof firmware !== 'string', String(firmware));
    const r = bootOvmf({ firmware, until: 'dxe', maxKvmRuns: 20_000 });
    assert.ok(!isVmmError(r), isVmmError(r) ? r.message : '');
    boot = r;
  });

  it('1. the reset vector asks for SEV status and CPUID over the GHCB MSR protocol, then SEC reaches the VMM through a GHCB', () => {
    assert.ok(at('sec'), 'sec');
    assert.ok((boot.vmgexitsByType['GHCB_MSR_SEV_INFO_REQ'] ?? 0) >= 1);
    assert.ok((boot.vmgexitsByType['GHCB_MSR_CPUID_REQ'] ?? 0) >= 1);
    assert.ok((boot.vmgexitsByType['SVM_EXIT_IOIO'] ?? 0) > 0, 'port I/O through the GHCB');
    assert.ok(at('sec')!.instructions < 1_000_000, 'SEC takes over early');
  });

  it('2. SEC decompresses the firmware volumes; PEI reads fw_cfg (QEMU signature and the e820 file)', () => {
    assert.ok(at('pei'), 'pei');
    assert.ok(at('pei')!.instructions > at('sec')!.instructions);
    assert.ok((boot.exitsByKind['IoIn 0x511'] ?? 0) > 0, 'fw_cfg data reads');
  });

  it('3. the DXE core dispatches drivers: the timer driver starts its tick on the local APIC (MMIO VMGEXITs)', () => {
    assert.ok(at('dxe'), 'dxe');
    assert.deepEqual(boot.stop, { kind: 'milestone', milestone: 'dxe' });
    assert.ok(at('dxe')!.instructions > at('pei')!.instructions);
    assert.ok((boot.vmgexitsByType['SVM_VMGEXIT_MMIO_WRITE'] ?? 0) > 0);
    assert.ok((boot.exitsByKind['MmioWrite 0xfee00000'] ?? 0) > 0, 'the xAPIC page');
  });
});
