/**
 * Machine code on the model: the x86 interpreter as the vCPU, a flat image of examples/guests/
 * loaded into a memslot as a VMM loads it, and the VMM's exit loop answering port I/O. The README
 * shows this file.
 */
import { readFileSync } from 'node:fs';
import { isErrno } from '../../src/uapi/errno.js';
import { flatImage, GuestRam, writeGuestImage } from '../../src/vmm/index.js';
import { modelPlatform } from '../../src/vmm/platform.js';

const { kvm, memory } = modelPlatform({ cpu: 'x86' }); // the interpreter behind VMRUN
const vm = kvm.createVm();
if (isErrno(vm)) throw vm;
const ram = new GuestRam(memory); // the VMM's RAM book: memslots over anonymous memory
const added = ram.add(vm, 0, { gpa: 0, size: 0xa0000 });
if (added) throw new Error(added.message);
const image = flatImage(readFileSync(new URL('../guests/build/real-mode.bin', import.meta.url)), 0x1000);
if (isErrno(image)) throw image;
const written = writeGuestImage(ram, image);
if (written) throw new Error(written.message);
const vcpu = vm.createVcpu(0);
if (isErrno(vcpu)) throw vcpu;
// Flat real mode at the image's start: CS = 0 and RIP = 0x1000 instead of the RESET state.
const sregs = vcpu.getSregs();
if (isErrno(sregs)) throw sregs;
vcpu.setSregs({ ...sregs, cs: { ...sregs.cs, selector: 0, base: 0n } });
const regs = vcpu.getRegs();
if (isErrno(regs)) throw regs;
vcpu.setRegs({ ...regs, rip: 0x1000n });

let text = '';
for (;;) {
  const exit = vcpu.run(); // KVM_RUN
  if (exit.kind === 'IoOut' && exit.port === 0x3f8) text += String.fromCharCode(exit.data[0]!);
  else if (exit.kind === 'IoIn')
    exit.data[0] = 0x60; // COM1 line status: ready
  else break;
}
console.log(JSON.stringify(text));
