/**
 * SEV and SEV-ES VMs (struct kvm_sev_info) and how they come to be, per kernel:
 * - 6.10+ (`current`): KVM_CREATE_VM(KVM_X86_SEV_VM or KVM_X86_SEV_ES_VM), then
 *   KVM_MEMORY_ENCRYPT_OP(KVM_SEV_INIT2) with struct kvm_sev_init (ghcb_version for SEV-ES: 0 = the
 *   default, 2; plain SEV takes no GHCB version and no VMSA feature). Until then KVM_RUN fails with
 *   EINVAL (sev->need_init). KVM_X86_SEV_ES_VM has protected state from creation.
 * - every profile (v5.17 `prefix`, `seed`, and the legacy path kept since): KVM_CREATE_VM(0), then
 *   KVM_SEV_INIT (plain SEV) or KVM_SEV_ES_INIT (GHCB version 1). Such a VM has no has_protected_state.
 * Any init must come before the first vCPU, whose SEV state it decides. A plain SEV guest's memory
 * is encrypted under its ASID (min_sev_asid..max_sev_asid) but its registers are KVM's: the VMCB
 * enables SEV without SEV-ES, intercepts stay as for any guest, register ioctls keep working.
 *
 * `sevKvmOptions(profile)` gives a model Kvm both paths for one kernel profile, and the host's SEV
 * side (its firmware, src/psp). The launch commands are KVM's handlers in launch.ts (LAUNCH_START,
 * LAUNCH_UPDATE_DATA, LAUNCH_UPDATE_VMSA, LAUNCH_MEASURE, LAUNCH_SECRET, LAUNCH_FINISH,
 * GUEST_STATUS, DBG_DECRYPT and DBG_ENCRYPT), the region ioctls in enc-region.ts, intra-host
 * migration and mirror VMs (KVM_CAP_VM_MOVE/COPY_ENC_CONTEXT_FROM) in migrate.ts; the SEND/RECEIVE
 * migration commands are not modelled yet: on an SEV guest they fail with EINVAL (before init with
 * ENOTTY, as the kernel's sev_guest() check answers).
 */

import type { CpuFactory, KvmOptions } from '../kvm/kvm.js';
import type { Vcpu } from '../kvm/vcpu.js';
import type { Vm } from '../kvm/vm.js';
import type { VcpuTypeOps, VmTypeOps, VmTypeProvider } from '../kvm/vm-type.js';
import { KVM_X86_DEFAULT_VM, KVM_X86_SEV_ES_VM, KVM_X86_SEV_VM } from '../uapi/caps.js';
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
  type KvmEncRegion,
  type KvmSevCmd,
  type KvmSevInit,
  SevCmdErrno,
} from '../uapi/sev-cmd.js';
import {
  type EncRegion,
  type EncRegionContext,
  sevMemEncRegisterRegion,
  sevMemEncUnregisterRegion,
  unregisterAllEncRegions,
} from './enc-region.js';
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
import { sevMirrorDestroy, sevVmCopyEncContextFrom, sevVmMoveEncContextFrom } from './migrate.js';
import { SEV_PROFILES, type SevProfile, type SevProfileName } from './profiles.js';
import { type SevboxCaps, sevboxEnableCap } from './restart.js';
import { GHCB_SNAPSHOT_SIZE, SevEsVcpu } from './sev-es-vcpu.js';

/** struct kvm_sev_info: an SEV or SEV-ES VM (plain SEV has ghcbVersion 0 and no GHCB). */
export interface SevEsVm extends VmTypeOps {
  readonly vm: Vm;
  readonly profile: SevProfile;
  /** sev->active: KVM_SEV_INIT, KVM_SEV_ES_INIT or KVM_SEV_INIT2 succeeded (sev_guest()). */
  active: boolean;
  /** sev->es_active (sev_es_guest()). */
  esActive: boolean;
  /** sev->need_init: a VM of an SEV type before KVM_SEV_INIT2 (its vCPUs may not run). */
  needInit: boolean;
  /** The GHCB protocol version the VM was initialised with (0 before init, and for plain SEV). */
  ghcbVersion: number;
  /** VM-wide AP jump table address (VMGEXIT_AP_JUMP_TABLE). */
  apJumpTable: bigint;
  /** The sevbox capabilities enabled with KVM_ENABLE_CAP (restart.ts; both off by default). */
  readonly sevbox: SevboxCaps;
  /** The host's SEV side (firmware, ASIDs). */
  readonly host: SevHost;
  /** The launch part of kvm_sev_info (handle, saved /dev/sev fd, policy, ASID). */
  readonly launch: SevLaunchInfo;
  /** sev->regions_list (KVM_MEMORY_ENCRYPT_REG_REGION). */
  readonly regions: EncRegion[];
  /** sev->enc_context_owner: the VM whose context this mirror VM shares (holding a reference on it). */
  encContextOwner: SevEsVm | undefined;
  /** sev->mirror_vms: the VMs mirroring this one's context. */
  readonly mirrorVms: SevEsVm[];
}

