/**
 * The machine's real /dev/kvm behind the fd ABI of src/uapi/kvm-fd.ts (as an oracle for the model
 * and a second backend for the VMM): bindings (koffi, optional), `HostKvmFd` → `HostVmFd` →
 * `HostVcpuFd`, the real process's memory as a `ProcessMemory` (`HostProcessMemory`), the KVM_RUN
 * watchdog, a tiny real-mode assembler for guests, and `describeHostKvm()` behind `sevbox hostkvm`.
 */

export { type HostCpuVendor, hostCpuVendor } from './cpu-vendor.js';
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
  HostKvmFd,
  HostVcpuFd,
  HostVmFd,
  isWatchdogExpiry,
  MAX_CPUID_ROOM,
  type OpenHostKvm,
  openHostKvm,
  WatchdogExpiry,
} from './fd.js';
export { type Libc, type LibcResult, loadLibc } from './libc.js';
export { HostProcessMemory } from './process.js';
export { asm, RealModeAsm, type RealModeSize, type Reg32 } from './real-mode.js';
export {
  type FdMessage,
  loadSharedMemory,
  openPeerFd,
  SharedMemory,
  type SharedMemoryResult,
} from './shared-memory.js';
export {
  resetRealMode,
  TINY_GUEST_CODE,
  TINY_GUEST_RAM,
  type TinyGuest,
  type TinyGuestOptions,
  tinyRealModeGuest,
} from './tiny-guest.js';
export { Watchdog } from './watchdog.js';
