/**
 * The SEV firmware (the PSP's SEV API, AMD #55766) as hardware below KVM: one per host. It holds
 * the platform's identity (API version, build), the guest contexts by handle, and runs the
 * commands KVM issues (`enum sev_cmd` in include/linux/psp-sev.h): LAUNCH_START, ACTIVATE,
 * LAUNCH_UPDATE_DATA, LAUNCH_UPDATE_VMSA, LAUNCH_MEASURE, LAUNCH_UPDATE_SECRET, LAUNCH_FINISH,
 * GUEST_STATUS, DBG_DECRYPT/ENCRYPT, DEACTIVATE, DECOMMISSION. Every result is a status code
 * (`SEV_RET_*`, uapi/psp-sev.ts), never a throw; KVM turns a non-zero one into -EIO with the code
 * in kvm_sev_cmd.error (__sev_do_cmd_locked).
 *
 * The rules and where they come from are in docs/sev-launch-rules.md (§4 states and policy, §5 the
 * measurement). Points marked [spec?] there are the model's choices here, said so where used.
 * Keys (TIK, VEK) and the measurement nonce come from the platform's seed, so two runs with the same
 * inputs give the same measurement; the real firmware draws them at random (or, for TEK/TIK, from
 * the guest owner's session blob, which the model does not unwrap).
 */
import { createHash, createHmac, type Hash } from 'node:crypto';
import {
  SEV_GSTATE_LSECRET,
  SEV_GSTATE_LUPDATE,
  SEV_GSTATE_RUNNING,
  SEV_POLICY_API_MAJOR_SHIFT,
  SEV_POLICY_API_MINOR_SHIFT,
  SEV_POLICY_ES,
  SEV_POLICY_NODBG,
  SEV_POLICY_NOKS,
  SEV_RET_ACTIVE,
  SEV_RET_ASID_OWNED,
  SEV_RET_INACTIVE,
  SEV_RET_INVALID_ADDRESS,
  SEV_RET_INVALID_ASID,
  SEV_RET_INVALID_GUEST,
  SEV_RET_INVALID_GUEST_STATE,
  SEV_RET_INVALID_LEN,
  SEV_RET_POLICY_FAILURE,
  SEV_RET_SUCCESS,
} from '../uapi/psp-sev.js';
import { type MemoryCrypt, type PhysRange, PLAINTEXT_ENGINE } from './engine.js';
import type { MemoryController } from './memory-controller.js';

/** sizeof(SEV_MEASURE_BUF): measurement[32] (HMAC-SHA-256) then mnonce[16]. */
export const SEV_MEASURE_BLOB_SIZE = 48;
/** The measurement's HMAC part. */
const MEASURE_SIZE = 32;
/** MNONCE's size. */
export const SEV_MNONCE_SIZE = 16;
/** A VMSA page, the unit LAUNCH_UPDATE_VMSA encrypts and measures. */
export const SEV_VMSA_SIZE = 4096;
/** PLATFORM_STATUS flags: SEV-ES is initialised in the platform (uapi psp-sev.h SEV_STATUS_FLAGS_CONFIG_ES). */
export const SEV_STATUS_FLAGS_CONFIG_ES = 0x0100;
/** Policy bits 6-15 are reserved and must be zero [spec?]. */
const SEV_POLICY_RESERVED = 0xffc0;
/** The firmware's memory operands are 16-byte aligned (one AES block) [spec?]. */
const ALIGN = 16;

/** What PLATFORM_STATUS tells (and what enters every measurement). */
export interface SevPlatformStatus {
  readonly apiMajor: number;
  readonly apiMinor: number;
  readonly build: number;
  /** SEV_STATUS_FLAGS_* (the model's platform always has SEV-ES initialised). */
  readonly flags: number;
  /** Guest contexts in existence. */
  readonly guestCount: number;
}

