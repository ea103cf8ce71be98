/**
 * Real mmap'd memory for the oracle: anonymous guest RAM and the vCPU's kvm_run area. JavaScript
 * reaches it through a view (an ArrayBuffer aliasing the mapping), and a view of unmapped memory
 * would crash the process on first touch. So `close()` never leaves a hole: it maps fresh
 * anonymous memory over the range (MAP_FIXED, a "tombstone"), which drops the old pages and the
 * kernel's reference to a vCPU file at once, while every view still handed out stays harmless. The
 * range itself is unmapped only when the view has been garbage-collected, i.e. when nothing can
 * touch it any more.
 */
import {
  type Libc,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  type Pointer,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from './libc.js';

interface Region {
  readonly libc: Libc;
  readonly ptr: Pointer;
  readonly length: number;
}

const reaper = new FinalizationRegistry<Region>((r) => {
  r.libc.munmap(r.ptr, r.length);
});

/** One mmap'd range, with a view that stays safe to touch for as long as it is reachable. */
export class HostMapping {
  /** The mapping's address: what KVM calls the hva (`userspace_addr`). */
  readonly hva: bigint;
  readonly length: number;
  /** The bytes, aliasing the mapping (after `close()`: aliasing the tombstone, zero-filled). */
  readonly bytes: Uint8Array;
  #closed = false;
  readonly #libc: Libc;
  readonly #ptr: Pointer;

  private constructor(libc: Libc, ptr: Pointer, hva: bigint, length: number) {
    this.#libc = libc;
    this.#ptr = ptr;
    this.hva = hva;
    this.length = length;
    const buf = libc.view(ptr, length);
    this.bytes = new Uint8Array(buf);
    reaper.register(buf, { libc, ptr, length });
  }

  /**
   * Anonymous read-write memory (MAP_SHARED, like a VMM's guest RAM), zero-filled. Returns -errno
   * when mmap fails.
   */
  static anonymous(libc: Libc, length: number): HostMapping | number {
    const r = libc.mmap(length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return typeof r === 'number' ? r : new HostMapping(libc, r.ptr, r.addr, length);
  }

  /** `length` bytes of file `fd` from offset 0 (the vCPU's kvm_run area). Returns -errno on failure. */
  static file(libc: Libc, fd: number, length: number): HostMapping | number {
    const r = libc.mmap(length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return typeof r === 'number' ? r : new HostMapping(libc, r.ptr, r.addr, length);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Release the memory (and a mapped file) now; the view turns into harmless zero-filled memory. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#libc.mmap(
      this.length,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
      -1,
      0,
      this.#ptr,
    );
  }
}

/**
 * An address range that is reserved but can never be accessed (PROT_NONE): an hva a memslot can
 * point at whose pages no fault can bring in. Deliberately has no view.
 */
export class AddressHole {
  readonly hva: bigint;
  readonly length: number;
  #closed = false;
  readonly #libc: Libc;
  readonly #ptr: Pointer;

  private constructor(libc: Libc, ptr: Pointer, hva: bigint, length: number) {
    this.#libc = libc;
    this.#ptr = ptr;
    this.hva = hva;
    this.length = length;
  }

  /** Reserve `length` bytes PROT_NONE; -errno when mmap fails. */
  static reserve(libc: Libc, length: number): AddressHole | number {
    const r = libc.mmap(length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return typeof r === 'number' ? r : new AddressHole(libc, r.ptr, r.addr, length);
  }

  /** Unmap it (nothing in JS can refer to its contents, so this is safe). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#libc.munmap(this.#ptr, this.length);
  }
}
