/**
 * Intra-host migration and mirror VMs (arch/x86/kvm/svm/sev.c, Linux 6.12):
 * KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM (sev_vm_move_enc_context_from: the SEV context, its ASID, handle,
 * pinned regions, mirrors and, for SEV-ES, every vCPU's VMSA move to a fresh VM; the source is dead
 * afterwards) and KVM_CAP_VM_COPY_ENC_CONTEXT_FROM (sev_vm_copy_enc_context_from: a VM without vCPUs
 * shares another's ASID and handle, holding a reference on it). The fd lookup (EBADF) is the core's
 * (fd.ts); the VM lock and migration_in_progress of sev_lock_two_vms have no counterpart: the model
 * runs one ioctl at a time, so no other migration is ever in flight (its EBUSY cannot happen).
 */
import type { CpuFactory } from '../kvm/kvm.js';
import { Errno } from '../uapi/errno.js';
import type { SevEsVm } from './sev-es-vm.js';

/** The GHCB MSR of a vCPU whose SEV-ES state moved away (INVALID_PAGE). */
const INVALID_PAGE = (1n << 64n) - 1n;

/**
 * sev_vm_move_enc_context_from with both VMs' kvm_sev_info (an inactive one for a VM that never was
 * an SEV guest): EINVAL for the VM itself, for differing VM types, a destination that is an SEV
 * guest or a source that is none; v5.17: EBUSY for a source with mirrors; then
 * sev_check_source_vcpus (SEV-ES: EINVAL unless both have as many vCPUs and every source vCPU went
 * through LAUNCH_UPDATE_VMSA). On success the source VM is dead (kvm_vm_dead: its ioctls are EIO).
 */
export function sevVmMoveEncContextFrom(dst: SevEsVm, src: SevEsVm, cpus: CpuFactory): Errno | undefined {
  if (dst.vm === src.vm) return new Errno('EINVAL', 'KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM: the VM itself');
  if (dst.vm.type !== src.vm.type || dst.active || !src.active)
    return new Errno(
      'EINVAL',
      'KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM: VM types differ, the destination is an SEV guest or the source none',
    );
  if (!dst.profile.migrateWithMirrors && src.mirrorVms.length > 0)
    return new Errno('EBUSY', 'KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM: the source has mirrors (v5.17)');
  if (src.esActive) {
    if (src.vm.vcpus.size !== dst.vm.vcpus.size)
      return new Errno('EINVAL', 'KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM: SEV-ES needs as many vCPUs on both');
    for (const v of src.vm.vcpus.values())
      if (!v.guestStateProtected)
        return new Errno(
          'EINVAL',
          `KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM: source vCPU ${v.id} has no encrypted VMSA yet`,
        );
  }
  sevMigrateFrom(dst, src, cpus);
  src.vm.dead = true;
  return undefined;
}

/**
 * sev_migrate_from: the destination takes active, asid, handle, pages_locked, es_active (and
 * vmsa_features, none here), the regions and the mirrors; the source keeps none of them. Not
 * carried, as in the kernel: sev->fd and policy (later firmware commands of the destination go
 * through fd 0), ghcb_version (6.10+: 0 on the destination) and need_init (a KVM_X86_SEV_VM
 * destination still needs KVM_SEV_INIT2 before its vCPUs run, which INIT2 then refuses).
 */
