/** The userspace VMM: machine description in, runs out. */
export { Bus, type BusDevice, type UnclaimedAccess } from './bus.js';
export { createDebugExit, DEBUG_EXIT_PORT, type DebugExitDevice } from './devices/debug-exit.js';
export { createMmioRam, type MmioRamDevice } from './devices/mmio-ram.js';
export { createMmioRegisters, type MmioRegisterDevice } from './devices/mmio-register.js';
export { createSerial, SERIAL_COM1, type SerialDevice } from './devices/serial.js';
export { describeHvaState, diagnoseEfault } from './diagnosis.js';
export type { MsrHandler } from './dispatch.js';
export {
  formatImageFormatError,
  type ImageFormatError,
  isElfFile,
  isImageFormatError,
  parseElfImage,
} from './elf-image.js';
export { isVmmError, type VmmError } from './errors.js';
export {
  flatImage,
  GUEST_PHYS_LIMIT,
  type GuestImage,
  type GuestSegment,
  writeGuestImage,
} from './guest-image.js';
export {
  identityPageTables,
  type LongModeEntry,
  type MemoryWrite,
  setLongModeEntry,
} from './long-mode-entry.js';
export { GuestRam, type RamRegion } from './memory.js';
export { decodeSevTermination, type SevTermination } from './termination.js';
export * from './types.js';
export { DEFAULT_MAX_KVM_RUNS, type RunOptions, Vmm, type VmmOptions, type VmmVcpu } from './vmm.js';
