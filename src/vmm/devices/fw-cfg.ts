/**
 * QEMU's firmware configuration device (fw_cfg) on x86, as hw/nvram/fw_cfg.c gives it through
 * fw_cfg_init_io_dma and as OVMF's QemuFwCfgLib uses it: a 16-bit selector at 0x510, a byte-wide
 * data port at 0x511 (the two share QEMU's "fwcfg" region, 0x510-0x511) and the DMA address
 * register at 0x514-0x51b ("fwcfg.dma"). Firmware probes it by selecting FW_CFG_SIGNATURE and
 * reading "QEMU", reads FW_CFG_ID for the DMA bit, and finds files by name in FW_CFG_FILE_DIR.
 * Under SEV, OVMF's PEI phase uses the port interface only (rep insb, through #VC); its DXE phase
 * uses DMA, with the FWCfgDmaAccess structure and the buffers in shared (unencrypted) memory —
 * the device reaches guest memory through the host's view (`readGuest`/`writeGuest`), so what it
 * sees of a private page is ciphertext, exactly as QEMU's DMA sees it on real hardware.
 *
 * One BusDevice covers 0x510..0x51b (FW_CFG_PORT, FW_CFG_IO_SIZE); within it the bytes QEMU
 * leaves unassigned (0x512-0x513, and 0x514-0x51b when DMA is off) answer as unclaimed ports do
 * (reads 0xff, writes dropped). An access is split at those boundaries and at the bytes each QEMU
 * region accepts, as QEMU's memory core splits it, so every access size reads what QEMU's does:
 * - 0x510/0x511, 1-byte read: the next byte of the item (either port: QEMU's comb region reads
 *   the data at both offsets); past the end 0 and the offset stays. A 2-byte read of 0x510 is
 *   refused by fw_cfg_comb_valid (reads must be 1 byte), and QEMU's refused read returns 0
 *   without advancing; wider reads are clipped at 0x511, so `inl 0x510` reads 0xffff0000.
 *   (The MMIO data register's wide big-endian reads are fw_cfg_data_mem_ops, not x86's.)
 * - 0x510, 2-byte write (also the low two bytes of a 4-byte write, clipped): select the item
 *   (little-endian), offset 0. A 1-byte write to the data port does nothing (write support was
 *   removed in QEMU 2.4; items are written only by DMA).
 * - 0x514-0x51b, any read: the bytes of "QEMU CFG" (FW_CFG_DMA_SIGNATURE, big-endian; QEMU splits
 *   unaligned reads into aligned pieces, so byte i is always signature byte i). Writes: 4 bytes at
 *   0x514 latch the high half of the big-endian address, 4 bytes at 0x518 set the low half and run
 *   the transfer; an 8-byte write at 0x514 (not possible with port I/O) does both; others dropped.
 *
 * DMA (fw_cfg_dma_transfer): the 16-byte FWCfgDmaAccess (control BE32, length BE32, address BE64)
 * is read at the latched address (the register resets to 0). SELECT (bit 3) selects the key in
 * control's high 16 bits; then READ wins over WRITE over SKIP, and with none the length is 0.
 * READ copies item bytes to guest memory (past the end: zeros), SKIP advances the offset, WRITE
 * stores guest bytes into a file created `writable` (QEMU's allow_write: it stores the data
 * whether or not the item has a write callback) and fails with ERROR for anything else, or if the
 * write runs past the item's end. Memory that is not there (a callback returning false) sets
 * ERROR; the control word is written back as 0 or ERROR. A descriptor that cannot be read gets
 * ERROR written to its control word (which, with no memory there, goes nowhere, as in QEMU).
 *
 * Items are keyed as QEMU keys them: bit 15 (FW_CFG_ARCH_LOCAL) picks the arch table, bit 14 (the
 * old write channel) is ignored, and a key whose index is at or past FW_CFG_FILE_FIRST + file
 * slots selects nothing (reads 0). Files get selectors from 0x20 in strcmp order of their names
 * (QEMU's order for machine types without legacy_fw_cfg_order), and the directory item is as
 * long as QEMU's: 4 + 64 bytes per slot (0x20 slots by default), zero past the last file.
 *
 * Differences from QEMU: no select callbacks (nothing here builds data on demand); the
 * FWCfgDmaAccess read and a WRITE's guest read are all-or-nothing (QEMU may copy part of a
 * partly-backed range before failing); a file name longer than 55 bytes is refused rather than
 * truncated. No migration state.
 */
