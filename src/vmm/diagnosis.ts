/**
 * EFAULT from KVM_RUN, explained as far as userspace can, from what userspace has: kvm_run (a
 * KVM_EXIT_MEMORY_FAULT when the kernel filled one), the trace stream (the VMGEXIT in progress and,
 * as a tracepoint reader sees it, where a scratch copy-in faulted), the memslots the VMM set itself
 * and its own mappings. This is the "userspace decides" of the seed commit: the VMM must find out itself.
 */
import type { HvaState } from '../host/address-space.js';
import type { GuestAccessFaultCause } from '../trace/events.js';
import { decodeSevboxMemoryFaultFlags, type SevboxFaultCause } from '../uapi/exit-reasons.js';
import { svmExitCodeName } from '../uapi/svm.js';
import type { VcpuExit } from '../uapi/vcpu-exit.js';
import type { GuestRam } from './memory.js';
import type { TraceRecorder } from './trace-recorder.js';
import type { FaultDiagnosis } from './types.js';

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

/** Where the GPA came from. */
interface FaultSite {
  readonly gpa: number;
  readonly source: 'scratch' | 'memory-fault-exit';
  readonly cause?: GuestAccessFaultCause;
  readonly size?: number;
  readonly restartable?: boolean;
}

/** The sevbox cause codes as the VMM's own words for them. */
const GUEST_CAUSE: Partial<Record<SevboxFaultCause, GuestAccessFaultCause>> = {
  'no-slot': 'no-slot',
  'hva-unmapped': 'unmapped',
  'userfault-missing': 'missing',
  'beyond-eof': 'beyond-eof',
  readonly: 'readonly',
  protection: 'protection',
};

/** "SVM_VMGEXIT_MMIO_READ" → "MMIO_READ", "SVM_EXIT_IOIO" → "IOIO". */
function shortName(name: string): string {
  return name.replace(/^SVM_VMGEXIT_/, '').replace(/^SVM_EXIT_/, '');
}

/** Words for an hva's state, e.g. "unmapped", "userfault page missing (not yet populated)". */
export function describeHvaState(s: HvaState, hva: number): string {
  switch (s.state) {
    case 'unmapped':
      return 'unmapped';
    case 'missing':
      return s.populated
        ? 'userfault-registered, page populated'
        : 'userfault page missing (registered with userfaultfd, not yet populated)';
    case 'file': {
      const off = s.fileOffset + (hva - s.start);
      return s.beyondEof
        ? `file '${s.file.name}' offset ${hex(off)} is beyond EOF (file truncated to ${s.file.size} bytes)`
        : `file '${s.file.name}' offset ${hex(off)}, within the file`;
    }
    case 'anonymous':
      return s.prot === 0 ? 'anonymous memory with PROT_NONE' : 'anonymous memory, present';
    default: {
      const never: never = s;
      return String(never);
    }
  }
}

function faultSite(
  vcpu: number,
  left: VcpuExit,
  recorder: TraceRecorder,
  mark: number,
): FaultSite | undefined {
  // KVM said where and why (sevbox's KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO): that comes first.
  const ext = left.kind === 'MemoryFault' ? decodeSevboxMemoryFaultFlags(left.flags) : undefined;
  if (left.kind === 'MemoryFault' && ext && left.gpa < 2n ** 53n) {
    return {
      gpa: Number(left.gpa),
      source: 'memory-fault-exit',
      size: Number(left.size),
      restartable: ext.restartable,
      ...(GUEST_CAUSE[ext.cause] ? { cause: GUEST_CAUSE[ext.cause] } : {}),
    };
  }
  const scratch = recorder.scratchEfaultSince(vcpu, mark);
  if (scratch) return { gpa: scratch.gpa, source: 'scratch', cause: scratch.cause };
  if (left.kind === 'MemoryFault' && left.gpa < 2n ** 53n) {
    return { gpa: Number(left.gpa), source: 'memory-fault-exit' };
  }
  return undefined;
}

/**
 * Diagnose an EFAULT that KVM_RUN on vCPU `vcpu` just returned, with `left` what kvm_run held. `mark`
 * is the recorder's mark taken right before that KVM_RUN, so only this call's scratch failure counts.
 */
export function diagnoseEfault(
  vcpu: number,
  left: VcpuExit,
  ram: GuestRam,
  recorder: TraceRecorder,
  mark: number,
): FaultDiagnosis {
  const code = recorder.openVmgexit(vcpu);
  const vmgexit = code === undefined ? undefined : { exitCode: code, name: svmExitCodeName(code) };
  let text = `vCPU ${vcpu}: `;
  if (vmgexit) text += `VMGEXIT ${shortName(vmgexit.name)} (${hex(vmgexit.exitCode)}): `;
  const site = faultSite(vcpu, left, recorder, mark);
  const base = {
    vcpu,
    ...(vmgexit ? { vmgexit } : {}),
    ...(site?.size !== undefined ? { size: site.size } : {}),
    ...(site?.restartable !== undefined ? { restartable: site.restartable } : {}),
  };
  if (!site) {
    text +=
      'KVM_RUN failed with EFAULT and KVM said nowhere which address (no scratch fault, no KVM_EXIT_MEMORY_FAULT)';
    return { ...base, source: 'none', text };
  }
  const what = site.source === 'scratch' ? 'scratch GPA' : 'GPA';
  // The VMM's own memslot table: the regions it registered.
  const region = ram.regionAt(site.gpa);
  if (!region) {
    text += `${what} ${hex(site.gpa)} is not in any memslot — the guest used memory the VMM never declared as RAM`;
    return { ...base, source: site.source, gpa: site.gpa, memslot: null, text };
  }
  const hva = region.hva + (site.gpa - region.gpa);
  const hvaState = ram.memory.describe(hva);
  const memslot = { slot: region.slot, gpa: region.gpa, size: region.size, name: region.name };
  const state =
    site.cause === 'readonly' ? 'read-only memslot (KVM may not write it)' : describeHvaState(hvaState, hva);
  text += `${what} ${hex(site.gpa)} is in memslot ${region.slot} '${region.name}' at hva ${hex(hva)}: ${state}`;
  return { ...base, source: site.source, gpa: site.gpa, memslot, hva, hvaState, text };
}
