/**
 * KVM's SEV launch commands (arch/x86/kvm/svm/sev.c), each with KVM's checks in KVM's order and
 * the firmware (src/psp) below: sev_launch_start, sev_launch_update_data, sev_launch_measure,
 * sev_launch_secret, sev_launch_finish, sev_guest_status, sev_dbg_crypt. The rules, with the kernel
 * lines they come from, are docs/sev-launch-rules.md §1 and §3; these commands behave the same in
 * v5.17 and 2026 mainline (only sev->policy being saved differs, which nothing observes), so no
 * profile switch appears here.
 *
 * Conventions, as in the kernel:
 * - A handler returns undefined (0) or the Errno; sev_mem_enc_ioctl copies kvm_sev_cmd back after
 *   either (`argp.error` included).
 * - `argp.error` is written only when a firmware command runs (__sev_do_cmd_locked: the status, 0
 *   on success); a firmware failure is EIO.
 * - LAUNCH_START issues its command through `argp.sev_fd`; every later command through the fd it
 *   saved (sev->fd, 0 before LAUNCH_START, so EBADF then unless fd 0 is /dev/sev). ACTIVATE,
 *   DEACTIVATE and DECOMMISSION go to the host's PSP directly (sev_bind_asid, sev_unbind_asid).
 * - The model's physical memory is the VMM's address space itself: a page's system physical
 *   address is its host address, so pages consecutive there are physically contiguous
 *   (get_num_contig_pages finds one run for any pinned range).
 */

import { SAVE_RIP, setGpr, VCPU_REGS_RIP } from '../cpu/backend.js';
import { DEFAULT_CPUID } from '../kvm/cpuid.js';
import type { FdTable } from '../kvm/guest-memfd.js';
import type { Vm } from '../kvm/vm.js';
import { SevDeviceFile } from '../psp/dev-sev.js';
import type { PhysRange } from '../psp/engine.js';
import { SevFirmware, type SevFirmwareOptions } from '../psp/firmware.js';
import { Errno } from '../uapi/errno.js';
import { sevRetName } from '../uapi/psp-sev.js';
import {
  decodeSevDbg,
  decodeSevLaunchSecret,
  decodeSevLaunchStart,
  decodeSevUaddrLen,
  encodeSevGuestStatus,
  encodeSevLaunchStart,
  encodeSevUaddrLen,
  KVM_SEV_DBG_SIZE,
  KVM_SEV_LAUNCH_MEASURE_SIZE,
  KVM_SEV_LAUNCH_SECRET_SIZE,
  KVM_SEV_LAUNCH_START_SIZE,
  KVM_SEV_LAUNCH_UPDATE_DATA_SIZE,
  type KvmSevCmd,
} from '../uapi/sev-cmd.js';
import { type SyncVmsaContext, sevEsSyncVmsa } from './sync-vmsa.js';

const PAGE = 4096;
const U64_MAX = (1n << 64n) - 1n;
/** psp_copy_user_blob's and LAUNCH_MEASURE's limit on a user blob (drivers/crypto/ccp/sev-dev.c). */
export const SEV_FW_BLOB_MAX_SIZE = 0x4000;

/** What KVM's SEV code shares across the VMs of one host: the PSP (psp_master) and the ASID bitmap. */
export interface SevHost {
  readonly firmware: SevFirmware;
  /** ASIDs in use (sev_asid_bitmap). */
  readonly asids: Set<number>;
  /**
   * min_sev_asid and max_sev_asid (sev_hardware_setup: CPUID 0x8000001F EDX and ECX): plain SEV
   * guests take ASIDs min..max, SEV-ES guests 1..min-1.
   */
  readonly minSevAsid: number;
  readonly maxSevAsid: number;
  /**
   * RLIMIT_MEMLOCK of the VMM process in pages when it lacks CAP_IPC_LOCK (sev_pin_memory refuses
   * to pin past it with ENOMEM); undefined: the VMM has CAP_IPC_LOCK, as the selftests run.
   */
  readonly memlockPages?: number;
}