import type { BusDevice } from '../bus.js';

/** The selector/data ports (QEMU's FW_CFG_IO_BASE) and the whole range the device claims. */
export const FW_CFG_PORT = 0x510;
export const FW_CFG_IO_SIZE = 12;
/** QEMU's "fwcfg" region: selector (16-bit) at +0, data (8-bit) at +1. */
export const FW_CFG_CTL_PORTS = 2;
/** QEMU's "fwcfg.dma" region: the 64-bit big-endian DMA address register. */
export const FW_CFG_DMA_PORT = 0x514;
export const FW_CFG_DMA_PORTS = 8;

/** Selector keys (include/standard-headers/linux/qemu_fw_cfg.h, hw/i386/fw_cfg.h). */
export const FW_CFG_SIGNATURE = 0x00;
export const FW_CFG_ID = 0x01;
export const FW_CFG_UUID = 0x02;
export const FW_CFG_RAM_SIZE = 0x03;
export const FW_CFG_NOGRAPHIC = 0x04;
export const FW_CFG_NB_CPUS = 0x05;
export const FW_CFG_MACHINE_ID = 0x06;
export const FW_CFG_NUMA = 0x0d;
export const FW_CFG_BOOT_MENU = 0x0e;
export const FW_CFG_MAX_CPUS = 0x0f;
export const FW_CFG_FILE_DIR = 0x19;
export const FW_CFG_FILE_FIRST = 0x20;
export const FW_CFG_WRITE_CHANNEL = 0x4000;
export const FW_CFG_ARCH_LOCAL = 0x8000;
export const FW_CFG_IRQ0_OVERRIDE = FW_CFG_ARCH_LOCAL + 2;

/** FW_CFG_ID bits. */
export const FW_CFG_VERSION = 0x01;
export const FW_CFG_VERSION_DMA = 0x02;

/** FWCfgDmaAccess control bits. */
export const FW_CFG_DMA_CTL_ERROR = 0x01;
export const FW_CFG_DMA_CTL_READ = 0x02;
export const FW_CFG_DMA_CTL_SKIP = 0x04;
export const FW_CFG_DMA_CTL_SELECT = 0x08;
export const FW_CFG_DMA_CTL_WRITE = 0x10;

/** "QEMU CFG", what the DMA register reads as. */
export const FW_CFG_DMA_SIGNATURE = 0x51454d5520434647n;

/** QEMU's default file slots (FW_CFG_FILE_SLOTS_DFLT) and a directory entry's size and name field. */
export const FW_CFG_FILE_SLOTS = 0x20;
const FILE_ENTRY_SIZE = 64;
const FILE_NAME_SIZE = 56;
const ENTRY_MASK = ~(FW_CFG_WRITE_CHANNEL | FW_CFG_ARCH_LOCAL) & 0xffff;
/** The key nothing is selected under (QEMU's FW_CFG_INVALID). */
const INVALID = -1;
/** Zero-fill is written in pieces of at most this size (a READ may be up to 4 GiB long). */
const ZERO_CHUNK = 0x10000;

/** A named item, listed in the file directory. */
export interface FwCfgFile {
  /** At most 55 bytes ("etc/e820", "bootorder"). */
  readonly name: string;
  readonly data: Uint8Array;
  /** DMA WRITE may overwrite it in place (QEMU's read_only = false). Default false. */
  readonly writable?: boolean;
}

