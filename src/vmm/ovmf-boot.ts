/**
 * Boot OVMF on the OVMF machine and report how far it got: the milestones of issue 15, each with the
 * KVM_RUNs, guest instructions and host time it took, the VMGEXITs by type, the exits to userspace
 * by kind, the serial console and the debug console.
 *
 * Debian's OVMF is a RELEASE build: its DEBUG() log is compiled out, so the milestones are read
 * from what the firmware does at the machine's edges, each the first act of its phase that only
 * that phase performs:
 *   sec  — the first exit to userspace for port I/O or MMIO: under SEV-ES only a VMGEXIT through a
 *          GHCB page asks for one, and the reset vector before SecCore's #VC handler uses the GHCB
 *          MSR protocol only.
 *   pei  — PlatformPei's first fw_cfg access (SEC has none) or RAM-size read from CMOS (0x34/0x35).
 *   dxe  — the DXE timer driver starting its tick: the local APIC's timer LVT written unmasked
 *          with an interrupt vector (LocalApicTimerDxe; SEC parks it on vector 5, an exception
 *          vector, and masks it) or the 8254 programmed (8254TimerDxe).
 *   bds  — the boot manager's text on the console: the UEFI shell's banner or prompt, or the boot
 *          manager's "no bootable device" report.
 */
import { vmgexitName } from '../trace/outcome.js';
import type { VcpuExit } from '../uapi/vcpu-exit.js';
import { FW_CFG_PORT } from './devices/fw-cfg.js';
import { PIT_PORT } from './devices/i8254.js';
import { APIC_LVTT, XAPIC_BASE } from './devices/xapic-page.js';
import { isVmmError, type VmmError } from './errors.js';
import { createOvmfMachine, type OvmfMachine, type OvmfMachineConfig } from './ovmf-machine.js';
import type { Policies, RunResult, StopReason } from './types.js';

export const OVMF_MILESTONES = ['sec', 'pei', 'dxe', 'bds'] as const;
export type OvmfMilestone = (typeof OVMF_MILESTONES)[number];

/** What the console shows once the boot manager has run out of things to boot. */
const BDS_TEXT = /Shell> |No bootable option or device was found|Boot Failed\. /;

export interface MilestoneReached {
  readonly milestone: OvmfMilestone;
  readonly kvmRuns: number;
  readonly instructions: number;
  readonly ms: number;
}

export interface OvmfBootProgress {
  readonly kvmRuns: number;
  readonly instructions: number;
  readonly vmgexits: number;
  /** VMGEXITs by exit code name (MSR-protocol requests by their GHCBInfo name). */
  readonly vmgexitsByType: Readonly<Record<string, number>>;
  readonly exits: number;
  readonly milestones: readonly MilestoneReached[];
}

export interface OvmfBootOptions extends OvmfMachineConfig {
  /** KVM_RUNs to allow in all (default 200,000). */
  readonly maxKvmRuns?: number;
  /** Stop as soon as this milestone is reached (default: bds). */
  readonly until?: OvmfMilestone;
  /** Called between chunks of KVM_RUNs (about every `progressEvery` runs). */
  readonly onProgress?: (p: OvmfBootProgress) => void;
  readonly progressEvery?: number;
  /** Each new byte of serial output, as it is written. */
  readonly onSerial?: (text: string) => void;
  /** Each complete debug-console line. */
  readonly onDebugLine?: (line: string) => void;
  /** Called with the machine before the first KVM_RUN (a scenario's hooks: unmap a page, …). */
  readonly onMachine?: (m: OvmfMachine) => void;
  /** Called with the machine once the boot ended, before it is torn down (to look at its memory). */
  readonly atEnd?: (m: OvmfMachine) => void;
  /** Every exit to userspace, after the VMM handled it: where a scenario acts on the machine. */
  readonly onExit?: (m: OvmfMachine, exit: VcpuExit, exitsSoFar: number) => void;
  /** What the VMM does when KVM_RUN fails with ENOMEM or EFAULT (default: stop). */
  readonly policies?: Policies;
  /**
   * The seed's host fault on real firmware: at this exit to userspace (counting from 1), the VMM
   * unmaps the host page under the firmware's GHCB, where all of OVMF's scratch areas live. The
   * VMM learns the GHCB's GPA as an operator would, from KVM's kvm_vmgexit_enter tracepoint.
   */
  readonly unmapGhcbAtExit?: number;
}

export interface OvmfBootResult extends OvmfBootProgress {
  readonly stop: StopReason | { readonly kind: 'milestone'; readonly milestone: OvmfMilestone };
  readonly ms: number;
  /** Exits to userspace by kind (IoIn/IoOut by port, MMIO by 4 KiB page). */
  readonly exitsByKind: Readonly<Record<string, number>>;
  readonly serial: string;
  readonly debugLog: string;
  /** Interrupts the VMM injected, by ISA IRQ. */
  readonly irqs: readonly number[];
  /** KVM_RUN failures the VMM's policies retried (and what they fixed). */
  readonly retried: RunResult['retried'];
  /** Where and when the VMM unmapped the GHCB's page (unmapGhcbAtExit). */
  readonly unmappedGhcb?: { readonly gpa: number; readonly atExit: number; readonly error?: string };
}