/** The SEV leaf of the model CPU's CPUID (sev_hardware_setup reads the host's). */
const SEV_LEAF = DEFAULT_CPUID.find((e) => e.function === 0x8000001f);

/** A host's SEV side: its firmware (a new one unless given), ASID ranges from CPUID unless given. */
export function newSevHost(
  firmware: SevFirmware = new SevFirmware(),
  opts: Partial<Pick<SevHost, 'minSevAsid' | 'maxSevAsid' | 'memlockPages'>> = {},
): SevHost {
  return {
    firmware,
    asids: new Set(),
    minSevAsid: opts.minSevAsid ?? SEV_LEAF?.edx ?? 1,
    maxSevAsid: opts.maxSevAsid ?? SEV_LEAF?.ecx ?? 0,
    ...(opts.memlockPages !== undefined && { memlockPages: opts.memlockPages }),
  };
}

/** A host's SEV side with a new firmware built from `opts`. */
export function newSevFirmwareHost(opts?: SevFirmwareOptions): SevHost {
  return newSevHost(new SevFirmware(opts));
}

/**
 * sev_asid_new: the lowest free ASID of the guest's range, min_sev_asid..max_sev_asid for plain
 * SEV, 1..min_sev_asid-1 for SEV-ES; ENOTTY when the range is empty, EBUSY when it is used up (the
 * model frees an ASID at VM destruction, so the kernel's recycling retry finds nothing more).
 */
export function sevAsidNew(host: SevHost, esActive: boolean): number | Errno {
  const min = esActive ? 1 : host.minSevAsid;
  const max = esActive ? host.minSevAsid - 1 : host.maxSevAsid;
  if (min > max) return new Errno('ENOTTY', `sev_asid_new: no ${esActive ? 'SEV-ES' : 'SEV'} ASIDs`);
  for (let asid = min; asid <= max; asid++) {
    if (host.asids.has(asid)) continue;
    host.asids.add(asid);
    return asid;
  }
  return new Errno('EBUSY', `sev_asid_new: ASIDs ${min}..${max} all in use`);
}

/** open("/dev/sev") in the VMM's process: the fd KVM_SEV_LAUNCH_START takes as sev_fd. */
export function openSevDevice(process: { readonly fds: FdTable }, host: SevHost): number {
  return process.fds.install(new SevDeviceFile(host.firmware));
}

/** The launch part of struct kvm_sev_info. */
export interface SevLaunchInfo {
  /** sev->handle: the firmware's guest handle (0 before LAUNCH_START). */
  handle: number;
  /** sev->fd: the /dev/sev fd LAUNCH_START was given (0 before). */
  fd: number;
  /** sev->policy. */
  policy: number;
  /** sev->asid (0 before init). */
  asid: number;
  /** sev->pages_locked: pages pinned for registered regions (KVM_MEMORY_ENCRYPT_REG_REGION). */
  pagesLocked: number;
}

/** What a launch handler works on: the VM, the host, its kvm_sev_info and the kvm_sev_cmd it will copy back. */
export interface SevCmdContext {
  readonly vm: Vm;
  readonly host: SevHost;
  readonly sev: SevLaunchInfo;
  /** sev_mem_enc_ioctl's sev_cmd: handlers write `error`. */
  readonly argp: KvmSevCmd;
}

// ---- user memory ----

/** copy_from_user of `size` bytes at `uaddr`: EFAULT when any byte is not readable. */
function copyFromUser(vm: Vm, uaddr: bigint, size: number, what: string): Uint8Array | Errno {
  const buf = new Uint8Array(size);
  if (uaddr > BigInt(Number.MAX_SAFE_INTEGER - size)) return new Errno('EFAULT', what);
  return vm.host.read(Number(uaddr), buf) ? new Errno('EFAULT', what) : buf;
}

/** copy_to_user: EFAULT when any byte is not writable (the bytes before it are stored). */
function copyToUser(vm: Vm, uaddr: bigint, bytes: Uint8Array, what: string): Errno | undefined {
  if (uaddr > BigInt(Number.MAX_SAFE_INTEGER - bytes.length)) return new Errno('EFAULT', what);
  return vm.host.write(Number(uaddr), bytes) ? new Errno('EFAULT', what) : undefined;
}

