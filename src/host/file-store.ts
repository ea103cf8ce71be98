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

function checkOffset(offset: number, what: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new SysError('EINVAL', `${what} ${offset}`);
}

/**
 * Who maps a file and must hear when its size changes: what truncation's unmap_mapping_range does
 * to every mm mapping the file, which in turn fires the MMU notifiers KVM listens to.
 */
export interface HostFileMapper {
  /** The file's size changed: pages past the new EOF are gone (or pages came back). */
  fileResized(file: HostFile): void;
}

/**
 * A file in an in-memory file system (what virtiofs DAX maps); sparse, page-chunked like anonymous
 * memory. Invariant: every stored byte at or beyond `size` is zero, so growing the file (truncate up or
 * a write past EOF) exposes zeros, as a real file system does.
 */
export class HostFile {
  readonly #chunks: ChunkMap = new Map();
  #size = 0;
  /** Storage given by {@link HostFile.over}: it can neither grow nor shrink. */
  #fixed = false;
  readonly #mappers = new Set<HostFileMapper>();

  /** A file called `name` (for diagnostics only) of `size` bytes, all zero. */
  constructor(
    readonly name: string,
    size = 0,
  ) {
    checkOffset(size, 'file size');
    this.#size = size;
  }

  /**
   * A file whose pages are `bytes`, memory another process shares (a memfd `sevbox serve` mapped
   * from its client): every access through a mapping of it reads and writes those bytes. Its size
   * is fixed at `bytes.length`, a multiple of the 64 KiB chunk the store works in.
   */
  static over(name: string, bytes: Uint8Array): HostFile {
    if (bytes.length % CHUNK_SIZE !== 0) {
      throw new SysError(
        'EINVAL',
        `shared file ${name}: ${bytes.length} bytes is not a multiple of ${CHUNK_SIZE}`,
      );
    }
    const f = new HostFile(name, bytes.length);
    for (let ci = 0; ci * CHUNK_SIZE < bytes.length; ci++) {
      f.#chunks.set(ci, bytes.subarray(ci * CHUNK_SIZE, (ci + 1) * CHUNK_SIZE));
    }
    f.#fixed = true;
    return f;
  }

  /** Current length in bytes; a shared mapping re-reads it on every access. */
  get size(): number {
    return this.#size;
  }

  /** ftruncate: shrinking discards the data beyond, extending exposes zeros. */
  truncate(size: number): void {
    checkOffset(size, 'truncate size');
    if (this.#fixed && size !== this.#size)
      throw new SysError('EPERM', `${this.name}: shared file of fixed size`);
    if (size < this.#size) {
      // Bytes past the new EOF must be gone, not merely hidden: a later extension reads them as zero.
      // Clear to the end of the old EOF's chunk so that chunk is freed whole when it lies past the new EOF.
      zeroChunks(this.#chunks, size, (Math.floor(this.#size / CHUNK_SIZE) + 1) * CHUNK_SIZE);
    } else {
      this.#grow(size);
    }
    const changed = size !== this.#size;
    this.#size = size;
    if (changed) this.#resized();
  }

  /** pread: copy up to dst.length bytes from `offset`; returns how many (short, even 0, at EOF). */
  read(offset: number, dst: Uint8Array): number {
    checkOffset(offset, 'read offset');
    const n = Math.max(0, Math.min(dst.length, this.#size - offset));
    readChunks(this.#chunks, offset, dst, 0, n);
    return n;
  }

  /** pwrite: store src at `offset`, extending the file if it ends past EOF (the gap reads as zero). */
  write(offset: number, src: Uint8Array): void {
    checkOffset(offset, 'write offset');
    if (src.length === 0) return;
    const end = offset + src.length;
    if (end > this.#size) {
      if (this.#fixed) throw new SysError('EPERM', `${this.name}: shared file of fixed size`);
      this.#grow(end);
      this.#size = end;
      this.#resized();
    }
    writeChunks(this.#chunks, offset, src, 0, src.length);
  }

  /** Bytes of backing store allocated for this file (proves sparseness in tests). */
  residentBytes(): number {
    return this.#chunks.size * CHUNK_SIZE;
  }

  /**
   * For HostAddressSpace: copy `n` bytes at `offset` into dst[off..]; bytes at or past EOF read as zero
   * (the tail of a mapping's last page). Never faults: the caller has already checked page bounds.
   */
  copyOut(offset: number, dst: Uint8Array, off: number, n: number): void {
    const valid = Math.max(0, Math.min(n, this.#size - offset));
    readChunks(this.#chunks, offset, dst, off, valid);
    if (valid < n) dst.fill(0, off + valid, off + n);
  }

  /**
   * For HostAddressSpace: store src[off..off+n) at `offset`, dropping the bytes at or past EOF — a store
   * through a shared mapping into the last page's tail never extends the file.
   */
  copyInWithinSize(offset: number, src: Uint8Array, off: number, n: number): void {
    const valid = Math.max(0, Math.min(n, this.#size - offset));
    writeChunks(this.#chunks, offset, src, off, valid);
  }

  /**
   * For HostAddressSpace.view: `length` bytes at `offset` (within one page, so within one chunk) aliasing
   * the file's storage, allocating it. Stores made through it past EOF are zeroed if the file grows.
   */
  alias(offset: number, length: number): Uint8Array {
    const ci = Math.floor(offset / CHUNK_SIZE);
    const co = offset - ci * CHUNK_SIZE;
    return chunkAt(this.#chunks, ci).subarray(co, co + length);
  }

  /** For HostAddressSpace: tell `mapper` about every later size change, until removeMapper. */
  addMapper(mapper: HostFileMapper): void {
    this.#mappers.add(mapper);
  }

  /** For HostAddressSpace: it no longer maps this file. */
  removeMapper(mapper: HostFileMapper): void {
    this.#mappers.delete(mapper);
  }

  #resized(): void {
    for (const m of this.#mappers) m.fileResized(this);
  }

  // Re-establish the invariant before exposing [size, newSize): only the chunk holding the old EOF can
  // hold stray bytes (stored through a view of the last page's tail); later chunks were freed on shrink.
  #grow(newSize: number): void {
    if (newSize <= this.#size) return;
    const old = this.#size;
    const chunkEnd = (Math.floor(old / CHUNK_SIZE) + 1) * CHUNK_SIZE;
    for (const ci of chunkIndicesIn(this.#chunks, old, chunkEnd)) {
      this.#chunks.get(ci)?.fill(0, old - ci * CHUNK_SIZE);
    }
  }
}
