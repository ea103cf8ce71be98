/**
 * The VMM fixing the cause of an EFAULT from KVM_RUN (policy `resolve`): the seed commit's "userspace
 * decides", acted on. The faulting range comes from KVM_EXIT_MEMORY_FAULT when the kernel reports
 * one (sevbox's KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO for the VMGEXIT paths, or Linux's page-fault
 * path), else from the VMM's own diagnosis (the seed's bare EFAULT). Each resolver inspects the
 * pages itself and fixes only what is its business:
 *
 * - populate-missing: post-copy migration. Userfault-missing pages of a lazy region are filled from
 *   the region's source image (UFFDIO_COPY), on demand at the faulting GPA.
 * - extend-file: virtiofs DAX. A file truncated under its mapping is extended again to cover the
 *   faulting pages (they read as zeros: the data past the old EOF is gone).
 * - remap: an hva the VMM unmapped gets fresh memory again (the region's file at its offset, or
 *   anonymous memory); a PROT_NONE page gets read/write back.
 * - add-memslot: the GPA has no memslot and no MMIO device; the VMM decides it is RAM after all and
 *   adds a slot of fresh anonymous memory for the faulting pages.
 *
 * Without KVM_CAP_SEVBOX_VMGEXIT_RESTART a fix does not bring back a failed VMGEXIT (KVM has moved
 * past it: the guest reads success with no data, vmgexit.md section 6); with it, KVM processes the
 * request again and the guest never sees the fault.
 */
import { PROT_READ, PROT_WRITE } from '../host/address-space.js';
import { Errno } from '../uapi/errno.js';
import { decodeSevboxMemoryFaultFlags } from '../uapi/exit-reasons.js';
import type { VmFd } from '../uapi/kvm-fd.js';
import type { VcpuExit } from '../uapi/vcpu-exit.js';
import { isVmmError, tryDo } from './errors.js';
import type { GuestRam, RamRegion } from './memory.js';
import type { FaultDiagnosis, MmioRegionConfig, RamSourceConfig, ResolverName } from './types.js';

const PAGE = 4096;
const hex = (n: number): string => `0x${n.toString(16)}`;

/** The resolvers, in the order a scenario may list them. */
export const RESOLVER_NAMES: readonly ResolverName[] = [
  'populate-missing',
  'extend-file',
  'remap',
  'add-memslot',
];

/** What resolvers may touch. */
export interface ResolverContext {
  readonly vm: VmFd;
  readonly ram: GuestRam;
  /** The machine's MMIO devices: add-memslot never puts RAM over one. */
  readonly mmio: readonly MmioRegionConfig[];
}

/** The pages to fix: [gpa, gpa + size), page aligned, and whether KVM said so. */
export interface FaultRange {
  readonly gpa: number;
  readonly size: number;
  readonly from: 'memory-fault-exit' | 'diagnosis';
  /** The cause KVM reported (sevbox extension), if it did. */
  readonly cause?: string;
}

/**
 * The faulting range: KVM_EXIT_MEMORY_FAULT in kvm_run (`left`) when KVM filled it on this failure,
 * else the diagnosis's GPA as one page.
 */
export function faultRange(exit: VcpuExit, diagnosis: FaultDiagnosis | undefined): FaultRange | undefined {
  if (exit.kind === 'MemoryFault' && exit.gpa < 2n ** 53n && exit.size < 2n ** 32n) {
    const gpa = Number(exit.gpa) - (Number(exit.gpa) % PAGE);
    const end = Number(exit.gpa) + Math.max(Number(exit.size), 1);
    const ext = decodeSevboxMemoryFaultFlags(exit.flags);
    return {
      gpa,
      size: Math.ceil((end - gpa) / PAGE) * PAGE,
      from: 'memory-fault-exit',
      ...(ext ? { cause: ext.cause } : {}),
    };
  }
  if (diagnosis?.gpa === undefined) return undefined;
  const gpa = diagnosis.gpa - (diagnosis.gpa % PAGE);
  return { gpa, size: PAGE, from: 'diagnosis' };
}

/** One page of a source image at region offset `off`. */
export function sourcePage(src: RamSourceConfig | undefined, off: number): Uint8Array {
  const page = new Uint8Array(PAGE).fill(src?.fill ?? 0);
  for (const b of src?.bytes ?? []) {
    const from = Math.max(b.offset, off);
    const to = Math.min(b.offset + b.hex.length, off + PAGE);
    if (from < to) page.set(b.hex.subarray(from - b.offset, to - b.offset), from - off);
  }
  return page;
}

type Fix = (ctx: ResolverContext, r: FaultRange) => string | undefined;

/** The pages of `r` with the RAM region holding each (or none). */
function* pages(
  ctx: ResolverContext,
  r: FaultRange,
): Generator<{ gpa: number; region: RamRegion | undefined }> {
  for (let gpa = r.gpa; gpa < r.gpa + r.size; gpa += PAGE) yield { gpa, region: ctx.ram.regionAt(gpa) };
}

