/**
 * The VMM process's host, as KVM sees it: a virtual address space of hvas (anonymous, file-backed and
 * userfaultfd mappings with Linux fault semantics), in-memory files to map, and the budgeted allocator
 * KVM charges its own allocations to.
 */
export {
  HostAddressSpace,
  type HostFault,
  type HostFaultKind,
  type HvaState,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  USER_ADDR_LIMIT,
} from './address-space.js';
export { type AllocFaultPlan, type HostAllocation, HostAllocator } from './allocator.js';
export { HostFile } from './file-store.js';
export { PAGE_SHIFT, PAGE_SIZE, pageAlignDown, pageAligned, pageAlignUp } from './page.js';
