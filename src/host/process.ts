/**
 * The VMM process's memory as the VMM itself uses it: mmap, munmap, mprotect, userfaultfd's
 * UFFDIO_COPY, and reads and writes through its own mappings. One interface for the model's
 * process (HostAddressSpace, where KVM's copy_from_user goes too) and the machine's real process
 * (src/hostkvm), so the same VMM lays out guest RAM on either. Failures are Errno values.
 */
import { Errno } from '../uapi/errno.js';
import { SysError } from '../uapi/kvm-error.js';
import {
  type HostAddressSpace,
  type HostFault,
  type HvaState,
  PROT_READ,
  PROT_WRITE,
} from './address-space.js';
import type { HostFile } from './file-store.js';

/** The VMM process's memory. */
export interface ProcessMemory {
  /**
   * mmap(MAP_ANONYMOUS): `length` bytes (a page multiple) wherever the kernel puts them, or with
   * MAP_FIXED at `at` (replacing what was there).
   */
  mapAnonymous(length: number, opts?: { prot?: number; at?: number }): number | Errno;
  /** An anonymous mapping registered with userfaultfd: every page missing until populated. */
  mapMissing(length: number, opts?: { at?: number }): number | Errno;
  /** mmap(MAP_SHARED) of `file` from `offset`. */
  mapFile(file: HostFile, length: number, opts?: { offset?: number; at?: number }): number | Errno;
  /** munmap. */
  unmap(hva: number, length: number): Errno | undefined;
  /** mprotect. */
  protect(hva: number, length: number, prot: number): Errno | undefined;
  /** UFFDIO_COPY of whole pages into a userfaultfd-registered range. */
  populate(hva: number, data: Uint8Array): Errno | undefined;
  /** Read through the process's own mappings; the fault when a page is not there. */
  read(hva: number, dst: Uint8Array): HostFault | undefined;
  /** Write through the process's own mappings. */
  write(hva: number, src: Uint8Array): HostFault | undefined;
  /** What is mapped at `hva` (as /proc/self/maps and the page state would tell). */
  describe(hva: number): HvaState;
}

/** A host call that threw a SysError, as an Errno value (anything else is a bug and propagates). */
function sys<T>(what: string, fn: () => T): T | Errno {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SysError) return new Errno(e.code, `${what}: ${e.message}`);
    throw e;
  }
}

/** The model's process: its HostAddressSpace, with the kernel picking addresses as mmap(NULL, ...) does. */
export class ModelProcessMemory implements ProcessMemory {
  constructor(readonly space: HostAddressSpace) {}

  mapAnonymous(length: number, opts: { prot?: number; at?: number } = {}): number | Errno {
    return sys('mmap', () => {
      const hva = opts.at ?? this.space.findFree(length);
      this.space.mapAnonymous(hva, length, opts.prot ?? PROT_READ | PROT_WRITE);
      return hva;
    });
  }

  mapMissing(length: number, opts: { at?: number } = {}): number | Errno {
    return sys('mmap+UFFDIO_REGISTER', () => {
      const hva = opts.at ?? this.space.findFree(length);
      this.space.mapMissing(hva, length);
      return hva;
    });
  }

  mapFile(file: HostFile, length: number, opts: { offset?: number; at?: number } = {}): number | Errno {
    return sys('mmap', () => {
      const hva = opts.at ?? this.space.findFree(length);
      this.space.mapFile(hva, length, file, opts.offset ?? 0);
      return hva;
    });
  }

  unmap(hva: number, length: number): Errno | undefined {
    const r = sys('munmap', () => this.space.unmap(hva, length));
    return r instanceof Errno ? r : undefined;
  }

  protect(hva: number, length: number, prot: number): Errno | undefined {
    const r = sys('mprotect', () => this.space.protect(hva, length, prot));
    return r instanceof Errno ? r : undefined;
  }

  populate(hva: number, data: Uint8Array): Errno | undefined {
    const r = sys('UFFDIO_COPY', () => this.space.populate(hva, data));
    return r instanceof Errno ? r : undefined;
  }

  read(hva: number, dst: Uint8Array): HostFault | undefined {
    return this.space.read(hva, dst);
  }

  write(hva: number, src: Uint8Array): HostFault | undefined {
    return this.space.write(hva, src);
  }

  describe(hva: number): HvaState {
    return this.space.describe(hva);
  }
}
