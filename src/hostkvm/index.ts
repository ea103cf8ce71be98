/**
 * The machine's real /dev/kvm as an oracle for the model: bindings (koffi, optional), the
 * `HostKvm` → `HostVm` → `HostVcpu` wrappers shaped like src/kvm, the KVM_RUN watchdog, a tiny
 * real-mode assembler for guests, and `describeHostKvm()` behind `sevbox hostkvm`.
 */
export {
  type CapabilityAnswer,
  describeHostKvm,
  describeHostKvmData,
  detectBackend,
  formatHostKvm,
  type HostKvmBackendKind,
  type HostKvmData,
  probeMaxGpaBits,
  smokeTestHostKvm,
} from './detect.js';
export {
  DEFAULT_RUN_TIMEOUT_MS,
  HostKvm,
  HostVcpu,
  HostVm,
  KVM_REGS,
  KVM_X86_SET_MSR_FILTER,
  type OpenHostKvm,
  openHostKvm,
  WatchdogExpired,
} from './kvm.js';
export { type LibcResult, loadLibc } from './libc.js';
export { AddressHole, HostMapping } from './mapping.js';
export { asm, RealModeAsm, type RealModeSize, type Reg32 } from './real-mode.js';
export { TINY_GUEST_CODE, TINY_GUEST_RAM, type TinyGuest, tinyRealModeGuest } from './tiny-guest.js';
export { Watchdog } from './watchdog.js';
