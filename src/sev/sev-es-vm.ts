/**
 * SEV-ES VMs (struct kvm_sev_info, the part SEV-ES uses) and how they come to be, per kernel:
 * - 6.10+ (`current`): KVM_CREATE_VM(KVM_X86_SEV_ES_VM), then KVM_MEMORY_ENCRYPT_OP(KVM_SEV_INIT2)
 *   with struct kvm_sev_init (ghcb_version; 0 = the default, 2). Until then KVM_RUN fails with
 *   EINVAL (sev->need_init). The VM type has protected state from creation.
 * - v5.17 (`prefix`, `seed`) and the legacy path kept since: KVM_CREATE_VM(0), then
 *   KVM_SEV_ES_INIT (GHCB version 1). Such a VM has no has_protected_state.
 * Either init must come before the first vCPU, whose SEV-ES state it decides.
 *
 * `sevKvmOptions(profile)` gives a model Kvm both paths for one kernel profile, and the host's SEV
 * side (its firmware, src/psp). The launch commands are KVM's handlers in launch.ts (LAUNCH_START,
 * LAUNCH_UPDATE_DATA, LAUNCH_MEASURE, LAUNCH_SECRET, LAUNCH_FINISH, GUEST_STATUS, DBG_DECRYPT and
 * DBG_ENCRYPT); LAUNCH_UPDATE_VMSA and the migration commands are not modelled yet: on an SEV guest
 * they fail with EINVAL (before init with ENOTTY, as the kernel's sev_guest() check answers).
 */

import type { KvmOptions } from '../kvm/kvm.js';
import type { Vcpu } from '../kvm/vcpu.js';
import type { Vm } from '../kvm/vm.js';
import type { VcpuTypeOps, VmTypeOps, VmTypeProvider } from '../kvm/vm-type.js';
import { KVM_X86_SEV_ES_VM } from '../uapi/caps.js';
import { KVM_X86_GRP_SEV, KVM_X86_SEV_VMSA_FEATURES } from '../uapi/device-attr.js';
import { Errno } from '../uapi/errno.js';
import { DEFAULT_CBIT, GHCB_VERSION_MIN, ghcbMsrSevInfo } from '../uapi/ghcb.js';
import {
  decodeSevInit,
  KVM_SEV_DBG_DECRYPT,
  KVM_SEV_DBG_ENCRYPT,
  KVM_SEV_ES_INIT,
  KVM_SEV_GUEST_STATUS,
  KVM_SEV_INIT,
  KVM_SEV_INIT_SIZE,
  KVM_SEV_INIT2,
  KVM_SEV_LAUNCH_FINISH,
  KVM_SEV_LAUNCH_MEASURE,
  KVM_SEV_LAUNCH_SECRET,
  KVM_SEV_LAUNCH_START,
  KVM_SEV_LAUNCH_UPDATE_DATA,
  KVM_SEV_LAUNCH_UPDATE_VMSA,
  KVM_SEV_NR_MAX,
  type KvmSevCmd,
  SevCmdErrno,
} from '../uapi/sev-cmd.js';
import { GhcbAccess } from './ghcb-access.js';
import { sevEsRecalcMsrIntercepts, sevInitVmcb } from './init-vmcb.js';
import {
  newSevHost,
  type SevCmdContext,
  type SevHost,
  type SevLaunchInfo,
  sevAsidNew,
  sevDbgCrypt,
  sevGuestStatus,
  sevLaunchFinish,
  sevLaunchMeasure,
  sevLaunchSecret,
  sevLaunchStart,
  sevLaunchUpdateData,
  sevLaunchUpdateVmsa,
  sevUnbindAsid,
} from './launch.js';
import { SEV_PROFILES, type SevProfile, type SevProfileName } from './profiles.js';
import { type SevboxCaps, sevboxEnableCap } from './restart.js';
import { GHCB_SNAPSHOT_SIZE, SevEsVcpu } from './sev-es-vcpu.js';

/** struct kvm_sev_info, the part SEV-ES uses. */
export interface SevEsVm extends VmTypeOps {
  readonly vm: Vm;
  readonly profile: SevProfile;
  /** The GHCB protocol version the VM was initialised with (0 before init). */
  ghcbVersion: number;
  /** VM-wide AP jump table address (VMGEXIT_AP_JUMP_TABLE). */
  apJumpTable: bigint;
  /** The sevbox capabilities enabled with KVM_ENABLE_CAP (restart.ts; both off by default). */
  readonly sevbox: SevboxCaps;
  /** The host's SEV side (firmware, ASIDs). */
  readonly host: SevHost;
  /** The launch part of kvm_sev_info (handle, saved /dev/sev fd, policy, ASID). */
  readonly launch: SevLaunchInfo;
}

