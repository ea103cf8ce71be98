/**
 * A scenario's machine-code guest (`guest.image`): read the image file (an ELF, or a flat binary at
 * a GPA), write it into guest RAM through the VMM's own mappings as a VMM loader does, and give the
 * vCPU its entry state with KVM_SET_SREGS/KVM_SET_REGS. Every failure is a message for the report,
 * never a throw.
 */
import { Errno } from '../uapi/errno.js';
import type { VcpuFd } from '../uapi/kvm-fd.js';
import { entryRegs } from '../uapi/regs.js';
import { flatRealModeSregs } from '../uapi/sregs.js';
import { formatImageFormatError, isElfFile, isImageFormatError, parseElfImage } from '../vmm/elf-image.js';
import { flatImage, type GuestImage, writeGuestImage } from '../vmm/guest-image.js';
import type { Vmm } from '../vmm/vmm.js';
import { formatInputFileError, IMAGE_FILE_LIMIT, isInputFileError, readInputFile } from './input-file.js';
import type { ImageGuest } from './schema.js';

/** Read and parse the image: an ELF by its magic, else a flat binary at `image.gpa`. */
export function readGuestImage(g: ImageGuest): GuestImage | string {
  const file = g.image.file;
  const bytes = readInputFile(file, { limit: IMAGE_FILE_LIMIT, what: 'guest image' });
  if (isInputFileError(bytes)) return formatInputFileError(bytes);
  if (isElfFile(bytes)) {
    const elf = parseElfImage(bytes);
    return isImageFormatError(elf) ? formatImageFormatError(elf, file) : elf;
  }
  if (g.image.gpa === undefined) return `${file} is not an ELF file: a flat binary needs guest.image.gpa`;
  const flat = flatImage(bytes, g.image.gpa);
  return flat instanceof Errno ? `${file}: ${flat.errno}: ${flat.detail ?? ''}` : flat;
}

/** Put the image into guest RAM and `vcpu` at its entry; a message when something is refused. */
export function loadImageGuest(vmm: Vmm, g: ImageGuest, image: GuestImage, vcpu: VcpuFd): string | undefined {
  const w = writeGuestImage(vmm.ram, image);
  if (w) return `loading ${g.image.file}: ${w.errno}: ${w.message}`;
  // An SEV-ES guest's image is measured and encrypted at launch, as a VMM does with firmware.
  if (vmm.config.sev)
    for (const seg of image.segments) {
      const m = vmm.measure(seg.gpa, seg.memsz);
      if (m) return `measuring ${g.image.file}: ${m.errno}: ${m.message}`;
    }
  const e = g.entry;
  if (e.mode === 'reset') return undefined; // KVM_CREATE_VCPU left the vCPU in the RESET state
  const rip = e.rip ?? image.entry;
  if (rip === undefined) return `guest.entry: ${g.image.file} names no entry point: give entry.rip`;
  const rsp = e.rsp ?? 0n;
  if (e.mode === 'real-flat') {
    const sregs = vcpu.getSregs();
    if (sregs instanceof Errno) return `KVM_GET_SREGS: ${sregs.errno}`;
    const r = vcpu.setSregs(flatRealModeSregs(sregs));
    if (r instanceof Errno) return `KVM_SET_SREGS: ${r.errno}`;
    const set = vcpu.setRegs({ ...entryRegs(BigInt(rip), rsp), ...e.regs });
    return set instanceof Errno ? `KVM_SET_REGS: ${set.errno}` : undefined;
  }
  // Long mode: the VMM set the segments, paging and EFER at KVM_CREATE_VCPU (machine boot long-mode).
  const regs = vcpu.getRegs();
  if (regs instanceof Errno) return `KVM_GET_REGS: ${regs.errno}`;
  const r = vcpu.setRegs({ ...regs, rip: BigInt(rip), rsp, rflags: 2n, ...e.regs });
  return r instanceof Errno ? `KVM_SET_REGS: ${r.errno}${r.detail ? `: ${r.detail}` : ''}` : undefined;
}
