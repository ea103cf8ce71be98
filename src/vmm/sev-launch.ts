/**
 * The SEV-ES launch a VMM performs, as QEMU's target/i386/sev.c does it through
 * KVM_MEMORY_ENCRYPT_OP: LAUNCH_START (policy, through the /dev/sev fd), LAUNCH_UPDATE_DATA of each
 * range to measure and encrypt (the firmware image), LAUNCH_UPDATE_VMSA (every vCPU's state, after
 * the VMM set it), LAUNCH_MEASURE (the blob a guest owner checks), LAUNCH_FINISH. Every argument
 * struct lives in the VMM's memory, where KVM copies it from, as on a real host.
 */
import type { ProcessMemory } from '../host/process.js';
import { Errno } from '../uapi/errno.js';
import type { VmFd } from '../uapi/kvm-fd.js';
import { SEV_POLICY_ES, SEV_POLICY_NODBG } from '../uapi/psp-sev.js';
import {
  encodeSevLaunchStart,
  encodeSevUaddrLen,
  KVM_SEV_LAUNCH_FINISH,
  KVM_SEV_LAUNCH_MEASURE,
  KVM_SEV_LAUNCH_START,
  KVM_SEV_LAUNCH_START_SIZE,
  KVM_SEV_LAUNCH_UPDATE_DATA,
  KVM_SEV_LAUNCH_UPDATE_VMSA,
  kvmSevCmdName,
  newContextLaunchStart,
} from '../uapi/sev-cmd.js';

const PAGE = 4096;
/** The measurement blob: HMAC (32 bytes) then MNONCE (16). */
const MEASURE_BLOB_SIZE = 48;

/** The default guest policy: SEV-ES, debugging allowed (so the debug views can decrypt). */
export const DEFAULT_SEV_ES_POLICY = SEV_POLICY_ES;
/** A production-like policy: SEV-ES with debugging refused. */
export const SEV_ES_NODBG_POLICY = SEV_POLICY_ES | SEV_POLICY_NODBG;

/** What to launch with. */
export interface SevLaunchOptions {
  /** The /dev/sev fd LAUNCH_START is issued through. */
  readonly sevFd: number;
  /** The guest policy (default DEFAULT_SEV_ES_POLICY). */
  readonly policy?: number;
  /** Host ranges to measure and encrypt, in this order (each 16-byte aligned). */
  readonly measure?: readonly { readonly hva: number; readonly len: number }[];
  /** Stop after LAUNCH_UPDATE_VMSA (no MEASURE, no FINISH): a guest owner may still inject a secret. */
  readonly stopBeforeMeasure?: boolean;
}

/** A launched guest: its firmware handle and the LAUNCH_MEASURE blob (undefined when not measured). */
export interface SevLaunchResult {
  readonly handle: number;
  readonly measurement: Uint8Array | undefined;
}

/** A launch step KVM refused: the command and its errno (with kvm_sev_cmd.error where the firmware failed). */
export interface SevLaunchError {
  readonly command: string;
  readonly errno: Errno;
}

/**
 * Launch the SEV-ES guest of `vm` (all its vCPUs created and their registers set): the result, or
 * the first command that failed.
 */
export function launchSevEs(
  vm: VmFd,
  memory: ProcessMemory,
  opts: SevLaunchOptions,
): SevLaunchResult | SevLaunchError {
  const page = memory.mapAnonymous(PAGE);
  if (page instanceof Errno) return { command: 'mmap', errno: page };
  try {
    const op = (id: number, data: bigint): Errno | undefined => {
      const r = vm.memoryEncryptOp({ id, data, error: 0, sevFd: opts.sevFd });
      return r instanceof Errno ? r : undefined;
    };
    const fail = (id: number, errno: Errno): SevLaunchError => ({ command: kvmSevCmdName(id), errno });
    const policy = opts.policy ?? DEFAULT_SEV_ES_POLICY;
    memory.write(page, encodeSevLaunchStart(newContextLaunchStart(policy)));
    let e = op(KVM_SEV_LAUNCH_START, BigInt(page));
    if (e) return fail(KVM_SEV_LAUNCH_START, e);
    const started = new Uint8Array(KVM_SEV_LAUNCH_START_SIZE);
    memory.read(page, started);
    const handle = new DataView(started.buffer).getUint32(0, true);
    for (const { hva, len } of opts.measure ?? []) {
      memory.write(page, encodeSevUaddrLen({ uaddr: BigInt(hva), len }));
      e = op(KVM_SEV_LAUNCH_UPDATE_DATA, BigInt(page));
      if (e) return fail(KVM_SEV_LAUNCH_UPDATE_DATA, e);
    }
    e = op(KVM_SEV_LAUNCH_UPDATE_VMSA, 0n);
    if (e) return fail(KVM_SEV_LAUNCH_UPDATE_VMSA, e);
    if (opts.stopBeforeMeasure) return { handle, measurement: undefined };
    // The blob goes to the second half of the page, the struct to the first.
    const blob = page + PAGE / 2;
    memory.write(page, encodeSevUaddrLen({ uaddr: BigInt(blob), len: MEASURE_BLOB_SIZE }));
    e = op(KVM_SEV_LAUNCH_MEASURE, BigInt(page));
    if (e) return fail(KVM_SEV_LAUNCH_MEASURE, e);
    const measurement = new Uint8Array(MEASURE_BLOB_SIZE);
    memory.read(blob, measurement);
    e = op(KVM_SEV_LAUNCH_FINISH, 0n);
    if (e) return fail(KVM_SEV_LAUNCH_FINISH, e);
    return { handle, measurement };
  } finally {
    memory.unmap(page, PAGE);
  }
}

/** Whether `r` is a failed launch. */
export function isSevLaunchError(r: SevLaunchResult | SevLaunchError): r is SevLaunchError {
  return 'errno' in r;
}