/** What the device serves and how it reaches guest memory. */
export interface FwCfgConfig {
  /** Numbered items by key (FW_CFG_RAM_SIZE, FW_CFG_IRQ0_OVERRIDE, ...); not the three the device
   * makes itself (FW_CFG_SIGNATURE, FW_CFG_ID, FW_CFG_FILE_DIR). */
  readonly items?: ReadonlyMap<number, Uint8Array>;
  readonly files?: readonly FwCfgFile[];
  /** The DMA interface (FW_CFG_ID bit 1, the register at 0x514). Default true, as QEMU's pc. */
  readonly dma?: boolean;
  /** Directory slots (QEMU's x-file-slots). Default FW_CFG_FILE_SLOTS. */
  readonly fileSlots?: number;
  /** Copy guest memory at `gpa` into `dst` (the host's view): false when there is no RAM there. */
  readonly readGuest?: (gpa: number, dst: Uint8Array) => boolean;
  /** Copy `src` into guest memory at `gpa`: false when there is no RAM there. */
  readonly writeGuest?: (gpa: number, src: Uint8Array) => boolean;
}

/** The device, and what a VMM may inspect of it. */
export interface FwCfgDevice extends BusDevice {
  /** The selected key (as written), or -1 when the key selected nothing. */
  readonly selected: number;
  /** The data offset into the selected item. */
  readonly offset: number;
  /** A file's current bytes (a writable file's reflect the guest's DMA writes). */
  file(name: string): Uint8Array | undefined;
  /** QEMU's reset: select FW_CFG_SIGNATURE, clear the DMA address. */
  reset(): void;
}

interface Entry {
  readonly data: Uint8Array;
  readonly writable: boolean;
}

const encoder = new TextEncoder();

