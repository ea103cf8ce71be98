/**
 * Real mmap'd memory the bindings themselves own: a vCPU's kvm_run area and the scratch pages
 * behind the userspace pointers some ioctl structs carry. JavaScript reaches it through a view (an
 * ArrayBuffer aliasing the mapping), and a view of unmapped memory would crash the process on first
 * touch. So `close()` never leaves a hole: it maps fresh anonymous memory over the range
 * (MAP_FIXED, a "tombstone"), which drops the old pages and the kernel's reference to a vCPU file at
 * once, while every view still handed out stays harmless. The range itself is unmapped only when
 * the view has been garbage-collected, i.e. when nothing can touch it any more.
 *
 * (Guest RAM is not here: it lives in a HostProcessMemory, src/hostkvm/process.ts.)
 */
import { PROT_NONE, PROT_READ, PROT_WRITE } from '../host/address-space.js';
import { PAGE_SIZE } from '../host/page.js';
import { ERRNO } from '../uapi/errno.js';
import { type Libc, MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED } from './libc.js';

interface Region {
  readonly libc: Libc;
  readonly addr: number;
  readonly length: number;
}

const reaper = new FinalizationRegistry<Region>((r) => {
  r.libc.munmap(r.addr, r.length);
});

/** One mmap'd range, with a view that stays safe to touch for as long as it is reachable. */
export class HostMapping {
  /** The mapping's address: what KVM calls an hva. */
  readonly hva: number;
  readonly length: number;
  /** The bytes, aliasing the mapping (after `close()`: aliasing the tombstone, zero-filled). */
  readonly bytes: Uint8Array;
  #closed = false;
  readonly #libc: Libc;

  private constructor(libc: Libc, hva: number, length: number) {
    this.#libc = libc;
    this.hva = hva;
    this.length = length;
    const buf = libc.view(hva, length);
    this.bytes = new Uint8Array(buf);
    reaper.register(buf, { libc, addr: hva, length });
  }

  /** Anonymous read-write memory, zero-filled. Returns -errno when mmap fails. */
  static anonymous(libc: Libc, length: number): HostMapping | number {
    const r = libc.mmap(0, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return r < 0 ? r : new HostMapping(libc, r, length);
  }

  /** `length` bytes of file `fd` from offset 0 (the vCPU's kvm_run area). Returns -errno on failure. */
  static file(libc: Libc, fd: number, length: number): HostMapping | number {
    const r = libc.mmap(0, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return r < 0 ? r : new HostMapping(libc, r, length);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Release the memory (and a mapped file) now; the view turns into harmless zero-filled memory. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#libc.mmap(
      this.hva,
      this.length,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
      -1,
      0,
    );
  }
}

/**
 * Scratch memory for arrays the kernel reaches through a pointer inside an ioctl argument (MSR
 * filter bitmaps, KVM_CLEAR_DIRTY_LOG's bitmap, KVM_SET_IDENTITY_MAP_ADDR's u64, the buffer
 * KVM_GET_DIRTY_LOG fills). Each array is laid out so that it ends exactly where a PROT_NONE guard
 * page begins: the kernel reads (or writes) as many bytes as *it* decides, and when that is more
 * than the caller supplied, copy_from_user faults there and the ioctl fails with EFAULT, as it
 * would for a C caller whose buffer ends at an unmapped page. The mapping is reused while the
 * layout (pages per array) stays the same.
 */
export class UserBuffers {
  readonly #libc: Libc;
  #map: HostMapping | undefined;
  #layout = '';
  /** Offset of each array's guard page in the mapping. */
  #guards: number[] = [];
  #closed = false;

  constructor(libc: Libc) {
    this.#libc = libc;
  }

  /**
   * Copy `arrays` in (array i ends right before guard page i) and return their addresses, or
   * -errno when the scratch mapping cannot be made.
   */
  place(arrays: readonly Uint8Array[]): number[] | number {
    const pages = arrays.map((a) => Math.max(1, Math.ceil(a.length / PAGE_SIZE)));
    const key = pages.join(',');
    if (this.#closed) return -ERRNO.EBADF;
    if (!this.#map || key !== this.#layout) {
      const r = this.#remap(pages);
      if (r < 0) return r;
      this.#layout = key;
    }
    const map = this.#map!;
    return arrays.map((a, i) => {
      const off = this.#guards[i]! - a.length;
      map.bytes.set(a, off);
      return map.hva + off;
    });
  }

  /** A copy of `length` bytes at `addr`, an address {@link place} returned (for what the kernel wrote). */
  read(addr: number, length: number): Uint8Array {
    const map = this.#map!;
    const off = addr - map.hva;
    return map.bytes.slice(off, off + length);
  }

  #remap(pages: readonly number[]): number {
    this.#map?.close();
    this.#map = undefined;
    const total = pages.reduce((n, p) => n + p + 1, 0) * PAGE_SIZE;
    const m = HostMapping.anonymous(this.#libc, total);
    if (typeof m === 'number') return m;
    const guards: number[] = [];
    let at = 0;
    for (const p of pages) {
      at += p * PAGE_SIZE;
      guards.push(at);
      const r = this.#libc.mprotect(m.hva + at, PAGE_SIZE, PROT_NONE);
      if (r < 0) {
        m.close();
        return r;
      }
      at += PAGE_SIZE;
    }
    this.#map = m;
    this.#guards = guards;
    return 0;
  }

  /** Release the scratch mapping (tombstoned; see {@link HostMapping.close}). */
  close(): void {
    this.#closed = true;
    this.#map?.close();
    this.#map = undefined;
  }
}
