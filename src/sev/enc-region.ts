/**
 * KVM_MEMORY_ENCRYPT_REG_REGION and KVM_MEMORY_ENCRYPT_UNREG_REGION (sev.c,
 * sev_mem_enc_register_region and sev_mem_enc_unregister_region, Linux 6.12): the VMM pins the
 * guest's memory for as long as the guest may use it encrypted (the page must not move while its
 * ciphertext is tied to its physical address), and KVM keeps the pinned ranges on a list
 * (sev->regions_list) that VM destruction unpins.
 */
import type { Vm } from '../kvm/vm.js';
import { Errno } from '../uapi/errno.js';
import type { KvmEncRegion } from '../uapi/sev-cmd.js';
import { type SevHost, type SevLaunchInfo, sevPinMemory } from './launch.js';

/** struct enc_region: one registered range (uaddr, size as userspace gave them) and its pin. */
export interface EncRegion {
  readonly uaddr: bigint;
  readonly size: bigint;
  readonly npages: number;
}

/** What the region commands work on: the VM, the host (RLIMIT_MEMLOCK), kvm_sev_info's fields. */
export interface EncRegionContext {
  readonly vm: Vm;
  readonly host: SevHost;
  readonly sev: SevLaunchInfo;
  /** sev->regions_list. */
  readonly regions: EncRegion[];
  /** sev_guest(kvm): the VM has been through KVM_SEV_INIT, ES_INIT or INIT2. */
  readonly active: boolean;
}

/**
 * sev_mem_enc_register_region: ENOTTY unless the VM is an SEV guest, then sev_pin_memory with
 * FOLL_WRITE | FOLL_LONGTERM (EINVAL for size 0 or a wrapping range, ENOMEM past RLIMIT_MEMLOCK
 * or for a page it cannot pin), then the region goes on the list. The same range twice is two
 * regions, as in the kernel. The kernel's sev_clflush_pages has no counterpart: the memory
 * controller keeps host and guest views coherent itself (src/psp/memory-controller.ts).
 */
export function sevMemEncRegisterRegion(ctx: EncRegionContext, range: KvmEncRegion): Errno | undefined {
  if (!ctx.active) return new Errno('ENOTTY', 'KVM_MEMORY_ENCRYPT_REG_REGION: not an SEV guest');
  const pinned = sevPinMemory(ctx.vm, range.addr, range.size, true, ctx);
  if (pinned instanceof Errno) return pinned;
  ctx.sev.pagesLocked += pinned.npages;
  ctx.regions.push({ uaddr: range.addr, size: range.size, npages: pinned.npages });
  return undefined;
}

/**
 * sev_mem_enc_unregister_region: ENOTTY unless the VM is an SEV guest; EINVAL unless a region with
 * exactly this address and size is registered (find_enc_region: the first match); then it is
 * unpinned and dropped.
 */
export function sevMemEncUnregisterRegion(ctx: EncRegionContext, range: KvmEncRegion): Errno | undefined {
  if (!ctx.active) return new Errno('ENOTTY', 'KVM_MEMORY_ENCRYPT_UNREG_REGION: not an SEV guest');
  const i = ctx.regions.findIndex((r) => r.uaddr === range.addr && r.size === range.size);
  if (i < 0)
    return new Errno(
      'EINVAL',
      `KVM_MEMORY_ENCRYPT_UNREG_REGION: no region at 0x${range.addr.toString(16)} of ${range.size} bytes`,
    );
  unregisterEncRegion(ctx, i);
  return undefined;
}

/** __unregister_enc_region_locked: unpin (pages_locked goes down) and drop the i-th region. */
function unregisterEncRegion(ctx: EncRegionContext, i: number): void {
  const [r] = ctx.regions.splice(i, 1);
  if (r) ctx.sev.pagesLocked -= r.npages;
}

/** sev_vm_destroy: regions userspace did not unregister are unpinned. */
export function unregisterAllEncRegions(ctx: EncRegionContext): void {
  while (ctx.regions.length > 0) unregisterEncRegion(ctx, ctx.regions.length - 1);
}