/** A profile by name, or itself. */
export function resolveProfile(p: SevProfileName | SevProfile | undefined): SevProfile {
  if (p === undefined) return SEV_PROFILES.current;
  return typeof p === 'string' ? SEV_PROFILES[p] : p;
}

const EINVAL = 22;

/** KVM_X86_SEV_VMSA_FEATURES KVM accepts in KVM_SEV_INIT2 (none of SEV-ES's optional features are modelled). */
const SUPPORTED_VMSA_FEATURES = 0n;

/**
 * The SEV-ES state of `vm`, active from the start (legacy ES_INIT) or once KVM_SEV_INIT2 succeeds.
 * `hasProtectedState`: the VM type's has_protected_state.
 */
function sevEsState(
  vm: Vm,
  profile: SevProfile,
  host: SevHost,
  hasProtectedState: boolean,
  ghcbVersion: number,
): SevEsVm {
  const state: SevEsVm = {
    vm,
    profile,
    ghcbVersion,
    apJumpTable: 0n,
    sevbox: { faultInfo: false, restart: false },
    host,
    // __sev_guest_init takes the ASID (sev_asid_new) with the init, as ES_INIT has happened here when ghcbVersion is set.
    launch: { handle: 0, fd: 0, policy: 0, asid: ghcbVersion ? sevAsidNew(host) : 0 },
    protectedState: hasProtectedState,
    get sevEs(): boolean {
      return state.ghcbVersion !== 0;
    },
    enableCap(cap: number, args: readonly bigint[]): Errno | undefined {
      if (!state.sevEs) return new Errno('EINVAL', `KVM_ENABLE_CAP ${cap}: not an SEV-ES VM yet`);
      return sevboxEnableCap(state.sevbox, cap, args);
    },
    memEncOp(cmd: KvmSevCmd): Errno | KvmSevCmd {
      return sevMemEncOp(state, cmd);
    },
    destroy(): void {
      // sev_vm_destroy: sev_unbind_asid (DEACTIVATE, DECOMMISSION), then sev_asid_free.
      if (state.launch.handle) sevUnbindAsid(host, state.launch.handle);
      if (state.launch.asid) host.asids.delete(state.launch.asid);
    },
    vcpuPreRun(): number {
      // svm_vcpu_pre_run: a KVM_X86_SEV_ES_VM's vCPUs do not run until KVM_SEV_INIT2 (need_init).
      return state.protectedState && !state.sevEs ? -EINVAL : 1;
    },
    initVmcb(vcpu: Vcpu): void {
      if (!state.sevEs) return;
      sevInitVmcb(vcpu);
      // pre_sev_run puts the VM's ASID in the VMCB before every VMRUN; it never changes here.
      vcpu.vmcb.asid = state.launch.asid;
    },
    recalcMsrIntercepts(vcpu: Vcpu): void {
      if (state.sevEs) sevEsRecalcMsrIntercepts(vcpu);
    },
    createVcpu(vcpu: Vcpu): VcpuTypeOps {
      if (!state.sevEs) return {};
      // On vCPU RESET KVM presets the GHCB MSR to the SEV_INFO response.
      vcpu.vmcb.ghcbGpa = ghcbMsrSevInfo(state.ghcbVersion, GHCB_VERSION_MIN, DEFAULT_CBIT);
      return new SevEsVcpu(vcpu, state, new GhcbAccess(new Uint8Array(GHCB_SNAPSHOT_SIZE)));
    },
  };
  return state;
}

/** Read struct kvm_sev_init from the VMM's memory at `data` (copy_from_user): EFAULT when it cannot. */
function readSevInit(vm: Vm, data: bigint): Errno | ReturnType<typeof decodeSevInit> {
  const buf = new Uint8Array(KVM_SEV_INIT_SIZE);
  if (data === 0n || data > BigInt(Number.MAX_SAFE_INTEGER)) return new Errno('EFAULT', 'kvm_sev_init');
  const f = vm.host.read(Number(data), buf);
  if (f) return new Errno('EFAULT', 'kvm_sev_init');
  return decodeSevInit(buf);
}

/**
 * The check sev_mem_enc_ioctl starts with: an id beyond KVM_SEV_NR_MAX, or KVM_SEV_INIT2 on a
 * kernel without VM types (v5.17), is an unknown command (EINVAL); undefined otherwise.
 */