/** Every kvm_sev_info sevState made, so a VM's typeOps can be told to be one. */
const SEV_STATES = new WeakSet<object>();

/** A profile by name, or itself. */
export function resolveProfile(p: SevProfileName | SevProfile | undefined): SevProfile {
  if (p === undefined) return SEV_PROFILES.current;
  return typeof p === 'string' ? SEV_PROFILES[p] : p;
}

const EINVAL = 22;

/** KVM_X86_SEV_VMSA_FEATURES KVM accepts in KVM_SEV_INIT2 (none of SEV-ES's optional features are modelled). */
const SUPPORTED_VMSA_FEATURES = 0n;

/**
 * The kvm_sev_info of a VM of type `vmType` (sev_vm_init): an SEV type needs KVM_SEV_INIT2
 * (need_init), and KVM_X86_SEV_ES_VM has protected state from creation; a KVM_X86_DEFAULT_VM's is
 * inactive until a legacy init (sevGuestInit) runs on it.
 */
function sevState(vm: Vm, profile: SevProfile, host: SevHost, vmType: number): SevEsVm {
  const state: SevEsVm = {
    vm,
    profile,
    active: false,
    esActive: false,
    needInit: vmType !== KVM_X86_DEFAULT_VM,
    ghcbVersion: 0,
    apJumpTable: 0n,
    sevbox: { faultInfo: false, restart: false },
    host,
    launch: { handle: 0, fd: 0, policy: 0, asid: 0, pagesLocked: 0 },
    regions: [],
    encContextOwner: undefined,
    mirrorVms: [],
    protectedState: vmType === KVM_X86_SEV_ES_VM,
    get sevEs(): boolean {
      return state.esActive;
    },
    enableCap(cap: number, args: readonly bigint[]): Errno | undefined {
      if (!state.esActive) return new Errno('EINVAL', `KVM_ENABLE_CAP ${cap}: not an SEV-ES VM yet`);
      return sevboxEnableCap(state.sevbox, cap, args);
    },
    memEncOp(cmd: KvmSevCmd): Errno | KvmSevCmd {
      return sevMemEncOp(state, cmd);
    },
    memEncRegisterRegion(range: KvmEncRegion): Errno | undefined {
      // A mirror is not responsible for the context's memory (after the sev_guest check).
      if (state.active && state.encContextOwner)
        return new Errno('EINVAL', 'KVM_MEMORY_ENCRYPT_REG_REGION on a mirror VM');
      return sevMemEncRegisterRegion(regionContext(state), range);
    },
    memEncUnregisterRegion(range: KvmEncRegion): Errno | undefined {
      // Before the sev_guest check here.
      if (state.encContextOwner) return new Errno('EINVAL', 'KVM_MEMORY_ENCRYPT_UNREG_REGION on a mirror VM');
      return sevMemEncUnregisterRegion(regionContext(state), range);
    },
    destroy(): void {
      if (!state.active) return;
      // A mirror drops its owner and leaves the ASID to it.
      if (state.encContextOwner) {
        sevMirrorDestroy(state);
        return;
      }
      // sev_vm_destroy: unpin the regions left, sev_unbind_asid (DEACTIVATE, DECOMMISSION), sev_asid_free.
      unregisterAllEncRegions(regionContext(state));
      if (state.launch.handle) sevUnbindAsid(host, state.launch.handle);
      if (state.launch.asid) host.asids.delete(state.launch.asid);
    },
    vcpuPreRun(): number {
      // svm_vcpu_pre_run: an SEV VM type's vCPUs do not run until KVM_SEV_INIT2 (need_init).
      return state.needInit ? -EINVAL : 1;
    },
    initVmcb(vcpu: Vcpu): void {
      if (!state.active) return;
      sevInitVmcb(vcpu, state.esActive);
      // pre_sev_run puts the VM's ASID in the VMCB before every VMRUN; it never changes here.
      vcpu.vmcb.asid = state.launch.asid;
    },
    recalcMsrIntercepts(vcpu: Vcpu): void {
      if (state.esActive) sevEsRecalcMsrIntercepts(vcpu);
    },
    createVcpu(vcpu: Vcpu): VcpuTypeOps {
      if (!state.esActive) return {};
      // On vCPU RESET KVM presets the GHCB MSR to the SEV_INFO response.
      vcpu.vmcb.ghcbGpa = ghcbMsrSevInfo(state.ghcbVersion, GHCB_VERSION_MIN, DEFAULT_CBIT);
      return new SevEsVcpu(vcpu, state, new GhcbAccess(new Uint8Array(GHCB_SNAPSHOT_SIZE)));
    },
  };
  SEV_STATES.add(state);
  return state;
}

