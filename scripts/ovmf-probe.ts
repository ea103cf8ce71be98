/**
 * A probe for issue 15 (not a test): boot the OVMF fixture as an SEV-ES guest of the model on the
 * x86 interpreter, as far as the devices sevbox has take it, and print what it got to: the serial
 * output, the commonest exits to userspace and how the run stopped.
 *   node --import tsx scripts/ovmf-probe.ts [maxKvmRuns]
 */
import { readFileSync } from 'node:fs';
import { brotliDecompressSync } from 'node:zlib';
import type { VcpuExit } from '../src/uapi/vcpu-exit.js';
import { createCmos } from '../src/vmm/devices/cmos.js';
import { createI440fx } from '../src/vmm/devices/i440fx.js';
import { createPciHost, PCI_CONFIG_PORT, PCI_CONFIG_PORTS } from '../src/vmm/devices/pci-host.js';
import { createPflash } from '../src/vmm/devices/pflash.js';
import { isVmmError } from '../src/vmm/errors.js';
import { Vmm } from '../src/vmm/vmm.js';

const flash = new Uint8Array(
  brotliDecompressSync(readFileSync(new URL('../test/fixtures/ovmf/OVMF.fd.br', import.meta.url))),
);
const FLASH_GPA = 2 ** 32 - flash.length;
const RAM = 128 << 20;
const VARS = 0x20000;
const vmm = Vmm.create({
  ram: [
    { name: 'low', gpa: 0, size: RAM },
    { name: 'vars', gpa: FLASH_GPA, size: VARS },
    { name: 'code', gpa: FLASH_GPA + VARS, size: flash.length - VARS },
  ],
  sev: { profile: 'current', ghcbVersion: 2 },
  cpu: 'x86',
  debugExitPort: false,
});
if (isVmmError(vmm)) throw new Error(vmm.message);
vmm.pio.register(0x70, 2, createCmos({ ramBelow4g: RAM }));
vmm.pio.register(PCI_CONFIG_PORT, PCI_CONFIG_PORTS, createPciHost(createI440fx(vmm.pio)));
// No TPM: the TIS/CRB window reads all ones, as a PC bus with nothing there does (OVMF's
// Tpm2IsPtpPresent looks for 0xff).
vmm.mmio.register(0xfed4_0000, 0x5000, {
  name: 'no-tpm',
  read: (_offset, data) => data.fill(0xff),
  write: () => {},
});
if (vmm.writeGpa(FLASH_GPA, flash)) throw new Error('cannot write the flash');
// QEMU measures pflash unit 0, the code, at launch (LAUNCH_UPDATE_DATA); the varstore stays plaintext.
vmm.measure(FLASH_GPA + VARS, flash.length - VARS);
const pflash = createPflash({
  size: VARS,
  backing: {
    read: (off, dst) => void vmm.readGpa(FLASH_GPA + off, dst),
    write: (off, src) => void vmm.writeGpa(FLASH_GPA + off, src),
  },
});
vmm.mmio.register(FLASH_GPA, VARS, pflash);
const v = vmm.addVcpu();
if (isVmmError(v)) throw new Error(v.message);

const exits = new Map<string, number>();
const key = (e: VcpuExit): string =>
  'port' in e
    ? `${e.kind} 0x${e.port.toString(16)}`
    : 'addr' in e
      ? `${e.kind} 0x${e.addr.toString(16)}`
      : e.kind;
const t0 = Date.now();
const r = vmm.run({
  maxKvmRuns: Number(process.argv[2] ?? 5000),
  onExit: (_vcpu, e) => exits.set(key(e), (exits.get(key(e)) ?? 0) + 1),
});
console.log(r.serial);
console.log([...exits].sort((a, b) => b[1] - a[1]).slice(0, 12));
console.log(pflash.stats);
console.log(
  `stop ${JSON.stringify(r.stop)}; ${r.kvmRuns} KVM_RUNs, ${r.vmgexits.length} VMGEXITs, ${Date.now() - t0} ms`,
);