/** Options of {@link SevFirmware}. */
export interface SevFirmwareOptions {
  /** Where the keys and nonces come from (default: the empty seed). */
  readonly seed?: Uint8Array | string;
  /** The API version and build the firmware reports (default 1.55, build 21: a Milan-era firmware). */
  readonly apiMajor?: number;
  readonly apiMinor?: number;
  readonly build?: number;
  /** One TIK for every guest, as the QEMU sev-emulated series configures it (default: derived per handle from the seed). */
  readonly tik?: Uint8Array;
  /**
   * The memory-encryption engine (default: the memory controller's when one is given, else none,
   * bytes stay plaintext). With a controller it must be the controller's engine (or absent).
   */
  readonly engine?: MemoryCrypt;
  /**
   * The platform's memory controller: ACTIVATE loads the guest's key into the ASID's slot,
   * DEACTIVATE clears it (default: none, nothing to load keys into).
   */
  readonly memory?: MemoryController;
  /**
   * ASIDs 1..asidCount exist (default 509, the model CPU's CPUID 0x8000001F ECX: max_sev_asid).
   * The model does not split SEV from SEV-ES ASIDs here; KVM does (sev_asid_new).
   */
  readonly asidCount?: number;
}

/** A guest context (GCTX): what the firmware keeps per handle. */
interface GuestContext {
  readonly handle: number;
  readonly policy: number;
  /** GSTATE (SEV_GSTATE_*). */
  state: number;
  /** The ASID it is activated on (0: inactive). */
  asid: number;
  /** GCTX.LD: the running launch digest. */
  readonly digest: Hash;
  /** The transport integrity key: the measurement's HMAC key. */
  readonly tik: Uint8Array;
  /** The VM encryption key (shared by the guests LAUNCH_START joined with a handle). */
  readonly vek: Uint8Array;
}

/** GUEST_STATUS's answer. */
export interface SevGuestStatus {
  readonly status: number;
  readonly handle: number;
  readonly policy: number;
  readonly asid: number;
  readonly state: number;
}

/** The inputs of the launch measurement (SEV API LAUNCH_MEASURE; docs/sev-launch-rules.md §5.1). */
export interface SevMeasurementInputs {
  readonly tik: Uint8Array;
  readonly apiMajor: number;
  readonly apiMinor: number;
  readonly build: number;
  readonly policy: number;
  /** GCTX.LD, the SHA-256 of everything measured. */
  readonly digest: Uint8Array;
  readonly mnonce: Uint8Array;
}

/**
 * MEASURE = HMAC-SHA-256(TIK, 0x04 ‖ API_MAJOR ‖ API_MINOR ‖ BUILD ‖ POLICY (u32 LE) ‖ LD ‖ MNONCE),
 * as sevctl's measurement.rs checks it: a guest owner who knows the TIK recomputes it this way.
 */
export function sevLaunchMeasurement(m: SevMeasurementInputs): Uint8Array {
  const head = new Uint8Array(8);
  head[0] = 0x04;
  head[1] = m.apiMajor;
  head[2] = m.apiMinor;
  head[3] = m.build;
  new DataView(head.buffer).setUint32(4, m.policy >>> 0, true);
  return new Uint8Array(createHmac('sha256', m.tik).update(head).update(m.digest).update(m.mnonce).digest());
}

const u32le = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
};

const aligned = (n: number): boolean => n % ALIGN === 0;

/** The SEV firmware of one host. */
export class SevFirmware {
  readonly #seed: Uint8Array;
  readonly #api: { major: number; minor: number; build: number };
  readonly #tik: Uint8Array | undefined;
  readonly #engine: MemoryCrypt;
  readonly #memory: MemoryController | undefined;
  readonly #asidCount: number;
  readonly #guests = new Map<number, GuestContext>();
  #nextHandle = 1;
  /** LAUNCH_MEASUREs run so far (each draws a fresh MNONCE). */
  #measures = 0;

  constructor(opts: SevFirmwareOptions = {}) {
    this.#seed =
      typeof opts.seed === 'string' ? new TextEncoder().encode(opts.seed) : (opts.seed ?? new Uint8Array());
    this.#api = { major: opts.apiMajor ?? 1, minor: opts.apiMinor ?? 55, build: opts.build ?? 21 };
    this.#tik = opts.tik;
    if (opts.memory && opts.engine && opts.engine !== opts.memory.engine)
      throw new TypeError("SevFirmware: the engine must be the memory controller's, so both encrypt alike");
    this.#memory = opts.memory;
    this.#engine = opts.memory?.engine ?? opts.engine ?? PLAINTEXT_ENGINE;
    this.#asidCount = opts.asidCount ?? 509;
  }