/**
 * psp_copy_user_blob: EINVAL for address or length 0 or a length over SEV_FW_BLOB_MAX_SIZE, then
 * memdup_user (EFAULT).
 */
function pspCopyUserBlob(vm: Vm, uaddr: bigint, len: number, what: string): Uint8Array | Errno {
  if (uaddr === 0n || len === 0) return new Errno('EINVAL', `${what}: no blob`);
  if (len > SEV_FW_BLOB_MAX_SIZE)
    return new Errno('EINVAL', `${what}: ${len} bytes (max ${SEV_FW_BLOB_MAX_SIZE})`);
  return copyFromUser(vm, uaddr, len, what);
}

/** Pinned pages of the VMM's memory: the first page's host address and how many. */
export interface Pinned {
  readonly first: number;
  readonly npages: number;
}

/** INT_MAX: pin_user_pages_fast takes the page count as an int. */
const INT_MAX = 0x7fff_ffff;

/**
 * sev_pin_memory (6.12): EINVAL for a length of 0 or a range that wraps; ENOMEM when the VMM lacks
 * CAP_IPC_LOCK and sev->pages_locked plus these pages exceed RLIMIT_MEMLOCK
 * (`host.memlockPages`); EINVAL for more than INT_MAX pages; then pin_user_pages_fast of every
 * page (FOLL_WRITE when `write`), where a page not mapped, not resident or (for a write) not
 * writable pins short and gives ENOMEM, not EFAULT. The model cannot wait for a userfaultfd
 * handler: an unpopulated page fails as an unmapped one does. The caller adds `npages` to
 * pages_locked when it keeps the pin (only registered regions do; the others unpin before returning).
 */
export function sevPinMemory(
  vm: Vm,
  uaddr: bigint,
  ulen: bigint | number,
  write: boolean,
  locked?: { readonly host: SevHost; readonly sev: SevLaunchInfo },
): Pinned | Errno {
  const len = BigInt(ulen);
  if (len === 0n || uaddr + len > U64_MAX) return new Errno('EINVAL', `sev_pin_memory: ${len} bytes`);
  const first = uaddr & ~BigInt(PAGE - 1);
  const last = (uaddr + len - 1n) & ~BigInt(PAGE - 1);
  const npagesBig = (last - first) / BigInt(PAGE) + 1n;
  const limit = locked?.host.memlockPages;
  if (limit !== undefined && BigInt(locked!.sev.pagesLocked) + npagesBig > BigInt(limit))
    return new Errno(
      'ENOMEM',
      `sev_pin_memory: ${npagesBig} more pages exceed RLIMIT_MEMLOCK (${limit} pages)`,
    );
  if (npagesBig > BigInt(INT_MAX)) return new Errno('EINVAL', `sev_pin_memory: ${npagesBig} pages`);
  const npages = Number(npagesBig);
  for (let i = 0; i < npages; i++) {
    const hva = first + BigInt(i * PAGE);
    const v = hva > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : vm.host.view(Number(hva), PAGE, write);
    if (!(v instanceof Uint8Array))
      return new Errno(
        'ENOMEM',
        `sev_pin_memory: page 0x${hva.toString(16)} not pinned (${v?.kind ?? 'unmapped'})`,
      );
  }
  return { first: Number(first), npages };
}

/** Bytes of the model's physical memory, copied out, and how to store them back. */
interface PhysCopy {
  readonly range: PhysRange;
  /** Store `range.bytes` back into memory (what the firmware wrote). */
  commit(): void;
}

/**
 * [spa, spa+len) of the model's physical memory (spa = host address). A frame the model does not
 * have (an unmapped neighbour of a pinned page that a firmware operand runs into, as sev_dbg_crypt's
 * destination may) reads as zeros and drops what is written to it; real hardware would touch
 * whatever physical page follows.
 */
