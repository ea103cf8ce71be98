/**
 * The SEV-ES #VC handler of a scripted guest: Linux's vc_handle_exitcode (arch/x86/coco/sev/),
 * reduced to the instructions the scripted CPU can raise #VC for. Each becomes a GHCB request
 * through a {@link GhcbClient}; the handler returns what the instruction would have produced, so
 * the guest program's `yield* cpu.in(...)` simply gets its value.
 */
import { NPT_OK } from '../cpu/backend.js';
import { GuestException, type GuestOp, type ScriptedCpu, type VcHandler } from '../cpu/scripted.js';
import { GHCB_SEV_ES_GEN_REQ, GHCB_SIZE, SEV_TERM_SET_GEN } from '../uapi/ghcb.js';
import { MSR_AMD64_SEV_ES_GHCB } from '../uapi/msr-index.js';
import { GP_VECTOR } from '../uapi/svm.js';
import type { GhcbClient } from './ghcb-client.js';
import type { GhcbResult } from './result.js';

/**
 * The hypervisor's answer was unusable (Linux's ES_VMM_ERROR: a reflected GHCB_ERR_*, a response
 * code other than 0/1, an exception other than #GP/#UD, or result registers not marked valid), or
 * the instruction cannot be handled (ES_UNSUPPORTED). Linux then asks for termination and panics.
 */
export class VmmCommunicationError extends Error {
  constructor(
    /** The instruction that raised #VC. */
    readonly op: GuestOp,
    /** The answer, when a request was made. */
    readonly result: GhcbResult | undefined,
    /** Why: the answer's kind, 'missing-output' (registers not valid) or 'unsupported'. */
    readonly reason: GhcbResult['kind'] | 'missing-output' | 'unsupported',
  ) {
    super(`#VC for ${op.op}: failure in communication with the VMM (${reason})`);
    this.name = 'VmmCommunicationError';
  }
}

/** Options of {@link ghcbVcHandler}. */
export interface VcHandlerOptions {
  /**
   * On a VMM error: 'terminate' (default, as Linux) first sends an MSR-protocol TERM_REQ
   * (set 0, GHCB_SEV_ES_GEN_REQ), then throws VmmCommunicationError if the guest is resumed;
   * 'throw' only throws.
   */
  readonly onVmmError?: 'terminate' | 'throw';
  /** XCR0 sent with CPUID leaf 0xD (default 1, the reset value Linux uses without OSXSAVE). */
  readonly xcr0?: bigint;
  /** CPL sent with VMMCALL (default 0: the program is kernel code). */
  readonly cpl?: number;
  /**
   * Linux's backup GHCB (__sev_get_ghcb): a second client on the same GHCB page (made with
   * `fresh: false`). A #VC raised while `client` is in use saves the page's contents, makes its
   * request through this client, and puts the contents back (__sev_put_ghcb). A #VC while both are
   * in use is fatal, as in Linux. Without it, any nested #VC is.
   */
  readonly backup?: GhcbClient;
}

/**
 * A #VC handler for ScriptedCpu.vcHandler that turns the instructions an SEV-ES guest cannot
 * execute (in/out, cpuid, rdmsr/wrmsr, vmmcall, MMIO loads/stores) into GHCB requests through
 * `client`, returning what the instruction would have produced, and throwing GuestException(vector)
 * when the hypervisor asks for an exception. RDMSR/WRMSR of the GHCB MSR itself never leave the
 * CPU (the MSR lives in the VMCB), so they are served from `cpu.ghcbMsr`.
 */
