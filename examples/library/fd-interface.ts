/**
 * sevbox as a library, at the fd boundary: the same calls a VMM makes on /dev/kvm (one method per
 * ioctl, errors as values), on the model platform with a scripted guest. The README shows this file.
 */
import { isErrno } from '../../src/uapi/errno.js';
import { modelPlatform } from '../../src/vmm/platform.js';

// A KVM of today's kernel, the VMM process's memory, and the scripted guests its vCPUs run.
const { kvm, memory, guests } = modelPlatform({ profile: 'current' });
const vm = kvm.createVm(); // KVM_CREATE_VM: a VmFd, or an Errno
if (isErrno(vm)) throw vm;
const hva = memory.mapAnonymous(0x10000); // mmap in the VMM's address space
if (isErrno(hva)) throw hva;
const slot = vm.setUserMemoryRegion({
  slot: 0,
  flags: 0,
  guestPhysAddr: 0n,
  memorySize: 0x10000n,
  userspaceAddr: BigInt(hva),
});
if (slot) throw slot; // KVM_SET_USER_MEMORY_REGION: undefined, or the Errno (EINVAL, EEXIST...)

let loaded = 0n;
guests.load(0, {
  program: function* (cpu) {
    yield* cpu.out(0x3f8, 1, 0x41); // port I/O: KVM_EXIT_IO
    loaded = yield* cpu.load(0xd000_0000, 4); // no memslot there: KVM_EXIT_MMIO
  },
});
const vcpu = vm.createVcpu(0); // KVM_CREATE_VCPU
if (isErrno(vcpu)) throw vcpu;

const out = vcpu.run(); // KVM_RUN: the exit, decoded from the kvm_run page
console.log(out.kind === 'IoOut' ? `OUT ${out.port.toString(16)}: ${out.data[0]}` : out.kind);
const mmio = vcpu.run();
if (mmio.kind === 'MmioRead') mmio.data.set([0xef, 0xbe, 0xad, 0xde]); // the answer, into kvm_run
console.log(mmio.kind, vcpu.run().kind); // the next KVM_RUN completes the read; the guest halts
console.log(loaded.toString(16));
const regs = vcpu.getRegs(); // KVM_GET_REGS
if (!isErrno(regs)) console.log(`rip ${regs.rip.toString(16)}`);
vcpu.close();
vm.close();