function physRange(vm: Vm, spa: number, len: number): PhysCopy {
  const bytes = new Uint8Array(len);
  const views: { at: number; v: Uint8Array }[] = [];
  for (let at = 0; at < len; ) {
    const a = spa + at;
    const n = Math.min(len - at, PAGE - (a % PAGE));
    const v = vm.host.view(a, n, false);
    if (v instanceof Uint8Array) {
      bytes.set(v, at);
      views.push({ at, v });
    }
    at += n;
  }
  return {
    range: { spa, bytes },
    commit: () => {
      for (const { at, v } of views) v.set(bytes.subarray(at, at + v.length));
    },
  };
}

/** A kernel bounce page (alloc_page): its physical address is no guest's, the model says 0. */
function bouncePage(): PhysRange {
  return { spa: 0, bytes: new Uint8Array(PAGE) };
}

// ---- issuing firmware commands ----

/** __sev_do_cmd_locked's result: the status into argp.error, -EIO for a failure. */
function fwResult(ctx: SevCmdContext, status: number, what: string): Errno | undefined {
  ctx.argp.error = status;
  return status ? new Errno('EIO', `${what}: ${sevRetName(status)}`) : undefined;
}

/**
 * __sev_issue_cmd through a /dev/sev fd (sev_issue_cmd_external_user): EBADF unless `fd` is an
 * open /dev/sev, then the command on the host's PSP.
 */
function sevIssueCmd(
  ctx: SevCmdContext,
  fd: number,
  what: string,
  run: (fw: SevFirmware) => number,
): Errno | undefined {
  if (!(ctx.vm.ctx.fds.file(fd) instanceof SevDeviceFile))
    return new Errno('EBADF', `${what}: fd ${fd} is not /dev/sev`);
  return fwResult(ctx, run(ctx.host.firmware), what);
}

/** sev_issue_cmd(kvm, ...): through the fd LAUNCH_START saved. */
function sevIssueSaved(
  ctx: SevCmdContext,
  what: string,
  run: (fw: SevFirmware) => number,
): Errno | undefined {
  return sevIssueCmd(ctx, ctx.sev.fd, what, run);
}

/** The check every handler starts with (sev_guest(kvm)). */
function notSevGuest(active: boolean, what: string): Errno | undefined {
  return active ? undefined : new Errno('ENOTTY', `${what}: not an SEV guest`);
}

/** sev_unbind_asid: DEACTIVATE and DECOMMISSION, errors not reported (psp_ret NULL). */
export function sevUnbindAsid(host: SevHost, handle: number): void {
  host.firmware.deactivate(handle);
  host.firmware.decommission(handle);
}

// ---- the commands ----

/**
 * sev_launch_start: ENOTTY, EFAULT, the DH certificate and session blobs when their addresses are
 * not 0 (psp_copy_user_blob; the model's firmware has no use for their contents), LAUNCH_START
 * through argp->sev_fd, sev_bind_asid (ACTIVATE; on failure DECOMMISSION of the new handle), the
 * handle copied back (on EFAULT the guest is unbound again), then sev->handle, sev->fd, sev->policy.
 * Nothing stops a second LAUNCH_START (docs/sev-launch-rules.md §4.4).
 */
export function sevLaunchStart(ctx: SevCmdContext, active: boolean): Errno | undefined {
  const what = 'KVM_SEV_LAUNCH_START';
  const bad = notSevGuest(active, what);
  if (bad) return bad;
  const { vm, host, sev, argp } = ctx;
  const raw = copyFromUser(vm, argp.data, KVM_SEV_LAUNCH_START_SIZE, what);
  if (raw instanceof Errno) return raw;
  const params = decodeSevLaunchStart(raw);
  if (params.dhUaddr !== 0n) {
    const dh = pspCopyUserBlob(vm, params.dhUaddr, params.dhLen, `${what}: dh_uaddr`);
    if (dh instanceof Errno) return dh;
  }
  if (params.sessionUaddr !== 0n) {
    const session = pspCopyUserBlob(vm, params.sessionUaddr, params.sessionLen, `${what}: session_uaddr`);
    if (session instanceof Errno) return session;
  }
  let handle = 0;
  const started = sevIssueCmd(ctx, argp.sevFd, what, (fw) => {
    const r = fw.launchStart(params.handle, params.policy);
    handle = r.handle;
    return r.status;
  });
  if (started) return started;
  // sev_bind_asid: ACTIVATE goes to the PSP directly, not through the fd.
  const bound = fwResult(ctx, host.firmware.activate(handle, sev.asid), `${what}: ACTIVATE`);
  if (bound) {
    host.firmware.decommission(handle);
    return bound;
  }
  const back = copyToUser(vm, argp.data, encodeSevLaunchStart({ ...params, handle }), what);
  if (back) {
    sevUnbindAsid(host, handle);
    return back;
  }
  sev.policy = params.policy;
  sev.handle = handle;
  sev.fd = argp.sevFd;
  return undefined;
}

