/**
 * Issue 15's milestones on the shipped Debian OVMF, booted unmodified as an SEV-ES guest of the
 * model to the UEFI shell prompt, once; then what each milestone left behind, and the proof: its
 * serial console against the same image under QEMU's TCG on the same `pc` machine
 * (test/ovmf/qemu-reference.ts, docs/ovmf-qemu-comparison.md), booted in a child process meanwhile.
 *
 * The firmware is a RELEASE build (no DEBUG() log), so the milestones are read from the machine's
 * edges (src/vmm/ovmf-boot.ts says which). The comparison skips with one line where
 * qemu-system-x86_64 is not on PATH (SEVBOX_QEMU names another binary).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { readFirmware, SHIPPED_OVMF } from '../../src/cli/boot.js';
import { isVmmError } from '../../src/vmm/errors.js';
import { bootOvmf, type OvmfBootResult, type OvmfMilestone } from '../../src/vmm/ovmf-boot.js';
import {
  bootQemuReference,
  compareConsoles,
  consoleLines,
  findQemu,
  type LineRule,
  QEMU_BINARY,
  type QemuReferenceResult,
} from './qemu-reference.js';

const qemu = findQemu();
let boot: OvmfBootResult;
let reference: QemuReferenceResult | undefined;
const at = (m: OvmfMilestone) => boot.milestones.find((x) => x.milestone === m);

/**
 * Lines only the SEV-ES guest prints. OVMF's SEV code (MemEncryptSevLib, the #VC handler,
 * AmdSevDxe) reports through DEBUG(), compiled out of this RELEASE build: none.
 */
const SEVBOX_ONLY: readonly LineRule[] = [];
/** Lines only the plain (non-SEV) TCG guest prints: none, for the same reason. */
const QEMU_ONLY: readonly LineRule[] = [];

describe('Debian OVMF as an SEV-ES guest, to the UEFI shell', () => {
  before(async () => {
    const firmware = await readFirmware(SHIPPED_OVMF);
    assert.ok(typeof firmware !== 'string', String(firmware));
    // QEMU runs in its own process while sevbox boots on this thread.
    const q = qemu ? bootQemuReference({ firmware, qemu }) : undefined;
    const r = bootOvmf({ firmware, until: 'bds', maxKvmRuns: 200_000 });
    reference = await q;
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

  it('2. SEC decompresses the firmware volumes; PEI reads fw_cfg', () => {
    assert.ok(at('pei'), 'pei');
    assert.ok(
      at('pei')!.instructions > at('sec')!.instructions + 100_000_000,
      'decompression is most of SEC',
    );
    assert.ok((boot.exitsByKind['IoIn 0x511'] ?? 0) > 0, 'fw_cfg data reads');
  });

  it('3. DXE: the timer ticks on the local APIC, variables go to the flash by MMIO-write VMGEXITs, fw_cfg by DMA', () => {
    assert.ok(at('dxe'), 'dxe');
    assert.ok(at('dxe')!.instructions > at('pei')!.instructions);
    assert.ok((boot.exitsByKind['MmioWrite 0xfee00000'] ?? 0) > 0, 'the xAPIC page');
    assert.ok((boot.vmgexitsByType['SVM_VMGEXIT_MMIO_WRITE'] ?? 0) > 1000, 'CFI program commands');
    assert.ok((boot.exitsByKind['IoOut 0x518'] ?? 0) > 0, 'fw_cfg DMA kicked off');
  });

  it('4. BDS starts the built-in shell, which prints its banner and prompt on COM1', () => {
    assert.deepEqual(boot.stop, { kind: 'milestone', milestone: 'bds' });
    const lines = consoleLines(boot.serial);
    assert.ok(lines.some((l) => l.startsWith('BdsDxe: starting Boot0001 "EFI Internal Shell"')));
    assert.ok(lines.includes('UEFI Interactive Shell v2.2'));
    assert.equal(lines.at(-1), 'Shell>', 'the prompt, last');
    assert.ok(!lines.some((l) => l.startsWith('!!!! X64 Exception')), 'no CPU exception on the way');
  });

  it('the serial console is QEMU TCG’s, line for line, but for the allowed SEV-specific lines', {
    skip: qemu ? false : `no ${QEMU_BINARY} on PATH (apt-get install qemu-system-x86)`,
  }, (t) => {
    const q = reference!;
    t.diagnostic(`qemu: ${q.argv.join(' ')}; ${(q.ms / 1000).toFixed(1)} s`);
    assert.ok(q.reached, `QEMU's reference boot did not reach the shell prompt:\n${q.serial}\n${q.stderr}`);
    const qemuLines = consoleLines(q.serial);
    const sevboxLines = consoleLines(boot.serial);
    const c = compareConsoles(sevboxLines, qemuLines, { sevboxOnly: SEVBOX_ONLY, qemuOnly: QEMU_ONLY });
    t.diagnostic(
      `serial lines: sevbox ${sevboxLines.length}, qemu ${qemuLines.length}, matched ${c.matched}; debugcon bytes: sevbox ${boot.debugLog.length}, qemu ${q.debugcon.length}`,
    );
    assert.deepEqual(
      { missingInQemu: c.missingInQemu, missingInSevbox: c.missingInSevbox },
      { missingInQemu: [], missingInSevbox: [] },
      `the consoles differ beyond the allow-lists\n--- sevbox\n${sevboxLines.join('\n')}\n--- qemu\n${qemuLines.join('\n')}`,
    );
    assert.equal(c.matched, sevboxLines.length);
    assert.equal(q.debugcon, boot.debugLog, 'both debug consoles: empty in a RELEASE build');
  });
});