  /** `size` bytes drawn from the seed for `what` (deterministic: the model's stand-in for the firmware's RNG). */
  #draw(what: string, size: number, ...nums: number[]): Uint8Array {
    const h = createHash('sha256').update(`sevbox psp ${what}`).update(this.#seed);
    for (const n of nums) h.update(u32le(n));
    return new Uint8Array(h.digest()).slice(0, size);
  }

  /** PLATFORM_STATUS. */
  platformStatus(): SevPlatformStatus {
    return {
      apiMajor: this.#api.major,
      apiMinor: this.#api.minor,
      build: this.#api.build,
      flags: SEV_STATUS_FLAGS_CONFIG_ES,
      guestCount: this.#guests.size,
    };
  }

  /**
   * LAUNCH_START: a new guest context in LUPDATE, its handle allocated from 1. `handle` ≠ 0 asks to
   * share that guest's key (the VEK): INVALID_GUEST when there is none, POLICY_FAILURE when its
   * policy has NOKS (docs/sev-launch-rules.md §4.3). The policy itself: POLICY_FAILURE for reserved
   * bits (6-15) or a minimum API version above the firmware's [spec?: the model's reading of
   * "must be zero" and of the version fields].
   */
  launchStart(handle: number, policy: number): { status: number; handle: number } {
    const fail = (status: number) => ({ status, handle });
    let vek: Uint8Array | undefined;
    if (handle !== 0) {
      const other = this.#guests.get(handle);
      if (!other) return fail(SEV_RET_INVALID_GUEST);
      if (other.policy & SEV_POLICY_NOKS) return fail(SEV_RET_POLICY_FAILURE);
      vek = other.vek;
    }
    if (policy & SEV_POLICY_RESERVED) return fail(SEV_RET_POLICY_FAILURE);
    const major = (policy >>> SEV_POLICY_API_MAJOR_SHIFT) & 0xff;
    const minor = (policy >>> SEV_POLICY_API_MINOR_SHIFT) & 0xff;
    if (major > this.#api.major || (major === this.#api.major && minor > this.#api.minor))
      return fail(SEV_RET_POLICY_FAILURE);
    const h = this.#nextHandle++;
    this.#guests.set(h, {
      handle: h,
      policy: policy >>> 0,
      state: SEV_GSTATE_LUPDATE,
      asid: 0,
      digest: createHash('sha256'),
      tik: this.#tik ?? this.#draw('tik', 16, h),
      vek: vek ?? this.#draw('vek', 16, h),
    });
    return { status: SEV_RET_SUCCESS, handle: h };
  }

  /**
   * ACTIVATE: bind the guest to an ASID (its key goes into the memory controller's slot).
   * INVALID_ASID outside 1..asidCount; ASID_OWNED when a guest with another key holds the ASID
   * (the second LAUNCH_START of one VM, §4.4); ACTIVE when this guest is bound already [spec?].
   */
  activate(handle: number, asid: number): number {
    const g = this.#guests.get(handle);
    if (!g) return SEV_RET_INVALID_GUEST;
    if (!Number.isInteger(asid) || asid < 1 || asid > this.#asidCount) return SEV_RET_INVALID_ASID;
    for (const o of this.#guests.values())
      if (o !== g && o.asid === asid && o.vek !== g.vek) return SEV_RET_ASID_OWNED;
    if (g.asid !== 0) return SEV_RET_ACTIVE;
    g.asid = asid;
    this.#memory?.loadKey(asid, g.vek);
    return SEV_RET_SUCCESS;
  }

  /**
   * DEACTIVATE: unbind the guest's ASID (INACTIVE when it has none [spec?]). The key leaves the
   * memory controller's slot once no guest context is bound to the ASID (guests sharing a key may
   * share it).
   */
  deactivate(handle: number): number {
    const g = this.#guests.get(handle);
    if (!g) return SEV_RET_INVALID_GUEST;
    if (g.asid === 0) return SEV_RET_INACTIVE;
    const asid = g.asid;
    g.asid = 0;
    if (this.#memory && ![...this.#guests.values()].some((o) => o.asid === asid)) this.#memory.clearKey(asid);
    return SEV_RET_SUCCESS;
  }

  /** DECOMMISSION: the context is gone (ACTIVE while it is still bound to an ASID [spec?]). */
  decommission(handle: number): number {
    const g = this.#guests.get(handle);
    if (!g) return SEV_RET_INVALID_GUEST;
    if (g.asid !== 0) return SEV_RET_ACTIVE;
    this.#guests.delete(handle);
    return SEV_RET_SUCCESS;
  }

  /** The checks every LAUNCH_UPDATE_* starts with: the guest, GSTATE LUPDATE, activated [spec?: INACTIVE]. */
  #updatable(handle: number): GuestContext | number {
    const g = this.#guests.get(handle);
    if (!g) return SEV_RET_INVALID_GUEST;
    if (g.state !== SEV_GSTATE_LUPDATE) return SEV_RET_INVALID_GUEST_STATE;
    if (g.asid === 0) return SEV_RET_INACTIVE;
    return g;
  }

  /** Measure the plaintext into GCTX.LD, then encrypt it in place. */
  #measureAndEncrypt(g: GuestContext, range: PhysRange): number {
    g.digest.update(range.bytes);
    this.#engine.encrypt(g.vek, range);
    return SEV_RET_SUCCESS;
  }

  /**
   * LAUNCH_UPDATE_DATA: extend the launch digest with the plaintext and encrypt it in place.
   * Address and length 16-byte aligned, length not 0 (INVALID_ADDRESS / INVALID_LEN [spec?]).
   */
  launchUpdateData(handle: number, range: PhysRange): number {
    const g = this.#updatable(handle);
    if (typeof g === 'number') return g;
    if (range.bytes.length === 0 || !aligned(range.bytes.length)) return SEV_RET_INVALID_LEN;
    if (!aligned(range.spa)) return SEV_RET_INVALID_ADDRESS;
    return this.#measureAndEncrypt(g, range);
  }

  /**
   * LAUNCH_UPDATE_VMSA: the same for one 4096-byte, page-aligned VMSA page; the policy must have
   * ES (POLICY_FAILURE otherwise [spec?]).
   */
  launchUpdateVmsa(handle: number, range: PhysRange): number {
    const g = this.#updatable(handle);
    if (typeof g === 'number') return g;
    if (!(g.policy & SEV_POLICY_ES)) return SEV_RET_POLICY_FAILURE;
    if (range.bytes.length !== SEV_VMSA_SIZE) return SEV_RET_INVALID_LEN;
    if (range.spa % SEV_VMSA_SIZE !== 0) return SEV_RET_INVALID_ADDRESS;
    return this.#measureAndEncrypt(g, range);
  }

  /**
   * LAUNCH_MEASURE into `dst` (its length is the command's LEN; undefined: address 0, LEN 0). The
   * state is checked before the length (§3.6), so a query in LUPDATE gives INVALID_LEN with the
   * length needed (48) and changes nothing; a measurement moves GSTATE to LSECRET.
   */
  launchMeasure(handle: number, dst: Uint8Array | undefined): { status: number; len: number } {
    const len = dst?.length ?? 0;
    const g = this.#guests.get(handle);
    if (!g) return { status: SEV_RET_INVALID_GUEST, len };
    if (g.state !== SEV_GSTATE_LUPDATE) return { status: SEV_RET_INVALID_GUEST_STATE, len };
    if (!dst || len < SEV_MEASURE_BLOB_SIZE)
      return { status: SEV_RET_INVALID_LEN, len: SEV_MEASURE_BLOB_SIZE };
    const mnonce = this.#draw('mnonce', SEV_MNONCE_SIZE, g.handle, this.#measures++);
    const { apiMajor, apiMinor, build } = this.platformStatus();
    const digest = new Uint8Array(g.digest.copy().digest());
    dst.set(
      sevLaunchMeasurement({ tik: g.tik, apiMajor, apiMinor, build, policy: g.policy, digest, mnonce }),
    );
    dst.set(mnonce, MEASURE_SIZE);
    g.state = SEV_GSTATE_LSECRET;
    return { status: SEV_RET_SUCCESS, len: SEV_MEASURE_BLOB_SIZE };
  }

  /**
   * LAUNCH_UPDATE_SECRET: allowed in LSECRET only. The model checks the state and nothing else: it
   * has no TEK to unwrap the secret with nor the packet header's MAC to check (the model's choice;
   * the real firmware checks the MAC with the TIK, BAD_MEASUREMENT, and writes the secret into
   * guest memory under the VEK). No state change, no digest change.
   */
  launchSecret(handle: number): number {
    const g = this.#guests.get(handle);
    if (!g) return SEV_RET_INVALID_GUEST;
    if (g.state !== SEV_GSTATE_LSECRET) return SEV_RET_INVALID_GUEST_STATE;
    return SEV_RET_SUCCESS;
  }

  /** LAUNCH_FINISH: LSECRET → RUNNING (INVALID_GUEST_STATE elsewhere, e.g. before LAUNCH_MEASURE). */
  launchFinish(handle: number): number {
    const g = this.#guests.get(handle);
    if (!g) return SEV_RET_INVALID_GUEST;
    if (g.state !== SEV_GSTATE_LSECRET) return SEV_RET_INVALID_GUEST_STATE;
    g.state = SEV_GSTATE_RUNNING;
    return SEV_RET_SUCCESS;
  }

  /** GUEST_STATUS: policy, ASID and GSTATE of a guest (INVALID_GUEST for an unknown handle, handle 0 included). */
  guestStatus(handle: number): SevGuestStatus {
    const g = this.#guests.get(handle);
    if (!g) return { status: SEV_RET_INVALID_GUEST, handle, policy: 0, asid: 0, state: 0 };
    return { status: SEV_RET_SUCCESS, handle, policy: g.policy, asid: g.asid, state: g.state };
  }

  /**
   * The checks DBG_DECRYPT and DBG_ENCRYPT share: the guest, its policy (NODBG: POLICY_FAILURE),
   * both addresses and the length 16-byte aligned, the two ranges the same length [spec?].
   */
  #debuggable(handle: number, src: PhysRange, dst: PhysRange): GuestContext | number {
    const g = this.#guests.get(handle);
    if (!g) return SEV_RET_INVALID_GUEST;
    if (g.policy & SEV_POLICY_NODBG) return SEV_RET_POLICY_FAILURE;
    const len = src.bytes.length;
    if (len === 0 || !aligned(len) || dst.bytes.length !== len) return SEV_RET_INVALID_LEN;
    if (!aligned(src.spa) || !aligned(dst.spa)) return SEV_RET_INVALID_ADDRESS;
    return g;
  }

  /** DBG_DECRYPT: the guest's plaintext of `src` (guest memory) into `dst` (host memory). */
  dbgDecrypt(handle: number, src: PhysRange, dst: PhysRange): number {
    const g = this.#debuggable(handle, src, dst);
    if (typeof g === 'number') return g;
    const plain = src.bytes.slice();
    this.#engine.decrypt(g.vek, { spa: src.spa, bytes: plain });
    dst.bytes.set(plain);
    return SEV_RET_SUCCESS;
  }

  /** DBG_ENCRYPT: `src` (host plaintext) into `dst` (guest memory) under the guest's key. */
  dbgEncrypt(handle: number, src: PhysRange, dst: PhysRange): number {
    const g = this.#debuggable(handle, src, dst);
    if (typeof g === 'number') return g;
    dst.bytes.set(src.bytes);
    this.#engine.encrypt(g.vek, dst);
    return SEV_RET_SUCCESS;
  }

  /** The TIK of a guest, for a test or a debug view that plays the guest owner (the model knows every key). */
  debugTik(handle: number): Uint8Array | undefined {
    return this.#guests.get(handle)?.tik.slice();
  }
}