/**
 * sev_launch_update_data: ENOTTY, EFAULT, sev_pin_memory (EINVAL, ENOMEM: the range must be mapped
 * and writable), then LAUNCH_UPDATE_DATA per physically contiguous run (one in the model) through
 * sev->fd, the firmware's checks and errors passed back as EIO.
 */
export function sevLaunchUpdateData(ctx: SevCmdContext, active: boolean): Errno | undefined {
  const what = 'KVM_SEV_LAUNCH_UPDATE_DATA';
  const bad = notSevGuest(active, what);
  if (bad) return bad;
  const raw = copyFromUser(ctx.vm, ctx.argp.data, KVM_SEV_LAUNCH_UPDATE_DATA_SIZE, what);
  if (raw instanceof Errno) return raw;
  const { uaddr, len } = decodeSevUaddrLen(raw);
  const pinned = sevPinMemory(ctx.vm, uaddr, len, true, ctx);
  if (pinned instanceof Errno) return pinned;
  // data.address = __sme_page_pa(inpages[0]) + offset; data.len = min(pages * PAGE_SIZE - offset, size).
  const mem = physRange(ctx.vm, Number(uaddr), len);
  const r = sevIssueSaved(ctx, what, (fw) => fw.launchUpdateData(ctx.sev.handle, mem.range));
  mem.commit();
  return r;
}

/** What LAUNCH_UPDATE_VMSA needs of the VM beyond the command: its VMSA inputs and the kernel's rule. */
export interface LaunchVmsaContext extends SyncVmsaContext {
  /** sev_es_sync_vmsa refuses a vCPU whose VMSA is encrypted already (2026) or syncs it again (v5.17). */
  readonly resyncRefused: boolean;
}

/**
 * sev_launch_update_vmsa: ENOTTY unless SEV-ES; then every vCPU in index order
 * (__sev_launch_update_vmsa, stopping at the first error, no rollback): EINVAL for guest debugging
 * or DR7 breakpoints, EINVAL for a protected vCPU where the kernel refuses a re-sync, the VMSA
 * synced (sev_es_sync_vmsa), LAUNCH_UPDATE_VMSA of its page through sev->fd (the firmware measures
 * and encrypts it), and the vCPU's state protected from then on. No vCPU: 0.
 */
export function sevLaunchUpdateVmsa(
  ctx: SevCmdContext,
  active: boolean,
  vmsaCtx: LaunchVmsaContext,
): Errno | undefined {
  const what = 'KVM_SEV_LAUNCH_UPDATE_VMSA';
  const bad = notSevGuest(active, what);
  if (bad) return bad;
  for (const vcpu of ctx.vm.vcpus.values()) {
    if (vcpu.guestDebug) return new Errno('EINVAL', `${what}: KVM_SET_GUEST_DEBUG on vCPU ${vcpu.id}`);
    if (vcpu.guestStateProtected && vmsaCtx.resyncRefused)
      return new Errno('EINVAL', `${what}: vCPU ${vcpu.id}'s VMSA is encrypted already`);
    const synced = sevEsSyncVmsa(vcpu, vmsaCtx);
    if (synced) return synced;
    const range: PhysRange = { spa: vcpu.vmsaSpa, bytes: vcpu.vmsa! };
    const r = sevIssueSaved(ctx, what, (fw) => fw.launchUpdateVmsa(ctx.sev.handle, range));
    if (r) return r;
    vcpu.guestStateProtected = true;
    // KVM's own copy of RIP, all it will know of the guest's from now on (VCPU_REGS_RIP).
    setGpr(vcpu.regs, VCPU_REGS_RIP, vcpu.vmcb.save.getBigUint64(SAVE_RIP, true));
  }
  return undefined;
}