function unknownCommand(profile: SevProfile, cmd: KvmSevCmd): Errno | undefined {
  if (cmd.id >= KVM_SEV_NR_MAX || (cmd.id === KVM_SEV_INIT2 && !profile.core.vmTypes))
    return new Errno('EINVAL', `KVM_MEMORY_ENCRYPT_OP: unknown command ${cmd.id}`);
  return undefined;
}

/** KVM_SEV_INIT: plain SEV, which sevbox does not model. */
function sevInitNotModelled(): Errno {
  return new Errno('EINVAL', 'KVM_SEV_INIT (SEV without ES) is not modelled');
}

/** __sev_guest_init's first check: no vCPU may exist yet. */
function esInitAfterVcpus(): Errno {
  return new Errno('EINVAL', 'KVM_SEV_ES_INIT after KVM_CREATE_VCPU');
}

/**
 * sev_mem_enc_ioctl's end: kvm_sev_cmd is copied back after every command it knows, so a failure
 * carries the struct (`error` as the handler left it).
 */
function copyBack(argp: KvmSevCmd, r: Errno | undefined): SevCmdErrno | KvmSevCmd {
  return r ? new SevCmdErrno(r.errno, argp, r.detail) : argp;
}

/**
 * sev_mem_enc_ioctl for an SEV-ES VM: KVM_SEV_INIT2 (6.10+; EINVAL for flags, unknown VMSA
 * features, a GHCB version above the kernel's, a second init, or vCPUs already created), then the
 * launch commands of launch.ts; an unknown id is EINVAL without a copy-back.
 */
function sevMemEncOp(state: SevEsVm, cmd: KvmSevCmd): Errno | KvmSevCmd {
  const unknown = unknownCommand(state.profile, cmd);
  if (unknown) return unknown;
  const argp = { ...cmd };
  return copyBack(argp, sevMemEncCmd(state, argp));
}

/** The switch of sev_mem_enc_ioctl: a known command's handler, undefined for success. */
function sevMemEncCmd(state: SevEsVm, cmd: KvmSevCmd): Errno | undefined {
  const vm = state.vm;
  const ctx: SevCmdContext = { vm, host: state.host, sev: state.launch, argp: cmd };
  const active = state.ghcbVersion !== 0;
  switch (cmd.id) {
    case KVM_SEV_LAUNCH_START:
      return sevLaunchStart(ctx, active);
    case KVM_SEV_LAUNCH_UPDATE_DATA:
      return sevLaunchUpdateData(ctx, active);
    case KVM_SEV_LAUNCH_UPDATE_VMSA:
      return sevLaunchUpdateVmsa(ctx, active, {
        // sev->vmsa_features: 0 from ES_INIT, and INIT2 accepts none (SUPPORTED_VMSA_FEATURES).
        vmsaFeatures: 0n,
        withFpu: state.protectedState,
        resyncRefused: state.profile.vmsaResyncRefused,
      });
    case KVM_SEV_LAUNCH_MEASURE:
      return sevLaunchMeasure(ctx, active);
    case KVM_SEV_LAUNCH_SECRET:
      return sevLaunchSecret(ctx, active);
    case KVM_SEV_LAUNCH_FINISH:
      return sevLaunchFinish(ctx, active);
    case KVM_SEV_GUEST_STATUS:
      return sevGuestStatus(ctx, active);
    case KVM_SEV_DBG_DECRYPT:
    case KVM_SEV_DBG_ENCRYPT:
      return sevDbgCrypt(ctx, active, cmd.id === KVM_SEV_DBG_DECRYPT);
    case KVM_SEV_INIT:
    case KVM_SEV_ES_INIT:
      // sev_guest_init: the legacy inits are for KVM_X86_DEFAULT_VM only; then __sev_guest_init's
      // checks, vCPUs first, an active SEV VM last.
      if (state.protectedState)
        return new Errno('EINVAL', 'KVM_SEV_INIT/KVM_SEV_ES_INIT on a VM with a type');
      if (vm.vcpus.size > 0) return esInitAfterVcpus();
      if (cmd.id === KVM_SEV_INIT) return sevInitNotModelled();
      return new Errno(state.profile.reinitErrno, 'KVM_SEV_ES_INIT: the VM is an SEV guest already');
    case KVM_SEV_INIT2: {
      // sev_guest_init2: need_init, then copy_from_user, then __sev_guest_init's checks.
      if (state.sevEs || !state.protectedState)
        return new Errno('EINVAL', 'KVM_SEV_INIT2: already initialised');
      const init = readSevInit(vm, cmd.data);
      if (init instanceof Errno) return init;
      if (vm.vcpus.size > 0) return new Errno('EINVAL', 'KVM_SEV_INIT2 after KVM_CREATE_VCPU');
      if (init.flags) return new Errno('EINVAL', 'KVM_SEV_INIT2: flags');
      if (init.vmsaFeatures & ~SUPPORTED_VMSA_FEATURES)
        return new Errno('EINVAL', 'KVM_SEV_INIT2: vmsa_features');
      if (init.ghcbVersion > state.profile.ghcbVersionMax)
        return new Errno(
          'EINVAL',
          `KVM_SEV_INIT2: GHCB version ${init.ghcbVersion} (max ${state.profile.ghcbVersionMax})`,
        );
      state.ghcbVersion = init.ghcbVersion || state.profile.ghcbVersionDefault;
      state.launch.asid = sevAsidNew(state.host);
      cmd.error = 0;
      return undefined;
    }
    default:
      // Every other command starts with sev_guest(): a KVM_X86_SEV_ES_VM before KVM_SEV_INIT2 is none.
      if (!state.sevEs)
        return new Errno('ENOTTY', `KVM_MEMORY_ENCRYPT_OP ${cmd.id} on a VM that is no SEV guest yet`);
      return new Errno('EINVAL', `KVM_MEMORY_ENCRYPT_OP command ${cmd.id} is not modelled yet`);
  }
}

