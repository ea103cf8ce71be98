/**
 * A PC for OVMF, as QEMU's `pc` machine gives it to an SEV-ES guest with kernel-irqchip=off: RAM
 * from 0, the firmware as two pflash units below 4 GiB (the code, measured and encrypted by
 * LAUNCH_UPDATE_DATA, and the variable store, plaintext, written through CFI commands), and the
 * legacy devices the firmware looks for: COM1, the debug console at 0x402, fw_cfg, CMOS/RTC, the i440FX
 * host bridge with PIIX's PM timer, the 8259/8254 pair, an xAPIC register page (the VMM's: no
 * in-kernel APIC) and an empty TPM window.
 *
 * A combined OVMF.fd is split where QEMU's users split it (OVMF_VARS.fd | OVMF_CODE.fd): at the end
 * of the firmware volume that holds the variable store. Its GUIDed table gives the SEV-ES reset block.
 */

import type { TraceSink } from '../trace/events.js';
import { CMOS_PORT, CMOS_PORTS, createCmos } from './devices/cmos.js';
import { createDebugcon, DEBUGCON_PORT, type Debugcon } from './devices/debugcon.js';
import { createFwCfg, FW_CFG_IO_SIZE, FW_CFG_PORT, type FwCfgDevice, qemuPcFwCfg } from './devices/fw-cfg.js';
import { createI440fx } from './devices/i440fx.js';
import { createPcInterrupts, type PcInterrupts } from './devices/pc-interrupts.js';
import { createPciHost, PCI_CONFIG_PORT, PCI_CONFIG_PORTS } from './devices/pci-host.js';
import { createPflash, type Pflash } from './devices/pflash.js';
import { isVmmError, type VmmError, vmmError } from './errors.js';
import { guidText, parseOvmfTable, sevEsResetAddress } from './ovmf-table.js';
import type { MachineConfig } from './types.js';
import { Vmm } from './vmm.js';

const FOUR_GIB = 2 ** 32;
/** QEMU pc's largest RAM below 4 GiB (the PCI hole takes the rest). */
const MAX_RAM_BELOW_4G = 0xe000_0000;
/** EFI_SYSTEM_NV_DATA_FV_GUID, the volume holding the variable store, FTW working block and spare. */
const NV_DATA_FV_GUID = 'fff12b8d-7696-4c8b-a985-2747075b4f50';
/** A firmware volume header's signature "_FVH" and where its length and GUID sit. */
const FVH_SIGNATURE = 0x4856465f;

/** Where OVMF.fd splits into its variable store and its code: the NV volume's length, or 0. */
export function ovmfVarsSize(flash: Uint8Array): number {
  if (flash.length < 0x48) return 0;
  const dv = new DataView(flash.buffer, flash.byteOffset, flash.byteLength);
  if (dv.getUint32(0x28, true) !== FVH_SIGNATURE) return 0;
  if (guidText(flash.subarray(0x10, 0x20)) !== NV_DATA_FV_GUID) return 0;
  const len = Number(dv.getBigUint64(0x20, true));
  return len > 0 && len < flash.length ? len : 0;
}

export interface OvmfMachineConfig {
  /** The firmware image (OVMF.fd: variable store and code; or a code-only image). */
  readonly firmware: Uint8Array;
  /** RAM below 4 GiB (default 128 MiB). */
  readonly ramBytes?: number;
  /** The machine's other settings (SEV profile, CPU backend…), over this module's defaults. */
  readonly machine?: Partial<MachineConfig>;
  /** Where KVM's trace events go as well (the VMM's view of ftrace). */
  readonly trace?: TraceSink;
  /** The model's debug view of each #VC the guest takes (VmmOptions.debugVc). */
  readonly debugVc?: TraceSink;
}

/** The machine, with the devices a boot reports on. */
export interface OvmfMachine {
  readonly vmm: Vmm;
  readonly debugcon: Debugcon;
  readonly pflash: Pflash | undefined;
  readonly interrupts: PcInterrupts;
  readonly fwCfg: FwCfgDevice;
  /** Where the code was measured: [gpa, size). */
  readonly code: { readonly gpa: number; readonly size: number };
  /** The AP reset address from the SEV-ES reset block, if the image has one. */
  readonly apResetAddress: number | undefined;
}