/**
 * sev_launch_measure: ENOTTY, EFAULT; len 0 is the query (the firmware answers INVALID_LEN with the
 * length it needs, KVM returns EIO and writes the length back); otherwise a buffer over
 * SEV_FW_BLOB_MAX_SIZE is EINVAL, the blob is copied to uaddr (the whole user length) and the
 * length written back; a firmware failure other than the query returns before the write-back.
 */
export function sevLaunchMeasure(ctx: SevCmdContext, active: boolean): Errno | undefined {
  const what = 'KVM_SEV_LAUNCH_MEASURE';
  const bad = notSevGuest(active, what);
  if (bad) return bad;
  const { vm, argp } = ctx;
  const raw = copyFromUser(vm, argp.data, KVM_SEV_LAUNCH_MEASURE_SIZE, what);
  if (raw instanceof Errno) return raw;
  const params = decodeSevUaddrLen(raw);
  let blob: Uint8Array | undefined;
  if (params.len !== 0 && params.uaddr !== 0n) {
    if (params.len > SEV_FW_BLOB_MAX_SIZE) return new Errno('EINVAL', `${what}: len ${params.len}`);
    const a = vm.allocator.alloc(params.len, 'sev_launch_measure blob');
    if (!a) return new Errno('ENOMEM', `${what}: kzalloc(${params.len})`);
    vm.allocator.free(a);
    blob = new Uint8Array(params.len);
  }
  let dataLen = blob?.length ?? 0;
  let r = sevIssueSaved(ctx, what, (fw) => {
    const m = fw.launchMeasure(ctx.sev.handle, blob);
    dataLen = m.len;
    return m.status;
  });
  if (params.len !== 0) {
    // Not the query: a failure returns with nothing written back.
    if (r) return r;
    if (blob) r = copyToUser(vm, params.uaddr, blob, `${what}: uaddr`);
  }
  return copyToUser(vm, argp.data, encodeSevUaddrLen({ uaddr: params.uaddr, len: dataLen }), what) ?? r;
}

/**
 * sev_launch_secret: ENOTTY, EFAULT, sev_pin_memory of the guest range (EINVAL, ENOMEM), the pages
 * physically contiguous (always, in the model), the trans and header blobs (psp_copy_user_blob:
 * EINVAL, EFAULT), then LAUNCH_UPDATE_SECRET through sev->fd. The model's firmware checks the
 * state only and writes nothing (src/psp/firmware.ts).
 */
export function sevLaunchSecret(ctx: SevCmdContext, active: boolean): Errno | undefined {
  const what = 'KVM_SEV_LAUNCH_SECRET';
  const bad = notSevGuest(active, what);
  if (bad) return bad;
  const { vm, argp } = ctx;
  const raw = copyFromUser(vm, argp.data, KVM_SEV_LAUNCH_SECRET_SIZE, what);
  if (raw instanceof Errno) return raw;
  const params = decodeSevLaunchSecret(raw);
  const pinned = sevPinMemory(vm, params.guestUaddr, params.guestLen, true, ctx);
  if (pinned instanceof Errno) return pinned;
  const trans = pspCopyUserBlob(vm, params.transUaddr, params.transLen, `${what}: trans`);
  if (trans instanceof Errno) return trans;
  const hdr = pspCopyUserBlob(vm, params.hdrUaddr, params.hdrLen, `${what}: hdr`);
  if (hdr instanceof Errno) return hdr;
  return sevIssueSaved(ctx, what, (fw) => fw.launchSecret(ctx.sev.handle));
}

/** sev_launch_finish: ENOTTY, then LAUNCH_FINISH through sev->fd (`data` unused). */
export function sevLaunchFinish(ctx: SevCmdContext, active: boolean): Errno | undefined {
  const what = 'KVM_SEV_LAUNCH_FINISH';
  return notSevGuest(active, what) ?? sevIssueSaved(ctx, what, (fw) => fw.launchFinish(ctx.sev.handle));
}

