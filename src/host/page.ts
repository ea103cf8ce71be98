/** Size of an x86-64 base page: the granule of every mapping, protection and userfault in the host model. */
export const PAGE_SIZE = 4096;
/** log2(PAGE_SIZE), for page-number arithmetic. */
export const PAGE_SHIFT = 12;

// Addresses here go up to 2^47 and file offsets beyond 2^32, so page arithmetic uses division and `%`
// rather than 32-bit bitwise operators, which would silently truncate.

/** True when `n` is a multiple of the page size (addresses and lengths passed to mmap-like calls). */
export function pageAligned(n: number): boolean {
  return n % PAGE_SIZE === 0;
}

/** `n` rounded down to a page boundary: the start of the page containing byte `n`. */
export function pageAlignDown(n: number): number {
  return n - (n % PAGE_SIZE);
}

/** `n` rounded up to a page boundary: the end of the page containing byte `n - 1`. */
export function pageAlignUp(n: number): number {
  const rem = n % PAGE_SIZE;
  return rem === 0 ? n : n + (PAGE_SIZE - rem);
}
