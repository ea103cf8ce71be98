/** SEV-ES: the VM type, kernel profiles and the VMGEXIT machinery's public names. */

export { KernelOops } from '../kvm/oops.js';
export { CURRENT, PREFIX, SEED, SEV_PROFILES, type SevProfile, type SevProfileName } from './profiles.js';
export { setupScratch } from './scratch.js';
export { SevEsVcpu } from './sev-es-vcpu.js';
export { type SevEsVm, type SevEsVmOptions, sevEsVmType } from './sev-es-vm.js';
export { sevDeliverSipi } from './sipi.js';