/**
 * sev_guest_status: ENOTTY, GUEST_STATUS through sev->fd (nothing copied on failure), then
 * {handle, policy, state} copied to `data` (EFAULT); the ASID the firmware returns is dropped.
 */
export function sevGuestStatus(ctx: SevCmdContext, active: boolean): Errno | undefined {
  const what = 'KVM_SEV_GUEST_STATUS';
  const bad = notSevGuest(active, what);
  if (bad) return bad;
  let out = { handle: 0, policy: 0, state: 0 };
  const r = sevIssueSaved(ctx, what, (fw) => {
    const s = fw.guestStatus(ctx.sev.handle);
    out = { handle: s.handle, policy: s.policy, state: s.state };
    return s.status;
  });
  return r ?? copyToUser(ctx.vm, ctx.argp.data, encodeSevGuestStatus(out), what);
}

const aligned16 = (n: number): boolean => n % 16 === 0;
const roundUp16 = (n: number): number => Math.ceil(n / 16) * 16;

/**
 * __sev_dbg_decrypt: DBG_DECRYPT of [src, src+size) rounded out to 16 bytes ("it's safe to read
 * more than we are asked") into `dst`.
 */
function sevDbgDecrypt(
  ctx: SevCmdContext,
  srcSpa: number,
  size: number,
  dst: (len: number) => PhysCopy,
): Errno | undefined {
  const offset = srcSpa % 16;
  const len = roundUp16(size + offset);
  const src = physRange(ctx.vm, srcSpa - offset, len);
  const out = dst(len);
  const r = sevIssueSaved(ctx, 'KVM_SEV_DBG_DECRYPT', (fw) =>
    fw.dbgDecrypt(ctx.sev.handle, src.range, out.range),
  );
  out.commit();
  return r;
}

/** A bounce page's first `len` bytes as a firmware operand (commit is a no-op: they are the page). */
function bounceRange(page: PhysRange, len: number): PhysCopy {
  return { range: { spa: page.spa, bytes: page.bytes.subarray(0, len) }, commit: () => {} };
}

/**
 * __sev_dbg_decrypt_user: with the destination, the source and the size all 16-byte aligned the
 * firmware writes the destination directly; otherwise into a bounce page, then
 * copy_to_user(dst_uaddr, page + (src & 15), size) (EFAULT).
 */
function sevDbgDecryptUser(
  ctx: SevCmdContext,
  srcSpa: number,
  dstUaddr: number,
  dstSpa: number,
  size: number,
): Errno | undefined {
  if (aligned16(dstSpa) && aligned16(srcSpa) && aligned16(size))
    return sevDbgDecrypt(ctx, srcSpa, size, (len) => physRange(ctx.vm, dstSpa, len));
  const tpage = bouncePage();
  const r = sevDbgDecrypt(ctx, srcSpa, size, (len) => bounceRange(tpage, len));
  if (r) return r;
  const off = srcSpa % 16;
  return copyToUser(
    ctx.vm,
    BigInt(dstUaddr),
    tpage.bytes.subarray(off, off + size),
    'KVM_SEV_DBG_DECRYPT: dst_uaddr',
  );
}

/**
 * __sev_dbg_encrypt_user: an unaligned source is bounced (copy_from_user, EFAULT); an unaligned
 * destination or size is a read-modify-write: DBG_DECRYPT of the destination into a bounce page,
 * the source laid over it at (dst & 15), then DBG_ENCRYPT of round_up(size, 16) bytes from the
 * destination rounded down. That length leaves out the tail when dst & 15 is not 0 (the kernel's
 * arithmetic, kept: a 16-byte write at dst ≡ 8 mod 16 stores only its first 8 bytes).
 */
