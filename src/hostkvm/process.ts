/**
 * The VMM process's memory on the real machine: `ProcessMemory` (src/host/process.ts) over mmap,
 * mprotect and a JS view of each mapping, so the same VMM code lays out guest RAM for the model or
 * for the machine's /dev/kvm.
 *
 * JavaScript reaches a mapping through a view (an ArrayBuffer aliasing it); touching a page that is
 * not accessible through such a view is a SIGSEGV of the whole process, not an exception. So this
 * class keeps its own book of every page it mapped (mapped with a protection, or unmapped) and
 * checks it before each copy: `read`/`write` report a `HostFault` exactly where the model's address
 * space would, and never touch a PROT_NONE page.
 *
 * - `unmap` does not give the range back to the kernel: it maps a fresh PROT_NONE,
 *   MAP_NORESERVE anonymous mapping over it (MAP_FIXED). The old pages are gone, KVM's accesses
 *   there fault (as they would on a hole), no later mmap can land there, and the book says
 *   `unmapped`. The address space is released by `close()`.
 * - Only memory this object mapped is its business: `unmap` of a range it does not cover is EINVAL
 *   and `protect` of one is ENOMEM, rather than a munmap/mprotect of whatever Node or V8 keeps
 *   there. Reads and writes outside it fault `unmapped`.
 * - Protections are PROT_NONE, PROT_READ and PROT_WRITE combinations (what the model supports);
 *   lengths and addresses are page multiples (EINVAL otherwise), as in the model.
 * - `mapMissing`, `mapFile` and `populate` are ENOSYS: there is no userfaultfd and no host file
 *   support on the real process yet.
 */
import { type HostFault, type HvaState, PROT_NONE, PROT_READ, PROT_WRITE } from '../host/address-space.js';
import type { HostFile } from '../host/file-store.js';
import { PAGE_SIZE } from '../host/page.js';
import type { ProcessMemory } from '../host/process.js';
import { firstEndingAfter } from '../host/ranges.js';
import { Errno } from '../uapi/errno.js';
import { type Libc, MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE, MAP_PRIVATE } from './libc.js';

/** One mmap this object made: its range and a view of all of it. */
interface Reservation {
  readonly start: number;
  readonly end: number;
  readonly bytes: Uint8Array;
}

/** A run of pages of one reservation with one state (the book; sorted, adjacent equal runs merged). */
interface Run {
  readonly start: number;
  readonly end: number;
  readonly mapped: boolean;
  readonly prot: number;
  readonly res: Reservation;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

function badRange(hva: number, length: number): boolean {
  return (
    !Number.isSafeInteger(hva) ||
    !Number.isSafeInteger(length) ||
    hva < 0 ||
    length <= 0 ||
    hva % PAGE_SIZE !== 0 ||
    length % PAGE_SIZE !== 0
  );
}

function badProt(prot: number): boolean {
  return !Number.isInteger(prot) || (prot & ~(PROT_READ | PROT_WRITE)) !== 0;
}

/** The real process's memory (anonymous mappings only). Create it with `HostKvmFd.processMemory()` or `new HostProcessMemory(libc)`. */
export class HostProcessMemory implements ProcessMemory {
  readonly #libc: Libc;
  #runs: Run[] = [];
  #reservations: Reservation[] = [];
  #closed = false;

  constructor(libc: Libc) {
    this.#libc = libc;
  }