/** Compare two byte strings as C's strcmp does. */
function strcmp(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** The index into QEMU's entry tables for a key (bit 15 picks the arch table, bit 14 is ignored). */
const canonical = (key: number): number => key & (FW_CFG_ARCH_LOCAL | ENTRY_MASK);

/** Little-endian integer bytes (fw_cfg_add_i16/i32/i64). */
export function leBytes(value: number | bigint, size: 2 | 4 | 8): Uint8Array {
  const b = new Uint8Array(size);
  let v = BigInt(value);
  for (let i = 0; i < size; i++, v >>= 8n) b[i] = Number(v & 0xffn);
  return b;
}

/** The device serving `c`'s items and files, with the signature, ID and directory QEMU adds. */
export function createFwCfg(c: FwCfgConfig): FwCfgDevice {
  const dmaEnabled = c.dma ?? true;
  const slots = c.fileSlots ?? FW_CFG_FILE_SLOTS;
  const maxEntry = FW_CFG_FILE_FIRST + slots;
  if (!Number.isInteger(slots) || slots < 1 || maxEntry > ENTRY_MASK + 1) {
    throw new RangeError(`fw_cfg: ${slots} file slots`);
  }
  const entries = new Map<number, Entry>();
  const add = (key: number, data: Uint8Array, writable = false): void => {
    if ((key & ENTRY_MASK) >= maxEntry || key !== canonical(key) || key < 0 || key > 0xffff) {
      throw new RangeError(`fw_cfg: key 0x${key.toString(16)} out of range`);
    }
    if (entries.has(key)) throw new RangeError(`fw_cfg: key 0x${key.toString(16)} given twice`);
    entries.set(key, { data, writable });
  };

  add(FW_CFG_SIGNATURE, encoder.encode('QEMU'));
  add(FW_CFG_ID, leBytes(FW_CFG_VERSION | (dmaEnabled ? FW_CFG_VERSION_DMA : 0), 4));
  for (const [key, data] of c.items ?? []) {
    if ((key & ENTRY_MASK) >= FW_CFG_FILE_FIRST) {
      throw new RangeError(`fw_cfg: key 0x${key.toString(16)} is a file slot`);
    }
    add(key, data);
  }

  // The directory: files in strcmp order of their names, selectors from FW_CFG_FILE_FIRST.
  const files = (c.files ?? []).map((f) => ({ ...f, raw: encoder.encode(f.name) }));
  if (files.length > slots) throw new RangeError(`fw_cfg: ${files.length} files for ${slots} slots`);
  files.sort((a, b) => strcmp(a.raw, b.raw));
  const dir = new Uint8Array(4 + FILE_ENTRY_SIZE * slots);
  const dv = new DataView(dir.buffer);
  dv.setUint32(0, files.length);
  const byName = new Map<string, Entry>();
  files.forEach((f, i) => {
    if (f.raw.length === 0 || f.raw.length >= FILE_NAME_SIZE || f.raw.includes(0)) {
      throw new RangeError(`fw_cfg: file name "${f.name}"`);
    }
    if (i > 0 && strcmp(files[i - 1]!.raw, f.raw) === 0)
      throw new RangeError(`fw_cfg: duplicate "${f.name}"`);
    const at = 4 + FILE_ENTRY_SIZE * i;
    dv.setUint32(at, f.data.length);
    dv.setUint16(at + 4, FW_CFG_FILE_FIRST + i);
    dir.set(f.raw, at + 8);
    add(FW_CFG_FILE_FIRST + i, f.data, f.writable ?? false);
    byName.set(f.name, entries.get(FW_CFG_FILE_FIRST + i)!);
  });
  add(FW_CFG_FILE_DIR, dir);

  let selected = FW_CFG_SIGNATURE;
  let offset = 0;
  let dmaAddr = 0n;

  const select = (key: number): void => {
    offset = 0;
    selected = (key & ENTRY_MASK) >= maxEntry ? INVALID : key;
  };
  const current = (): Entry | undefined =>
    selected === INVALID ? undefined : entries.get(canonical(selected));

  // A range past 2^53 is no RAM the callbacks could hold (a u64 address from the guest may be anything).
  const inRange = (a: bigint, n: number): boolean => a + BigInt(n) <= BigInt(Number.MAX_SAFE_INTEGER);
  const readGuest = (a: bigint, dst: Uint8Array): boolean =>
    inRange(a, dst.length) && c.readGuest?.(Number(a), dst) === true;
  const writeGuest = (a: bigint, src: Uint8Array): boolean =>
    inRange(a, src.length) && c.writeGuest?.(Number(a), src) === true;
  const zeroGuest = (a: bigint, n: number): boolean => {
    const zeros = new Uint8Array(Math.min(n, ZERO_CHUNK));
    for (let done = 0; done < n; done += zeros.length) {
      if (!writeGuest(a + BigInt(done), zeros.subarray(0, Math.min(zeros.length, n - done)))) return false;
    }
    return true;
  };

  const transfer = (): void => {
    const at = dmaAddr;
    dmaAddr = 0n;
    const desc = new Uint8Array(16);
    const status = new Uint8Array(4);
    const sv = new DataView(status.buffer);
    if (!readGuest(at, desc)) {
      sv.setUint32(0, FW_CFG_DMA_CTL_ERROR);
      writeGuest(at, status);
      return;
    }
    const d = new DataView(desc.buffer);
    const control = d.getUint32(0);
    let length = d.getUint32(4);
    let address = d.getBigUint64(8);
    if (control & FW_CFG_DMA_CTL_SELECT) select(control >>> 16);
    const read = (control & FW_CFG_DMA_CTL_READ) !== 0;
    const write = !read && (control & FW_CFG_DMA_CTL_WRITE) !== 0;
    if (!read && !write && !(control & FW_CFG_DMA_CTL_SKIP)) length = 0;
    let result = 0;
    while (length > 0 && !(result & FW_CFG_DMA_CTL_ERROR)) {
      const e = current();
      let len: number;
      if (!e || offset >= e.data.length) {
        len = length;
        if (read && !zeroGuest(address, len)) result |= FW_CFG_DMA_CTL_ERROR;
        if (write) result |= FW_CFG_DMA_CTL_ERROR;
      } else {
        len = Math.min(length, e.data.length - offset);
        if (read && !writeGuest(address, e.data.subarray(offset, offset + len)))
          result |= FW_CFG_DMA_CTL_ERROR;
        if (write) {
          const buf = new Uint8Array(len);
          if (!e.writable || len !== length || !readGuest(address, buf)) result |= FW_CFG_DMA_CTL_ERROR;
          else e.data.set(buf, offset);
        }
        offset += len;
      }
      address += BigInt(len);
      length -= len;
    }
    sv.setUint32(0, result);
    writeGuest(at, status);
  };

  /** A write of `n` bytes at `a` into the DMA register (a and n within it, one aligned piece). */
  const dmaWrite = (a: number, bytes: Uint8Array): void => {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    if (bytes.length === 4 && a === 0) dmaAddr = BigInt(v.getUint32(0)) << 32n;
    else if (bytes.length === 4 && a === 4) {
      dmaAddr |= BigInt(v.getUint32(0));
      transfer();
    } else if (bytes.length === 8 && a === 0) {
      dmaAddr = v.getBigUint64(0);
      transfer();
    }
  };

  /**
   * Run an access as QEMU's memory core splits it: `ctl` for the part in the fwcfg region (one
   * piece, clipped at its end), `dma` for each aligned piece in fwcfg.dma, `hole` for each byte
   * elsewhere.
   */
  const split = (
    offset0: number,
    n: number,
    ctl: (at: number, i: number, len: number) => void,
    dma: (at: number, i: number, len: number) => void,
    hole: (i: number) => void,
  ): void => {
    let i = 0;
    while (i < n) {
      const at = offset0 + i;
      if (at < FW_CFG_CTL_PORTS) {
        const len = Math.min(n - i, FW_CFG_CTL_PORTS - at);
        ctl(at, i, len);
        i += len;
      } else if (dmaEnabled && at >= 4 && at < 4 + FW_CFG_DMA_PORTS) {
        const a = at - 4;
        let len = Math.min(n - i, FW_CFG_DMA_PORTS - a, a === 0 ? FW_CFG_DMA_PORTS : a & -a);
        while (len & (len - 1)) len &= len - 1; // a power of two
        dma(a, i, len);
        i += len;
      } else {
        hole(i);
        i += 1;
      }
    }
  };

  return {
    name: 'fw-cfg',
    get selected() {
      return selected;
    },
    get offset() {
      return offset;
    },
    file(name) {
      return byName.get(name)?.data;
    },
    reset() {
      select(FW_CFG_SIGNATURE);
      dmaAddr = 0n;
    },
    read(at, data) {
      split(
        at,
        data.length,
        (_a, i, len) => {
          if (len !== 1) {
            data.fill(0, i, i + len); // fw_cfg_comb_valid refuses it; QEMU reads 0
            return;
          }
          const e = current();
          data[i] = e && offset < e.data.length ? e.data[offset++]! : 0;
        },
        (a, i, len) => {
          for (let k = 0; k < len; k++)
            data[i + k] = Number((FW_CFG_DMA_SIGNATURE >> BigInt(8 * (7 - a - k))) & 0xffn);
        },
        (i) => {
          data[i] = 0xff;
        },
      );
    },
    write(at, data) {
      split(
        at,
        data.length,
        (a, i, len) => {
          if (a === 0 && len === 2) select(data[i]! | (data[i + 1]! << 8));
        },
        (a, i, len) => dmaWrite(a, data.subarray(i, i + len)),
        () => {},
      );
    },
  };
}

// ---------------------------------------------------------------------------------------------
// What QEMU's pc machine (i440FX) puts in fw_cfg.

/** E820 entry types. */
export const E820_RAM = 1;
export const E820_RESERVED = 2;
/** KVM's identity map and TSS pages, which QEMU's kvm_arch_init reserves in the e820 table. */
export const KVM_IDENTITY_BASE = 0xfeffc000;
const KVM_IDENTITY_SIZE = 0x4000;
/** Where AMD's HyperTransport hole starts; QEMU moves RAM above 4 GiB reaching it to 1 TiB. */
const AMD_HT_START = 0xfd_0000_0000;
const GIB4 = 0x1_0000_0000;

/** The machine fw_cfg describes. */
export interface QemuPcConfig {
  /** RAM below 4 GiB, in bytes (QEMU's below_4g_mem_size). */
  readonly ramBelow4g: number;
  /** RAM from 4 GiB, in bytes (above_4g_mem_size). Default 0. */
  readonly ramAbove4g?: number;
  /** Boot vCPUs (-smp). Default 1. */
  readonly cpus?: number;
  /** -smp maxcpus (FW_CFG_MAX_CPUS is QEMU's apic_id_limit: this, for one thread per core and
   * one core per socket). Default `cpus`. */
  readonly maxCpus?: number;
  /** -boot splash-time: "etc/boot-menu-wait" (u16, ms). Absent by default, as in QEMU. */
  readonly bootMenuWaitMs?: number;
  /** -boot menu=on (FW_CFG_BOOT_MENU). Default false. */
  readonly bootMenu?: boolean;
  /** -nographic (FW_CFG_NOGRAPHIC). Default false. */
  readonly nographic?: boolean;
  /** -uuid (FW_CFG_UUID, 16 bytes). Default all zeros. */
  readonly uuid?: Uint8Array;
  /** The accelerator is KVM: the e820 table starts with KVM's reserved identity-map range. Default true. */
  readonly kvm?: boolean;
  /** PIIX4 PM's disable_s3/disable_s4 ("etc/system-states"). Default false, false. */
  readonly disableS3?: boolean;
  readonly disableS4?: boolean;
}

/** One e820 entry. */
export interface E820Entry {
  readonly address: number;
  readonly length: number;
  readonly type: number;
}

/** struct e820_entry { u64 address; u64 length; u32 type } packed, little-endian, for each entry. */
export function e820Bytes(entries: readonly E820Entry[]): Uint8Array {
  const b = new Uint8Array(20 * entries.length);
  const v = new DataView(b.buffer);
  entries.forEach((e, i) => {
    v.setBigUint64(20 * i, BigInt(e.address), true);
    v.setBigUint64(20 * i + 8, BigInt(e.length), true);
    v.setUint32(20 * i + 16, e.type, true);
  });
  return b;
}

/**
 * QEMU's e820 table for a pc machine, in the order e820_add_entry builds it: under KVM the
 * identity-map/TSS reservation first (kvm_arch_init runs before the board), then pc_memory_init's
 * RAM below 4 GiB and from 4 GiB. Nothing else on a plain pc: no entry for the BIOS/flash, no
 * SGX EPC, CXL or AMD HT-hole reservation (the last would need RAM reaching 0xfd_0000_0000).
 */
export function qemuPcE820(c: QemuPcConfig): E820Entry[] {
  const above = c.ramAbove4g ?? 0;
  if (above > 0 && GIB4 + above > AMD_HT_START) {
    throw new RangeError(
      'fw_cfg: RAM reaching the AMD HyperTransport hole (QEMU relocates it) is not modelled',
    );
  }
  const e: E820Entry[] = [];
  if (c.kvm ?? true) e.push({ address: KVM_IDENTITY_BASE, length: KVM_IDENTITY_SIZE, type: E820_RESERVED });
  e.push({ address: 0, length: c.ramBelow4g, type: E820_RAM });
  if (above > 0) e.push({ address: GIB4, length: above, type: E820_RAM });
  return e;
}

/**
 * The items and files QEMU's pc machine (pc_memory_init, fw_cfg_arch_create, fw_cfg_common_realize,
 * the PIIX4 PM function, the machine-reset boot lists) gives firmware that boots from flash with
 * no -kernel and no bootindex devices:
 * - items: FW_CFG_UUID, FW_CFG_RAM_SIZE (u64), FW_CFG_NOGRAPHIC (u16), FW_CFG_NB_CPUS (u16),
 *   FW_CFG_NUMA (u64 node count 0, then a zero u64 per APIC ID), FW_CFG_BOOT_MENU (u16),
 *   FW_CFG_MAX_CPUS (u16), FW_CFG_IRQ0_OVERRIDE (u32 1); createFwCfg adds FW_CFG_SIGNATURE,
 *   FW_CFG_ID and FW_CFG_FILE_DIR.
 * - files: "bootorder" and "bios-geometry" (both empty: get_boot_devices_list gives 0 bytes with
 *   no boot devices, and fw_cfg_machine_reset still adds them), "etc/boot-fail-wait" (u32 -1,
 *   no -boot reboot-timeout), "etc/boot-menu-wait" (u16, only with splash-time), "etc/e820"
 *   (qemuPcE820), "etc/system-states" (6 bytes: S0, S3 = 1, S4 = s4_val 2, S5 enabled; bit 7 =
 *   enabled).
 * Not provided: "etc/acpi/tables", "etc/table-loader", "etc/acpi/rsdp" (QEMU's generated ACPI:
 * OVMF then installs its built-in tables) and "etc/smbios/smbios-tables"/"-anchor" (OVMF then
 * builds no QEMU SMBIOS); FW_CFG_HPET (0x8004) and the zero-length FW_CFG_ACPI_TABLES (0x8000),
 * which OVMF does not read; genroms/vgaroms (option ROMs); "etc/reserved-memory-end" (QEMU adds
 * it only with a device-memory region: -m ...,maxmem= above the RAM); "etc/msr_feature_control"
 * (only for VMX, LMCE or SGX CPUs, none of which an AMD SEV-ES guest has); "etc/extra-pci-roots"
 * (only with PCI expander bridges); FW_CFG_MACHINE_ID (QEMU sets it on sparc/ppc, not x86).
 */
export function qemuPcFwCfg(c: QemuPcConfig): { items: Map<number, Uint8Array>; files: FwCfgFile[] } {
  const cpus = c.cpus ?? 1;
  const maxCpus = c.maxCpus ?? cpus;
  const uuid = c.uuid ?? new Uint8Array(16);
  if (uuid.length !== 16) throw new RangeError('fw_cfg: a UUID is 16 bytes');
  const items = new Map<number, Uint8Array>([
    [FW_CFG_UUID, uuid],
    [FW_CFG_RAM_SIZE, leBytes(c.ramBelow4g + (c.ramAbove4g ?? 0), 8)],
    [FW_CFG_NOGRAPHIC, leBytes(c.nographic ? 1 : 0, 2)],
    [FW_CFG_NB_CPUS, leBytes(cpus, 2)],
    [FW_CFG_NUMA, new Uint8Array(8 * (1 + maxCpus))],
    [FW_CFG_BOOT_MENU, leBytes(c.bootMenu ? 1 : 0, 2)],
    [FW_CFG_MAX_CPUS, leBytes(maxCpus, 2)],
    [FW_CFG_IRQ0_OVERRIDE, leBytes(1, 4)],
  ]);
  const states = Uint8Array.of(0x80, 0, 0, 1 | (c.disableS3 ? 0 : 0x80), 2 | (c.disableS4 ? 0 : 0x80), 0x80);
  const files: FwCfgFile[] = [
    { name: 'bootorder', data: new Uint8Array(0) },
    { name: 'bios-geometry', data: new Uint8Array(0) },
    { name: 'etc/boot-fail-wait', data: leBytes(0xffffffff, 4) },
    { name: 'etc/e820', data: e820Bytes(qemuPcE820(c)) },
    { name: 'etc/system-states', data: states },
  ];
  if (c.bootMenuWaitMs !== undefined) {
    if (!Number.isInteger(c.bootMenuWaitMs) || c.bootMenuWaitMs < 0 || c.bootMenuWaitMs > 0xffff) {
      throw new RangeError('fw_cfg: splash-time is 0 to 65535 ms');
    }
    files.push({ name: 'etc/boot-menu-wait', data: leBytes(c.bootMenuWaitMs, 2) });
  }
  return { items, files };
}
