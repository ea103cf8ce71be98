/**
 * Sparse byte storage shared by anonymous memory and in-memory files: fixed-size chunks allocated on
 * first write, keyed by chunk index. A missing chunk reads as zeros, which is what makes a 1 TiB guest
 * mapping cost nothing until it is touched.
 */

/**
 * Bytes per storage chunk (16 pages): big enough that a 64 KiB copy touches at most two chunks, and small
 * enough that a per-chunk 16-bit mask can track userfault population page by page.
 */
export const CHUNK_SIZE = 65536;

/** Chunk-indexed sparse storage. */
export type ChunkMap = Map<number, Uint8Array>;

/** Bytes per page, the granularity of the cached views below. */
const VIEW_SIZE = 4096;
const VIEWS_PER_CHUNK = CHUNK_SIZE / VIEW_SIZE;

/**
 * Per chunk, views of its pages, made on first use. Creating a view (subarray or the constructor)
 * costs about as much as copying a page's bytes, and page-sized copies are what guest memory sees
 * most. Weakly keyed, so a freed chunk takes its views with it.
 */
const pageViews = new WeakMap<Uint8Array, (Uint8Array | undefined)[]>();

/** `k` bytes of `chunk` from offset `co`, as a view: the chunk itself, a cached page view, or a new one. */
function chunkView(chunk: Uint8Array, co: number, k: number): Uint8Array {
  if (k === CHUNK_SIZE) return chunk;
  if (k === VIEW_SIZE && co % VIEW_SIZE === 0) {
    let views = pageViews.get(chunk);
    if (views === undefined) {
      views = new Array<Uint8Array | undefined>(VIEWS_PER_CHUNK).fill(undefined);
      pageViews.set(chunk, views);
    }
    const p = co / VIEW_SIZE;
    let v = views[p];
    if (v === undefined) {
      v = new Uint8Array(chunk.buffer, chunk.byteOffset + co, k);
      views[p] = v;
    }
    return v;
  }
  // A direct view is measurably cheaper than subarray() (no species lookup).
  return new Uint8Array(chunk.buffer, chunk.byteOffset + co, k);
}

/** Copy `n` bytes starting at byte address `pos` of `chunks` into `dst[off..]`; holes read as zero. */
export function readChunks(chunks: ChunkMap, pos: number, dst: Uint8Array, off: number, n: number): void {
  while (n > 0) {
    const ci = Math.floor(pos / CHUNK_SIZE);
    const co = pos - ci * CHUNK_SIZE;
    const k = Math.min(n, CHUNK_SIZE - co);
    const chunk = chunks.get(ci);
    if (chunk === undefined) dst.fill(0, off, off + k);
    else dst.set(chunkView(chunk, co, k), off);
    pos += k;
    off += k;
    n -= k;
  }
}

/** Copy `src[off..off+n)` to byte address `pos` of `chunks`, allocating the chunks it lands in. */
export function writeChunks(chunks: ChunkMap, pos: number, src: Uint8Array, off: number, n: number): void {
  while (n > 0) {
    const ci = Math.floor(pos / CHUNK_SIZE);
    const co = pos - ci * CHUNK_SIZE;
    const k = Math.min(n, CHUNK_SIZE - co);
    // Skip the subarray view when the whole source goes in one piece (the common 4 KiB case).
    chunkAt(chunks, ci).set(off === 0 && k === src.length ? src : src.subarray(off, off + k), co);
    pos += k;
    off += k;
    n -= k;
  }
}

/** The chunk with index `ci`, allocated (zeroed) if it did not exist yet. */
export function chunkAt(chunks: ChunkMap, ci: number): Uint8Array {
  let chunk = chunks.get(ci);
  if (chunk === undefined) {
    chunk = new Uint8Array(CHUNK_SIZE);
    chunks.set(ci, chunk);
  }
  return chunk;
}

/**
 * Visit every chunk index overlapping byte range [start, end) that may hold something: either by
 * walking the range or, when the range dwarfs the map (unmapping 1 TiB), by walking the map's keys.
 */
export function chunkIndicesIn(keys: ReadonlyMap<number, unknown>, start: number, end: number): number[] {
  if (end <= start) return [];
  const first = Math.floor(start / CHUNK_SIZE);
  const last = Math.floor((end - 1) / CHUNK_SIZE);
  const out: number[] = [];
  if (last - first + 1 <= keys.size) {
    for (let ci = first; ci <= last; ci++) if (keys.has(ci)) out.push(ci);
  } else {
    for (const ci of keys.keys()) if (ci >= first && ci <= last) out.push(ci);
  }
  return out;
}

/** Discard bytes [start, end): whole chunks are freed, partial ones zeroed, so the range reads as zero. */
export function zeroChunks(chunks: ChunkMap, start: number, end: number): void {
  for (const ci of chunkIndicesIn(chunks, start, end)) {
    const base = ci * CHUNK_SIZE;
    const lo = Math.max(start, base) - base;
    const hi = Math.min(end, base + CHUNK_SIZE) - base;
    if (lo === 0 && hi === CHUNK_SIZE) chunks.delete(ci);
    else chunks.get(ci)?.fill(0, lo, hi);
  }
}