  /**
   * mmap(NULL, length, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE): zero-filled, the kernel
   * picks the address. With `at`: MAP_FIXED over memory this object mapped before (fresh zero
   * pages, e.g. where it unmapped); EINVAL elsewhere (it never maps over what it does not own).
   */
  mapAnonymous(length: number, opts: { prot?: number; at?: number } = {}): number | Errno {
    const prot = opts.prot ?? PROT_READ | PROT_WRITE;
    if (this.#closed) return new Errno('EBADF', 'mmap: this HostProcessMemory is closed');
    if (!Number.isSafeInteger(length) || length <= 0 || length % PAGE_SIZE !== 0)
      return new Errno('EINVAL', `mmap length ${length}`);
    if (badProt(prot)) return new Errno('EINVAL', `mmap prot ${prot}`);
    if (opts.at !== undefined) return this.#mapFixed(opts.at, length, prot);
    const libc = this.#libc;
    const hva = libc.mmap(0, length, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (hva < 0) return Errno.fromNegative(hva, `mmap ${length} bytes`);
    const res: Reservation = { start: hva, end: hva + length, bytes: new Uint8Array(libc.view(hva, length)) };
    this.#reservations.push(res);
    const run: Run = { start: hva, end: hva + length, mapped: true, prot, res };
    const i = firstEndingAfter(this.#runs, hva);
    this.#runs.splice(i, 0, run);
    return hva;
  }

  /** MAP_FIXED anonymous memory over a range of this object's own reservations. */
  #mapFixed(hva: number, length: number, prot: number): number | Errno {
    if (badRange(hva, length)) return new Errno('EINVAL', `mmap(MAP_FIXED ${hex(hva)}, ${length})`);
    const end = hva + length;
    const foreign = this.#firstNotOwned(hva, end);
    if (foreign !== undefined)
      return new Errno('EINVAL', `mmap(MAP_FIXED): ${hex(foreign)} is not memory this process object owns`);
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE;
    const r = this.#libc.mmap(hva, length, prot, flags, -1, 0);
    if (r < 0) return Errno.fromNegative(r, `mmap(MAP_FIXED ${hex(hva)}, ${length})`);
    this.#set(hva, end, true, prot);
    return hva;
  }

  /** ENOSYS: no userfaultfd on the real process yet. */
  mapMissing(length: number, _opts?: { at?: number }): number | Errno {
    return new Errno(
      'ENOSYS',
      `mmap+UFFDIO_REGISTER of ${length} bytes: no userfaultfd support on the real process`,
    );
  }

  /** ENOSYS: host files (src/host/file-store.ts) are the model's; nothing maps them into the real process. */
  mapFile(_file: HostFile, length: number, _opts?: { offset?: number; at?: number }): number | Errno {
    return new Errno('ENOSYS', `mmap of a ${length}-byte file range: no file support on the real process`);
  }

  /**
   * munmap, kept as a reservation: a PROT_NONE MAP_FIXED|MAP_NORESERVE mapping replaces the range
   * (contents discarded, every access faults) and the book records it unmapped. EINVAL for a range
   * not wholly inside memory this object mapped (unmapped parts included).
   */
  unmap(hva: number, length: number): Errno | undefined {
    if (badRange(hva, length)) return new Errno('EINVAL', `munmap(${hex(hva)}, ${length})`);
    const end = hva + length;
    const foreign = this.#firstNotOwned(hva, end);
    if (foreign !== undefined)
      return new Errno('EINVAL', `munmap: ${hex(foreign)} was not mapped by this HostProcessMemory`);
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE;
    const r = this.#libc.mmap(hva, length, PROT_NONE, flags, -1, 0);
    if (r < 0) return Errno.fromNegative(r, `munmap (PROT_NONE remap) of ${hex(hva)}+${length}`);
    this.#set(hva, end, false, PROT_NONE);
    return undefined;
  }

  /**
   * mprotect. As in Linux, a hole (an unmapped page, or memory this object did not map) stops it
   * with ENOMEM after the mapped pages before the hole have been changed.
   */
  protect(hva: number, length: number, prot: number): Errno | undefined {
    if (badRange(hva, length) || badProt(prot))
      return new Errno('EINVAL', `mprotect(${hex(hva)}, ${length}, ${prot})`);
    const end = hva + length;
    let pos = hva;
    while (pos < end) {
      const r = this.#runAt(pos);
      if (!r?.mapped) break;
      pos = r.end;
    }
    const done = Math.min(pos, end);
    if (done > hva) {
      const r = this.#libc.mprotect(hva, done - hva, prot);
      if (r < 0) return Errno.fromNegative(r, `mprotect(${hex(hva)}, ${done - hva})`);
      this.#set(hva, done, true, prot);
    }
    return done < end ? new Errno('ENOMEM', `mprotect: ${hex(done)} is not mapped`) : undefined;
  }

  /** ENOSYS: no userfaultfd on the real process yet. */
  populate(hva: number, data: Uint8Array): Errno | undefined {
    return new Errno('ENOSYS', `UFFDIO_COPY of ${data.length} bytes at ${hex(hva)}: no userfaultfd support`);
  }

  /** Copy from the process's memory; bytes before the first faulting page are copied. */
  read(hva: number, dst: Uint8Array): HostFault | undefined {
    return this.#copy(hva, dst, false);
  }

  /** Copy into the process's memory; bytes before the first faulting page are stored. */
  write(hva: number, src: Uint8Array): HostFault | undefined {
    return this.#copy(hva, src, true);
  }

  /** What the book says is at `hva`: the run of pages with its protection, or unmapped. */
  describe(hva: number): HvaState {
    const r = this.#runAt(hva);
    if (!r?.mapped) return { state: 'unmapped' };
    return { state: 'anonymous', prot: r.prot, start: r.start, end: r.end };
  }

  /**
   * munmap everything this object mapped. Close the VMs whose memslots point here first: after
   * this, the addresses may be reused by anything the process maps next.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of this.#reservations) this.#libc.munmap(r.start, r.end - r.start);
    this.#reservations = [];
    this.#runs = [];
  }

  #copy(hva: number, buf: Uint8Array, write: boolean): HostFault | undefined {
    const len = buf.length;
    let pos = hva;
    let off = 0;
    while (off < len) {
      const r = Number.isSafeInteger(pos) ? this.#runAt(pos) : undefined;
      if (!r?.mapped) return { kind: 'unmapped', hva: pos };
      // x86 has no write-only pages: anything but PROT_NONE is readable.
      if (write ? (r.prot & PROT_WRITE) === 0 : r.prot === PROT_NONE) return { kind: 'protection', hva: pos };
      const n = Math.min(len - off, r.end - pos);
      const at = pos - r.res.start;
      if (write) r.res.bytes.set(buf.subarray(off, off + n), at);
      else buf.set(r.res.bytes.subarray(at, at + n), off);
      pos += n;
      off += n;
    }
    return undefined;
  }

  /**
   * The first address in [start, end) outside every page this object mapped (pages it unmapped are
   * still its own), or undefined when it owns the whole range.
   */
  #firstNotOwned(start: number, end: number): number | undefined {
    for (let pos = start; pos < end; ) {
      const r = this.#runAt(pos);
      if (!r) return pos;
      pos = r.end;
    }
    return undefined;
  }

  #runAt(pos: number): Run | undefined {
    const r = this.#runs[firstEndingAfter(this.#runs, pos)];
    return r && r.start <= pos ? r : undefined;
  }

  /** Record [start, end) (inside the book) as mapped with `prot`, or unmapped; merge equal neighbours. */
  #set(start: number, end: number, mapped: boolean, prot: number): void {
    const out: Run[] = [];
    const push = (r: Run): void => {
      const last = out[out.length - 1];
      if (
        last &&
        last.end === r.start &&
        last.res === r.res &&
        last.mapped === r.mapped &&
        last.prot === r.prot
      )
        out[out.length - 1] = { ...last, end: r.end };
      else out.push(r);
    };
    for (const r of this.#runs) {
      if (r.end <= start || r.start >= end) {
        push(r);
        continue;
      }
      if (r.start < start) push({ ...r, end: start });
      push({ ...r, start: Math.max(r.start, start), end: Math.min(r.end, end), mapped, prot });
      if (r.end > end) push({ ...r, start: end });
    }
    this.#runs = out;
  }
}
