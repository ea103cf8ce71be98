/**
 * EFAULT from KVM_RUN, explained as far as userspace can: which vCPU, which VMGEXIT was in
 * progress (from the trace), which GPA (the SEV vCPU's last scratch fault, or KVM_EXIT_MEMORY_FAULT
 * when the kernel fills it), the memslot holding it or its absence, and the state of the hva
 * behind it. This is the "userspace decides" of the seed commit: the VMM must find out itself.
 */
import type { HvaState } from '../host/address-space.js';
import type { GuestFaultCause } from '../kvm/guest-memory.js';
import type { Vcpu } from '../kvm/vcpu.js';
import { SevEsVcpu } from '../sev/sev-es-vcpu.js';
import { decodeSevboxMemoryFaultFlags, type SevboxFaultCause } from '../uapi/exit-reasons.js';
import { svmExitCodeName } from '../uapi/svm.js';
import type { GuestRam } from './memory.js';
import type { TraceRecorder } from './trace-recorder.js';
import type { FaultDiagnosis } from './types.js';

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

/** Where the GPA came from. */
interface FaultSite {
  readonly gpa: number;
  readonly source: 'scratch' | 'memory-fault-exit';
  readonly cause?: GuestFaultCause;
  readonly size?: number;
  readonly restartable?: boolean;
}

/** The sevbox cause codes as the VMM's own words for them. */
const GUEST_CAUSE: Partial<Record<SevboxFaultCause, GuestFaultCause>> = {
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

function faultSite(vcpu: Vcpu, recorder: TraceRecorder, mark: number): FaultSite | undefined {
  // KVM said where and why (sevbox's KVM_CAP_SEVBOX_VMGEXIT_FAULT_INFO): that comes first.
  const first = vcpu.decodeExit();
  const ext = first.kind === 'MemoryFault' ? decodeSevboxMemoryFaultFlags(first.flags) : undefined;
  if (first.kind === 'MemoryFault' && ext && first.gpa < 2n ** 53n) {
    return {
      gpa: Number(first.gpa),
      source: 'memory-fault-exit',
      size: Number(first.size),
      restartable: ext.restartable,
      ...(GUEST_CAUSE[ext.cause] ? { cause: GUEST_CAUSE[ext.cause] } : {}),
    };
  }
  const sev = vcpu.typeOps;
  if (sev instanceof SevEsVcpu && sev.lastScratchFault && recorder.scratchEfaultSince(vcpu.id, mark)) {
    const f = sev.lastScratchFault;
    return { gpa: f.gpa, source: 'scratch', cause: f.cause };
  }
  const exit = vcpu.decodeExit();
  if (exit.kind === 'MemoryFault' && exit.gpa < 2n ** 53n) {
    return { gpa: Number(exit.gpa), source: 'memory-fault-exit' };
  }
  return undefined;
}

/**
 * Diagnose an EFAULT that KVM_RUN on `vcpu` just returned. `mark` is the recorder's mark taken
 * right before that KVM_RUN, so only this call's scratch failure counts.
 */
export function diagnoseEfault(
  vcpu: Vcpu,
  ram: GuestRam,
  recorder: TraceRecorder,
  mark: number,
): FaultDiagnosis {
  const code = recorder.openVmgexit(vcpu.id);
  const vmgexit = code === undefined ? undefined : { exitCode: code, name: svmExitCodeName(code) };
  let text = `vCPU ${vcpu.id}: `;
  if (vmgexit) text += `VMGEXIT ${shortName(vmgexit.name)} (${hex(vmgexit.exitCode)}): `;
  const site = faultSite(vcpu, recorder, mark);
  const base = {
    vcpu: vcpu.id,
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
  const slot = vcpu.vm.memslotForGpa(site.gpa);
  if (!slot) {
    text += `${what} ${hex(site.gpa)} is not in any memslot — the guest used memory the VMM never declared as RAM`;
    return { ...base, source: site.source, gpa: site.gpa, memslot: null, text };
  }
  const region = ram.regions.find((r) => r.slot === slot.id);
  const hva = slot.userspaceAddr + (site.gpa - slot.baseGfn * 4096);
  const hvaState = vcpu.vm.host.describe(hva);
  const memslot = {
    slot: slot.id,
    gpa: slot.baseGfn * 4096,
    size: slot.npages * 4096,
    ...(region ? { name: region.name } : {}),
  };
  const state =
    site.cause === 'readonly' ? 'read-only memslot (KVM may not write it)' : describeHvaState(hvaState, hva);
  const named = region ? ` '${region.name}'` : '';
  text += `${what} ${hex(site.gpa)} is in memslot ${slot.id}${named} at hva ${hex(hva)}: ${state}`;
  return { ...base, source: site.source, gpa: site.gpa, memslot, hva, hvaState, text };
}
