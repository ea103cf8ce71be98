import { SysError } from '../uapi/kvm-error.js';
import {
  CHUNK_SIZE,
  type ChunkMap,
  chunkAt,
  chunkIndicesIn,
  readChunks,
  writeChunks,
  zeroChunks,
} from './chunks.js';
import type { HostFile, HostFileMapper } from './file-store.js';
import { PAGE_SIZE, pageAlignDown, pageAligned, pageAlignUp } from './page.js';
import { firstEndingAfter } from './ranges.js';

/** mmap/mprotect protection: no access at all. */
export const PROT_NONE = 0;
/** mmap/mprotect protection: readable. */
export const PROT_READ = 1;
/** mmap/mprotect protection: writable (on x86 this also makes the page readable). */
export const PROT_WRITE = 2;

/** Top of the x86-64 user address space (TASK_SIZE_MAX): hvas must satisfy hva + len <= this. */
export const USER_ADDR_LIMIT = 0x7fff_ffff_f000;

/** Where findFree starts looking, like mmap_base (the usual home of 0x7f... mappings). */
const MMAP_BASE = 0x7f00_0000_0000;
/** The lowest address findFree hands out, like vm.mmap_min_addr. */
const MMAP_MIN_ADDR = 0x1_0000;

/** Why a host access faulted: no VMA, a userfault page not yet populated, a file page past EOF, or prot. */
export type HostFaultKind = 'unmapped' | 'missing' | 'beyond-eof' | 'protection';

/** Why a host access failed and the first byte address that failed (not page-rounded: max(start of access, start of failing page)). */
export interface HostFault {
  readonly kind: HostFaultKind;
  readonly hva: number;
}

/**
 * Told before software on the host (copy_from_user, copy_to_user, kvm_vcpu_map, the VMM) reads or
 * writes bytes of the address space, and before a range's contents are discarded (munmap, a mapping
 * replaced: as a write). The memory controller is one: it writes back the plaintext a CPU holds
 * (and, for a write, drops it) so host software sees memory as it is. The CPU's own path through
 * the nested page table (`frame`) is not reported.
 */
export interface HostMemoryObserver {
  beforeHostAccess(hva: number, length: number, write: boolean): void;
}

/** What is at one hva: the VMA covering it (its bounds and protection) and, per kind, the page's state. */
export type HvaState =
  | { state: 'unmapped' }
  | { state: 'anonymous'; prot: number; start: number; end: number }
  | {
      state: 'file';
      prot: number;
      start: number;
      end: number;
      file: HostFile;
      fileOffset: number;
      beyondEof: boolean;
    }
  | { state: 'missing'; prot: number; start: number; end: number; populated: boolean };

type VmaKind = 'anonymous' | 'file' | 'missing';

/** One mapping (vm_area_struct): [start, end) with uniform kind and protection. Mutable, never exported. */
interface Vma {
  start: number;
  end: number;
  prot: number;
  readonly kind: VmaKind;
  readonly file: HostFile | undefined;
  /** File offset of `start` (file mappings only; 0 otherwise). */
  fileOffset: number;
}

function fault(kind: HostFaultKind, hva: number): HostFault {
  return { kind, hva };
}

function checkProt(prot: number): void {
  if (!Number.isInteger(prot) || (prot & ~(PROT_READ | PROT_WRITE)) !== 0) {
    throw new SysError('EINVAL', `prot ${prot}`);
  }
}

function canMerge(a: Vma, b: Vma): boolean {
  return (
    a.end === b.start &&
    a.kind === b.kind &&
    a.prot === b.prot &&
    a.file === b.file &&
    (a.kind !== 'file' || a.fileOffset + (a.end - a.start) === b.fileOffset)
  );
}

