/**
 * Guest RAM as the VMM lays it out: each region gets its own hva range (found with findFree, then
 * mapped anonymous, file-backed or userfault-lazy) and its own memslot. This module is also the
 * VMM's own view of guest memory (gpa → hva → host address space), used for the host-side actions
 * scenarios perform (unmap, truncate, populate) and for reading shared pages such as the GHCB.
 */

import type { HostFault } from '../host/address-space.js';
import { HostFile } from '../host/file-store.js';
import type { ProcessMemory } from '../host/process.js';
import { Errno } from '../uapi/errno.js';
import type { VmFd } from '../uapi/kvm-fd.js';
import { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY } from '../uapi/memslot.js';
import { fromErrno, isVmmError, tryDo, type VmmError, vmmError } from './errors.js';
import type { RamRegionConfig, RamSourceConfig } from './types.js';

const PAGE = 4096;

/** One laid-out RAM region. */
export interface RamRegion {
  /** The memslot id (its index in the machine's `ram` list). */
  readonly slot: number;
  readonly name: string;
  readonly gpa: number;
  readonly size: number;
  readonly hva: number;
  readonly backing: 'anonymous' | 'file' | 'lazy';
  /** The file behind a file-backed region. */
  readonly file?: HostFile;
  /** The source image of a lazy region (post-copy). */
  readonly source?: RamSourceConfig;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** The VMM's RAM: regions, their files, and access through the VMM's own mappings. */
export class GuestRam {
  readonly regions: RamRegion[] = [];
  /** Files backing file regions, by name. */
  readonly files = new Map<string, HostFile>();

  constructor(readonly memory: ProcessMemory) {}

  /**
   * Map region `slot` of the machine and register its memslot with `vm`. EINVAL for a region that
   * is empty or not page aligned, EEXIST for a file name used twice; KVM's errno from the memslot.
   */
  add(vm: VmFd, slot: number, cfg: RamRegionConfig): VmmError | undefined {
    const name = cfg.name ?? `ram${slot}`;
    if (!Number.isSafeInteger(cfg.gpa) || cfg.gpa < 0 || cfg.gpa % PAGE !== 0) {
      return vmmError('EINVAL', `RAM region '${name}': gpa ${cfg.gpa} is not page aligned`);
    }
    if (!Number.isSafeInteger(cfg.size) || cfg.size <= 0 || cfg.size % PAGE !== 0) {
      return vmmError('EINVAL', `RAM region '${name}': size ${cfg.size} is not a positive page multiple`);
    }
    const backing = cfg.backing ?? 'anonymous';
    const fileName = cfg.file ?? name;
    if (backing === 'file' && this.files.has(fileName)) {
      return vmmError('EEXIST', `RAM region '${name}': file '${fileName}' already backs another region`);
    }
    let file: HostFile | undefined;
    if (backing === 'file') {
      const f = tryDo(`file '${fileName}'`, () => {
        file = new HostFile(fileName, cfg.size);
      });
      if (f) return f;
    }
    const hva =
      backing === 'file'
        ? this.memory.mapFile(file!, cfg.size)
        : backing === 'lazy'
          ? this.memory.mapMissing(cfg.size)
          : this.memory.mapAnonymous(cfg.size);
    if (hva instanceof Errno) return fromErrno(`mmap '${name}'`, hva);
    const flags = (cfg.readonly ? KVM_MEM_READONLY : 0) | (cfg.logDirty ? KVM_MEM_LOG_DIRTY_PAGES : 0);
    const set = vm.setUserMemoryRegion({
      slot,
      flags,
      guestPhysAddr: BigInt(cfg.gpa),
      memorySize: BigInt(cfg.size),
      userspaceAddr: BigInt(hva),
    });
    if (set instanceof Errno) {
      this.memory.unmap(hva, cfg.size);
      return fromErrno(`memslot ${slot} '${name}'`, set);
    }
    if (file) this.files.set(fileName, file);
    this.regions.push({
      slot,
      name,
      gpa: cfg.gpa,
      size: cfg.size,
      hva,
      backing,
      ...(file ? { file } : {}),
      ...(cfg.source ? { source: cfg.source } : {}),
    });
    return undefined;
  }

