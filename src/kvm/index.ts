/**
 * The KVM model's public face: what a VMM uses. A VMM opens the model with `openKvm()` and from then
 * on sees only the fd interface of src/uapi/kvm-fd.ts, as it would on a real /dev/kvm.
 */
export type { CpuidEntry } from './cpuid.js';
export { MODEL_TSC_KHZ, ModelKvmFd, ModelVcpuFd, ModelVmFd, openKvm } from './fd.js';
export { type CpuFactory, KVM_MAX_VCPU_IDS, type KvmOptions } from './kvm.js';
export { KVM_CORE_5_17, KVM_CORE_CURRENT, type KvmCoreProfile } from './profile.js';