const exitKey = (e: VcpuExit): string =>
  'port' in e
    ? `${e.kind} 0x${e.port.toString(16)}`
    : 'addr' in e
      ? `${e.kind} 0x${(Math.floor(e.addr / 4096) * 4096).toString(16)}`
      : e.kind;

/** Boot `opts.firmware` until the milestone, a stop, or the KVM_RUN budget. */
export function bootOvmf(opts: OvmfBootOptions): OvmfBootResult | VmmError {
  let ghcbGpa: number | undefined;
  const m = createOvmfMachine({
    ...opts,
    trace: (e) => {
      if (e.name === 'kvm_vmgexit_enter' && e.ghcbGpa !== undefined) ghcbGpa = e.ghcbGpa;
      opts.trace?.(e);
    },
  });
  if (isVmmError(m)) return m;
  const { vmm } = m;
  try {
    const v = vmm.addVcpu();
    if (isVmmError(v)) return v;
    opts.onMachine?.(m);
    const unmapAt = opts.unmapGhcbAtExit;
    let unmapped: OvmfBootResult['unmappedGhcb'];
    const clock = vmm.platform.clock!;
    const until = opts.until ?? 'bds';
    const maxKvmRuns = opts.maxKvmRuns ?? 200_000;
    const every = opts.progressEvery ?? 500;
    const t0 = performance.now();
    const reached: MilestoneReached[] = [];
    const vmgexitsByType: Record<string, number> = {};
    const exitsByKind: Record<string, number> = {};
    let kvmRuns = 0;
    let exits = 0;
    let vmgexits = 0;
    let serialSeen = 0;
    let cmosIndex = -1;
    /** Exits at the start of the current chunk of KVM_RUNs: each exit ended one KVM_RUN. */
    let chunkExits = 0;
    const reach = (milestone: OvmfMilestone): void => {
      if (reached.some((r) => r.milestone === milestone)) return;
      reached.push({
        milestone,
        kvmRuns: kvmRuns + exits - chunkExits,
        instructions: clock.instructions(),
        ms: performance.now() - t0,
      });
    };
    const onExit = (_vcpu: number, e: VcpuExit): void => {
      exits++;
      const k = exitKey(e);
      exitsByKind[k] = (exitsByKind[k] ?? 0) + 1;
      if ('port' in e || 'addr' in e) reach('sec');
      if (e.kind === 'IoOut' && e.port === 0x70) cmosIndex = e.data[0]! & 0x7f;
      if (e.kind === 'IoIn' && e.port === 0x71 && (cmosIndex === 0x34 || cmosIndex === 0x35)) reach('pei');
      if (e.kind === 'IoOut' && e.port === FW_CFG_PORT) reach('pei');
      if (e.kind === 'IoOut' && e.port === PIT_PORT + 3) reach('dxe');
      if (
        e.kind === 'MmioWrite' &&
        e.addr === XAPIC_BASE + APIC_LVTT &&
        !(e.data[2]! & 1) &&
        e.data[0]! >= 0x20
      )
        reach('dxe');
      if (unmapAt !== undefined && unmapped === undefined && exits >= unmapAt && ghcbGpa !== undefined) {
        const page = ghcbGpa - (ghcbGpa % 4096);
        const err = vmm.unmapGpa(page, 4096);
        unmapped = { gpa: page, atExit: exits, ...(err ? { error: err.message } : {}) };
      }
      opts.onExit?.(m, e, exits);
    };
    m.debugcon.onLine = opts.onDebugLine;
    const progress = (): OvmfBootProgress => ({
      kvmRuns,
      instructions: clock.instructions(),
      vmgexits,
      vmgexitsByType: { ...vmgexitsByType },
      exits,
      milestones: [...reached],
    });
    let stop: OvmfBootResult['stop'] | undefined;
    const retried: RunResult['retried'][number][] = [];
    while (stop === undefined) {
      const budget = Math.min(every, maxKvmRuns - kvmRuns);
      if (budget <= 0) {
        stop = { kind: 'limit', kvmRuns };
        break;
      }
      chunkExits = exits;
      const r = vmm.run({
        maxKvmRuns: budget,
        onExit,
        ...(opts.policies ? { policies: opts.policies } : {}),
      });
      kvmRuns += r.kvmRuns;
      retried.push(...r.retried);
      for (const g of r.vmgexits) {
        vmgexits++;
        const name = vmgexitName(g);
        vmgexitsByType[name] = (vmgexitsByType[name] ?? 0) + 1;
      }
      const serial = vmm.serial?.text() ?? '';
      if (serial.length > serialSeen) {
        opts.onSerial?.(serial.slice(serialSeen));
        serialSeen = serial.length;
        if (BDS_TEXT.test(serial)) reach('bds');
      }
      opts.onProgress?.(progress());
      const done = reached.find((x) => x.milestone === until);
      if (done) stop = { kind: 'milestone', milestone: until };
      else if (r.stop.kind !== 'limit') stop = r.stop;
    }
    return {
      ...progress(),
      stop,
      ms: performance.now() - t0,
      exitsByKind,
      serial: vmm.serial?.text() ?? '',
      debugLog: m.debugcon.text(),
      irqs: [...m.interrupts.pic.acknowledged],
      retried,
      ...(unmapped ? { unmappedGhcb: unmapped } : {}),
    };
  } finally {
    opts.atEnd?.(m);
    vmm.destroy();
  }
}