  /** The region holding `gpa`, if any. */
  regionAt(gpa: number): RamRegion | undefined {
    return this.regions.find((r) => gpa >= r.gpa && gpa < r.gpa + r.size);
  }

  /** The hva the VMM mapped for `gpa`, or undefined when no RAM region holds it. */
  gpaToHva(gpa: number): number | undefined {
    const r = this.regionAt(gpa);
    return r ? r.hva + (gpa - r.gpa) : undefined;
  }

  /** The region and hva range for [gpa, gpa + size) inside one region, page aligned; else EINVAL. */
  #range(gpa: number, size: number, what: string): { region: RamRegion; hva: number } | VmmError {
    const r = this.regionAt(gpa);
    if (!r || gpa % PAGE !== 0 || size <= 0 || size % PAGE !== 0 || gpa + size > r.gpa + r.size) {
      return vmmError(
        'EINVAL',
        `${what}: ${hex(gpa)}+${hex(size)} is not a page-aligned range of one RAM region`,
      );
    }
    return { region: r, hva: r.hva + (gpa - r.gpa) };
  }

  /** munmap the host pages behind [gpa, gpa + size): the memslot stays, its hvas fault. */
  unmap(gpa: number, size: number): VmmError | undefined {
    const at = this.#range(gpa, size, 'unmapGpa');
    if (isVmmError(at)) return at;
    const e = this.memory.unmap(at.hva, size);
    return e ? fromErrno('munmap', e) : undefined;
  }

  /** ftruncate a region's file (as a virtiofs server might): pages past the new EOF fault. */
  truncateFile(name: string, size: number): VmmError | undefined {
    const file = this.files.get(name);
    if (!file) return vmmError('ENOENT', `no file '${name}'`);
    return tryDo(`ftruncate '${name}'`, () => file.truncate(size));
  }

  /**
   * UFFDIO_COPY into a lazy region: `data` padded with zeros to whole pages, at a page-aligned gpa.
   * EINVAL outside a lazy region, EEXIST when a page is already populated.
   */
  populate(gpa: number, data: Uint8Array): VmmError | undefined {
    const len = Math.max(PAGE, Math.ceil(data.length / PAGE) * PAGE);
    const at = this.#range(gpa, len, 'populate');
    if (isVmmError(at)) return at;
    const page = new Uint8Array(len);
    page.set(data);
    const e = this.memory.populate(at.hva, page);
    return e ? fromErrno('UFFDIO_COPY', e) : undefined;
  }

  /** Read guest memory through the VMM's own mappings (not KVM's): EFAULT when not RAM or the host faults. */
  read(gpa: number, dst: Uint8Array): VmmError | undefined {
    return this.#access(gpa, dst, (hva, bytes) => this.memory.read(hva, bytes));
  }

  /** Write guest memory through the VMM's own mappings (loading a guest image, a shared page). */
  write(gpa: number, src: Uint8Array): VmmError | undefined {
    return this.#access(gpa, src, (hva, bytes) => this.memory.write(hva, bytes));
  }

  /** `io` on each region's part of [gpa, gpa + buf.length): EFAULT where it is not RAM or the host faults. */
  #access(
    gpa: number,
    buf: Uint8Array,
    io: (hva: number, bytes: Uint8Array) => HostFault | undefined,
  ): VmmError | undefined {
    let done = 0;
    while (done < buf.length) {
      const cur = gpa + done;
      const r = this.regionAt(cur);
      if (!r) return vmmError('EFAULT', `gpa ${hex(cur)} is not RAM`);
      const n = Math.min(buf.length - done, r.gpa + r.size - cur);
      const f = io(r.hva + (cur - r.gpa), buf.subarray(done, done + n));
      if (f) return vmmError('EFAULT', `gpa ${hex(cur)}: host ${f.kind} at hva ${hex(f.hva)}`);
      done += n;
    }
    return undefined;
  }

  /** munmap every region (files stay in `files`). */
  destroy(): void {
    for (const r of this.regions) this.memory.unmap(r.hva, r.size);
    this.regions.length = 0;
  }
}
