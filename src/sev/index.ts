/** SEV-ES: the VM type, kernel profiles and the VMGEXIT machinery's public names. */

export { CURRENT, PREFIX, SEED, SEV_PROFILES, type SevProfile, type SevProfileName } from './profiles.js';
export { legacySevMemEncOp, resolveProfile, type SevEsVm, sevEsVmType, sevKvmOptions } from './sev-es-vm.js';