function sevMigrateFrom(dst: SevEsVm, src: SevEsVm, cpus: CpuFactory): void {
  dst.active = true;
  dst.launch.asid = src.launch.asid;
  dst.launch.handle = src.launch.handle;
  dst.launch.pagesLocked = src.launch.pagesLocked;
  dst.esActive = src.esActive;
  // v5.17 has no per-VM GHCB version: every SEV-ES VM uses GHCB_VERSION_MAX (1).
  if (!dst.profile.core.vmTypes && dst.esActive) dst.ghcbVersion = dst.profile.ghcbVersionMax;
  src.launch.asid = 0;
  src.active = false;
  src.launch.handle = 0;
  src.launch.pagesLocked = 0;
  src.esActive = false;
  dst.regions.push(...src.regions.splice(0));

  // Each mirror's reference on the source becomes one on the destination.
  for (const mirror of src.mirrorVms.splice(0)) {
    dst.mirrorVms.push(mirror);
    dst.vm.get();
    src.vm.put();
    mirror.encContextOwner = dst;
  }
  // A mirror moved: the destination takes its place on the owner's list (and its reference).
  const owner = src.encContextOwner;
  if (owner) {
    dst.encContextOwner = owner;
    src.encContextOwner = undefined;
    owner.mirrorVms.splice(owner.mirrorVms.indexOf(src), 1);
    owner.mirrorVms.push(dst);
  }
  dst.vm.typeOps = dst;

  // kvm_for_each_vcpu and kvm_get_vcpu go by index: creation order on both VMs.
  const srcVcpus = [...src.vm.vcpus.values()];
  let i = 0;
  for (const dv of dst.vm.vcpus.values()) {
    const sv = srcVcpus[i++];
    if (!dst.esActive || !sv) {
      dv.retype();
      dst.initVmcb?.(dv);
      continue;
    }
    // vcpu_svm.sev_es (the VMSA page) changes hands; the destination's new CPU loads that page at
    // its first VMRUN. The model's CPUs keep a running guest's state loaded rather than writing it
    // back to the page at #VMEXIT, so a source vCPU that already ran moves its launch-time VMSA.
    dv.retype({ backend: cpus(dv.id, true), vmsa: sv.vmsa!, vmsaSpa: sv.vmsaSpa });
    dst.initVmcb?.(dv);
    dst.recalcMsrIntercepts?.(dv);
    dv.vmcb.ghcbGpa = sv.vmcb.ghcbGpa;
    dv.vmcb.vmsaPa = sv.vmsaSpa;
    dv.guestStateProtected = true;
    // The source's vmsa_pa becomes INVALID_PAGE too; its VM is dead, so no VMRUN reads it again.
    sv.vmcb.ghcbGpa = INVALID_PAGE;
    sv.guestStateProtected = false;
  }
}

/**
 * sev_vm_copy_enc_context_from: EINVAL for the VM itself, a destination that is an SEV guest or has
 * vCPUs, a source that is no SEV guest or is a mirror itself. The mirror takes a reference on the
 * source (kvm_get_kvm), joins its mirror list and copies active, asid, fd, es_active and handle
 * (need_init cleared); not the regions, the AP jump table, nor (6.10+) ghcb_version.
 */
export function sevVmCopyEncContextFrom(mirror: SevEsVm, src: SevEsVm): Errno | undefined {
  if (mirror.vm === src.vm) return new Errno('EINVAL', 'KVM_CAP_VM_COPY_ENC_CONTEXT_FROM: the VM itself');
  if (mirror.active || !src.active || src.encContextOwner || mirror.vm.vcpus.size > 0)
    return new Errno(
      'EINVAL',
      'KVM_CAP_VM_COPY_ENC_CONTEXT_FROM: the destination is an SEV guest or has vCPUs, or the source is no SEV guest or a mirror',
    );
  src.vm.get();
  src.mirrorVms.push(mirror);
  mirror.encContextOwner = src;
  mirror.active = true;
  mirror.launch.asid = src.launch.asid;
  mirror.launch.fd = src.launch.fd;
  mirror.esActive = src.esActive;
  mirror.needInit = false;
  mirror.launch.handle = src.launch.handle;
  if (!mirror.profile.core.vmTypes && mirror.esActive) mirror.ghcbVersion = mirror.profile.ghcbVersionMax;
  mirror.vm.typeOps = mirror;
  return undefined;
}

/**
 * sev_vm_destroy for a mirror: off the owner's list, and the owner's reference dropped (the owner
 * is destroyed now if that was its last). The ASID stays the owner's.
 */
export function sevMirrorDestroy(mirror: SevEsVm): void {
  const owner = mirror.encContextOwner!;
  owner.mirrorVms.splice(owner.mirrorVms.indexOf(mirror), 1);
  mirror.encContextOwner = undefined;
  owner.vm.put();
}