/** view/frame arguments: `length` bytes at hva within one page. */
function checkView(hva: number, length: number): void {
  if (
    !Number.isSafeInteger(hva) ||
    !Number.isSafeInteger(length) ||
    hva < 0 ||
    length < 0 ||
    (hva % PAGE_SIZE) + length > PAGE_SIZE
  ) {
    throw new SysError('EINVAL', `view of ${length} bytes at ${hex(hva)} crosses a page`);
  }
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * The VMM process's virtual address space: the hvas that memslots point at. Anonymous, file-backed
 * (MAP_SHARED) and userfaultfd-registered mappings at page granularity, with copy_from_user /
 * copy_to_user style accessors that report faults as values, as KVM sees them (EFAULT material).
 *
 * Anonymous contents live in one sparse chunk map keyed by hva, not per mapping, so splitting or
 * re-protecting a mapping never moves bytes; unmapping zeroes (or frees) the range, keeping the
 * invariant that storage outside anonymous/missing mappings, and in unpopulated pages, is zero.
 */
export class HostAddressSpace implements HostFileMapper {
  /** Exclusive upper bound of usable hvas. */
  readonly limit: number;
  /** Sorted, non-overlapping, adjacent compatible ones merged. */
  readonly #vmas: Vma[] = [];
  /** Last VMA found by #lookup: guest memory accesses cluster, so this makes repeats O(1). */
  #cache: Vma | undefined;
  readonly #chunks: ChunkMap = new Map();
  /** Per chunk, a bit per page: populated by UFFDIO_COPY/ZEROPAGE (missing mappings only). */
  readonly #populated = new Map<number, number>();
  #generation = 0;
  readonly #observers: HostMemoryObserver[] = [];
  /** How many VMAs map each file: it hears of us (size changes) from the first to the last. */
  readonly #fileVmas = new Map<HostFile, number>();

  #countFile(file: HostFile | undefined, delta: number): void {
    if (file === undefined) return;
    const before = this.#fileVmas.get(file) ?? 0;
    const n = before + delta;
    if (n > 0) this.#fileVmas.set(file, n);
    else this.#fileVmas.delete(file);
    if (before === 0 && n > 0) file.addMapper(this);
    else if (n <= 0) file.removeMapper(this);
  }

  /** An empty address space whose hvas lie in [0, limit); limit defaults to USER_ADDR_LIMIT. */
  constructor(opts?: { limit?: number }) {
    const limit = opts?.limit ?? USER_ADDR_LIMIT;
    if (!Number.isSafeInteger(limit) || limit <= 0 || !pageAligned(limit)) {
      throw new SysError('EINVAL', `address-space limit ${limit}`);
    }
    this.limit = limit;
  }

  /**
   * Bumped by every change that can invalidate a view `view()` handed out or a fault it reported:
   * mmap, munmap, mprotect, UFFDIO_COPY/ZEROPAGE here, and a size change of a mapped file. KVM's
   * caches of host pages (nested page table entries, the GHCB mapping) compare it before use, as the
   * MMU notifiers tell real KVM to drop its mappings.
   */
  get generation(): number {
    return this.#generation;
  }

  /** Tell `o` before every host access from now on (read, write, view, and contents discarded). */
  observe(o: HostMemoryObserver): void {
    this.#observers.push(o);
  }

  #notify(hva: number, length: number, write: boolean): void {
    for (const o of this.#observers) o.beforeHostAccess(hva, length, write);
  }

  /** HostFileMapper: a file mapped here changed size (ftruncate, or a write past EOF). */
  fileResized(_file: HostFile): void {
    this.#generation++;
  }

  /** mmap(MAP_ANONYMOUS|MAP_FIXED): replaces whatever was mapped there. Sparse: costs nothing until written; unwritten pages read as zero. */
  mapAnonymous(hva: number, length: number, prot: number = PROT_READ | PROT_WRITE): void {
    this.#checkRange(hva, length, 'mmap');
    checkProt(prot);
    this.#removeRange(hva, hva + length);
    this.#insert({ start: hva, end: hva + length, prot, kind: 'anonymous', file: undefined, fileOffset: 0 });
  }

  /** mmap(MAP_SHARED|MAP_FIXED) of `file` at `fileOffset` (page aligned). Pages wholly beyond EOF fault 'beyond-eof' (SIGBUS); the part of the last page past EOF reads as zero, and writes there do not extend the file. */
  mapFile(
    hva: number,
    length: number,
    file: HostFile,
    fileOffset: number,
    prot: number = PROT_READ | PROT_WRITE,
  ): void {
    this.#checkRange(hva, length, 'mmap');
    checkProt(prot);
    if (!Number.isSafeInteger(fileOffset) || fileOffset < 0 || !pageAligned(fileOffset)) {
      throw new SysError('EINVAL', `mmap file offset ${fileOffset}`);
    }
    this.#removeRange(hva, hva + length);
    this.#insert({ start: hva, end: hva + length, prot, kind: 'file', file, fileOffset });
  }

  /** Anonymous memory registered with userfaultfd in MISSING mode: every page faults 'missing' until populated. */
  mapMissing(hva: number, length: number, prot: number = PROT_READ | PROT_WRITE): void {
    this.#checkRange(hva, length, 'mmap');
    checkProt(prot);
    this.#removeRange(hva, hva + length);
    this.#insert({ start: hva, end: hva + length, prot, kind: 'missing', file: undefined, fileOffset: 0 });
  }

  /**
   * UFFDIO_COPY: fill whole missing pages starting at page-aligned hva with data (length a multiple of
   * 4096) and make them present. Throws SysError EEXIST if a page is already populated, EINVAL if not in a
   * missing-registered mapping or misaligned. All or nothing: nothing is copied when it throws (Linux
   * would copy the pages before the first populated one and report a partial count).
   */
  populate(hva: number, data: Uint8Array): void {
    this.#populate(hva, data.length, data);
  }

  /** UFFDIO_ZEROPAGE equivalent: populate with zeros. */
  populateZero(hva: number, length: number): void {
    this.#populate(hva, length, undefined);
  }

  /** munmap: the range reads as unmapped afterwards and its contents are discarded; unmapping nothing is fine. */
  unmap(hva: number, length: number): void {
    this.#checkRange(hva, length, 'munmap');
    this.#removeRange(hva, hva + length);
  }

  /**
   * mprotect: change the protection of every page in the range, splitting mappings at its edges. As in
   * Linux, a hole makes it fail with ENOMEM after the mappings before the hole have been changed.
   */
  protect(hva: number, length: number, prot: number): void {
    this.#checkRange(hva, length, 'mprotect');
    checkProt(prot);
    const end = hva + length;
    const v = this.#vmas;
    this.#cache = undefined;
    this.#generation++;
    const first = firstEndingAfter(this.#vmas, hva);
    let i = first;
    let pos = hva;
    let hole = false;
    while (pos < end) {
      let m = v[i];
      if (m === undefined || m.start > pos) {
        hole = true;
        break;
      }
      if (m.prot !== prot) {
        if (m.start < pos) {
          const right = this.#splitAt(i, pos);
          i++;
          m = right;
        }
        if (m.end > end) this.#splitAt(i, end);
        m.prot = prot;
      }
      pos = m.end;
      i++;
    }
    this.#mergeWindow(first - 1, i);
    if (hole) throw new SysError('ENOMEM', `mprotect: ${hex(pos)} is not mapped`);
  }

  /** Find a free range of `length` bytes (page multiple) above a base, like mmap(NULL): returns its hva, maps nothing. */
  findFree(length: number): number {
    if (!Number.isSafeInteger(length) || length <= 0 || !pageAligned(length)) {
      throw new SysError('EINVAL', `findFree length ${length}`);
    }
    const base = MMAP_BASE < this.limit ? MMAP_BASE : MMAP_MIN_ADDR;
    const found = this.#gapFrom(base, length);
    if (found !== undefined) return found;
    // Like the kernel's fallback when the preferred area is full: search the whole space.
    const fallback = base === MMAP_MIN_ADDR ? undefined : this.#gapFrom(MMAP_MIN_ADDR, length);
    if (fallback !== undefined) return fallback;
    throw new SysError('ENOMEM', `no free range of ${length} bytes`);
  }

  /** copy_from_user: copy dst.length bytes from hva. Returns undefined on success, else the fault (dst contents then unspecified). */
  read(hva: number, dst: Uint8Array): HostFault | undefined {
    const len = dst.length;
    if (this.#observers.length !== 0) this.#notify(hva, len, false);
    // Fast path: all of it inside the last VMA found, readable anonymous memory (guest RAM).
    const c = this.#cache;
    if (
      c !== undefined &&
      c.kind === 'anonymous' &&
      c.prot !== PROT_NONE &&
      hva >= c.start &&
      hva + len <= c.end
    ) {
      readChunks(this.#chunks, hva, dst, 0, len);
      return undefined;
    }
    return this.#copy(hva, dst, false);
  }

  /** copy_to_user: copy src to hva. Bytes before the first failing page are stored, as with the real thing. */
  write(hva: number, src: Uint8Array): HostFault | undefined {
    const len = src.length;
    if (this.#observers.length !== 0) this.#notify(hva, len, true);
    // Fast path: all of it inside the last VMA found, writable anonymous memory (guest RAM).
    const c = this.#cache;
    if (
      c !== undefined &&
      c.kind === 'anonymous' &&
      (c.prot & PROT_WRITE) !== 0 &&
      hva >= c.start &&
      hva + len <= c.end
    ) {
      writeChunks(this.#chunks, hva, src, 0, len);
      return undefined;
    }
    return this.#copy(hva, src, true);
  }

  /**
   * The slow path of read and write: walk the mappings page run by page run, stopping at the first
   * byte that faults. Bytes before it are copied (as copy_to_user / copy_from_user leave them).
   */
  #copy(hva: number, buf: Uint8Array, write: boolean): HostFault | undefined {
    const len = buf.length;
    let pos = hva;
    let off = 0;
    while (off < len) {
      const m = this.#lookup(pos);
      if (m === undefined) return fault('unmapped', pos);
      // x86 has no write-only pages: anything but PROT_NONE is readable.
      if (write ? (m.prot & PROT_WRITE) === 0 : m.prot === PROT_NONE) return fault('protection', pos);
      const n = Math.min(len - off, m.end - pos);
      if (m.kind === 'file') {
        const file = m.file!;
        const fo = m.fileOffset + (pos - m.start);
        const ok = Math.min(n, pageAlignUp(file.size) - fo);
        if (ok > 0) {
          if (write) file.copyInWithinSize(fo, buf, off, ok);
          else file.copyOut(fo, buf, off, ok);
        }
        if (ok < n) return fault('beyond-eof', pos + Math.max(0, ok));
      } else {
        const bad = m.kind === 'missing' ? this.#firstUnpopulated(pos, n) : undefined;
        const good = bad === undefined ? n : bad - pos;
        if (write) writeChunks(this.#chunks, pos, buf, off, good);
        else readChunks(this.#chunks, pos, buf, off, good);
        if (bad !== undefined) return fault('missing', bad);
      }
      pos += n;
      off += n;
    }
    return undefined;
  }

  /**
   * Direct access to `length` bytes at hva that lie within ONE page, like a kernel mapping of a
   * pinned page (kvm_vcpu_map). Returns a Uint8Array aliasing the backing store (writes through it
   * are real) or the fault. `write` says the caller intends to write (checks PROT_WRITE). Host
   * software's access: observers hear of it first (as a write when `write`).
   */
  view(hva: number, length: number, write: boolean): Uint8Array | HostFault {
    return this.#map(hva, length, write, true);
  }

  /**
   * `view` as the hardware reaches memory (a CPU through the nested page table): the same mapping,
   * but no observer hears of it.
   */
  frame(hva: number, length: number, write: boolean): Uint8Array | HostFault {
    return this.#map(hva, length, write, false);
  }

  /** view and frame: `notify` says whether observers hear of it (before the mapping is made). */
  #map(hva: number, length: number, write: boolean, notify: boolean): Uint8Array | HostFault {
    checkView(hva, length);
    if (notify && this.#observers.length !== 0) this.#notify(hva, length, write);
    const m = this.#lookup(hva);
    if (m === undefined) return fault('unmapped', hva);
    if (write ? (m.prot & PROT_WRITE) === 0 : m.prot === PROT_NONE) return fault('protection', hva);
    if (m.kind === 'file') {
      const fo = m.fileOffset + (hva - m.start);
      if (fo >= pageAlignUp(m.file!.size)) return fault('beyond-eof', hva);
      return m.file!.alias(fo, length);
    }
    if (m.kind === 'missing' && this.#firstUnpopulated(hva, 1) !== undefined) return fault('missing', hva);
    // A pinned page is resident: mapping it allocates its chunk even for a read.
    const ci = Math.floor(hva / CHUNK_SIZE);
    const co = hva - ci * CHUNK_SIZE;
    return chunkAt(this.#chunks, ci).subarray(co, co + length);
  }

  /** What is at this hva, for diagnostics (e.g. "EFAULT: hva 0x7f.. unmapped"). */
  describe(hva: number): HvaState {
    const m = this.#lookup(hva);
    if (m === undefined) return { state: 'unmapped' };
    const { prot, start, end } = m;
    switch (m.kind) {
      case 'anonymous':
        return { state: 'anonymous', prot, start, end };
      case 'missing':
        return {
          state: 'missing',
          prot,
          start,
          end,
          populated: this.#firstUnpopulated(hva, 1) === undefined,
        };
      case 'file': {
        const file = m.file!;
        const fileOffset = m.fileOffset;
        const beyondEof = fileOffset + (pageAlignDown(hva) - start) >= file.size;
        return { state: 'file', prot, start, end, file, fileOffset, beyondEof };
      }
      default: {
        const never: never = m.kind;
        return never;
      }
    }
  }

  /** Bytes of anonymous backing store actually allocated (proves sparseness in tests); files count their own. */
  residentBytes(): number {
    return this.#chunks.size * CHUNK_SIZE;
  }

  // ---- internals ----

  #checkRange(hva: number, length: number, what: string): void {
    if (
      !Number.isSafeInteger(hva) ||
      !Number.isSafeInteger(length) ||
      hva < 0 ||
      length <= 0 ||
      !pageAligned(hva) ||
      !pageAligned(length) ||
      hva + length > this.limit
    ) {
      throw new SysError('EINVAL', `${what}(${hex(hva)}, ${length})`);
    }
  }

  #lookup(pos: number): Vma | undefined {
    const c = this.#cache;
    if (c !== undefined && pos >= c.start && pos < c.end) return c;
    const m = this.#vmas[firstEndingAfter(this.#vmas, pos)];
    if (m === undefined || m.start > pos) return undefined;
    this.#cache = m;
    return m;
  }

  /** Split v[i] at `at` (strictly inside it); v[i] keeps the left part, the new right part is returned. */
  #splitAt(i: number, at: number): Vma {
    const m = this.#vmas[i]!;
    const right: Vma = {
      start: at,
      end: m.end,
      prot: m.prot,
      kind: m.kind,
      file: m.file,
      fileOffset: m.kind === 'file' ? m.fileOffset + (at - m.start) : 0,
    };
    m.end = at;
    this.#vmas.splice(i + 1, 0, right);
    this.#countFile(right.file, +1);
    return right;
  }

  /** Remove [start, end) from every VMA (trimming/splitting at the edges) and discard its contents. */
  #removeRange(start: number, end: number): void {
    if (this.#observers.length !== 0) this.#notify(start, end - start, true);
    const v = this.#vmas;
    this.#cache = undefined;
    let i = firstEndingAfter(this.#vmas, start);
    if (i < v.length && v[i]!.start < start) {
      if (v[i]!.end > end) this.#splitAt(i, end);
      this.#splitAt(i, start);
      i++;
    }
    let j = i;
    while (j < v.length && v[j]!.end <= end) j++;
    if (j < v.length && v[j]!.start < end) {
      this.#splitAt(j, end);
      j++; // the left piece lies inside the range: remove it too
    }
    const removed = v.splice(i, j - i);
    this.#generation++;
    zeroChunks(this.#chunks, start, end);
    this.#clearPopulated(start, end);
    // Stop hearing about a file once nothing here maps it any more.
    for (const m of removed) this.#countFile(m.file, -1);
  }

  #insert(vma: Vma): void {
    const i = firstEndingAfter(this.#vmas, vma.start);
    this.#vmas.splice(i, 0, vma);
    this.#countFile(vma.file, +1);
    this.#cache = undefined;
    this.#generation++;
    this.#mergeWindow(i - 1, i + 1);
  }

  /** Merge compatible neighbours among v[lo..hi] (clamped), as the kernel's vma_merge keeps maps tidy. */
  #mergeWindow(lo: number, hi: number): void {
    const v = this.#vmas;
    for (let k = Math.min(hi, v.length - 1); k >= Math.max(lo, 0) + 1; k--) {
      const a = v[k - 1]!;
      const b = v[k]!;
      if (canMerge(a, b)) {
        a.end = b.end;
        v.splice(k, 1);
        this.#countFile(b.file, -1);
      }
    }
    this.#cache = undefined;
  }

  /** Lowest hva >= from with `length` free bytes below the limit, or undefined. */
  #gapFrom(from: number, length: number): number | undefined {
    const v = this.#vmas;
    let candidate = from;
    for (let i = firstEndingAfter(this.#vmas, from); i < v.length; i++) {
      const m = v[i]!;
      if (m.start >= candidate + length) break;
      candidate = Math.max(candidate, m.end);
    }
    return candidate + length <= this.limit ? candidate : undefined;
  }

  /** The first byte in [pos, pos+n) whose page is not populated (max(pos, page start)), or undefined. */
  #firstUnpopulated(pos: number, n: number): number | undefined {
    const end = pos + n;
    let p = pos;
    while (p < end) {
      const ci = Math.floor(p / CHUNK_SIZE);
      const bit = Math.floor((p - ci * CHUNK_SIZE) / PAGE_SIZE);
      if ((((this.#populated.get(ci) ?? 0) >>> bit) & 1) === 0) return p;
      p = pageAlignDown(p) + PAGE_SIZE;
    }
    return undefined;
  }

  #clearPopulated(start: number, end: number): void {
    for (const ci of chunkIndicesIn(this.#populated, start, end)) {
      const base = ci * CHUNK_SIZE;
      const lo = (Math.max(start, base) - base) / PAGE_SIZE;
      const hi = (Math.min(end, base + CHUNK_SIZE) - base) / PAGE_SIZE;
      const mask = this.#populated.get(ci)! & ~(((1 << (hi - lo)) - 1) << lo);
      if (mask === 0) this.#populated.delete(ci);
      else this.#populated.set(ci, mask);
    }
  }

  #populate(hva: number, length: number, data: Uint8Array | undefined): void {
    this.#checkRange(hva, length, 'UFFDIO_COPY');
    const end = hva + length;
    // Validate everything before changing anything, so a failed call leaves no partial state.
    for (let p = hva; p < end; ) {
      const m = this.#lookup(p);
      if (m === undefined || m.kind !== 'missing') {
        throw new SysError('EINVAL', `${hex(p)} is not in a userfaultfd-registered mapping`);
      }
      p = Math.min(end, m.end);
    }
    for (let p = hva; p < end; p += PAGE_SIZE) {
      const ci = Math.floor(p / CHUNK_SIZE);
      const bit = (p - ci * CHUNK_SIZE) / PAGE_SIZE;
      if ((((this.#populated.get(ci) ?? 0) >>> bit) & 1) !== 0) {
        throw new SysError('EEXIST', `${hex(p)} is already populated`);
      }
    }
    // Unpopulated pages hold zeros (they can't be written), so a zero fill only needs the bits set.
    if (data !== undefined) writeChunks(this.#chunks, hva, data, 0, length);
    for (let p = hva; p < end; p += PAGE_SIZE) {
      const ci = Math.floor(p / CHUNK_SIZE);
      const bit = (p - ci * CHUNK_SIZE) / PAGE_SIZE;
      this.#populated.set(ci, (this.#populated.get(ci) ?? 0) | (1 << bit));
    }
    this.#generation++;
  }
}