const populateMissing: Fix = (ctx, r) => {
  const done: number[] = [];
  for (const { gpa, region } of pages(ctx, r)) {
    if (region?.backing !== 'lazy') continue;
    const hva = region.hva + (gpa - region.gpa);
    const s = ctx.ram.memory.describe(hva);
    if (s.state !== 'missing' || s.populated) continue;
    const err = ctx.ram.memory.populate(hva, sourcePage(region.source, gpa - region.gpa));
    if (!err) done.push(gpa);
  }
  return done.length ? `populated ${done.map(hex).join(', ')} from the source image` : undefined;
};

const extendFile: Fix = (ctx, r) => {
  const done: string[] = [];
  for (const { gpa, region } of pages(ctx, r)) {
    const file = region?.file;
    if (!region || !file) continue;
    const s = ctx.ram.memory.describe(region.hva + (gpa - region.gpa));
    if (s.state !== 'file' || !s.beyondEof) continue;
    const need = Math.min(region.size, gpa - region.gpa + PAGE);
    if (file.size >= need) continue;
    const err = tryDo('ftruncate', () => file.truncate(need));
    if (!err) done.push(`'${file.name}' to ${hex(need)} bytes`);
  }
  return done.length ? `extended ${done.join(', ')}` : undefined;
};

const remap: Fix = (ctx, r) => {
  const done: string[] = [];
  const memory = ctx.ram.memory;
  for (const { gpa, region } of pages(ctx, r)) {
    if (!region) continue;
    const hva = region.hva + (gpa - region.gpa);
    const s = memory.describe(hva);
    if (s.state === 'unmapped') {
      // mmap(MAP_FIXED) at the hva the memslot still names.
      const m = region.file
        ? memory.mapFile(region.file, PAGE, { offset: gpa - region.gpa, at: hva })
        : region.backing === 'lazy'
          ? memory.mapMissing(PAGE, { at: hva })
          : memory.mapAnonymous(PAGE, { at: hva });
      if (!(m instanceof Errno)) done.push(`mapped ${hex(gpa)} again`);
    } else if (s.prot === 0) {
      if (!memory.protect(hva, PAGE, PROT_READ | PROT_WRITE)) done.push(`made ${hex(gpa)} read/write`);
    }
  }
  return done.length ? done.join(', ') : undefined;
};

const addMemslot: Fix = (ctx, r) => {
  // The VMM's own table of the memslots it made says where there is none.
  if (ctx.ram.regionAt(r.gpa)) return undefined;
  // Only the run of slot-less pages from the faulting one, never over an MMIO device or RAM.
  let size = 0;
  while (size < r.size && !ctx.ram.regionAt(r.gpa + size)) size += PAGE;
  const end = r.gpa + size;
  if (ctx.mmio.some((m) => r.gpa < m.gpa + m.size && m.gpa < end)) return undefined;
  const used = new Set(ctx.ram.regions.map((x) => x.slot));
  let slot = 0;
  while (used.has(slot)) slot++;
  const name = `added@${hex(r.gpa)}`;
  const err = ctx.ram.add(ctx.vm, slot, { name, gpa: r.gpa, size });
  return isVmmError(err)
    ? undefined
    : `added memslot ${slot} '${name}' (${hex(size)} bytes of anonymous memory)`;
};

const FIXES: Readonly<Record<ResolverName, Fix>> = {
  'populate-missing': populateMissing,
  'extend-file': extendFile,
  remap,
  'add-memslot': addMemslot,
};

/** The outcome of trying to resolve one fault. */
export type Resolution =
  | { readonly ok: true; readonly resolver: ResolverName; readonly text: string }
  | { readonly ok: false; readonly text: string };

/**
 * Try `resolvers` in order on the fault KVM_RUN just reported (`left`: what kvm_run held); the
 * first that fixes something wins.
 */
export function resolveFault(
  ctx: ResolverContext,
  left: VcpuExit,
  resolvers: readonly ResolverName[],
  diagnosis: FaultDiagnosis | undefined,
): Resolution {
  const range = faultRange(left, diagnosis);
  if (!range) return { ok: false, text: 'no faulting address to resolve (KVM said nowhere)' };
  const where = `${hex(range.gpa)}+${hex(range.size)} (${range.from === 'memory-fault-exit' ? 'KVM_EXIT_MEMORY_FAULT' : "the VMM's diagnosis"}${range.cause ? `, ${range.cause}` : ''})`;
  for (const name of resolvers) {
    const text = FIXES[name](ctx, range);
    if (text) return { ok: true, resolver: name, text: `${name}: ${text} for ${where}` };
  }
  return { ok: false, text: `no resolver (${resolvers.join(', ')}) could fix ${where}` };
}