/** KVM_X86_SEV_ES_VM for one kernel profile (6.10+ only: v5.17 has no VM types). */
export function sevEsVmType(profile: SevProfile, host: SevHost): VmTypeProvider {
  return {
    type: KVM_X86_SEV_ES_VM,
    init: (vm) => sevEsState(vm, profile, host, true, 0),
  };
}

/**
 * sev_mem_enc_ioctl on a KVM_X86_DEFAULT_VM: KVM_SEV_ES_INIT makes it an SEV-ES VM (GHCB version 1,
 * the only one ES_INIT offers); KVM_SEV_INIT (plain SEV) is not modelled; everything else is ENOTTY
 * on a VM that is no SEV guest (EINVAL for an unknown command).
 */
export function legacySevMemEncOp(
  profile: SevProfile,
  host: SevHost,
): (vm: Vm, cmd: KvmSevCmd) => Errno | KvmSevCmd {
  return (vm, cmd) => {
    const unknown = unknownCommand(profile, cmd);
    if (unknown) return unknown;
    const argp = { ...cmd };
    if (cmd.id === KVM_SEV_INIT2)
      return copyBack(argp, new Errno('EINVAL', 'KVM_SEV_INIT2 on a KVM_X86_DEFAULT_VM'));
    if (cmd.id === KVM_SEV_INIT) return copyBack(argp, sevInitNotModelled());
    if (cmd.id !== KVM_SEV_ES_INIT)
      return copyBack(
        argp,
        new Errno('ENOTTY', `KVM_MEMORY_ENCRYPT_OP ${cmd.id} on a VM that is no SEV guest`),
      );
    if (vm.vcpus.size > 0) return copyBack(argp, esInitAfterVcpus());
    vm.typeOps = sevEsState(vm, profile, host, false, GHCB_VERSION_MIN);
    return { ...argp, error: 0 };
  };
}

/**
 * What a model Kvm needs to be `profile`'s kernel with SEV-ES: its core, the VM type, the legacy
 * init; and `sevHost`, the host's SEV side they share (a new firmware unless `host` is given).
 */
export function sevKvmOptions(
  profile: SevProfileName | SevProfile,
  host: SevHost = newSevHost(),
): Required<Pick<KvmOptions, 'core' | 'vmTypes' | 'memEncOp'>> &
  Pick<KvmOptions, 'devGetAttr'> & { readonly sevHost: SevHost } {
  const p = resolveProfile(profile);
  return {
    core: p.core,
    vmTypes: p.core.vmTypes ? [sevEsVmType(p, host)] : [],
    memEncOp: legacySevMemEncOp(p, host),
    // SVM's dev_get_attr came with KVM_SEV_INIT2 and the VM types (6.10).
    ...(p.core.vmTypes ? { devGetAttr: sevDevGetAttr } : {}),
    sevHost: host,
  };
}

/** sev_dev_get_attr (sev.c, 6.10+): KVM_X86_SEV_VMSA_FEATURES is sev_supported_vmsa_features. */
function sevDevGetAttr(group: number, attr: number): bigint | Errno {
  if (group === KVM_X86_GRP_SEV && attr === KVM_X86_SEV_VMSA_FEATURES) return SUPPORTED_VMSA_FEATURES;
  return new Errno('ENXIO', `device attribute ${group}/${attr}`);
}
