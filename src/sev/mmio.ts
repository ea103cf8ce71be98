/**
 * MMIO through the GHCB (kvm_sev_es_mmio_read / _write and complete_sev_es_emulated_mmio in x86.c):
 * the data lives in the scratch area; KVM hands the access to userspace in fragments of at most
 * 8 bytes, one KVM_EXIT_MMIO each, completing each on the next KVM_RUN. No in-kernel MMIO devices
 * are modelled, so every byte goes to userspace.
 */
import { KVM_EXIT_MMIO } from '../uapi/exit-reasons.js';
import {
  KVM_RUN_OFF_MMIO_DATA,
  KVM_RUN_OFF_MMIO_IS_WRITE,
  KVM_RUN_OFF_MMIO_LEN,
  KVM_RUN_OFF_MMIO_PHYS_ADDR,
} from '../uapi/kvm-run.js';
import { setupScratch } from './scratch.js';
import type { SevEsVcpu } from './sev-es-vcpu.js';

/** The VMGEXIT_MMIO_READ / _WRITE case of sev_handle_vmgexit, after the early length checks. */
export function sevEsMmio(
  sev: SevEsVcpu,
  isWrite: boolean,
  gpa: bigint,
  len: bigint,
  scratchGpa: bigint,
): number {
  const r = setupScratch(sev, !isWrite, len, scratchGpa, (again) => sevEsMmio(sev, isWrite, gpa, len, again));
  if (r !== 0) return r;
  const bytes = Number(len);
  // In-kernel devices would claim bytes first; with none, 0 bytes (len 0) counts as all handled.
  if (bytes === 0) return 1;
  const vcpu = sev.vcpu;
  // current sets vcpu->mmio_is_write here; prefix/seed leave whatever the emulator last set.
  if (!sev.profile.mmioDirectionQuirk) vcpu.mmioIsWrite = isWrite;
  sev.mmioFragment = { gpa, len: bytes, data: sev.ghcbSa!.subarray(0, bytes) };
  const run = vcpu.runArea;
  // kvm_sev_es_mmio_read / _write (kvm_sev_es_mmio today) set phys_addr, len and is_write and
  // copy data for a write only: the rest of the exit union, mmio.data of a read included, keeps
  // whatever the last exit or userspace left there.
  run.exitReason = KVM_EXIT_MMIO;
  run.setU64(KVM_RUN_OFF_MMIO_PHYS_ADDR, gpa);
  const first = Math.min(8, bytes);
  run.setU32(KVM_RUN_OFF_MMIO_LEN, first);
  // The first exit always states the real direction and, for a write, carries the data.
  run.setU8(KVM_RUN_OFF_MMIO_IS_WRITE, isWrite ? 1 : 0);
  if (isWrite) run.bytes.set(sev.mmioFragment.data.subarray(0, first), KVM_RUN_OFF_MMIO_DATA);
  vcpu.completeUserspaceIo = () => completeSevEsEmulatedMmio(sev);
  return 0;
}

/** complete_sev_es_emulated_mmio: take the answered fragment, then exit for the next or resume. */
function completeSevEsEmulatedMmio(sev: SevEsVcpu): number {
  const vcpu = sev.vcpu;
  const run = vcpu.runArea;
  const frag = sev.mmioFragment!;
  const len = Math.min(8, frag.len);
  // Uses vcpu->mmio_is_write, not the direction of this request: the prefix/seed quirk.
  if (!vcpu.mmioIsWrite)
    frag.data.set(run.bytes.subarray(KVM_RUN_OFF_MMIO_DATA, KVM_RUN_OFF_MMIO_DATA + len));
  if (frag.len <= 8) {
    sev.mmioFragment = undefined;
    // RIP was advanced by the VMGEXIT itself; the guest just resumes.
    return 1;
  }
  frag.data = frag.data.subarray(len);
  frag.gpa += BigInt(len);
  frag.len -= len;
  // As on the first exit, mmio.data is only written for a write (the seed quirk's is_write=0
  // follow-up of a write leaves it as it was).
  run.exitReason = KVM_EXIT_MMIO;
  run.setU64(KVM_RUN_OFF_MMIO_PHYS_ADDR, frag.gpa);
  const next = Math.min(8, frag.len);
  run.setU32(KVM_RUN_OFF_MMIO_LEN, next);
  run.setU8(KVM_RUN_OFF_MMIO_IS_WRITE, vcpu.mmioIsWrite ? 1 : 0);
  if (vcpu.mmioIsWrite) run.bytes.set(frag.data.subarray(0, next), KVM_RUN_OFF_MMIO_DATA);
  vcpu.completeUserspaceIo = () => completeSevEsEmulatedMmio(sev);
  return 0;
}
