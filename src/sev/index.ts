/** SEV-ES: the VM type, kernel profiles and the VMGEXIT machinery's public names. */

/** The memory controller's encryption (src/psp), for the platform that builds one per host. */
export { MemoryController, type MemoryControllerOptions } from '../psp/memory-controller.js';
export { CURRENT, PREFIX, SEED, SEV_PROFILES, type SevProfile, type SevProfileName } from './profiles.js';
export {
  legacySevMemEncOp,
  resolveProfile,
  type SevEsVm,
  sevEsVmType,
  sevKvmOptions,
  sevVmType,
} from './sev-es-vm.js';
