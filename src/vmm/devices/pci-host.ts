/**
 * PCI configuration mechanism #1 (ports 0xCF8-0xCFF), as QEMU's i440FX and Q35 host bridges
 * decode it: CONFIG_ADDRESS at 0xCF8 (bit 31 enable, bus, device, function, register), the data
 * window at 0xCFC-0xCFF (offset into the dword). A function absent at an address reads all ones,
 * as firmware's bus scan expects; writes there are dropped.
 */
import type { BusDevice } from '../bus.js';

export const PCI_CONFIG_PORT = 0xcf8;
export const PCI_CONFIG_PORTS = 8;

/** A PCI function's configuration space. */
export interface PciFunction {
  /** bus << 8 | device << 3 | function. */
  readonly bdf: number;
  /** Its 256 bytes of configuration space, read as they are. */
  readonly config: Uint8Array;
  /** A write of `data` at `offset` (the function decides what is writable). */
  write(offset: number, data: Uint8Array): void;
}

/** PCI_DEVFN-style address: bus, device, function. */
export function bdf(bus: number, dev: number, fn: number): number {
  return (bus << 8) | (dev << 3) | fn;
}

/** A configuration space with its identity: vendor, device, class (base, sub, prog-if), revision. */
export function pciConfig(vendor: number, device: number, cls: number, revision = 0, header = 0): Uint8Array {
  const c = new Uint8Array(256);
  const dv = new DataView(c.buffer);
  dv.setUint16(0x00, vendor, true);
  dv.setUint16(0x02, device, true);
  c[0x08] = revision;
  c[0x09] = cls & 0xff;
  c[0x0a] = (cls >> 8) & 0xff;
  c[0x0b] = (cls >> 16) & 0xff;
  c[0x0e] = header;
  return c;
}

/** The host's configuration mechanism over `functions`. */
export function createPciHost(functions: readonly PciFunction[]): BusDevice {
  const byBdf = new Map(functions.map((f) => [f.bdf, f]));
  let address = 0;
  const target = (): { fn: PciFunction | undefined; reg: number } => ({
    fn: address & 0x8000_0000 ? byBdf.get((address >>> 8) & 0xffff) : undefined,
    reg: address & 0xfc,
  });
  return {
    name: 'pci-config',
    read(offset, data) {
      if (offset < 4) {
        for (let i = 0; i < data.length; i++) data[i] = (address >>> (8 * (offset + i))) & 0xff;
        return;
      }
      const { fn, reg } = target();
      const at = reg + (offset - 4);
      for (let i = 0; i < data.length; i++) data[i] = fn && at + i < 256 ? fn.config[at + i]! : 0xff;
    },
    write(offset, data) {
      if (offset < 4) {
        let v = address;
        for (let i = 0; i < data.length && offset + i < 4; i++) {
          const shift = 8 * (offset + i);
          v = (v & ~(0xff << shift)) | (data[i]! << shift);
        }
        address = v >>> 0;
        return;
      }
      const { fn, reg } = target();
      fn?.write(reg + (offset - 4), data);
    },
  };
}
