/**
 * One exit to userspace, handled: port I/O and MMIO go to the buses (string I/O element by
 * element, each at data[i * size]), MSR exits to the handler or back as #GP, and the exits that end
 * a run become a StopReason. An exhaustive switch over VcpuExit, as rust-vmm VMMs write it.
 */
import type { GuestMonitor } from '../cpu/scripted-guests.js';
import { KVM_SYSTEM_EVENT_SEV_TERM, kvmExitReasonName, systemEventTypeName } from '../uapi/exit-reasons.js';
import type { VcpuExit } from '../uapi/vcpu-exit.js';
import type { Bus } from './bus.js';
import type { DebugExitDevice } from './devices/debug-exit.js';
import type { GuestRam } from './memory.js';
import { decodeSevTermination } from './termination.js';
import type { StopReason } from './types.js';

/** Userspace MSR emulation: return the value (read) or true (write accepted); undefined/false is #GP. */
export interface MsrHandler {
  read?(index: number, vcpu: number): bigint | undefined;
  write?(index: number, value: bigint, vcpu: number): boolean;
}

/** What the exit handler may touch. */
export interface ExitContext {
  readonly pio: Bus;
  readonly mmio: Bus;
  readonly debugExit: DebugExitDevice | undefined;
  readonly ram: GuestRam;
  readonly msr: MsrHandler | undefined;
  /** What the harness knows of its guests (a finished program, a crash), if anything. */
  readonly guests: GuestMonitor | undefined;
}

/** After an exit: run the vCPU again, it has finished its program, or the run stops. */
export type ExitOutcome =
  | { readonly kind: 'continue' }
  | { readonly kind: 'finished' }
  | { readonly kind: 'stop'; readonly stop: StopReason };

const CONTINUE: ExitOutcome = { kind: 'continue' };
const stop = (s: StopReason): ExitOutcome => ({ kind: 'stop', stop: s });

/** Handle `exit` of vCPU `id`. */
export function handleExit(exit: VcpuExit, id: number, ctx: ExitContext): ExitOutcome {
  switch (exit.kind) {
    case 'IoOut': {
      for (let i = 0; i < exit.count; i++) {
        ctx.pio.write(exit.port, exit.data.subarray(i * exit.size, (i + 1) * exit.size));
      }
      const code = ctx.debugExit?.take();
      return code === undefined ? CONTINUE : stop({ kind: 'debug-exit', vcpu: id, code });
    }
    case 'IoIn':
      for (let i = 0; i < exit.count; i++) {
        ctx.pio.read(exit.port, exit.data.subarray(i * exit.size, (i + 1) * exit.size));
      }
      return CONTINUE;
    case 'MmioRead':
      ctx.mmio.read(exit.addr, exit.data);
      return CONTINUE;
    case 'MmioWrite':
      ctx.mmio.write(exit.addr, exit.data);
      return CONTINUE;
    case 'X86Rdmsr': {
      const v = ctx.msr?.read?.(exit.index, id);
      if (v === undefined) exit.msr.setError(true);
      else exit.msr.setData(BigInt.asUintN(64, v));
      return CONTINUE;
    }
    case 'X86Wrmsr':
      exit.msr.setError(ctx.msr?.write?.(exit.index, exit.value, id) !== true);
      return CONTINUE;
    case 'Hlt':
      // A finished program halts for good; a guest's own HLT just waits for the next run.
      return ctx.guests?.finished(id) ? { kind: 'finished' } : CONTINUE;
    case 'Shutdown': {
      const crash = ctx.guests?.crash(id);
      return stop({ kind: 'shutdown', vcpu: id, ...(crash ? { crash } : {}) });
    }
    case 'SystemEvent': {
      if (exit.type === KVM_SYSTEM_EVENT_SEV_TERM && exit.data[0] !== undefined) {
        const t = decodeSevTermination(exit.data[0], ctx.ram);
        return stop({ kind: 'sev-termination', vcpu: id, ...t });
      }
      return stop({
        kind: 'system-event',
        vcpu: id,
        type: exit.type,
        name: systemEventTypeName(exit.type),
        data: exit.data,
      });
    }
    case 'InternalError':
      return stop({ kind: 'internal-error', vcpu: id, suberror: exit.suberror, data: exit.data });
    case 'ApResetHold':
      // Without an in-kernel APIC nothing can deliver the SIPI that would end the hold.
      return stop({ kind: 'ap-reset-hold', vcpu: id });
    case 'Hypercall':
    case 'FailEntry':
    case 'MemoryFault':
    case 'Intr':
    case 'IrqWindowOpen':
    case 'Unknown':
      return stop({
        kind: 'unhandled-exit',
        vcpu: id,
        reason: exit.reason,
        name: kvmExitReasonName(exit.reason),
      });
    default: {
      const never: never = exit;
      return never;
    }
  }
}