/** Build the PC around `config.firmware`; the VMM is ready to run (the launch happens at run). */
export function createOvmfMachine(config: OvmfMachineConfig): OvmfMachine | VmmError {
  const flash = config.firmware;
  if (flash.length === 0 || flash.length % 4096 !== 0 || flash.length > 16 << 20)
    return vmmError('EINVAL', `a firmware image of ${flash.length} bytes (whole pages, at most 16 MiB)`);
  const table = parseOvmfTable(flash);
  if (typeof table === 'string') return vmmError('EINVAL', `not an OVMF image: ${table}`);
  const ram = config.ramBytes ?? 128 << 20;
  // QEMU's pc keeps at most 3.5 GiB below 4 GiB (the rest would go above 4 GiB: not modelled here).
  if (!Number.isSafeInteger(ram) || ram < 16 << 20 || ram > MAX_RAM_BELOW_4G || ram % 4096 !== 0)
    return vmmError('EINVAL', `guest RAM of ${ram} bytes (whole pages, 16 MiB to 3.5 GiB)`);
  const varsSize = ovmfVarsSize(flash);
  const flashGpa = FOUR_GIB - flash.length;
  const codeGpa = flashGpa + varsSize;
  const vmm = Vmm.create(
    {
      // No GHCB version: KVM's own default (2 where the kernel speaks it, else 1); OVMF speaks both.
      sev: { profile: 'current' },
      cpu: 'x86',
      debugExitPort: false,
      ...config.machine,
      ram: [
        { name: 'ram', gpa: 0, size: ram },
        ...(varsSize ? [{ name: 'pflash-vars', gpa: flashGpa, size: varsSize }] : []),
        { name: 'pflash-code', gpa: codeGpa, size: flash.length - varsSize },
      ],
    },
    {
      ...(config.trace ? { trace: config.trace } : {}),
      ...(config.debugVc ? { debugVc: config.debugVc } : {}),
    },
  );
  if (isVmmError(vmm)) return vmm;
  /** Undo the VMM on the way out with an error: nothing stays allocated. */
  const fail = (e: VmmError): VmmError => {
    vmm.destroy();
    return e;
  };
  const debugcon = createDebugcon();
  const pflash = varsSize
    ? createPflash({
        size: varsSize,
        backing: {
          read: (off, dst) => void vmm.readGpa(flashGpa + off, dst),
          write: (off, src) => void vmm.writeGpa(flashGpa + off, src),
        },
      })
    : undefined;
  const clock = vmm.platform.clock;
  if (!clock) return fail(vmmError('EINVAL', 'the OVMF machine needs a platform clock'));
  const interrupts = createPcInterrupts(vmm.pio, vmm.mmio, clock);
  if (isVmmError(interrupts)) return fail(interrupts);
  const fwCfg = createFwCfg({
    ...qemuPcFwCfg({ ramBelow4g: ram, nographic: true }),
    // DMA reaches guest memory as the host sees it: under SEV the firmware bounces through shared pages.
    readGuest: (gpa, dst) => vmm.readGpa(gpa, dst) === undefined,
    writeGuest: (gpa, src) => vmm.writeGpa(gpa, src) === undefined,
  });
  const e =
    vmm.pio.register(DEBUGCON_PORT, 1, debugcon) ??
    vmm.pio.register(FW_CFG_PORT, FW_CFG_IO_SIZE, fwCfg) ??
    vmm.pio.register(CMOS_PORT, CMOS_PORTS, createCmos({ ramBelow4g: ram })) ??
    vmm.pio.register(PCI_CONFIG_PORT, PCI_CONFIG_PORTS, createPciHost(createI440fx(vmm.pio))) ??
    // No TPM: the TIS/CRB window reads all ones, as a PC bus with nothing there does (OVMF's
    // Tpm2IsPtpPresent looks for 0xff).
    vmm.mmio.register(0xfed4_0000, 0x5000, {
      name: 'no-tpm',
      read: (_o, d) => d.fill(0xff),
      write: () => {},
    }) ??
    (pflash ? vmm.mmio.register(flashGpa, varsSize, pflash) : undefined) ??
    vmm.attachIrqchip(interrupts) ??
    vmm.writeGpa(flashGpa, flash) ??
    // QEMU measures pflash unit 0, the code (LAUNCH_UPDATE_DATA); the variable store stays plaintext.
    vmm.measure(codeGpa, flash.length - varsSize);
  if (e) return fail(e);
  return {
    vmm,
    debugcon,
    pflash,
    interrupts,
    fwCfg,
    code: { gpa: codeGpa, size: flash.length - varsSize },
    apResetAddress: sevEsResetAddress(table),
  };
}