/** The VM's kvm_sev_info: its VM type's, or (a VM that never was an SEV guest) a fresh inactive one, not installed. */
function sevInfo(vm: Vm, profile: SevProfile, host: SevHost): SevEsVm {
  return SEV_STATES.has(vm.typeOps) ? (vm.typeOps as SevEsVm) : sevState(vm, profile, host, vm.type);
}

/** What the region commands see of kvm_sev_info. */
function regionContext(state: SevEsVm): EncRegionContext {
  const { vm, host, launch: sev, regions, active } = state;
  return { vm, host, sev, regions, active };
}

/**
 * __sev_guest_init (6.10+), for the VM type `vmType` (KVM_X86_SEV_VM: plain SEV): EINVAL once vCPUs
 * exist, for flags, for VMSA features beyond what the type allows (none for plain SEV), for a GHCB
 * version above the kernel's or any for plain SEV, and for a VM already initialised (v5.17's
 * sev_guest_init: EBUSY, its only other check being the vCPUs); then the ASID (sev_asid_new:
 * ENOTTY, EBUSY). SEV-ES gets the GHCB version asked for, or the profile's default.
 */
function sevGuestInit(state: SevEsVm, init: KvmSevInit, vmType: number): Errno | undefined {
  const es = vmType !== KVM_X86_SEV_VM;
  if (state.vm.vcpus.size > 0) return new Errno('EINVAL', 'SEV init after KVM_CREATE_VCPU');
  if (init.flags) return new Errno('EINVAL', 'KVM_SEV_INIT2: flags');
  const validFeatures = es ? SUPPORTED_VMSA_FEATURES : 0n;
  if (init.vmsaFeatures & ~validFeatures) return new Errno('EINVAL', 'KVM_SEV_INIT2: vmsa_features');
  if (init.ghcbVersion > state.profile.ghcbVersionMax || (!es && init.ghcbVersion))
    return new Errno(
      'EINVAL',
      `KVM_SEV_INIT2: GHCB version ${init.ghcbVersion} (max ${es ? state.profile.ghcbVersionMax : 0})`,
    );
  if (state.active) return new Errno(state.profile.reinitErrno, 'SEV init: the VM is an SEV guest already');
  const asid = sevAsidNew(state.host, es);
  if (asid instanceof Errno) return asid;
  state.active = true;
  state.esActive = es;
  state.ghcbVersion = es ? init.ghcbVersion || state.profile.ghcbVersionDefault : 0;
  state.launch.asid = asid;
  state.needInit = false;
  return undefined;
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
  // Only the enc_context_owner handles the rest (is_cmd_allowed_from_mirror); nothing copied back.
  if (state.encContextOwner && !MIRROR_COMMANDS.has(cmd.id))
    return new Errno('EINVAL', `KVM_MEMORY_ENCRYPT_OP ${cmd.id} on a mirror VM`);
  const unknown = unknownCommand(state.profile, cmd);
  if (unknown) return unknown;
  const argp = { ...cmd };
  return copyBack(argp, sevMemEncCmd(state, argp));
}

/** is_cmd_allowed_from_mirror: SEV-ES mirrors encrypt their own VMSAs; status and debugging work. */
const MIRROR_COMMANDS: ReadonlySet<number> = new Set([
  KVM_SEV_LAUNCH_UPDATE_VMSA,
  KVM_SEV_GUEST_STATUS,
  KVM_SEV_DBG_DECRYPT,
  KVM_SEV_DBG_ENCRYPT,
]);

