/**
 * KVM_CAP_SYNC_REGS (arch/x86/kvm/x86.c sync_regs, store_regs): the register sets KVM_RUN loads from
 * and stores into kvm_run's s.regs (struct kvm_sync_regs: kvm_regs, kvm_sregs, kvm_vcpu_events),
 * so a VMM can skip the GET/SET ioctls around each run.
 */
import { Errno } from '../uapi/errno.js';
import {
  KVM_RUN_OFF_KVM_DIRTY_REGS,
  KVM_RUN_OFF_KVM_VALID_REGS,
  KVM_SYNC_REGS_OFF_EVENTS,
  KVM_SYNC_REGS_OFF_REGS,
  KVM_SYNC_REGS_OFF_SREGS,
  KVM_SYNC_X86_EVENTS,
  KVM_SYNC_X86_REGS,
  KVM_SYNC_X86_SREGS,
  KVM_SYNC_X86_VALID_FIELDS,
} from '../uapi/kvm-run.js';
import { decodeRegs, encodeRegs, KVM_REGS_SIZE } from '../uapi/regs.js';
import { decodeSregs, encodeSregs, KVM_SREGS_SIZE } from '../uapi/sregs.js';
import { decodeVcpuEvents, encodeVcpuEvents, KVM_VCPU_EVENTS_SIZE } from '../uapi/vcpu-events.js';
import type { KvmCoreProfile } from './profile.js';
import type { Vcpu } from './vcpu.js';
import { getRegs, getSregs, getVcpuEvents, setRegs, setSregs, setVcpuEvents } from './vcpu-state.js';
import type { VmTypeOps } from './vm-type.js';

const EINVAL = -22;

/**
 * kvm_sync_valid_fields: none for a VM type with protected state (6.12.y/6.13: its registers are
 * not KVM's to hand out), all three otherwise; v5.17 offers them to every VM.
 */
export function kvmSyncValidFields(
  vm: { readonly typeOps: VmTypeOps; readonly core: KvmCoreProfile } | undefined,
  core: KvmCoreProfile,
): number {
  return vm?.typeOps.protectedState && core.protectedStateIoctlsEinval ? 0 : KVM_SYNC_X86_VALID_FIELDS;
}

/**
 * kvm_arch_vcpu_ioctl_run's checks and sync_regs, after the UNINITIALIZED branch: bits outside the
 * valid fields in kvm_valid_regs or kvm_dirty_regs are -EINVAL; each dirty set is applied (SREGS
 * and EVENTS from a copy, which the VMM cannot change while it is checked) and its bit cleared.
 * 0, or -EINVAL (the bits of the sets already applied stay cleared).
 */
export function syncRegs(vcpu: Vcpu): number {
  const run = vcpu.runArea;
  // Both words are u64, but only bits 0-2 can be valid: read them as 32-bit halves (every KVM_RUN
  // comes here; most VMMs leave both zero).
  const v = run.u32(KVM_RUN_OFF_KVM_VALID_REGS);
  const d = run.u32(KVM_RUN_OFF_KVM_DIRTY_REGS);
  const high = run.u32(KVM_RUN_OFF_KVM_VALID_REGS + 4) | run.u32(KVM_RUN_OFF_KVM_DIRTY_REGS + 4);
  if ((v | d | high) === 0) return 0;
  const valid = kvmSyncValidFields(vcpu.vm, vcpu.vm.core);
  if (high !== 0 || v & ~valid || d & ~valid) return EINVAL;
  const bytes = run.bytes;
  if (run.kvmDirtyRegs & BigInt(KVM_SYNC_X86_REGS)) {
    const r = setRegs(vcpu, decodeRegs(bytes.subarray(KVM_SYNC_REGS_OFF_REGS)));
    if (r instanceof Errno) return -r.value;
    run.kvmDirtyRegs &= ~BigInt(KVM_SYNC_X86_REGS);
  }
  if (run.kvmDirtyRegs & BigInt(KVM_SYNC_X86_SREGS)) {
    if (setSregs(vcpu, decodeSregs(bytes.subarray(KVM_SYNC_REGS_OFF_SREGS)))) return EINVAL;
    run.kvmDirtyRegs &= ~BigInt(KVM_SYNC_X86_SREGS);
  }
  if (run.kvmDirtyRegs & BigInt(KVM_SYNC_X86_EVENTS)) {
    if (setVcpuEvents(vcpu, decodeVcpuEvents(bytes.subarray(KVM_SYNC_REGS_OFF_EVENTS)))) return EINVAL;
    run.kvmDirtyRegs &= ~BigInt(KVM_SYNC_X86_EVENTS);
  }
  return 0;
}

/**
 * store_regs, on every way out of KVM_RUN once kvm_valid_regs is non-zero (failures included), but
 * not for a vCPU whose state is protected (6.12.y/6.13; v5.17 stores KVM's stale copies).
 */
export function storeRegs(vcpu: Vcpu): void {
  const run = vcpu.runArea;
  if ((run.u32(KVM_RUN_OFF_KVM_VALID_REGS) | run.u32(KVM_RUN_OFF_KVM_VALID_REGS + 4)) === 0) return;
  const valid = run.kvmValidRegs;
  if (vcpu.guestStateProtected && vcpu.vm.core.protectedStateIoctlsEinval) return;
  const bytes = run.bytes;
  if (valid & BigInt(KVM_SYNC_X86_REGS)) {
    const r = getRegs(vcpu);
    if (!(r instanceof Errno))
      encodeRegs(r, bytes.subarray(KVM_SYNC_REGS_OFF_REGS, KVM_SYNC_REGS_OFF_REGS + KVM_REGS_SIZE));
  }
  if (valid & BigInt(KVM_SYNC_X86_SREGS)) {
    const s = getSregs(vcpu);
    if (!(s instanceof Errno))
      encodeSregs(s, bytes.subarray(KVM_SYNC_REGS_OFF_SREGS, KVM_SYNC_REGS_OFF_SREGS + KVM_SREGS_SIZE));
  }
  if (valid & BigInt(KVM_SYNC_X86_EVENTS)) {
    encodeVcpuEvents(
      getVcpuEvents(vcpu),
      bytes.subarray(KVM_SYNC_REGS_OFF_EVENTS, KVM_SYNC_REGS_OFF_EVENTS + KVM_VCPU_EVENTS_SIZE),
    );
  }
}
