/** The KVM core's public face: what a VMM uses. */

export type { CpuidEntry } from './cpuid.js';
export type { MsrExitData, VcpuExit } from './exits.js';
export type { GuestFaultCause, GuestMemoryFault } from './guest-memory.js';
export { KVM_MAX_VCPU_IDS, Kvm, type KvmOptions } from './kvm.js';
export type { MemoryRegionChange } from './memory-region.js';
export type { Memslot } from './memslots.js';
export { KVM_MSR_FILTER_READ, KVM_MSR_FILTER_WRITE, type MsrFilter } from './msr.js';
export { KVM_CORE_5_17, KVM_CORE_CURRENT, type KvmCoreProfile } from './profile.js';
export { Vcpu } from './vcpu.js';
export { Vm } from './vm.js';