/** The switch of sev_mem_enc_ioctl: a known command's handler, undefined for success. */
function sevMemEncCmd(state: SevEsVm, cmd: KvmSevCmd): Errno | undefined {
  const vm = state.vm;
  const ctx: SevCmdContext = { vm, host: state.host, sev: state.launch, argp: cmd };
  const active = state.active;
  switch (cmd.id) {
    case KVM_SEV_LAUNCH_START:
      return sevLaunchStart(ctx, active);
    case KVM_SEV_LAUNCH_UPDATE_DATA:
      return sevLaunchUpdateData(ctx, active);
    case KVM_SEV_LAUNCH_UPDATE_VMSA:
      // sev_launch_update_vmsa: ENOTTY unless sev_es_guest().
      return sevLaunchUpdateVmsa(ctx, state.esActive, {
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
      // sev_guest_init (6.10+): the legacy inits are for KVM_X86_DEFAULT_VM only.
      if (state.profile.core.vmTypes && vm.type !== KVM_X86_DEFAULT_VM)
        return new Errno('EINVAL', 'KVM_SEV_INIT/KVM_SEV_ES_INIT on a VM with a type');
      return sevGuestInit(
        state,
        LEGACY_INIT(cmd.id),
        cmd.id === KVM_SEV_INIT ? KVM_X86_SEV_VM : KVM_X86_SEV_ES_VM,
      );
    case KVM_SEV_INIT2: {
      // sev_guest_init2: need_init, then copy_from_user, then __sev_guest_init's checks.
      if (!state.needInit)
        return new Errno('EINVAL', 'KVM_SEV_INIT2: already initialised, or no SEV VM type');
      const init = readSevInit(vm, cmd.data);
      if (init instanceof Errno) return init;
      return sevGuestInit(state, init, vm.type);
    }
    default:
      // Every other command starts with sev_guest(): an SEV VM type before KVM_SEV_INIT2 is none.
      if (!state.active)
        return new Errno('ENOTTY', `KVM_MEMORY_ENCRYPT_OP ${cmd.id} on a VM that is no SEV guest yet`);
      return new Errno('EINVAL', `KVM_MEMORY_ENCRYPT_OP command ${cmd.id} is not modelled yet`);
  }
}

/**
 * sev_guest_init's struct kvm_sev_init for the legacy commands: nothing asked for; KVM_SEV_ES_INIT
 * gets GHCB_VERSION_MIN (it "will continue to only ever support the minimal GHCB protocol version").
 */
function LEGACY_INIT(id: number): KvmSevInit {
  return { vmsaFeatures: 0n, flags: 0, ghcbVersion: id === KVM_SEV_ES_INIT ? GHCB_VERSION_MIN : 0 };
}

/** KVM_X86_SEV_VM for one kernel profile (6.10+ only: v5.17 has no VM types). */
export function sevVmType(profile: SevProfile, host: SevHost): VmTypeProvider {
  return { type: KVM_X86_SEV_VM, init: (vm) => sevState(vm, profile, host, KVM_X86_SEV_VM) };
}

/** KVM_X86_SEV_ES_VM for one kernel profile (6.10+ only: v5.17 has no VM types). */
export function sevEsVmType(profile: SevProfile, host: SevHost): VmTypeProvider {
  return { type: KVM_X86_SEV_ES_VM, init: (vm) => sevState(vm, profile, host, KVM_X86_SEV_ES_VM) };
}

/**
 * sev_mem_enc_ioctl on a KVM_X86_DEFAULT_VM: KVM_SEV_INIT makes it a plain SEV VM, KVM_SEV_ES_INIT
 * an SEV-ES VM (GHCB version 1, the only one ES_INIT offers); KVM_SEV_INIT2 is EINVAL (no
 * need_init); everything else is ENOTTY on a VM that is no SEV guest (EINVAL for an unknown
 * command). A failed init leaves the VM as it was.
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
    if (cmd.id !== KVM_SEV_ES_INIT && cmd.id !== KVM_SEV_INIT)
      return copyBack(
        argp,
        new Errno('ENOTTY', `KVM_MEMORY_ENCRYPT_OP ${cmd.id} on a VM that is no SEV guest`),
      );
    const state = sevState(vm, profile, host, KVM_X86_DEFAULT_VM);
    const r = sevGuestInit(
      state,
      LEGACY_INIT(cmd.id),
      cmd.id === KVM_SEV_INIT ? KVM_X86_SEV_VM : KVM_X86_SEV_ES_VM,
    );
    if (!r) vm.typeOps = state;
    return copyBack(argp, r);
  };
}

/**
 * What a model Kvm needs to be `profile`'s kernel with SEV-ES: its core, the VM type, the legacy
 * init; and `sevHost`, the host's SEV side they share (a new firmware unless `host` is given).
 */
export function sevKvmOptions(
  profile: SevProfileName | SevProfile,
  host: SevHost = newSevHost(),
): Required<
  Pick<KvmOptions, 'core' | 'vmTypes' | 'memEncOp' | 'vmMoveEncContextFrom' | 'vmCopyEncContextFrom'>
> &
  Pick<KvmOptions, 'devGetAttr'> & { readonly sevHost: SevHost } {
  const p = resolveProfile(profile);
  return {
    core: p.core,
    vmTypes: p.core.vmTypes ? [sevVmType(p, host), sevEsVmType(p, host)] : [],
    memEncOp: legacySevMemEncOp(p, host),
    vmMoveEncContextFrom: (dst: Vm, src: Vm, cpus: CpuFactory) =>
      sevVmMoveEncContextFrom(sevInfo(dst, p, host), sevInfo(src, p, host), cpus),
    vmCopyEncContextFrom: (dst: Vm, src: Vm) =>
      sevVmCopyEncContextFrom(sevInfo(dst, p, host), sevInfo(src, p, host)),
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
