/** Sorted, non-overlapping [start, end) ranges, as an address-space book keeps its mappings. */

/** An address range [start, end). */
export interface Range {
  readonly start: number;
  readonly end: number;
}

/** Index of the first range of `sorted` that ends after `pos` (sorted.length when none does). */
export function firstEndingAfter(sorted: readonly Range[], pos: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]!.end <= pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