export function ghcbVcHandler(primary: GhcbClient, opts: VcHandlerOptions = {}): VcHandler {
  const backup = opts.backup;
  /** The client a request goes through: the primary, or during a nested #VC the backup. */
  let client = primary;
  const terminate = (opts.onVmmError ?? 'terminate') === 'terminate';
  const xcr0 = opts.xcr0 ?? 1n;
  const cpl = opts.cpl ?? 0;

  function* fail(
    op: GuestOp,
    result: GhcbResult | undefined,
    reason: VmmCommunicationError['reason'],
  ): Generator<GuestOp, never, unknown> {
    if (terminate) yield* client.terminateMsr(SEV_TERM_SET_GEN, GHCB_SEV_ES_GEN_REQ);
    throw new VmmCommunicationError(op, result, reason);
  }

  /** Linux's vc_forward_exception / the ES_VMM_ERROR path, for an answer that is not ok. */
  function* bad(op: GuestOp, result: GhcbResult): Generator<GuestOp, never, unknown> {
    if (result.kind === 'exception') {
      // Linux's fault info starts zeroed: a #GP without an error code gets 0.
      throw new GuestException(
        result.vector,
        result.errorCode ?? (result.vector === GP_VECTOR ? 0 : undefined),
      );
    }
    return yield* fail(op, result, result.kind);
  }

  return function* vcHandler(op: GuestOp, cpu): Generator<GuestOp, unknown, unknown> {
    if (!primary.busy) return yield* handle(op, cpu);
    if (!backup || client === backup)
      throw new Error(
        backup
          ? `#VC for ${op.op} while the GHCB and the backup GHCB are in use (Linux panics)`
          : `#VC for ${op.op} while the GHCB is in use (nested #VC, no backup GHCB)`,
      );
    // Save the page (the backup GHCB is the guest's private copy), borrow it, restore it.
    const saved = new Uint8Array(GHCB_SIZE);
    const readable = cpu.mem.read(primary.ghcbGpa, saved) === NPT_OK;
    client = backup;
    try {
      return yield* handle(op, cpu);
    } finally {
      client = primary;
      if (readable) cpu.mem.write(primary.ghcbGpa, saved);
    }
  };

  function* handle(op: GuestOp, cpu: ScriptedCpu): Generator<GuestOp, unknown, unknown> {
    switch (op.op) {
      case 'out': {
        const result = yield* client.ioOut(op.port, op.size, op.value);
        if (result.kind !== 'ok') yield* bad(op, result);
        return undefined;
      }
      case 'in': {
        const r = yield* client.ioIn(op.port, op.size);
        if (r.result.kind !== 'ok') yield* bad(op, r.result);
        if (!r.regsValid) yield* fail(op, r.result, 'missing-output');
        return r.value;
      }
      case 'cpuid': {
        const r = yield* client.cpuid(op.fn, op.index, xcr0);
        if (r.result.kind !== 'ok') yield* bad(op, r.result);
        if (!r.regsValid) yield* fail(op, r.result, 'missing-output');
        return { eax: r.eax, ebx: r.ebx, ecx: r.ecx, edx: r.edx };
      }
      case 'rdmsr': {
        if (op.index === MSR_AMD64_SEV_ES_GHCB) return cpu.ghcbMsr;
        const r = yield* client.rdmsr(op.index);
        if (r.result.kind !== 'ok') yield* bad(op, r.result);
        return r.value;
      }
      case 'wrmsr': {
        if (op.index === MSR_AMD64_SEV_ES_GHCB) {
          cpu.ghcbMsr = op.value;
          return undefined;
        }
        const result = yield* client.wrmsr(op.index, op.value);
        if (result.kind !== 'ok') yield* bad(op, result);
        return undefined;
      }
      case 'rdpmc': {
        const r = yield* client.rdpmc(op.counter);
        if (r.result.kind !== 'ok') yield* bad(op, r.result);
        return r.value;
      }
      case 'vmmcall': {
        const r = yield* client.vmmcall(op.nr, op.args, cpl);
        if (r.result.kind !== 'ok') yield* bad(op, r.result);
        if (!r.regsValid) yield* fail(op, r.result, 'missing-output');
        return r.value;
      }
      case 'load': {
        const result = yield* client.mmioReadInPlace(op.gpa, op.size);
        if (result.kind !== 'ok') yield* bad(op, result);
        const { buf, offset } = client.scratchData();
        let v = 0n;
        for (let i = op.size - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[offset + i]!);
        return v;
      }
      case 'store': {
        const data = new Uint8Array(op.size);
        let v = op.value;
        for (let i = 0; i < op.size; i++) {
          data[i] = Number(v & 0xffn);
          v >>= 8n;
        }
        const result = yield* client.mmioWrite(op.gpa, data);
        if (result.kind !== 'ok') yield* bad(op, result);
        return undefined;
      }
      default:
        // HLT, VMGEXIT and shutdown never raise #VC on the scripted CPU.
        return yield* fail(op, undefined, 'unsupported');
    }
  }
}
