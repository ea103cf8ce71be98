/**
 * The KVM_X86_SEV_ES_VM type: per-VM SEV-ES state (kernel profile, GHCB protocol version, AP jump
 * table) and the hooks that give each vCPU its SEV-ES state. Register with
 * `new Kvm({ vmTypes: [sevEsVmType] })`, then `kvm.createVm(KVM_X86_SEV_ES_VM, { profile, ghcbVersion })`.
 */

import { DEFAULT_CBIT } from '../kvm/cpuid.js';
import type { Vcpu } from '../kvm/vcpu.js';
import type { Vm } from '../kvm/vm.js';
import type { VmTypeOps, VmTypeProvider } from '../kvm/vm-type.js';
import { KVM_X86_SEV_ES_VM } from '../uapi/caps.js';
import { GHCB_VERSION_MIN, ghcbMsrSevInfo } from '../uapi/ghcb.js';
import { KvmError } from '../uapi/kvm-error.js';
import { GhcbAccess } from './ghcb-access.js';
import { SEV_PROFILES, type SevProfile, type SevProfileName } from './profiles.js';
import { type SevboxCaps, sevboxEnableCap } from './restart.js';
import { GHCB_SNAPSHOT_SIZE, SevEsVcpu } from './sev-es-vcpu.js';

/** What KVM_SEV_ES_INIT / KVM_SEV_INIT2 decide, plus which kernel to be. */
export interface SevEsVmOptions {
  /** Kernel profile (default `current`). */
  profile?: SevProfileName | SevProfile;
  /** GHCB protocol version (KVM_SEV_INIT2's ghcb_version; 0 or absent = the profile's default). */
  ghcbVersion?: number;
}

/** struct kvm_sev_info, the part SEV-ES uses. */
export interface SevEsVm extends VmTypeOps {
  readonly vm: Vm;
  readonly profile: SevProfile;
  readonly ghcbVersion: number;
  /** VM-wide AP jump table address (VMGEXIT_AP_JUMP_TABLE). */
  apJumpTable: bigint;
  /** The sevbox capabilities enabled with KVM_ENABLE_CAP (restart.ts; both off by default). */
  readonly sevbox: SevboxCaps;
}

function resolveProfile(p: SevProfileName | SevProfile | undefined): SevProfile {
  if (p === undefined) return SEV_PROFILES.current;
  if (typeof p !== 'string') return p;
  const found = SEV_PROFILES[p];
  if (!found) throw new KvmError('EINVAL', `unknown SEV profile '${String(p)}'`);
  return found;
}

/** KVM_X86_SEV_ES_VM for `Kvm({ vmTypes })`. */
export const sevEsVmType: VmTypeProvider = {
  type: KVM_X86_SEV_ES_VM,
  init(vm: Vm, options?: unknown): SevEsVm {
    const opts = (options ?? {}) as SevEsVmOptions;
    const profile = resolveProfile(opts.profile);
    const requested = opts.ghcbVersion ?? 0;
    // KVM_SEV_INIT2: above GHCB_VERSION_MAX is EINVAL, 0 means the default.
    if (!Number.isInteger(requested) || requested < 0 || requested > profile.ghcbVersionMax) {
      throw new KvmError(
        'EINVAL',
        `GHCB version ${requested} (max ${profile.ghcbVersionMax} for '${profile.name}')`,
      );
    }
    const ghcbVersion = requested || profile.ghcbVersionDefault;
    const state: SevEsVm = {
      vm,
      profile,
      ghcbVersion,
      apJumpTable: 0n,
      sevbox: { faultInfo: false, restart: false },
      protectedState: true,
      core: profile.core,
      enableCap(cap: number, args: readonly bigint[]): void {
        sevboxEnableCap(state.sevbox, cap, args);
      },
      createVcpu(vcpu: Vcpu): SevEsVcpu {
        // On vCPU RESET KVM presets the GHCB MSR to the SEV_INFO response.
        vcpu.backend.ghcbMsr = ghcbMsrSevInfo(ghcbVersion, GHCB_VERSION_MIN, DEFAULT_CBIT);
        return new SevEsVcpu(vcpu, state, new GhcbAccess(new Uint8Array(GHCB_SNAPSHOT_SIZE)));
      },
    };
    return state;
  },
};
