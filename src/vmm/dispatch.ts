/**
 * One exit to userspace, handled: port I/O and MMIO go to the buses (string I/O element by
 * element, each at data[i * size]), MSR exits to the handler or back as #GP, and the exits that end
 * a run become a StopReason. An exhaustive switch over VcpuExit, as rust-vmm VMMs write it.
 */
import type { ScriptedCpu } from '../cpu/scripted.js';
import type { VcpuExit } from '../kvm/exits.js';
import type { Vcpu } from '../kvm/vcpu.js';
import { KVM_SYSTEM_EVENT_SEV_TERM, kvmExitReasonName, systemEventTypeName } from '../uapi/exit-reasons.js';
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
  /** Called on KVM_EXIT_AP_RESET_HOLD: deliver a SIPI (sevDeliverSipi) and return true to keep running. */
  readonly onApResetHold: ((vcpu: Vcpu) => boolean) | undefined;
}

/** After an exit: run the vCPU again, it has finished its program, or the run stops. */
export type ExitOutcome =
  | { readonly kind: 'continue' }
  | { readonly kind: 'finished' }
  | { readonly kind: 'stop'; readonly stop: StopReason };

const CONTINUE: ExitOutcome = { kind: 'continue' };
const stop = (s: StopReason): ExitOutcome => ({ kind: 'stop', stop: s });

/** Words for why a scripted CPU shut down. */
export function crashText(crash: unknown): string | undefined {
  if (crash === undefined) return undefined;
  return crash instanceof Error ? `${crash.name}: ${crash.message}` : String(crash);
}

/** Handle `exit` of `vcpu` (running `cpu`). */
export function handleExit(exit: VcpuExit, vcpu: Vcpu, cpu: ScriptedCpu, ctx: ExitContext): ExitOutcome {
  const id = vcpu.id;
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
      return cpu.state === 'done' ? { kind: 'finished' } : CONTINUE;
    case 'Shutdown': {
      const crash = crashText(cpu.crash);
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
      return ctx.onApResetHold?.(vcpu) ? CONTINUE : stop({ kind: 'ap-reset-hold', vcpu: id });
    case 'Hypercall':
    case 'FailEntry':
    case 'MemoryFault':
    case 'Intr':
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
