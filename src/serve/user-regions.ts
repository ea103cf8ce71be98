/**
 * The client's memory behind the pointers inside an ioctl's argument (docs/kvm-shim-protocol.md,
 * "regions"): for the length of one ioctl, each region's pages are mapped into the model's host
 * address space at the region's own address, so the model's kernel code reaches them with
 * copy_from_user / copy_to_user as it reaches any user memory, faults included. Pages already
 * mapped there (guest RAM the client shared) are used as they are and never unmapped.
 */
import { type HostAddressSpace, PROT_READ, PROT_WRITE } from '../host/address-space.js';
import { PAGE_SIZE } from '../host/page.js';
import { REGION_IN, REGION_OUT, type Region } from './protocol.js';

/** What the ioctl wrote into the OUT regions, to send back. */
export interface RegionOut {
  readonly addr: bigint;
  readonly bytes: Uint8Array;
}

/**
 * Run `ioctl` with `regions` mapped into `host`; then read the OUT regions and unmap what was
 * mapped for them. A region the address space cannot hold (beyond its limit) is left out: the
 * model then faults on it, as the kernel would on memory the client does not have.
 */
export function withRegions<T>(
  host: HostAddressSpace,
  regions: readonly Region[],
  ioctl: () => T,
): { result: T; out: RegionOut[] } {
  const mapped: number[] = [];
  for (const r of regions) {
    const start = Number(r.addr);
    if (r.len === 0 || !Number.isSafeInteger(start) || start + r.len > host.limit) continue;
    for (let page = start - (start % PAGE_SIZE); page < start + r.len; page += PAGE_SIZE) {
      if (host.describe(page).state !== 'unmapped') continue;
      host.mapAnonymous(page, PAGE_SIZE, PROT_READ | PROT_WRITE);
      mapped.push(page);
    }
    if (r.flags & REGION_IN) host.write(start, r.bytes);
  }
  try {
    const result = ioctl();
    const out: RegionOut[] = [];
    for (const r of regions) {
      if (!(r.flags & REGION_OUT) || r.len === 0) continue;
      const bytes = new Uint8Array(r.len);
      if (host.read(Number(r.addr), bytes) === undefined) out.push({ addr: r.addr, bytes });
    }
    return { result, out };
  } finally {
    for (const page of mapped) host.unmap(page, PAGE_SIZE);
  }
}
