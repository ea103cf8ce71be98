/**
 * setupScratch — setup_vmgexit_scratch, the seed commit's function (../shared/spec/vmgexit.md
 * section 2). The guest names a scratch area in sw_scratch: inside the GHCB shared buffer KVM works
 * on the mapped page; outside it KVM copies up to 16 pages through a bounce buffer charged to the
 * host allocator. Layout errors are the guest's and are reflected to it; allocation and guest-read
 * failures are the host's: -ENOMEM / -EFAULT out of KVM_RUN (seed, current) or reflected (prefix).
 */

import { GPA_NUMBER_LIMIT } from '../kvm/memslots.js';
import {
  GHCB_ERR_INVALID_SCRATCH_AREA,
  GHCB_OFF_SHARED_BUFFER,
  GHCB_SCRATCH_AREA_LIMIT,
  GHCB_SHARED_BUF_SIZE,
} from '../uapi/ghcb.js';
import { reportScratchFault } from './restart.js';
import type { SevEsVcpu } from './sev-es-vcpu.js';

const ENOMEM = -12;
const EFAULT = -14;
const U64 = 1n << 64n;
const SHARED_BEGIN = BigInt(GHCB_OFF_SHARED_BUFFER);
const SHARED_END = BigInt(GHCB_OFF_SHARED_BUFFER + GHCB_SHARED_BUF_SIZE);

/**
 * Set up the scratch area of `len` bytes at `gpa` (the request's sw_scratch as this kernel reads it)
 * for this VMGEXIT. `sync`: the event produces data that must be copied back to guest memory before
 * the next entry (MMIO read, string IN). `again` handles the same event from this point with a
 * scratch GPA, for sevbox's restart extension. Returns 0 (sev.ghcbSa ready), 1 (error reflected
 * into the GHCB; resume the guest) or -errno.
 */
export function setupScratch(
  sev: SevEsVcpu,
  sync: boolean,
  len: bigint,
  gpa: bigint,
  again: (scratchGpa: bigint) => number,
): number {
  const profile = sev.profile;
  const vcpu = sev.vcpu;
  const ghcbGpa = vcpu.vmcb.ghcbGpa;
  const trace = vcpu.vm.trace;
  const invalid = (): number => {
    sev.badInput(GHCB_ERR_INVALID_SCRATCH_AREA, 'scratch');
    if (trace) trace({ name: 'sevbox_scratch', vcpu: vcpu.id, gpa, len: Number(len), outcome: 'invalid' });
    return 1;
  };
  if (profile.scratchRejectsZeroLength && len === 0n) return invalid();
  if (gpa === 0n) return invalid();
  const end = gpa + len;
  if (end >= U64) return invalid();
  if ((gpa & ~0xfffn) === ghcbGpa) {
    // Inside the GHCB page: must lie wholly in the shared buffer; KVM uses the mapping itself.
    const off = gpa - ghcbGpa;
    if (off < SHARED_BEGIN || end - ghcbGpa > SHARED_END) return invalid();
    const start = Number(off);
    sev.ghcbSa = sev.ghcb!.bytes.subarray(start, Number(SHARED_END));
    sev.ghcbSaLen = profile.scratchLenToBufferEnd ? Number(SHARED_END - off) : Number(len);
    if (profile.snapshotGhcb) {
      sev.ghcbSaSync = false;
      sev.ghcbSaFree = false;
    }
    if (trace) trace({ name: 'sevbox_scratch', vcpu: vcpu.id, gpa, len: Number(len), outcome: 'ghcb' });
    return 0;
  }
  // Outside the GHCB page: only GHCB v1 VMs may (current), and at most 16 pages.
  if (profile.v2Restrictions && sev.vm.ghcbVersion >= 2) return invalid();
  if (len > BigInt(GHCB_SCRATCH_AREA_LIMIT)) return invalid();
  const n = Number(len);
  const alloc = vcpu.vm.allocator.alloc(n, 'ghcb-scratch');
  if (!alloc) {
    if (trace) trace({ name: 'sevbox_scratch', vcpu: vcpu.id, gpa, len: n, outcome: 'ENOMEM' });
    if (profile.scratchHostFailure === 'reflect') return invalid();
    if (sev.vm.sevbox.faultInfo) return reportScratchFault(sev, ENOMEM, gpa, n, undefined, again);
    return ENOMEM;
  }
  // A GPA beyond 2^53 is far above any memslot (gfns stay below 2^40); a 0-byte read reads
  // nothing and so cannot fail, wherever it points (kvm_read_guest's loop never runs).
  const fault =
    gpa < GPA_NUMBER_LIMIT || n === 0
      ? vcpu.vm.readGuest(Number(gpa), alloc.bytes)
      : ({ errno: 'EFAULT', gpa: Number(gpa), cause: 'no-slot', slot: undefined, hva: undefined } as const);
  if (fault) {
    vcpu.vm.allocator.free(alloc);
    // KVM only logs this; the trace event (as a tracepoint would) tells userspace where and why.
    if (trace)
      trace({
        name: 'sevbox_scratch',
        vcpu: vcpu.id,
        gpa,
        len: n,
        outcome: 'EFAULT',
        faultGpa: fault.gpa,
        cause: fault.cause,
      });
    if (profile.scratchHostFailure === 'reflect') return invalid();
    if (sev.vm.sevbox.faultInfo) return reportScratchFault(sev, EFAULT, gpa, n, fault, again);
    return EFAULT;
  }
  sev.ghcbSa = alloc.bytes;
  sev.ghcbSaAlloc = alloc;
  sev.ghcbSaLen = n;
  sev.ghcbSaSync = sync;
  sev.ghcbSaFree = true;
  if (trace) trace({ name: 'sevbox_scratch', vcpu: vcpu.id, gpa, len: n, outcome: 'bounce' });
  return 0;
}