function sevDbgEncryptUser(
  ctx: SevCmdContext,
  srcSpa: number,
  srcUaddr: number,
  dstSpa: number,
  dstUaddr: number,
  size: number,
): Errno | undefined {
  const what = 'KVM_SEV_DBG_ENCRYPT';
  let src: PhysRange = { spa: srcSpa, bytes: physRange(ctx.vm, srcSpa, size).range.bytes };
  if (!aligned16(srcUaddr)) {
    const b = copyFromUser(ctx.vm, BigInt(srcUaddr), size, `${what}: src_uaddr`);
    if (b instanceof Errno) return b;
    src = { spa: 0, bytes: b };
  }
  let dstAt = dstSpa;
  let len = size;
  if (!aligned16(dstUaddr) || !aligned16(size)) {
    const tpage = bouncePage();
    const r = sevDbgDecrypt(ctx, dstSpa, size, (n) => bounceRange(tpage, n));
    if (r) return r;
    const dstOffset = dstSpa % 16;
    if (src.spa === 0) tpage.bytes.set(src.bytes, dstOffset);
    else {
      const b = copyFromUser(ctx.vm, BigInt(srcUaddr), size, `${what}: src_uaddr`);
      if (b instanceof Errno) return b;
      tpage.bytes.set(b, dstOffset);
    }
    dstAt = dstSpa - dstOffset;
    len = roundUp16(size);
    src = { spa: tpage.spa, bytes: tpage.bytes.subarray(0, len) };
  }
  const dst = physRange(ctx.vm, dstAt, len);
  const r = sevIssueSaved(ctx, what, (fw) => fw.dbgEncrypt(ctx.sev.handle, src, dst.range));
  dst.commit();
  return r;
}

/**
 * sev_dbg_crypt (KVM_SEV_DBG_DECRYPT, KVM_SEV_DBG_ENCRYPT): ENOTTY, EFAULT, EINVAL for a length of
 * 0, a source range that wraps or a destination address of 0; then one source page at a time: pin
 * it (read) and the destination's page (write; EINVAL/ENOMEM), the chunk limited by the source's
 * page only (the destination may run into the next page: a kernel quirk the model keeps), and the
 * aligned or bounced firmware command. It stops at the first error; earlier chunks are done.
 */
export function sevDbgCrypt(ctx: SevCmdContext, active: boolean, dec: boolean): Errno | undefined {
  const what = dec ? 'KVM_SEV_DBG_DECRYPT' : 'KVM_SEV_DBG_ENCRYPT';
  const bad = notSevGuest(active, what);
  if (bad) return bad;
  const raw = copyFromUser(ctx.vm, ctx.argp.data, KVM_SEV_DBG_SIZE, what);
  if (raw instanceof Errno) return raw;
  const debug = decodeSevDbg(raw);
  if (!debug.len || debug.srcUaddr + BigInt(debug.len) > U64_MAX)
    return new Errno('EINVAL', `${what}: len ${debug.len}`);
  if (!debug.dstUaddr) return new Errno('EINVAL', `${what}: dst_uaddr 0`);
  let vaddr = debug.srcUaddr;
  const vaddrEnd = vaddr + BigInt(debug.len);
  let dstVaddr = debug.dstUaddr;
  let size = debug.len;
  while (vaddr < vaddrEnd) {
    const pageOf = (a: bigint) => a & ~BigInt(PAGE - 1);
    const srcP = sevPinMemory(ctx.vm, pageOf(vaddr), PAGE, false, ctx);
    if (srcP instanceof Errno) return srcP;
    const dstP = sevPinMemory(ctx.vm, pageOf(dstVaddr), PAGE, true, ctx);
    if (dstP instanceof Errno) return dstP;
    const sOff = Number(vaddr % BigInt(PAGE));
    const dOff = Number(dstVaddr % BigInt(PAGE));
    const len = Math.min(PAGE - sOff, size);
    const r = dec
      ? sevDbgDecryptUser(ctx, srcP.first + sOff, Number(dstVaddr), dstP.first + dOff, len)
      : sevDbgEncryptUser(ctx, srcP.first + sOff, Number(vaddr), dstP.first + dOff, Number(dstVaddr), len);
    if (r) return r;
    vaddr += BigInt(len);
    dstVaddr += BigInt(len);
    size -= len;
  }
  return undefined;
}
